"""The SQLite schema, as ordered migrations applied when a database file is opened.

The file's schema version is SQLite's own `PRAGMA user_version`: migration N brings a file from version N-1 to N,
inside one transaction, so a file is always at exactly one version. Never edit a released migration; add one.

Several processes may write the file at once (the bot, `python -m db import-songs`, `rescore`, `bot suggest`):
every writer starts with `BEGIN IMMEDIATE`, waits out SQLite's busy timeout, then retries with backoff
(`begin_immediate`), so a busy file delays a write and never fails it.
"""

import sqlite3
import time
from pathlib import Path

MIGRATIONS = (
    # 1: the catalog, the people, and what they were offered and thought of it.
    """
    CREATE TABLE songs (
        song_id     INTEGER PRIMARY KEY,
        title       TEXT NOT NULL,
        artist      TEXT NOT NULL,
        year        INTEGER,
        genre       TEXT,
        language    TEXT,
        valence     REAL NOT NULL CHECK (valence BETWEEN 0 AND 1),
        energy      REAL NOT NULL CHECK (energy BETWEEN 0 AND 1),
        moods       TEXT NOT NULL DEFAULT '',          -- emotions it fits, space-separated
        links       TEXT NOT NULL,                     -- JSON {"YouTube": url, "Spotify": url}
        spotify_id  TEXT UNIQUE,
        source      TEXT NOT NULL,                     -- "bundled" or the imported file's name
        title_key   TEXT NOT NULL,                     -- title and artist folded for de-duplication
        artist_key  TEXT NOT NULL,
        UNIQUE (title_key, artist_key)
    );
    CREATE TABLE users (
        user_id        INTEGER PRIMARY KEY,            -- Telegram's user id
        consent_given  INTEGER NOT NULL DEFAULT 0,
        consent_at     TEXT,                           -- when consent was last given or withdrawn (UTC ISO 8601)
        mode           TEXT NOT NULL DEFAULT 'match' CHECK (mode IN ('match', 'lift')),
        created_at     TEXT NOT NULL
    );
    CREATE TABLE suggestions (
        suggestion_id  INTEGER PRIMARY KEY,
        user_id        INTEGER NOT NULL REFERENCES users ON DELETE CASCADE,
        song_id        INTEGER NOT NULL REFERENCES songs ON DELETE CASCADE,
        emotion        TEXT NOT NULL,
        mode           TEXT NOT NULL,
        created_at     TEXT NOT NULL
    );
    CREATE INDEX suggestions_by_user ON suggestions (user_id, suggestion_id);
    CREATE TABLE ratings (
        suggestion_id  INTEGER PRIMARY KEY REFERENCES suggestions ON DELETE CASCADE,  -- one rating per suggestion
        user_id        INTEGER NOT NULL REFERENCES users ON DELETE CASCADE,
        thumbs_up      INTEGER NOT NULL CHECK (thumbs_up IN (0, 1)),
        rated_at       TEXT NOT NULL
    );
    CREATE INDEX ratings_by_user ON ratings (user_id);
    """,
    # 2: closing the loop: which model read what, corrections (and donated crops), learnt song scores.
    """
    ALTER TABLE users ADD COLUMN donate_crops INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE suggestions ADD COLUMN model_version TEXT;
    CREATE TABLE readings (
        reading_id     INTEGER PRIMARY KEY,
        user_id        INTEGER NOT NULL REFERENCES users ON DELETE CASCADE,
        emotion        TEXT NOT NULL,                  -- the top emotion
        confidence     REAL NOT NULL,
        model_version  TEXT NOT NULL,
        created_at     TEXT NOT NULL
    );
    CREATE INDEX readings_by_user ON readings (user_id);
    CREATE TABLE emotion_feedback (
        feedback_id    INTEGER PRIMARY KEY,
        user_id        INTEGER NOT NULL REFERENCES users ON DELETE CASCADE,
        predicted      TEXT NOT NULL,
        corrected      TEXT NOT NULL,
        probabilities  TEXT NOT NULL,                  -- JSON {emotion: probability} the model gave
        model_version  TEXT NOT NULL,
        face48         BLOB CHECK (face48 IS NULL OR length(face48) = 2304),  -- only with the donation opt-in
        created_at     TEXT NOT NULL
    );
    CREATE INDEX feedback_by_user ON emotion_feedback (user_id);
    CREATE TABLE song_scores (                         -- thumbs per song and emotion, all users together
        song_id  INTEGER NOT NULL REFERENCES songs ON DELETE CASCADE,
        emotion  TEXT NOT NULL,
        ups      INTEGER NOT NULL DEFAULT 0,
        downs    INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (song_id, emotion)
    ) WITHOUT ROWID;
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 3: the best-liked songs per emotion, read for every answer, without sorting the whole table.
    """
    CREATE INDEX song_scores_by_liking ON song_scores (emotion, (ups + 1.0) / (ups + downs + 2.0) DESC)
        WHERE ups > downs;
    """,
    # 4: the language the user chose with /language (NULL: the one their Telegram app is set to).
    """
    ALTER TABLE users ADD COLUMN language TEXT;
    """,
    # 5: suggestion ids are never reused, so a button under an old message can never rate a later song
    # (AUTOINCREMENT needs the table rebuilt, SQLite's 12-step recipe; foreign keys are off while migrating).
    """
    CREATE TABLE suggestions_new (
        suggestion_id  INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id        INTEGER NOT NULL REFERENCES users ON DELETE CASCADE,
        song_id        INTEGER NOT NULL REFERENCES songs ON DELETE CASCADE,
        emotion        TEXT NOT NULL,
        mode           TEXT NOT NULL,
        created_at     TEXT NOT NULL,
        model_version  TEXT
    );
    INSERT INTO suggestions_new (suggestion_id, user_id, song_id, emotion, mode, created_at, model_version)
        SELECT suggestion_id, user_id, song_id, emotion, mode, created_at, model_version FROM suggestions;
    DROP TABLE suggestions;
    ALTER TABLE suggestions_new RENAME TO suggestions;
    CREATE INDEX suggestions_by_user ON suggestions (user_id, suggestion_id);
    """,
    # 6: what a later update needs, kept here rather than in a bot process's memory, so that any of several
    # processes can take it (stateless replicas); and the indexes that find rows past the retention period.
    """
    CREATE TABLE answered_photos (                  -- a selfie's answer, so that its guess can be corrected
        chat_id        INTEGER NOT NULL,
        message_id     INTEGER NOT NULL,           -- the bot's answer, under which "That's not my mood" is pressed
        user_id        INTEGER NOT NULL REFERENCES users ON DELETE CASCADE,
        predicted      TEXT NOT NULL,
        probabilities  TEXT NOT NULL,              -- JSON {emotion: probability}
        model_version  TEXT NOT NULL,
        face48         BLOB CHECK (face48 IS NULL OR length(face48) = 2304),  -- only while the user donates crops
        song_buttons   TEXT,                       -- JSON of the answer's buttons, put back when the picker closes
        created_at     TEXT NOT NULL,
        PRIMARY KEY (chat_id, message_id)
    );
    CREATE INDEX answered_photos_by_user ON answered_photos (user_id, created_at);
    CREATE TABLE photo_events (                     -- the per-user rate limit, shared by every bot process
        user_id  INTEGER NOT NULL,                  -- no foreign key: photos before consent count too
        at       REAL NOT NULL                      -- Unix time
    );
    CREATE INDEX photo_events_by_user ON photo_events (user_id, at);
    CREATE TABLE refusals (                         -- when a user was last told to slow down (or to consent)
        user_id  INTEGER PRIMARY KEY,
        at       REAL NOT NULL
    );
    CREATE INDEX readings_by_age ON readings (created_at);
    CREATE INDEX suggestions_by_age ON suggestions (created_at);
    """,
)
LATEST_VERSION = len(MIGRATIONS)


BUSY_TIMEOUT_MS = 5000  # SQLite itself waits this long for another writer before saying "database is locked"
LOCK_PATIENCE_SECONDS = 300.0  # then a writer retries with backoff for this long (a big import takes seconds)
FIRST_RETRY_SECONDS, LAST_RETRY_SECONDS = 0.05, 1.0

# The settings of every connection to our files, the bot's (aiosqlite) and the tools' (sqlite3) alike.
PRAGMAS = (
    "journal_mode = WAL",  # readers never block the bot's writes
    "foreign_keys = ON",
    f"busy_timeout = {BUSY_TIMEOUT_MS}",
    "synchronous = NORMAL",  # safe with WAL; a power cut may lose the last commit only
    "secure_delete = ON",  # deleted rows (a /forget, a withdrawn crop) are overwritten, not just unlinked
)


def connect(path: str | Path) -> sqlite3.Connection:
    """A plain sqlite3 connection with the settings every connection to our files uses."""
    connection = sqlite3.connect(path, isolation_level=None)  # explicit BEGIN/COMMIT only
    for pragma in PRAGMAS:
        connection.execute(f"PRAGMA {pragma}")
    return connection


def is_busy(error: sqlite3.Error) -> bool:
    """Whether the error is another connection holding the file ("database is locked"), worth retrying."""
    return getattr(error, "sqlite_errorcode", 0) & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def retry_delays(patience: float = LOCK_PATIENCE_SECONDS):
    """Seconds to sleep between attempts of a busy write (doubling, capped), until `patience` has run out."""
    deadline, delay = time.monotonic() + patience, FIRST_RETRY_SECONDS
    while time.monotonic() < deadline:
        yield delay
        delay = min(2 * delay, LAST_RETRY_SECONDS)


def begin_immediate(connection: sqlite3.Connection) -> None:
    """Start a write transaction, waiting (busy timeout, then retries with backoff) while others write."""
    delays = retry_delays()
    while True:
        try:
            connection.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as error:
            delay = next(delays, None)
            if not is_busy(error) or delay is None:
                raise
            time.sleep(delay)


def schema_version(connection: sqlite3.Connection) -> int:
    return connection.execute("PRAGMA user_version").fetchone()[0]


def migrate(connection: sqlite3.Connection, target: int = LATEST_VERSION) -> int:
    """Apply every migration the file lacks, each in its own transaction; returns the new version.

    Foreign keys are off while a migration runs (a table rebuild drops the old table, which would otherwise
    cascade) and checked before it commits, as SQLite's documentation recommends.
    """
    version = schema_version(connection)
    if version > LATEST_VERSION:
        raise RuntimeError(f"the database is at schema version {version}, newer than this code "
                           f"({LATEST_VERSION}); upgrade MoodTunes instead of opening it with an old version")
    connection.execute("PRAGMA foreign_keys = OFF")
    try:
        for number in range(version + 1, target + 1):
            begin_immediate(connection)
            try:
                for statement in _statements(MIGRATIONS[number - 1]):
                    connection.execute(statement)
                if connection.execute("PRAGMA foreign_key_check").fetchone() is not None:
                    raise RuntimeError(f"migration {number} would break a foreign key")
                connection.execute(f"PRAGMA user_version = {number}")
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
    finally:
        connection.execute("PRAGMA foreign_keys = ON")
    return schema_version(connection)


def _statements(script: str) -> list[str]:
    """Split a migration into statements (executescript() would commit on its own, outside our transaction)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return [statement for statement in statements if statement]
