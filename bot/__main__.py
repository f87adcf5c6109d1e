"""`python -m bot` runs the Telegram bot; `python -m bot suggest IMAGE` runs its pipeline on a file, no Telegram.

    python -m bot                                    # long polling, or a webhook when WEBHOOK_URL is set
    python -m bot suggest selfie.jpg [--mode lift] [--json]

Both read the environment variables in the README's table (`suggest` needs no token, and stores nothing).
"""

import argparse
import asyncio
import html
import json
import re
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from bot.app import run
from bot.config import ConfigError, Settings
from bot.i18n import DEFAULT_LANGUAGE, translator
from bot.live_model import LiveModel
from bot.logs import configure_logging
from bot.replies import describe_mood, read_mood
from db import Database
from db.engine import is_postgresql
from model import ImageError
from model.json_output import face_to_json

# `suggest` picks songs as for a user with this id, which Telegram never assigns; nothing about it is stored.
CLI_USER_ID = 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="MoodTunes: songs for the mood in a selfie.")
    commands = parser.add_subparsers(dest="command")
    suggest_parser = commands.add_parser("suggest", help="read the mood in an image and suggest songs, no Telegram")
    suggest_parser.add_argument("image", type=Path, help="a photo with a face (JPEG, PNG, HEIC, WebP...)")
    suggest_parser.add_argument("--mode", choices=("match", "lift"), default="match",
                                help="songs that match the mood (default) or lift it")
    suggest_parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(need_token=args.command is None)
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    if args.command == "suggest":
        return asyncio.run(suggest(settings, args.image, args.mode, args.json))
    configure_logging(settings.log_level, settings.token, settings.webhook_secret)
    try:
        run(settings)
    except ConfigError as error:  # found at start-up: one line saying what to fix, never the token
        print(f"Cannot start: {str(error).replace(settings.token, '<token>')}", file=sys.stderr)
        return 2
    return 0


async def suggest(settings: Settings, image: Path, mode: str, as_json: bool) -> int:
    """Print the mood read from `image` and songs for it from the bot's database; 0 on success."""
    try:
        image_bytes = image.read_bytes()  # noqa: ASYNC240 (a one-shot command: nothing else runs on this loop)
    except OSError as error:
        print(f"Cannot read {image}: {error.strerror}", file=sys.stderr)
        return 2
    model = LiveModel(settings.model_path)
    try:
        faces, model_version = model.analyze(image_bytes)
    except ImageError as error:
        print(str(error), file=sys.stderr)
        return 1
    if not faces:
        print("No face found in the image.", file=sys.stderr)
        return 1
    reading = read_mood(faces[0].probabilities)
    with tempfile.TemporaryDirectory() as scratch:  # trying the product leaves the bot's database as it was
        database = settings.database
        if not is_postgresql(database) and not database.is_file():
            print(f"No database at {database}: songs from the bundled catalog.", file=sys.stderr)
            database = Path(scratch) / "catalog.sqlite3"
        async with await Database.open(database) as database:
            suggestions = await database.recommend(CLI_USER_ID, faces[0].probabilities, mode, keep=False,
                                                   model_version=model_version, emotion=reading.emotion)
    if as_json:
        print(json.dumps({
            "model_version": model_version,
            "faces": [face_to_json(face) for face in faces],
            "reading": {**asdict(reading), "verdict": reading.verdict},
            "mode": mode,
            "songs": [{"suggestion_id": s.suggestion_id, "title": s.song.title, "artist": s.song.artist,
                       "year": s.song.year, "links": s.song.links} for s in suggestions],
        }, indent=2, ensure_ascii=False))
        return 0
    print(_plain(describe_mood(translator(DEFAULT_LANGUAGE), reading, len(faces))), f"(model {model_version})\n")
    for number, suggestion in enumerate(suggestions, start=1):
        song = suggestion.song
        print(f"{number}. {song.title} by {song.artist}" + (f" ({song.year})" if song.year else ""))
        for site, url in song.links.items():
            print(f"     {site}: {url}")
    return 0


def _plain(telegram_html: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", telegram_html))


if __name__ == "__main__":
    sys.exit(main())
