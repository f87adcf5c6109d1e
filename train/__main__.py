"""Train the emotion model on FER2013 and export it for the bot.

    python -m train --data ../shared/data/fer2013/fer2013_train_publictest.csv.gz --out model/

Reads top to bottom: load data -> augment -> build model -> train -> calibrate -> export -> evaluate.
Checkpoints go to --workdir; rerunning the same command resumes an interrupted run where it stopped.
"""

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from model.preprocess import LABELS, face_to_input
from train import evaluate
from train.data import FaceSet, load_fer2013
from train.export import INT8_FILE, FLOAT_FILE, export, fit_temperature, write_metadata
from train.network import build_augmenter, build_model


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="FER2013 CSV (plain or .gz) or folder with train/ and test/")
    parser.add_argument("--out", default="model", type=Path, help="where the .tflite files and metadata go")
    parser.add_argument("--workdir", default="runs/emotion", type=Path, help="checkpoints, logs, resume state")
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="peak of the warm-up + cosine schedule")
    parser.add_argument("--width", type=float, default=1.0, help="multiplier on the number of filters")
    parser.add_argument("--patience", type=int, default=8, help="epochs without PublicTest improvement before stopping")
    parser.add_argument("--max-minutes", type=float, help="stop training after the epoch that passes this wall time")
    parser.add_argument("--train-usage", default="Training")
    parser.add_argument("--val-usage", default="PublicTest")
    parser.add_argument("--version", default=datetime.now(timezone.utc).strftime("%Y.%m.%d-%H%M"))
    parser.add_argument("--seed", type=int, default=1337)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    args.workdir.mkdir(parents=True, exist_ok=True)

    data = load_fer2013(args.data)
    train_set, val_set = data.split(args.train_usage), data.split(args.val_usage)
    print(f"data: {len(train_set)} training faces {train_set.class_counts()}, {len(val_set)} validation faces")
    x_train, x_val = to_inputs(train_set), to_inputs(val_set)

    train_ds = augmented_batches(x_train, train_set.labels, args.batch_size, args.seed)
    val_ds = tf.data.Dataset.from_tensor_slices((x_val, one_hot(val_set.labels))).batch(256)

    classifier = build_model(width=args.width)
    steps = args.epochs * int(np.ceil(len(x_train) / args.batch_size))
    classifier.compile(optimizer=keras.optimizers.AdamW(learning_rate_schedule(args.learning_rate, steps),
                                                        weight_decay=1e-4),
                       loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
                       metrics=["accuracy"])
    print(f"model: {classifier.count_params():,} parameters")

    finished = args.workdir / "finished.json"
    if finished.exists():
        print(f"training already finished ({finished}); calibrating and exporting its best model")
    else:
        train_model(classifier, train_ds, val_ds, class_weights(train_set.labels), args)
        finished.write_text((args.workdir / "best.json").read_text())
    classifier = keras.models.load_model(args.workdir / "best.keras")

    val_logits = classifier.predict(x_val, batch_size=256, verbose=0)
    temperature = fit_temperature(val_logits, val_set.labels)
    print(f"calibration: temperature {temperature:.3f} fitted on {args.val_usage}")

    rng = np.random.default_rng(args.seed)
    representative = x_train[rng.choice(len(x_train), size=min(500, len(x_train)), replace=False)]
    metadata = export(classifier, temperature, representative, args.out, args.version,
                      training_data(args, train_set, val_set))

    metadata["metrics"] = evaluate_exports(args.out, val_set, args.val_usage)
    write_metadata(args.out, metadata)
    return 0


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


class StopAfter(keras.callbacks.Callback):
    """End training cleanly after the epoch during which the time budget ran out."""

    def __init__(self, minutes: float):
        super().__init__()
        self.deadline = time.monotonic() + minutes * 60

    def on_epoch_end(self, epoch, logs=None):
        if time.monotonic() > self.deadline:
            print(f"\ntime budget used up after epoch {epoch + 1}; stopping")
            self.model.stop_training = True


class KeepBest(keras.callbacks.Callback):
    """Save the model whenever validation accuracy improves; survives resumes (the best score is on disk)."""

    def __init__(self, workdir: Path):
        super().__init__()
        self.model_path, self.score_path = workdir / "best.keras", workdir / "best.json"
        self.best = json.loads(self.score_path.read_text())["val_accuracy"] if self.score_path.exists() else -1.0

    def on_epoch_end(self, epoch, logs=None):
        score = float(logs["val_accuracy"])
        if score > self.best:
            self.best = score
            self.model.save(self.model_path)
            self.score_path.write_text(json.dumps({"epoch": epoch + 1, "val_accuracy": score}))
            print(f"\nepoch {epoch + 1}: new best validation accuracy {score:.4f}, saved {self.model_path}")


def train_model(classifier, train_ds, val_ds, weights, args) -> None:
    callbacks = [
        keras.callbacks.BackupAndRestore(str(args.workdir / "resume")),
        KeepBest(args.workdir),
        keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=args.patience),
        keras.callbacks.CSVLogger(str(args.workdir / "history.csv"), append=True),
    ]
    if args.max_minutes:
        callbacks.append(StopAfter(args.max_minutes))
    classifier.fit(train_ds, validation_data=val_ds, epochs=args.epochs, class_weight=weights,
                   callbacks=callbacks, verbose=1 if sys.stdout.isatty() else 2)


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


if __name__ == "__main__":
    sys.exit(main())
