"""Three `python -m bot` processes in webhook mode on one database, behind a round-robin load balancer, behave as
one bot: a press reaches another replica than the photo's answer, the rate limit is shared, and a replica killed
mid-load loses nothing Telegram was told it had taken."""

import json
import shutil
import time
from pathlib import Path

import pytest

from bot import texts
from bot_harness import REPO, agree, assert_clean_log, empty_room, new_user, rows, selfie
from bot_replicas import start_cluster

REPLICAS = 3
PHOTOS_PER_MINUTE = 3  # the killed replica's photos, delivered again, count once: 3 photos per user fit


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_database(request, tmp_path_factory):
    """The one database every replica uses: a SQLite file on this machine, or a PostgreSQL database."""
    if request.param == "postgresql":
        return request.getfixturevalue("new_postgresql_database")()
    return tmp_path_factory.mktemp("shared") / "moodtunes.sqlite3"


@pytest.fixture(scope="module")
def shared_model(tmp_path_factory) -> Path:
    """The model folder every replica runs from, as on a volume they all mount."""
    folder = tmp_path_factory.mktemp("model")
    for name in ("emotion.tflite", "emotion.json"):
        shutil.copy(REPO / "model" / name, folder / name)
    return folder / "emotion.tflite"


@pytest.fixture(scope="module")
def cluster(telegram, shared_database, shared_model, tmp_path_factory):
    replicas = start_cluster(telegram, tmp_path_factory.mktemp("replicas"), REPLICAS, shared_database,
                             RATE_LIMIT_PHOTOS_PER_MINUTE=str(PHOTOS_PER_MINUTE), MODEL_PATH=str(shared_model),
                             MODEL_CHECK_SECONDS="1")
    yield replicas
    assert replicas.stop() == [0] * (REPLICAS - len(replicas.killed))
    for number, replica in enumerate(replicas.replicas):
        if number not in replicas.killed:
            assert_clean_log(replica)


def press(user, message: dict, button: str) -> tuple[str, int]:
    """Press a button (nobody else is using the bot) and return the answer's text and the update's id."""
    answer = user.press(user.message(message["message_id"]), button)
    return answer.get("text", ""), user.server.latest_update_id


