"""Starting, stopping and reconfiguring the bot: missing token, graceful shutdown, model hot swap, the CLI."""

import http.client
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot_harness import (REPO, RunningBot, agree, assert_clean_log, bot_environment, empty_room, free_port, new_user,
                         rows, selfie, snapshot, start_bot)
from db.database import prepare
from model import EmotionModel
from model.__main__ import read_image


def run_cli(*args: str, **environment: str) -> subprocess.CompletedProcess:
    clean = {name: value for name, value in os.environ.items() if not name.startswith("TELEGRAM_")}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=REPO, env={**clean, **environment},
                          capture_output=True, text=True, timeout=120)


def test_without_a_token_the_bot_says_how_to_get_one_and_exits():
    result = run_cli()
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN is not set" in result.stderr and "Traceback" not in result.stderr


def test_shutting_down_loses_no_rating(telegram, tmp_path):
    bot = start_bot(telegram, tmp_path)
    users = [new_user(telegram) for _ in range(4)]
    answers = []
    for user in users:
        agree(user)
        answers.append((user, user.wait_for_reply(after=selfie().send(user), contains="Rate them")))
    presses = [user.press_data(answer, button["callback_data"], wait=False) for user, answer in answers
               for row in answer["reply_markup"]["inline_keyboard"] for button in row if "👎" in button["text"]]
    telegram.wait_until(lambda: telegram.delivered_up_to >= telegram.latest_update_id,
                        what="the bot to fetch the presses")

    assert bot.stop() == 0, bot.log_text()  # SIGTERM while those presses are being handled
    assert "Database closed" in bot.log_text()
    assert_clean_log(bot)
    answered = [query for query in presses if query in telegram.callback_answers]
    stored, = rows(bot.database, "SELECT COUNT(*) FROM ratings WHERE thumbs_up = 0")
    assert stored[0] >= len(answered), "a press is answered only once its rating is stored"

    # Presses fetched but not yet handled were not confirmed to Telegram, which hands them out again.
    bot = start_bot(telegram, tmp_path)
    telegram.wait_until(lambda: all(query in telegram.callback_answers for query in presses),
                        what="every press to be answered")
    assert rows(bot.database, "SELECT COUNT(*) FROM ratings WHERE thumbs_up = 0") == [(len(presses),)]
    assert bot.stop() == 0


def test_a_promoted_model_is_used_after_sighup_without_a_restart(telegram, tmp_path):
    model_folder = tmp_path / "model"
    model_folder.mkdir()
    for name in ("emotion.tflite", "emotion.json"):
        shutil.copy(REPO / "model" / name, model_folder / name)
    bot = start_bot(telegram, tmp_path, MODEL_PATH=str(model_folder / "emotion.tflite"), MODEL_CHECK_SECONDS="3600")
    user = new_user(telegram)
    agree(user)
    user.wait_for_reply(after=selfie().send(user), contains="Rate them")
    (old_version,), = set(rows(bot.database, "SELECT model_version FROM suggestions WHERE user_id = ?", user.user_id))

    metadata = json.loads((model_folder / "emotion.json").read_text())
    metadata["version"] = "promoted-in-test"
    shutil.copy(REPO / "model" / "emotion.tflite", model_folder / "emotion.tflite")  # promoted as a new version
    (model_folder / "emotion.json").write_text(json.dumps(metadata))
    bot.process.send_signal(signal.SIGHUP)
    telegram.wait_until(lambda: "promoted-in-test" in bot.log_text(), what="the model to be reloaded")
    user.wait_for_reply(after=selfie(1).send(user), contains="Rate them")

    versions = rows(bot.database, "SELECT model_version FROM suggestions WHERE user_id = ? ORDER BY suggestion_id",
                    user.user_id)
    assert versions[0] == (old_version,) and versions[-1] == ("promoted-in-test",)
    assert bot.stop() == 0
    assert_clean_log(bot)


