"""A face's reading as plain JSON data: what `python -m model --json` and `python -m bot suggest --json` print."""

from model.classifier import FaceEmotion


def face_to_json(face: FaceEmotion) -> dict:
    """Box [x, y, w, h] in the image's upright pixels, top emotion, confidence and all 7 probabilities."""
    return {"box": list(face.box), "emotion": face.emotion, "confidence": round(face.confidence, 4),
            "probabilities": {label: round(p, 4) for label, p in face.probabilities.items()}}
