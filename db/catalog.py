"""The song catalog in the database: importing song lists (read by `db.song_csv`) into `songs`, and the bundled one.

An import runs in one transaction: a file that turns out to be malformed is refused as a whole, and nothing of it
is kept; rows that are merely incomplete are skipped with their reason. Songs are matched by Spotify track id when
there is one, else by title and artist folded (case, accents, punctuation), so importing the same file twice adds
nothing.
"""

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

from db import engine
from db.engine import Connection
from db.song_csv import SongRow, fold, read_song_csv

BUNDLED_CATALOG = Path(__file__).resolve().parent / "catalog.csv"
BUNDLED_SOURCE = "bundled"


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> rows

    def summary(self) -> str:
        lines = [f"added {self.added}, updated {self.updated}, skipped {sum(self.skipped.values())}"]
        lines += [f"  skipped {count}: {reason}" for reason, count in self.skipped.most_common()]
        return "\n".join(lines)


def song_links(title: str, artist: str, spotify_id: str | None) -> dict[str, str]:
    """Links that work without any API key: a YouTube search, and the Spotify track (or a Spotify search)."""
    query = f"{artist} {title}"
    spotify = (f"https://open.spotify.com/track/{spotify_id}" if spotify_id
               else f"https://open.spotify.com/search/{quote(query, safe='')}")
    return {"YouTube": f"https://www.youtube.com/results?search_query={quote_plus(query)}", "Spotify": spotify}


def import_songs(connection: Connection, path: Path, source: str | None = None,
                 progress: Callable[[str], None] | None = None) -> ImportReport:
    """Import a song CSV into the catalog in one transaction; raises CatalogError (nothing kept) if malformed."""
    source = source or path.name
    report = ImportReport()
    engine.begin(connection)
    try:
        for row_or_reason in read_song_csv(path, progress):
            if isinstance(row_or_reason, str):
                report.skipped[row_or_reason] += 1
            else:
                outcome = upsert_song(connection, row_or_reason, source)
                if outcome == "added":
                    report.added += 1
                elif outcome == "updated":
                    report.updated += 1
                else:
                    report.skipped[outcome] += 1
        if report.added or report.updated:
            bump_catalog_version(connection)
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return report


def upsert_song(connection: Connection, song: SongRow, source: str) -> str:
    """Add the song, or update the stored one it matches; returns "added", "updated" or why it was skipped."""
    title_key, artist_key = song.keys
    found = connection.execute(
        "SELECT song_id, title, artist, year, genre, language, valence, energy, moods, spotify_id FROM songs "
        "WHERE spotify_id = ? OR (title_key = ? AND artist_key = ?) "
        "ORDER BY CASE WHEN spotify_id = ? THEN 0 ELSE 1 END LIMIT 1",
        (song.spotify_id, title_key, artist_key, song.spotify_id)).fetchone()
    moods = " ".join(song.moods)
    if found is None:
        connection.execute(
            "INSERT INTO songs (title, artist, year, genre, language, valence, energy, moods, links, spotify_id, "
            "source, title_key, artist_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (song.title, song.artist, song.year, song.genre, song.language, song.valence, song.energy, moods,
             json.dumps(song_links(song.title, song.artist, song.spotify_id)), song.spotify_id, source,
             title_key, artist_key))
        return "added"
    song_id, *stored = found  # first genre and track id stay: Spotify lists one song under several
    title = stored[0] if fold(stored[0]) == title_key else song.title  # "I Am" vs "I am": the first spelling stays
    artist = stored[1] if fold(stored[1]) == artist_key else song.artist
    merged = (title, artist, song.year or stored[2], stored[3] or song.genre, song.language or stored[4],
              song.valence, song.energy, moods or stored[7], stored[8] or song.spotify_id)
    if tuple(stored) == merged:
        return "already in the catalog, unchanged"
    connection.execute("SAVEPOINT song_update")  # a refused update must not end the import's transaction
    try:
        connection.execute(
            "UPDATE songs SET title = ?, artist = ?, year = ?, genre = ?, language = ?, valence = ?, energy = ?, "
            "moods = ?, spotify_id = ?, links = ?, title_key = ?, artist_key = ? WHERE song_id = ?",
            (*merged, json.dumps(song_links(title, artist, merged[-1])), title_key, artist_key, song_id))
    except engine.INTEGRITY_ERRORS:
        connection.execute("ROLLBACK TO SAVEPOINT song_update")
        connection.execute("RELEASE SAVEPOINT song_update")
        return "same title and artist as another song with a different Spotify id"
    connection.execute("RELEASE SAVEPOINT song_update")
    return "updated"


def bump_catalog_version(connection: Connection) -> None:
    """Tell every process holding the catalog in memory (the recommender) that it changed."""
    connection.execute("INSERT INTO meta (key, value) VALUES ('catalog_version', '1') ON CONFLICT (key) "
                       "DO UPDATE SET value = CAST(CAST(meta.value AS INTEGER) + 1 AS TEXT)")


def seed_bundled_catalog(connection: Connection) -> ImportReport | None:
    """Import our bundled catalog when the file is new or has changed since it was last imported."""
    stamp = hashlib.sha256(BUNDLED_CATALOG.read_bytes()).hexdigest()
    row = connection.execute("SELECT value FROM meta WHERE key = 'bundled_catalog'").fetchone()
    if row is not None and row[0] == stamp:
        return None
    report = import_songs(connection, BUNDLED_CATALOG, source=BUNDLED_SOURCE)
    connection.execute("INSERT INTO meta (key, value) VALUES ('bundled_catalog', ?) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (stamp,))
    return report
