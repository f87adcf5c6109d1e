"""Everything MoodTunes stores, in a SQLite file or a PostgreSQL database: the song catalog, users and their
consent, suggestions, ratings, corrections of the emotion model (and, only with opt-in, face crops), and the
recommender.

    from db import Database
    database = await Database.open("data/moodtunes.sqlite3")   # created, migrated and seeded as needed
    database = await Database.open("postgresql://moodtunes:...@db:5432/moodtunes")   # the same, on a server
    songs = await database.recommend(user_id, probabilities, "lift")

Modules: engine.py (the two engines behind one interface), schema.py (migrations), song_csv.py (song lists read,
no SQL), catalog.py (song lists stored), recommender.py (which songs, no SQL), database.py (every query the bot
makes), copy.py (a database's rows into another). `python -m db --help` lists the command-line tools.
"""

from pathlib import Path

from db.database import (ANSWERS_KEPT, MAX_RETENTION_DAYS, RATE_LIMIT_KEPT, RETENTION_DAYS, AnsweredPhoto, Database,
                         DonatedCrop, MoodEntry, MoodJournal, Song, Suggestion, User)

DEFAULT_PATH = Path("data") / "moodtunes.sqlite3"  # in the working directory, never inside the installed package

__all__ = ["ANSWERS_KEPT", "DEFAULT_PATH", "MAX_RETENTION_DAYS", "RATE_LIMIT_KEPT", "RETENTION_DAYS", "AnsweredPhoto",
           "Database", "DonatedCrop", "MoodEntry", "MoodJournal", "Song", "Suggestion", "User"]
