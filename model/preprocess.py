"""The one preprocessing step shared by training, evaluation and the bot.

A face crop (grayscale, any size) becomes the model's input: 48x48, float32 in [0, 1], one channel.
`train/` imports this function for FER2013 rows and `model/` for faces cut out of photos, so the two
can never drift apart.
"""

import cv2
import numpy as np

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
INPUT_SIZE = 48
PIXEL_SCALE = 1.0 / 255.0


def face_to_input(gray_face: np.ndarray) -> np.ndarray:
    """Turn one grayscale uint8 face crop (H, W) into a (48, 48, 1) float32 model input."""
    if gray_face.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale face, got shape {gray_face.shape}")
    if gray_face.shape != (INPUT_SIZE, INPUT_SIZE):
        shrinking = gray_face.shape[0] > INPUT_SIZE
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        gray_face = cv2.resize(gray_face, (INPUT_SIZE, INPUT_SIZE), interpolation=interpolation)
    return (gray_face.astype(np.float32) * PIXEL_SCALE)[..., np.newaxis]
