"""The steps a training run and a retrain share: inputs through the bot's preprocessing, augmented batches,
class weights for the rare emotions, the optimiser and loss recipe, and evaluation of the exported files.
"""

import json
from collections.abc import Callable
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


def augmented_batches(faces: FaceSet, batch_size: int, seed: int) -> tf.data.Dataset:
    """(augmented input, target distribution, class weight) batches, reshuffled every epoch.

    The faces are decoded and preprocessed once, up front (`to_inputs`); only augmentation runs per batch.
    """
    targets = faces.target_distribution()
    sample_weights = (targets @ class_weights(targets)).astype(np.float32)
    augmenter = build_augmenter(seed)
    dataset = tf.data.Dataset.from_tensor_slices((to_inputs(faces), targets, sample_weights))
    dataset = dataset.shuffle(len(faces), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    dataset = dataset.map(lambda x, y, w: (tf.clip_by_value(augmenter(x, training=True), 0.0, 1.0), y, w),
                          num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def validation_batches(faces: FaceSet) -> tf.data.Dataset:
    """The labelled faces with their one-hot labels (the crowd majority with FER+), for choosing checkpoints."""
    labelled = faces.labelled()
    return tf.data.Dataset.from_tensor_slices((to_inputs(labelled), np.eye(len(LABELS), dtype=np.float32)[
        labelled.labels])).batch(256)


def class_weights(targets: np.ndarray) -> np.ndarray:
    """Inverse square-root frequency of each class's share of the targets: lifts rare `disgust` (under 2% of faces)
    without drowning the rest."""
    counts = targets.sum(axis=0).astype(np.float64)
    return np.sqrt(counts.mean() / np.maximum(counts, 1.0))


def compile_for_training(network: keras.Model, peak_learning_rate: float, total_steps: int,
                         label_smoothing: float) -> None:
    """The recipe every run uses: AdamW with warm-up and cosine decay, cross-entropy against the target
    distribution. Label smoothing is for one-hot FER2013 labels; crowd votes are soft already."""
    warmup = max(1, total_steps // 20)
    schedule = keras.optimizers.schedules.CosineDecay(peak_learning_rate / 10, total_steps - warmup, alpha=0.01,
                                                      warmup_target=peak_learning_rate, warmup_steps=warmup)
    network.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4),
                    loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing),
                    metrics=["accuracy"])


def label_smoothing_for(faces: FaceSet) -> float:
    return 0.0 if faces.targets is not None else 0.1


def evaluate_exports(out_dir: Path, evaluate_file: Callable[[Path], dict]) -> dict:
    """Evaluate both exported files through LiteRT with `evaluate_file` (a `train.evaluate` report of one file);
    write the int8 model's report to metrics.json and return the headline figures for the metadata."""
    int8, float32 = (evaluate_file(out_dir / name) for name in (INT8_FILE, FLOAT_FILE))
    (out_dir / "metrics.json").write_text(json.dumps(int8, indent=2) + "\n")
    print(evaluate.format_report(int8))
    print(f"float model accuracy {float32['accuracy']:.4f}; int8 {int8['accuracy']:.4f}")
    return {"split": int8["usage"], "labels": int8.get("label_source", "fer2013"), **evaluate.headline(int8),
            "float_accuracy": float32["accuracy"], "by_labels": int8.get("by_labels", {})}


def training_data(args, train_set: FaceSet, val_set: FaceSet, holdout_share: float) -> dict:
    crowd = train_set.targets is not None
    return {
        "dataset": "FER2013 (Goodfellow et al., 2013)" + (" with FER+ crowd labels (Barsoum et al., 2016)" if crowd
                                                          else ""),
        "file": Path(args.data).name,
        "labels": "distribution of the ten FER+ taggers' votes over the seven classes (single votes, contempt, "
                  "unknown and not-a-face dropped)" if crowd else "FER2013's single label per face",
        "train_split": args.train_usage, "train_faces": len(train_set), "train_class_counts": train_set.class_counts(),
        "validation_split": f"{holdout_share:.0%} of {args.train_usage}, held out by image",
        "holdout_share": holdout_share, "validation_faces": len(val_set),
        "epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
        "augmentation": "flip, rotation +-15deg, zoom 12%, shift 8% (one affine warp), contrast, brightness, "
                        "Gaussian blur, sensor noise, random erasing",
        "class_balancing": "inverse square-root frequency sample weights",
    }
