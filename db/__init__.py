"""Everything MoodTunes stores, in a SQLite file or a PostgreSQL database: the song catalog, users and their
consent, suggestions, ratings, corrections of the emotion model (and, only with opt-in, face crops), and the
recommender.

    from db import Database
    database = await Database.open("data/moodtunes.sqlite3")   # created, migrated and seeded as needed
    database = await Database.open("postgresql://moodtunes:...@db:5432/moodtunes")   # the same, on a server
    songs = await database.recommend(user_id, probabilities, "lift")

Modules: engine.py (the two engines behind one interface), schema.py (migrations), song_csv.py (song lists read,
no SQL), catalog.py (song lists stored), recommender.py (which songs, no SQL), taste.py (a user's taste from their
thumbs, no SQL), database.py (every query the bot makes), copy.py (a database's rows into another).
`python -m db --help` lists the command-line tools.
"""

from collections.abc import Mapping
from pathlib import Path

from db.database import (ANSWERS_KEPT, MAX_RETENTION_DAYS, RATE_LIMIT_KEPT, RETENTION_DAYS, AnsweredPhoto, Database,
                         DonatedCrop, MoodEntry, MoodJournal, Song, Suggestion, User)
from db.engine import POSTGRESQL_SCHEMES, is_postgresql

DEFAULT_PATH = Path("data") / "moodtunes.sqlite3"  # in the working directory, never inside the installed package


def configured_address(environ: Mapping[str, str]) -> str | Path:
    """The database the settings name: DATABASE_URL (PostgreSQL) if set, else the SQLite file DATABASE_PATH, else
    DEFAULT_PATH. A DATABASE_URL of another kind is a ValueError saying what to set instead."""
    url = environ.get("DATABASE_URL", "").strip()
    if not url:
        return Path(environ.get("DATABASE_PATH", "").strip() or DEFAULT_PATH)
    if not is_postgresql(url):
        raise ValueError(f"DATABASE_URL must be a PostgreSQL address ({' or '.join(POSTGRESQL_SCHEMES)}://"
                         f"user:password@host:5432/database); for a SQLite file set DATABASE_PATH instead.")
    return url

__all__ = ["ANSWERS_KEPT", "DEFAULT_PATH", "MAX_RETENTION_DAYS", "RATE_LIMIT_KEPT", "RETENTION_DAYS", "AnsweredPhoto",
           "Database", "DonatedCrop", "MoodEntry", "MoodJournal", "Song", "Suggestion", "User", "configured_address"]