def test_suggest_runs_the_pipeline_on_an_image_without_telegram(tmp_path):
    image = tmp_path / "selfie.jpg"
    image.write_bytes(selfie().jpeg)
    result = run_cli("suggest", str(image), "--mode", "lift", "--json", DATABASE_PATH=str(tmp_path / "cli.sqlite3"))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["mode"] == "lift" and len(answer["faces"]) == 1 and 3 <= len(answer["songs"]) <= 5
    assert answer["reading"]["verdict"] in ("sure", "unsure", "cant_tell")
    assert answer["faces"] == read_image(EmotionModel.load(), image)["faces"], "as `python -m model --json` says"

    assert "songs from the bundled catalog" in result.stderr and not (tmp_path / "cli.sqlite3").exists()

    image.write_bytes(empty_room().jpeg)
    result = run_cli("suggest", str(image), DATABASE_PATH=str(tmp_path / "cli.sqlite3"))
    assert result.returncode == 1 and "No face" in result.stderr


def test_trying_suggest_leaves_the_bot_s_database_as_it_was(tmp_path):
    image, database = tmp_path / "selfie.jpg", tmp_path / "moodtunes.sqlite3"
    image.write_bytes(selfie().jpeg)
    prepare(database)  # as the bot does on its first start
    before = snapshot(database)
    for _ in range(3):
        result = run_cli("suggest", str(image), "--json", DATABASE_PATH=str(database))
        assert result.returncode == 0 and 3 <= len(json.loads(result.stdout)["songs"]) <= 5, result.stderr
        assert result.stderr == ""
    assert snapshot(database) == before


