"""`EmotionModel`: photo bytes in, one `FaceEmotion` per face out (decode -> detect -> crop -> classify).

The emotion model (`emotion.tflite`) and its metadata (`emotion.json`) are read once; the face detector is
loaded alongside. Every call may come from a different thread of an executor: each thread gets its own
interpreters (see model/runtime.py), nothing else is mutable.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.crop import crop_face
from model.decode import decode_image
from model.detect import BlazeFaceDetector
from model.preprocess import INPUT_SIZE, LABELS, PIXEL_SCALE, face_to_input
from model.runtime import ThreadLocalModel

DEFAULT_MODEL = Path(__file__).resolve().parent / "emotion.tflite"
CLASSIFY_BATCH = 256


@dataclass(frozen=True)
class FaceEmotion:
    box: tuple[int, int, int, int]  # x, y, w, h in the original photo's (upright) pixels
    emotion: str
    confidence: float
    probabilities: dict[str, float]  # every label, summing to 1
    face48: np.ndarray = field(compare=False, repr=False)  # the 48x48 uint8 grayscale face the model saw


class EmotionModel:
    """The emotion classifier with its face detector; build it with `EmotionModel.load()`."""

    def __init__(self, classifier: ThreadLocalModel, metadata: dict, detector: BlazeFaceDetector):
        self._classifier, self._metadata, self._detector = classifier, metadata, detector

    @classmethod
    def load(cls, path: str | Path | None = None) -> "EmotionModel":
        """Load a `.tflite` emotion model and its metadata (same name with .json, else emotion.json beside it)."""
        path = Path(path) if path is not None else DEFAULT_MODEL
        if not path.is_file():
            raise FileNotFoundError(f"no emotion model at {path}; train one with `python -m train`")
        metadata_path = path.with_suffix(".json")
        if not metadata_path.is_file():
            metadata_path = path.parent / "emotion.json"
        try:
            metadata = json.loads(metadata_path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"no metadata for {path}: expected {path.with_suffix('.json')} "
                                    f"or {metadata_path}") from None
        classifier = ThreadLocalModel(path)
        _check_metadata(metadata, metadata_path)
        _check_pairing(metadata, metadata_path, path.name, classifier.sha256)
        return cls(classifier, metadata, BlazeFaceDetector())

    @property
    def version(self) -> str:
        return str(self._metadata["version"])

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self._metadata["labels"])

    def analyze(self, image_bytes: bytes) -> list[FaceEmotion]:
        """Every face in the photo with its emotion, largest first; [] when there is none.

        Raises `ImageError` when the bytes are not a readable photo of acceptable size (formats: model/decode.py).
        """
        image = decode_image(image_bytes)
        detections = sorted(self._detector.detect(image.pixels), key=lambda d: -d.box[2] * d.box[3])
        if not detections:
            return []
        inputs = np.stack([face_to_input(crop_face(image.pixels, d)) for d in detections])
        probabilities = self._classify(inputs)
        return [self._face(detection, image.scale, face_input, row)
                for detection, face_input, row in zip(detections, inputs, probabilities)]

    def classify_faces(self, faces: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 7) probabilities for 2-D uint8 grayscale face crops, through the shared `face_to_input`."""
        if len(faces) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        return np.concatenate([self._classify(np.stack([face_to_input(f) for f in faces[start:start + CLASSIFY_BATCH]]))
                               for start in range(0, len(faces), CLASSIFY_BATCH)])

    def _classify(self, inputs: np.ndarray) -> np.ndarray:
        # The int8 softmax comes out in steps of 1/256; renormalising makes every row sum to 1 again.
        probabilities = self._classifier.run(inputs.astype(np.float32, copy=False))[0]
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def _face(self, detection, scale: float, face_input: np.ndarray, row: np.ndarray) -> FaceEmotion:
        box = tuple(int(round(v * scale)) for v in detection.box)
        best = int(np.argmax(row))
        return FaceEmotion(
            box=box,
            emotion=self.labels[best],
            confidence=float(row[best]),
            probabilities={label: float(p) for label, p in zip(self.labels, row)},
            face48=np.round(face_input[..., 0] / PIXEL_SCALE).astype(np.uint8),
        )


def _check_metadata(metadata: dict, where: Path) -> None:
    """Refuse a model whose metadata does not match the shared preprocessing, rather than answer nonsense."""
    expected = {"labels": list(LABELS), "height": INPUT_SIZE, "width": INPUT_SIZE, "channels": 1}
    found = {"labels": metadata.get("labels"), **{k: metadata.get("input", {}).get(k) for k in
                                                    ("height", "width", "channels")}}
    scale = metadata.get("input", {}).get("scale")
    if found != expected or scale is None or not np.isclose(scale, PIXEL_SCALE) or "version" not in metadata:
        raise ValueError(f"{where}: metadata does not match model/preprocess.py (expected {expected}, "
                         f"scale {PIXEL_SCALE:.6f} and a version; found {found}, scale {scale})")


def _check_pairing(metadata: dict, where: Path, model_name: str, sha256: str) -> None:
    """Refuse a model file that is not the one its metadata describes (say, a promotion caught half way)."""
    expected = metadata.get("files", {}).get(model_name, {}).get("sha256")
    if expected is not None and expected != sha256:
        raise ValueError(f"{where} describes another {model_name} than the one on disk (SHA-256 {expected[:12]}... "
                         f"expected, {sha256[:12]}... found): the model and its metadata do not belong together")
