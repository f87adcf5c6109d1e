"""Train the emotion model on FER2013 faces with FER+ crowd labels and export it for the bot.

    python -m train --data ../shared/data/fer2013/fer2013_train_publictest.csv.gz --out model/

Reads top to bottom: load data -> hold out part of Training -> augment -> build model -> train -> calibrate ->
export -> evaluate on the untouched test split. Checkpoints are chosen and the temperature fitted on the held-out
part of Training (by image: copies of one image stay on one side), never on the test split the model card reports.
With `--extra`, faces of other public sets (train.face_sets) join FER2013's, their targets blended with the teachers'
probabilities (`--teachers`); with `--panel`/`--panel-photos`, checkpoints are chosen on a panel of kinds of faces and
a decision bias that balances the classes is fitted on it (train.choose). `--from` starts from an exported model's
weights (train.from_tflite).
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

from model.preprocess import LABELS
from train import evaluate
from train.choose import PanelCheckpoint, fit_decision_bias, load_panel, panel_scores
from train.data import (HOLDOUT_SHARE, LABEL_SOURCES, TEST_USAGE, TRAIN_USAGE, DataError, FaceSet, combine,
                        holdout_split, load_faces)
from train.export import export, fit_temperature, write_metadata
from train.face_sets import TEACHERS, load_face_set
from train.from_tflite import network_from_tflite
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
    parser.add_argument("--steps-per-epoch", type=int,
                        help="batches per epoch (default: one pass over the training faces); for short comparisons")
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
    parser.add_argument("--from", dest="from_model", type=Path,
                        help="start from the weights of this exported .tflite (same --width) instead of at random")
    parser.add_argument("--extra", type=Path, action="append", default=[],
                        help="an .npz set of extra training faces (faces_extra/train.npz); repeatable")
    parser.add_argument("--teachers", nargs="*", choices=TEACHERS, default=[],
                        help="teachers whose probabilities (stored in the --extra sets) soften those faces' targets")
    parser.add_argument("--teacher-share", type=float, default=0.5,
                        help="share of an extra face's target that comes from the teachers' mean")
    parser.add_argument("--panel", type=Path, action="append", default=[],
                        help="an .npz development face set of the panel that chooses checkpoints; repeatable")
    parser.add_argument("--panel-photos", type=Path, action="append", default=[],
                        help="a folder of labelled photos (labels.csv) of that panel; repeatable")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except (DataError, OSError, ValueError) as error:  # a missing or malformed file named on the command line
        print(f"error: {error}", file=sys.stderr)
        return 1


def run(args: argparse.Namespace) -> int:
    keras.utils.set_random_seed(args.seed)
    keras.mixed_precision.set_global_policy(args.precision)
    args.workdir.mkdir(parents=True, exist_ok=True)

    data = load_faces(args.data, args.labels, args.votes)
    test_set = data.split(args.test_usage)
    train_set, val_set, dropped = holdout_split(data.split(args.train_usage).trainable(), test_set,
                                                args.holdout_share)
    print(f"data ({args.labels} labels): {len(train_set)} training faces {train_set.class_counts()}, "
          f"{len(val_set)} held out for validation, {dropped} dropped as copies of {args.test_usage} images")

    if args.extra:
        train_set = combine(train_set, *(extra_faces(path, args.teachers, args.teacher_share) for path in args.extra))
        print(f"with the extra faces: {len(train_set)} training faces {train_set.class_counts()}")
    labelled_val = val_set.labelled()
    panel = (load_panel(labelled_val.faces, labelled_val.labels, args.panel, args.panel_photos)
             if args.panel or args.panel_photos else [])

    classifier = network_from_tflite(args.from_model, args.width) if args.from_model else build_model(args.width)
    steps = args.epochs * (args.steps_per_epoch or int(np.ceil(len(train_set) / args.batch_size)))
    compile_for_training(classifier, args.learning_rate, steps, label_smoothing_for(train_set))
    print(f"model: {classifier.count_params():,} parameters, {args.precision}")

    finished = args.workdir / "finished.json"
    if finished.exists():
        print(f"training already finished ({finished}); calibrating and exporting its best model")
    else:
        train_model(classifier, augmented_batches(train_set, args.batch_size, args.seed),
                    validation_batches(val_set), args, panel)
        finished.write_text(json.dumps(best_epoch(args.workdir, monitored(panel))))
    keras.mixed_precision.set_global_policy("float32")  # calibration and export compute in float32
    exported = reader(as_float32(keras.models.load_model(args.workdir / "best.keras")))
    exported.save(args.workdir / READER_FILE)

    bias = None
    if panel:
        logits = [exported.predict(s.inputs, batch_size=256, verbose=0) for s in panel]
        alpha, bias = fit_decision_bias(logits, panel, train_set.target_distribution().mean(axis=0))
        before, after = panel_scores(logits, panel), panel_scores(logits, panel, bias)
        print(f"decision bias: {alpha:.2f} x the log class prior subtracted; panel balanced accuracy "
              + ", ".join(f"{name} {before[name]:.3f} -> {after[name]:.3f}" for name in after))
    val_logits = exported.predict(to_inputs(labelled_val), batch_size=256, verbose=0)
    temperature = fit_temperature(val_logits + (0 if bias is None else bias), labelled_val.labels)
    print(f"calibration: temperature {temperature:.3f} fitted on the held-out part of {args.train_usage}")

    x_train = to_inputs(train_set)
    representative = x_train[np.random.default_rng(args.seed).choice(len(x_train), size=min(500, len(x_train)),
                                                                     replace=False)]
    seen = training_data(args, train_set, val_set, args.holdout_share)
    seen.update(width=args.width, precision=args.precision, checkpoint=str(args.workdir / READER_FILE),
                steps_per_epoch=args.steps_per_epoch)
    if args.extra:
        seen.update(extra_faces=[str(path) for path in args.extra], teachers=args.teachers,
                    teacher_share=args.teacher_share if args.teachers else 0.0,
                    started_from=str(args.from_model) if args.from_model else None,
                    panel=[s.name for s in panel])
    metadata = export(exported, temperature, representative, args.out, args.version, seen, bias)

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


def extra_faces(path: Path, teachers: list[str], teacher_share: float) -> FaceSet:
    """An extra face set as training faces: its label one-hot, blended with the teachers' mean when there are any."""
    faces = load_face_set(path)
    targets = np.eye(len(LABELS), dtype=np.float32)[faces.labels]
    if teachers:
        missing = [name for name in teachers if name not in faces.teachers]
        if missing:
            raise ValueError(f"{path} holds no probabilities of {', '.join(missing)}")
        taught = np.mean([faces.teachers[name] for name in teachers], axis=0)
        targets = (1 - teacher_share) * targets + teacher_share * taught / taught.sum(axis=1, keepdims=True)
    usage = np.array([f"{faces.name}:{source}" for source in faces.sources])
    return FaceSet(faces.faces, faces.labels, usage, targets.astype(np.float32))


