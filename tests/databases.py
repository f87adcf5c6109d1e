"""The two database engines the tests run on: a SQLite file in the test's folder, and a real PostgreSQL server
(the `pgserver` wheel's binaries, started once per test session in a temporary folder) with a new, empty database
for each test.

Fixtures (offered to every module through conftest.py):
- `database_address`: once per engine, the address of an empty database (a file path, or a postgresql:// URL);
- `new_postgresql_database`: makes further empty PostgreSQL databases (for tests that need several, or one for a
  whole module); they go with the server when the session ends.
"""

import itertools
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pgserver
import pytest

from db import engine

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[str]:
    """The URL of the session's PostgreSQL server (its `postgres` database).

    Its folder is not one of pytest's: run as root, pgserver runs the server as another user, and pytest keeps its
    own folders private to their owner (and makes them private again when another test session starts).
    """
    folder = Path(tempfile.mkdtemp(prefix="moodtunes-postgresql-"))
    server = pgserver.get_server(folder, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def new_postgresql_database(postgresql_server) -> Callable[[], str]:
    """A maker of new, empty databases on the session's server."""

    def make() -> str:
        name = f"moodtunes_test_{next(_numbers)}"
        with engine.connect(postgresql_server) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return with_database(postgresql_server, name)

    return make


@pytest.fixture(params=["sqlite", "postgresql"])
def database_address(request, tmp_path) -> str | Path:
    if request.param == "sqlite":
        return tmp_path / "moodtunes.sqlite3"
    return request.getfixturevalue("new_postgresql_database")()


def with_database(url: str, name: str) -> str:
    """The same server's URL, for another database on it."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def query(address: str | Path, sql: str, *params) -> list[tuple]:
    """Rows of one statement (`?` placeholders), run on its own connection, as another process would."""
    with engine.connect(address) as connection:
        cursor = connection.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def tables(address: str | Path, having_column: str | None = None) -> list[str]:
    """The database's tables (with a column of that name)."""
    if engine.is_postgresql(address):
        sql = "SELECT DISTINCT table_name FROM information_schema.columns WHERE table_schema = 'public'"
    else:
        sql = ("SELECT DISTINCT m.name FROM sqlite_master m, pragma_table_info(m.name) c WHERE m.type = 'table' "
               "AND m.name != 'sqlite_sequence'")
    if having_column:
        sql += " AND " + ("column_name" if engine.is_postgresql(address) else "c.name") + " = ?"
    return [name for (name,) in query(address, sql, *([having_column] if having_column else []))]


def scalar(address: str | Path, sql: str, *params) -> int:
    return query(address, sql, *params)[0][0]
