"""Evaluate an exported `.tflite` exactly as the bot runs it (LiteRT interpreter, shared preprocessing), or a
teacher the same way, on one set or on a panel of several.

    python -m train.evaluate --data FER2013.csv.gz [--usage PublicTest|validation] [--labels fer2013|ferplus]
                             [--votes CSV] [--model model/emotion.tflite] [--json] [--plot confusion.png]
    python -m train.evaluate --photos DIR [--model model/emotion.tflite] [--json]
    python -m train.evaluate --faces SET.npz [--model ...]
    python -m train.evaluate --data FER2013.csv.gz --usage validation --labels ferplus --faces dev_posed.npz \
                             --faces dev_wild_sfew.npz --photos expw_dev [--model PATH | --teacher NAME] [--json]

`--usage validation` is the part of Training that `python -m train` holds out (`train.data.validation_rows`).
`--faces` reads a face set `.npz` (`train.face_sets`), `--photos` a folder of photos (`train.photo_eval`); both may
be repeated. `--teacher hsemotion|mobilefacenet` reads every set with that teacher instead (`train.teachers`).
One set prints its full report, then its panel row; several print the panel (`train.panel`), and with `--json`
one object: `sets` (a row per set: kind, n, balanced_accuracy, interval, accuracy, recall), their
`mean_balanced_accuracy` and `real_faces_mean_balanced_accuracy`.

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
from model.preprocess import LABELS
from train import panel, photo_eval
from train.data import (LABEL_SOURCES, SET_ASIDE, DataError, FaceSet, default_votes_path, load_fer2013,
                        load_ferplus_votes, validation_rows, with_crowd_labels)
from train.face_sets import load_face_set
from train.metrics import metrics
from train.teachers import CACHE_DIR, FILES, Teacher

LABEL_NAMES = {"fer2013": "FER2013's labels", "ferplus": "the FER+ crowd majority"}
VALIDATION = "validation"  # --usage for the part of Training that `python -m train` holds out


Reader = EmotionModel | Teacher  # what reads faces: `classify_faces`, `analyze` (photos) and a `version`


def evaluate_model(model_path: Path | Teacher, faces: FaceSet, usage: str | None = None) -> dict:
    """All metrics of one model file (or teacher) on the labelled faces of a set (faces set aside by the crowd are
    counted), and the set's panel row."""
    probabilities = load_reader(model_path).classify_faces(list(faces.faces))
    report = judged_report(faces.labels, probabilities)
    report.update(**described(model_path), usage=usage or "all")
    return report


def evaluate_data(model_path: Path | Teacher, data: str | Path, usage: str | None = None, labels: str = "fer2013",
                  votes: str | Path | None = None) -> dict:
    """The model on a FER2013 file judged against `labels`, with `by_labels`: headline figures against FER2013's
    labels and, when the FER+ votes are there, against the crowd majority. The faces are read by the model once."""
    labels_by_source, probabilities, _ = read_data(model_path, data, usage, votes, need_crowd=labels == "ferplus")
    reports = {name: judged_report(truth, probabilities) for name, truth in labels_by_source.items()}
    report = dict(reports[labels])
    report.update(**described(model_path), usage=usage or "all", label_source=labels,
                  by_labels={name: headline(r) for name, r in reports.items()})
    return report


def read_data(model_path: Path | Teacher, data: str | Path, usage: str | None, votes: str | Path | None,
              need_crowd: bool = False) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray | None]:
    """({"fer2013": labels[, "ferplus": crowd labels]}, the model's probabilities, the FER+ votes or None) for the
    faces of one split. The crowd's labels are there when the votes file is (it must be, with `need_crowd`).
    `usage="validation"`: the faces `python -m train` holds out, labelled as it trains with the crowd's labels
    when `need_crowd`, else FER2013's."""
    faces = load_fer2013(data)
    votes_path = Path(votes) if votes else default_votes_path(data)
    crowd_votes = None
    if need_crowd or votes_path.is_file():
        crowd_votes = load_ferplus_votes(votes_path, expected_rows=len(faces))
    if usage == VALIDATION:
        keep = validation_rows(with_crowd_labels(faces, crowd_votes) if need_crowd else faces)
    else:
        keep = faces.usage == usage if usage else np.ones(len(faces), bool)
    if not keep.any():
        faces.split(usage)  # raises, naming the splits there are
    probabilities = load_reader(model_path).classify_faces(list(faces.faces[keep]))
    labels = {"fer2013": faces.labels[keep]}
    if crowd_votes is not None:
        crowd_votes = crowd_votes[keep]
        labels["ferplus"] = with_crowd_labels(faces.subset(keep), crowd_votes).labels
    return labels, probabilities, crowd_votes


def judged_report(labels: np.ndarray, probabilities: np.ndarray) -> dict:
    """`metrics` on the faces with a label, and their panel row; the faces set aside (negative labels) counted by
    reason."""
    judged = labels >= 0
    return {**metrics(labels[judged], probabilities[judged]),
            "set_aside": {reason: int((labels == code).sum()) for reason, code in SET_ASIDE.items()},
            "panel": panel.row(panel.FER2013, labels[judged], probabilities[judged].argmax(axis=1))}


