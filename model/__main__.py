"""Print the faces and emotions in image files.

    python -m model IMAGE... [--json] [--model PATH]

For each image: every face (box [x, y, w, h] in the image's upright pixels, emotion, confidence, the
probabilities of all 7 emotions), largest first, or the reason it could not be read. `--json` prints one
JSON list with an object per image: {"image", "faces": [...]} or {"image", "error"}.
Exit status: 0 when every image was read, 1 when any could not be, 2 when the model itself cannot be loaded.
"""

import argparse
import json
import sys
from pathlib import Path

from model.classifier import EmotionModel
from model.decode import MAX_BYTES, ImageError
from model.json_output import face_to_json


def read_image(model: EmotionModel, path: Path) -> dict:
    """{"image", "faces"} for a readable image, {"image", "error"} for anything else; never raises."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ImageError("too_large", f"That file is larger than {MAX_BYTES // 2**20} MB.")
        faces = model.analyze(path.read_bytes())
    except ImageError as error:
        return {"image": str(path), "error": str(error)}
    except OSError as error:
        return {"image": str(path), "error": f"cannot read the file: {error.strerror or error}"}
    except Exception as error:  # a bug of ours: report it for this image and go on with the others
        return {"image": str(path), "error": f"internal error ({type(error).__name__}: {error})"}
    return {"image": str(path), "faces": [face_to_json(face) for face in faces]}


def as_text(result: dict) -> str:
    if "error" in result:
        return f"{result['image']}: error: {result['error']}"
    faces = result["faces"]
    lines = [f"{result['image']}: {len(faces)} face{'' if len(faces) == 1 else 's'}"]
    for face in faces:
        others = sorted(face["probabilities"].items(), key=lambda item: -item[1])[1:4]
        lines.append(f"  {face['emotion']:<8} {face['confidence']:.0%}  at {face['box']}  "
                     f"(then {', '.join(f'{label} {p:.0%}' for label, p in others)})")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model", description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    parser.add_argument("--json", action="store_true", help="print one JSON list")
    parser.add_argument("--model", type=Path, help="emotion .tflite (default model/emotion.tflite)")
    args = parser.parse_args(argv)
    try:
        model = EmotionModel.load(args.model)
    except (OSError, ValueError) as error:
        print(f"error: cannot load the emotion model: {error}", file=sys.stderr)
        return 2
    results = [read_image(model, path) for path in args.images]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print("\n".join(as_text(result) for result in results))
    return 1 if any("error" in result for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
