"""Whole-photo evaluation: the bot's own pipeline (decode -> detect -> crop -> classify) on a folder of photos.

    python -m train.evaluate --photos DIR [--model model/emotion.tflite] [--json]

DIR holds images and `labels.csv` with columns `file,emotion` and, optionally:
- `x,y,w,h`: the annotated face's box; the face judged is then the detected face that overlaps it most (photos
  may show other people), else the largest one, which is what the bot reads;
- `crop`: an image of the same face as a tight crop, to compare the pipeline with the classifier alone on the same
  faces (without it, the annotated box is cut out of the photo as the crop);
- any other column with a handful of values (`sex`, `age_group`, `skin_tone`, `subject`, ...): a group, reported
  value by value with its accuracy and how often each emotion is predicted, so no emotion is favoured for a
  whole group unnoticed.
Figures: photos, face found, accuracy and balanced accuracy (mean recall), recall per class, confusion matrix,
prediction rate per class, the same faces as crops, photos with more than one face reported, and per group; and the
set's `train.panel` row, where a photo whose face was missed counts as wrong.
A teacher (`train.teachers.Teacher`) reads a folder the same way: it has the model's `analyze` and `classify_faces`.
"""

import csv
from pathlib import Path

import cv2
import numpy as np

from model import EmotionModel, ImageError
from model.preprocess import LABELS
from tools.compare_detectors import iou
from train import panel
from train.data import DataError
from train.metrics import balanced_accuracy, metrics, prediction_rates

LABELS_FILE = "labels.csv"
BOX_COLUMNS = ("x", "y", "w", "h")
NOT_GROUPS = {"file", "emotion", "crop", "source", "box_conf", *BOX_COLUMNS}
MAX_GROUP_VALUES = 12  # a column with more distinct values (a free-text search noun, say) is no group
MIN_OVERLAP = 0.2  # a detection overlapping the annotated box less than this (IoU) did not find that face


def read_labels(folder: Path) -> list[dict]:
    path = folder / LABELS_FILE
    if not path.is_file():
        raise DataError(f"{path}: no such file; a photo folder needs labels.csv with columns file,emotion")
    with open(path, encoding="utf-8", newline="") as text:
        rows = list(csv.DictReader(text))
    if not rows or not {"file", "emotion"} <= set(rows[0]):
        raise DataError(f"{path}: expected a header with the columns file,emotion and at least one row")
    for line, row in enumerate(rows, start=2):
        if row["emotion"] not in LABELS:
            raise DataError(f"{path}: line {line}: emotion {row['emotion']!r} is not one of {', '.join(LABELS)}")
    return rows


def group_columns(rows: list[dict]) -> list[str]:
    columns = [name for name in rows[0] if name not in NOT_GROUPS]
    return [name for name in columns if 1 < len({row[name] for row in rows if row[name]}) <= MAX_GROUP_VALUES]


def evaluate_photos(model: EmotionModel, folder: Path) -> dict:
    """Every photo of the folder through `model.analyze`, as the bot reads it; the figures in the module docstring."""
    rows = read_labels(folder)
    judged, crops, found_counts, largest_is_judged, unreadable = [], [], [], [], 0
    for row in rows:
        data = (folder / row["file"]).read_bytes()
        try:
            faces = model.analyze(data)
        except ImageError:
            unreadable += 1
            faces = []
        annotated = _annotated_box(row)
        face = _judged_face(faces, annotated)
        found_counts.append(len(faces))
        largest_is_judged.append(face is not None and face is faces[0])
        judged.append(None if face is None else np.array([face.probabilities[label] for label in LABELS]))
        crops.append(_crop(folder, row, data, annotated))
    return _report(model, rows, judged, crops, np.array(found_counts), np.array(largest_is_judged), unreadable)


def _annotated_box(row: dict) -> tuple[float, ...] | None:
    if not all(row.get(name) for name in BOX_COLUMNS):
        return None
    return tuple(float(row[name]) for name in BOX_COLUMNS)


def _judged_face(faces, annotated):
    if not faces:
        return None
    if annotated is None:
        return faces[0]  # largest first: the face the bot reads
    overlap, face = max(((iou(face.box, annotated), face) for face in faces), key=lambda pair: pair[0])
    return face if overlap >= MIN_OVERLAP else None


def _crop(folder: Path, row: dict, data: bytes, annotated) -> np.ndarray | None:
    """The same face as a tight grayscale crop: the `crop` file, else the annotated box cut out of the photo."""
    if row.get("crop"):
        return cv2.imread(str(folder / row["crop"]), cv2.IMREAD_GRAYSCALE)
    if annotated is None:
        return None
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        return None
    x, y, w, h = (int(round(v)) for v in annotated)
    face = image[max(y, 0):y + h, max(x, 0):x + w]
    return face if face.size else None


