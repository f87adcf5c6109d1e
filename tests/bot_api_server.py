"""A Telegram Bot API server on 127.0.0.1 for the bot's tests, and Telegram users who talk to the bot through it.

It speaks the Bot API's HTTP protocol (https://core.telegram.org/bots/api) as far as MoodTunes uses it: the
bot long-polls `getUpdates`, sends and edits messages, uploads photos (multipart/form-data), answers callback
queries, publishes command menus (per scope and language), fetches files with `getFile` and downloads them from
`/file/bot<token>/<path>`. Once the bot has set a webhook (and a test routed it), updates are posted to it instead,
as Telegram does: several at once, each posted again after a short wait until it is answered 2xx. Like Telegram
it refuses what Telegram refuses (a wrong token, malformed HTML, an edit that changes nothing, a callback query
answered twice, a file over 20 MB), so a bot that passes here does not trip over those in production. Every call
is recorded so tests can check what users saw. The server runs in a thread; tests drive it synchronously through
`TelegramUser`.
"""

import itertools
import json
import re
import struct
from email.parser import BytesParser
from email.policy import HTTP
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

BOT_USER = {"id": 7000000001, "is_bot": True, "first_name": "MoodTunes", "username": "moodtunes_test_bot",
            "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False}
TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile refuses bigger files
STRING_PARAMETERS = {"text", "caption", "callback_query_id", "file_id", "parse_mode", "action", "url", "secret_token",
                     "language_code"}
PHOTO_CAPTION_LIMIT = 1024
WEBHOOK_CONNECTIONS = 40  # setWebhook's default max_connections: updates posted at once
WEBHOOK_RETRY_SECONDS = 0.2  # Telegram waits longer between attempts; a test should not
HTML_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "tg-spoiler",
             "span", "blockquote", "tg-emoji"}


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after


@dataclass
class Call:
    """One Bot API method the bot called."""

    method: str
    params: dict
    at: float = field(default_factory=time.monotonic)


