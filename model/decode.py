"""Image bytes to pixels, refusing anything that is not a whole photo of a sane size.

Pillow reads the photo (pillow-heif adds HEIC/HEIF; AVIF, GIF (first frame), BMP and TIFF are Pillow's own), in
memory only. `Image.open` is lazy: it reads the header, so the pixel budget is checked before a byte of the picture
is inflated and a decompression bomb (a small file that claims gigapixels) is refused on its header. Large JPEGs are
decoded at 1/2, 1/4 or 1/8 scale in the DCT domain (`draft`: much faster, much less memory) as long as the result
keeps at least `MIN_DECODED_SIDE` pixels on its long side, which is ample for finding faces and cutting 48x48 crops;
other large images are decoded whole, then box-averaged to the same scale.
The EXIF orientation is applied, transparent pixels are laid over white, grey images are widened to three
channels, 16-bit images narrowed to 8. OpenCV takes over from the BGR array on.
"""

import io
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
import pillow_heif
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 20 * 1024 * 1024  # Telegram's own limit for files a bot can download
MAX_PIXELS = 40_000_000  # 40 megapixels; a 4000x3000 phone photo is 12
MIN_SIDE = 10  # pixels; a smaller picture cannot hold a face the detector could find
MIN_DECODED_SIDE = 640  # long side; see the module docstring
# Pillow's names of the formats read, and the same for people. MPO (a JPEG with extra pictures) is read as JPEG.
FORMATS = ("JPEG", "PNG", "WEBP", "HEIF", "AVIF", "GIF", "BMP", "TIFF")
READABLE_FORMATS = ("JPEG", "PNG", "WebP", "HEIC", "AVIF", "GIF", "BMP", "TIFF")
SIDEWAYS = {5, 6, 7, 8}  # EXIF orientations that swap width and height
REDUCIBLE_MODES = {"RGB", "RGBA", "L", "LA"}  # those Image.reduce averages (a palette index cannot be averaged)
# How Pillow, its plugins and libheif say that the data ran out.
CUT_SHORT_WORDS = ("truncated", "end of file", "incomplete", "too small", "requires a buffer", "cannot read full")

pillow_heif.register_heif_opener()
# Pillow's own guard, for any code path that opens an image: it refuses over twice this. decode_image refuses
# anything over MAX_PIXELS itself, with the image's size in the message.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# Pillow also warns (on stderr) about sizes between the two, and about some malformed files; decode_image refuses
# those itself, with a message the user reads, so the warnings would only be noise.
warnings.filterwarnings("ignore", module=r"PIL\.")


