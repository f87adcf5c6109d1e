"""Load FER2013 in either layout people have it in.

- Kaggle's CSV (`emotion,pixels,Usage`, plain or gzip): one row per 48x48 face, pixels space-separated.
- The folder layout (`train/<class>/*.jpg`, `test/<class>/*.jpg`), as on Kaggle's image mirror.

Both give the same `FaceSet`: uint8 faces (N, 48, 48), integer labels in `LABELS` order, and the split
name of each row ("Training", "PublicTest", ...; the folder layout maps train -> Training, test -> PublicTest).
"""

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from model.preprocess import INPUT_SIZE, LABELS

FOLDER_SPLITS = {"train": "Training", "test": "PublicTest", "val": "PublicTest", "validation": "PublicTest"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


class DataError(ValueError):
    """The data set is malformed; the message names the file and line (or file) at fault."""


@dataclass(frozen=True)
class FaceSet:
    faces: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray  # (N,) int64, index into LABELS
    usage: np.ndarray  # (N,) str, the split of each row

    def __len__(self) -> int:
        return len(self.labels)

    def split(self, usage: str) -> "FaceSet":
        """Only the rows whose Usage is `usage`."""
        keep = self.usage == usage
        if not keep.any():
            present = ", ".join(sorted(set(self.usage.tolist())))
            raise DataError(f"no rows with Usage={usage!r}; the data has: {present}")
        return FaceSet(self.faces[keep], self.labels[keep], self.usage[keep])

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(LABELS))
        return dict(zip(LABELS, counts.tolist()))


def load_fer2013(path: str | Path) -> FaceSet:
    """Load a FER2013 CSV (plain or .gz) or a folder of train/<class>/ and test/<class>/ images."""
    path = Path(path)
    if path.is_dir():
        return _load_folders(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    return _load_csv(path)


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _load_csv(path: Path) -> FaceSet:
    faces, labels, usage = [], [], []
    with _open_text(path) as text:
        reader = csv.reader(text)
        header = [name.strip().lstrip("\ufeff") for name in next(reader, [])]
        missing = {"emotion", "pixels"} - set(header)
        if missing:
            raise DataError(f"{path}: line 1: missing column(s) {', '.join(sorted(missing))}; "
                            "expected the Kaggle layout emotion,pixels,Usage")
        emotion_col, pixels_col = header.index("emotion"), header.index("pixels")
        usage_col = header.index("Usage") if "Usage" in header else None
        for line_number, row in enumerate(reader, start=2):
            if not row:
                continue
            label, face = _parse_row(path, line_number, row, emotion_col, pixels_col)
            faces.append(face)
            labels.append(label)
            usage.append(row[usage_col].strip() if usage_col is not None and usage_col < len(row) else "Training")
    if not faces:
        raise DataError(f"{path}: no data rows")
    return FaceSet(np.stack(faces), np.array(labels, dtype=np.int64), np.array(usage))


def _parse_row(path: Path, line_number: int, row: list[str], emotion_col: int, pixels_col: int):
    where = f"{path}: line {line_number}"
    if len(row) <= max(emotion_col, pixels_col):
        raise DataError(f"{where}: expected at least {max(emotion_col, pixels_col) + 1} columns, got {len(row)}")
    try:
        label = int(row[emotion_col])
    except ValueError:
        raise DataError(f"{where}: emotion {row[emotion_col]!r} is not a number 0-6") from None
    if not 0 <= label < len(LABELS):
        raise DataError(f"{where}: emotion {label} is outside 0-6")
    try:
        pixels = np.array(row[pixels_col].split(), dtype=np.int32)
    except ValueError:
        raise DataError(f"{where}: pixels must be integers separated by spaces") from None
    if pixels.size != INPUT_SIZE * INPUT_SIZE:
        raise DataError(f"{where}: expected {INPUT_SIZE * INPUT_SIZE} pixels, got {pixels.size}")
    if pixels.min() < 0 or pixels.max() > 255:
        raise DataError(f"{where}: pixel values must be 0-255")
    return label, pixels.astype(np.uint8).reshape(INPUT_SIZE, INPUT_SIZE)


def _load_folders(root: Path) -> FaceSet:
    faces, labels, usage = [], [], []
    split_dirs = [d for d in sorted(root.iterdir()) if d.is_dir() and d.name.lower() in FOLDER_SPLITS]
    if not split_dirs:
        raise DataError(f"{root}: expected sub-folders train/ and test/ with one folder per emotion")
    for split_dir in split_dirs:
        for class_dir in sorted(d for d in split_dir.iterdir() if d.is_dir()):
            name = class_dir.name.lower()
            if name not in LABELS:
                raise DataError(f"{class_dir}: unknown emotion folder; expected one of {', '.join(LABELS)}")
            for image_path in sorted(class_dir.iterdir()):
                if image_path.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                faces.append(_read_face_image(image_path))
                labels.append(LABELS.index(name))
                usage.append(FOLDER_SPLITS[split_dir.name.lower()])
    if not faces:
        raise DataError(f"{root}: no images found")
    return FaceSet(np.stack(faces), np.array(labels, dtype=np.int64), np.array(usage))


def _read_face_image(path: Path) -> np.ndarray:
    face = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if face is None:
        raise DataError(f"{path}: not a readable image")
    if face.shape != (INPUT_SIZE, INPUT_SIZE):
        face = cv2.resize(face, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
    return face
