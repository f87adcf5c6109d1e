"""The steps a training run and a retrain share: inputs through the bot's preprocessing, augmented batches,
class weights for the rare emotions, the learning-rate schedule, and evaluation of the exported files.
"""

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from model.preprocess import LABELS, face_to_input
from train import evaluate
from train.data import FaceSet
from train.export import FLOAT_FILE, INT8_FILE
from train.network import build_augmenter


def to_inputs(faces: FaceSet) -> np.ndarray:
    """Every face through the bot's own preprocessing function."""
    return np.stack([face_to_input(face) for face in faces.faces])


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(len(LABELS), dtype=np.float32)[labels]


def augmented_batches(x: np.ndarray, labels: np.ndarray, batch_size: int, seed: int) -> tf.data.Dataset:
    augmenter = build_augmenter(seed)
    dataset = tf.data.Dataset.from_tensor_slices((x, one_hot(labels)))
    dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    dataset = dataset.map(lambda faces, targets: (tf.clip_by_value(augmenter(faces, training=True), 0.0, 1.0),
                                                  targets), num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def class_weights(labels: np.ndarray) -> dict[int, float]:
    """Inverse square-root frequency: lifts rare `disgust` (~1.5% of faces) without drowning the rest."""
    counts = np.bincount(labels, minlength=len(LABELS)).astype(np.float64)
    weights = np.sqrt(counts.mean() / np.maximum(counts, 1))
    return {label: float(weight) for label, weight in enumerate(weights)}


def learning_rate_schedule(peak: float, total_steps: int) -> keras.optimizers.schedules.LearningRateSchedule:
    warmup = max(1, total_steps // 20)
    return keras.optimizers.schedules.CosineDecay(peak / 10, total_steps - warmup, alpha=0.01,
                                                  warmup_target=peak, warmup_steps=warmup)


def evaluate_exports(out_dir: Path, val_set: FaceSet, usage: str) -> dict:
    """Evaluate both exported files through LiteRT; write metrics.json and return the headline figures."""
    report = {name: evaluate.evaluate_model(out_dir / name, val_set, usage) for name in (INT8_FILE, FLOAT_FILE)}
    (out_dir / "metrics.json").write_text(json.dumps(report[INT8_FILE], indent=2) + "\n")
    int8, float32 = report[INT8_FILE], report[FLOAT_FILE]
    print(evaluate.format_report(int8))
    print(f"float model accuracy {float32['accuracy']:.4f}; int8 {int8['accuracy']:.4f}")
    return {"split": usage, "accuracy": int8["accuracy"], "macro_f1": int8["macro_f1"], "ece": int8["ece"],
            "float_accuracy": float32["accuracy"],
            "recall": {name: row["recall"] for name, row in int8["per_class"].items()}}


def training_data(args, train_set: FaceSet, val_set: FaceSet) -> dict:
    return {
        "dataset": "FER2013 (Goodfellow et al., 2013)",
        "file": Path(args.data).name,
        "train_split": args.train_usage, "train_faces": len(train_set), "train_class_counts": train_set.class_counts(),
        "validation_split": args.val_usage, "validation_faces": len(val_set),
        "epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
        "augmentation": "flip, rotation +-12deg, zoom 10%, shift 8% (one affine warp), contrast, brightness, random erasing",
        "class_balancing": "inverse square-root frequency class weights",
    }