class ImageError(ValueError):
    """Bytes that cannot be turned into a photo; `kind` is "not_image", "truncated", "too_large" or "too_small"."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # BGR uint8, upright, possibly reduced
    scale: float  # original (upright) pixels per decoded pixel; boxes are multiplied by it
    width: int  # upright size of the original image
    height: int


def decode_image(data: bytes) -> DecodedImage:
    """Decode photo bytes to an upright BGR image; raise ImageError for anything else."""
    if not data:
        raise ImageError("not_image", "That file is empty; please send the photo again.")
    if len(data) > MAX_BYTES:
        raise ImageError("too_large", f"That file is {len(data) / 2**20:.0f} MB; I can read photos up to "
                                      f"{MAX_BYTES // 2**20} MB.")
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as image:
            width, height = image.size  # from the header: nothing is inflated yet
            if width * height > MAX_PIXELS:
                raise ImageError("too_large", f"That image is {width}x{height} pixels; I can read photos up to "
                                              f"{MAX_PIXELS // 1_000_000} megapixels.")
            if min(width, height) < MIN_SIDE:
                raise ImageError("too_small", f"That picture is only {width}x{height} pixels: too small to see a "
                                              "face in. Please send a bigger selfie.")
            if image.format in ("JPEG", "MPO"):
                image.draft("RGB", _smallest_readable(image.size))
            image.decodermaxblock = len(data)  # the file is in memory: one piece for the decoder, not 64 KB ones
            image.load()
            if image.getexif().get(ExifTags.Base.Orientation, 1) in SIDEWAYS:  # read after the pixels: a PNG
                width, height = height, width  # may keep its EXIF behind them
            upright = _reduced(image)
            ImageOps.exif_transpose(upright, in_place=True)
            pixels = _to_bgr8(upright)
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError("too_large", f"That image has far more than {MAX_PIXELS // 1_000_000} megapixels, "
                                      "the most I can read.") from None
    except UnidentifiedImageError:
        reason = _header_error(data)
        if reason is None:
            raise ImageError("not_image", "That does not look like a photo: I can read "
                                          f"{', '.join(READABLE_FORMATS[:-1])} and {READABLE_FORMATS[-1]} images.") \
                from None
        raise _unreadable(data, reason) from None
    except Exception as error:  # Pillow's plugins raise many kinds of error on a malformed file
        raise _unreadable(data, error) from None
    if pixels.size == 0:
        raise ImageError("not_image", "That image claims to have no pixels.")
    return DecodedImage(pixels, width / pixels.shape[1], width, height)


def _header_error(data: bytes) -> Exception | None:
    """Why the header of a file with a readable format's signature failed (Image.open only says it failed).

    None when no readable format's signature matches: the file is something else.
    """
    Image.init()  # Image.OPEN lists every plugin once they are all loaded
    for name in FORMATS:
        factory, accept = Image.OPEN[name]
        if accept(data[:16]):
            try:
                factory(io.BytesIO(data), "")
            except Exception as error:  # noqa: BLE001 (this is the answer)
                return error
    return None


def _unreadable(data: bytes, error: Exception) -> ImageError:
    """Cut short when the decoder ran out of data, or the file is shorter than it says; damaged otherwise."""
    said = str(error).lower()
    if isinstance(error, EOFError) or any(words in said for words in CUT_SHORT_WORDS) or _shorter_than_declared(data):
        return ImageError("truncated", "That image is cut short; the upload may not have finished. "
                                       "Please send it again.")
    return ImageError("not_image", "I could not read that image; the file seems to be damaged.")


def _shorter_than_declared(data: bytes) -> bool:
    """A RIFF file (WebP) states its length after the signature; libwebp only says it cannot decode it."""
    return data[:4] == b"RIFF" and int.from_bytes(data[4:8], "little") + 8 > len(data)


def _reduced(image: Image.Image) -> Image.Image:
    """Formats without DCT scaling (HEIC, PNG, WebP...) are decoded whole: a box average then brings a large one to
    the scale a JPEG is decoded at, before its pixels are copied anywhere."""
    factor = max((f for f in (1, 2, 4, 8) if max(image.size) // f >= MIN_DECODED_SIDE), default=1)
    return image.reduce(factor) if factor > 1 and image.mode in REDUCIBLE_MODES else image


def _smallest_readable(size: tuple[int, int]) -> tuple[int, int]:
    """The smallest size `draft` may reduce to: `MIN_DECODED_SIDE` on the long side, the other in proportion."""
    shrink = min(1.0, MIN_DECODED_SIDE / max(size))
    return max(round(size[0] * shrink), 1), max(round(size[1] * shrink), 1)


def _to_bgr8(image: Image.Image) -> np.ndarray:
    if image.mode.startswith("I"):  # 16-bit grey: keep the high byte
        grey = np.clip(np.asarray(image).astype(np.int64) >> 8, 0, 255).astype(np.uint8)
        return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    if image.mode == "L":
        return cv2.cvtColor(np.asarray(image), cv2.COLOR_GRAY2BGR)
    if "A" in image.mode or "transparency" in image.info:  # lay transparent pixels over white
        rgba = np.asarray(image.convert("RGBA"))
        alpha = rgba[..., 3:].astype(np.float32) / 255.0
        rgb = (rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    return cv2.cvtColor(np.asarray(image if image.mode == "RGB" else image.convert("RGB")), cv2.COLOR_RGB2BGR)
