"""The real bot learns a user's face from their corrections (model/personal.py), says when that changed a reading,
and unlearns it on request; on SQLite and PostgreSQL. The face used is found with the shipped model itself."""

from functools import cache

import pytest

from bot import texts
from bot.replies import EMOTION_NAMES
from bot_harness import (Photo, agree, assert_clean_log, new_user, photo_of, rows, rows_about, start_bot,
                         wait_until_remembered)
from model import EmotionModel
from model.confidence import CANT_TELL_BELOW
from model.personal import Lesson, learn, read_for_user
from tools.fer_photos import read_fer_faces

CORRECTIONS = 3
LEARNT = "Learnt from your corrections: without them I'd have read {mood}."


@cache
def resting_face() -> tuple[Photo, str, str]:
    """A selfie the model reads with some doubt, what it reads (`first`) and its runner-up (`taught`), such that
    correcting it to the runner-up three times (as the bot stores those lessons) makes the fourth reading the
    runner-up, and the first three corrections are each needed."""
    model = EmotionModel.load()
    for number, face in enumerate(read_fer_faces(400, skip=2000)):
        photo = photo_of(face, seed=number)
        faces = model.analyze(photo.jpeg)
        if len(faces) != 1:  # the answer would open with "I see 2 faces"
            continue
        output = faces[0].probabilities
        first, taught = sorted(output, key=output.get, reverse=True)[:2]
        stored = {label: round(p, 4) for label, p in output.items()}  # as the database keeps it
        reads = [read_for_user(output, learn([Lesson(stored, said=taught)] * count)) for count in range(4)]
        tops = [max(read, key=read.get) for read in reads]
        if tops == [first] * CORRECTIONS + [taught] and min(max(read.values()) for read in reads) >= CANT_TELL_BELOW:
            return photo, first, taught
    raise AssertionError("no FER2013 face among those tried that three corrections turn: try others")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def learning_bot(request, telegram, tmp_path_factory):
    """The bot, with room for a few more photos a minute than the tests' usual 3."""
    database = request.getfixturevalue("new_postgresql_database")() if request.param == "postgresql" else None
    bot = start_bot(telegram, tmp_path_factory.mktemp("bot"), database, RATE_LIMIT_PHOTOS_PER_MINUTE="20")
    yield bot
    assert bot.stop() == 0, bot.log_text()
    assert_clean_log(bot)


def correct(telegram, bot, user, photo: Photo, emotion: str) -> dict:
    """Send the photo, say "that's not my mood" and pick `emotion`; returns the answer as first sent."""
    answer = user.wait_for_reply(after=photo.send(user), contains="Rate them")
    wait_until_remembered(telegram, bot.database, answer)
    user.press(answer, "fix")
    telegram.wait_until(lambda: "fix:cancel" in str(user.message(answer["message_id"]).get("reply_markup")))
    user.press(user.message(answer["message_id"]), f"mood:{emotion}")
    telegram.wait_until(lambda: "Thanks for telling me" in user.message(answer["message_id"])["text"])
    return answer


def test_after_three_corrections_the_next_photo_gets_the_learnt_reading_and_says_so(telegram, learning_bot):
    photo, first, taught = resting_face()
    user, bystander = new_user(telegram), new_user(telegram)
    agree(user)
    for _ in range(CORRECTIONS):
        answer = correct(telegram, learning_bot, user, photo, taught)
        assert "Learnt from your corrections" not in answer["text"]
        assert f"<b>{EMOTION_NAMES[first]}</b>" in answer["text"] or EMOTION_NAMES[first] in answer["text"]

    fourth = user.wait_for_reply(after=photo.send(user), contains="Rate them")["text"]
    assert f"<b>{EMOTION_NAMES[taught]}</b>" in fourth.split("\n")[0]
    assert LEARNT.format(mood=EMOTION_NAMES[first]) in fourth
    assert rows(learning_bot.database, "SELECT emotion FROM readings WHERE user_id = ? ORDER BY reading_id",
                user.user_id)[-1] == (taught,), "the mood log holds what the bot read"

    agree(bystander)
    theirs = bystander.wait_for_reply(after=photo.send(bystander), contains="Rate them")["text"]
    assert f"<b>{EMOTION_NAMES[first]}</b>" in theirs.split("\n")[0] and "Learnt from" not in theirs


def test_unlearning_the_face_in_consent_reads_it_as_anyone_s_again_and_forget_leaves_nothing(telegram,
                                                                                              learning_bot):
    photo, first, taught = resting_face()
    user = new_user(telegram)
    agree(user)
    for _ in range(CORRECTIONS):
        correct(telegram, learning_bot, user, photo, taught)
    settings = user.wait_for_reply(after=user.send("/consent"), contains="You agreed on")
    assert "with what 3 corrections of yours taught me" in settings["text"]
    assert user.press(settings, "🧠 Unlearn my face")["text"] == texts.FACE_UNLEARNT
    telegram.wait_until(lambda: "taught me" not in user.message(settings["message_id"])["text"])
    assert "face:forget" not in str(user.message(settings["message_id"])["reply_markup"])

    again = user.wait_for_reply(after=photo.send(user), contains="Rate them")["text"]
    assert f"<b>{EMOTION_NAMES[first]}</b>" in again.split("\n")[0] and "Learnt from" not in again

    question = user.wait_for_reply(after=user.send("/forget"), contains="Go ahead?")
    user.press(question, "🗑 Yes, delete everything")
    telegram.wait_until(lambda: user.message(question["message_id"])["text"].startswith("Done."))
    assert set(rows_about(learning_bot.database, user.user_id).values()) == {0}
