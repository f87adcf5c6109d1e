"""Updates by webhook: Telegram posts each update to WEBHOOK_URL, and a reverse proxy passes it to this server.

Written for a port open to the internet. The secret header is checked as soon as the headers arrive, before any
of the body is read; a body is capped at MAX_UPDATE_BYTES (a real update is a few kilobytes); anything refused
is logged as one line, never with its body. python-telegram-bot's own webhook server reads up to 100 MB of body
before it looks at the secret, hence this small one.

An update is answered (200) only once it has been handled, a handler's failure included (the user got an apology):
Telegram posts again what was not answered, so an update taken by a process killed half way is not lost, and
several processes behind one load balancer can share the work. On stopping, updates already taken are finished
and answered; new ones are answered 503, for Telegram to post again (to a process still running).
"""

import asyncio
import hmac
import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import tornado.web
from tornado.httpserver import HTTPServer
from telegram import Update
from telegram.ext import Application

from bot.config import ConfigError, Settings

log = logging.getLogger(__name__)

MAX_UPDATE_BYTES = 1024 * 1024
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@asynccontextmanager
async def listening(application: Application, settings: Settings, allowed_updates: list[str]) -> AsyncIterator[None]:
    """Serve the webhook and register it with Telegram; on leaving, finish and answer the updates being handled,
    then stop serving."""
    intake = Intake(application, settings.webhook_secret)
    routes = [(rf"/{re.escape(settings.webhook_path)}/?", UpdateReceiver, {"intake": intake})]
    server = HTTPServer(tornado.web.Application(routes, log_function=lambda handler: None),
                        max_body_size=MAX_UPDATE_BYTES)
    try:
        server.listen(settings.port)
    except OSError as error:
        raise ConfigError(f"Cannot listen on PORT {settings.port}: {error.strerror}.") from None
    try:
        await application.bot.set_webhook(settings.webhook_url, secret_token=settings.webhook_secret,
                                          allowed_updates=allowed_updates)
        log.info("Taking updates on port %s, path /%s", settings.port, settings.webhook_path)
        yield
    finally:
        server.stop()
        intake.closing = True
        if intake.in_flight:
            log.info("Finishing %s updates before stopping", len(intake.in_flight))
            await asyncio.gather(*intake.in_flight, return_exceptions=True)
        await server.close_all_connections()


@dataclass
class Intake:
    """What the webhook's requests share: the application that handles updates, the secret, and the updates being
    handled (finished before the server stops)."""

    application: Application
    secret: str
    in_flight: set[asyncio.Task] = field(default_factory=set)
    closing: bool = False

    async def handle(self, update: Update) -> None:
        """Handle the update as python-telegram-bot would have from its queue (within `concurrent_updates`); an
        exception in a handler goes to the error handler, not here."""
        application = self.application
        task = asyncio.create_task(application.update_processor.process_update(
            update, application.process_update(update)))
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)
        await asyncio.shield(task)  # whatever becomes of the request, an update once taken is handled in full


@tornado.web.stream_request_body
class UpdateReceiver(tornado.web.RequestHandler):
    """One POST from Telegram: check the secret before the body, then handle the update it holds and answer."""

    SUPPORTED_METHODS = ("POST",)

    def initialize(self, intake: Intake) -> None:
        self.intake = intake
        self.body = bytearray()

    def prepare(self) -> None:
        given = self.request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.intake.secret.encode()):
            self._refuse(403, "without the right secret")
        if self.intake.closing:
            self._refuse(503, "the bot is stopping")

    def data_received(self, chunk: bytes) -> None:
        self.body += chunk  # at most MAX_UPDATE_BYTES: the server closes a connection that sends more

    async def post(self) -> None:
        try:
            data = json.loads(self.body)
        except ValueError:
            self._refuse(400, "that is not JSON")
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            self._refuse(400, "that is not an update")
        try:
            update = Update.de_json(data, self.intake.application.bot)
        except (KeyError, TypeError, ValueError, AttributeError):
            self._refuse(400, f"update {data['update_id']} cannot be read")
        await self.intake.handle(update)
        self.finish()

    def _refuse(self, status: int, why: str) -> None:
        log.info("Webhook refused a request of %s bytes from %s: %s", self.request.headers.get("Content-Length", "?"),
                 self.request.remote_ip, why)
        raise tornado.web.HTTPError(status)

    def log_exception(self, typ, value, tb) -> None:
        """Refusals are logged by `_refuse`, as one line; anything else is a bug and keeps its traceback."""
        if not isinstance(value, tornado.web.HTTPError):
            log.error("Webhook request failed", exc_info=(typ, value, tb))
