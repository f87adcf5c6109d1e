"""The bot's settings, rate limit and log redaction, without Telegram."""

import io
import logging

import pytest

from bot.config import OFFICIAL_API_BASE_URL, ConfigError, Settings
from bot.logs import RedactSecrets
from bot.ratelimit import QUIET_SECONDS, RateLimiter
from db import Database

TOKEN = "123456:ABC-secret-token"


def test_a_missing_token_is_reported_with_how_to_get_one():
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN is not set.*BotFather"):
        Settings.from_env({})


def test_defaults_talk_to_the_official_bot_api():
    settings = Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN})
    assert settings.bot_api_url == f"{OFFICIAL_API_BASE_URL}/bot"
    assert settings.file_api_url == f"{OFFICIAL_API_BASE_URL}/file/bot"
    assert settings.webhook_url is None and settings.admin_user_ids == frozenset()
    assert settings.database.name.endswith(".sqlite3") and settings.model_path.name == "emotion.tflite"


def test_a_postgresql_url_is_used_instead_of_the_sqlite_file_and_never_shown_with_its_password():
    url = "postgresql://moodtunes:hush@db:5432/moodtunes"
    settings = Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "DATABASE_URL": url, "DATABASE_PATH": "x.sqlite3"})
    assert settings.database == url and "hush" not in repr(settings)


def test_file_downloads_follow_a_self_hosted_api_server():
    settings = Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": "http://10.0.0.5:8081/"})
    assert settings.bot_api_url == "http://10.0.0.5:8081/bot"
    assert settings.file_api_url == "http://10.0.0.5:8081/file/bot"


def test_the_token_and_webhook_secret_never_appear_in_the_settings_repr():
    settings = Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "WEBHOOK_SECRET": "hush"})
    assert TOKEN not in repr(settings) and "hush" not in repr(settings)


def test_webhook_settings_give_the_listening_path_and_a_secret():
    settings = Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "WEBHOOK_URL": "https://example.org/hooks/moodtunes",
                                  "PORT": "8443"})
    assert settings.webhook_path == "hooks/moodtunes" and settings.port == 8443
    assert len(settings.webhook_secret) >= 32  # made from the token when WEBHOOK_SECRET is not given
    assert TOKEN.split(":")[1] not in settings.webhook_secret


def test_replicas_sharing_a_token_share_the_webhook_secret_without_configuring_one():
    replicas = [Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "WEBHOOK_URL": "https://example.org/hook"})
                for _ in range(3)]
    assert len({settings.webhook_secret for settings in replicas}) == 1
    other_bot = Settings.from_env({"TELEGRAM_BOT_TOKEN": "654321:XYZ-other", "WEBHOOK_URL": "https://example.org/h"})
    assert other_bot.webhook_secret != replicas[0].webhook_secret


def test_admin_ids_and_limits_are_parsed():
    settings = Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "ADMIN_USER_IDS": "12, 34", "LOG_LEVEL": "debug",
                                  "RATE_LIMIT_PHOTOS_PER_MINUTE": "4", "MODEL_CHECK_SECONDS": "0.5"})
    assert settings.admin_user_ids == {12, 34} and settings.log_level == "DEBUG"
    assert settings.photos_per_minute == 4 and settings.model_check_seconds == 0.5


def test_readings_and_suggestions_are_kept_180_days_unless_configured():
    assert Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN}).retention_days == 180
    assert Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "RETENTION_DAYS": " 30 "}).retention_days == 30


def test_the_consent_age_is_16_unless_configured():
    assert Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN}).consent_min_age == 16
    assert Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "CONSENT_MIN_AGE": "13"}).consent_min_age == 13


@pytest.mark.parametrize("name, value, complaint", [
    ("ADMIN_USER_IDS", "alice", "ADMIN_USER_IDS"),
    ("PORT", "eighty", "PORT must be a whole number"),
    ("RATE_LIMIT_PHOTOS_PER_MINUTE", "0", "greater than zero"),
    ("CONSENT_MIN_AGE", "sixteen", "CONSENT_MIN_AGE must be a whole number"),
    ("RETENTION_DAYS", "half a year", "RETENTION_DAYS must be a whole number"),
    ("RETENTION_DAYS", "90.5", "RETENTION_DAYS must be a whole number"),
    ("RETENTION_DAYS", "0", "RETENTION_DAYS must be greater than zero"),
    ("RETENTION_DAYS", "1000000", "RETENTION_DAYS must be at most 36500"),
    ("LOG_LEVEL", "LOUD", "LOG_LEVEL must be one of"),
    ("WEBHOOK_URL", "http://example.org/hook", "https://"),
])
def test_malformed_settings_say_which_variable_is_wrong(name, value, complaint):
    with pytest.raises(ConfigError, match=complaint):
        Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, name: value})


async def test_the_rate_limit_refuses_the_photo_over_the_limit_then_recovers_in_every_process(database_address):
    now = [1_700_000_000.0]
    async with await Database.open(database_address) as one, \
            await Database.open(database_address) as other:  # two bot processes, one database
        limiters = [RateLimiter(database, limit=2, window_seconds=60, clock=lambda: now[0])
                    for database in (one, other)]
        assert [await limiters[0].allow(1, 101), await limiters[1].allow(1, 102), await limiters[0].allow(1, 103)] == \
            [True, True, False]
        assert await limiters[1].allow(1, 102), "a photo delivered again counts once"
        assert await limiters[1].allow(2, 104), "another user is not held up"
        assert [await limiters[1].first_refusal(1), await limiters[0].first_refusal(1)] == [True, False]
        now[0] += QUIET_SECONDS
        assert await limiters[0].first_refusal(1), "answered again after the quiet period"
        now[0] += 61
        assert await limiters[1].allow(1, 105)


def test_the_token_is_blanked_out_of_every_log_line_and_traceback():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets(TOKEN))
    logger = logging.getLogger("test_bot_config.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    logger.warning("POST https://api.telegram.org/bot%s/getMe", TOKEN)
    try:
        raise RuntimeError(f"cannot reach https://api.telegram.org/bot{TOKEN}/getUpdates")
    except RuntimeError:
        logger.exception("polling failed")
    assert TOKEN not in stream.getvalue()
    assert "bot<token>/getMe" in stream.getvalue() and "bot<token>/getUpdates" in stream.getvalue()
