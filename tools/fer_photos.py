"""Photos with real faces in them, made from FER2013, for the tests, the benchmark and the detector comparison.

This repository holds no photos of people. What it has is FER2013: real faces, 48x48 grayscale, tightly framed.
A photo is made by upscaling such faces, tinting them to a skin tone, feathering them into a textured colour
background (smooth light, furniture-like shapes, sensor noise) at a chosen size and place, optionally rolled by
a few degrees. Each face's box (x, y, w, h) in the photo is known exactly, which is what a detector is scored on.
"""

from contextlib import closing
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import cv2
import numpy as np

from train.data import read_csv_rows  # FER2013's CSV format, defined once

FER2013_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013" / "fer2013_train_publictest.csv.gz"
# Blue, green, red multipliers of a grayscale face: from pale to dark skin.
SKIN_TINTS = ((0.78, 0.86, 1.0), (0.62, 0.76, 0.95), (0.50, 0.62, 0.80), (0.40, 0.50, 0.66))


@dataclass(frozen=True)
class PlacedFace:
    face: np.ndarray  # 48x48 uint8, a FER2013 row
    box: tuple[int, int, int, int]  # x, y, w, h in the photo (w == h)
    roll_degrees: float = 0.0


def read_fer_faces(count: int, skip: int = 0, path: str | Path = FER2013_CSV, emotion: int | None = None) -> np.ndarray:
    """`count` faces from the FER2013 CSV after its first `skip` rows (of label `emotion`, if given), as
    (count, 48, 48) uint8, read lazily (rows are parsed and checked by train.data, as for training).

    The few blank frames of FER2013 (one grey level all over) are passed over.
    """
    path = Path(path)
    with closing(read_csv_rows(path, emotion)) as rows:
        faces = (face for _, face, _ in islice(rows, skip, None))
        kept = list(islice((face for face in faces if face.std() > 10), count))
    if len(kept) < count:
        raise ValueError(f"{path} has fewer than {skip + count} rows")
    return np.stack(kept)


def background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A face-free BGR scene: smooth uneven light, a few blurred objects, and sensor noise."""
    small_w, small_h = max(width // 8, 8), max(height // 8, 8)
    light = (rng.uniform(50, 210, size=(4, 5, 1)) + rng.normal(0, 18, size=(4, 5, 3))).astype(np.float32)
    scene = cv2.resize(light, (small_w, small_h), interpolation=cv2.INTER_CUBIC)
    for _ in range(rng.integers(3, 9)):
        colour = (rng.uniform(20, 235) + rng.normal(0, 30, size=3)).tolist()
        x0, y0 = int(rng.integers(0, small_w)), int(rng.integers(0, small_h))
        x1 = x0 + int(rng.integers(small_w // 10, small_w // 2))
        y1 = y0 + int(rng.integers(small_h // 10, small_h // 2))
        if rng.random() < 0.5:
            cv2.rectangle(scene, (x0, y0), (x1, y1), colour, thickness=-1)
        else:
            cv2.ellipse(scene, (((x0 + x1) / 2, (y0 + y1) / 2), (x1 - x0, y1 - y0), float(rng.uniform(0, 180))),
                        colour, thickness=-1)
    scene = np.clip(cv2.GaussianBlur(scene, (0, 0), 1.0), 0, 255).astype(np.uint8)
    scene = cv2.resize(scene, (width, height), interpolation=cv2.INTER_LINEAR).astype(np.int16)
    scene += rng.integers(-6, 7, size=scene.shape, dtype=np.int16)
    return np.clip(scene, 0, 255).astype(np.uint8)


def compose_photo(width: int, height: int, faces: list[PlacedFace], rng: np.random.Generator) -> np.ndarray:
    """A BGR photo of `width` x `height` with each face pasted at its box over a random background."""
    photo = background(width, height, rng)
    for placed in faces:
        _paste_face(photo, placed, SKIN_TINTS[int(rng.integers(len(SKIN_TINTS)))])
    return photo


def random_boxes(width: int, height: int, sizes: list[int],
                 rng: np.random.Generator) -> list[tuple[int, int, int, int]]:
    """Non-overlapping square boxes of the given sizes, anywhere inside the photo."""
    boxes: list[tuple[int, int, int, int]] = []
    for size in sizes:
        for _ in range(200):
            x, y = int(rng.integers(0, width - size + 1)), int(rng.integers(0, height - size + 1))
            if all(x + size <= bx or bx + bw <= x or y + size <= by or by + bh <= y for bx, by, bw, bh in boxes):
                boxes.append((x, y, size, size))
                break
        else:
            raise ValueError(f"no room for a {size}px face in a {width}x{height} photo")
    return boxes


def _paste_face(photo: np.ndarray, placed: PlacedFace, tint: tuple[float, float, float]) -> None:
    x, y, size, _ = placed.box
    face = cv2.resize(placed.face, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    # Feathered edges: a FER crop cut out with a hard square edge is not what a camera sees.
    alpha = np.zeros((size, size), np.float32)
    border = max(size // 12, 1)
    alpha[border:-border, border:-border] = 1.0
    alpha = cv2.GaussianBlur(alpha, (0, 0), border / 2 + 0.5)
    if placed.roll_degrees:
        turn = cv2.getRotationMatrix2D((size / 2, size / 2), placed.roll_degrees, 1.0)
        face = cv2.warpAffine(face, turn, (size, size), borderMode=cv2.BORDER_REFLECT)
        alpha = cv2.warpAffine(alpha, turn, (size, size))
    region = photo[y:y + size, x:x + size]
    h, w = region.shape[:2]
    coloured = face[:h, :w, np.newaxis] * np.array(tint, np.float32)
    a = alpha[:h, :w, np.newaxis]
    region[:] = np.clip(a * coloured + (1 - a) * region, 0, 255).astype(np.uint8)


def encode(photo: np.ndarray, extension: str = ".jpg", quality: int = 90) -> bytes:
    """The photo as file bytes (".jpg", ".png" or ".webp")."""
    params = {".jpg": [cv2.IMWRITE_JPEG_QUALITY, quality], ".webp": [cv2.IMWRITE_WEBP_QUALITY, quality]}
    ok, data = cv2.imencode(extension, photo, params.get(extension, []))
    if not ok:
        raise ValueError(f"OpenCV cannot encode {extension}")
    return data.tobytes()
