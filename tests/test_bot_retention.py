"""Retention through the real bot (`python -m bot`): data past its keeping time is deleted at start, /privacy says
for how long data is kept, and a bad RETENTION_DAYS stops the bot in one line."""

import asyncio
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from bot import app
from bot_harness import REPO, assert_clean_log, bot_environment, new_user, rows, start_bot
from db import Database, engine
from db.database import prepare


def ago(**age) -> datetime:
    return datetime.now(timezone.utc) - timedelta(**age)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def a_year_of_data(database) -> None:
    """A bot's database with user 7's readings and suggestions (one rated) from 40 and 20 days ago, a 3-day-old
    answer, and rate-limit rows of two hours ago."""
    prepare(database)
    with engine.connect(database) as connection:
        connection.execute("INSERT INTO users (user_id, consent_given, consent_at, created_at) VALUES (7, 1, ?, ?)",
                           (iso(ago(days=400)), iso(ago(days=400))))
        (song_id,) = connection.execute("SELECT MIN(song_id) FROM songs").fetchone()
        for days in (40, 20):
            connection.execute("INSERT INTO readings (user_id, emotion, confidence, model_version, created_at) "
                               "VALUES (7, 'sad', 0.7, '2.0.0', ?)", (iso(ago(days=days)),))
            connection.execute("INSERT INTO suggestions (suggestion_id, user_id, song_id, emotion, mode, created_at) "
                               "VALUES (?, 7, ?, 'sad', 'match', ?)", (days, song_id, iso(ago(days=days))))
        connection.execute("INSERT INTO ratings (suggestion_id, user_id, thumbs_up, rated_at) VALUES (40, 7, 1, ?)",
                           (iso(ago(days=40)),))
        connection.execute("INSERT INTO song_scores (song_id, emotion, ups) VALUES (?, 'sad', 1)", (song_id,))
        connection.execute("INSERT INTO answered_photos (chat_id, message_id, user_id, predicted, probabilities, "
                           "model_version, created_at) VALUES (7, 1, 7, 'sad', '{}', '2.0.0', ?)", (iso(ago(days=3)),))
        connection.execute("INSERT INTO photo_events (user_id, at) VALUES (7, ?)", (ago(hours=2).timestamp(),))
        connection.execute("INSERT INTO refusals (user_id, at) VALUES (7, ?)", (ago(hours=2).timestamp(),))


def test_the_bot_deletes_data_past_its_keeping_time_when_it_starts_and_privacy_says_how_long(
        telegram, tmp_path, database_address):
    database = database_address
    a_year_of_data(database)

    bot = start_bot(telegram, tmp_path, database, RETENTION_DAYS="30")
    try:
        telegram.wait_until(lambda: "Deleted past their keeping time" in bot.log_text(), what="the start-up purge")
        assert rows(database, "SELECT created_at > ? FROM readings", iso(ago(days=30))) == [(1,)]
        assert rows(database, "SELECT suggestion_id FROM suggestions") == [(20,)]
        assert rows(database, "SELECT COUNT(*) FROM ratings") == [(0,)], "the old suggestion's rating went with it"
        assert rows(database, "SELECT SUM(ups) FROM song_scores") == [(1,)], "the anonymous thumb stays"
        for table in ("answered_photos", "photo_events", "refusals"):
            assert rows(database, f"SELECT COUNT(*) FROM {table}") == [(0,)], table
        assert rows(database, "SELECT consent_given FROM users WHERE user_id = 7") == [(1,)]

        english, german = new_user(telegram), new_user(telegram, language_code="de")
        privacy = english.wait_for_reply(after=english.send("/privacy"))["text"]
        assert "deleted once they are 30 days old" in privacy
        assert "kept for 2 days at most" in privacy and "kept for 1 hour" in privacy
        assert "sobald sie 30 Tage alt sind" in german.wait_for_reply(after=german.send("/privacy"))["text"]
    finally:
        assert bot.stop() == 0
    assert_clean_log(bot)
    assert ("Deleted past their keeping time (readings and suggestions: 30 days): readings 1, ratings 1, "
            "suggestions 1, answered_photos 1, photo_events 1, refusals 1") in bot.log_text()


def test_a_retention_period_that_is_not_a_whole_number_of_days_stops_the_bot_in_one_line(telegram, tmp_path):
    environment = bot_environment(telegram, tmp_path / "moodtunes.sqlite3", RETENTION_DAYS="six months")
    result = subprocess.run([sys.executable, "-m", "bot"], cwd=REPO, env=environment, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["Configuration error: RETENTION_DAYS must be a whole number, "
                                          "not 'six months'."]
    assert list(tmp_path.iterdir()) == [], "nothing started, nothing created"


async def test_the_purge_comes_back_after_its_interval_even_after_a_failed_one(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(app, "PURGE_EVERY_SECONDS", 0.05)
    path = tmp_path / "moodtunes.sqlite3"
    database = await Database.open(path)
    purges, delete_expired = [], database.delete_expired

    async def failing_once(retention_days):
        purges.append(retention_days)
        if len(purges) == 1:
            raise sqlite3.OperationalError("disk I/O error")
        return await delete_expired(retention_days)

    monkeypatch.setattr(database, "delete_expired", failing_once)
    purging = asyncio.create_task(app.purge_expired_data(database, 30))
    try:
        with engine.connect(path) as connection:  # the first purge fails: a later one must delete it
            connection.execute("INSERT INTO users (user_id, created_at) VALUES (7, ?)", (iso(ago(days=400)),))
            connection.execute("INSERT INTO readings (user_id, emotion, confidence, model_version, created_at) "
                               "VALUES (7, 'sad', 0.7, '2.0.0', ?)", (iso(ago(days=31)),))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if rows(path, "SELECT COUNT(*) FROM readings") == [(0,)]:
                break
    finally:
        purging.cancel()
        await asyncio.gather(purging, return_exceptions=True)
        await database.close()
    assert rows(path, "SELECT COUNT(*) FROM readings") == [(0,)]
    assert len(purges) >= 2 and "Could not delete the data past its keeping time" in caplog.text
