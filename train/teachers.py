"""The two teacher models, run through our own evaluation (training and evaluation only: `bot/`, `model/` and `db/`
never load them).

Each reads a face the way it was made to (`../shared/models/teachers/README.md`) and answers in FER2013's label order:
- HSEmotion MobileNet-7 (LiteRT): the colour face square (the detector's box widened 1.2 times, as the face sets
  were cut) resized to 224x224, BGR minus the ImageNet means;
- OpenCV zoo MobileFaceNet (`cv2.dnn`): the face aligned by its five landmarks onto the ArcFace 112x112 template,
  RGB scaled to [-1, 1]; the square resized to 112 where no landmarks were found.
What a teacher is given, per kind of set:
- a face set (`.npz`): the stored 96x96 colour square and its landmarks;
- a FER2013 face (48x48 grey, tightly framed): the face upscaled to 96x96 (as the square), with the landmarks YuNet
  finds on it;
- a whole photo: YuNet's faces (`cv2.FaceDetectorYN`, at the photo's full resolution), each cut as a square around
  its box with its landmarks; `train.photo_eval` judges the one overlapping the labelled box, as for our model.

Answers are cached per face and per photo (keyed by the teacher file and the pixels) in one JSON-lines file per
teacher under `~/.cache/moodtunes/teachers/`, so a panel runs the slow teachers once.
"""

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from model import ImageError
from model.preprocess import LABELS
from model.runtime import ThreadLocalModel
from train.face_sets import MARGIN

TEACHERS_DIR = Path(__file__).resolve().parents[2] / "shared" / "models" / "teachers"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "moodtunes" / "teachers"
FILES = {"hsemotion": "hsemotion_mobilenet_7.tflite",
         "mobilefacenet": "facial_expression_recognition_mobilefacenet_2022july_int8.onnx"}
YUNET_FILE = "face_detection_yunet_2023mar.onnx"
YUNET_SCORE, YUNET_NMS, YUNET_TOP_K = 0.6, 0.3, 5000  # as the teachers' README runs it
# Both teachers answer anger, disgust, fear, happiness, neutral, sadness, surprise; FER2013 puts neutral last.
FER_ORDER = [0, 1, 2, 3, 5, 6, 4]
IMAGENET_BGR_MEANS = np.array([103.939, 116.779, 123.68], np.float32)
HSEMOTION_SIDE = 224
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
                             [70.7299, 92.2041]], np.float32)
ARCFACE_SIDE = 112
SQUARE_SIDE = 96  # FER2013 faces are upscaled to the face sets' crop size
BATCH = 32  # answers computed between two writes to the cache
CACHE_FORMAT = "v1"  # part of the cache file's name: change it when what is cached changes


@dataclass(frozen=True)
class TeacherFace:
    """A face a teacher found in a photo: what `train.photo_eval` reads of our model's `FaceEmotion`."""
    box: tuple[int, int, int, int]
    probabilities: dict[str, float]


class Teacher:
    """One teacher model, with YuNet for its landmarks and faces; `Teacher.load(name)`."""

    def __init__(self, name: str, folder: Path = TEACHERS_DIR, cache_dir: Path = CACHE_DIR):
        if name not in FILES:
            raise ValueError(f"unknown teacher {name!r}; choose one of {', '.join(FILES)}")
        path = Path(folder) / FILES[name]
        if not path.is_file():
            raise FileNotFoundError(f"no teacher model at {path} (see ../shared/models/teachers/README.md)")
        self.name, self.path = name, path
        self.version = f"teacher {name}"
        content = path.read_bytes()
        self._run = (_HSEmotion(path) if name == "hsemotion" else _MobileFaceNet(content)).probabilities
        self._yunet = cv2.FaceDetectorYN.create(str(Path(folder) / YUNET_FILE), "", (320, 320), YUNET_SCORE,
                                                YUNET_NMS, YUNET_TOP_K)
        digest = hashlib.sha256(content).hexdigest()[:16]
        self._cache = _Cache(Path(cache_dir) / f"{name}-{digest}-{CACHE_FORMAT}.jsonl")
        self.seconds_computing = 0.0  # time spent on answers that were not in the cache

    def read_squares(self, squares: list[np.ndarray], landmarks: list[np.ndarray | None]) -> np.ndarray:
        """(N, 7) probabilities in FER2013 order for BGR face squares (the box widened by `MARGIN`) and their
        five landmarks in the square's pixels (None or NaN: none found)."""
        keys = [_key(square, points) for square, points in zip(squares, landmarks)]
        missing = [index for index, key in enumerate(keys) if key not in self._cache]
        started = time.perf_counter()
        for start in range(0, len(missing), BATCH):
            chosen = missing[start:start + BATCH]
            answers = [self._run(squares[i], _usable(landmarks[i])) for i in chosen]
            self._cache.add({keys[i]: answer.tolist() for i, answer in zip(chosen, answers)})
        self.seconds_computing += time.perf_counter() - started
        return np.array([self._cache[key] for key in keys], np.float32).reshape(-1, len(LABELS))

    def classify_faces(self, faces) -> np.ndarray:
        """(N, 7) for 2-D grey face crops (FER2013 faces, a photo set's crops), upscaled, landmarks by YuNet."""
        squares = [cv2.cvtColor(cv2.resize(face, (SQUARE_SIDE, SQUARE_SIDE), interpolation=cv2.INTER_CUBIC),
                                cv2.COLOR_GRAY2BGR) for face in faces]
        return self.read_squares(squares, [self._landmarks_of_square(square) for square in squares])

    def read_face_set(self, path: str | Path) -> tuple[np.ndarray, np.ndarray]:
        """(labels, probabilities) on a face set `.npz`: its stored colour squares and landmarks."""
        with np.load(path) as data:
            squares = [cv2.cvtColor(face, cv2.COLOR_RGB2BGR) for face in data["faces"]]
            return data["labels"].astype(np.int64), self.read_squares(squares, list(data["landmarks"]))

    def analyze(self, image_bytes: bytes) -> list[TeacherFace]:
        """Every face YuNet finds in the photo, largest first, with the teacher's probabilities."""
        key = hashlib.sha1(image_bytes).hexdigest()
        if key not in self._cache:
            started = time.perf_counter()
            image = cv2.imdecode(np.frombuffer(image_bytes, np.uint8), cv2.IMREAD_COLOR)
            if image is None:
                raise ImageError("not_image", "not an image OpenCV can read")
            rows = self._detect(image)
            cut = [_square_around(image, row[:4], row[4:14].reshape(5, 2)) for row in rows]
            self.seconds_computing += time.perf_counter() - started
            found = self.read_squares([square for square, _ in cut], [points for _, points in cut])
            self._cache.add({key: [[[int(round(v)) for v in row[:4]], answer.tolist()]
                                   for row, answer in zip(rows, found)]})
        return [TeacherFace(tuple(box), dict(zip(LABELS, answer))) for box, answer in self._cache[key]]

    def _detect(self, image: np.ndarray) -> list[np.ndarray]:
        height, width = image.shape[:2]
        self._yunet.setInputSize((width, height))
        _, rows = self._yunet.detect(image)
        return sorted([] if rows is None else list(rows), key=lambda row: -row[2] * row[3])

    def _landmarks_of_square(self, square: np.ndarray) -> np.ndarray | None:
        rows = self._detect(square)
        return rows[0][4:14].reshape(5, 2) if rows else None


