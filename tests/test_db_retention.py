"""Retention: rows past their keeping time are deleted and younger ones kept, table by table, on a real SQLite file
and a real PostgreSQL server."""

import asyncio
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from databases import query, scalar
from db import Database, engine
from db import database as database_module

REPO = Path(__file__).resolve().parents[1]
SAD = {"angry": 0.02, "disgust": 0.01, "fear": 0.07, "happy": 0.02, "sad": 0.68, "surprise": 0.0, "neutral": 0.2}
NOTHING = {"readings": 0, "ratings": 0, "suggestions": 0, "answered_photos": 0, "photo_events": 0, "refusals": 0}


@pytest.fixture
async def database(database_address):
    database = await Database.open(database_address)
    yield database
    await database.close()


def ago(**age) -> str:
    """A created_at as the database writes it (ISO 8601, UTC), `age` before now."""
    return (datetime.now(timezone.utc) - timedelta(**age)).isoformat(timespec="seconds")


def unix_time_ago(**age) -> float:
    return (datetime.now(timezone.utc) - timedelta(**age)).timestamp()


def backdate(address, table: str, key: str, ids: list[int], created_at: str) -> None:
    for row_id in ids:
        query(address, f"UPDATE {table} SET created_at = ? WHERE {key} = ?", created_at, row_id)


def readings_of_user_1(address, count: int, created_at: str) -> None:
    with engine.connect(address) as connection:
        connection.execute("INSERT INTO users (user_id, consent_given, created_at) VALUES (1, 1, ?) "
                           "ON CONFLICT DO NOTHING", (created_at,))
        connection.executemany("INSERT INTO readings (user_id, emotion, confidence, model_version, created_at) "
                               "VALUES (1, 'sad', 0.7, '1.0', ?)", [(created_at,)] * count)


async def test_readings_and_suggestions_past_the_period_go_with_their_ratings_and_song_scores_stay(
        database, database_address):
    address = database_address
    await database.set_consent(1, True)
    old_reading, young_reading = [await database.record_reading(1, SAD, "1.0") for _ in range(2)]
    old, young = await database.recommend(1, SAD, "match"), await database.recommend(1, SAD, "lift")
    for suggestion in (old[0], old[1], young[0]):
        await database.rate(1, suggestion.suggestion_id, thumbs_up=suggestion is not old[1])
    await database.record_emotion_feedback(1, "sad", "neutral", SAD, "1.0")
    backdate(address, "readings", "reading_id", [old_reading], ago(days=31))
    backdate(address, "readings", "reading_id", [young_reading], ago(days=29))
    backdate(address, "suggestions", "suggestion_id", [s.suggestion_id for s in old], ago(days=31))
    backdate(address, "suggestions", "suggestion_id", [s.suggestion_id for s in young], ago(days=29, hours=23))
    backdate(address, "emotion_feedback", "user_id", [1], ago(days=400))
    song_scores = query(address, "SELECT * FROM song_scores ORDER BY song_id, emotion")

    deleted = await database.delete_expired(30)

    assert deleted == {**NOTHING, "readings": 1, "ratings": 2, "suggestions": len(old)}
    assert query(address, "SELECT reading_id FROM readings") == [(young_reading,)]
    assert query(address, "SELECT suggestion_id FROM suggestions ORDER BY suggestion_id") == \
        [(s.suggestion_id,) for s in young]
    assert query(address, "SELECT suggestion_id FROM ratings") == [(young[0].suggestion_id,)]
    assert query(address, "SELECT * FROM song_scores ORDER BY song_id, emotion") == song_scores, "anonymous thumbs"
    assert len(song_scores) >= 2 and query(address, "SELECT SUM(ups), SUM(downs) FROM song_scores") == [(2, 1)]
    assert scalar(address, "SELECT COUNT(*) FROM emotion_feedback") == 1, "corrections stay until /forget"
    assert (await database.get_user(1)).consent_given
    assert await database.delete_expired(30) == NOTHING, "a second purge finds nothing more"