class BotApiServer:
    """The fake Telegram: state of chats, files and pending updates, behind a real HTTP server."""

    def __init__(self, token: str):
        self.token = token
        self.calls: list[Call] = []
        self.downloads: list[str] = []  # file paths the bot downloaded
        self.download_requests = 0  # downloads begun, finished or not
        self.messages: dict[tuple[int, int], dict] = {}  # (chat id, message id) -> message as it is now
        self.callback_answers: dict[str, dict] = {}
        self.polls = 0  # getUpdates calls begun
        self.delivered_up_to = 0  # the highest update id the bot has been given
        self.latest_update_id = 0  # the highest update id users have caused
        self.pushed: dict[int, dict] = {}  # every update users have caused, by id
        self._updates: list[dict] = []
        self._files: dict[str, tuple[str, bytes, int]] = {}  # file id -> (path, content, declared size)
        self._update_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count] = {}
        self.webhook: dict = {}  # what setWebhook registered: url, secret_token
        self.webhook_posts: list[tuple[int, int]] = []  # (update id, HTTP status or 0: no answer) of each attempt
        self.webhook_timeout = 60.0  # seconds an attempt waits for the answer before it counts as failed
        self._webhook_senders = ThreadPoolExecutor(WEBHOOK_CONNECTIONS, thread_name_prefix="fake-bot-api-webhook")
        self.downloads_open = threading.Event()  # cleared: downloads wait (a photo stays in flight)
        self.downloads_open.set()
        self.downloads_fail = False  # a download answers 500, as a Telegram hiccup does
        self.sends_refused = 0  # this many sendMessage calls are answered 429 "retry after 1 s"
        self.sends_failing = 0  # this many sendMessage calls are answered 500, as in a Telegram outage
        self._webhook_route: str | None = None
        self._changed = threading.Condition()
        self._closing = False
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name="fake-bot-api", daemon=True)

    @property
    def base_url(self) -> str:
        """What TELEGRAM_API_BASE_URL is set to: the bot derives the method and file addresses from it."""
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def start(self) -> "BotApiServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._webhook_senders.shutdown(wait=False, cancel_futures=True)
        self._http.shutdown()
        self._http.server_close()

    # ----- what tests look at -----

    def calls_to(self, method: str, chat_id: int | None = None) -> list[Call]:
        with self._changed:
            return [call for call in self.calls
                    if call.method == method and (chat_id is None or call.params.get("chat_id") == chat_id)]

    def chat(self, chat_id: int) -> list[dict]:
        """The bot's messages in a chat, oldest first, as they look now (after edits)."""
        with self._changed:
            return [message for (chat, _), message in sorted(self.messages.items()) if chat == chat_id]

    def file_content(self, file_id: str) -> bytes:
        """What was stored under a file id: an upload by a user, or a photo the bot sent."""
        with self._changed:
            return self._files[file_id][1]

    def command_menus(self) -> dict[tuple[int | None, str | None], list[tuple[str, str]]]:
        """The command menus the bot published, as (chat id of the scope, language code) -> [(command, description)],
        the last call for each winning, as on Telegram."""
        return {(call.params.get("scope", {}).get("chat_id"), call.params.get("language_code") or None):
                [(command["command"], command["description"]) for command in call.params["commands"]]
                for call in self.calls_to("setMyCommands")}

    def wait_until(self, condition, timeout: float = 20.0, what: str = "the bot"):
        """Wait for `condition()` to return something truthy, and return it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                result = condition()
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
                self._changed.wait(min(left, 0.5))

    def user(self, user_id: int, first_name: str = "Alex", language_code: str = "en") -> "TelegramUser":
        return TelegramUser(self, user_id, first_name, language_code)

    # ----- what users do -----

    def add_file(self, content: bytes, extension: str, declared_size: int | None = None) -> dict:
        """Store an uploaded file and return its file_id, file_unique_id and file_size (its real size, or
        `declared_size`; none at all for 0: the field is optional, and getFile still refuses a file too big)."""
        with self._changed:  # re-entrant: _sendPhoto calls it holding the lock
            number = next(self._file_ids)
            file_id = f"file-{number}"
            size = len(content) if declared_size is None else declared_size
            self._files[file_id] = (f"uploads/file_{number}{extension}", content, size or len(content))
        return {"file_id": file_id, "file_unique_id": f"unique-{number}", **({"file_size": size} if size else {})}

    def route_webhook_to(self, local_url: str) -> None:
        """Post updates to `local_url` once the bot has set a webhook (the reverse proxy's job in production)."""
        self._webhook_route = local_url

    def push_update(self, kind: str, payload: dict) -> int:
        with self._changed:
            update_id = next(self._update_ids)
            update = {"update_id": update_id, kind: payload}
            self.latest_update_id = update_id
            self.pushed[update_id] = update
            if self.webhook and self._webhook_route:
                self._webhook_senders.submit(self._post_to_webhook, update)
            else:
                self._updates.append(update)
            self._changed.notify_all()
        return update_id

    def _post_to_webhook(self, update: dict) -> None:
        """Post the update until it is answered 2xx (or the test stops routing the webhook, or the server stops)."""
        while self._webhook_route and not self._closing:
            request = urllib.request.Request(
                self._webhook_route, data=json.dumps(update).encode(), method="POST",
                headers={"Content-Type": "application/json",
                         "X-Telegram-Bot-Api-Secret-Token": self.webhook.get("secret_token", "")})
            try:
                with urllib.request.urlopen(request, timeout=self.webhook_timeout) as response:
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                status = 0
            with self._changed:
                self.webhook_posts.append((update["update_id"], status))
                self._changed.notify_all()
            if 200 <= status < 300:
                return
            time.sleep(WEBHOOK_RETRY_SECONDS)

    def webhook_answered(self, update_id: int) -> bool:
        """Whether the webhook answered the update 2xx: the bot has taken it, Telegram posts it no more."""
        with self._changed:
            return any(posted == update_id and 200 <= status < 300 for posted, status in self.webhook_posts)

    def next_message_id(self, chat_id: int) -> int:
        with self._changed:
            return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    # ----- the Bot API -----

    def call(self, method: str, params: dict):
        """Run one Bot API method; returns its result or raises ApiError."""
        if method == "getUpdates":  # recorded only when it returns something, to keep the log readable
            with self._changed:
                self.polls += 1
                self._changed.notify_all()
            updates = self._get_updates(params)
            if updates:
                self._record(method, params)
            return updates
        self._record(method, params)
        implementation = getattr(self, f"_{method}", None)
        if implementation is None:
            raise ApiError(404, "Not Found: method not found")
        with self._changed:
            try:
                return implementation(params)
            finally:
                self._changed.notify_all()

    def download(self, path: str) -> bytes:
        with self._changed:
            self.download_requests += 1
            self._changed.notify_all()
        self.downloads_open.wait(timeout=60)
        if self.downloads_fail:
            raise ApiError(500, "Internal Server Error")
        with self._changed:
            for file_path, content, _ in self._files.values():
                if file_path == path:
                    self.downloads.append(path)
                    self._changed.notify_all()
                    return content
        raise ApiError(404, "Not Found")

    def _record(self, method: str, params: dict) -> None:
        with self._changed:
            self.calls.append(Call(method, params))

    def _get_updates(self, params: dict) -> list[dict]:
        offset, limit = params.get("offset", 0), params.get("limit", 100)
        deadline = time.monotonic() + float(params.get("timeout", 0))
        with self._changed:
            self._updates = [update for update in self._updates if update["update_id"] >= offset]
            while not self._updates and not self._closing and time.monotonic() < deadline:
                self._changed.wait(deadline - time.monotonic())
            delivered = self._updates[:limit]
            if delivered:
                self.delivered_up_to = delivered[-1]["update_id"]
                self._changed.notify_all()
            return delivered

    def _getMe(self, params):
        return BOT_USER

    def _deleteWebhook(self, params):
        self.webhook = {}
        return True

    def _setWebhook(self, params):
        if not params.get("url", "").startswith("https://"):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook = params
        return True

    def _setMyCommands(self, params):
        return True

    def _getMyCommands(self, params):
        commands = [call.params for call in self.calls if call.method == "setMyCommands" and "scope" not in call.params]
        return commands[-1]["commands"] if commands else []

    def _sendChatAction(self, params):
        return True

    def _sendPhoto(self, params):
        photo = params.get("photo")
        if not isinstance(photo, bytes) or not photo:
            raise ApiError(400, "Bad Request: there is no photo in the request")
        caption = params.get("caption", "")
        if len(caption) > PHOTO_CAPTION_LIMIT:
            raise ApiError(400, "Bad Request: message caption is too long")
        if caption:
            _check_text({**params, "text": caption})
        if not photo.startswith(b"\x89PNG\r\n\x1a\n"):  # the only kind the bot sends; its size is in the header
            raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
        width, height = struct.unpack(">II", photo[16:24])
        chat_id = params["chat_id"]
        stored = {**self.add_file(photo, ".png"), "width": width, "height": height}
        message = {"message_id": self.next_message_id(chat_id), "date": int(time.time()), "from": BOT_USER,
                   "chat": {"id": chat_id, "type": "private"}, "photo": [stored], "caption": caption}
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def _sendMessage(self, params):
        _check_text(params)
        chat_id = params["chat_id"]
        if self.sends_failing > 0:
            self.sends_failing -= 1
            raise ApiError(500, "Internal Server Error")
        if self.sends_refused > 0:  # Telegram's flood control
            self.sends_refused -= 1
            raise ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
        message = {"message_id": self.next_message_id(chat_id), "date": int(time.time()), "from": BOT_USER,
                   "chat": {"id": chat_id, "type": "private"}, "text": params["text"]}
        if params.get("reply_markup"):
            message["reply_markup"] = _checked_markup(params["reply_markup"])
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def _editMessageText(self, params):
        _check_text(params)
        return self._edit(params, text=params["text"])

    def _editMessageReplyMarkup(self, params):
        return self._edit(params)

    def _edit(self, params, **changes):
        message = self.messages.get((params.get("chat_id"), params.get("message_id")))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        # Like Telegram, an edit without reply_markup removes the buttons.
        edited = {**message, **changes}
        edited.pop("reply_markup", None)
        if params.get("reply_markup") and _checked_markup(params["reply_markup"])["inline_keyboard"]:
            edited["reply_markup"] = _checked_markup(params["reply_markup"])
        if edited == message:
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                "markup are exactly the same as a current content and reply markup of the message")
        edited["edit_date"] = int(time.time())
        self.messages[(message["chat"]["id"], message["message_id"])] = edited
        return edited

    def _answerCallbackQuery(self, params):
        query_id = params["callback_query_id"]
        if query_id in self.callback_answers or not query_id.startswith("query-"):
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        self.callback_answers[query_id] = params
        return True

    def _getFile(self, params):
        if params["file_id"] not in self._files:
            raise ApiError(400, "Bad Request: invalid file_id")
        path, _, size = self._files[params["file_id"]]
        if size > TELEGRAM_DOWNLOAD_LIMIT:
            raise ApiError(400, "Bad Request: file is too big")
        return {"file_id": params["file_id"], "file_unique_id": f"unique-{params['file_id']}", "file_size": size,
                "file_path": path}