def monitored(panel: list) -> str:
    """What chooses the checkpoint: the panel's mean balanced accuracy, or FER2013 validation accuracy alone."""
    return "val_panel" if panel else "val_accuracy"


def best_epoch(workdir: Path, metric: str = "val_accuracy") -> dict | None:
    """The epoch with the best monitored figure so far, from the run's log (it survives resumes)."""
    log = workdir / HISTORY_FILE
    if not log.is_file():
        return None
    with open(log, newline="") as file:
        rows = [row for row in csv.DictReader(file) if row.get(metric)]
    if not rows:
        return None
    best = max(rows, key=lambda row: float(row[metric]))
    return {"epoch": int(best["epoch"]) + 1, metric: float(best[metric])}


def mirrored_logits(network: keras.Model, inputs: np.ndarray) -> np.ndarray:
    """What the exported reader computes: the network's mean over the faces and their mirror images."""
    return (network.predict(inputs, batch_size=256, verbose=0)
            + network.predict(inputs[:, :, ::-1], batch_size=256, verbose=0)) / 2


def train_model(classifier, train_ds, val_ds, args, panel: list) -> None:
    metric = monitored(panel)
    best = best_epoch(args.workdir, metric)
    callbacks = [PanelCheckpoint(panel, mirrored_logits)] if panel else []
    callbacks += [
        keras.callbacks.BackupAndRestore(str(args.workdir / "resume")),
        # Keeps the best checkpoint; after a resume, only one better than the best before it replaces it.
        keras.callbacks.ModelCheckpoint(str(args.workdir / "best.keras"), monitor=metric, mode="max",
                                        save_best_only=True, initial_value_threshold=(best or {}).get(metric)),
        keras.callbacks.EarlyStopping(monitor=metric, mode="max", patience=args.patience),
        keras.callbacks.CSVLogger(str(args.workdir / HISTORY_FILE), append=True),
    ]
    if args.max_minutes:
        callbacks.append(StopAfter(args.max_minutes))
    if args.steps_per_epoch:
        train_ds = train_ds.repeat()
    classifier.fit(train_ds, validation_data=val_ds, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                   callbacks=callbacks,
                   verbose=1 if sys.stdout.isatty() else 2)


if __name__ == "__main__":
    sys.exit(main())
