"""Load FER2013 in either layout people have it in.

- Kaggle's CSV (`emotion,pixels,Usage`, plain or gzip): one row per 48x48 face, pixels space-separated.
- The folder layout (`train/<class>/*.jpg`, `test/<class>/*.jpg`), as on Kaggle's image mirror.

Both give the same `FaceSet`: uint8 faces (N, 48, 48), integer labels in `LABELS` order, and the split
name of each row ("Training", "PublicTest", ...; the folder layout maps train -> Training, test -> PublicTest).

FER+ crowd labels (Barsoum et al., 2016: ten taggers per face, `ferplus_votes_train_publictest.csv.gz`, row-aligned
with the CSV) replace FER2013's single labels with `load_faces(..., labels="ferplus")`: the training target becomes
the distribution of the votes over our seven classes, and the label the crowd majority (see `with_crowd_labels`).
"""

import csv
import gzip
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from model.preprocess import INPUT_SIZE, LABELS

LABEL_SOURCES = ("ferplus", "fer2013")
FERPLUS_VOTES_FILE = "ferplus_votes_train_publictest.csv.gz"
FERPLUS_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown",
                   "NF")
# Where each of our labels is among FER+'s columns; contempt, unknown (tagger unsure) and NF (not a face) have no class.
FERPLUS_COLUMN_OF_LABEL = np.array([FERPLUS_COLUMNS.index(name) for name in
                                    ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")])
# Labels of faces set aside when judging against the crowd majority: a tie for the most votes, or most votes on a
# column that is none of our seven classes (contempt, unknown, not a face).
TIED, NOT_OURS = -1, -2
SET_ASIDE = {"tie": TIED, "contempt, unknown or not a face": NOT_OURS}
FOLDER_SPLITS = {"train": "Training", "test": "PublicTest", "val": "PublicTest", "validation": "PublicTest"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
# How `python -m train` splits FER2013: it trains on Training less a share held out by image for validation
# (checkpoints, calibration, the panel's FER+ validation set) and tests on the untouched PublicTest.
TRAIN_USAGE, TEST_USAGE, HOLDOUT_SHARE = "Training", "PublicTest", 0.1


class DataError(ValueError):
    """The data set is malformed; the message names the file and line (or file) at fault."""


@dataclass(frozen=True)
class FaceSet:
    faces: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray  # (N,) int64, index into LABELS; negative (TIED, NOT_OURS) where set aside
    usage: np.ndarray  # (N,) str, the split of each row
    targets: np.ndarray | None = None  # (N, 7) float32 label distribution to train on; None: one-hot labels

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, keep: np.ndarray) -> "FaceSet":
        """The rows where the boolean mask `keep` is true."""
        return FaceSet(self.faces[keep], self.labels[keep], self.usage[keep],
                       None if self.targets is None else self.targets[keep])

    def split(self, usage: str) -> "FaceSet":
        """Only the rows whose Usage is `usage`."""
        keep = self.usage == usage
        if not keep.any():
            present = ", ".join(sorted(set(self.usage.tolist())))
            raise DataError(f"no rows with Usage={usage!r}; the data has: {present}")
        return self.subset(keep)

    def labelled(self) -> "FaceSet":
        """Only the faces with a label to be judged against (all of them, with FER2013's own labels)."""
        return self.subset(self.labels >= 0)

    def trainable(self) -> "FaceSet":
        """Only the faces with something to learn from: a label, or votes for at least one of the seven classes."""
        return self.subset(_trainable(self))

    def target_distribution(self) -> np.ndarray:
        """(N, 7) float32 training targets: the crowd's vote distribution, or FER2013's label one-hot."""
        if self.targets is not None:
            return self.targets
        return np.eye(len(LABELS), dtype=np.float32)[self.labels]

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels[self.labels >= 0], minlength=len(LABELS))
        return dict(zip(LABELS, counts.tolist()))


def _trainable(faces: FaceSet) -> np.ndarray:
    return faces.labels >= 0 if faces.targets is None else faces.targets.sum(axis=1) > 0


def combine(*parts: FaceSet) -> FaceSet:
    """One set of faces made of several, in order; crowd targets are kept where any part has them."""
    targets = None
    if any(part.targets is not None for part in parts):
        targets = np.concatenate([part.target_distribution() for part in parts])
    return FaceSet(np.concatenate([part.faces for part in parts]), np.concatenate([part.labels for part in parts]),
                   np.concatenate([part.usage for part in parts]), targets)


def load_faces(data: str | Path, labels: str = "ferplus", votes: str | Path | None = None) -> FaceSet:
    """FER2013 faces with FER2013's labels or, with `labels="ferplus"`, FER+'s crowd labels.

    `votes` defaults to `ferplus_votes_train_publictest.csv.gz` beside the data file.
    """
    if labels not in LABEL_SOURCES:
        raise DataError(f"unknown labels {labels!r}; choose one of {', '.join(LABEL_SOURCES)}")
    faces = load_fer2013(data)
    if labels == "fer2013":
        return faces
    votes_path = Path(votes) if votes else default_votes_path(data)
    return with_crowd_labels(faces, load_ferplus_votes(votes_path, expected_rows=len(faces)))


def default_votes_path(data: str | Path) -> Path:
    return Path(data).parent / FERPLUS_VOTES_FILE


def load_ferplus_votes(path: str | Path, expected_rows: int) -> np.ndarray:
    """(N, 10) int votes in FER+'s column order, one row per FER2013 row."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; FER+ votes are needed for --labels ferplus "
                        f"(or pass --labels fer2013)")
    with _open_text(path) as text:
        reader = csv.reader(text)
        header = [name.strip().lstrip("\ufeff") for name in next(reader, [])]
        if tuple(header) != FERPLUS_COLUMNS:
            raise DataError(f"{path}: line 1: expected the columns {','.join(FERPLUS_COLUMNS)}")
        try:
            votes = np.array([[int(value) for value in row] for row in reader if row], dtype=np.int64)
        except ValueError:
            raise DataError(f"{path}: votes must be whole numbers") from None
    if votes.shape != (expected_rows, len(FERPLUS_COLUMNS)) or (votes < 0).any():
        raise DataError(f"{path}: expected {expected_rows} rows of {len(FERPLUS_COLUMNS)} non-negative counts, one "
                        f"per face of the data file, got {votes.shape[0]} rows")
    return votes


def with_crowd_labels(faces: FaceSet, votes: np.ndarray) -> FaceSet:
    """The faces labelled by the crowd.

    Target: the share of votes each of our seven classes got, after dropping single votes (one tagger of ten is
    noise more often than signal: FER+'s own outlier rule) and votes for contempt, unknown and not-a-face. A face
    whose most voted column is unknown or not-a-face gets no target (nothing to learn from a face the crowd could not
    read, or that is not a face). Label: the column with the most votes, if it is one of the seven and not tied;
    otherwise TIED or NOT_OURS (set aside in evaluation, and counted).
    """
    label_of_column = np.full(len(FERPLUS_COLUMNS), NOT_OURS)
    label_of_column[FERPLUS_COLUMN_OF_LABEL] = np.arange(len(LABELS))
    tied = (votes == votes.max(axis=1, keepdims=True)).sum(axis=1) > 1
    labels = np.where(tied, TIED, label_of_column[votes.argmax(axis=1)])

    ours = votes[:, FERPLUS_COLUMN_OF_LABEL].astype(np.float32)

    kept = np.where(ours > 1, ours, 0.0)
    unreadable = np.isin(votes.argmax(axis=1), [FERPLUS_COLUMNS.index("unknown"), FERPLUS_COLUMNS.index("NF")])
    kept[unreadable] = 0.0
    totals = kept.sum(axis=1, keepdims=True)
    targets = np.divide(kept, totals, out=np.zeros_like(kept), where=totals > 0)
    return FaceSet(faces.faces, labels.astype(np.int64), faces.usage, targets.astype(np.float32))


def image_keys(faces: np.ndarray) -> np.ndarray:
    """A 64-bit fingerprint per face: identical images (FER2013 holds some several times) get the same key."""
    return np.array([int.from_bytes(hashlib.blake2b(face.tobytes(), digest_size=8).digest(), "little")
                     for face in faces], dtype=np.uint64)


def holdout_split(train: FaceSet, test: FaceSet, share: float) -> tuple[FaceSet, FaceSet, int]:
    """(train, validation, dropped): a held-out part of the training faces, chosen by image.

    A face goes to validation when its fingerprint says so, so every copy of one image lands on the same side and
    the split is the same on every run. Training faces that are also in the test set are dropped from both, so
    the test set stays untouched by checkpoint choice and calibration; `dropped` counts them.
    """
    held_out, in_test = _held_out(train.faces, test.faces, share)
    return train.subset(~held_out & ~in_test), train.subset(held_out & ~in_test), int(in_test.sum())


def validation_rows(faces: FaceSet, share: float = HOLDOUT_SHARE) -> np.ndarray:
    """Which rows of the whole data set `python -m train` holds out of Training for validation, the faces labelled
    as it trains on them (with the crowd's labels, faces without a usable vote are not trained on nor held out)."""
    candidates = (faces.usage == TRAIN_USAGE) & _trainable(faces)
    held_out, in_test = _held_out(faces.faces[candidates], faces.split(TEST_USAGE).faces, share)
    rows = np.zeros(len(faces), bool)
    rows[np.flatnonzero(candidates)[held_out & ~in_test]] = True
    return rows


def _held_out(train_faces: np.ndarray, test_faces: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
    keys = image_keys(train_faces)
    return (keys % np.uint64(10_000)) < np.uint64(round(share * 10_000)), np.isin(keys, image_keys(test_faces))


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


def read_csv_rows(path: Path, emotion: int | None = None) -> Iterator[tuple[int, np.ndarray, str]]:
    """The rows of a FER2013 CSV (Kaggle's layout, plain or gzip), one at a time and checked: label, 48x48 uint8
    face and usage ("Training" where the file has no Usage column); with `emotion`, that label's rows only (the
    others are passed over unparsed)."""
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
            if not row or (emotion is not None and row[emotion_col] != str(emotion)):
                continue
            label, face = _parse_row(path, line_number, row, emotion_col, pixels_col)
            yield label, face, row[usage_col].strip() if usage_col is not None and usage_col < len(row) else "Training"


def _load_csv(path: Path) -> FaceSet:
    rows = list(read_csv_rows(path))
    if not rows:
        raise DataError(f"{path}: no data rows")
    labels, faces, usage = zip(*rows)
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