def _report(model, rows, judged, crops, found_counts, largest_is_judged, unreadable) -> dict:
    labels = np.array([LABELS.index(row["emotion"]) for row in rows])
    found = np.array([p is not None for p in judged])
    probabilities = np.array([p for p in judged if p is not None]).reshape(-1, len(LABELS))
    pipeline = metrics(labels[found], probabilities)
    predictions = np.full(len(rows), -1)
    predictions[found] = probabilities.argmax(axis=1)
    report = {
        "model_version": model.version,
        "photos": len(rows),
        "unreadable": unreadable,
        "face_found": round(float(found.mean()), 4),
        "more_than_one_face": round(float(np.mean(found_counts > 1)), 4),
        "largest_is_the_face": round(float(largest_is_judged[found].mean()), 4) if found.any() else None,
        "accuracy": pipeline["accuracy"],
        "accuracy_of_all_photos": round(float((predictions == labels).mean()), 4),
        "balanced_accuracy": balanced_accuracy(pipeline),
        "recall": {name: row["recall"] for name, row in pipeline["per_class"].items()},
        "prediction_rate": prediction_rates(predictions[found]),
        "ece": pipeline["ece"],
        "labels": list(LABELS),
        "confusion_matrix": pipeline["confusion_matrix"],
        "n": pipeline["n"],
        "usage": "whole photos",
        "model": f"{model.version} (whole photos)",
        "crops": _crop_figures(model, labels, crops, found, "crop column" if "crop" in rows[0] else "annotated box"),
        "groups": _groups(rows, labels, predictions, found, found_counts),
        "panel": panel.row("photos", labels, predictions, face_found=round(float(found.mean()), 4)),
    }
    return report


def _crop_figures(model, labels, crops, found, source: str) -> dict | None:
    """The classifier alone on the same faces, for the photos where the pipeline found the face and a crop exists."""
    usable = np.array([crop is not None for crop in crops]) & found
    if not usable.any():
        return None
    probabilities = model.classify_faces([crop for crop, use in zip(crops, usable) if use])
    figures = metrics(labels[usable], probabilities)
    return {"n": figures["n"], "accuracy": figures["accuracy"], "balanced_accuracy": balanced_accuracy(figures),
            "source": source}


def _groups(rows, labels, predictions, found, found_counts) -> dict:
    groups = {}
    for column in group_columns(rows):
        values = {}
        for value in sorted({row[column] for row in rows if row[column]}):
            members = np.array([row[column] == value for row in rows])
            answered = members & found
            values[value] = {"photos": int(members.sum()), "face_found": round(float(found[members].mean()), 4),
                             "more_than_one_face": round(float((found_counts[members] > 1).mean()), 4),
                             "accuracy": round(float((predictions[answered] == labels[answered]).mean()), 4)
                             if answered.any() else None,
                             "prediction_rate": prediction_rates(predictions[answered])}
        groups[column] = values
    return groups


def format_report(report: dict) -> str:
    def rates(shares: dict) -> str:
        return " ".join(f"{name[:4]} {share:.0%}" for name, share in shares.items())

    lines = [f"model {report['model_version']} on {report['photos']} whole photos ({report['unreadable']} unreadable)",
             f"face found {report['face_found']:.1%}   more than one face reported "
             f"{report['more_than_one_face']:.1%}   largest face is the labelled one "
             + ("-" if report["largest_is_the_face"] is None else f"{report['largest_is_the_face']:.1%}"),
             f"accuracy {report['accuracy']:.2%} of {report['n']} faces found ({report['accuracy_of_all_photos']:.2%} "
             f"of all photos)   balanced accuracy {report['balanced_accuracy']:.2%}   ECE {report['ece']:.3f}"]
    if report["crops"]:
        crops = report["crops"]
        lines.append(f"same faces as crops ({crops['source']}): accuracy {crops['accuracy']:.2%} of {crops['n']}, "
                     f"balanced {crops['balanced_accuracy']:.2%}")
    lines += ["", "recall:      " + rates(report["recall"]), "predicted:   " + rates(report["prediction_rate"]),
              "", "confusion (rows: true, columns: predicted)", " " * 10 + "".join(f"{n[:7]:>8}" for n in LABELS)]
    for name, row in zip(LABELS, report["confusion_matrix"]):
        lines.append(f"{name:<10}" + "".join(f"{count:>8}" for count in row))
    for column, values in report["groups"].items():
        lines += ["", f"by {column}:"]
        for value, figures in values.items():
            accuracy = "-" if figures["accuracy"] is None else f"{figures['accuracy']:.1%}"
            lines.append(f"  {value:<12}{figures['photos']:>5} photos  found {figures['face_found']:>6.1%}  "
                         f"2+ faces {figures['more_than_one_face']:>6.1%}  accuracy {accuracy:>6}  "
                         f"predicted: {rates(figures['prediction_rate'])}")
    return "\n".join(lines)