def test_buttons_under_an_answer_from_one_replica_work_on_the_others(telegram, cluster, shared_database):
    user = new_user(telegram)
    agree(user)
    sent = selfie().send(user)
    photo_update = telegram.latest_update_id
    answer = user.wait_for_reply(after=sent, contains="Rate them")
    telegram.wait_until(lambda: telegram.webhook_answered(photo_update), what="the photo to be acknowledged")

    rated, rate_update = press(user, answer, "1 👍")
    assert rated == "Saved 👍, thanks!"
    asked, fix_update = press(user, answer, "🙅 That's not my mood")
    assert asked == "Which one is it?"
    telegram.wait_until(lambda: "fix:cancel" in str(user.message(answer["message_id"])["reply_markup"]),
                        what="the mood picker")
    press(user, answer, "fix:cancel")
    telegram.wait_until(lambda: "rate:" in str(user.message(answer["message_id"])["reply_markup"]),
                        what="the song buttons to come back")
    press(user, answer, "🙅 That's not my mood")
    picker = telegram.wait_until(lambda: "mood:" in str(user.message(answer["message_id"]).get("reply_markup"))
                                 and user.message(answer["message_id"]))
    choice = picker["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    noted, pick_update = press(user, picker, choice)
    assert noted == "Thanks, noted!"

    photo_replica = cluster.balancer.replica_of(photo_update)
    assert photo_replica is not None
    assert {cluster.balancer.replica_of(update) for update in (rate_update, fix_update, pick_update)} \
        .isdisjoint({photo_replica}), "every press was taken by another replica than the photo"
    assert rows(shared_database, "SELECT COUNT(*) FROM ratings WHERE user_id = ?", user.user_id) == [(1,)]
    assert rows(shared_database, "SELECT corrected FROM emotion_feedback WHERE user_id = ?", user.user_id) == \
        [(choice.removeprefix("mood:"),)]


def test_the_rate_limit_and_its_single_slow_down_hold_across_replicas(telegram, cluster, shared_database):
    user = new_user(telegram)
    agree(user)
    first_update = telegram.latest_update_id + 1
    sent = [empty_room().send(user) for _ in range(PHOTOS_PER_MINUTE + 3)]
    photo_updates = range(first_update, telegram.latest_update_id + 1)
    telegram.wait_until(lambda: all(telegram.webhook_answered(update) for update in photo_updates),
                        what="every photo to be acknowledged")
    answers = [message["text"] for message in telegram.chat(user.user_id) if message["message_id"] > sent[0]]
    assert sorted(answers) == sorted([texts.NO_FACE] * PHOTOS_PER_MINUTE
                                     + [texts.SLOW_DOWN.format(limit=PHOTOS_PER_MINUTE)])
    assert len({cluster.balancer.replica_of(update) for update in photo_updates}) == REPLICAS
    assert rows(shared_database, "SELECT COUNT(*) FROM photo_events WHERE user_id = ?", user.user_id) == \
        [(PHOTOS_PER_MINUTE,)]


def test_a_model_promoted_into_the_shared_folder_reaches_every_replica(telegram, cluster, shared_database,
                                                                     shared_model):
    metadata = json.loads(shared_model.with_suffix(".json").read_text())
    metadata["version"] = f"promoted-{shared_model.parent.name}"
    shutil.copy(REPO / "model" / "emotion.tflite", shared_model)  # as train.retrain promotes: both files rewritten
    shared_model.with_suffix(".json").write_text(json.dumps(metadata))
    time.sleep(1.1)  # past MODEL_CHECK_SECONDS: each replica looks at the files before its next photo

    def every_replica_loaded_it() -> bool:
        return all(f"Loaded model version {metadata['version']}" in replica.log_text() for replica in cluster.replicas)

    for _ in range(REPLICAS):  # photos one after the other, which the load balancer hands out in turn
        user = new_user(telegram)
        agree(user)
        for variant in range(PHOTOS_PER_MINUTE):
            if not every_replica_loaded_it():
                user.wait_for_reply(after=selfie(variant).send(user), contains="Rate them")
    assert every_replica_loaded_it()
    user = new_user(telegram)
    agree(user)
    for variant in range(PHOTOS_PER_MINUTE):
        user.wait_for_reply(after=selfie(variant).send(user), contains="Rate them")
    assert set(rows(shared_database, "SELECT model_version FROM readings WHERE user_id = ?", user.user_id)) == \
        {(metadata["version"],)}


def test_a_replica_killed_mid_load_loses_no_acknowledged_update(telegram, cluster, shared_database):
    users = [new_user(telegram, f"User{number}") for number in range(5)]
    for user in users:
        agree(user)
    first_update = telegram.latest_update_id + 1
    first_photo, presses = {}, {}

    def send_photo(user, variant: int) -> int:
        sent = selfie(variant % 8).send(user)
        first_photo.setdefault(user.user_id, sent)
        return sent

    def rate_answer(user, sent: int) -> None:
        """Wait for the answer to a photo and press its first 👍 (not waiting for that)."""
        answer = user.wait_for_reply(after=sent, timeout=60)
        data = answer["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        presses[user.press_data(answer, data, wait=False)] = int(data.split(":")[1])

    def photos_of(updates) -> list[int]:
        return [update for update in updates if "photo" in telegram.pushed.get(update, {}).get("message", {})]

    for number, user in enumerate(users):
        rate_answer(user, send_photo(user, number))
    telegram.downloads_open.clear()  # the next photos stay in the replicas' hands, each stopped at its download
    downloads = telegram.download_requests
    sent = [send_photo(user, number + 1) for number, user in enumerate(users)]
    try:
        telegram.wait_until(lambda: telegram.download_requests >= downloads + len(users), what="the photos' downloads")
        in_hand = photos_of(cluster.kill_when(1, photos_of))
    finally:
        telegram.downloads_open.set()
    for user, message_id in zip(users, sent):
        rate_answer(user, message_id)
    for number, user in enumerate(users):
        rate_answer(user, send_photo(user, number + 2))
    updates = range(first_update, telegram.latest_update_id + 1)
    telegram.wait_until(lambda: all(telegram.webhook_answered(update) for update in updates), timeout=60,
                        what="every update to be acknowledged")
    telegram.wait_until(lambda: all(query in telegram.callback_answers for query in presses), timeout=60,
                        what="every rating to be answered")

    assert in_hand, "the replica was killed with photos in hand"
    for user in users:
        answers = [message["text"] for message in telegram.chat(user.user_id)
                   if message["message_id"] > first_photo[user.user_id]]
        assert all("Rate them" in answer for answer in answers), answers
        in_hand_of_user = [update for update in in_hand
                           if telegram.pushed[update]["message"]["from"]["id"] == user.user_id]
        assert 3 <= len(answers) <= 3 + len(in_hand_of_user), \
            "every photo is answered, and twice only if the killed replica had it in hand"
    suggestions = sorted(set(presses.values()))
    assert rows(shared_database, "SELECT suggestion_id FROM ratings WHERE suggestion_id IN "
                f"({','.join('?' * len(suggestions))}) ORDER BY suggestion_id", *suggestions) == \
        [(suggestion,) for suggestion in suggestions], "every rating acknowledged to Telegram is stored"
