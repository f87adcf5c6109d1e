"""Photo bytes to upright pixels: what is read, how it is turned, and what is refused and why.

Every image here is made by the test itself, in memory: drawn with OpenCV, encoded by OpenCV or Pillow, and where
needed edited byte by byte (an EXIF orientation tag, a header claiming gigapixels, a file cut short).
"""

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile

from model import ImageError
from model.decode import MAX_BYTES, MAX_PIXELS, MIN_DECODED_SIDE, decode_image

# --- images made for the tests -------------------------------------------------------------------------------


def quadrants(width: int = 64, height: int = 48) -> np.ndarray:
    """A BGR picture whose four quadrants have four different colours, so every turn and flip shows."""
    image = np.empty((height, width, 3), np.uint8)
    image[:height // 2, :width // 2] = (0, 0, 220)  # red, top left
    image[:height // 2, width // 2:] = (0, 200, 0)  # green, top right
    image[height // 2:, :width // 2] = (220, 0, 0)  # blue, bottom left
    image[height // 2:, width // 2:] = (230, 230, 230)  # white, bottom right
    return image


def encoded(image: np.ndarray, extension: str, *params: int) -> bytes:
    ok, data = cv2.imencode(extension, image, list(params))
    assert ok
    return data.tobytes()


def pillow_encoded(image: np.ndarray, format: str, orientation: int = 1, **options) -> bytes:
    """A BGR picture saved by Pillow (which, with pillow-heif, writes HEIC too), with an EXIF orientation."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    output = io.BytesIO()
    Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).save(output, format, exif=exif.tobytes(), **options)
    return output.getvalue()


def exif_block(orientation: int, byte_order: bytes = b"MM") -> bytes:
    """A minimal EXIF (TIFF) block whose only tag is the orientation, written by hand."""
    order = ">" if byte_order == b"MM" else "<"
    entry = struct.pack(order + "HHIHH", 0x0112, 3, 1, orientation, 0)  # tag, SHORT, one value, value, padding
    return byte_order + struct.pack(order + "HI", 42, 8) + struct.pack(order + "H", 1) + entry + struct.pack(
        order + "I", 0)


def with_exif_orientation(jpeg: bytes, orientation: int, byte_order: bytes = b"MM") -> bytes:
    """The JPEG with an APP1 EXIF segment carrying `orientation` inserted right after its start marker."""
    body = b"Exif\x00\x00" + exif_block(orientation, byte_order)
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def handmade_png(width: int, height: int, colour_type: int, pixels: np.ndarray, bit_depth: int = 8) -> bytes:
    """A PNG written chunk by chunk, for the kinds OpenCV does not write (grey with alpha)."""
    rows = b"".join(b"\x00" + row.tobytes() for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(rows))
            + png_chunk(b"IEND", b""))


# What a camera stores for each EXIF orientation, given the upright picture (EXIF 2.3, tag 274).
STORED_AS = {
    1: lambda up: up,
    2: lambda up: up[:, ::-1],  # mirrored left-right
    3: lambda up: np.rot90(up, 2),  # upside down
    4: lambda up: up[::-1],  # mirrored top-bottom
    5: lambda up: up.transpose(1, 0, 2),  # mirrored along the main diagonal
    6: lambda up: np.rot90(up, 1),  # camera turned clockwise: upright again after a quarter turn clockwise
    7: lambda up: np.rot90(up, 2).transpose(1, 0, 2),  # mirrored along the other diagonal
    8: lambda up: np.rot90(up, -1),  # camera turned anticlockwise
}


def assert_looks_like(pixels: np.ndarray, expected: np.ndarray, tolerance: float) -> None:
    assert pixels.shape == expected.shape and pixels.dtype == np.uint8
    assert np.abs(pixels.astype(int) - expected.astype(int)).mean() <= tolerance


def refusal(data: bytes) -> ImageError:
    with pytest.raises(ImageError) as refused:
        decode_image(data)
    return refused.value


# --- what is read --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("extension, params, tolerance", [
    (".jpg", (cv2.IMWRITE_JPEG_QUALITY, 95), 4.0),
    (".png", (), 0.0),
    (".webp", (cv2.IMWRITE_WEBP_QUALITY, 90), 6.0),
    (".webp", (cv2.IMWRITE_WEBP_QUALITY, 101), 0.0),  # above 100: lossless WebP
], ids=["jpeg", "png", "webp-lossy", "webp-lossless"])
def test_jpeg_png_and_webp_photos_are_read_as_upright_bgr_pixels(extension, params, tolerance):
    picture = quadrants()
    image = decode_image(encoded(picture, extension, *params))
    assert_looks_like(image.pixels, picture, tolerance)
    assert (image.width, image.height, image.scale) == (64, 48, 1.0)


@pytest.mark.parametrize("format, tolerance, orientation", [
    ("HEIF", 4.0, 1), ("HEIF", 4.0, 6), ("HEIF", 4.0, 8), ("AVIF", 6.0, 1), ("AVIF", 6.0, 6), ("TIFF", 0.0, 1),
    ("TIFF", 0.0, 8), ("BMP", 0.0, 1),  # BMP carries no EXIF
], ids=["heic", "heic-6", "heic-8", "avif", "avif-6", "tiff", "tiff-8", "bmp"])
def test_heic_avif_tiff_and_bmp_photos_are_read_upright(format, tolerance, orientation):
    upright = quadrants()
    stored = np.ascontiguousarray(STORED_AS[orientation](upright))
    image = decode_image(pillow_encoded(stored, format, orientation, quality=95))
    assert_looks_like(image.pixels, upright, tolerance)
    assert (image.width, image.height, image.scale) == (64, 48, 1.0)


def test_the_first_frame_of_an_animated_gif_is_read():
    first, second = quadrants(), np.full((48, 64, 3), 90, np.uint8)
    frames = [Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)) for frame in (first, second)]
    output = io.BytesIO()
    frames[0].save(output, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert_looks_like(decode_image(output.getvalue()).pixels, first, 4.0)


def test_a_transparent_gif_is_read_over_white():
    picture = Image.new("P", (20, 10), 0)
    picture.putpalette([0, 0, 0, 200, 0, 0] + [0] * 762)
    picture.paste(1, (0, 0, 10, 10))  # red on the left, colour 0 (transparent) on the right
    output = io.BytesIO()
    picture.save(output, "GIF", transparency=0)
    pixels = decode_image(output.getvalue()).pixels
    assert (pixels[:, :10] == (0, 0, 200)).all() and (pixels[:, 10:] == 255).all()


def test_a_png_missing_only_its_end_chunk_is_read_since_every_pixel_is_there():
    png = encoded(quadrants(), ".png")
    assert_looks_like(decode_image(png[:-12]).pixels, quadrants(), 0.0)


def test_a_large_jpeg_is_read_reduced_and_its_scale_leads_back_to_the_original_pixels():
    picture = cv2.resize(quadrants(), (2560, 1920), interpolation=cv2.INTER_NEAREST)
    image = decode_image(encoded(picture, ".jpg"))
    assert max(image.pixels.shape[:2]) >= MIN_DECODED_SIDE
    assert image.pixels.shape[:2] == (480, 640)  # the biggest JPEG reduction that keeps MIN_DECODED_SIDE
    assert (image.width, image.height) == (2560, 1920)
    assert image.scale * image.pixels.shape[1] == image.width
    assert_looks_like(image.pixels, cv2.resize(picture, (640, 480), interpolation=cv2.INTER_AREA), 4.0)


@pytest.mark.parametrize("format", ["PNG", "HEIF", "WEBP"])
def test_a_large_photo_of_another_format_is_averaged_down_to_the_scale_a_jpeg_is_read_at(format):
    upright = cv2.resize(quadrants(), (2560, 1920), interpolation=cv2.INTER_NEAREST)
    stored = np.ascontiguousarray(STORED_AS[6](upright))
    image = decode_image(pillow_encoded(stored, format, 6, quality=95))
    assert image.pixels.shape[:2] == (480, 640) and (image.width, image.height) == (2560, 1920)
    assert image.scale * image.pixels.shape[1] == image.width
    assert_looks_like(image.pixels, cv2.resize(upright, (640, 480), interpolation=cv2.INTER_AREA), 6.0)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_turns_a_jpeg_upright(orientation):
    upright = quadrants()
    stored = np.ascontiguousarray(STORED_AS[orientation](upright))
    image = decode_image(with_exif_orientation(encoded(stored, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 95), orientation))
    assert_looks_like(image.pixels, upright, 4.0)
    assert (image.width, image.height) == (64, 48)


@pytest.mark.parametrize("byte_order", [b"MM", b"II"], ids=["big-endian", "little-endian"])
def test_the_exif_orientation_is_read_in_either_byte_order_and_on_reduced_jpegs(byte_order):
    upright = cv2.resize(quadrants(), (1600, 1200), interpolation=cv2.INTER_NEAREST)
    stored = np.ascontiguousarray(STORED_AS[6](upright))
    image = decode_image(with_exif_orientation(encoded(stored, ".jpg"), 6, byte_order))
    assert (image.width, image.height) == (1600, 1200)
    assert_looks_like(image.pixels, cv2.resize(upright, (800, 600), interpolation=cv2.INTER_AREA), 4.0)


def test_the_exif_orientation_of_a_png_is_honoured_too():
    upright = quadrants()
    png = encoded(np.ascontiguousarray(STORED_AS[8](upright)), ".png")
    ihdr_end = 8 + 25
    png = png[:ihdr_end] + png_chunk(b"eXIf", exif_block(8)) + png[ihdr_end:]
    assert_looks_like(decode_image(png).pixels, upright, 0.0)


@pytest.mark.parametrize("extension, params", [(".png", ()), (".webp", (cv2.IMWRITE_WEBP_QUALITY, 101))],
                         ids=["png", "webp"])
def test_transparent_pixels_become_white_and_opaque_ones_keep_their_colour(extension, params):
    picture = np.zeros((40, 60, 4), np.uint8)
    picture[:, :30] = (0, 0, 220, 255)  # opaque red on the left
    picture[:, 30:] = (50, 50, 50, 0)  # fully transparent on the right
    pixels = decode_image(encoded(picture, extension, *params)).pixels
    assert pixels.shape == (40, 60, 3)
    assert (pixels[:, :30] == (0, 0, 220)).all()
    assert (pixels[:, 30:] == 255).all()


def test_a_grey_png_with_an_alpha_channel_is_read_over_white():
    grey_alpha = np.zeros((20, 30, 2), np.uint8)
    grey_alpha[:, :15] = (100, 255)
    grey_alpha[:, 15:] = (100, 0)
    pixels = decode_image(handmade_png(30, 20, 4, grey_alpha)).pixels
    assert pixels.shape == (20, 30, 3)
    assert (pixels[:, :15] == 100).all() and (pixels[:, 15:] == 255).all()


@pytest.mark.parametrize("extension", [".png", ".jpg"])
def test_grey_images_become_three_equal_channels(extension):
    grey = cv2.cvtColor(quadrants(), cv2.COLOR_BGR2GRAY)
    pixels = decode_image(encoded(grey, extension)).pixels
    assert pixels.shape == (48, 64, 3)
    assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
    assert np.abs(pixels[..., 0].astype(int) - grey).mean() <= 2.0


def widened(pixels: np.ndarray) -> np.ndarray:
    """8-bit values as 16-bit ones whose low byte differs from the high byte, so cutting the wrong byte shows."""
    return pixels.astype(np.uint16) * 256 + 37


def test_16_bit_pngs_are_narrowed_to_8_bits():
    picture = quadrants()
    assert_looks_like(decode_image(encoded(widened(picture), ".png")).pixels, picture, 0.0)
    grey = cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY)
    assert_looks_like(decode_image(encoded(widened(grey), ".png")).pixels,
                      cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), 0.0)
    with_alpha = widened(np.dstack([picture, np.full(picture.shape[:2], 255, np.uint8)]))
    assert_looks_like(decode_image(encoded(with_alpha, ".png")).pixels, picture, 0.0)


# --- what is refused -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [
    b"Dear bot, here is my selfie.\n",
    b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n",
    b"\x00" * 1000,
    b"P6\n2 2\n255\n" + bytes(12),  # a PPM: Pillow reads it, but it is no format a phone sends
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",  # EPS would run Ghostscript: never opened
], ids=["text", "pdf", "zeros", "ppm", "eps"])
def test_what_is_not_a_photo_format_is_refused_naming_the_formats_read(data):
    error = refusal(data)
    assert error.kind == "not_image"
    assert "I can read JPEG, PNG, WebP, HEIC, AVIF, GIF, BMP and TIFF images" in str(error)


def test_empty_bytes_are_refused_as_an_empty_file():
    error = refusal(b"")
    assert error.kind == "not_image" and "empty" in str(error)


def test_image_error_is_a_value_error_for_callers_that_do_not_know_it():
    assert isinstance(refusal(b"text"), ValueError)


@pytest.mark.parametrize("cut", ["jpeg-half", "jpeg-no-end-marker", "jpeg-header-only", "png-half",
                                 "png-signature-only", "webp-half", "heic-half", "heic-header-only", "gif-half",
                                 "bmp-half", "tiff-half"])
def test_a_file_cut_short_is_refused_as_truncated(cut):
    picture = cv2.resize(quadrants(), (320, 240))
    jpeg, png = encoded(picture, ".jpg"), encoded(picture, ".png")
    webp = encoded(picture, ".webp", cv2.IMWRITE_WEBP_QUALITY, 90)
    heic = pillow_encoded(picture, "HEIF")
    gif, bmp, tiff = (pillow_encoded(picture, format) for format in ("GIF", "BMP", "TIFF"))
    data = {"jpeg-half": jpeg[:len(jpeg) // 2], "jpeg-no-end-marker": jpeg[:-2], "jpeg-header-only": jpeg[:30],
            "png-half": png[:len(png) // 2], "png-signature-only": png[:8], "webp-half": webp[:len(webp) // 2],
            "heic-half": heic[:len(heic) // 2], "heic-header-only": heic[:30],
            "gif-half": gif[:len(gif) // 2], "bmp-half": bmp[:len(bmp) // 2], "tiff-half": tiff[:len(tiff) // 2]}[cut]
    error = refusal(data)
    assert error.kind == "truncated"
    assert "cut short" in str(error)


def test_a_png_whose_pixel_data_is_damaged_is_refused():
    png = bytearray(encoded(cv2.resize(quadrants(), (320, 240)), ".png"))
    start = png.find(b"IDAT") + 4
    png[start:start + 40] = bytes(40)  # the chunk structure stays whole, the compressed pixels do not
    assert refusal(bytes(png)).kind == "not_image"


def _claims_pixels(data: bytes, kind: str, side: int) -> bytes:
    """The image with its header edited to claim `side` x `side` pixels (checksums kept right)."""
    data = bytearray(data)
    if kind == "jpeg":
        frame = data.find(b"\xff\xc0")  # baseline frame header: marker, length, precision, height, width
        data[frame + 5:frame + 9] = struct.pack(">HH", side, side)
    elif kind == "png":
        data[16:24] = struct.pack(">II", side, side)  # IHDR width and height, then its CRC
        data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    else:  # lossless WebP: 14-bit width-1 and height-1 after the VP8L signature byte
        assert data[12:16] == b"VP8L"
        bits = int.from_bytes(data[21:25], "little")
        bits = (bits & ~((1 << 28) - 1)) | (side - 1) | ((side - 1) << 14)
        data[21:25] = bits.to_bytes(4, "little")
    return bytes(data)


@pytest.mark.parametrize("side, words", [(7000, "7000x7000 pixels"), (16000, "far more than")],
                         ids=["over-the-budget", "over-twice-the-budget"])
@pytest.mark.parametrize("kind, extension, params", [
    ("jpeg", ".jpg", ()), ("png", ".png", ()), ("webp", ".webp", (cv2.IMWRITE_WEBP_QUALITY, 101))])
def test_a_decompression_bomb_is_refused_from_its_header_before_any_decoding(kind, extension, params, side, words,
                                                                              monkeypatch):
    bomb = _claims_pixels(encoded(np.full((16, 16, 3), 128, np.uint8), extension, *params), kind, side)
    assert len(bomb) < 2000

    def must_not_decode(*args):
        raise AssertionError("the bomb reached the decoder")

    monkeypatch.setattr(ImageFile.ImageFile, "load", must_not_decode)
    error = refusal(bomb)
    assert error.kind == "too_large"
    assert words in str(error) and f"{MAX_PIXELS // 1_000_000} megapixels" in str(error)


def test_more_bytes_than_telegram_allows_are_refused_before_reading_them():
    error = refusal(b"\xff\xd8\xff" + bytes(MAX_BYTES))
    assert error.kind == "too_large"
    assert f"{MAX_BYTES // 2**20} MB" in str(error)
