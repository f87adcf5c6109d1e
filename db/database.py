"""`Database`: every read and write the bot makes, on SQLite or PostgreSQL (`db.engine`), returning plain data
classes.

Opening a database creates it if needed (a SQLite file), applies the migrations it lacks and imports the bundled
song catalog when that changed (in a worker thread, before the async connections open). A write waits for other
writers (see `db.engine`), so a running import delays a user's request and never fails it.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from db import engine, recommender, schema, taste
from db.catalog import seed_bundled_catalog
from model.confidence import CANT_TELL_BELOW
from model.personal import LESSONS_USED, FaceAdjustment, Lesson, learn, read_for_user
from model.preprocess import LABELS

RECENT_SUGGESTIONS = 50  # a song is not suggested again to a user within their last this many suggestions
LIKED_IN_POOL = 100  # the best-liked songs for the emotion are always weighed, however well they fit
EVERYONES_TASTE_SECONDS = 600  # everyone's thumbs per song feature are re-read this often (they move slowly)
MODES = recommender.MODES
FACE48_BYTES = 48 * 48
RETENTION_DAYS, MAX_RETENTION_DAYS = 180, 36500  # readings and suggestions are deleted when this many days old
ANSWERS_KEPT = timedelta(days=2)  # Telegram lets a bot edit its message for 48 hours: an older guess can't be fixed
RATE_LIMIT_KEPT = timedelta(hours=1)  # photo events and refusals: far longer than any rate-limit window
PURGE_BATCH = 1000  # rows deleted per transaction, so that a big first purge never holds the write lock for long


@dataclass(frozen=True)
class User:
    user_id: int
    consent_given: bool
    consent_at: datetime | None  # when consent was last given or withdrawn
    donate_crops: bool
    mode: str  # "match" or "lift"
    language: str | None = None  # chosen with /language; None: follow the Telegram app


@dataclass(frozen=True)
class Song:
    song_id: int
    title: str
    artist: str
    year: int | None
    links: dict[str, str]  # site name -> URL
    moods: tuple[str, ...]
    valence: float
    energy: float
    source: str
    genre: str | None = None
    language: str | None = None  # a two-letter code; "zxx" for no words


@dataclass(frozen=True)
class Suggestion:
    suggestion_id: int
    song: Song
    emotion: str
    mode: str


@dataclass(frozen=True)
class DonatedCrop:
    """A face crop a user chose to donate, with the emotion they said it shows."""

    feedback_id: int
    user_id: int
    emotion: str
    face48: bytes  # 48x48 uint8 grayscale, row-major
    model_version: str
    created_at: datetime


@dataclass(frozen=True)
class AnsweredPhoto:
    """What is kept about an answered selfie (never the photo), so that the user can correct its guess."""

    predicted: str
    probabilities: dict[str, float]
    model_version: str
    face48: bytes | None = None  # 48x48 grayscale; kept only while the user donates crops
    song_buttons: dict | None = None  # the answer's buttons as Telegram's JSON, put back when the picker closes
    reading_id: int | None = None  # the mood-log row of the reading, which a correction teaches


@dataclass(frozen=True)
class MoodEntry:
    """One point of a user's mood journal: what the model read in a photo, or what the user said instead."""

    at: datetime
    emotion: str  # read, or corrected / picked by the user
    corrected_from: str | None = None  # for a correction: what the model had read


@dataclass(frozen=True)
class MoodJournal:
    """What /moods draws: the user's moods since a day, and the songs they liked most."""

    since: datetime
    readings: list[MoodEntry]
    corrections: list[MoodEntry]
    liked_songs: list[Song]

    @property
    def empty(self) -> bool:
        return not self.readings and not self.corrections


def prepare(address: str | Path, create: bool = True) -> None:
    """Create (a SQLite file), migrate and seed the database (blocking; run in a thread).

    With create=False a database that does not exist yet is an error (FileNotFoundError), for tools that read the
    bot's data, where a typo must not quietly start a new, empty one. Bot processes starting at once on one
    PostgreSQL database take turns (an advisory lock), so each migration and the catalog import run once.
    """
    if not engine.is_postgresql(address):
        address = Path(address)
        if not create and not address.is_file():
            raise FileNotFoundError(f"no database at {address}")
        address.parent.mkdir(parents=True, exist_ok=True)
    with engine.connect(address) as connection:
        postgresql = connection.dialect is engine.POSTGRESQL
        if postgresql:
            connection.execute("SELECT pg_advisory_lock(?)", (engine.MIGRATION_KEY,))
        if not create and schema.schema_version(connection) == 0:
            raise FileNotFoundError(f"no MoodTunes database at {engine.describe(address)}")
        schema.migrate(connection)
        seed_bundled_catalog(connection)
        if postgresql:
            connection.execute("SELECT pg_advisory_unlock(?)", (engine.MIGRATION_KEY,))


