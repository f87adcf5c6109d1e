"""Labelled face crops from other public sets (`../shared/data/faces_extra/*.npz`), seen the way the bot sees a face.

Each `.npz` holds crops (56x56 grey or 96x96 RGB) with the five landmarks the YuNet detector found in them. A crop
goes through the bot's own `model.crop.crop_face`, aligned by those eyes onto the FER2013 frame and brought to
FER2013's exposure, then to the model's 48x48: training, evaluation and the bot frame a face the same way.
The training set also carries both teachers' probabilities (FER2013 label order), computed on the colour crops.
"""

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from model.crop import crop_face, normalise_exposure
from model.detect import Detection
from model.preprocess import PIXEL_SCALE, face_to_input

TEACHERS = ("hsemotion", "mobilefacenet")
MARGIN = 1.2  # the sets' crops are squares of 1.2 x the detector's box around its centre (faces_extra README)


@dataclass(frozen=True)
class ExtraFaces:
    name: str  # the file's stem: "train", "dev_posed", "dev_wild_sfew"
    faces: np.ndarray  # (N, 48, 48) uint8, framed like FER2013
    labels: np.ndarray  # (N,) int64, FER2013 order
    sources: np.ndarray  # (N,) str, the public set each face comes from
    teachers: dict[str, np.ndarray] = field(default_factory=dict)  # teacher name -> (N, 7) float32 probabilities

    def __len__(self) -> int:
        return len(self.labels)


def load_face_set(path: str | Path) -> ExtraFaces:
    """Every face of one `.npz` set, framed like FER2013 at 48x48."""
    path = Path(path)
    with np.load(path) as data:
        faces = [_framed(face, landmarks) for face, landmarks in zip(data["faces"], data["landmarks"])]
        teachers = {name: data[f"teacher_{name}"].astype(np.float32) for name in TEACHERS
                    if f"teacher_{name}" in data.files}
        return ExtraFaces(path.stem, np.stack(faces), data["labels"].astype(np.int64), data["source"].astype(str),
                          teachers)


def _framed(crop: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """One stored crop as the 48x48 face the model reads."""
    bgr = cv2.cvtColor(crop, cv2.COLOR_RGB2BGR) if crop.ndim == 3 else cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    side = crop.shape[0]
    if np.isnan(landmarks).any():  # no face found: the crop is the image's centre square, framed as it is
        face = normalise_exposure(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    else:
        box_side = side / MARGIN
        corner = (side - box_side) / 2
        eyes = tuple((float(x), float(y)) for x, y in landmarks[:2])
        face = crop_face(bgr, Detection((corner, corner, box_side, box_side), 1.0, eyes))
    return np.round(face_to_input(face)[..., 0] / PIXEL_SCALE).astype(np.uint8)

