"""What the bot's end-to-end tests share: the real `python -m bot` process run against the local Bot API server,
selfies made from FER2013 faces, and a look straight into the bot's database (SQLite or PostgreSQL).

Its fixtures (`telegram`, `running_bot`) reach every test module through conftest.py.
"""

import io
import itertools
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from bot_api_server import BotApiServer, TelegramUser
from databases import query, tables
from db.engine import is_postgresql
from model import EmotionModel
from model.confidence import CANT_TELL_BELOW
from model.preprocess import LABELS
from tools.fer_photos import PlacedFace, compose_photo, encode, read_fer_faces

REPO = Path(__file__).resolve().parents[1]
TOKEN = "7000000001:AAHk-TEST-token-never-to-be-logged"
ADMIN_ID = 4242
_user_ids = itertools.count(100001)


@dataclass
class RunningBot:
    """A `python -m bot` process, the database file it writes and the log it prints."""

    process: subprocess.Popen
    database: str | Path  # the SQLite file, or the PostgreSQL database's URL
    log: Path

    def stop(self) -> int:
        """SIGTERM, as a process manager stops it; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def bot_environment(telegram: BotApiServer, database: str | Path, **settings: str) -> dict[str, str]:
    """The environment the bot under test runs with: this server, this database, DEBUG logs, 3 photos a minute."""
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(("TELEGRAM_", "WEBHOOK_", "ADMIN_", "RATE_LIMIT_", "MODEL_", "DATABASE_"))}
    environment.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=telegram.base_url,
                       LOG_LEVEL="DEBUG", ADMIN_USER_IDS=str(ADMIN_ID), RATE_LIMIT_PHOTOS_PER_MINUTE="3",
                       **{"DATABASE_URL" if is_postgresql(database) else "DATABASE_PATH": str(database)})
    environment.update(settings)
    return environment


def launch_bot(telegram: BotApiServer, folder: Path, database: str | Path | None = None, name: str = "bot",
               **settings: str) -> RunningBot:
    """Start `python -m bot` against `telegram` with `database` (default: a new SQLite file in `folder`), logging to
    `folder/<name>.log`; returns at once."""
    database, log = database or folder / "moodtunes.sqlite3", folder / f"{name}.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "bot"], cwd=REPO,
                                   env=bot_environment(telegram, database, **settings),
                                   stdout=log_file, stderr=subprocess.STDOUT)
    return RunningBot(process, database, log)


def start_bot(telegram: BotApiServer, folder: Path, database: str | Path | None = None, **settings: str) -> RunningBot:
    """Run the bot against `telegram` with `database` (default: a new SQLite file in `folder`), logging into `folder`;
    returns once it is taking updates."""
    polls_before, webhooks_before = telegram.polls, len(telegram.calls_to("setWebhook"))
    bot = launch_bot(telegram, folder, database, **settings)
    process = bot.process

    def listening():  # polling: its first getUpdates; webhook: its setWebhook, the last call before it serves
        if process.poll() is not None:
            raise AssertionError(f"the bot exited with {process.returncode}:\n{bot.log_text()}")
        return telegram.polls > polls_before or len(telegram.calls_to("setWebhook")) > webhooks_before

    telegram.wait_until(listening, timeout=60, what="the bot to start")
    return bot


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on, for a webhook server."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_clean_log(bot: RunningBot) -> None:
    """No traceback, no token, no photo bytes in what the bot logged."""
    text = bot.log_text()
    assert "Traceback" not in text, text
    assert TOKEN not in text and TOKEN.split(":")[1] not in text
    assert "\\xff\\xd8" not in text  # the start of a JPEG, as Python would print bytes


@pytest.fixture(scope="module")
def telegram():
    server = BotApiServer(TOKEN).start()
    yield server
    server.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def running_bot(request, telegram, tmp_path_factory):
    """The bot, once on a SQLite file and once on a PostgreSQL database: every test of a module runs on both."""
    folder = tmp_path_factory.mktemp("bot")
    database = request.getfixturevalue("new_postgresql_database")() if request.param == "postgresql" else None
    bot = start_bot(telegram, folder, database)
    yield bot
    assert bot.stop() == 0, bot.log_text()
    assert_clean_log(bot)


def new_user(telegram: BotApiServer, first_name: str = "Alex", language_code: str = "en") -> TelegramUser:
    """A user the bot has never seen, whose Telegram app is set to `language_code`."""
    return telegram.user(next(_user_ids), first_name, language_code)


def agree(user: TelegramUser) -> dict:
    """/start, then "I agree, and I'm 16 or older"; returns the greeting."""
    greeting = user.wait_for_reply(after=user.send("/start"))
    user.press(greeting, "consent:yes")
    return greeting


# ----- photos -----

@dataclass(frozen=True)
class Photo:
    jpeg: bytes
    width: int
    height: int

    def send(self, user: TelegramUser) -> int:
        return user.send_photo(self.jpeg, self.width, self.height)


@cache
def selfie(variant: int = 0) -> Photo:
    """A 640x480 photo with one ~300 px smiling face (a FER2013 `happy` face, the kind people send as selfies)."""
    return photo_of(read_fer_faces(1, skip=variant, emotion=LABELS.index("happy"))[0], seed=variant)


@cache
def puzzling_selfie() -> Photo:
    """A selfie whose one face the shipped model can't read with confidence (under `CANT_TELL_BELOW`): the bot asks
    instead. Found by reading FER2013's faces with the model itself, so that a new model version keeps the test."""
    model = EmotionModel.load()
    for index, face in enumerate(read_fer_faces(600)):
        photo = photo_of(face, seed=index)
        faces = model.analyze(photo.jpeg)
        if len(faces) == 1 and faces[0].confidence < CANT_TELL_BELOW:
            return photo
    raise AssertionError("the model reads every one of 600 FER2013 faces with confidence")


