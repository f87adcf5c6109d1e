"""The database: migrations, consent, ratings, corrections and donated crops, /forget. Real SQLite files and a real
PostgreSQL server (most tests run on both)."""

import asyncio
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from databases import query, scalar, tables
from db import Database, engine, schema
from model.preprocess import LABELS

SAD = {"angry": 0.02, "disgust": 0.01, "fear": 0.07, "happy": 0.02, "sad": 0.68, "surprise": 0.0, "neutral": 0.2}
CROP = bytes(range(256)) * 9  # 48 * 48 bytes


@pytest.fixture
async def database(database_address):
    database = await Database.open(database_address)
    yield database
    await database.close()


async def test_the_bot_s_connection_has_the_settings_of_every_tool_s_connection(tmp_path):
    path = tmp_path / "moodtunes.sqlite3"
    async with await Database.open(path) as database:
        with engine.connect(path) as tool:
            for pragma in engine.PRAGMAS:
                name = pragma.split()[0]
                bot_s = await database._engine.fetch(f"PRAGMA {name}", (), one=True)  # the bot's own, looked into
                assert bot_s == tool.execute(f"PRAGMA {name}").fetchone(), name


async def consenting_user(database: Database, user_id: int, donate: bool = False) -> None:
    await database.set_consent(user_id, True)
    if donate:
        await database.set_donation(user_id, True)


async def test_a_new_file_is_created_migrated_and_seeded_with_the_bundled_catalog(tmp_path):
    path = tmp_path / "deep" / "folder" / "new.sqlite3"
    database = await Database.open(path)
    await database.close()
    with engine.connect(path) as connection:
        assert schema.schema_version(connection) == schema.LATEST_VERSION
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert scalar(path, "SELECT COUNT(*) FROM songs WHERE source = 'bundled'") >= 300


async def test_a_new_database_is_migrated_and_seeded_once_by_bots_starting_together(database_address):
    url = database_address
    databases = await asyncio.gather(*(Database.open(url) for _ in range(3)))
    for database in databases:
        await database.close()
    with engine.connect(url) as connection:
        assert schema.schema_version(connection) == schema.LATEST_VERSION
    assert scalar(url, "SELECT COUNT(*) FROM songs WHERE source = 'bundled'") >= 300
    assert scalar(url, "SELECT value FROM meta WHERE key = 'catalog_version'") == "1", "the catalog was imported once"


def file_at_version_with_a_user(path, version: int) -> engine.Connection:
    """A database file of an older schema holding user 7 (consenting, lift mode), as an older bot left it."""
    connection = engine.connect(path)
    schema.migrate(connection, target=version)
    connection.execute("INSERT INTO users (user_id, consent_given, consent_at, mode, created_at) "
                       "VALUES (7, 1, '2026-01-02T03:04:05+00:00', 'lift', '2026-01-02T03:04:05+00:00')")
    return connection


async def test_an_old_file_is_upgraded_in_place_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.sqlite3"
    connection = file_at_version_with_a_user(path, 1)
    connection.execute("INSERT INTO songs (title, artist, valence, energy, links, source, title_key, artist_key) "
                       "VALUES ('Old Song', 'Old Band', 0.5, 0.5, '{}', 'v1', 'old song', 'old band')")
    connection.execute("INSERT INTO suggestions (user_id, song_id, emotion, mode, created_at) "
                       "VALUES (7, 1, 'sad', 'lift', '2026-01-02T03:04:05+00:00')")
    connection.execute("INSERT INTO ratings (suggestion_id, user_id, thumbs_up, rated_at) "
                       "VALUES (1, 7, 1, '2026-01-02T03:04:05+00:00')")
    connection.close()

    database = await Database.open(path)
    user = await database.get_user(7)
    await database.close()
    assert (user.consent_given, user.mode, user.donate_crops) == (True, "lift", False)
    assert user.consent_at.year == 2026
    with engine.connect(path) as connection:
        assert schema.schema_version(connection) == schema.LATEST_VERSION
        assert connection.execute("SELECT thumbs_up FROM ratings WHERE suggestion_id = 1").fetchall() == [(1,)]


