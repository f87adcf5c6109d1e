"""`python -m db copy`: a bot's data moves from its SQLite file to PostgreSQL (and back) and the bot goes on where
it was."""

import subprocess
import sys
from pathlib import Path

from databases import query, scalar, tables
from db import Database
from db.copy import TABLES

REPO = Path(__file__).resolve().parents[1]
SAD = {"angry": 0.02, "disgust": 0.01, "fear": 0.07, "happy": 0.02, "sad": 0.68, "surprise": 0.0, "neutral": 0.2}
CROP = bytes(range(256)) * 9


async def a_bot_s_database(address) -> dict:
    """Two users' consent, readings, suggestions, ratings and a donated crop; the second user then erased, so the
    highest suggestion ids were handed out and deleted. Returns what the copy must keep."""
    async with await Database.open(address) as database:
        await database.set_consent(1, True)
        await database.set_donation(1, True)
        await database.set_language(1, "de")
        await database.record_reading(1, SAD, "2.0.0")
        kept = await database.recommend(1, SAD, "lift")
        await database.rate(1, kept[0].suggestion_id, True)
        await database.record_emotion_feedback(1, "sad", "neutral", SAD, "2.0.0", CROP)
        await database.set_consent(2, True)
        erased = await database.recommend(2, SAD, "match")
        await database.forget_user(2)
        return {"user": await database.get_user(1), "rated": kept[0].suggestion_id,
                "last_id": max(suggestion.suggestion_id for suggestion in erased)}


def copy(source, target) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "db", "copy", "--from", str(source), "--to", str(target)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


async def test_a_sqlite_file_moves_to_postgresql_and_back_and_the_bot_goes_on_where_it_was(tmp_path,
                                                                                           new_postgresql_database):
    path, url = tmp_path / "moodtunes.sqlite3", new_postgresql_database()
    before = await a_bot_s_database(path)

    result = copy(f"sqlite:{path}", url)

    assert result.returncode == 0, result.stderr
    assert "users 1" in result.stdout and "ratings 1" in result.stdout
    assert "password" not in result.stdout
    for table in TABLES:
        assert sorted(query(url, f"SELECT * FROM {table}"), key=repr) == \
            sorted(query(path, f"SELECT * FROM {table}"), key=repr), table
    async with await Database.open(url) as database:
        assert await database.get_user(1) == before["user"]
        assert [crop.face48 for crop in await database.donated_crops()] == [CROP]
        await database.rate(1, before["rated"], False)  # the button under the old message still works
        again = await database.recommend(1, SAD, "match")
    assert min(suggestion.suggestion_id for suggestion in again) > before["last_id"], "no erased id comes back"

    back = copy(url, tmp_path / "back.sqlite3")
    assert back.returncode == 0, back.stderr
    assert scalar(tmp_path / "back.sqlite3", "SELECT thumbs_up FROM ratings WHERE suggestion_id = ?",
                  before["rated"]) == 0


async def test_a_copy_into_a_database_that_holds_data_is_refused_and_changes_nothing(tmp_path, database_address):
    source = tmp_path / "source.sqlite3"
    await a_bot_s_database(source)
    await a_bot_s_database(database_address)  # a bot already ran on the target
    users = query(database_address, "SELECT * FROM users")

    result = copy(source, database_address)

    assert result.returncode == 2 and "Nothing copied" in result.stderr
    assert "already exists" in result.stderr or "is not empty (songs" in result.stderr
    assert "Traceback" not in result.stderr
    assert query(database_address, "SELECT * FROM users") == users


def test_a_missing_source_file_is_refused_and_creates_nothing(tmp_path):
    result = copy(tmp_path / "typo.sqlite3", tmp_path / "target.sqlite3")
    assert result.returncode == 2 and "no database at" in result.stderr
    assert list(tmp_path.iterdir()) == []


async def test_the_copy_knows_every_table_of_the_schema(database_address):
    await Database.open(database_address)
    assert set(tables(database_address)) - {"schema_version"} == set(TABLES)