async def test_answers_older_than_two_days_and_rate_limit_rows_older_than_an_hour_are_deleted(
        database, database_address):
    address = database_address
    await database.set_consent(1, True)
    with engine.connect(address) as connection:
        connection.executemany(
            "INSERT INTO answered_photos (chat_id, message_id, user_id, predicted, probabilities, model_version, "
            "created_at) VALUES (1, ?, 1, 'sad', '{}', '1.0', ?)", [(10, ago(days=2, minutes=1)), (11, ago(days=1))])
        connection.executemany("INSERT INTO photo_events (user_id, at) VALUES (?, ?)",
                               [(1, unix_time_ago(minutes=61)), (1, unix_time_ago(minutes=59)),
                                (2, unix_time_ago(seconds=5))])
        connection.executemany("INSERT INTO refusals (user_id, at) VALUES (?, ?)",
                               [(1, unix_time_ago(hours=2)), (2, unix_time_ago(minutes=1))])

    deleted = await database.delete_expired()

    assert deleted == {**NOTHING, "answered_photos": 1, "photo_events": 1, "refusals": 1}
    assert query(address, "SELECT message_id FROM answered_photos") == [(11,)]
    assert query(address, "SELECT user_id FROM photo_events ORDER BY user_id") == [(1,), (2,)]
    assert query(address, "SELECT user_id FROM refusals") == [(2,)]


async def test_the_default_period_is_180_days(database, database_address):
    readings_of_user_1(database_address, 1, ago(days=181))
    readings_of_user_1(database_address, 1, ago(days=179))
    assert (await database.delete_expired())["readings"] == 1
    assert scalar(database_address, "SELECT COUNT(*) FROM readings") == 1


async def test_a_big_purge_deletes_everything_in_short_batches(database, database_address, monkeypatch):
    monkeypatch.setattr(database_module, "PURGE_BATCH", 10)
    readings_of_user_1(database_address, 25, ago(days=200))
    readings_of_user_1(database_address, 3, ago(days=2))
    transactions = []
    begin = database._transaction

    def counting_transaction(*args, **kwargs):
        transactions.append(1)
        return begin(*args, **kwargs)

    monkeypatch.setattr(database, "_transaction", counting_transaction)

    assert (await database.delete_expired(30))["readings"] == 25
    assert scalar(database_address, "SELECT COUNT(*) FROM readings") == 3
    assert len(transactions) >= 3 + 1, "25 rows in batches of 10: three transactions for the readings alone"


async def test_several_bot_processes_purging_at_once_delete_each_row_once(database_address, monkeypatch):
    monkeypatch.setattr(database_module, "PURGE_BATCH", 50)
    first, second = await Database.open(database_address), await Database.open(database_address)
    try:
        readings_of_user_1(database_address, 500, ago(days=200))
        results = await asyncio.gather(first.delete_expired(30), second.delete_expired(30), first.delete_expired(30))
        results.append(await second.delete_expired(30))  # one that stopped early, at a batch the others took
    finally:
        await first.close()
        await second.close()
    assert sum(result["readings"] for result in results) == 500
    assert scalar(database_address, "SELECT COUNT(*) FROM readings") == 0


def run_db(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "db", *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_the_purge_command_deletes_what_the_bot_would_and_prints_the_counts(tmp_path):
    path = tmp_path / "moodtunes.sqlite3"
    database_module.prepare(path)
    readings_of_user_1(path, 2, ago(days=40))
    readings_of_user_1(path, 1, ago(days=20))

    result = run_db("--db", str(path), "purge", "--days", "30")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ("Deleted past their keeping time (readings and suggestions: 30 days): readings 2, "
                                     "ratings 0, suggestions 0, answered_photos 0, photo_events 0, refusals 0")
    assert scalar(path, "SELECT COUNT(*) FROM readings") == 1


@pytest.mark.parametrize("days", ["0", "thirty", "1e9"])
def test_the_purge_command_refuses_a_period_that_is_not_a_whole_number_of_days(tmp_path, days):
    result = run_db("--db", str(tmp_path / "moodtunes.sqlite3"), "purge", "--days", days)
    assert result.returncode == 2 and "whole number from 1 to 36500" in result.stderr
    assert "Traceback" not in result.stderr and list(tmp_path.iterdir()) == []