@cache
def group_photo() -> Photo:
    """Two faces side by side, the left one larger."""
    small, large = read_fer_faces(2, skip=40)
    return _photo(800, 480, [PlacedFace(large, (40, 80, 320, 320)), PlacedFace(small, (480, 140, 220, 220))], seed=7)


@cache
def empty_room() -> Photo:
    """A photo with no face in it."""
    return _photo(640, 480, [], seed=3)


def photo_of(face: np.ndarray, seed: int = 0) -> Photo:
    """A 640x480 selfie of one ~300 px face (a 48x48 FER2013 face)."""
    return _photo(640, 480, [PlacedFace(face, (170, 90, 300, 300))], seed=seed)


def _photo(width: int, height: int, faces: list[PlacedFace], seed: int) -> Photo:
    return Photo(encode(compose_photo(width, height, faces, np.random.default_rng(seed))), width, height)


def as_iphone_heic(photo: Photo) -> bytes:
    """The photo as an iPhone saves it: HEIC, its pixels stored sideways with EXIF orientation 6 to turn them
    upright."""
    upright = cv2.cvtColor(cv2.imdecode(np.frombuffer(photo.jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned a quarter anticlockwise: the viewer turns it clockwise
    output = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(np.rot90(upright, 1))).save(output, "HEIF", exif=exif.tobytes(), quality=90)
    return output.getvalue()


def png(width: int, height: int) -> bytes:
    ok, data = cv2.imencode(".png", np.full((height, width, 3), 128, np.uint8))
    assert ok
    return data.tobytes()


# ----- the database, read directly -----

rows = query  # rows(database, sql, *params), `?` placeholders, on either engine


RATE_LIMIT_TABLES = ("photo_events", "refusals")  # counted for every photo, whatever becomes of it


def snapshot(database: str | Path) -> dict[str, list[tuple]]:
    """Every row of every table but the rate limit's, to show that something changed nothing."""
    return {table: sorted(query(database, f"SELECT * FROM {table}"), key=repr) for table in tables(database)
            if table not in RATE_LIMIT_TABLES}


def wait_until_remembered(telegram: BotApiServer, database: str | Path, answer: dict) -> None:
    """Wait until the bot has stored what a press under its answer to a selfie needs (just after sending it)."""
    telegram.wait_until(lambda: rows(database, "SELECT 1 FROM answered_photos WHERE chat_id = ? AND message_id = ?",
                                     answer["chat"]["id"], answer["message_id"]), what="the answer to be stored")


def rows_about(database: str | Path, user_id: int) -> dict[str, int]:
    """How many rows of each table carry the user's id."""
    return {table: query(database, f"SELECT COUNT(*) FROM {table} WHERE user_id = ?", user_id)[0][0]
            for table in tables(database, having_column="user_id")}
