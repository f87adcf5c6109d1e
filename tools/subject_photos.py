"""Build a photo set of people with several photos each, for `python -m tools.personal_bench --photos DIR`.

    python -m tools.subject_photos --out DIR [--min-photos 12] [--per-subject 40] [--seed 7]

Faces come from `../shared/data/faces_extra/` (not part of this repository; nothing is written but into DIR):
- the muxspace rows of `train.npz`: mostly LFW (and some IMFDB film) faces, whose file name carries the person's
  name (`George_W_Bush_0012.jpg`): people with at least `--min-photos` faces, up to `--per-subject` of them each
  (mostly neutral or happy, as those photos are);
- the CK+ development faces (`dev_posed.npz`): the subject id is in the file name (`S005_001_...`), a few posed
  expressions each.
Each face crop is pasted, larger, into a photo-like scene (`tools.fer_photos`) so that the bot's face detector finds
it, at a random place and size with a slight roll. `labels.csv` has `file,emotion,subject,source,x,y,w,h`.
"""

import argparse
import csv
import re
import sys
from pathlib import Path

import numpy as np

from model.preprocess import LABELS
from tools.fer_photos import PlacedFace, compose_photo, encode

FACES_EXTRA = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces_extra"
PHOTO_SIZE = (640, 480)
FACE_SIDES = (200, 320)  # the pasted crop's side in pixels (the crops have a 20% margin around the face)
NAMED_FILE = re.compile(r"images/(?P<subject>.+?)_\d+\.jpg$")  # muxspace: LFW and IMFDB files carry the name
CKPLUS_FILE = re.compile(r"CK\+48/\w+/(?P<subject>S\d+)_")


def subject_faces(folder: Path, min_photos: int, per_subject: int,
                  rng: np.random.Generator) -> list[tuple[str, str, str, np.ndarray]]:
    """(subject, source, emotion, grey face) for every chosen face, subject by subject."""
    chosen = []
    for name, source, pattern, limit in (("train", "muxspace", NAMED_FILE, min_photos), ("dev_posed", "ckplus",
                                                                                       CKPLUS_FILE, 1)):
        arrays = np.load(folder / f"{name}.npz")
        faces = arrays["faces"] if arrays["faces"].ndim == 3 else arrays["faces"][..., 0]  # dev sets: R = G = B
        with open(folder / f"{name}_labels.csv", encoding="utf-8", newline="") as file:
            rows = [row for row in csv.DictReader(file) if row["source"] == source]
        by_subject: dict[str, list[dict]] = {}
        for row in rows:
            match = pattern.search(row["original_path"])
            if match:
                by_subject.setdefault(f"{source}:{match['subject']}", []).append(row)
        for subject, photos in sorted(by_subject.items()):
            if len(photos) < limit:
                continue
            picked = rng.permutation(len(photos))[:per_subject]
            chosen += [(subject, source, photos[i]["label"], faces[int(photos[i]["index"])]) for i in sorted(picked)]
    return chosen


def build(out: Path, min_photos: int, per_subject: int, seed: int, folder: Path = FACES_EXTRA) -> int:
    """Write the photos and labels.csv into `out`; return how many photos were written."""
    rng = np.random.default_rng(seed)
    faces = subject_faces(folder, min_photos, per_subject, rng)
    out.mkdir(parents=True, exist_ok=True)
    width, height = PHOTO_SIZE
    rows = []
    for number, (subject, source, emotion, face) in enumerate(faces):
        if emotion not in LABELS:
            continue
        side = int(rng.integers(*FACE_SIDES))
        x, y = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
        photo = compose_photo(width, height, [PlacedFace(face, (x, y, side, side), float(rng.uniform(-8, 8)))], rng)
        name = f"{number:05d}.jpg"
        (out / name).write_bytes(encode(photo, ".jpg", 90))
        rows.append({"file": name, "emotion": emotion, "subject": subject, "source": source,
                     "x": x, "y": y, "w": side, "h": side})
    with open(out / "labels.csv", "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.subject_photos", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for the photos and labels.csv")
    parser.add_argument("--faces", type=Path, default=FACES_EXTRA, help="the faces_extra folder")
    parser.add_argument("--min-photos", type=int, default=12, help="LFW/IMFDB people with at least this many faces")
    parser.add_argument("--per-subject", type=int, default=40, help="at most this many faces of one person")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    try:
        written = build(args.out, args.min_photos, args.per_subject, args.seed, args.faces)
    except (OSError, KeyError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {written} photos and labels.csv to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