def test_behind_a_web_server_the_bot_takes_updates_by_webhook_and_checks_the_secret(telegram, tmp_path):
    port = free_port()
    public_url, secret = "https://moodtunes.example.org/telegram/updates", "webhook-secret_1"
    bot = start_bot(telegram, tmp_path, WEBHOOK_URL=public_url, WEBHOOK_SECRET=secret, PORT=str(port))
    assert telegram.webhook["url"] == public_url and telegram.webhook["secret_token"] == secret
    local_url = f"http://127.0.0.1:{port}/telegram/updates"
    telegram.route_webhook_to(local_url)
    try:
        user = new_user(telegram)
        assert "How MoodTunes works" in user.wait_for_reply(after=user.send("/help"))["text"]
        forged = urllib.request.Request(local_url, data=b'{"update_id": 1}', method="POST", headers={
            "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": "guessed"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=10)
        assert refused.value.code == 403
    finally:
        telegram.route_webhook_to(None)
    assert bot.stop() == 0
    assert_clean_log(bot)


@contextmanager
def bot_on_webhook(telegram, folder: Path) -> Iterator[tuple[RunningBot, int]]:
    """The bot taking updates by webhook on a free local port, Telegram posting to it; yields the bot and the port."""
    port = free_port()
    bot = start_bot(telegram, folder, WEBHOOK_URL="https://moodtunes.example.org/hook", PORT=str(port))
    telegram.route_webhook_to(f"http://127.0.0.1:{port}/hook")
    try:
        yield bot, port
    finally:
        telegram.downloads_open.set()
        telegram.route_webhook_to(None)


def test_the_webhook_answers_an_update_once_it_is_handled_even_if_its_handler_failed(telegram, tmp_path):
    with bot_on_webhook(telegram, tmp_path) as (bot, _):
        user = new_user(telegram)
        agree(user)
        telegram.sends_failing = 2  # the answer to /help, then the apology
        user.send("/help")
        failed = telegram.latest_update_id
        telegram.wait_until(lambda: telegram.webhook_answered(failed), what="the failed update to be answered")
        assert [status for update, status in telegram.webhook_posts if update == failed] == [200], \
            "answered once, with 200: Telegram does not post a failed update again"
        assert "How MoodTunes works" in user.wait_for_reply(after=user.send("/help"))["text"], "still serving"
    assert bot.stop() == 0
    assert "Error handling update" in bot.log_text() and "Could not apologise" in bot.log_text()


def test_a_webhook_bot_stopping_finishes_and_answers_the_updates_it_took_and_leaves_new_ones_to_telegram(
        telegram, tmp_path):
    with bot_on_webhook(telegram, tmp_path) as (bot, port):
        user = new_user(telegram)
        agree(user)
        telegram.downloads_open.clear()
        downloads = telegram.download_requests
        sent = selfie().send(user)
        photo = telegram.latest_update_id
        telegram.wait_until(lambda: telegram.download_requests > downloads, what="the photo's download")
        proxy = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # kept alive, as a reverse proxy does
        headers = {"Content-Type": "application/json",
                   "X-Telegram-Bot-Api-Secret-Token": telegram.webhook["secret_token"]}
        no_sender = {"update_id": 90002, "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}}}
        for expected in (200, 503):
            if expected == 503:
                bot.process.send_signal(signal.SIGTERM)
                telegram.wait_until(lambda: "updates before stopping" in bot.log_text(),
                                    what="the bot to stop")
            proxy.request("POST", "/hook", json.dumps(no_sender), headers)
            response = proxy.getresponse()
            response.read()
            assert response.status == expected
        user.send("/help")
        later = telegram.latest_update_id
        telegram.wait_until(lambda: any(update == later and status in (0, 503) for update, status in
                                        telegram.webhook_posts), what="the new update to be refused")
        telegram.downloads_open.set()
        assert "Rate them" in user.wait_for_reply(after=sent)["text"]
        assert bot.process.wait(timeout=30) == 0
        assert telegram.webhook_answered(photo) and not telegram.webhook_answered(later)
    assert_clean_log(bot)


def not_a_database(folder: Path) -> Path:
    (folder / "notes.sqlite3").write_text("shopping list: milk, eggs")
    return folder / "notes.sqlite3"


def from_the_future(folder: Path) -> Path:
    with sqlite3.connect(folder / "future.sqlite3") as connection:
        connection.execute("PRAGMA user_version = 99")
    return folder / "future.sqlite3"


def under_a_file(folder: Path) -> Path:
    (folder / "a-file").write_text("")
    return folder / "a-file" / "moodtunes.sqlite3"


def corrupt_model(folder: Path) -> Path:
    shutil.copy(REPO / "model" / "emotion.json", folder / "emotion.json")
    (folder / "emotion.tflite").write_bytes(b"not a model" * 100)
    return folder / "emotion.tflite"


def corrupt_metadata(folder: Path) -> Path:
    shutil.copy(REPO / "model" / "emotion.tflite", folder / "emotion.tflite")
    (folder / "emotion.json").write_text("{ half a file")
    return folder / "emotion.tflite"


@pytest.mark.parametrize("setting, value, complaint", [
    ("TELEGRAM_BOT_TOKEN", "7000000001:AAHk-a-token-Telegram-does-not-know", "refused TELEGRAM_BOT_TOKEN"),
    ("TELEGRAM_API_BASE_URL", "http://127.0.0.1:9", "Cannot reach the Bot API server at http://127.0.0.1:9"),
    ("TELEGRAM_API_BASE_URL", "api.telegram.org", "TELEGRAM_API_BASE_URL must be the address"),
    ("WEBHOOK_SECRET", "not allowed!", "WEBHOOK_SECRET may hold only"),
    ("MODEL_PATH", lambda folder: folder / "missing.tflite", "Cannot load the emotion model"),
    ("MODEL_PATH", corrupt_model, "Cannot load the emotion model"),
    ("MODEL_PATH", corrupt_metadata, "Cannot load the emotion model"),
    ("DATABASE_PATH", not_a_database, "Cannot use the database"),
    ("DATABASE_PATH", from_the_future, "newer than this code"),
    ("DATABASE_PATH", under_a_file, "Cannot use the database"),
    ("DATABASE_URL", "mysql://moodtunes@db/moodtunes", "DATABASE_URL must be a PostgreSQL address"),
    ("DATABASE_URL", "postgresql://moodtunes:pass-word-9@127.0.0.1:9/moodtunes",
     "Cannot use the database postgresql://moodtunes@127.0.0.1:9/moodtunes (DATABASE_URL or DATABASE_PATH): "),
], ids=["refused_token", "unreachable_server", "url_without_scheme", "bad_webhook_secret", "missing_model",
        "corrupt_model", "corrupt_metadata", "not_sqlite", "newer_schema", "unwritable_folder", "not_postgresql",
        "unreachable_postgresql"])
def test_a_start_up_failure_is_one_line_saying_what_to_fix_without_the_token(telegram, tmp_path, setting, value,
                                                                             complaint):
    value = str(value(tmp_path)) if callable(value) else value
    environment = bot_environment(telegram, tmp_path / "moodtunes.sqlite3", LOG_LEVEL="INFO", **{setting: value})
    result = subprocess.run([sys.executable, "-m", "bot"], cwd=REPO, env=environment, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and complaint in result.stderr, result.stderr
    assert environment["TELEGRAM_BOT_TOKEN"] not in result.stderr
    assert environment["TELEGRAM_BOT_TOKEN"].split(":")[1] not in result.stderr
    assert "pass-word-9" not in result.stderr
    problems = [line for line in result.stderr.splitlines() if "ERROR" in line or "CRITICAL" in line]
    assert problems == [], result.stderr


def test_a_base_url_copied_with_its_bot_suffix_works(telegram, tmp_path):
    bot = start_bot(telegram, tmp_path, TELEGRAM_API_BASE_URL=telegram.base_url + "/bot")
    user = new_user(telegram)
    assert "How MoodTunes works" in user.wait_for_reply(after=user.send("/help"))["text"]
    assert bot.stop() == 0
    assert_clean_log(bot)



def post(url: str, body: bytes, secret: str | None) -> int | str:
    """The HTTP status the webhook answers, or "closed" when it hangs up on the request."""
    headers = {"Content-Type": "application/json", **({"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {})}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST", headers=headers),
                                    timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, ConnectionError):
        return "closed"


def test_the_webhook_refuses_junk_and_oversized_bodies_in_one_log_line_each(telegram, tmp_path):
    port, secret = free_port(), "webhook-secret_2"
    bot = start_bot(telegram, tmp_path, WEBHOOK_URL="https://moodtunes.example.org/hook", WEBHOOK_SECRET=secret,
                    PORT=str(port))
    url = f"http://127.0.0.1:{port}/hook"
    junk = b"JUNK-" * (2 * 1024 * 1024 // 5)
    no_sender = {"update_id": 90001, "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"},
                                                 "text": "no from"}}
    assert post(url, junk, None) in (403, "closed"), "refused before the body is read"
    assert post(url, junk, secret) in (400, 413, "closed"), "a body over the cap is refused"
    assert post(url, b"JUNK-not-json", secret) == 400
    assert post(url, b"[1, 2]", secret) == 400 and post(url, b"null", secret) == 400
    assert post(url, json.dumps(no_sender).encode(), secret) == 200
    assert post(url, b"{}", "wrong") == 403

    user = new_user(telegram)
    telegram.route_webhook_to(url)
    try:
        assert "How MoodTunes works" in user.wait_for_reply(after=user.send("/help"))["text"], "still serving"
    finally:
        telegram.route_webhook_to(None)
    assert bot.stop() == 0
    log = bot.log_text()
    assert_clean_log(bot)
    assert "JUNK" not in log and "CRITICAL" not in log and " ERROR " not in log and secret not in log
    assert log.count("Webhook refused") >= 4


def test_the_consent_age_is_configurable(telegram, tmp_path):
    bot = start_bot(telegram, tmp_path, CONSENT_MIN_AGE="13")
    try:
        user = new_user(telegram, language_code="de")
        greeting = user.wait_for_reply(after=user.send("/start"))
        assert "MoodTunes ist für Menschen ab 13 Jahren." in greeting["text"]
        assert greeting["reply_markup"]["inline_keyboard"][0][0]["text"] == "✅ Einverstanden, ich bin mindestens 13"
    finally:
        assert bot.stop() == 0
    assert_clean_log(bot)
