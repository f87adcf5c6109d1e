"""Logging for operators: readable lines on stderr, and no secret and nothing a user wrote in them.

python-telegram-bot logs its API address (which contains the token) at DEBUG, and httpx logs every request
URL at INFO; a filter on the handler blanks the token and the webhook secret out of every record whatever its
source. At DEBUG, python-telegram-bot dumps every request and answer (users' names, texts, file ids, the webhook
secret) and aiosqlite every statement with its values (a donated face crop): the libraries' loggers stay at INFO
even when LOG_LEVEL is DEBUG, so DEBUG is safe to use in production.
"""

import logging


class RedactSecrets(logging.Filter):
    """Replace the token by `<token>`, and other secrets (the webhook's) by `<secret>`, in every log message."""

    def __init__(self, token: str, *others: str):
        super().__init__()
        self.placeholders = {secret: placeholder for secret, placeholder
                             in [(token, "<token>"), *((other, "<secret>") for other in others)] if secret}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.placeholders):
            record.msg, record.args = self._redacted(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redacted(record.exc_text)
        return True

    def _redacted(self, text: str) -> str:
        for secret, placeholder in self.placeholders.items():
            text = text.replace(secret, placeholder)
        return text


def configure_logging(level: str, token: str, *other_secrets: str) -> None:
    """Log at `level` to stderr with the secrets redacted; keep the request chatter of the libraries out."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(token, *other_secrets))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    quieter = max(logging.INFO, logging.getLevelName(level))
    for library in ("telegram", "aiosqlite", "tornado"):
        logging.getLogger(library).setLevel(quieter)
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    logging.getLogger("httpcore").setLevel(logging.WARNING)
