"""The bot's settings, read once from environment variables (the README's table lists them all)."""

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from db import DEFAULT_PATH as DEFAULT_DATABASE_PATH
from db import MAX_RETENTION_DAYS, RETENTION_DAYS, configured_address
from model.classifier import DEFAULT_MODEL as DEFAULT_MODEL_PATH

OFFICIAL_API_BASE_URL = "https://api.telegram.org"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
WEBHOOK_SECRET_FORMAT = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Telegram accepts as a webhook's secret_token


class ConfigError(Exception):
    """A setting is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    token: str = field(repr=False)
    api_base_url: str = OFFICIAL_API_BASE_URL
    database: str | Path = field(default=DEFAULT_DATABASE_PATH, repr=False)  # a file, or a URL with a password
    model_path: Path = DEFAULT_MODEL_PATH
    log_level: str = "INFO"
    webhook_url: str | None = None
    webhook_secret: str = field(default="", repr=False)
    port: int = 8080
    admin_user_ids: frozenset[int] = frozenset()
    photos_per_minute: int = 6
    model_check_seconds: float = 30.0
    consent_min_age: int = 16  # the age of digital consent users confirm (GDPR's default; 13-16 by country)
    retention_days: int = RETENTION_DAYS  # readings and suggestions are deleted when this many days old

    @property
    def bot_api_url(self) -> str:
        """Where Bot API methods are called; python-telegram-bot appends the token."""
        return f"{self.api_base_url}/bot"

    @property
    def file_api_url(self) -> str:
        """Where files are downloaded from: the same server as the methods, so a self-hosted one serves both."""
        return f"{self.api_base_url}/file/bot"

    @property
    def webhook_path(self) -> str:
        """The path the webhook listens on: the path part of WEBHOOK_URL."""
        return urlsplit(self.webhook_url or "").path.strip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, need_token: bool = True) -> "Settings":
        """Settings from the environment; raises ConfigError with a fix-it message for anything wrong."""
        token = environ.get("TELEGRAM_BOT_TOKEN", "").strip()
        if need_token and not token:
            raise ConfigError(
                "TELEGRAM_BOT_TOKEN is not set. Ask @BotFather on Telegram for a token, then run for example\n"
                "    TELEGRAM_BOT_TOKEN=123456:ABC... python -m bot"
            )
        log_level = environ.get("LOG_LEVEL", "INFO").strip().upper()
        if log_level not in LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {log_level!r}.")
        webhook_url = environ.get("WEBHOOK_URL", "").strip() or None
        if webhook_url and not webhook_url.startswith("https://"):
            raise ConfigError(f"WEBHOOK_URL must be an https:// address Telegram can reach, not {webhook_url!r}.")
        webhook_secret = environ.get("WEBHOOK_SECRET", "").strip()
        if webhook_secret and not WEBHOOK_SECRET_FORMAT.fullmatch(webhook_secret):
            raise ConfigError("WEBHOOK_SECRET may hold only letters, digits, _ and - (1 to 256 of them), "
                              "as Telegram requires.")
        return cls(
            token=token,
            api_base_url=_api_base_url(environ.get("TELEGRAM_API_BASE_URL", "")),
            database=_database(environ),
            model_path=Path(environ.get("MODEL_PATH", "").strip() or DEFAULT_MODEL_PATH),
            log_level=log_level,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret or _webhook_secret_from(token),
            port=_number(environ, "PORT", 8080, int),
            admin_user_ids=_user_ids(environ.get("ADMIN_USER_IDS", "")),
            photos_per_minute=_number(environ, "RATE_LIMIT_PHOTOS_PER_MINUTE", 6, int),
            model_check_seconds=_number(environ, "MODEL_CHECK_SECONDS", 30.0, float),
            consent_min_age=_number(environ, "CONSENT_MIN_AGE", cls.consent_min_age, int),
            retention_days=_number(environ, "RETENTION_DAYS", cls.retention_days, int, at_most=MAX_RETENTION_DAYS),
        )


def _api_base_url(text: str) -> str:
    """The server's address without the `/bot` the bot appends itself (an address copied with it still works)."""
    url = text.strip().rstrip("/").removesuffix("/bot") or OFFICIAL_API_BASE_URL
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"TELEGRAM_API_BASE_URL must be the address of a Bot API server, starting with http:// or "
                          f"https://, such as {OFFICIAL_API_BASE_URL}.")  # not echoed: it may hold the token
    return url


def _webhook_secret_from(token: str) -> str:
    """Telegram echoes the secret in a header of every webhook call. Derived from the token, it is the same in every
    replica (each registers the webhook on start, the last one's secret is the one Telegram sends) and as
    unguessable as the token, which it does not reveal."""
    digest = hmac.new(token.encode(), b"MoodTunes webhook secret", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _database(environ: Mapping[str, str]) -> str | Path:
    try:
        return configured_address(environ)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _number(environ: Mapping[str, str], name: str, default, kind, at_most=None):
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"{name} must be {'a whole number' if kind is int else 'a number'}, not {text!r}.") from None
    if value <= 0:
        raise ConfigError(f"{name} must be greater than zero, not {text!r}.")
    if at_most is not None and value > at_most:
        raise ConfigError(f"{name} must be at most {at_most}, not {text!r}.")
    return value


def _user_ids(text: str) -> frozenset[int]:
    parts = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    try:
        return frozenset(int(part) for part in parts)
    except ValueError:
        raise ConfigError(f"ADMIN_USER_IDS must be Telegram user ids separated by commas, not {text!r}.") from None
