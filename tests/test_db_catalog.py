"""The song catalog: the bundled songs, and importing public Spotify-feature CSVs (real files from ../shared)."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.i18n import LANGUAGES, menu_language_code
from db import engine, schema
from db.catalog import BUNDLED_CATALOG, import_songs
from db.database import prepare
from db.recommender import CatalogIndex
from db.song_csv import CatalogError, fold, read_song_csv
from model.preprocess import LABELS

REPO = Path(__file__).resolve().parents[1]
MUSIC = REPO.parent / "shared" / "data" / "music"
DATA_MOODS, SPOTIFY_SAMPLE = MUSIC / "data_moods.csv", MUSIC / "spotify_features_sample.csv"


@pytest.fixture
def connection(database_address):
    connection = engine.connect(database_address)
    schema.migrate(connection)
    yield connection
    connection.close()


def songs(connection) -> list[tuple]:
    return connection.execute("SELECT title, artist, year, valence, energy, moods, links, spotify_id FROM songs "
                              "ORDER BY song_id").fetchall()


def write_csv(path: Path, rows: list[list]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows(rows)
    return path


def test_the_bundled_catalog_has_at_least_300_songs_and_30_for_every_emotion():
    rows = [row for row in read_song_csv(BUNDLED_CATALOG)]
    assert all(not isinstance(row, str) for row in rows), [row for row in rows if isinstance(row, str)]
    assert len(rows) >= 300
    assert len({row.keys for row in rows}) == len(rows), "no song twice"
    for emotion in LABELS:
        assert sum(emotion in row.moods for row in rows) >= 30, emotion
    assert len({row.language for row in rows}) >= 8 and len({row.year // 10 for row in rows if row.year}) >= 6


@pytest.mark.parametrize("language", [menu_language_code(language) for language in LANGUAGES])
def test_every_language_the_bot_speaks_has_at_least_60_songs_with_some_for_every_emotion(language):
    rows = [row for row in read_song_csv(BUNDLED_CATALOG) if row.language == language]
    assert len(rows) >= 60
    for emotion in LABELS:
        assert sum(emotion in row.moods for row in rows) >= 5, emotion


def test_every_song_gets_links_that_need_no_api_key(connection):
    import_songs(connection, BUNDLED_CATALOG, source="bundled")
    for *_, links, _ in songs(connection):
        links = json.loads(links)
        assert links["YouTube"].startswith("https://www.youtube.com/results?search_query=")
        assert links["Spotify"].startswith("https://open.spotify.com/search/")


def test_importing_data_moods_adds_every_song_with_spotify_links_and_moods(connection):
    report = import_songs(connection, DATA_MOODS)
    stored = songs(connection)
    assert report.added == len(stored) >= 680 and report.updated == 0
    by_title = {title: (artist, year, moods, json.loads(links))
                for title, artist, year, _, _, moods, links, _ in stored}
    artist, year, moods, links = by_title["1999"]
    assert (artist, year, moods) == ("Prince", 1982, "happy")
    assert links["Spotify"] == "https://open.spotify.com/track/2H7PHVdQ3mXqEHXcvclTB0"
    assert {"Atlavík", "Bortom Träden"} <= set(by_title), "non-ASCII titles survive"
    assert connection.execute("SELECT COUNT(*) FROM songs WHERE year < 1920").fetchone()[0] == 0, \
        "placeholder years (1905) are not stored as release years"


@pytest.mark.parametrize("path", [DATA_MOODS, SPOTIFY_SAMPLE], ids=lambda p: p.name)
def test_importing_the_same_file_twice_adds_nothing(connection, path):
    first = import_songs(connection, path)
    stored = songs(connection)
    second = import_songs(connection, path)
    assert (second.added, second.updated) == (0, 0)
    assert sum(second.skipped.values()) == first.added + first.updated + sum(first.skipped.values())
    assert songs(connection) == stored


def test_a_song_listed_under_several_genres_or_track_ids_is_stored_once(connection):
    with SPOTIFY_SAMPLE.open(encoding="utf-8-sig", newline="") as file:
        keys = [(fold(row["track_name"]), fold(row["artist_name"])) for row in csv.DictReader(file)]
    report = import_songs(connection, SPOTIFY_SAMPLE)
    assert connection.execute("SELECT COUNT(*) FROM songs").fetchone()[0] == len(set(keys))
    assert report.added == len(set(keys))
    assert sum(report.skipped.values()) + report.updated == len(keys) - len(set(keys))


def test_changed_features_update_the_stored_song(connection, tmp_path):
    header = ["track_name", "artist_name", "track_id", "valence", "energy"]
    import_songs(connection, write_csv(tmp_path / "a.csv", [header, ["Song", "Band", "0" * 22, "0.5", "0.5"]]))
    report = import_songs(connection, write_csv(tmp_path / "b.csv", [header, ["Song", "Band", "0" * 22, "0.9", "0.5"]]))
    assert (report.added, report.updated) == (0, 1)
    assert connection.execute("SELECT valence FROM songs").fetchall() == [(0.9,)]


def test_unusable_rows_are_skipped_with_their_reason(connection, tmp_path):
    path = write_csv(tmp_path / "songs.csv", [
        ["name", "artists", "valence", "energy"],
        ["Good", "['A', 'B']", "7.73E-01", "0.5"],
        ["", "Nobody", "0.5", "0.5"],
        ["Loud", "C", "1.7", "0.5"],
        ["Quiet", "D", "", "0.5"],
    ])
    report = import_songs(connection, path)
    assert report.added == 1 and songs(connection)[0][:2] == ("Good", "A, B")
    assert dict(report.skipped) == {"no title or artist": 1, "valence outside 0..1": 1,
                                    "valence missing or not a number": 1}
    assert "skipped 3" in report.summary()


@pytest.mark.parametrize("rows, message", [
    ([["song", "singer", "valence"], ["A", "B", "0.5"]], "no column for artist"),
    ([["name", "artist", "valence", "energy"], ["A", "B", "0.5", "0.5"], ["C", "D", "0.5"]], "line 3"),
    ([], "empty"),
])
def test_a_malformed_file_is_refused_whole_with_a_clear_message(connection, tmp_path, rows, message):
    import_songs(connection, write_csv(tmp_path / "ok.csv", [["name", "artist", "valence", "energy"],
                                                             ["Kept", "Band", "0.5", "0.5"]]))
    with pytest.raises(CatalogError, match=message):
        import_songs(connection, write_csv(tmp_path / "bad.csv", rows))
    assert [row[0] for row in songs(connection)] == ["Kept"], "nothing of the bad file is kept"


def test_a_binary_file_is_refused(connection, tmp_path):
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    with pytest.raises(CatalogError, match="UTF-8|line 1"):
        import_songs(connection, path)
    assert songs(connection) == []


def test_the_import_command_reports_what_it_did(tmp_path, database_address):
    database = database_address
    result = run_db("--db", str(database), "import-songs", str(DATA_MOODS))
    assert result.returncode == 0, result.stderr
    assert "data_moods.csv: added 6" in result.stdout
    again = run_db("--db", str(database), "import-songs", str(DATA_MOODS))
    assert "added 0, updated 0" in again.stdout and "already in the catalog, unchanged" in again.stdout
    bad = run_db("--db", str(database), "import-songs", str(tmp_path / "missing.csv"))
    assert bad.returncode == 1 and "Nothing imported" in bad.stderr and "Traceback" not in bad.stderr


def test_the_stats_command_shows_the_catalog_per_emotion(database_address):
    prepare(database_address)  # as the bot does on its first start
    result = run_db("--db", str(database_address), "stats", "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["catalog"]["songs"] >= 300
    assert all(figures["catalog"]["per_emotion"][emotion] >= 30 for emotion in LABELS)
    assert figures["thumbs_up_rate"] == {"match": None, "lift": None}
    text = run_db("--db", str(database_address), "stats", "--model-version", "1.0.0")
    assert "Thumbs-up rate, match: no ratings yet" in text.stdout
    assert "Photos read per model version: none yet (read/fixed above: 1.0.0 only)" in text.stdout


@pytest.mark.parametrize("command", ["stats", "rescore", "purge"])
def test_tools_that_read_the_bot_s_data_refuse_a_missing_file_and_create_none(tmp_path, command):
    typo = tmp_path / "typo.sqlite3"
    result = run_db("--db", str(typo), command)
    assert result.returncode == 2
    assert f"no database at {typo}" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_catalog_index_knows_which_songs_fit_an_emotion():
    index = CatalogIndex.from_rows([(1, 0.2, 0.2, "sad", "a", "pop", "en", 2000),
                                    (2, 0.9, 0.8, "", "b", None, None, None),
                                    (3, 0.9, 0.8, "sad", "c", "rock", "es", 1975)])
    assert index.fits_emotion("sad").tolist() == [True, False, True]
    assert index.fits_emotion("happy").tolist() == [False, True, True]


def run_db(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "db", *args], cwd=REPO, capture_output=True, text=True, timeout=120)
