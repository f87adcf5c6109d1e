"""Train the emotion model on FER2013 faces with FER+ crowd labels and export it for the bot.

    python -m train --data ../shared/data/fer2013/fer2013_train_publictest.csv.gz --out model/

Reads top to bottom: load data -> hold out part of Training -> augment -> build model -> train -> calibrate ->
export -> evaluate on the untouched test split. Checkpoints are chosen and the temperature fitted on the held-out
part of Training (by image: copies of one image stay on one side), never on the test split the model card reports.
Checkpoints go to --workdir; rerunning the same command resumes an interrupted run where it stopped.
The exported network is kept as `<workdir>/reader.keras` and named in the metadata: `python -m train.retrain` starts
from it.
"""

import argparse
import csv
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import keras
import numpy as np

from train import evaluate
from train.data import HOLDOUT_SHARE, LABEL_SOURCES, TEST_USAGE, TRAIN_USAGE, holdout_split, load_faces
from train.export import export, fit_temperature, write_metadata
from train.network import as_float32, build_model, reader
from train.steps import (augmented_batches, compile_for_training, evaluate_exports, label_smoothing_for, to_inputs,
                         training_data, validation_batches)

READER_FILE = "reader.keras"
HISTORY_FILE = "history.csv"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="FER2013 CSV (plain or .gz) or folder with train/ and test/")
    parser.add_argument("--labels", choices=LABEL_SOURCES, default="ferplus",
                        help="train on FER+ crowd votes (default) or FER2013's single labels")
    parser.add_argument("--votes", help="FER+ votes CSV (default: ferplus_votes_train_publictest.csv.gz beside --data)")
    parser.add_argument("--out", default="model", type=Path, help="where the .tflite files and metadata go")
    parser.add_argument("--workdir", default="runs/emotion", type=Path, help="checkpoints, logs, resume state")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="peak of the warm-up + cosine schedule")
    parser.add_argument("--width", type=float, default=1.0, help="multiplier on the number of filters")
    parser.add_argument("--patience", type=int, default=8, help="epochs without validation improvement before stopping")
    parser.add_argument("--max-minutes", type=float, help="stop training after the epoch that passes this wall time")
    parser.add_argument("--precision", choices=("mixed_bfloat16", "float32"), default="mixed_bfloat16",
                        help="bfloat16 compute with float32 weights halves the time per epoch on CPUs with AVX512-BF16")
    parser.add_argument("--train-usage", default=TRAIN_USAGE)
    parser.add_argument("--holdout-share", type=float, default=HOLDOUT_SHARE,
                        help="share of the training images held out to choose checkpoints and fit calibration")
    parser.add_argument("--test-usage", default=TEST_USAGE,
                        help="the untouched split the exported model is tested on")
    parser.add_argument("--version", default=datetime.now(timezone.utc).strftime("%Y.%m.%d-%H%M"))
    parser.add_argument("--seed", type=int, default=1337)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    keras.mixed_precision.set_global_policy(args.precision)
    args.workdir.mkdir(parents=True, exist_ok=True)

    data = load_faces(args.data, args.labels, args.votes)
    test_set = data.split(args.test_usage)
    train_set, val_set, dropped = holdout_split(data.split(args.train_usage).trainable(), test_set,
                                                args.holdout_share)
    print(f"data ({args.labels} labels): {len(train_set)} training faces {train_set.class_counts()}, "
          f"{len(val_set)} held out for validation, {dropped} dropped as copies of {args.test_usage} images")

    classifier = build_model(width=args.width)
    steps = args.epochs * int(np.ceil(len(train_set) / args.batch_size))
    compile_for_training(classifier, args.learning_rate, steps, label_smoothing_for(train_set))
    print(f"model: {classifier.count_params():,} parameters, {args.precision}")

    finished = args.workdir / "finished.json"
    if finished.exists():
        print(f"training already finished ({finished}); calibrating and exporting its best model")
    else:
        train_model(classifier, augmented_batches(train_set, args.batch_size, args.seed),
                    validation_batches(val_set), args)
        finished.write_text(json.dumps(best_epoch(args.workdir)))
    keras.mixed_precision.set_global_policy("float32")  # calibration and export compute in float32
    exported = reader(as_float32(keras.models.load_model(args.workdir / "best.keras")))
    exported.save(args.workdir / READER_FILE)

    labelled_val = val_set.labelled()
    temperature = fit_temperature(exported.predict(to_inputs(labelled_val), batch_size=256, verbose=0),
                                  labelled_val.labels)
    print(f"calibration: temperature {temperature:.3f} fitted on the held-out part of {args.train_usage}")

    x_train = to_inputs(train_set)
    representative = x_train[np.random.default_rng(args.seed).choice(len(x_train), size=min(500, len(x_train)),
                                                                     replace=False)]
    seen = training_data(args, train_set, val_set, args.holdout_share)
    seen.update(width=args.width, precision=args.precision, checkpoint=str(args.workdir / READER_FILE))
    metadata = export(exported, temperature, representative, args.out, args.version, seen)

    metadata["metrics"] = evaluate_exports(args.out, lambda path: evaluate.evaluate_data(
        path, args.data, args.test_usage, args.labels, args.votes))
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


def best_epoch(workdir: Path) -> dict | None:
    """The epoch with the best validation accuracy so far, from the run's log (it survives resumes)."""
    log = workdir / HISTORY_FILE
    if not log.is_file():
        return None
    with open(log, newline="") as file:
        rows = [row for row in csv.DictReader(file) if row.get("val_accuracy")]
    if not rows:
        return None
    best = max(rows, key=lambda row: float(row["val_accuracy"]))
    return {"epoch": int(best["epoch"]) + 1, "val_accuracy": float(best["val_accuracy"])}


def train_model(classifier, train_ds, val_ds, args) -> None:
    best = best_epoch(args.workdir)
    callbacks = [
        keras.callbacks.BackupAndRestore(str(args.workdir / "resume")),
        # Keeps the best checkpoint; after a resume, only one better than the best before it replaces it.
        keras.callbacks.ModelCheckpoint(str(args.workdir / "best.keras"), monitor="val_accuracy", mode="max",
                                        save_best_only=True, initial_value_threshold=(best or {}).get("val_accuracy")),
        keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=args.patience),
        keras.callbacks.CSVLogger(str(args.workdir / HISTORY_FILE), append=True),
    ]
    if args.max_minutes:
        callbacks.append(StopAfter(args.max_minutes))
    classifier.fit(train_ds, validation_data=val_ds, epochs=args.epochs, callbacks=callbacks,
                   verbose=1 if sys.stdout.isatty() else 2)


if __name__ == "__main__":
    sys.exit(main())
