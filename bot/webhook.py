"""Updates by webhook: Telegram posts each update to WEBHOOK_URL, and a reverse proxy passes it to this server.

Written for a port open to the internet. The secret header is checked as soon as the headers arrive, before any
of the body is read; a body is capped at MAX_UPDATE_BYTES (a real update is a few kilobytes); anything refused
is logged as one line, never with its body. python-telegram-bot's own webhook server reads up to 100 MB of body
before it looks at the secret, hence this small one (python-telegram-bot's "custom webhook" pattern: updates are
put on the application's queue).
"""

import hmac
import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
    """Serve the webhook and register it with Telegram; stop serving on leaving (updates then stop coming)."""
    routes = [(rf"/{re.escape(settings.webhook_path)}/?", UpdateReceiver,
               {"telegram": application, "secret": settings.webhook_secret})]
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
        await server.close_all_connections()


@tornado.web.stream_request_body
class UpdateReceiver(tornado.web.RequestHandler):
    """One POST from Telegram: check the secret before the body, then queue the update it holds."""

    SUPPORTED_METHODS = ("POST",)

    def initialize(self, telegram: Application, secret: str) -> None:
        self.telegram = telegram
        self.secret = secret
        self.body = bytearray()

    def prepare(self) -> None:
        given = self.request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            self._refuse(403, "without the right secret")

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
            update = Update.de_json(data, self.telegram.bot)
        except (KeyError, TypeError, ValueError, AttributeError):
            self._refuse(400, f"update {data['update_id']} cannot be read")
        await self.telegram.update_queue.put(update)
        self.finish()

    def _refuse(self, status: int, why: str) -> None:
        log.info("Webhook refused a request of %s bytes from %s: %s", self.request.headers.get("Content-Length", "?"),
                 self.request.remote_ip, why)
        raise tornado.web.HTTPError(status)

    def log_exception(self, typ, value, tb) -> None:
        """Refusals are logged by `_refuse`, as one line; anything else is a bug and keeps its traceback."""
        if not isinstance(value, tornado.web.HTTPError):
            log.error("Webhook request failed", exc_info=(typ, value, tb))
