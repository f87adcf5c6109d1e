"""Starting, stopping and reconfiguring the bot: missing token, graceful shutdown, model hot swap, the CLI."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from bot_harness import REPO, agree, assert_clean_log, empty_room, new_user, rows, selfie, snapshot, start_bot
from db.database import prepare_file
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
    metadata["files"]["emotion.tflite"] = metadata["files"]["emotion_float.tflite"]  # the file promoted below
    shutil.copy(REPO / "model" / "emotion_float.tflite", model_folder / "emotion.tflite")
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
    prepare_file(database)  # as the bot does on its first start
    before = snapshot(database)
    for _ in range(3):
        result = run_cli("suggest", str(image), "--json", DATABASE_PATH=str(database))
        assert result.returncode == 0 and 3 <= len(json.loads(result.stdout)["songs"]) <= 5, result.stderr
        assert result.stderr == ""
    assert snapshot(database) == before


def test_behind_a_web_server_the_bot_takes_updates_by_webhook_and_checks_the_secret(telegram, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
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
