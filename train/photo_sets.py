"""Build a whole-photo test set from FER2013 test faces, for `python -m train.evaluate --photos DIR`.

    python -m train.photo_sets --data ../shared/data/fer2013/fer2013_train_publictest.csv.gz --out photos/fer-scenes \
                               [--photos 700] [--usage PublicTest] [--labels ferplus] [--seed 7]

Each photo pastes one labelled face (and, in some photos, other people's faces, smaller) into a photo-like scene
(`tools.fer_photos`) and varies what phones vary: size of the face, lighting, focus blur, slight roll, JPEG
quality. Beside the photos it writes the original 48x48 crop of the labelled face, so the evaluation compares the
whole pipeline with the classifier on the same faces, and `labels.csv` with the box and the scene's conditions as
group columns (`lighting`, `blur`, `jpeg`, `people`, `face_size`), so the figures say which condition costs what.
Faces are drawn in turn from each emotion, so rare emotions are in every set. Only faces with a label under
`--labels` are used (with FER+, faces the crowd left without a majority are skipped).
"""

import argparse
import csv
import sys
from pathlib import Path

import cv2
import numpy as np

from model.preprocess import LABELS
from tools.fer_photos import PlacedFace, compose_photo, encode, random_boxes
from train.data import LABEL_SOURCES, DataError, load_faces

PHOTO_SIZES = ((1280, 960), (960, 1280), (1024, 768))
FACE_SHARES = {"small": (0.15, 0.25), "medium": (0.25, 0.4), "large": (0.4, 0.6)}  # face width / photo width
LIGHTING = {"dim": 0.55, "normal": 1.0, "bright": 1.35}
BLUR_SIGMA = {"sharp": 0.0, "soft": 1.5}
JPEG_QUALITY = (45, 70, 92)


def build(faces, out: Path, photos: int, seed: int) -> int:
    """Write `photos` photos, their crops and labels.csv into `out`; return how many were written."""
    rng = np.random.default_rng(seed)
    by_emotion = [np.flatnonzero(faces.labels == label) for label in range(len(LABELS))]
    by_emotion = [rng.permutation(indices) for indices in by_emotion if len(indices)]
    out.mkdir(parents=True, exist_ok=True)
    (out / "crops").mkdir(exist_ok=True)
    rows = []
    for number in range(photos):
        pool = by_emotion[number % len(by_emotion)]
        index = int(pool[(number // len(by_emotion)) % len(pool)])
        rows.append(_photo(faces, index, number, out, rng))
    with open(out / "labels.csv", "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def _photo(faces, index: int, number: int, out: Path, rng: np.random.Generator) -> dict:
    width, height = PHOTO_SIZES[int(rng.integers(len(PHOTO_SIZES)))]
    size_name = list(FACE_SHARES)[int(rng.integers(len(FACE_SHARES)))]
    side = int(width * rng.uniform(*FACE_SHARES[size_name]))
    side = min(side, height - 2)
    others = int(rng.integers(0, 3)) if size_name != "large" else 0
    other_sides = [max(int(side * rng.uniform(0.5, 0.8)), 24) for _ in range(others)]
    try:
        boxes = random_boxes(width, height, [side, *other_sides], rng)
    except ValueError:  # no room for the others: the labelled face alone
        boxes, others = random_boxes(width, height, [side], rng), 0
    strangers = rng.choice(len(faces), size=others, replace=False) if others else []
    placed = [PlacedFace(faces.faces[index], boxes[0], float(rng.uniform(-12, 12)))]
    placed += [PlacedFace(faces.faces[int(i)], box, float(rng.uniform(-12, 12)))
               for i, box in zip(strangers, boxes[1:])]
    photo = compose_photo(width, height, placed, rng)

    lighting = list(LIGHTING)[int(rng.integers(len(LIGHTING)))]
    blur = list(BLUR_SIGMA)[int(rng.integers(len(BLUR_SIGMA)))]
    quality = int(JPEG_QUALITY[int(rng.integers(len(JPEG_QUALITY)))])
    photo = np.clip(photo.astype(np.float32) * LIGHTING[lighting], 0, 255).astype(np.uint8)
    if BLUR_SIGMA[blur]:
        photo = cv2.GaussianBlur(photo, (0, 0), BLUR_SIGMA[blur] * side / 160)

    name = f"{number:05d}_{LABELS[faces.labels[index]]}"
    (out / f"{name}.jpg").write_bytes(encode(photo, ".jpg", quality))
    cv2.imwrite(str(out / "crops" / f"{name}.png"), faces.faces[index])
    x, y, w, h = boxes[0]
    return {"file": f"{name}.jpg", "emotion": LABELS[faces.labels[index]], "crop": f"crops/{name}.png",
            "x": x, "y": y, "w": w, "h": h, "face_size": size_name, "lighting": lighting, "blur": blur,
            "jpeg": f"q{quality}", "people": str(1 + others)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.photo_sets", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="FER2013 CSV (plain or .gz)")
    parser.add_argument("--out", required=True, type=Path, help="folder for the photos, crops/ and labels.csv")
    parser.add_argument("--photos", type=int, default=700)
    parser.add_argument("--usage", default="PublicTest", help="the split the faces come from")
    parser.add_argument("--labels", choices=LABEL_SOURCES, default="ferplus")
    parser.add_argument("--votes", help="FER+ votes CSV (default: beside --data)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    try:
        faces = load_faces(args.data, args.labels, args.votes).split(args.usage).labelled()
        written = build(faces, args.out, args.photos, args.seed)
    except (DataError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {written} photos, their crops and labels.csv to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
