"""The SQLite schema, as ordered migrations applied when a database file is opened.

The file's schema version is SQLite's own `PRAGMA user_version`: migration N brings a file from version N-1 to N,
inside one transaction, so a file is always at exactly one version. Never edit a released migration; add one.
"""

import sqlite3
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
)
LATEST_VERSION = len(MIGRATIONS)


# The settings of every connection to our files, the bot's (aiosqlite) and the tools' (sqlite3) alike.
PRAGMAS = (
    "journal_mode = WAL",  # readers never block the bot's writes
    "foreign_keys = ON",
    "busy_timeout = 5000",
    "synchronous = NORMAL",  # safe with WAL; a power cut may lose the last commit only
)


def connect(path: str | Path) -> sqlite3.Connection:
    """A plain sqlite3 connection with the settings every connection to our files uses."""
    connection = sqlite3.connect(path, isolation_level=None)  # explicit BEGIN/COMMIT only
    for pragma in PRAGMAS:
        connection.execute(f"PRAGMA {pragma}")
    return connection


def schema_version(connection: sqlite3.Connection) -> int:
    return connection.execute("PRAGMA user_version").fetchone()[0]


def migrate(connection: sqlite3.Connection, target: int = LATEST_VERSION) -> int:
    """Apply every migration the file lacks, each in its own transaction; returns the new version."""
    version = schema_version(connection)
    if version > LATEST_VERSION:
        raise RuntimeError(f"the database is at schema version {version}, newer than this code "
                           f"({LATEST_VERSION}); upgrade MoodTunes instead of opening it with an old version")
    for number in range(version + 1, target + 1):
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[number - 1]):
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {number}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
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
