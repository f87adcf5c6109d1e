"""Bad input, end to end: each kind gets its own friendly answer, and the database does not change."""

import struct
import zlib

import pytest

from bot import texts
from bot_harness import agree, empty_room, new_user, png, selfie, snapshot
from model import EmotionModel, ImageError

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


def test_a_flood_of_photos_is_slowed_down_per_user(user, other_user, unchanged_database):
    # The bot under test allows 3 photos a minute per user.
    sent = [empty_room().send(user) for _ in range(4)]
    answers = [reply["text"] for reply in user.wait_for_replies(after=sent[0], count=4)]
    assert answers.count(texts.SLOW_DOWN.format(limit=3)) == 1 and answers.count(texts.NO_FACE) == 3
    assert other_user.wait_for_reply(after=empty_room().send(other_user))["text"] == texts.NO_FACE, \
        "others are not slowed"
