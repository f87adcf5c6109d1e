"""Image bytes to pixels, refusing anything that is not a whole JPEG, PNG or WebP of a sane size.

The header is read first, by hand, to learn the format, the pixel dimensions, whether there is an alpha channel
and the EXIF orientation; only then does OpenCV decode, so a decompression bomb (a small file that claims
gigapixels) is refused before a byte of it is inflated. Large JPEGs are decoded at 1/2, 1/4 or 1/8 scale in the
DCT domain (much faster, much less memory) as long as the result keeps at least `MIN_DECODED_SIDE` pixels on its
long side, which is ample for finding faces and cutting 48x48 crops. Transparent pixels are laid over white, grey
images are widened to three channels, 16-bit images narrowed to 8.
"""

import struct
from dataclasses import dataclass

import cv2
import numpy as np

MAX_BYTES = 20 * 1024 * 1024  # Telegram's own limit for files a bot can download
MAX_PIXELS = 40_000_000  # 40 megapixels; a 4000x3000 phone photo is 12
MIN_SIDE = 20  # pixels; a smaller picture cannot hold a face the detector could find
MIN_DECODED_SIDE = 640  # long side; see the module docstring
JPEG_REDUCTIONS = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
# EXIF orientation (TIFF tag 274) -> what turns the stored pixels upright.
UPRIGHT = {
    2: lambda img: cv2.flip(img, 1),
    3: lambda img: cv2.rotate(img, cv2.ROTATE_180),
    4: lambda img: cv2.flip(img, 0),
    5: lambda img: cv2.transpose(img),
    6: lambda img: cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE),
    7: lambda img: cv2.rotate(cv2.transpose(img), cv2.ROTATE_180),
    8: lambda img: cv2.rotate(img, cv2.ROTATE_90_COUNTERCLOCKWISE),
}


