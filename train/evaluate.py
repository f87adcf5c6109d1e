"""Evaluate an exported `.tflite` exactly as the bot runs it: LiteRT interpreter, shared preprocessing.

    python -m train.evaluate --data FER2013.csv.gz [--usage PublicTest] [--labels fer2013|ferplus] [--votes CSV]
                             [--model model/emotion.tflite] [--json] [--plot confusion.png]
    python -m train.evaluate --photos DIR [--model model/emotion.tflite] [--json]

On faces (`--data`): `--json` prints one JSON object: accuracy, macro_f1, n, per_class (precision/recall/f1/support),
confusion_matrix (rows = true label, columns = prediction), ece (expected calibration error, 15 bins), model_bytes,
for the labels chosen with `--labels` (FER2013's own, the default, or the FER+ crowd majority), and `by_labels`: the
headline figures against both, when the FER+ votes are beside the data. Judged against the crowd, faces whose votes
tie or go mostly to contempt, unknown or not-a-face are set aside and counted (`set_aside`).

On whole photos (`--photos`): the bot's whole pipeline on every image of DIR/labels.csv; see `train.photo_eval`.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from model import EmotionModel
from model.classifier import DEFAULT_MODEL
from model.confidence import CONFIDENCE_BANDS  # the bands the bot words differently
from model.preprocess import LABELS
from train.data import (LABEL_SOURCES, SET_ASIDE, DataError, FaceSet, default_votes_path, load_fer2013,
                        load_ferplus_votes, with_crowd_labels)

CALIBRATION_BINS = 15
LABEL_NAMES = {"fer2013": "FER2013's labels", "ferplus": "the FER+ crowd majority"}


def evaluate_model(model_path: Path, faces: FaceSet, usage: str | None = None) -> dict:
    """All metrics of one model file on the labelled faces of a set (faces set aside by the crowd are counted)."""
    probabilities = EmotionModel.load(model_path).classify_faces(list(faces.faces))
    report = judged_report(faces.labels, probabilities)
    report.update(model=str(model_path), model_bytes=Path(model_path).stat().st_size, usage=usage or "all")
    return report


def evaluate_data(model_path: Path, data: str | Path, usage: str | None = None, labels: str = "fer2013",
                  votes: str | Path | None = None) -> dict:
    """The model on a FER2013 file judged against `labels`, with `by_labels`: headline figures against FER2013's
    labels and, when the FER+ votes are there, against the crowd majority. The faces are read by the model once."""
    labels_by_source, probabilities, _ = read_data(model_path, data, usage, votes, need_crowd=labels == "ferplus")
    reports = {name: judged_report(truth, probabilities) for name, truth in labels_by_source.items()}
    report = dict(reports[labels])
    report.update(model=str(model_path), model_bytes=Path(model_path).stat().st_size, usage=usage or "all",
                  label_source=labels, by_labels={name: headline(r) for name, r in reports.items()})
    return report


def read_data(model_path: Path, data: str | Path, usage: str | None, votes: str | Path | None,
              need_crowd: bool = False) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray | None]:
    """({"fer2013": labels[, "ferplus": crowd labels]}, the model's probabilities, the FER+ votes or None) for the
    faces of one split. The crowd's labels are there when the votes file is (it must be, with `need_crowd`)."""
    faces = load_fer2013(data)
    votes_path = Path(votes) if votes else default_votes_path(data)
    crowd_votes = None
    if need_crowd or votes_path.is_file():
        crowd_votes = load_ferplus_votes(votes_path, expected_rows=len(faces))
    keep = faces.usage == usage if usage else np.ones(len(faces), bool)
    if not keep.any():
        faces.split(usage)  # raises, naming the splits there are
    probabilities = EmotionModel.load(model_path).classify_faces(list(faces.faces[keep]))
    labels = {"fer2013": faces.labels[keep]}
    if crowd_votes is not None:
        crowd_votes = crowd_votes[keep]
        labels["ferplus"] = with_crowd_labels(faces.subset(keep), crowd_votes).labels
    return labels, probabilities, crowd_votes


def judged_report(labels: np.ndarray, probabilities: np.ndarray) -> dict:
    """`metrics` on the faces with a label; the faces set aside (negative labels) counted by reason."""
    judged = labels >= 0
    return {**metrics(labels[judged], probabilities[judged]),
            "set_aside": {reason: int((labels == code).sum()) for reason, code in SET_ASIDE.items()}}


def headline(report: dict) -> dict:
    """The figures a model card quotes, from a full `metrics` report."""
    return {"n": report["n"], "accuracy": report["accuracy"], "macro_f1": report["macro_f1"], "ece": report["ece"],
            "recall": {name: row["recall"] for name, row in report["per_class"].items()},
            "set_aside": report.get("set_aside", {})}


def metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict:
    predictions = probabilities.argmax(axis=1)
    confusion = np.zeros((len(LABELS), len(LABELS)), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    per_class = {}
    for index, name in enumerate(LABELS):
        true_positive = confusion[index, index]
        predicted, support = confusion[:, index].sum(), confusion[index].sum()
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": round(float(precision), 4), "recall": round(float(recall), 4),
                           "f1": round(float(f1), 4), "support": int(support)}
    return {
        "n": int(len(labels)),
        "accuracy": round(float((predictions == labels).mean()), 4),
        "macro_f1": round(float(np.mean([row["f1"] for row in per_class.values()])), 4),
        "ece": round(expected_calibration_error(labels, probabilities), 4),
        "per_class": per_class,
        "confidence_bands": confidence_bands(labels, probabilities),
        "labels": list(LABELS),
        "confusion_matrix": confusion.tolist(),
    }


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """Mean gap between confidence and accuracy, weighted by how many predictions fall in each confidence bin."""
    counts, confidence, accuracy = reliability(labels, probabilities, bins)
    return float(np.sum(counts * np.abs(confidence - accuracy)) / max(counts.sum(), 1))


def reliability(labels: np.ndarray, probabilities: np.ndarray, bins: int = CALIBRATION_BINS):
    """Per confidence bin of equal width: how many answers, their mean confidence, the share that were right."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    which = np.clip(np.digitize(confidence, np.linspace(0.0, 1.0, bins + 1)[1:-1]), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    mean = lambda values: np.bincount(which, weights=values, minlength=bins) / np.maximum(counts, 1)
    return counts, mean(confidence), mean(correct.astype(np.float64))


def confidence_bands(labels: np.ndarray, probabilities: np.ndarray) -> list[dict]:
    """For each band of top-class confidence: its share of the faces and how often the top class is right there."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    bands = []
    for low, high in zip(CONFIDENCE_BANDS[:-1], CONFIDENCE_BANDS[1:]):
        inside = (confidence >= low) & ((confidence < high) if high < 1.0 else (confidence <= high))
        bands.append({"from": low, "to": high, "share": round(float(inside.mean()), 4) if len(labels) else 0.0,
                      "accuracy": round(float(correct[inside].mean()), 4) if inside.any() else None})
    return bands


def format_report(report: dict) -> str:
    source = report.get("label_source")
    lines = [f"{report['model']} on {report['n']} faces ({report['usage']})"
             + (f", judged against {LABEL_NAMES[source]}" if source else ""),
             f"accuracy {report['accuracy']:.2%}   macro F1 {report['macro_f1']:.3f}   "
             f"ECE {report['ece']:.3f}   model {report['model_bytes'] / 1e6:.2f} MB", "",
             f"{'class':<10}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}"]
    for name, row in report["per_class"].items():
        lines.append(f"{name:<10}{row['precision']:>10.3f}{row['recall']:>8.3f}{row['f1']:>8.3f}{row['support']:>9}")
    lines += ["", "confidence      share  accuracy"]
    for band in report["confidence_bands"]:
        accuracy = "-" if band["accuracy"] is None else f"{band['accuracy']:.1%}"
        lines.append(f"{band['from']:.2f}-{band['to']:.2f}  {band['share']:>9.1%}  {accuracy:>8}")
    lines += ["", "confusion (rows: true, columns: predicted)", " " * 10 + "".join(f"{n[:7]:>8}" for n in LABELS)]
    for name, row in zip(LABELS, report["confusion_matrix"]):
        lines.append(f"{name:<10}" + "".join(f"{count:>8}" for count in row))
    set_aside = {reason: count for reason, count in report.get("set_aside", {}).items() if count}
    if set_aside:
        lines += ["", "set aside: " + ", ".join(f"{count} ({reason})" for reason, count in set_aside.items())]
    for name, figures in report.get("by_labels", {}).items():
        lines += ["", f"against {LABEL_NAMES[name]}: accuracy {figures['accuracy']:.2%} on {figures['n']} faces, "
                      f"macro F1 {figures['macro_f1']:.3f}, ECE {figures['ece']:.3f}, lowest recall "
                      f"{min(figures['recall'].values()):.1%} ({min(figures['recall'], key=figures['recall'].get)})"]
    return "\n".join(lines)


def plot_confusion(report: dict, path: Path) -> None:
    """A row-normalised confusion matrix as PNG (matplotlib is a training extra, imported only here)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.array(report["confusion_matrix"], dtype=np.float64)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure, axes = plt.subplots(figsize=(6.5, 5.5))
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(LABELS)), LABELS, rotation=45, ha="right")
    axes.set_yticks(range(len(LABELS)), LABELS)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    for (row, col), share in np.ndenumerate(shares):
        axes.text(col, row, f"{share:.0%}", ha="center", va="center", color="white" if share > 0.5 else "black")
    axes.set_title(f"accuracy {report['accuracy']:.1%} on {report['n']} faces ({report['usage']})")
    figure.colorbar(image, ax=axes, fraction=0.046)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.evaluate", description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="FER2013 CSV (plain or .gz) or folder layout")
    source.add_argument("--photos", type=Path, help="folder of photos with labels.csv (file,emotion[,groups...])")
    parser.add_argument("--usage", help="only rows whose Usage is NAME (e.g. PublicTest); default all rows")
    parser.add_argument("--labels", choices=LABEL_SOURCES, default="fer2013",
                        help="judge against FER2013's labels (default) or the FER+ crowd majority")
    parser.add_argument("--votes", help="FER+ votes CSV (default: ferplus_votes_train_publictest.csv.gz beside --data)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--plot", type=Path, help="write a confusion-matrix PNG here")
    args = parser.parse_args(argv)
    from train import photo_eval  # it builds on this module's metrics

    try:
        if args.photos:
            report = photo_eval.evaluate_photos(EmotionModel.load(args.model), args.photos)
            text = photo_eval.format_report(report)
        else:
            report = evaluate_data(args.model, args.data, args.usage, args.labels, args.votes)
            text = format_report(report)
    except (DataError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(report) if args.json else text)
    if args.plot:
        plot_confusion(report, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