class _HSEmotion:
    def __init__(self, path: Path):
        self._model = ThreadLocalModel(path)

    def probabilities(self, square: np.ndarray, _landmarks) -> np.ndarray:
        side = square.shape[0]
        face = cv2.resize(square, (HSEMOTION_SIDE, HSEMOTION_SIDE),
                          interpolation=cv2.INTER_AREA if side > HSEMOTION_SIDE else cv2.INTER_CUBIC)
        output = self._model.run((face.astype(np.float32) - IMAGENET_BGR_MEANS)[np.newaxis])[0][0]
        return output[FER_ORDER]


class _MobileFaceNet:
    def __init__(self, content: bytes):
        self._net = cv2.dnn.readNetFromONNX(np.frombuffer(content, np.uint8))

    def probabilities(self, square: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray:
        if landmarks is None:
            face = cv2.resize(square, (ARCFACE_SIDE, ARCFACE_SIDE), interpolation=cv2.INTER_AREA)
        else:
            transform, _ = cv2.estimateAffinePartial2D(landmarks.astype(np.float32), ARCFACE_TEMPLATE,
                                                       method=cv2.LMEDS)
            face = cv2.warpAffine(square, transform, (ARCFACE_SIDE, ARCFACE_SIDE))
        rgb = cv2.cvtColor(face, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
        self._net.setInput(((rgb - 0.5) / 0.5).transpose(2, 0, 1)[np.newaxis])
        logits = self._net.forward()[0].astype(np.float64)
        exp = np.exp(logits - logits.max())
        return (exp / exp.sum())[FER_ORDER].astype(np.float32)


def _square_around(image: np.ndarray, box, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The square of MARGIN x the box's longer side around its centre (edges replicated where it leaves the image,
    as the face sets were cut), and the landmarks in its pixels."""
    x, y, w, h = (float(v) for v in box)
    side = max(1, int(round(MARGIN * max(w, h))))
    left, top = int(round(x + w / 2 - side / 2)), int(round(y + h / 2 - side / 2))
    height, width = image.shape[:2]
    padded = cv2.copyMakeBorder(image, max(0, -top), max(0, top + side - height), max(0, -left),
                                max(0, left + side - width), cv2.BORDER_REPLICATE)
    top_in, left_in = top + max(0, -top), left + max(0, -left)  # the square's corner in the padded image
    square = padded[top_in:top_in + side, left_in:left_in + side]
    return square, landmarks - np.array([left, top], np.float32)


def _usable(landmarks) -> np.ndarray | None:
    if landmarks is None:
        return None
    landmarks = np.asarray(landmarks, np.float32)
    return None if np.isnan(landmarks).any() else landmarks


def _key(square: np.ndarray, landmarks) -> str:
    digest = hashlib.sha1(np.ascontiguousarray(square).tobytes())
    digest.update(str(square.shape).encode())
    points = _usable(landmarks)
    if points is not None:
        digest.update(np.round(points, 3).tobytes())
    return digest.hexdigest()


class _Cache:
    """Answers by key, kept in an append-only JSON-lines file (an interrupted run keeps what it computed)."""

    def __init__(self, path: Path):
        self.path = path
        self._answers: dict[str, list] = {}
        if path.is_file():
            for line in path.read_text().splitlines():
                if line.strip():
                    self._answers.update(json.loads(line))

    def __contains__(self, key: str) -> bool:
        return key in self._answers

    def __getitem__(self, key: str) -> list:
        return self._answers[key]

    def add(self, answers: dict[str, list]) -> None:
        self._answers.update(answers)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as file:
            file.write(json.dumps(answers) + "\n")