def evaluate_face_set(model_path: Path | Teacher, path: str | Path) -> dict:
    """All metrics of a model file (or teacher) on a face set `.npz`, and its panel row. Our model reads the faces
    framed as the bot frames them (`train.face_sets`), a teacher the stored colour crops."""
    reader = load_reader(model_path)
    if isinstance(reader, Teacher):
        labels, probabilities = reader.read_face_set(path)
    else:
        faces = load_face_set(path)
        labels, probabilities = faces.labels, reader.classify_faces(list(faces.faces))
    return {**metrics(labels, probabilities), **described(model_path), "usage": Path(path).stem,
            "panel": panel.row("faces", labels, probabilities.argmax(axis=1))}


def evaluate_panel(model_path: Path | Teacher, faces=(), photos=(), made: dict | None = None) -> dict:
    """The panel of one model file (or teacher): the reports already `made` (the FER2013 member, by set name), then
    each face set `.npz` and photo folder (named by the file's stem, the folder's name); `reports` holds them all."""
    reports = dict(made or {})
    for path in faces:
        reports[_new_name(reports, Path(path).stem)] = evaluate_face_set(model_path, path)
    reader = load_reader(model_path)
    for folder in photos:
        reports[_new_name(reports, Path(folder).name)] = photo_eval.evaluate_photos(reader, Path(folder))
    title = reader.version if isinstance(reader, Teacher) else f"{reader.version} ({model_path})"
    return {**panel.summary({name: report["panel"] for name, report in reports.items()}, model=title),
            "reports": reports}


def fer_set_name(usage: str | None, labels: str) -> str:
    """The FER2013 member's name in a panel: "FER+ validation", "FER2013 PublicTest", ..."""
    return f"{'FER+' if labels == 'ferplus' else 'FER2013'} {usage or 'all rows'}"


def load_reader(model: Path | str | Reader) -> Reader:
    """A model file loaded for LiteRT, or the reader itself."""
    return model if isinstance(model, Reader) else EmotionModel.load(model)


def described(model: Path | str | Teacher) -> dict:
    """The model's name and size for a report: its file, or the teacher's."""
    if isinstance(model, Teacher):
        return {"model": model.version, "model_bytes": model.path.stat().st_size}
    return {"model": str(model), "model_bytes": Path(model).stat().st_size}


def _new_name(taken: dict, name: str) -> str:
    if name in taken:
        raise ValueError(f"two panel sets are called {name!r}; give them different file or folder names")
    return name


def headline(report: dict) -> dict:
    """The figures a model card quotes, from a full `metrics` report."""
    return {"n": report["n"], "accuracy": report["accuracy"], "macro_f1": report["macro_f1"], "ece": report["ece"],
            "recall": {name: row["recall"] for name, row in report["per_class"].items()},
            "set_aside": report.get("set_aside", {})}


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
    parser.add_argument("--data", help="FER2013 CSV (plain or .gz) or folder layout")
    parser.add_argument("--faces", type=Path, action="append", default=[],
                        help="a face set .npz (train.face_sets); may be repeated")
    parser.add_argument("--photos", type=Path, action="append", default=[],
                        help="folder of photos with labels.csv (file,emotion[,groups...]); may be repeated")
    parser.add_argument("--usage", help=f"only rows whose Usage is NAME (e.g. PublicTest), or {VALIDATION!r}: the "
                                        f"part of Training `python -m train` holds out; default all rows")
    parser.add_argument("--labels", choices=LABEL_SOURCES, default="fer2013",
                        help="judge against FER2013's labels (default) or the FER+ crowd majority")
    parser.add_argument("--votes", help="FER+ votes CSV (default: ferplus_votes_train_publictest.csv.gz beside --data)")
    reader = parser.add_mutually_exclusive_group()
    reader.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    reader.add_argument("--teacher", choices=sorted(FILES), help="read every set with this teacher instead")
    parser.add_argument("--teacher-cache", type=Path, default=CACHE_DIR, help="where teachers' answers are kept")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--plot", type=Path, help="write a confusion-matrix PNG here (one set only)")
    args = parser.parse_args(argv)
    sets = int(args.data is not None) + len(args.faces) + len(args.photos)
    if not sets:
        parser.error("give at least one set: --data, --faces or --photos")
    if args.plot and sets > 1:
        parser.error("--plot draws one set's confusion matrix; give one set")

    try:
        model = Teacher(args.teacher, cache_dir=args.teacher_cache) if args.teacher else args.model
        fer = {}
        if args.data:
            fer[fer_set_name(args.usage, args.labels)] = evaluate_data(model, args.data, args.usage, args.labels,
                                                                      args.votes)
        result = evaluate_panel(model, args.faces, args.photos, made=fer)
        reports = result.pop("reports")
        text = panel.format_panel(result)
        if sets == 1:  # one set: its full report, then its panel row
            output = next(iter(reports.values()))
            text = (photo_eval.format_report(output) if args.photos else format_report(output)) + "\n\n" + text
        else:
            output = result
    except (DataError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.teacher:
        print(f"{args.teacher}: {model.seconds_computing:.0f} s computing answers that were not in the cache "
              f"({args.teacher_cache})", file=sys.stderr)
    print(json.dumps(output) if args.json else text)
    if args.plot:
        plot_confusion(output, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
