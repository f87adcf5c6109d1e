"""Logging for operators: readable lines on stderr, and the bot token never in them.

python-telegram-bot logs its API address (which contains the token) at DEBUG, and httpx logs every request
URL at INFO; a filter on the handler blanks the token out of every record whatever its source.
"""

import logging


class RedactToken(logging.Filter):
    """Replace the bot token by a placeholder in every formatted log message."""

    def __init__(self, token: str):
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "<token>"), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self.token in record.exc_text:
            record.exc_text = record.exc_text.replace(self.token, "<token>")
        return True


class OneLineRefusals(logging.Filter):
    """A webhook call the bot refused (wrong secret, wrong content type: someone probing the URL) is a normal
    event, not a crash: python-telegram-bot logs it with a traceback at DEBUG; keep it to one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if isinstance(record.exc_info, tuple) else record.exc_info
        if type(error).__name__ == "HTTPError" and 400 <= getattr(error, "status_code", 0) < 500:
            record.msg, record.args = f"{record.getMessage()}: refused ({error})", None
            record.exc_info, record.exc_text = None, None
        return True


def configure_logging(level: str, token: str) -> None:
    """Log at `level` to stderr with the token redacted; keep the per-request chatter of httpx out."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(OneLineRefusals())
    handler.addFilter(RedactToken(token))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    logging.getLogger("httpcore").setLevel(logging.WARNING)