async def test_a_file_of_schema_3_gains_the_language_choice_and_keeps_its_users(tmp_path):
    path = tmp_path / "v3.sqlite3"
    file_at_version_with_a_user(path, 3).close()

    async with await Database.open(path) as database:
        user = await database.get_user(7)
        assert (user.consent_given, user.mode, user.language) == (True, "lift", None)
        assert (await database.set_language(7, "pt_BR")).language == "pt_BR"
    with engine.connect(path) as connection:
        assert schema.schema_version(connection) == schema.LATEST_VERSION == 8


async def test_a_language_chosen_before_consent_implies_no_consent_and_forget_erases_it(database):
    user = await database.set_language(9, "ru")
    assert (user.language, user.consent_given, user.consent_at) == ("ru", False, None)
    assert (await database.set_consent(9, True)).language == "ru", "consent keeps the choice"
    await database.forget_user(9)
    assert await database.get_user(9) is None


async def test_the_mood_journal_holds_the_user_s_recent_readings_corrections_and_best_liked_songs(database):
    for user_id in (1, 2):
        await consenting_user(database, user_id)
        await database.record_reading(user_id, SAD, "1.0")
    await database.record_emotion_feedback(1, "sad", "neutral", SAD, "1.0")
    songs = await database.recommend(1, SAD, "match")
    for suggestion, thumbs_up in zip(songs, (True, False, True)):
        await database.rate(1, suggestion.suggestion_id, thumbs_up)
    again = await database.recommend(1, SAD, "lift")
    await database.rate(1, again[0].suggestion_id, True)
    query(database.address, "INSERT INTO readings (user_id, emotion, confidence, model_version, created_at) "
                            "VALUES (1, 'happy', 0.9, '1.0', '2020-01-01T00:00:00+00:00')")  # from long ago
    since = datetime.now(timezone.utc) - timedelta(weeks=4)

    journal = await database.mood_journal(1, since)

    assert [entry.emotion for entry in journal.readings] == ["sad"], "only the user's, only since the day"
    assert [(entry.corrected_from, entry.emotion) for entry in journal.corrections] == [("sad", "neutral")]
    liked = {songs[0].song.song_id, songs[2].song.song_id, again[0].song.song_id}
    assert {song.song_id for song in journal.liked_songs} == liked and not journal.empty
    await database.forget_user(1)
    assert (await database.mood_journal(1, since)).empty


async def test_a_database_from_a_newer_version_of_the_bot_is_refused_untouched(database_address):
    with engine.connect(database_address) as connection:
        schema.migrate(connection)
        schema.set_schema_version(connection, schema.LATEST_VERSION + 1)
    with pytest.raises(RuntimeError, match="newer than this code"):
        await Database.open(database_address)
    with engine.connect(database_address) as connection:
        assert schema.schema_version(connection) == schema.LATEST_VERSION + 1


async def test_consent_is_stored_with_its_date_and_can_be_withdrawn(database):
    assert await database.get_user(5) is None
    user = await database.set_consent(5, True)
    assert user.consent_given and user.consent_at is not None and user.mode == "match"
    assert not (await database.set_consent(5, False)).consent_given


