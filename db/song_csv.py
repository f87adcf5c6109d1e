"""Song lists as CSV (our bundled `catalog.csv` and public Spotify-feature CSVs) read into `SongRow`s; no SQL here.

The file is streamed row by row. A file that is malformed (missing columns, broken CSV, not text) raises
CatalogError with the line at fault; a row that is merely incomplete (no title, a valence outside 0..1) comes out
as the reason it cannot be used. `db.catalog` stores what this reads.
"""

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from model.preprocess import LABELS

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


def fold(text: str) -> str:
    """Text folded for matching: no accents, case, punctuation or repeated spaces ("Beyoncé" == "beyonce")."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(char for char in text if not unicodedata.combining(char)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


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
