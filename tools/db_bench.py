"""How fast the catalog imports and the recommender answers, on a catalog the size of a big public data set.

    python -m tools.db_bench [--songs 200000] [--ratings 100000] [--requests 200] [--json]

Writes a synthetic Spotify-features CSV (the `track_name, artist_name, track_id, valence, energy, genre` layout),
imports it into a fresh database in a child process (twice: the full file and a tenth of it, to show that
memory stays flat as the file grows), adds ratings from synthetic users, then times `recommend()` for random
moods in both modes. Targets from issue 4 are printed beside the figures.
"""

import argparse
import asyncio
import csv
import json
import multiprocessing
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from db import Database, engine, schema
from db.catalog import import_songs
from db.database import prepare
from model.preprocess import LABELS

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
GENRES = ("Pop", "Rock", "Hip-Hop", "Jazz", "Classical", "Electronic", "Folk", "Reggae", "Metal", "Soul")


def write_catalog_csv(path: Path, songs: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["genre", "artist_name", "track_name", "track_id", "popularity", "energy", "valence"])
        for number in range(songs):
            track_id = "".join(rng.choice(BASE62) for _ in range(22))
            writer.writerow([rng.choice(GENRES), f"Artist {rng.randrange(songs // 8 + 1)}", f"Track {number}",
                             track_id, rng.randrange(100), f"{rng.random():.3f}", f"{rng.random():.3f}"])


def timed_import(database: Path, csv_path: Path, results) -> None:
    """Child process: import the file, report seconds and peak memory."""
    connection = engine.connect(database)
    schema.migrate(connection)
    started = time.perf_counter()
    report = import_songs(connection, csv_path)
    results.put({"rows": report.added, "seconds": time.perf_counter() - started,
                 "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    connection.close()


def import_in_child(database: Path, csv_path: Path) -> dict:
    results = multiprocessing.get_context("spawn").Queue()
    child = multiprocessing.get_context("spawn").Process(target=timed_import, args=(database, csv_path, results))
    child.start()
    figures = results.get()
    child.join()
    return figures


def add_ratings(database: Path, ratings: int, seed: int = 2) -> None:
    """`ratings` thumbs from synthetic users on random songs, as if suggested to them for a random mood."""
    rng = random.Random(seed)
    connection = engine.connect(database)
    song_count = connection.execute("SELECT MAX(song_id) FROM songs").fetchone()[0]
    users = max(ratings // 20, 1)
    now = "2026-11-24T00:00:00+00:00"
    connection.execute("BEGIN")
    connection.executemany("INSERT OR IGNORE INTO users (user_id, consent_given, created_at) VALUES (?, 1, ?)",
                           ((user_id, now) for user_id in range(1, users + 1)))
    connection.executemany(
        "INSERT INTO suggestions (suggestion_id, user_id, song_id, emotion, mode, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        ((n, rng.randrange(1, users + 1), rng.randrange(1, song_count + 1), rng.choice(LABELS),
          rng.choice(("match", "lift")), now) for n in range(1, ratings + 1)))
    connection.executemany("INSERT INTO ratings (suggestion_id, user_id, thumbs_up, rated_at) "
                           "SELECT ?, user_id, ?, ? FROM suggestions WHERE suggestion_id = ?",
                           ((n, int(rng.random() < 0.6), now, n) for n in range(1, ratings + 1)))
    connection.execute("COMMIT")
    connection.close()


async def time_recommendations(database_path: Path, requests: int, seed: int = 3) -> dict:
    rng = random.Random(seed)
    database = await Database.open(database_path)
    await database.recompute_song_scores()
    await database.recommend(1, {"happy": 1.0}, "match")  # loads the catalog index once, as the bot does at start
    timings = {"match": [], "lift": []}
    for request in range(requests):
        weights = [rng.random() ** 3 for _ in LABELS]
        probabilities = {label: w / sum(weights) for label, w in zip(LABELS, weights)}
        mode = ("match", "lift")[request % 2]
        started = time.perf_counter()
        await database.recommend(rng.randrange(1, 1000), probabilities, mode)
        timings[mode].append((time.perf_counter() - started) * 1000)
    await database.close()
    return {mode: {"median_ms": round(statistics.median(t), 2), "p95_ms": round(statistics.quantiles(t, n=20)[-1], 2)}
            for mode, t in timings.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.db_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=200_000)
    parser.add_argument("--ratings", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        full_csv, tenth_csv = folder / "songs.csv", folder / "songs_tenth.csv"
        write_catalog_csv(full_csv, args.songs)
        write_catalog_csv(tenth_csv, args.songs // 10)
        small = import_in_child(folder / "small.sqlite3", tenth_csv)
        full = import_in_child(folder / "bench.sqlite3", full_csv)
        prepare(folder / "bench.sqlite3")  # + the bundled catalog, as on a real start
        add_ratings(folder / "bench.sqlite3", args.ratings)
        recommend = asyncio.run(time_recommendations(folder / "bench.sqlite3", args.requests))

    figures = {"songs": args.songs, "ratings": args.ratings, "import": full, "import_tenth": small,
               "recommend": recommend}
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"Import {full['rows']:,} rows: {full['seconds']:.1f} s (target <= 30 s), "
          f"peak RSS {full['peak_rss_mb']:.0f} MB;"
          f" {small['rows']:,} rows: peak RSS {small['peak_rss_mb']:.0f} MB (memory flat: the file is streamed)")
    for mode, timing in recommend.items():
        print(f"Recommend 5 songs ({mode}) from {args.songs:,} songs with {args.ratings:,} ratings: "
              f"median {timing['median_ms']} ms, p95 {timing['p95_ms']} ms (targets <= 20 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