async def test_requests_go_on_after_the_postgresql_server_dropped_every_connection(new_postgresql_database):
    """As after a database restart or failover: the next request reconnects instead of failing."""
    url = new_postgresql_database()
    async with await Database.open(url) as database:
        await database.set_consent(1, True)
        async with database.user_lock(1):
            pass
        query(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        assert (await database.get_user(1)).consent_given
        async with database.user_lock(1):
            await database.record_reading(1, SAD, "1.0")
    assert scalar(url, "SELECT COUNT(*) FROM readings") == 1


async def test_a_rating_is_stored_once_and_a_second_press_changes_it(database):
    await consenting_user(database, 1)
    first = (await database.recommend(1, SAD, "match"))[0]
    await database.rate(1, first.suggestion_id, True)
    await database.rate(1, first.suggestion_id, True)
    await database.rate(1, first.suggestion_id, False)
    path = database.address
    assert scalar(path, "SELECT COUNT(*) FROM ratings WHERE user_id = 1") == 1
    assert scalar(path, "SELECT thumbs_up FROM ratings WHERE suggestion_id = ?", first.suggestion_id) == 0
    assert scalar(path, "SELECT ups FROM song_scores WHERE song_id = ? AND emotion = 'sad'", first.song.song_id) == 0
    assert scalar(path, "SELECT downs FROM song_scores WHERE song_id = ? AND emotion = 'sad'", first.song.song_id) == 1


async def test_nobody_can_rate_a_suggestion_made_to_someone_else(database):
    await consenting_user(database, 1)
    await consenting_user(database, 2)
    suggestion = (await database.recommend(1, SAD, "match"))[0]
    with pytest.raises(LookupError):
        await database.rate(2, suggestion.suggestion_id, True)
    with pytest.raises(LookupError):
        await database.rate(1, 10**9, True)


async def test_a_crop_is_kept_only_for_users_who_donate(database):
    await consenting_user(database, 1)
    await consenting_user(database, 2, donate=True)
    await database.record_emotion_feedback(1, "sad", "neutral", SAD, "1.0", CROP)
    await database.record_emotion_feedback(2, "sad", "happy", SAD, "1.0", CROP)
    crops = await database.donated_crops()
    assert [(crop.user_id, crop.emotion, crop.face48) for crop in crops] == [(2, "happy", CROP)]


@pytest.mark.parametrize("withdraw", ["donation off", "consent withdrawn"])
async def test_ending_the_donation_deletes_the_user_s_crops_at_once(database, withdraw):
    await consenting_user(database, 1, donate=True)
    await database.record_emotion_feedback(1, "sad", "happy", SAD, "1.0", CROP)
    if withdraw == "donation off":
        await database.set_donation(1, False)
    else:
        await database.set_consent(1, False)
    assert await database.donated_crops() == []
    assert scalar(database.address, "SELECT COUNT(face48) FROM emotion_feedback") == 0
    assert scalar(database.address, "SELECT COUNT(*) FROM emotion_feedback") == 1, "the label stays"


async def test_forget_deletes_every_row_about_the_user_and_their_share_of_song_scores(database):
    path = database.address
    for user_id in (1, 2):
        await consenting_user(database, user_id, donate=True)
        await database.record_reading(user_id, SAD, "1.0")
        songs = await database.recommend(user_id, SAD, "match")
        await database.rate(user_id, songs[0].suggestion_id, True)
        await database.record_emotion_feedback(user_id, "sad", "neutral", SAD, "1.0", CROP)
    before_bystander = scalar(path, "SELECT COUNT(*) FROM suggestions WHERE user_id = 2")

    deleted = await database.forget_user(1)

    assert deleted == {"ratings": 1, "emotion_feedback": 1, "readings": 1, "suggestions": 5, "answered_photos": 0,
                       "photo_events": 0, "refusals": 0, "users": 1}
    for table in tables(path, having_column="user_id"):
        assert scalar(path, f"SELECT COUNT(*) FROM {table} WHERE user_id = 1") == 0, table
    assert scalar(path, "SELECT COALESCE(SUM(ups), 0) FROM song_scores") == 1, "only the bystander's thumb is left"
    assert scalar(path, "SELECT COUNT(*) FROM suggestions WHERE user_id = 2") == before_bystander
    assert [crop.user_id for crop in await database.donated_crops()] == [2]


async def test_song_scores_rebuilt_from_ratings_match_the_running_counts(database):
    path = database.address
    for user_id in range(1, 6):
        await consenting_user(database, user_id)
        for suggestion in await database.recommend(user_id, SAD, "match"):
            await database.rate(user_id, suggestion.suggestion_id, suggestion.suggestion_id % 3 != 0)
    running = sorted(query(path, "SELECT * FROM song_scores WHERE ups + downs > 0"))
    await database.recompute_song_scores()
    assert sorted(query(path, "SELECT * FROM song_scores")) == running


async def test_presses_taken_by_two_bot_processes_at_once_keep_the_song_scores_exact(database_address):
    """A user tapping 👍 and 👎 quickly, the presses landing on two replicas: every count matches the ratings."""
    async with await Database.open(database_address) as one, await Database.open(database_address) as other:
        await consenting_user(one, 1)
        suggestions = await one.recommend(1, SAD, "match")
        await asyncio.gather(*(replica.rate(1, suggestion.suggestion_id, thumbs_up)
                               for suggestion in suggestions
                               for replica, thumbs_up in ((one, True), (other, False), (one, False), (other, True))))
        running = sorted(query(database_address, "SELECT * FROM song_scores WHERE ups + downs > 0"))
        await one.recompute_song_scores()
    assert sorted(query(database_address, "SELECT * FROM song_scores")) == running
    assert sum(ups + downs for _, _, ups, downs in running) == len(suggestions)


async def test_stats_count_readings_corrections_and_thumbs_per_emotion_and_mode(database):
    await consenting_user(database, 1)
    await database.record_reading(1, SAD, "1.0")
    await database.record_emotion_feedback(1, "sad", "neutral", SAD, "1.0")
    for mode, thumbs_up in (("match", True), ("lift", False)):
        suggestion = (await database.recommend(1, SAD, mode))[0]
        await database.rate(1, suggestion.suggestion_id, thumbs_up)
    stats = await database.stats()
    assert stats["readings"]["sad"] == 1 and stats["corrections"]["sad"] == 1
    assert stats["ratings"]["sad"] == {"match": {"up": 1, "down": 0}, "lift": {"up": 0, "down": 1}}
    assert stats["thumbs_up_rate"] == {"match": 1.0, "lift": 0.0}
    assert stats["users"] == {"total": 1, "consenting": 1, "donating": 0}
    assert set(stats["catalog"]["per_emotion"]) == set(LABELS)


async def test_stats_of_one_model_version_count_only_its_readings_and_corrections(database):
    await consenting_user(database, 1)
    await database.record_reading(1, SAD, "1.0")
    await database.record_emotion_feedback(1, "sad", "neutral", SAD, "1.0")
    await database.record_reading(1, SAD, "1.1")
    await database.record_reading(1, SAD, "1.1")
    newer, everything = await database.stats(model_version="1.1"), await database.stats()
    assert newer["readings"]["sad"] == 2 and newer["corrections"]["sad"] == 0
    assert everything["readings"]["sad"] == 3 and everything["corrections"]["sad"] == 1
    assert newer["readings_per_model_version"] == everything["readings_per_model_version"] == {"1.0": 1, "1.1": 2}


async def test_a_file_at_schema_4_is_upgraded_and_then_never_reuses_a_deleted_suggestion_id(tmp_path):
    path = tmp_path / "v4.sqlite3"
    connection = engine.connect(path)
    schema.migrate(connection, target=4)
    connection.execute("INSERT INTO users (user_id, consent_given, created_at) VALUES (7, 1, '2026-01-02')")
    connection.execute("INSERT INTO songs (title, artist, valence, energy, links, source, title_key, artist_key) "
                       "VALUES ('Old Song', 'Old Band', 0.5, 0.5, '{}', 'v1', 'old song', 'old band')")
    for _ in range(3):
        connection.execute("INSERT INTO suggestions (user_id, song_id, emotion, mode, created_at, model_version) "
                           "VALUES (7, 1, 'sad', 'lift', '2026-01-02', '1.0')")
    connection.execute("INSERT INTO ratings (suggestion_id, user_id, thumbs_up, rated_at) "
                       "VALUES (3, 7, 1, '2026-01-02')")
    connection.close()

    database = await Database.open(path)
    try:
        assert scalar(path, "SELECT COUNT(*) FROM ratings WHERE suggestion_id = 3") == 1, "the rebuild kept the rating"
        await database.forget_user(7)
        await database.set_consent(7, True)
        again = await database.recommend(7, SAD, "match")
    finally:
        await database.close()
    assert min(suggestion.suggestion_id for suggestion in again) > 3
    with engine.connect(path) as connection:
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
        assert "suggestions_by_user" in {row[1] for row in connection.execute("PRAGMA index_list(suggestions)")}


async def test_a_deleted_suggestion_s_id_is_never_handed_out_again(database):
    await consenting_user(database, 7)
    first = await database.recommend(7, SAD, "match")
    await database.forget_user(7)
    await database.set_consent(7, True)
    again = await database.recommend(7, SAD, "match")
    assert min(suggestion.suggestion_id for suggestion in again) > max(s.suggestion_id for s in first)


async def test_after_forget_the_users_crop_and_probabilities_are_in_no_file(tmp_path):
    path = tmp_path / "moodtunes.sqlite3"
    database = await Database.open(path)
    await consenting_user(database, 1, donate=True)
    await database.record_emotion_feedback(1, "sad", "neutral", SAD, "1.0", CROP)
    probabilities = scalar(path, "SELECT probabilities FROM emotion_feedback")
    files = [path, path.with_name(path.name + "-wal")]
    assert any(CROP in file.read_bytes() for file in files), "the crop was written somewhere to begin with"

    await database.forget_user(1)

    for file in files:  # the bot is still running: its connection and the write-ahead log are open
        content = file.read_bytes() if file.exists() else b""
        assert CROP[:64] not in content and probabilities.encode() not in content, file.name
    await database.close()


async def test_concurrent_requests_wait_for_an_outside_writer_instead_of_failing(database):
    """Twenty users' requests at once while another process imports songs: every one is served."""
    path = database.address
    for user_id in range(1, 21):
        await consenting_user(database, user_id)
    writing = threading.Event()
    writing.set()

    def outside_writer():  # `python -m db import-songs` or `rescore`, in another process
        connection = engine.connect(path)
        while writing.is_set():
            engine.begin(connection)
            connection.execute("UPDATE meta SET value = value WHERE key = 'bundled_catalog'")
            time.sleep(0.02)
            connection.execute("COMMIT")
            time.sleep(0.01)
        connection.close()

    async def user_sends_photos(user_id: int):
        for _ in range(5):
            await database.get_user(user_id)
            await database.record_reading(user_id, SAD, "1.0")
            await database.recommend(user_id, SAD, "match")

    writer = threading.Thread(target=outside_writer)
    writer.start()
    try:
        results = await asyncio.gather(*(user_sends_photos(user_id) for user_id in range(1, 21)),
                                       return_exceptions=True)
    finally:
        writing.clear()
        writer.join()
    assert [result for result in results if result is not None] == []
    assert scalar(path, "SELECT COUNT(*) FROM readings") == 100


async def test_a_correction_teaches_the_user_s_face_for_that_model_version_only_until_they_unlearn_it(database):
    await consenting_user(database, 1)
    reading = await database.record_reading(1, SAD, "1.0")
    assert await database.personal_probabilities(1, SAD, "1.0") is SAD, "nothing learnt: the model's own output"
    await database.record_emotion_feedback(1, "sad", "neutral", SAD, "1.0", reading_id=reading)

    learnt = await database.personal_probabilities(1, SAD, "1.0")
    assert learnt["neutral"] > SAD["neutral"] and learnt["sad"] < SAD["sad"]
    assert await database.face_corrections(1) == 1
    assert await database.personal_probabilities(1, SAD, "1.1") is SAD, "another model version learnt nothing"
    assert await database.personal_probabilities(2, SAD, "1.0") is SAD, "nor did another user"

    assert await database.forget_face(1) == 1
    assert await database.personal_probabilities(1, SAD, "1.0") is SAD
    assert await database.face_corrections(1) == 0
    assert scalar(database.address, "SELECT COUNT(*) FROM readings WHERE user_id = 1") == 1, "the mood log stays"
