"""Command-line tools for the database the bot uses (DATABASE_URL, else DATABASE_PATH, else
data/moodtunes.sqlite3; or --db, a SQLite file's path or a postgresql:// URL).

    python -m db import-songs FILE.csv [--source NAME]   # add/update songs from a Spotify-features CSV
    python -m db stats [--json] [--model-version V]      # catalog per emotion, ratings, thumbs-up rate per mode
    python -m db rescore                                 # rebuild song scores from all ratings
    python -m db purge [--days N]                        # delete what is past its keeping time, as the bot does
    python -m db copy --from sqlite:PATH --to postgresql://...   # move a bot's data to another database
"""

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

from db import DEFAULT_PATH, MAX_RETENTION_DAYS, RETENTION_DAYS, Database, configured_address, engine
from db.catalog import import_songs
from db.copy import CopyError, copy_database
from db.database import prepare
from db.song_csv import CatalogError


def main(argv: list[str] | None = None) -> int:
    try:
        configured = configured_address(os.environ)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="python -m db", description="MoodTunes' database tools.")
    parser.add_argument("--db", type=engine.parse_address, default=configured,
                        help="a SQLite file or a postgresql:// URL (default: DATABASE_URL, else DATABASE_PATH, "
                             f"else {DEFAULT_PATH})")
    commands = parser.add_subparsers(dest="command", required=True)
    importer = commands.add_parser("import-songs", help="import songs from a CSV of Spotify features")
    importer.add_argument("file", type=Path)
    importer.add_argument("--source", help="name stored with each song (default: the file's name)")
    stats = commands.add_parser("stats", help="catalog size per emotion, ratings per emotion, thumbs-up rate")
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.add_argument("--model-version", help="count photos read and corrections of this model version only")
    commands.add_parser("rescore", help="recompute every song's score per emotion from the ratings")
    purge = commands.add_parser("purge", help="delete readings, suggestions and their ratings past the retention "
                                              "period, and stale answers and rate-limit events, as the bot does daily")
    purge.add_argument("--days", type=retention_days, default=os.environ.get("RETENTION_DAYS") or str(RETENTION_DAYS),
                       help="keep readings and suggestions this many days (default: RETENTION_DAYS, else %(default)s)")
    copier = commands.add_parser("copy", help="copy every row of one database into a new, empty one "
                                              "(e.g. a SQLite file into PostgreSQL)")
    copier.add_argument("--from", dest="source", type=engine.parse_address, required=True,
                        help="the bot's database now: sqlite:PATH (or a path) or a postgresql:// URL")
    copier.add_argument("--to", dest="target", type=engine.parse_address, required=True,
                        help="an empty database (a new SQLite file or a PostgreSQL database with no tables yet)")
    args = parser.parse_args(argv)

    if args.command == "import-songs":
        return import_command(args.db, args.file, args.source)
    if args.command == "copy":
        return copy_command(args.source, args.target)
    try:
        if args.command == "stats":
            return asyncio.run(stats_command(args.db, args.json, args.model_version))
        if args.command == "purge":
            return asyncio.run(purge_command(args.db, args.days))
        return asyncio.run(rescore_command(args.db))
    except FileNotFoundError as error:  # these work on the bot's data: a typo must not create a file
        print(f"Cannot open the database: {error} (check --db, DATABASE_URL or DATABASE_PATH).", file=sys.stderr)
        return 2
    except engine.DATABASE_ERRORS as error:
        print(f"Cannot use the database {engine.describe(args.db)}: {str(error).strip().splitlines()[0]}",
              file=sys.stderr)
        return 2


def retention_days(text: str) -> int:
    """A retention period in days, as RETENTION_DAYS gives it to the bot."""
    if not text.strip().isdigit() or not 0 < int(text) <= MAX_RETENTION_DAYS:
        raise argparse.ArgumentTypeError(f"the days to keep are a whole number from 1 to {MAX_RETENTION_DAYS}, "
                                         f"not {text!r}")
    return int(text)


def import_command(database: str | Path, file: Path, source: str | None) -> int:
    prepare(database)
    connection = engine.connect(database)
    started = time.perf_counter()
    try:
        report = import_songs(connection, file, source, progress=print_progress)
    except CatalogError as error:
        print(f"Nothing imported: {error}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    print(f"{file}: {report.summary()} ({time.perf_counter() - started:.1f} s)")
    return 0


def print_progress(message: str) -> None:
    """Progress on stderr, overwriting itself on a terminal."""
    end = "\r" if sys.stderr.isatty() else "\n"
    print(f"  {message}", end=end, file=sys.stderr, flush=True)


def copy_command(source: str | Path, target: str | Path) -> int:
    started = time.perf_counter()
    try:
        copied = copy_database(source, target)
    except (CopyError, FileNotFoundError) as error:
        print(f"Nothing copied: {error}", file=sys.stderr)
        return 2
    except engine.DATABASE_ERRORS as error:
        print(f"Nothing copied: {str(error).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    rows = ", ".join(f"{table} {count}" for table, count in copied.items())
    print(f"Copied {engine.describe(source)} to {engine.describe(target)} ({time.perf_counter() - started:.1f} s): "
          f"{rows}")
    return 0


async def stats_command(path: str | Path, as_json: bool, model_version: str | None) -> int:
    async with await Database.open(path, create=False) as database:
        figures = await database.stats(model_version)
    if as_json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"Catalog: {figures['catalog']['songs']} songs. Fitting each emotion, and ratings (up/down) per mode:")
    print(f"  {'emotion':<10}{'songs':>7}{'match':>12}{'lift':>12}{'read':>8}{'fixed':>7}")
    for emotion, songs in figures["catalog"]["per_emotion"].items():
        thumbs = figures["ratings"][emotion]
        cells = "".join(f"{thumbs[mode]['up']:>7}/{thumbs[mode]['down']:<4}" for mode in ("match", "lift"))
        print(f"  {emotion:<10}{songs:>7}{cells}{figures['readings'][emotion]:>8}{figures['corrections'][emotion]:>7}")
    versions = ", ".join(f"{version}: {count}" for version, count in figures["readings_per_model_version"].items())
    print(f"Photos read per model version: {versions or 'none yet'}"
          + (f" (read/fixed above: {model_version} only)" if model_version else ""))
    users = figures["users"]
    print(f"Users: {users['total']} ({users['consenting']} consenting, {users['donating']} donating crops)")
    for mode, rate in figures["thumbs_up_rate"].items():
        print(f"Thumbs-up rate, {mode}: " + ("no ratings yet" if rate is None else f"{rate:.0%}"))
    return 0


async def rescore_command(path: str | Path) -> int:
    async with await Database.open(path, create=False) as database:
        pairs = await database.recompute_song_scores()
    print(f"Song scores rebuilt: {pairs} (song, emotion) pairs with ratings.")
    return 0


async def purge_command(path: str | Path, days: int) -> int:
    async with await Database.open(path, create=False) as database:
        deleted = await database.delete_expired(days)
    print(f"Deleted past their keeping time (readings and suggestions: {days} days): "
          + ", ".join(f"{table} {count}" for table, count in deleted.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