@dataclass
class TelegramUser:
    """A person chatting with the bot in a private chat (their user id is the chat id, as on Telegram)."""

    server: BotApiServer
    user_id: int
    first_name: str = "Alex"
    language_code: str = "en"  # what the user's Telegram app is set to, sent with everything they do

    @property
    def profile(self) -> dict:
        return {"id": self.user_id, "is_bot": False, "first_name": self.first_name,
                "language_code": self.language_code}

    def send(self, text: str) -> int:
        """Type a message or a command. Like the other send methods, returns the message's id: the bot's
        replies to it have higher ids."""
        message = self._message(text=text)
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return self._push(message)

    def send_photo(self, jpeg: bytes, width: int, height: int, declared_size: int | None = None) -> int:
        """Send a picture the way the Telegram app sends photos (compressed, in one size here)."""
        stored = self.server.add_file(jpeg, ".jpg", declared_size)
        return self._push(self._message(photo=[{**stored, "width": width, "height": height}]))

    def send_document(self, content: bytes, file_name: str, mime_type: str | None,
                      declared_size: int | None = None) -> int:
        """Send a file as a document (an uncompressed image, or anything else)."""
        stored = self.server.add_file(content, "." + file_name.rsplit(".", 1)[-1], declared_size)
        document = {**stored, "file_name": file_name, **({"mime_type": mime_type} if mime_type else {})}
        return self._push(self._message(document=document))

    def press(self, message: dict, button: str) -> dict:
        """Press the inline button whose text or callback data is `button` and wait for the bot's answer to it."""
        current = self.server.messages[(self.user_id, message["message_id"])]
        rows = current.get("reply_markup", {}).get("inline_keyboard", [])
        data = next((b["callback_data"] for row in rows for b in row if button in (b["text"], b["callback_data"])),
                    None)
        assert data is not None, f"no button {button!r} under {current.get('text')!r}: {rows}"
        return self.press_data(current, data)

    def press_data(self, message: dict, data: str, wait: bool = True) -> dict | str:
        query_id = f"query-{self.user_id}-{next(_query_numbers)}"
        self.server.push_update("callback_query", {"id": query_id, "from": self.profile, "chat_instance": "1",
                                                   "message": message, "data": data})
        if not wait:
            return query_id
        return self.server.wait_until(lambda: self.server.callback_answers.get(query_id),
                                      what=f"an answer to the press of {data!r}")

    def wait_for_reply(self, after: int = 0, contains: str = "", timeout: float = 20.0) -> dict:
        """The first bot message in this chat with an id above `after` whose text (or photo caption) contains
        `contains`."""
        def reply():
            return next((message for message in self.server.chat(self.user_id)
                         if message["message_id"] > after and contains in message.get("text", message.get("caption"))),
                        None)
        return self.server.wait_until(reply, timeout, what=f"a reply to user {self.user_id} with {contains!r}")

    def wait_for_replies(self, after: int, count: int, timeout: float = 30.0) -> list[dict]:
        """The first `count` bot messages in this chat with ids above `after`."""
        def replies():
            found = [message for message in self.server.chat(self.user_id) if message["message_id"] > after]
            return found[:count] if len(found) >= count else None
        return self.server.wait_until(replies, timeout, what=f"{count} replies to user {self.user_id}")

    def message(self, message_id: int) -> dict:
        return self.server.messages[(self.user_id, message_id)]

    def _push(self, message: dict) -> int:
        self.server.push_update("message", message)
        return message["message_id"]

    def _message(self, **content) -> dict:
        return {"message_id": self.server.next_message_id(self.user_id), "date": int(time.time()),
                "from": self.profile, "chat": {"id": self.user_id, "type": "private", "first_name": self.first_name},
                **content}


