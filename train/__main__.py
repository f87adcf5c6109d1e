"""Train the emotion model on FER2013 and export it for the bot.

    python -m train --data ../shared/data/fer2013/fer2013_train_publictest.csv.gz --out model/

Reads top to bottom: load data -> augment -> build model -> train -> calibrate -> export -> evaluate.
Checkpoints go to --workdir; rerunning the same command resumes an interrupted run where it stopped.
The exported network is kept as `<workdir>/reader.keras` and named in the metadata: `python -m train.retrain` starts
from it.
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

from train.data import load_fer2013
from train.export import export, fit_temperature, write_metadata
from train.network import build_model, reader
from train.steps import (augmented_batches, class_weights, evaluate_exports, learning_rate_schedule, one_hot,
                         to_inputs, training_data)

READER_FILE = "reader.keras"


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
    exported = reader(keras.models.load_model(args.workdir / "best.keras"))
    exported.save(args.workdir / READER_FILE)

    temperature = fit_temperature(exported.predict(x_val, batch_size=256, verbose=0), val_set.labels)
    print(f"calibration: temperature {temperature:.3f} fitted on {args.val_usage}")

    rng = np.random.default_rng(args.seed)
    representative = x_train[rng.choice(len(x_train), size=min(500, len(x_train)), replace=False)]
    seen = training_data(args, train_set, val_set)
    seen["checkpoint"] = str(args.workdir / READER_FILE)
    metadata = export(exported, temperature, representative, args.out, args.version, seen)

    metadata["metrics"] = evaluate_exports(args.out, val_set, args.val_usage)
    write_metadata(args.out, metadata)
    return 0


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


if __name__ == "__main__":
    sys.exit(main())
