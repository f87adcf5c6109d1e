"""The song catalog: reading song lists (our bundled `catalog.csv` and public Spotify-feature CSVs) into `songs`.

An import streams the file row by row inside one transaction: a file that turns out to be malformed (missing
columns, broken CSV, not text) is refused as a whole with the line at fault, and nothing of it is kept. Rows that
are merely incomplete (no title, a valence outside 0..1) are skipped with their reason. Songs are matched by
Spotify track id when there is one, else by title and artist folded (case, accents, punctuation), so importing
the same file twice adds nothing.
"""

import csv
import hashlib
import io
import json
import re
import sqlite3
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import quote, quote_plus

from db import schema
from model.preprocess import LABELS

BUNDLED_CATALOG = Path(__file__).resolve().parent / "catalog.csv"
BUNDLED_SOURCE = "bundled"
SPOTIFY_ID = re.compile(r"^[0-9A-Za-z]{22}$")
OLDEST_YEAR = 1920  # older "release years" in these data sets are placeholders (data_moods.csv uses 1905)
PROGRESS_EVERY = 20_000  # rows

# The column names public song lists use, first match wins.
COLUMNS = {
    "title": ("title", "name", "track_name", "track", "song", "song_name"),
    "artist": ("artist", "artists", "artist_name", "artist_names"),
    "spotify_id": ("id", "track_id", "spotify_id", "uri"),
    "valence": ("valence",),
    "energy": ("energy",),
    "year": ("year", "release_date", "release_year", "album_release_date"),
    "genre": ("genre", "track_genre", "genres"),
    "mood": ("moods", "mood"),
    "language": ("language",),
}
REQUIRED = ("title", "artist", "valence", "energy")
# Mood labels of public data sets -> the emotions such songs fit.
MOOD_WORDS = {
    **{label: (label,) for label in LABELS},
    "calm": ("neutral",), "relaxed": ("neutral",), "chill": ("neutral",), "peaceful": ("neutral",),
    "energetic": ("happy", "surprise"), "excited": ("surprise",), "joyful": ("happy",), "cheerful": ("happy",),
    "anger": ("angry",), "aggressive": ("angry",), "melancholic": ("sad",), "sadness": ("sad",),
    "fearful": ("fear",), "scary": ("fear",), "tense": ("fear",), "dark": ("fear",),
}


class CatalogError(ValueError):
    """The file cannot be imported at all; the message names the file and, where it helps, the line."""


@dataclass(frozen=True)
class SongRow:
    title: str
    artist: str
    valence: float
    energy: float
    year: int | None = None
    genre: str | None = None
    language: str | None = None
    moods: tuple[str, ...] = ()
    spotify_id: str | None = None

    @property
    def keys(self) -> tuple[str, str]:
        return fold(self.title), fold(self.artist)


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> rows

    def summary(self) -> str:
        lines = [f"added {self.added}, updated {self.updated}, skipped {sum(self.skipped.values())}"]
        lines += [f"  skipped {count}: {reason}" for reason, count in self.skipped.most_common()]
        return "\n".join(lines)


