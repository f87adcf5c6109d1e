"""Bad input, end to end: each kind gets its own friendly answer, and the database does not change."""

import struct
import time
import zlib

import cv2
import numpy as np
import pytest

from bot import texts
from bot_harness import agree, empty_room, new_user, png, selfie, snapshot
from model import EmotionModel, ImageError
from tools.fer_photos import encode

JPEG_START = selfie().jpeg[:2000]


@pytest.fixture
def user(telegram, running_bot):
    person = new_user(telegram)
    agree(person)
    return person


@pytest.fixture
def other_user(telegram, running_bot):
    person = new_user(telegram, "Sam")
    agree(person)
    return person


@pytest.fixture
def unchanged_database(running_bot):
    before = snapshot(running_bot.database)
    yield
    assert snapshot(running_bot.database) == before


def test_a_photo_before_consent_gets_a_reminder_and_is_not_even_downloaded(telegram, running_bot, unchanged_database):
    user = new_user(telegram)
    downloads = len(telegram.downloads)
    reminder = user.wait_for_reply(after=selfie().send(user))
    assert reminder["text"] == texts.CONSENT_NEEDED.format(age=16)
    assert "consent:yes" in str(reminder["reply_markup"])
    assert len(telegram.downloads) == downloads


def test_a_photo_without_a_face_is_explained(user, unchanged_database):
    assert user.wait_for_reply(after=empty_room().send(user))["text"] == texts.NO_FACE


def test_a_non_image_document_is_refused_by_its_type_without_downloading_it(telegram, user, unchanged_database):
    downloads = len(telegram.downloads)
    sent = user.send_document(b"%PDF-1.7 not a selfie", "report.pdf", "application/pdf")
    answer = user.wait_for_reply(after=sent)["text"]
    assert answer == texts.WRONG_FILE_TYPE.format(kind="application/pdf")
    assert len(telegram.downloads) == downloads


def test_an_oversized_file_is_refused_before_downloading_it(telegram, user, unchanged_database):
    downloads = len(telegram.downloads)
    sent = user.send_document(selfie().jpeg, "huge.jpg", "image/jpeg", declared_size=25 * 1024 * 1024)
    # The limit is the model's (model.decode.MAX_BYTES), Telegram's own for files a bot downloads.
    assert user.wait_for_reply(after=sent)["text"] == texts.FILE_TOO_BIG.format(size=25, limit=20)
    assert len(telegram.downloads) == downloads