class ImageError(ValueError):
    """Bytes that cannot be turned into a photo; `kind` is "not_image", "truncated", "too_large" or "too_small"."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Header:
    format: str  # "jpeg", "png" or "webp"
    width: int  # as stored, before EXIF orientation
    height: int
    has_alpha: bool
    orientation: int  # EXIF orientation 1-8, 1 when absent


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # BGR uint8, upright, possibly reduced
    scale: float  # original (upright) pixels per decoded pixel; boxes are multiplied by it
    width: int  # upright size of the original image
    height: int


def decode_image(data: bytes) -> DecodedImage:
    """Decode JPEG, PNG or WebP bytes to an upright BGR image; raise ImageError for anything else."""
    if not data:
        raise ImageError("not_image", "That file is empty; please send the photo again.")
    if len(data) > MAX_BYTES:
        raise ImageError("too_large", f"That file is {len(data) / 2**20:.0f} MB; I can read photos up to "
                                      f"{MAX_BYTES // 2**20} MB.")
    header = read_header(data)
    if header.width * header.height > MAX_PIXELS:
        raise ImageError("too_large", f"That image is {header.width}x{header.height} pixels; I can read photos "
                                      f"up to {MAX_PIXELS // 1_000_000} megapixels.")
    if min(header.width, header.height) < MIN_SIDE:
        raise ImageError("too_small", f"That picture is only {header.width}x{header.height} pixels: too small to "
                                      f"see a face in. Please send a bigger selfie.")
    reduction = _jpeg_reduction(header)
    flags = JPEG_REDUCTIONS[reduction] if reduction > 1 else cv2.IMREAD_COLOR
    if header.has_alpha:
        flags = cv2.IMREAD_UNCHANGED
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flags | cv2.IMREAD_IGNORE_ORIENTATION)
    if pixels is None or pixels.size == 0:
        raise ImageError("not_image", "I could not read that image; the file seems to be damaged.")
    pixels = _to_bgr8(pixels)
    if header.orientation in UPRIGHT:
        pixels = UPRIGHT[header.orientation](pixels)
    width, height = header.width, header.height
    if header.orientation >= 5:
        width, height = height, width
    return DecodedImage(pixels, width / pixels.shape[1], width, height)


def read_header(data: bytes) -> Header:
    """Format, stored size, alpha and EXIF orientation from the first bytes; ImageError if they do not add up."""
    if data[:3] == b"\xff\xd8\xff":
        return _jpeg_header(data)
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return _png_header(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_header(data)
    raise ImageError("not_image", "That does not look like a photo: I can read JPEG, PNG and WebP images.")


def _jpeg_header(data: bytes) -> Header:
    size, orientation, pos = None, 1, 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ImageError("not_image", "I could not read that JPEG; its structure is damaged.")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # segments without a length
            pos += 2
            continue
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        segment = data[pos + 4:pos + 2 + length]
        if marker == 0xE1 and segment[:6] == b"Exif\x00\x00":
            orientation = _tiff_orientation(segment[6:])
        elif marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if len(segment) >= 5:
                height, width = struct.unpack(">HH", segment[1:5])
                size = (width, height)
        elif marker == 0xDA:  # start of scan: the picture itself follows, up to the end-of-image marker
            if size is None:
                raise ImageError("not_image", "I could not read that JPEG; it has no frame header.")
            if data.find(b"\xff\xd9", pos) < 0:
                raise _truncated()
            return _checked(Header("jpeg", size[0], size[1], False, orientation))
        pos += 2 + length
    raise _truncated()


def _png_header(data: bytes) -> Header:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise _truncated() if len(data) < 33 else ImageError("not_image", "I could not read that PNG.")
    width, height, _, colour_type = struct.unpack(">IIBB", data[16:26])
    has_alpha, orientation, pos = colour_type in (4, 6), 1, 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"tRNS":
            has_alpha = True
        elif kind == b"eXIf":
            orientation = _tiff_orientation(data[pos + 8:pos + 8 + length])
        elif kind == b"IEND":
            return _checked(Header("png", width, height, has_alpha, orientation))
        pos += 12 + length
    raise _truncated()


def _webp_header(data: bytes) -> Header:
    if len(data) < struct.unpack("<I", data[4:8])[0] + 8:
        raise _truncated()
    size, has_alpha, orientation, pos = None, False, 1, 12
    while pos + 8 <= len(data):
        kind, length = struct.unpack("<4sI", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"VP8X" and len(body) >= 10:
            has_alpha = bool(body[0] & 0x10)
            size = (1 + int.from_bytes(body[4:7], "little"), 1 + int.from_bytes(body[7:10], "little"))
        elif kind == b"VP8 " and len(body) >= 10 and size is None:
            if body[3:6] != b"\x9d\x01\x2a":
                raise ImageError("not_image", "I could not read that WebP image.")
            width, height = struct.unpack("<HH", body[6:10])
            size = (width & 0x3FFF, height & 0x3FFF)
        elif kind == b"VP8L" and len(body) >= 5 and size is None:
            bits = int.from_bytes(body[1:5], "little")
            size = (1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF))
            has_alpha = bool(bits >> 28 & 1)
        elif kind == b"EXIF":
            orientation = _tiff_orientation(body[6:] if body[:6] == b"Exif\x00\x00" else body)
        pos += 8 + length + (length & 1)
    if size is None:
        raise ImageError("not_image", "I could not read that WebP image.")
    return _checked(Header("webp", size[0], size[1], has_alpha, orientation))


def _tiff_orientation(tiff: bytes) -> int:
    """The orientation tag of an EXIF (TIFF) block, 1 when missing or unreadable."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1
    order = "<" if tiff[:2] == b"II" else ">"
    ifd = struct.unpack(order + "I", tiff[4:8])[0]
    if ifd + 2 > len(tiff):
        return 1
    count = struct.unpack(order + "H", tiff[ifd:ifd + 2])[0]
    for entry in range(ifd + 2, min(ifd + 2 + 12 * count, len(tiff) - 11), 12):
        tag, _, _, value = struct.unpack(order + "HHIH", tiff[entry:entry + 10])
        if tag == 0x0112:
            return value if 1 <= value <= 8 else 1
    return 1


def _checked(header: Header) -> Header:
    if header.width <= 0 or header.height <= 0:
        raise ImageError("not_image", "That image claims to have no pixels.")
    return header


def _truncated() -> ImageError:
    return ImageError("truncated", "That image is cut short; the upload may not have finished. Please send it again.")


def _jpeg_reduction(header: Header) -> int:
    if header.format != "jpeg":
        return 1
    long_side = max(header.width, header.height)
    return max((r for r in (1, 2, 4, 8) if long_side // r >= MIN_DECODED_SIDE), default=1)


def _to_bgr8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    if pixels.shape[2] == 4:  # lay transparent pixels over white
        alpha = pixels[..., 3:].astype(np.float32) / 255.0
        return (pixels[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return pixels