class Database:
    """The bot's storage; open with `await Database.open(address)` (a SQLite file's path, or a `postgresql://`
    URL), close with `await database.close()`."""

    def __init__(self, storage: engine.SqliteEngine | engine.PostgresEngine, address: str | Path,
                 seed: int | None = None):
        self.address = address
        self._engine = storage
        self._catalog: recommender.CatalogIndex | None = None
        self._catalog_version: str | None = None
        self._everyone: tuple[recommender.CatalogIndex, float, taste.Thumbs] | None = None
        self._rng = np.random.default_rng(seed)  # the recommender's draws; a seed repeats them (tests, benchmarks)

    @classmethod
    async def open(cls, address: str | Path, create: bool = True, seed: int | None = None) -> "Database":
        """Open (creating, migrating and seeding as needed) the database; see `prepare` for create=False. A `seed`
        makes the recommender's random draws repeat from one run to the next."""
        await asyncio.to_thread(prepare, address, create)
        return cls(await engine.open_engine(address), address, seed)

    async def close(self) -> None:
        """Close once the writes in progress have finished."""
        await self._engine.close()

    async def __aenter__(self) -> "Database":
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    # ----- users and consent -----

    async def get_user(self, user_id: int) -> User | None:
        row = await self._one("SELECT user_id, consent_given, consent_at, donate_crops, mode, language FROM users "
                              "WHERE user_id = ?", user_id)
        return _user(row) if row else None

    async def set_consent(self, user_id: int, given: bool) -> User:
        """Give or withdraw consent; withdrawing also ends crop donation and deletes the donated crops."""
        async with self._transaction(user_id) as db:
            await db.execute("INSERT INTO users (user_id, consent_given, consent_at, created_at) VALUES (?, ?, ?, ?) "
                             "ON CONFLICT (user_id) DO UPDATE SET consent_given = excluded.consent_given, "
                             "consent_at = excluded.consent_at", (user_id, int(given), _now(), _now()))
            if not given:
                await self._stop_donating(db, user_id)
        return await self.get_user(user_id)

    async def set_donation(self, user_id: int, donate: bool) -> User:
        """Switch face-crop donation on or off; off deletes the crops already donated, at once."""
        async with self._transaction(user_id) as db:
            if donate:
                await db.execute("UPDATE users SET donate_crops = 1 WHERE user_id = ? AND consent_given = 1",
                                 (user_id,))
            else:
                await self._stop_donating(db, user_id)
        return await self.get_user(user_id)

    async def set_mode(self, user_id: int, mode: str) -> User:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        async with self._transaction(user_id) as db:
            await db.execute("UPDATE users SET mode = ? WHERE user_id = ?", (mode, user_id))
        return await self.get_user(user_id)

    async def set_language(self, user_id: int, language: str) -> User:
        """Store the language the user chose (with a row of its own: the choice can come before consent)."""
        async with self._transaction(user_id) as db:
            await db.execute("INSERT INTO users (user_id, language, created_at) VALUES (?, ?, ?) "
                             "ON CONFLICT (user_id) DO UPDATE SET language = excluded.language",
                             (user_id, language, _now()))
        return await self.get_user(user_id)

    async def forget_user(self, user_id: int) -> dict[str, int]:
        """Delete every row about the user (their ratings leave the song scores too); rows deleted per table.

        On SQLite, when it returns, the user's bytes are gone from every file: deleted rows are overwritten
        (secure_delete) and the write-ahead log, which still holds the pages as they were, is checkpointed and
        truncated. PostgreSQL's autovacuum reclaims the deleted rows' space later.
        """
        async with self._transaction(user_id) as db:
            cursor = await db.execute(
                "SELECT s.song_id, s.emotion, r.thumbs_up FROM ratings r JOIN suggestions s USING (suggestion_id) "
                "WHERE r.user_id = ?", (user_id,))
            for song_id, emotion, thumbs_up in await cursor.fetchall():
                await _count_rating(db, song_id, emotion, thumbs_up, -1)
            deleted = {}
            for table in ("ratings", "emotion_feedback", "readings", "suggestions", "answered_photos", "photo_events",
                          "refusals", "users"):
                cursor = await db.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))
                deleted[table] = cursor.rowcount
        await self._engine.scrub()
        return deleted

    # ----- photos, songs and ratings -----

    async def record_reading(self, user_id: int, probabilities: Mapping[str, float], model_version: str,
                             model_output: Mapping[str, float] | None = None) -> int:
        """Note that a photo of the user was read (its top emotion, confidence and time): the production statistics
        and the user's /moods journal; and, as a lesson about their face, the model's own output (`model_output`,
        when `probabilities` are what was learnt of the user made of it). Returns the reading's id."""
        emotion = max(probabilities, key=probabilities.get)
        async with self._transaction(user_id) as db:
            cursor = await db.execute(
                "INSERT INTO readings (user_id, emotion, confidence, model_version, model_output, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING reading_id",
                (user_id, emotion, float(probabilities[emotion]), model_version, _probabilities_json(
                    probabilities if model_output is None else model_output), _now()))
            return (await cursor.fetchone())[0]

    async def personal_probabilities(self, user_id: int, model_output: Mapping[str, float],
                                     model_version: str) -> Mapping[str, float]:
        """The model's output for a face of the user, read as their own corrections taught (`model.personal`): the
        very same object while nothing was learnt for this model version."""
        return read_for_user(model_output, await self.face_adjustment(user_id, model_version))

    async def face_adjustment(self, user_id: int, model_version: str) -> FaceAdjustment | None:
        """What the user's latest readings by this model version teach about how their face reads
        (`model.personal.learn`); None while they have not told the bot a mood it read."""
        lessons = "FROM readings WHERE user_id = ? AND model_version = ? AND model_output IS NOT NULL"
        rows = await self._all(f"SELECT model_output, said, confidence {lessons} AND EXISTS (SELECT 1 {lessons} AND "
                               f"said IS NOT NULL) ORDER BY reading_id DESC LIMIT ?",  # most users never correct
                               user_id, model_version, user_id, model_version, LESSONS_USED)
        return learn(Lesson(json.loads(output), said) for output, said, confidence in rows
                     if said or confidence >= CANT_TELL_BELOW)  # when the bot asked, silence says nothing

    async def face_corrections(self, user_id: int) -> int:
        """How many of the user's readings teach the bot their face with a mood they said (any model version)."""
        return (await self._one("SELECT COUNT(*) FROM readings WHERE user_id = ? AND model_output IS NOT NULL "
                                "AND said IS NOT NULL", user_id))[0]

    async def forget_face(self, user_id: int) -> int:
        """Unlearn the user's face: their readings teach nothing any more (the mood log stays); readings changed."""
        async with self._transaction(user_id) as db:
            cursor = await db.execute("UPDATE readings SET model_output = NULL, said = NULL WHERE user_id = ? AND "
                                      "model_output IS NOT NULL", (user_id,))
            return cursor.rowcount

    async def recommend(self, user_id: int, probabilities: Mapping[str, float], mode: str,
                        n: int = recommender.ANSWER_SIZE,
                        model_version: str | None = None, emotion: str | None = None,
                        keep: bool = True, language: str | None = None, personal: bool = True) -> list[Suggestion]:
        """Pick `n` songs for the mood and record them as suggestions to the user (see `db.recommender`).

        `emotion` is the mood the answer is for (default: the most probable one); ratings are counted under it.
        `language` (a two-letter code) starts the user's taste with a tilt towards songs in it (`db.taste`); with
        personal=False their taste of genres, languages, eras and energy is left out (the shared recommender, for
        comparisons). With keep=False the suggestions are recorded in a transaction that is rolled back: nothing
        is stored.
        """
        emotion = emotion or max(probabilities, key=probabilities.get)
        if emotion not in LABELS:
            raise ValueError(f"unknown emotion {emotion!r}")
        index = await self._catalog_index()
        slot_targets = recommender.targets(probabilities, emotion, mode, n)
        liked = await self._all("SELECT song_id FROM song_scores WHERE emotion = ? AND ups > downs "
                                "ORDER BY (ups + 1.0) / (ups + downs + 2.0) DESC LIMIT ?", emotion, LIKED_IN_POOL,
                                map_row=lambda r: r[0])
        pool = recommender.candidate_pool(index, slot_targets, index.rows_of(liked))
        pool_ids = index.song_ids[pool].tolist()
        scores = dict(await self._all(f"SELECT song_id, ups, downs FROM song_scores WHERE emotion = ? AND song_id IN "
                                      f"({_placeholders(pool_ids)})", emotion, *pool_ids,
                                      map_row=lambda r: (r[0], r[1:])))
        ratings = np.array([scores.get(int(song_id), (0, 0)) for song_id in index.song_ids[pool]],
                           dtype=np.float64).reshape(-1, 2)
        rated = await self._all("SELECT s.song_id, r.thumbs_up FROM ratings r JOIN suggestions s "
                                "USING (suggestion_id) WHERE r.user_id = ? ORDER BY s.song_id", user_id)
        excluded = {song_id for song_id, thumbs_up in rated if not thumbs_up}
        recent = set(await self._all("SELECT song_id FROM suggestions WHERE user_id = ? ORDER BY suggestion_id DESC "
                                     "LIMIT ?", user_id, RECENT_SUGGESTIONS, map_row=lambda r: r[0]))
        rated_ids = np.array([song_id for song_id, _ in rated], dtype=np.int64)
        rated_rows = index.rows_of(rated_ids)
        thumbs_up = np.array([up for song_id, up in rated], dtype=np.float64)[np.isin(rated_ids, index.song_ids)]
        own_taste = taste.user_taste(index, pool, rated_rows, thumbs_up, await self._everyones_thumbs(index),
                                     language, personal)
        song_ids = recommender.choose(index, pool, slot_targets, ratings, own_taste, excluded, recent, self._rng)

        async with self._transaction(user_id, commit=keep) as db:
            await db.execute("INSERT INTO users (user_id, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                             (user_id, _now()))
            suggestion_ids = []
            for song_id in song_ids:
                cursor = await db.execute(
                    "INSERT INTO suggestions (user_id, song_id, emotion, mode, model_version, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) RETURNING suggestion_id",
                    (user_id, song_id, emotion, mode, model_version, _now()))
                suggestion_ids.append((await cursor.fetchone())[0])
        songs = await self.songs(song_ids)
        return [Suggestion(suggestion_id, songs[song_id], emotion, mode)
                for suggestion_id, song_id in zip(suggestion_ids, song_ids)]

    async def songs(self, song_ids: list[int]) -> dict[int, Song]:
        if not song_ids:
            return {}
        rows = await self._all(f"SELECT song_id, title, artist, year, links, moods, valence, energy, source, genre, "
                               f"language FROM songs WHERE song_id IN ({_placeholders(song_ids)})", *song_ids)
        return {row[0]: Song(row[0], row[1], row[2], row[3], json.loads(row[4]), tuple(row[5].split()), row[6],
                             row[7], row[8], row[9], row[10]) for row in rows}

    async def rate(self, user_id: int, suggestion_id: int, thumbs_up: bool) -> None:
        """Store the user's rating of a suggestion made to them; a second rating replaces the first.

        Raises LookupError if there is no such suggestion for this user (deleted, or someone else's).
        """
        async with self._transaction(user_id) as db:
            cursor = await db.execute(
                "SELECT song_id, emotion FROM suggestions WHERE suggestion_id = ? AND user_id = ?",
                (suggestion_id, user_id))
            suggestion = await cursor.fetchone()
            if suggestion is None:
                raise LookupError(f"no suggestion {suggestion_id} for user {user_id}")
            song_id, emotion = suggestion
            cursor = await db.execute("SELECT thumbs_up FROM ratings WHERE suggestion_id = ?", (suggestion_id,))
            previous = await cursor.fetchone()
            if previous is not None and previous[0] == int(thumbs_up):
                return
            if previous is not None:
                await _count_rating(db, song_id, emotion, previous[0], -1)
            await db.execute("INSERT INTO ratings (suggestion_id, user_id, thumbs_up, rated_at) VALUES (?, ?, ?, ?) "
                             "ON CONFLICT (suggestion_id) DO UPDATE SET thumbs_up = excluded.thumbs_up, "
                             "rated_at = excluded.rated_at", (suggestion_id, user_id, int(thumbs_up), _now()))
            await _count_rating(db, song_id, emotion, int(thumbs_up), +1)

    async def record_emotion_feedback(self, user_id: int, predicted: str, corrected: str,
                                      probabilities: Mapping[str, float], model_version: str,
                                      face48: bytes | None = None, reading_id: int | None = None) -> int:
        """Store the user's correction of the model (`probabilities`: its own output); the crop is kept only while the
        user donates crops. The reading `reading_id`, if given, then teaches the user's face the corrected mood."""
        if corrected not in LABELS or predicted not in LABELS:
            raise ValueError(f"unknown emotion in {predicted!r} -> {corrected!r}")
        if face48 is not None and len(face48) != FACE48_BYTES:
            raise ValueError(f"a face crop is {FACE48_BYTES} bytes (48x48 grayscale), not {len(face48)}")
        async with self._transaction(user_id) as db:
            if face48 is not None:
                cursor = await db.execute("SELECT 1 FROM users WHERE user_id = ? AND donate_crops = 1 "
                                          "AND consent_given = 1", (user_id,))
                face48 = face48 if await cursor.fetchone() else None
            cursor = await db.execute(
                "INSERT INTO emotion_feedback (user_id, predicted, corrected, probabilities, model_version, face48, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING feedback_id",
                (user_id, predicted, corrected, _probabilities_json(probabilities), model_version, face48, _now()))
            if reading_id is not None:
                await db.execute("UPDATE readings SET said = ? WHERE reading_id = ? AND user_id = ?",
                                 (corrected, reading_id, user_id))
            return (await cursor.fetchone())[0]

    async def donated_crops(self) -> list[DonatedCrop]:
        """Every crop donated by users who still consent and donate: what a retrain may use."""
        rows = await self._all(
            "SELECT f.feedback_id, f.user_id, f.corrected, f.face48, f.model_version, f.created_at "
            "FROM emotion_feedback f JOIN users u USING (user_id) "
            "WHERE f.face48 IS NOT NULL AND u.consent_given = 1 AND u.donate_crops = 1 ORDER BY f.feedback_id")
        return [DonatedCrop(row[0], row[1], row[2], bytes(row[3]), row[4], datetime.fromisoformat(row[5]))
                for row in rows]

    async def mood_journal(self, user_id: int, since: datetime, liked: int = 3) -> MoodJournal:
        """The user's moods read and corrected since `since`, and their `liked` most liked songs (most 👍 first)."""
        start = since.astimezone(timezone.utc).isoformat(timespec="seconds")
        readings = await self._all("SELECT created_at, emotion FROM readings WHERE user_id = ? AND created_at >= ? "
                                   "ORDER BY created_at", user_id, start,
                                   map_row=lambda row: MoodEntry(datetime.fromisoformat(row[0]), row[1]))
        corrections = await self._all(
            "SELECT created_at, corrected, predicted FROM emotion_feedback WHERE user_id = ? AND created_at >= ? "
            "ORDER BY created_at", user_id, start,
            map_row=lambda row: MoodEntry(datetime.fromisoformat(row[0]), row[1], row[2]))
        liked_ids = [song_id for (song_id,) in await self._all(
            "SELECT s.song_id FROM ratings r JOIN suggestions s USING (suggestion_id) "
            "WHERE r.user_id = ? AND r.thumbs_up = 1 GROUP BY s.song_id ORDER BY COUNT(*) DESC, MAX(r.rated_at) DESC "
            "LIMIT ?", user_id, liked)]
        songs = await self.songs(liked_ids)
        return MoodJournal(since, readings, corrections, [songs[song_id] for song_id in liked_ids if song_id in songs])

    # ----- between updates: what any bot process may need later -----

    def user_lock(self, user_id: int) -> AbstractAsyncContextManager[None]:
        """Held while the user's data changes (consent, donation, /forget) and while an answer about them is stored
        and sent, so that a photo still being read when they withdraw consent or erase their data stores and sends
        nothing, and a press waits for the answer under it to be stored. On PostgreSQL it holds the user in every
        bot process; on SQLite (one bot process per file) in this one."""
        return self._engine.hold_user(user_id)

    async def remember_photo(self, chat_id: int, message_id: int, user_id: int, photo: AnsweredPhoto,
                             keep: int) -> None:
        """Keep what the answer in message `message_id` of `chat_id` said about the user's selfie, and only their
        `keep` latest answers; the crop only if they donate crops, nothing at all if they no longer consent."""
        async with self._transaction(user_id) as db:
            cursor = await db.execute("SELECT donate_crops FROM users WHERE user_id = ? AND consent_given = 1",
                                      (user_id,))
            consenting = await cursor.fetchone()
            if consenting is None:
                return
            face48 = photo.face48 if consenting[0] else None  # the table refuses a crop of the wrong size
            await db.execute(
                "INSERT INTO answered_photos (chat_id, message_id, user_id, predicted, probabilities, model_version, "
                "face48, song_buttons, reading_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (chat_id, message_id, user_id, photo.predicted,
                 json.dumps({k: float(v) for k, v in photo.probabilities.items()}), photo.model_version, face48,
                 None if photo.song_buttons is None else json.dumps(photo.song_buttons), photo.reading_id, _now()))
            await db.execute(
                "DELETE FROM answered_photos WHERE user_id = ? AND (chat_id, message_id) NOT IN (SELECT chat_id, "
                "message_id FROM answered_photos WHERE user_id = ? ORDER BY created_at DESC, message_id DESC LIMIT ?)",
                (user_id, user_id, keep))

    async def recall_photo(self, chat_id: int, message_id: int, user_id: int) -> AnsweredPhoto | None:
        """What the user's answer in that message was about; None once forgotten (or if it is not theirs)."""
        row = await self._one("SELECT predicted, probabilities, model_version, face48, song_buttons, reading_id "
                              "FROM answered_photos WHERE chat_id = ? AND message_id = ? AND user_id = ?",
                              chat_id, message_id, user_id)
        if row is None:
            return None
        return AnsweredPhoto(row[0], json.loads(row[1]), row[2], None if row[3] is None else bytes(row[3]),
                             None if row[4] is None else json.loads(row[4]), row[5])

    async def drop_photo(self, chat_id: int, message_id: int, user_id: int) -> bool:
        """Forget one answered photo; says whether it was still remembered (so that only one press uses it)."""
        async with self._transaction(user_id) as db:
            cursor = await db.execute("DELETE FROM answered_photos WHERE chat_id = ? AND message_id = ? "
                                      "AND user_id = ?", (chat_id, message_id, user_id))
            return cursor.rowcount > 0

    async def forget_photos(self, user_id: int) -> None:
        """Forget every answered photo of the user (consent withdrawn)."""
        async with self._transaction(user_id) as db:
            await db.execute("DELETE FROM answered_photos WHERE user_id = ?", (user_id,))

    async def count_photo(self, user_id: int, update_id: int, limit: int, window_seconds: float, now: float) -> bool:
        """Count a photo of the user at Unix time `now` unless `limit` were counted in the `window_seconds` before;
        says whether it is within the limit (one count at a time per user, whichever process counts). A photo
        delivered again (the same `update_id`) was counted the first time. Everyone's counts older than the window
        are deleted on the way."""
        async with self._transaction(user_id) as db:
            cursor = await db.execute("SELECT 1 FROM photo_events WHERE update_id = ?", (update_id,))
            if await cursor.fetchone() is not None:
                return True
            await db.execute("DELETE FROM photo_events WHERE at <= ?", (now - window_seconds,))
            cursor = await db.execute("SELECT COUNT(*) FROM photo_events WHERE user_id = ?", (user_id,))
            (counted,) = await cursor.fetchone()
            if counted >= limit:
                return False
            await db.execute("INSERT INTO photo_events (user_id, at, update_id) VALUES (?, ?, ?)",
                             (user_id, now, update_id))
            return True

    async def note_refusal(self, user_id: int, now: float, quiet_seconds: float) -> bool:
        """Note a refusal to the user at Unix time `now`, unless one was noted in the `quiet_seconds` before; says
        whether it was noted (only one of several processes noting it at once is). Older ones are deleted."""
        async with self._transaction(user_id) as db:
            await db.execute("DELETE FROM refusals WHERE at <= ?", (now - quiet_seconds,))
            cursor = await db.execute("INSERT INTO refusals (user_id, at) VALUES (?, ?) ON CONFLICT (user_id) "
                                      "DO NOTHING", (user_id, now))
            return cursor.rowcount > 0

    # ----- learning and statistics -----

    async def recompute_song_scores(self) -> int:
        """Rebuild every song's thumbs per emotion from the ratings; returns the number of (song, emotion) pairs."""
        async with self._transaction() as db:
            await db.execute("DELETE FROM song_scores")
            cursor = await db.execute(
                "INSERT INTO song_scores (song_id, emotion, ups, downs) SELECT s.song_id, s.emotion, "
                "SUM(r.thumbs_up), SUM(1 - r.thumbs_up) FROM ratings r JOIN suggestions s USING (suggestion_id) "
                "GROUP BY s.song_id, s.emotion")
            return cursor.rowcount

    async def stats(self, model_version: str | None = None) -> dict:
        """Production figures: catalog, users, photos read, corrections and ratings per emotion and mode.

        With `model_version`, photos read and corrections count only that model's readings (a model's error rate
        is its own); `readings_per_model_version` always shows how the photos split between versions.
        """
        index = await self._catalog_index()
        users = await self._one("SELECT COUNT(*), COALESCE(SUM(consent_given), 0), COALESCE(SUM(donate_crops), 0) "
                                "FROM users WHERE user_id != 0")
        where, params = ("WHERE model_version = ?", (model_version,)) if model_version else ("", ())
        readings = dict(await self._all(f"SELECT emotion, COUNT(*) FROM readings {where} GROUP BY emotion",
                                        *params, map_row=tuple))
        # A "can't tell" the user settles with the model's own top guess is feedback, not a correction.
        corrected = f"{where} AND corrected != predicted" if where else "WHERE corrected != predicted"
        corrections = dict(await self._all(f"SELECT predicted, COUNT(*) FROM emotion_feedback {corrected} "
                                           f"GROUP BY predicted", *params, map_row=tuple))
        versions = dict(await self._all("SELECT model_version, COUNT(*) FROM readings GROUP BY model_version",
                                        map_row=tuple))
        thumbs = await self._all("SELECT s.emotion, s.mode, SUM(r.thumbs_up), SUM(1 - r.thumbs_up) FROM ratings r "
                                 "JOIN suggestions s USING (suggestion_id) GROUP BY s.emotion, s.mode")
        ratings = {e: {mode: {"up": 0, "down": 0} for mode in MODES} for e in LABELS}
        for emotion, mode, ups, downs in thumbs:
            ratings[emotion][mode] = {"up": ups, "down": downs}
        rate = {}
        for mode in MODES:
            ups = sum(ratings[e][mode]["up"] for e in LABELS)
            total = ups + sum(ratings[e][mode]["down"] for e in LABELS)
            rate[mode] = round(ups / total, 4) if total else None
        return {
            "catalog": {"songs": len(index),
                        "per_emotion": {e: int(index.fits_emotion(e).sum()) for e in LABELS}},
            "users": {"total": users[0], "consenting": users[1], "donating": users[2]},
            "model_version": model_version,
            "readings_per_model_version": versions,
            "readings": {e: readings.get(e, 0) for e in LABELS},
            "corrections": {e: corrections.get(e, 0) for e in LABELS},
            "ratings": ratings,
            "thumbs_up_rate": rate,
        }

    # ----- retention -----

    async def delete_expired(self, retention_days: int = RETENTION_DAYS) -> dict[str, int]:
        """Delete what is past its keeping time; returns the rows deleted per table.

        Readings and suggestions `retention_days` old, with the ratings of those suggestions (the anonymous thumbs
        per song in song_scores stay); answers too old to be corrected (`ANSWERS_KEPT`); rate-limit events and
        refusals older than `RATE_LIMIT_KEPT`. Every delete only removes what is past its time, so several bot
        processes may run this at once.
        """
        now = datetime.now(timezone.utc)
        log_cutoff = (now - timedelta(days=retention_days)).isoformat(timespec="seconds")
        deleted = {**await self._delete_in_batches("readings", "reading_id", log_cutoff),
                   **await self._delete_in_batches("suggestions", "suggestion_id", log_cutoff, referring=("ratings",))}
        rate_limit_cutoff = (now - RATE_LIMIT_KEPT).timestamp()  # these tables hold Unix times
        async with self._transaction() as db:
            for table, sql, cutoff in (
                    ("answered_photos", "DELETE FROM answered_photos WHERE created_at < ?",
                     (now - ANSWERS_KEPT).isoformat(timespec="seconds")),
                    ("photo_events", "DELETE FROM photo_events WHERE at < ?", rate_limit_cutoff),
                    ("refusals", "DELETE FROM refusals WHERE at < ?", rate_limit_cutoff)):
                deleted[table] = (await db.execute(sql, (cutoff,))).rowcount
        return deleted

    async def _delete_in_batches(self, table: str, key: str, cutoff: str,
                                 referring: tuple[str, ...] = ()) -> dict[str, int]:
        """Delete the table's rows created before `cutoff`, oldest first, `PURGE_BATCH` per transaction; rows deleted
        per table. The rows of `referring` tables that point at them go first, in the order `forget_user` deletes,
        so that a purge and a /forget never wait for each other in a circle (PostgreSQL locks rows)."""
        batch = f"{key} IN (SELECT {key} FROM {table} WHERE created_at < ? ORDER BY created_at, {key} LIMIT ?)"
        deleted = dict.fromkeys((*referring, table), 0)
        while True:
            async with self._transaction() as db:
                for name in deleted:  # the table itself last
                    count = (await db.execute(f"DELETE FROM {name} WHERE {batch}", (cutoff, PURGE_BATCH))).rowcount
                    deleted[name] += count
            if count < PURGE_BATCH:
                return deleted

    # ----- plumbing -----

    async def _catalog_index(self) -> recommender.CatalogIndex:
        """The catalog as arrays, re-read when an import (in this or another process) changed it."""
        row = await self._one("SELECT value FROM meta WHERE key = 'catalog_version'")
        version = row[0] if row else None
        if self._catalog is None or version != self._catalog_version:
            rows = await self._all("SELECT song_id, valence, energy, moods, artist_key, genre, language, year "
                                   "FROM songs ORDER BY song_id")
            catalog = recommender.CatalogIndex.from_rows(rows)
            await asyncio.to_thread(recommender.prepare_pools, catalog)
            self._catalog, self._catalog_version = catalog, version
        return self._catalog

    async def _everyones_thumbs(self, index: recommender.CatalogIndex) -> taste.Thumbs:
        """Everyone's thumbs per song feature (the taste a user's is shrunk towards), from the song scores; re-read
        every `EVERYONES_TASTE_SECONDS`, as it moves slowly and reading it takes a scan of every scored song."""
        cached = self._everyone
        if cached is None or cached[0] is not index or time.monotonic() - cached[1] > EVERYONES_TASTE_SECONDS:
            rows = await self._all("SELECT song_id, SUM(ups), SUM(downs) FROM song_scores GROUP BY song_id "
                                   "ORDER BY song_id")
            song_ids = np.array([row[0] for row in rows], dtype=np.int64)
            thumbs = np.array([row[1:] for row in rows], dtype=np.float64).reshape(-1, 2)[
                np.isin(song_ids, index.song_ids)]
            cached = self._everyone = (index, time.monotonic(),
                                       taste.Thumbs.of(index, index.rows_of(song_ids), thumbs[:, 0], thumbs[:, 1]))
        return cached[2]

    @asynccontextmanager
    async def _transaction(self, user_id: int | None = None, commit: bool = True) -> AsyncIterator[
            engine.AsyncConnection]:
        """A write transaction about `user_id` (rolled back at the end if not `commit`): see `db.engine`."""
        async with self._engine.transaction(user_id, commit) as db:
            yield db

    async def _stop_donating(self, db: engine.AsyncConnection, user_id: int) -> None:
        await db.execute("UPDATE users SET donate_crops = 0 WHERE user_id = ?", (user_id,))
        await db.execute("UPDATE emotion_feedback SET face48 = NULL WHERE user_id = ?", (user_id,))
        await db.execute("UPDATE answered_photos SET face48 = NULL WHERE user_id = ?", (user_id,))

    async def _one(self, sql: str, *params) -> tuple | None:
        return await self._engine.fetch(sql, params, one=True)

    async def _all(self, sql: str, *params, map_row=None) -> list:
        rows = await self._engine.fetch(sql, params)
        return [map_row(row) for row in rows] if map_row else rows


async def _count_rating(db: engine.AsyncConnection, song_id: int, emotion: str, thumbs_up: int, delta: int) -> None:
    """Add (or take back) one thumbs up or down to the song's score for the emotion (never below zero)."""
    column = "ups" if thumbs_up else "downs"
    await db.execute(f"INSERT INTO song_scores (song_id, emotion, {column}) VALUES (?, ?, ?) "
                     f"ON CONFLICT (song_id, emotion) DO UPDATE SET "
                     f"{column} = CASE WHEN song_scores.{column} + ? < 0 THEN 0 ELSE song_scores.{column} + ? END",
                     (song_id, emotion, max(delta, 0), delta, delta))


def _probabilities_json(probabilities: Mapping[str, float]) -> str:
    return json.dumps({label: round(float(p), 4) for label, p in probabilities.items()})


def _placeholders(values: list) -> str:
    return ", ".join("?" * len(values))


def _user(row: tuple) -> User:
    return User(user_id=row[0], consent_given=bool(row[1]),
                consent_at=datetime.fromisoformat(row[2]) if row[2] else None,
                donate_crops=bool(row[3]), mode=row[4], language=row[5])


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
