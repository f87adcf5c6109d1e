"""The figures every evaluation reports, from labels and probabilities: shared by `train.evaluate` (faces),
`train.photo_eval` (whole photos), `train.panel` and `train.report`."""

from collections import Counter

import numpy as np

from model.confidence import CONFIDENCE_BANDS  # the bands the bot words differently
from model.preprocess import LABELS

CALIBRATION_BINS = 15


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


def balanced_accuracy(figures: dict) -> float:
    """Mean recall over the classes present, from a `metrics` report."""
    present = [row["recall"] for row in figures["per_class"].values() if row["support"]]
    return round(float(np.mean(present)), 4) if present else 0.0


def prediction_rates(predictions: np.ndarray) -> dict[str, float]:
    """How often each emotion is the answer."""
    counts = Counter(predictions.tolist())
    return {name: round(counts[i] / len(predictions), 4) if len(predictions) else 0.0
            for i, name in enumerate(LABELS)}


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