def model_refuses(content: bytes) -> str:
    """The kind of problem the model finds with an image, which the bot explains in the user's words."""
    with pytest.raises(ImageError) as refusal:
        EmotionModel.load().analyze(content)
    return refusal.value.kind


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` pixels: a decompression bomb."""
    small = bytearray(png(8, 8))
    small[16:24] = struct.pack(">II", width, height)
    small[29:33] = struct.pack(">I", zlib.crc32(bytes(small[12:29])))
    return bytes(small)


@pytest.mark.parametrize("content, kind", [
    (b"%PDF-1.7 not a selfie", "not_image"),
    (JPEG_START, "truncated"),
    (bomb_png(12000, 12000), "too_large"),
], ids=["not_an_image", "truncated", "too_many_pixels"])
def test_an_image_file_the_model_cannot_read_gets_an_explanation_of_what_is_wrong(user, unchanged_database, content,
                                                                                  kind):
    sent = user.send_document(content, "selfie.png", "image/png")
    assert model_refuses(content) == kind
    assert user.wait_for_reply(after=sent)["text"] == texts.IMAGE_PROBLEMS[kind]


def test_a_flood_of_photos_is_slowed_down_per_user_and_answered_once(telegram, user, other_user, unchanged_database):
    # The bot under test allows 3 photos a minute per user.
    sent = [empty_room().send(user) for _ in range(12)]
    answers = [reply["text"] for reply in user.wait_for_replies(after=sent[0], count=4)]
    assert answers.count(texts.SLOW_DOWN.format(limit=3)) == 1 and answers.count(texts.NO_FACE) == 3
    telegram.wait_until(lambda: telegram.delivered_up_to >= telegram.latest_update_id, what="the flood to arrive")
    time.sleep(1)  # the rest of the flood would be answered within this
    assert len([m for m in telegram.chat(user.user_id) if m["message_id"] > sent[0]]) == 4, \
        "the rest of the flood gets no answer"
    assert other_user.wait_for_reply(after=empty_room().send(other_user))["text"] == texts.NO_FACE, \
        "others are not slowed"


def gradient_with_text() -> bytes:
    """A grey gradient with a line of text on it: no face, though BlazeFace alone sees one."""
    shade = np.linspace(40, 220, 1280, dtype=np.float32)[None, :].repeat(960, axis=0)
    picture = cv2.cvtColor(shade.astype(np.uint8), cv2.COLOR_GRAY2BGR)
    cv2.putText(picture, "Lorem ipsum dolor sit amet", (128, 480), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (20, 20, 20), 4)
    return encode(picture)


def test_a_grey_gradient_with_text_is_not_read_as_a_face(user, unchanged_database):
    assert user.wait_for_reply(after=user.send_photo(gradient_with_text(), 1280, 960))["text"] == texts.NO_FACE


def test_a_tiny_image_is_called_too_small_not_faceless(user, unchanged_database):
    answer = user.wait_for_reply(after=user.send_document(png(8, 8), "tiny.png", "image/png"))["text"]
    assert answer == texts.IMAGE_PROBLEMS["too_small"]


def test_a_file_just_over_the_limit_says_a_size_over_the_limit(user, unchanged_database):
    sent = user.send_document(selfie().jpeg, "big.jpg", "image/jpeg", declared_size=20 * 2**20 + 1)
    answer = user.wait_for_reply(after=sent)["text"]
    assert answer == texts.FILE_TOO_BIG.format(size=20.1, limit=20) and "That file is 20.1 MB" in answer


def test_a_file_too_big_for_telegram_to_hand_over_is_explained(user, running_bot, unchanged_database):
    # No declared size: the bot learns the file is too big only when Telegram refuses to hand it over.
    sent = user.send_document(b"\xff\xd8" + bytes(21 * 2**20), "huge.jpg", "image/jpeg", declared_size=0)
    assert user.wait_for_reply(after=sent)["text"] == texts.FILE_TOO_BIG_TO_DOWNLOAD.format(limit=20)
    assert "Traceback" not in running_bot.log_text()


def test_a_failed_download_is_explained(telegram, user, running_bot, unchanged_database):
    telegram.downloads_fail = True
    try:
        assert user.wait_for_reply(after=selfie().send(user))["text"] == texts.DOWNLOAD_FAILED
    finally:
        telegram.downloads_fail = False
    assert "Traceback" not in running_bot.log_text()


def test_a_flood_of_photos_before_consent_gets_one_reminder_and_does_not_use_up_the_limit(telegram, running_bot):
    user = new_user(telegram)
    first = empty_room().send(user)
    for _ in range(11):
        empty_room().send(user)
    telegram.wait_until(lambda: telegram.delivered_up_to >= telegram.latest_update_id, what="the flood to arrive")
    reminder = user.wait_for_reply(after=first, contains="I need your okay")
    agree(user)
    after_agreeing = empty_room().send(user)
    assert user.wait_for_reply(after=after_agreeing)["text"] == texts.NO_FACE, "no 'Whoa' for the first photo"
    reminders = [m for m in telegram.chat(user.user_id) if m["text"] == texts.CONSENT_NEEDED.format(age=16)]
    assert reminders == [reminder]


def test_a_message_telegram_refuses_with_retry_after_is_sent_once_the_wait_is_over(telegram, user, running_bot):
    telegram.sends_refused = 1
    sent = empty_room().send(user)
    assert user.wait_for_reply(after=sent)["text"] == texts.NO_FACE
    assert telegram.sends_refused == 0 and "Traceback" not in running_bot.log_text()