def fold(text: str) -> str:
    """Text folded for matching: no accents, case, punctuation or repeated spaces ("Beyoncé" == "beyonce")."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(char for char in text if not unicodedata.combining(char)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def song_links(title: str, artist: str, spotify_id: str | None) -> dict[str, str]:
    """Links that work without any API key: a YouTube search, and the Spotify track (or a Spotify search)."""
    query = f"{artist} {title}"
    spotify = (f"https://open.spotify.com/track/{spotify_id}" if spotify_id
               else f"https://open.spotify.com/search/{quote(query, safe='')}")
    return {"YouTube": f"https://www.youtube.com/results?search_query={quote_plus(query)}", "Spotify": spotify}


def import_songs(connection: sqlite3.Connection, path: Path, source: str | None = None,
                 progress: Callable[[str], None] | None = None) -> ImportReport:
    """Import a song CSV into the catalog in one transaction; raises CatalogError (nothing kept) if malformed."""
    source = source or path.name
    report = ImportReport()
    schema.begin_immediate(connection)
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


def read_song_csv(path: Path, progress: Callable[[str], None] | None = None) -> Iterator[SongRow | str]:
    """Each data row as a SongRow, or as the reason it cannot be used; streams the file."""
    try:
        size = path.stat().st_size
        raw = path.open("rb")
    except OSError as error:
        raise CatalogError(f"{path}: cannot open: {error.strerror or error}") from None
    with raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text, strict=True)
        try:
            header = next(reader, None)
            if not header:
                raise CatalogError(f"{path}: the file is empty")
            columns = _find_columns(path, header)
            for number, values in enumerate(reader, start=2):
                if len(values) != len(header):
                    if not any(value.strip() for value in values):
                        continue
                    raise CatalogError(f"{path}: line {reader.line_num}: {len(values)} fields where the header "
                                       f"has {len(header)}; is this the right file?")
                yield parse_row(values, columns)
                if progress and number % PROGRESS_EVERY == 0:
                    progress(f"{number - 1:,} rows read ({raw.tell() / max(size, 1):.0%})")
        except UnicodeDecodeError:
            raise CatalogError(f"{path}: not UTF-8 text; save it as a UTF-8 CSV") from None
        except csv.Error as error:
            raise CatalogError(f"{path}: line {reader.line_num}: broken CSV: {error}") from None


def _find_columns(path: Path, header: list[str]) -> dict[str, int]:
    names = [name.strip().lower() for name in header]
    columns = {}
    for field_name, candidates in COLUMNS.items():
        found = next((names.index(name) for name in candidates if name in names), None)
        if found is not None:
            columns[field_name] = found
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        expected = "; ".join(f"{name}: one of {', '.join(COLUMNS[name])}" for name in missing)
        raise CatalogError(f"{path}: line 1: no column for {expected}. Found: {', '.join(header)}")
    return columns


def parse_row(values: list[str], columns: dict[str, int]) -> SongRow | str:
    """A SongRow from one CSV row, or why the row cannot be used."""
    def value(name: str) -> str:
        return values[columns[name]].strip() if name in columns else ""

    title, artist = value("title"), _artist(value("artist"))
    if not title or not artist:
        return "no title or artist"
    features = {}
    for name in ("valence", "energy"):
        try:
            features[name] = float(value(name))
        except ValueError:
            return f"{name} missing or not a number"
        if not 0.0 <= features[name] <= 1.0:
            return f"{name} outside 0..1"
    spotify_id = value("spotify_id").removeprefix("spotify:track:") or None
    if spotify_id and not SPOTIFY_ID.match(spotify_id):
        spotify_id = None  # a link we cannot build; the song still gets search links
    moods = tuple(dict.fromkeys(emotion for word in re.split(r"[;,|/ ]+", value("mood").lower()) if word
                                for emotion in MOOD_WORDS.get(word, ())))
    genre = value("genre")
    return SongRow(title=title[:300], artist=artist[:300], valence=features["valence"], energy=features["energy"],
                   year=_year(value("year")), genre=None if genre.upper() in ("", "N/A") else genre[:100],
                   language=value("language") or None, moods=moods, spotify_id=spotify_id)


def _artist(text: str) -> str:
    """"['A', 'B']" (a Python list written into the CSV, as some data sets do) -> "A, B"."""
    if text.startswith("[") and text.endswith("]"):
        text = ", ".join(part.strip().strip("'\"") for part in text[1:-1].split("', '") if part.strip())
    return text.strip()


def _year(text: str) -> int | None:
    match = re.match(r"^(\d{4})", text)
    if not match:
        return None
    year = int(match.group(1))
    return year if OLDEST_YEAR <= year <= date.today().year + 1 else None


def upsert_song(connection: sqlite3.Connection, song: SongRow, source: str) -> str:
    """Add the song, or update the stored one it matches; returns "added", "updated" or why it was skipped."""
    title_key, artist_key = song.keys
    found = connection.execute(
        "SELECT song_id, title, artist, year, genre, language, valence, energy, moods, spotify_id FROM songs "
        "WHERE spotify_id = ? OR (title_key = ? AND artist_key = ?) ORDER BY spotify_id = ? DESC LIMIT 1",
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
    try:
        connection.execute(
            "UPDATE songs SET title = ?, artist = ?, year = ?, genre = ?, language = ?, valence = ?, energy = ?, "
            "moods = ?, spotify_id = ?, links = ?, title_key = ?, artist_key = ? WHERE song_id = ?",
            (*merged, json.dumps(song_links(title, artist, merged[-1])), title_key, artist_key, song_id))
    except sqlite3.IntegrityError:
        return "same title and artist as another song with a different Spotify id"
    return "updated"


def bump_catalog_version(connection: sqlite3.Connection) -> None:
    """Tell every process holding the catalog in memory (the recommender) that it changed."""
    connection.execute("INSERT INTO meta (key, value) VALUES ('catalog_version', '1') ON CONFLICT (key) "
                       "DO UPDATE SET value = CAST(value AS INTEGER) + 1")


def seed_bundled_catalog(connection: sqlite3.Connection) -> ImportReport | None:
    """Import our bundled catalog when the file is new or has changed since it was last imported."""
    stamp = hashlib.sha256(BUNDLED_CATALOG.read_bytes()).hexdigest()
    row = connection.execute("SELECT value FROM meta WHERE key = 'bundled_catalog'").fetchone()
    if row is not None and row[0] == stamp:
        return None
    report = import_songs(connection, BUNDLED_CATALOG, source=BUNDLED_SOURCE)
    connection.execute("INSERT INTO meta (key, value) VALUES ('bundled_catalog', ?) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (stamp,))
    return report


def print_progress(message: str) -> None:
    """Progress on stderr, overwriting itself on a terminal."""
    end = "\r" if sys.stderr.isatty() else "\n"
    print(f"  {message}", end=end, file=sys.stderr, flush=True)
