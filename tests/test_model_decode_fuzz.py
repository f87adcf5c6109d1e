"""Damaged photos of every kind a phone sends: whatever the bytes, decode_image gives pixels or an ImageError.

Seeded, so a failure replays: each case is a real JPEG, PNG, WebP or HEIC made in memory and then damaged the way
uploads and hostile files are (bytes flipped, cut short, bytes inserted, a header field set to its extreme).
"""

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from model import ImageError
from model.decode import decode_image

CASES_PER_FORMAT = 300


def photo_bytes(format: str) -> bytes:
    picture = np.random.default_rng(7).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    picture = cv2.GaussianBlur(picture, (0, 0), 2)  # some structure, so the encoders do real work
    exif = Image.Exif()
    exif[0x0112] = 6
    output = io.BytesIO()
    Image.fromarray(picture).save(output, format, exif=exif.tobytes(), quality=80)
    return output.getvalue()


def damaged(data: bytes, rng: np.random.Generator) -> bytes:
    """One random kind of damage; the header (first 64 bytes) is hit as often as the rest."""
    data = bytearray(data)
    where = int(rng.integers(0, min(64, len(data)))) if rng.random() < 0.5 else int(rng.integers(0, len(data)))
    kind = rng.integers(4)
    if kind == 0:  # a few bytes flipped
        for _ in range(int(rng.integers(1, 5))):
            data[where] ^= int(rng.integers(1, 256))
            where = int(rng.integers(0, len(data)))
    elif kind == 1:  # cut short
        del data[where:]
    elif kind == 2:  # bytes inserted
        data[where:where] = rng.integers(0, 256, int(rng.integers(1, 32)), dtype=np.uint8).tobytes()
    else:  # a field set to its extreme: sizes, lengths and offsets claim the most they can
        data[where:where + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff"])
    return bytes(data)


@pytest.mark.parametrize("format", ["JPEG", "PNG", "WEBP", "HEIF"])
def test_damaged_photos_give_pixels_or_an_image_error_and_nothing_else(format):
    original, rng = photo_bytes(format), np.random.default_rng(2026)
    kinds = []
    for case in range(CASES_PER_FORMAT):
        data = damaged(original, rng)
        try:
            image = decode_image(data)
        except ImageError as error:
            kinds.append(error.kind)
            assert str(error), "every refusal explains itself"
        except Exception as error:  # noqa: BLE001 (the point of the test)
            pytest.fail(f"case {case} of {format}: {type(error).__name__}: {error}")
        else:
            kinds.append("read")
            assert image.pixels.dtype == np.uint8 and image.pixels.ndim == 3 and image.pixels.shape[2] == 3
    assert set(kinds) <= {"read", "not_image", "truncated", "too_large"}
    assert "read" in kinds and len(set(kinds)) > 1, "the damage varied: some files still read, some not"
