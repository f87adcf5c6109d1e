"""The development panel: models are chosen by real faces, not by one benchmark.

A panel is several labelled sets read by one model (or teacher) through the same evaluation: the FER+ validation
split of FER2013's Training (`python -m train.evaluate --usage validation --labels ferplus`), the face sets'
posed and film-still development splits (`--faces`), and whole photos (`--photos`). Each set gets one row:
n, balanced accuracy (mean recall over the classes present) with a 95% interval (bootstrap over faces, fixed
seed), accuracy and recall per class; on whole photos a face the pipeline missed counts as wrong. The panel's
means: over all sets, and over the real-face sets (every set but FER2013).

Promotion (`compare`): a candidate is refused when on any set its balanced accuracy falls below the lower end of
the shipped model's 95% interval there.
"""

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.preprocess import LABELS

FER2013 = "fer2013"  # the kind of the one set that is not real faces
INTERVAL_RESAMPLES, INTERVAL_SEED = 1000, 2027
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# The development panel beside FER+ validation, where ../shared/data has it.
DEFAULT_FACES = (SHARED_DATA / "faces_extra" / "dev_posed.npz", SHARED_DATA / "faces_extra" / "dev_wild_sfew.npz")
DEFAULT_PHOTOS = (SHARED_DATA / "photos" / "expw_dev",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`--panel-faces` and `--panel-photos`, for the commands that promote a model."""
    parser.add_argument("--panel-faces", type=Path, action="append",
                        help="a face set .npz of the panel (repeatable; default: faces_extra's dev_posed and "
                             "dev_wild_sfew in ../shared/data, where present)")
    parser.add_argument("--panel-photos", type=Path, action="append",
                        help="a photo folder of the panel (repeatable; default: ../shared/data/photos/expw_dev, "
                             "where present). Given either option, only the sets given are used")


def chosen_sets(args: argparse.Namespace) -> tuple[list[Path], list[Path]]:
    """(face sets, photo folders) of the panel: those given, else the defaults that exist."""
    if args.panel_faces or args.panel_photos:
        return list(args.panel_faces or []), list(args.panel_photos or [])
    return [path for path in DEFAULT_FACES if path.is_file()], [path for path in DEFAULT_PHOTOS if path.is_dir()]


def row(kind: str, labels: np.ndarray, predictions: np.ndarray, **extra) -> dict:
    """The panel's figures for one set: `labels` and `predictions` per face (-1: no answer, counted wrong)."""
    correct = predictions == labels
    present = [c for c in range(len(LABELS)) if (labels == c).any()]
    recall = {LABELS[c]: round(float(correct[labels == c].mean()), 4) for c in present}
    return {"kind": kind, "n": int(len(labels)),
            "balanced_accuracy": round(float(np.mean(list(recall.values()))), 4) if present else 0.0,
            "interval": balanced_accuracy_interval(labels, correct),
            "accuracy": round(float(correct.mean()), 4) if len(labels) else 0.0,
            "recall": recall, **extra}


def balanced_accuracy_interval(labels: np.ndarray, correct: np.ndarray, level: float = 0.95) -> list[float]:
    """Percentile bootstrap interval of the balanced accuracy: faces resampled with replacement, seed fixed."""
    if not len(labels):
        return [0.0, 0.0]
    picks = np.random.default_rng(INTERVAL_SEED).integers(0, len(labels), (INTERVAL_RESAMPLES, len(labels)))
    recalls = []
    for c in np.unique(labels):
        support = (labels == c)[picks].sum(axis=1)
        hits = ((labels == c) & correct)[picks].sum(axis=1)
        recalls.append(np.where(support > 0, hits / np.maximum(support, 1), np.nan))
    scores = np.nanmean(np.array(recalls), axis=0)  # a class a resample misses is not present in it
    low, high = np.percentile(scores, [50 * (1 - level), 50 * (1 + level)])
    return [round(float(low), 4), round(float(high), 4)]


def summary(rows: dict[str, dict], **extra) -> dict:
    """The panel: its rows by set name and the two means of their balanced accuracy."""
    real = [r["balanced_accuracy"] for r in rows.values() if r["kind"] != FER2013]
    mean = lambda values: round(float(np.mean(values)), 4) if values else None
    return {**extra, "sets": rows, "mean_balanced_accuracy": mean([r["balanced_accuracy"] for r in rows.values()]),
            "real_faces_mean_balanced_accuracy": mean(real)}


def format_panel(panel: dict) -> str:
    lines = [f"{panel['model']}: balanced accuracy (95% interval), accuracy, recall per class",
             f"{'set':<22}{'n':>6}{'balanced':>10}{'95% interval':>16}{'accuracy':>10}  "
             + " ".join(f"{name[:7]:>7}" for name in LABELS)]
    for name, r in panel["sets"].items():
        low, high = r["interval"]
        lines.append(f"{name:<22}{r['n']:>6}{r['balanced_accuracy']:>10.1%}{f'{low:.1%}-{high:.1%}':>16}"
                     f"{r['accuracy']:>10.1%}  " + " ".join(f"{r['recall'][label]:>7.1%}" if label in r["recall"]
                                                           else f"{'-':>7}" for label in LABELS)
                     + (f"  (face found {r['face_found']:.1%})" if "face_found" in r else ""))
    lines.append(f"{'mean, all sets':<28}{panel['mean_balanced_accuracy']:>10.1%}")
    if panel["real_faces_mean_balanced_accuracy"] is not None:
        lines.append(f"{'mean, real-face sets':<28}{panel['real_faces_mean_balanced_accuracy']:>10.1%}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Decision:
    promote: bool
    reasons: list[str]  # why the candidate is refused; empty when it is promoted


def compare(candidate: dict, shipped: dict) -> Decision:
    """Refuse a candidate whose balanced accuracy on any panel set is below the shipped model's 95% interval."""
    reasons = []
    for name, now in shipped["sets"].items():
        new = candidate["sets"].get(name)
        if new is None or new["n"] != now["n"]:
            raise ValueError(f"the two panels differ on {name}: the models must be read on the same sets")
        low = now["interval"][0]
        if new["balanced_accuracy"] < low:
            reasons.append(f"{name}: balanced accuracy {new['balanced_accuracy']:.1%}, below the shipped model's "
                           f"{now['balanced_accuracy']:.1%} by more than its 95% interval (from {low:.1%})")
    return Decision(promote=not reasons, reasons=reasons)


def comparison_table(candidate: dict, shipped: dict) -> str:
    lines = [f"\npanel, balanced accuracy: {shipped['model']} (95% interval) against {candidate['model']}",
             f"{'set':<22}{'n':>6}{'shipped':>10}{'95% interval':>16}{'candidate':>11}{'change':>9}"]
    for name, now in shipped["sets"].items():
        new = candidate["sets"][name]["balanced_accuracy"]
        low, high = now["interval"]
        lines.append(f"{name:<22}{now['n']:>6}{now['balanced_accuracy']:>10.1%}{f'{low:.1%}-{high:.1%}':>16}"
                     f"{new:>11.1%}{new - now['balanced_accuracy']:>+9.1%}"
                     + ("  below the interval" if new < low else ""))
    for key, label in (("mean_balanced_accuracy", "mean, all sets"),
                       ("real_faces_mean_balanced_accuracy", "mean, real-face sets")):
        if shipped[key] is not None:
            lines.append(f"{label:<28}{shipped[key]:>10.1%}{'':>16}{candidate[key]:>11.1%}"
                         f"{candidate[key] - shipped[key]:>+9.1%}")
    return "\n".join(lines)
