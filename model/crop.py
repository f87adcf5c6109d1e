"""Cutting a detected face out of a photo the way FER2013 framed its faces, so the classifier sees what it learnt.

FER2013 crops are square and tight: from the forehead to just below the chin. `python -m tools.compare_detectors`
measures where BlazeFace's box falls on that frame (the `box_on_fer_frame` figures in model/DETECTION.md); this
module inverts it. The crop is also turned so the eyes are level, as they mostly are in FER2013, converted to
grayscale only where the face is, never the whole photo, and brought to the brightness and contrast of an average
FER2013 face, so a dim room or a flash does not change what the model reads (on the FER scene photos of
`python -m train.photo_sets`, pipeline accuracy 58.4% -> 65.2% for model 2.0.0, dim photos gaining most; on the
ExpW web photos 39.0% -> 39.1%).
"""

import math

import cv2
import numpy as np

from model.detect import Detection

# Where BlazeFace's box sits on a FER2013 frame, as shares of the frame's side: medians over FER2013 faces
# pasted at 10-60% of a photo's width (they do not drift with the size; single faces spread by about +-20%).
BOX_ON_FER_FRAME = {"x": 0.09, "y": 0.145, "w": 0.85}
FER_MEAN, FER_STD = 126.4, 54.5  # mean brightness and contrast (std) of FER2013 faces
CROP_SIDE = 96  # twice the model's input: the shared preprocessing then halves it with INTER_AREA


def crop_face(image: np.ndarray, detection: Detection) -> np.ndarray:
    """The face as a square grayscale uint8 crop framed like FER2013, eyes level, at most CROP_SIDE pixels a side."""
    x, y, width, height = detection.box
    side = max(width, height) / BOX_ON_FER_FRAME["w"]
    angle = _roll(detection)
    cos, sin = math.cos(angle), math.sin(angle)
    # Frame centre = box centre + the box-to-frame offset, turned with the face.
    offset_x = (0.5 - BOX_ON_FER_FRAME["x"] - BOX_ON_FER_FRAME["w"] / 2) * side
    offset_y = (0.5 - BOX_ON_FER_FRAME["y"] - BOX_ON_FER_FRAME["w"] / 2) * side
    centre_x = x + width / 2 + cos * offset_x - sin * offset_y
    centre_y = y + height / 2 + sin * offset_x + cos * offset_y

    reach = side * (abs(cos) + abs(sin)) / 2 + 2
    left, top = max(int(centre_x - reach), 0), max(int(centre_y - reach), 0)
    right, bottom = min(int(centre_x + reach) + 1, image.shape[1]), min(int(centre_y + reach) + 1, image.shape[0])
    if right <= left or bottom <= top:
        left, top, right, bottom = 0, 0, image.shape[1], image.shape[0]
    region = cv2.cvtColor(image[top:bottom, left:right], cv2.COLOR_BGR2GRAY)
    out = max(min(CROP_SIDE, round(side)), 1)
    shrink = 1.0
    while side * shrink / out >= 2 and min(region.shape) >= 2:  # halve big faces first: INTER_AREA, no aliasing
        region = cv2.resize(region, (region.shape[1] // 2, region.shape[0] // 2), interpolation=cv2.INTER_AREA)
        shrink /= 2
    # Output pixel (u, v) -> region pixel: turn and scale around the frame centre.
    step = side * shrink / out
    cx, cy = (centre_x - left) * shrink, (centre_y - top) * shrink
    to_region = np.array([[cos * step, -sin * step, cx - (cos - sin) * step * out / 2],
                          [sin * step, cos * step, cy - (sin + cos) * step * out / 2]], np.float64)
    face = cv2.warpAffine(region, to_region, (out, out), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    return normalise_exposure(face)


def normalise_exposure(face: np.ndarray) -> np.ndarray:
    """The crop's brightness (mean) and contrast (standard deviation) set to those of an average FER2013 face."""
    pixels = face.astype(np.float32)
    spread = max(float(pixels.std()), 1.0)
    return np.clip((pixels - pixels.mean()) * (FER_STD / spread) + FER_MEAN, 0, 255).astype(np.uint8)


def _roll(detection: Detection) -> float:
    """The angle (radians) of the line through the eyes; 0 when the detector gave no eyes."""
    if detection.eyes is None:
        return 0.0
    (x1, y1), (x2, y2) = sorted(detection.eyes)
    return math.atan2(y2 - y1, x2 - x1)
