"""The schema, as ordered migrations that both engines apply when a database is opened.

Migration N brings a database from version N-1 to N inside one transaction, so a database is always at exactly one
version: SQLite keeps it in `PRAGMA user_version`, PostgreSQL in the table `schema_version`. A migration is written
once with type tokens (`db.engine.Dialect.ddl`), or once per engine where the SQL itself differs. Never edit a
released migration; add one.

Several processes may write at once (the bot, `python -m db import-songs`, `rescore`, several bot replicas):
on SQLite every writer starts with `BEGIN IMMEDIATE` and waits its turn (`db.engine.begin`); on PostgreSQL the
processes that open a database at once migrate it one at a time (an advisory lock).
"""

import sqlite3

from db.engine import SQLITE, Connection, Dialect, begin

MIGRATIONS = (
    # 1: the catalog, the people, and what they were offered and thought of it.
    """
    CREATE TABLE songs (
        song_id     {id},
        title       TEXT NOT NULL,
        artist      TEXT NOT NULL,
        year        INTEGER,
        genre       TEXT,
        language    TEXT,
        valence     {real} NOT NULL CHECK (valence BETWEEN 0 AND 1),
        energy      {real} NOT NULL CHECK (energy BETWEEN 0 AND 1),
        moods       TEXT NOT NULL DEFAULT '',          -- emotions it fits, space-separated
        links       TEXT NOT NULL,                     -- JSON {{"YouTube": url, "Spotify": url}}
        spotify_id  TEXT UNIQUE,
        source      TEXT NOT NULL,                     -- "bundled" or the imported file's name
        title_key   TEXT NOT NULL,                     -- title and artist folded for de-duplication
        artist_key  TEXT NOT NULL,
        UNIQUE (title_key, artist_key)
    );
    CREATE TABLE users (
        user_id        {bigint} PRIMARY KEY,            -- Telegram's user id
        consent_given  INTEGER NOT NULL DEFAULT 0,
        consent_at     TEXT,                           -- when consent was last given or withdrawn (UTC ISO 8601)
        mode           TEXT NOT NULL DEFAULT 'match' CHECK (mode IN ('match', 'lift')),
        created_at     TEXT NOT NULL
    );
    CREATE TABLE suggestions (
        suggestion_id  {id},
        user_id        {bigint} NOT NULL REFERENCES users ON DELETE CASCADE,
        song_id        {bigint} NOT NULL REFERENCES songs ON DELETE CASCADE,
        emotion        TEXT NOT NULL,
        mode           TEXT NOT NULL,
        created_at     TEXT NOT NULL
    );
    CREATE INDEX suggestions_by_user ON suggestions (user_id, suggestion_id);
    CREATE TABLE ratings (
        suggestion_id  {bigint} PRIMARY KEY REFERENCES suggestions ON DELETE CASCADE,  -- one rating per suggestion
        user_id        {bigint} NOT NULL REFERENCES users ON DELETE CASCADE,
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
        reading_id     {id},
        user_id        {bigint} NOT NULL REFERENCES users ON DELETE CASCADE,
        emotion        TEXT NOT NULL,                  -- the top emotion
        confidence     {real} NOT NULL,
        model_version  TEXT NOT NULL,
        created_at     TEXT NOT NULL
    );
    CREATE INDEX readings_by_user ON readings (user_id);
    CREATE TABLE emotion_feedback (
        feedback_id    {id},
        user_id        {bigint} NOT NULL REFERENCES users ON DELETE CASCADE,
        predicted      TEXT NOT NULL,
        corrected      TEXT NOT NULL,
        probabilities  TEXT NOT NULL,                  -- JSON {{emotion: probability}} the model gave
        model_version  TEXT NOT NULL,
        face48         {blob} CHECK (face48 IS NULL OR length(face48) = 2304),  -- only with the donation opt-in
        created_at     TEXT NOT NULL
    );
    CREATE INDEX feedback_by_user ON emotion_feedback (user_id);
    CREATE TABLE song_scores (                         -- thumbs per song and emotion, all users together
        song_id  {bigint} NOT NULL REFERENCES songs ON DELETE CASCADE,
        emotion  TEXT NOT NULL,
        ups      INTEGER NOT NULL DEFAULT 0,
        downs    INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (song_id, emotion)
    ){without_rowid};
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 3: the best-liked songs per emotion, read for every answer, without sorting the whole table.
    {"sqlite": """
    CREATE INDEX song_scores_by_liking ON song_scores (emotion, (ups + 1.0) / (ups + downs + 2.0) DESC)
        WHERE ups > downs;
    """, "postgresql": """
    CREATE INDEX song_scores_by_liking ON song_scores (emotion, ((ups + 1.0) / (ups + downs + 2.0)) DESC)
        WHERE ups > downs;
    """},
    # 4: the language the user chose with /language (NULL: the one their Telegram app is set to).
    """
    ALTER TABLE users ADD COLUMN language TEXT;
    """,
    # 5: suggestion ids are never reused, so a button under an old message can never rate a later song
    # (AUTOINCREMENT needs the table rebuilt, SQLite's 12-step recipe; foreign keys are off while migrating).
    # PostgreSQL's identity columns never reuse a value: nothing to do there.
    {"sqlite": """
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
    """, "postgresql": ""},
    # 6: what a later update needs, kept here rather than in a bot process's memory, so that any of several
    # processes can take it (stateless replicas); and the indexes that find rows past the retention period.
    """
    CREATE TABLE answered_photos (                  -- a selfie's answer, so that its guess can be corrected
        chat_id        {bigint} NOT NULL,
        message_id     {bigint} NOT NULL,           -- the bot's answer, under which "That's not my mood" is pressed
        user_id        {bigint} NOT NULL REFERENCES users ON DELETE CASCADE,
        predicted      TEXT NOT NULL,
        probabilities  TEXT NOT NULL,              -- JSON {{emotion: probability}}
        model_version  TEXT NOT NULL,
        face48         {blob} CHECK (face48 IS NULL OR length(face48) = 2304),  -- only while the user donates crops
        song_buttons   TEXT,                       -- JSON of the answer's buttons, put back when the picker closes
        created_at     TEXT NOT NULL,
        PRIMARY KEY (chat_id, message_id)
    );
    CREATE INDEX answered_photos_by_user ON answered_photos (user_id, created_at);
    CREATE TABLE photo_events (                     -- the per-user rate limit, shared by every bot process
        user_id  {bigint} NOT NULL,                  -- no foreign key: photos before consent count too
        at       {real} NOT NULL                      -- Unix time
    );
    CREATE INDEX photo_events_by_user ON photo_events (user_id, at);
    CREATE TABLE refusals (                         -- when a user was last told to slow down (or to consent)
        user_id  {bigint} PRIMARY KEY,
        at       {real} NOT NULL
    );
    CREATE INDEX readings_by_age ON readings (created_at);
    CREATE INDEX suggestions_by_age ON suggestions (created_at);
    """,
    # 7: a photo Telegram delivers again (a bot process stopped before it said it had the first delivery) counts
    # once against the rate limit.
    """
    ALTER TABLE photo_events ADD COLUMN update_id {bigint};
    CREATE UNIQUE INDEX photo_events_by_update ON photo_events (update_id);
    """,
    # 8: each reading teaches how the user's face reads (model/personal.py): the model's own output, and the mood
    # the user said it shows when they corrected it (the answered photo knows its reading, to note that).
    """
    -- JSON {{emotion: probability}} before the user's adjustment; NULL: teaches nothing (older, or reset by the user)
    ALTER TABLE readings ADD COLUMN model_output TEXT;
    -- the mood the user said the face shows, when they corrected the reading
    ALTER TABLE readings ADD COLUMN said TEXT;
    ALTER TABLE answered_photos ADD COLUMN reading_id {bigint};
    CREATE INDEX readings_by_user_and_model ON readings (user_id, model_version, reading_id);
    """,
)
LATEST_VERSION = len(MIGRATIONS)


def migration_sql(number: int, dialect: Dialect) -> str:
    migration = MIGRATIONS[number - 1]
    return dialect.ddl(migration[dialect.name] if isinstance(migration, dict) else migration)


def schema_version(connection: Connection) -> int:
    if connection.dialect is SQLITE:
        return connection.execute("PRAGMA user_version").fetchone()[0]
    connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    return connection.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]


def set_schema_version(connection: Connection, version: int) -> None:
    if connection.dialect is SQLITE:
        connection.execute(f"PRAGMA user_version = {version:d}")
    else:
        connection.execute("DELETE FROM schema_version")
        connection.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))


def migrate(connection: Connection, target: int = LATEST_VERSION) -> int:
    """Apply every migration the database lacks, each in its own transaction; returns the new version.

    On SQLite, foreign keys are off while a migration runs (a table rebuild drops the old table, which would
    otherwise cascade) and checked before it commits, as SQLite's documentation recommends.
    """
    version = schema_version(connection)
    if version > LATEST_VERSION:
        raise RuntimeError(f"the database is at schema version {version}, newer than this code "
                           f"({LATEST_VERSION}); upgrade MoodTunes instead of opening it with an old version")
    sqlite = connection.dialect is SQLITE
    if sqlite:
        connection.execute("PRAGMA foreign_keys = OFF")
    try:
        for number in range(version + 1, target + 1):
            begin(connection)
            if schema_version(connection) >= number:  # another process starting at the same time applied it
                connection.execute("COMMIT")
                continue
            try:
                for statement in statements(migration_sql(number, connection.dialect)):
                    connection.execute(statement)
                if sqlite and connection.execute("PRAGMA foreign_key_check").fetchone() is not None:
                    raise RuntimeError(f"migration {number} would break a foreign key")
                set_schema_version(connection, number)
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
    finally:
        if sqlite:
            connection.execute("PRAGMA foreign_keys = ON")
    return schema_version(connection)


def statements(script: str) -> list[str]:
    """Split a migration into statements (executescript() would commit on its own, outside our transaction;
    PostgreSQL takes one statement at a time when parameters may follow)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return [statement for statement in statements if statement]
