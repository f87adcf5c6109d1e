"""`python -m db copy`: every row of a bot's database into a new, empty one, ids included, so that a bot moves
from its SQLite file to PostgreSQL (or back) and goes on where it was: users keep their consent, buttons under
old messages keep working, a deleted suggestion's id is never handed out again.

The source is migrated to the latest schema first (as the bot would do on its next start); the target is migrated
and filled in one transaction, so a failed copy leaves it empty.
"""

from pathlib import Path

from db import engine, schema
from db.database import prepare
from db.engine import Connection

# Every table, parents before children (foreign keys).
TABLES = ("songs", "users", "suggestions", "ratings", "readings", "emotion_feedback", "song_scores", "meta",
          "answered_photos", "photo_events", "refusals")
GENERATED_IDS = {"songs": "song_id", "suggestions": "suggestion_id", "readings": "reading_id",
                 "emotion_feedback": "feedback_id"}
BATCH_ROWS = 2000


class CopyError(Exception):
    """The copy cannot start (a target that is not empty); nothing was written."""


def copy_database(source: str | Path, target: str | Path) -> dict[str, int]:
    """Copy every row; returns the rows copied per table."""
    prepare(source, create=False)
    if not engine.is_postgresql(target) and Path(target).exists():
        raise CopyError(f"{target} already exists: copy into a new file")
    with engine.connect(source) as reading, engine.connect(target) as writing:
        if schema.schema_version(writing) == 0:
            schema.migrate(writing)
        filled = {table: _count(writing, table) for table in TABLES}
        if any(filled.values()):
            rows = ", ".join(f"{table} {count}" for table, count in filled.items() if count)
            raise CopyError(f"{engine.describe(target)} is not empty ({rows}); stop every bot using it and copy "
                            f"into a new, empty database")
        engine.begin(writing)
        try:
            copied = {table: _copy_table(reading, writing, table) for table in TABLES}
            for table, column in GENERATED_IDS.items():
                _continue_ids(writing, table, column, _last_id(reading, table, column))
            writing.execute("COMMIT")
        except BaseException:
            writing.execute("ROLLBACK")
            raise
    return copied


def _count(connection: Connection, table: str) -> int:
    return connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def _copy_table(reading: Connection, writing: Connection, table: str) -> int:
    cursor = reading.execute(f"SELECT * FROM {table}")
    columns = [column[0] for column in cursor.description]
    insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    copied = 0
    while rows := cursor.fetchmany(BATCH_ROWS):
        writing.executemany(insert, rows)
        copied += len(rows)
    return copied


def _last_id(connection: Connection, table: str, column: str) -> int:
    """The highest id the table ever handed out (a deleted row's id included, where the engine remembers it)."""
    highest = connection.execute(f"SELECT COALESCE(MAX({column}), 0) FROM {table}").fetchone()[0]
    if connection.dialect is engine.POSTGRESQL:
        last = connection.execute(f"SELECT pg_sequence_last_value(pg_get_serial_sequence('{table}', '{column}'))"
                                  ).fetchone()[0]
    else:
        last = (connection.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone() or [0])[0]
    return max(highest, last or 0)


def _continue_ids(connection: Connection, table: str, column: str, last: int) -> None:
    """Make the target hand out ids after `last`, as the source would have."""
    if last == 0:
        return
    if connection.dialect is engine.POSTGRESQL:
        connection.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), ?)", (last,))
    elif connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
        connection.execute("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
        connection.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, last))
