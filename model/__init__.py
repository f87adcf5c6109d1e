"""Image bytes in, emotions out: the inference path the bot uses (no TensorFlow, no Telegram).

    from model import EmotionModel, ImageError
    model = EmotionModel.load()          # model/emotion.tflite + emotion.json, and the face detector
    for face in model.analyze(photo_bytes):
        print(face.box, face.emotion, face.confidence)

Pipeline, one module each: decode.py (bytes -> upright pixels, refusing bad input) -> detect.py (faces)
-> crop.py (FER2013-style crops) -> preprocess.py (the input shared with training) -> classifier.py (LiteRT).
"""

from model.classifier import EmotionModel, FaceEmotion
from model.decode import ImageError

__all__ = ["EmotionModel", "FaceEmotion", "ImageError"]