_query_numbers = itertools.count(1)


def _check_text(params: dict) -> None:
    text = params.get("text", "")
    if not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if len(text) > 4096:
        raise ApiError(400, "Bad Request: message is too long")
    if params.get("parse_mode") == "HTML":
        _TelegramHtml().check(text)


def _checked_markup(markup) -> dict:
    markup = json.loads(markup) if isinstance(markup, str) else markup
    for row in markup.get("inline_keyboard", []):
        for button in row:
            if "callback_data" in button and not 1 <= len(button["callback_data"].encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


class _TelegramHtml(HTMLParser):
    """Rejects text Telegram could not parse: unknown tags, unclosed or crossed tags, a bare `<`."""

    def check(self, text: str) -> None:
        self.open_tags: list[str] = []
        if re.search(r"<(?![a-zA-Z/])", text):
            raise ApiError(400, "Bad Request: can't parse entities: unexpected '<'")
        self.feed(text)
        self.close()
        if self.open_tags:
            raise ApiError(400, f"Bad Request: can't parse entities: can't find end tag for {self.open_tags[-1]}")

    def handle_starttag(self, tag, attrs):
        if tag not in HTML_TAGS:
            raise ApiError(400, f"Bad Request: can't parse entities: unsupported start tag \"{tag}\"")
        self.open_tags.append(tag)

    def handle_endtag(self, tag):
        if not self.open_tags or self.open_tags.pop() != tag:
            raise ApiError(400, f"Bad Request: can't parse entities: unexpected end tag \"{tag}\"")


def _decode(params: dict[str, str]) -> dict:
    """Form fields as the bot sent them: python-telegram-bot JSON-encodes everything but strings."""
    decoded = {}
    for name, value in params.items():
        if name in STRING_PARAMETERS:
            decoded[name] = value
            continue
        try:
            decoded[name] = json.loads(value)
        except ValueError:
            decoded[name] = value
    return decoded


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """A multipart/form-data body (how files are uploaded): its plain fields, and its files as bytes."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields, files = {}, {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if part.get_filename() is not None:
            files[name] = part.get_payload(decode=True)
        else:
            fields[name] = part.get_payload(decode=True).decode()
    return fields, files


def _handler_for(server: BotApiServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle(self):
            try:
                super().handle()
            except ConnectionError:  # a bot process killed in the middle of a call
                self.close_connection = True

        def do_GET(self):
            self._serve()

        def do_POST(self):
            self._serve()

        def _serve(self):
            url = urlsplit(self.path)
            path = unquote(url.path)  # python-telegram-bot quotes the token's colon in download addresses
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            file_prefix, method_prefix = f"/file/bot{server.token}/", f"/bot{server.token}/"
            try:
                if path.startswith(file_prefix):
                    return self._reply(200, server.download(path[len(file_prefix):]), "application/octet-stream")
                if not path.startswith(method_prefix):
                    raise ApiError(401, "Unauthorized") if path.startswith(("/bot", "/file/bot")) \
                        else ApiError(404, "Not Found")
                params = dict(parse_qsl(url.query))
                content_type = self.headers.get("Content-Type", "")
                uploads = {}
                if content_type.startswith("application/json"):
                    params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in json.loads(body).items()})
                elif content_type.startswith("multipart/form-data"):
                    fields, uploads = _multipart(content_type, body)
                    params.update(fields)
                else:
                    params.update(parse_qsl(body.decode()))
                result = server.call(path[len(method_prefix):], {**_decode(params), **uploads})
                self._reply(200, json.dumps({"ok": True, "result": result}).encode())
            except ApiError as error:
                answer = {"ok": False, "error_code": error.code, "description": error.description,
                          **({"parameters": {"retry_after": error.retry_after}} if error.retry_after else {})}
                self._reply(error.code, json.dumps(answer).encode())

        def _reply(self, status: int, body: bytes, content_type: str = "application/json"):
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the bot stopped while a long poll was open
                self.close_connection = True

        def log_message(self, format, *args):  # quiet: tests read the recorded calls instead
            pass

    return Handler
