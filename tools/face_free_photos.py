"""Photos with no face in them, for measuring how often the detector reports a face that is not there.

    python -m tools.face_free_photos [--photos 360] [--json]

Four kinds in turn, each 1280x960 or 960x1280: a smooth gradient with a line of text (what BlazeFace alone reads
as a face, issue 11), the drawn rooms of `tools.fer_photos` without their people, natural-looking textures (noise
blurred at several scales, like foliage, gravel, fabric or clouds) and landscapes (sky, hills, a horizon, trees as
blobs, a sun). None holds a face; the command prints how many get one from the bot's detector.
"""

import argparse
import json
import sys

import cv2
import numpy as np

from tools.fer_photos import background

KINDS = ("text", "room", "texture", "landscape")
TEXTS = ("Lorem ipsum dolor sit amet", "MoodTunes", "Happy birthday!", "0 1 2 3 4 5 6 7 8 9")
FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX)


def face_free_photos(count: int, seed: int = 11):
    """`count` (kind, BGR photo) pairs, the kinds taking turns, landscape and portrait in turn."""
    rng = np.random.default_rng(seed)
    for number in range(count):
        width, height = (960, 1280) if number // len(KINDS) % 2 else (1280, 960)
        kind = KINDS[number % len(KINDS)]
        yield kind, DRAW[kind](width, height, rng)


def text_on_gradient(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(0, np.pi)
    x, y = np.meshgrid(np.linspace(-1, 1, width, dtype=np.float32), np.linspace(-1, 1, height, dtype=np.float32))
    low, high = sorted(rng.uniform(20, 235, size=2))
    shade = low + (high - low) * (np.cos(angle) * x + np.sin(angle) * y + 1.5) / 3
    picture = cv2.cvtColor(shade.astype(np.uint8), cv2.COLOR_GRAY2BGR)
    if rng.random() < 0.5:  # a tinted gradient
        picture = np.clip(picture * rng.uniform(0.7, 1.2, size=3), 0, 255).astype(np.uint8)
    scale = rng.uniform(1.0, 4.0)
    ink = int(rng.choice([20, 235]))
    text = TEXTS[int(rng.integers(len(TEXTS)))]
    cv2.putText(picture, text, (int(rng.uniform(0.02, 0.3) * width), int(rng.uniform(0.2, 0.9) * height)),
                FONTS[int(rng.integers(len(FONTS)))], scale, (ink, ink, ink), max(int(scale * 2), 1))
    return picture


def room(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    return background(width, height, rng)


def texture(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Noise summed over a few scales and coloured: foliage, gravel, fabric or clouds, depending on the draw."""
    layers = np.zeros((height, width, 3), np.float32)
    for scale in rng.choice([2, 4, 8, 16, 32, 64], size=3, replace=False):
        small = rng.normal(0, 1, size=(max(height // scale, 2), max(width // scale, 2), 3)).astype(np.float32)
        layers += cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC) * rng.uniform(0.3, 1.0)
    colour = rng.uniform(40, 200, size=3)
    return np.clip(colour + layers * rng.uniform(15, 45), 0, 255).astype(np.uint8)


def landscape(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Sky, hills under a horizon, trees as dark blobs and, sometimes, a sun."""
    rows = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    sky_top, sky_low = rng.uniform([150, 90, 30], [255, 200, 120]), rng.uniform([200, 180, 150], [255, 240, 230])
    picture = np.broadcast_to(sky_top + (sky_low - sky_top) * rows, (height, width, 3)).copy()
    columns = np.arange(width, dtype=np.float32)
    for layer in range(int(rng.integers(2, 5))):
        horizon = height * (0.35 + 0.15 * layer) + sum(
            rng.uniform(10, 60) * np.sin(columns / rng.uniform(40, 400) + rng.uniform(0, 6)) for _ in range(3))
        ground = rng.uniform([20, 60, 30], [90, 160, 120]) * (1 - 0.15 * layer)
        below = np.arange(height, dtype=np.float32)[:, None] >= horizon[None, :]
        picture[below] = ground
    for _ in range(int(rng.integers(0, 12))):
        centre = (int(rng.integers(0, width)), int(rng.integers(height // 3, height)))
        axes = (int(rng.integers(10, 80)), int(rng.integers(20, 120)))
        cv2.ellipse(picture, centre, axes, 0, 0, 360, rng.uniform(10, 60, size=3).tolist(), thickness=-1)
    if rng.random() < 0.4:
        cv2.circle(picture, (int(rng.integers(0, width)), int(rng.integers(0, height // 3))),
                   int(rng.integers(20, 60)), (200, 240, 255), thickness=-1)
    picture = cv2.GaussianBlur(picture, (0, 0), 1.2) + rng.normal(0, 4, size=picture.shape)
    return np.clip(picture, 0, 255).astype(np.uint8)


DRAW = {"text": text_on_gradient, "room": room, "texture": texture, "landscape": landscape}


def main(argv=None) -> int:
    from model.detect import BlazeFaceDetector  # here, so that the photos can be made without a model

    parser = argparse.ArgumentParser(prog="python -m tools.face_free_photos", description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=360, help="photos, the four kinds taking turns (default 360)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    detector = BlazeFaceDetector()
    with_face: dict[str, list[bool]] = {kind: [] for kind in KINDS}
    for kind, photo in face_free_photos(args.photos):
        with_face[kind].append(bool(detector.detect(photo)))
    report = {kind: {"photos": len(hits), "with_a_face": int(sum(hits))} for kind, hits in with_face.items()}
    report["all"] = {"photos": args.photos, "with_a_face": sum(r["with_a_face"] for r in report.values())}
    if args.json:
        print(json.dumps(report))
    else:
        for kind, figures in report.items():
            print(f"{kind:<10} {figures['with_a_face']:>4} of {figures['photos']} photos get a face")
    return 0


if __name__ == "__main__":
    sys.exit(main())
