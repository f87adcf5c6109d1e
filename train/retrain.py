"""Fine-tune the emotion model on FER2013 plus the crops users donated, and put it in use only if it is no worse.

    python -m train.retrain --db data/moodtunes.sqlite3 --data ../shared/data/fer2013/fer2013_train_publictest.csv.gz
    python -m train.retrain --rollback          # swap the previous model back in (run again to undo)
    python -m train.retrain --release DIR --data FER2013   # put a model exported elsewhere in use, if no worse

Reads top to bottom: load donated crops -> hold out whole users -> load FER2013 (with FER+ crowd labels, as the
current model was trained) -> fine-tune the current model -> calibrate -> export the candidate -> evaluate candidate
and current model on the same held-out faces -> promote or keep the current one, saying why. The held-out FER2013
faces are the part of Training the current model's run held out (its metadata says how much), so neither model was
trained on them, and the test split the model card reports stays untouched.

What it needs. Retraining starts from the Keras checkpoint behind the model in --out, which its metadata names
(`python -m train` records the reader it saved, a retrain its `candidate.keras`), or --from. Where that file is not
on this machine (work folders are not committed), the network is rebuilt from the exported model itself
(`train.from_tflite`), at the width its metadata records. The candidate keeps the current model's decision bias.

Privacy. Only crops of users who consent and donate when the run starts are read (`Database.donated_crops()`);
withdrawing or /forget deletes a user's crops at once, so no later retrain can see them. A user's crops are all on
one side of the held-out split, so the model is never tested on a person it was trained on. Nothing written names a
user: the metadata records counts per class, the number of donors and the days of the first and last crop. Each
candidate keeps its files, Keras checkpoint, metrics and comparison.json in `<workdir>/<version>/` (no faces).

Promotion. A candidate is also judged on the development panel (`train.panel`: FER+ validation, the face sets'
development splits and the photo folder, `--panel-faces`/`--panel-photos`), and refused when on any set its
balanced accuracy is below the current model's 95% interval there. `--release DIR` puts a model exported by
another run (`python -m train`, or your own through `train.export`) through the same panel and, if it passes,
installs it the same way. The current files go to `<out>/previous/` first (for rollback), then the new ones replace
them, each written to a temporary file in the same folder and renamed over the old one (`os.replace` is atomic), the
model before its metadata. The metadata carries each model file's SHA-256 (written by `train.export`) and the bot
refuses a model file and metadata that do not belong together, so it never runs a new model under an old version;
it notices the new modification times (`bot/live_model.py`) and reloads. The exit status is 0 whether the candidate
was promoted or refused (both are normal outcomes; the output says which).
"""

import argparse
import asyncio
import json
import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import keras
import numpy as np

from db import Database, DonatedCrop
from db.engine import parse_address
from model.preprocess import INPUT_SIZE, LABELS
from train import evaluate, panel
from train.panel import Decision
from train.steps import (augmented_batches, compile_for_training, evaluate_exports, label_smoothing_for, to_inputs,
                         training_data)
from train.data import (HOLDOUT_SHARE, LABEL_SOURCES, TEST_USAGE, TRAIN_USAGE, DataError, FaceSet, combine,
                        holdout_split, load_faces, validation_rows)
from train.from_tflite import network_from_tflite
from train.export import FLOAT_FILE, INT8_FILE, METADATA_FILE, export, fit_temperature, write_metadata
from train.network import as_reader

MODEL_FILES = (INT8_FILE, FLOAT_FILE, METADATA_FILE)  # install order: the metadata last
PREVIOUS_FOLDER = "previous"
CHECKPOINT_FILE = "candidate.keras"
DONATED, DONATED_HELD_OUT = "Donated", "DonatedHeldOut"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m train.retrain", description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=parse_address,
                        help="the bot's database, a SQLite file or a postgresql:// URL "
                             "(read only for the donated crops)")
    parser.add_argument("--data", help="FER2013 CSV (plain or .gz) or folder with train/ and test/")
    parser.add_argument("--labels", choices=LABEL_SOURCES, default="ferplus",
                        help="FER2013 faces with FER+ crowd labels (default) or FER2013's own labels")
    parser.add_argument("--votes", help="FER+ votes CSV (default: ferplus_votes_train_publictest.csv.gz beside --data)")
    parser.add_argument("--out", default="model", type=Path, help="the model folder the bot loads from")
    parser.add_argument("--from", dest="checkpoint", type=Path,
                        help="Keras checkpoint of the model now in --out (default: see the module docstring)")
    parser.add_argument("--workdir", default="runs/retrain", type=Path,
                        help="one folder per candidate: its files, checkpoint and comparison")
    parser.add_argument("--epochs", type=int, default=3, help="a fine-tune: a few epochs, not a full run")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-4, help="a tenth of the full run's peak")
    parser.add_argument("--margin", type=float, default=0.02,
                        help="largest drop in any class's recall (0.02 = 2 points) still allowed")
    parser.add_argument("--holdout-share", type=float, default=0.2, help="share of donors whose crops are held out")
    parser.add_argument("--min-holdout-crops", type=int, default=100,
                        help="hold out donated crops only when there are at least this many (and 2+ donors)")
    parser.add_argument("--donated-repeat", type=int, default=1,
                        help="show each donated crop this many times per epoch (they are few beside FER2013)")
    parser.add_argument("--train-usage", default=TRAIN_USAGE)
    parser.add_argument("--test-usage", default=TEST_USAGE,
                        help="the untouched test split: its images are never trained on, held out or compared on")
    parser.add_argument("--version", default=datetime.now(timezone.utc).strftime("%Y.%m.%d-%H%M"))
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--rollback", action="store_true", help="swap <out>/previous/ and the current model")
    parser.add_argument("--release", type=Path, metavar="DIR",
                        help="instead of retraining, put the model exported in DIR in use if the panel allows it")
    panel.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.release and args.data is None:
        parser.error("--release needs --data: the panel's FER+ validation faces are FER2013's")
    if not (args.rollback or args.release) and (args.db is None or args.data is None):
        parser.error("--db and --data are required (unless --rollback or --release)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return rollback(args.out) if args.rollback else release(args) if args.release else retrain(args)
    except (DataError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def retrain(args: argparse.Namespace) -> int:
    keras.utils.set_random_seed(args.seed)
    current = current_metadata(args.out)
    if current["version"] == args.version:
        raise ValueError(f"the model in {args.out} already has version {args.version}; pass a new --version")
    checkpoint = starting_checkpoint(args, current)

    crops = asyncio.run(load_donated_crops(args.db))
    train_crops, held_out_crops = split_by_user(crops, args.holdout_share, args.min_holdout_crops, args.seed)
    print(f"donated crops: {len(crops)} from {len({c.user_id for c in crops})} donors; "
          f"{len(train_crops)} to train on, {len(held_out_crops)} held out")

    fer = load_faces(args.data, args.labels, args.votes)
    args.holdout_share_of_training = holdout_share_of(current)
    fer_train, fer_val, _ = holdout_split(fer.split(args.train_usage).trainable(), fer.split(args.test_usage),
                                          args.holdout_share_of_training)
    train_set = combine(fer_train, crops_to_faces(train_crops, DONATED, repeat=args.donated_repeat))
    held_out = combine(fer_val, crops_to_faces(held_out_crops, DONATED_HELD_OUT))
    held_out_name = (f"held-out {args.holdout_share_of_training:.0%} of {args.train_usage}"
                     + (" + held-out donated crops" if held_out_crops else ""))
    print(f"data: {len(train_set)} training faces {train_set.class_counts()}, {len(held_out)} held out")

    classifier = fine_tune(checkpoint, train_set, args)
    labelled_val = fer_val.labelled()
    val_logits = classifier.predict(to_inputs(labelled_val), batch_size=256, verbose=0)
    bias = decision_bias(current)  # the current model's class balancing, kept
    temperature = fit_temperature(val_logits + (0 if bias is None else bias), labelled_val.labels)
    print(f"calibration: temperature {temperature:.3f} fitted on the {held_out_name}")

    staging = args.workdir / args.version
    x_train = to_inputs(train_set)
    representative = x_train[np.random.default_rng(args.seed).choice(len(x_train), min(500, len(x_train)),
                                                                      replace=False)]
    seen = training_data(args, train_set, held_out, args.holdout_share_of_training)
    seen.update(retraining_record(args, current["version"], checkpoint, fer_train, train_crops, held_out_crops,
                                  held_out_name))
    seen["checkpoint"] = str(staging / CHECKPOINT_FILE)
    metadata = export(classifier, temperature, representative, staging, args.version, seen, bias)
    classifier.save(staging / CHECKPOINT_FILE)  # the starting point of the next retrain, if this one is promoted

    headline = evaluate_exports(staging, lambda path: evaluate.evaluate_model(path, held_out, held_out_name))
    candidate_report = json.loads((staging / "metrics.json").read_text())
    current_report = evaluate.evaluate_model(args.out / INT8_FILE, held_out, held_out_name)
    metadata["metrics"] = {**headline, "compared_with": {"version": current["version"],
                                                         "accuracy": current_report["accuracy"]}}
    write_metadata(staging, metadata)

    held_out_decision = compare(candidate_report, current_report, args.margin)
    print(comparison_table(candidate_report, current_report, current["version"], args.version))
    panel_decision, panels = judge_on_panel(staging / INT8_FILE, args.out / INT8_FILE, fer_val, args)
    decision = Decision(held_out_decision.promote and panel_decision.promote,
                        held_out_decision.reasons + panel_decision.reasons)
    (staging / "comparison.json").write_text(json.dumps(
        {"promoted": decision.promote, "reasons": decision.reasons, "margin": args.margin,
         "current": {"version": current["version"], **current_report}, "candidate": candidate_report,
         "panel": panels}, indent=2))

    if not decision.promote:
        print(f"\nkeeping version {current['version']} in {args.out}; the candidate ({staging}) is worse:")
        print("\n".join(f"  - {reason}" for reason in decision.reasons))
        return 0
    promote(staging, args.out)
    print(f"\npromoted version {args.version} to {args.out} (accuracy {current_report['accuracy']:.2%} -> "
          f"{candidate_report['accuracy']:.2%}); version {current['version']} kept in "
          f"{args.out / PREVIOUS_FOLDER} (undo: python -m train.retrain --rollback --out {args.out})")
    return 0


def release(args: argparse.Namespace) -> int:
    """Install the model exported in --release if the panel allows it (the same panel and rule as a retrain)."""
    current, candidate = current_metadata(args.out), model_metadata(args.release)
    if candidate["version"] == current["version"]:
        raise ValueError(f"the model in {args.release} has the version of the one in {args.out} "
                         f"({current['version']}); export it with a new version")
    fer = load_faces(args.data, args.labels, args.votes)
    fer_val = fer.subset(validation_rows(fer, holdout_share_of(candidate)))
    decision, panels = judge_on_panel(args.release / INT8_FILE, args.out / INT8_FILE, fer_val, args)
    (args.release / "comparison.json").write_text(json.dumps(
        {"promoted": decision.promote, "reasons": decision.reasons, "panel": panels}, indent=2))
    if not decision.promote:
        print(f"\nkeeping version {current['version']} in {args.out}; {args.release} is worse:")
        print("\n".join(f"  - {reason}" for reason in decision.reasons))
        return 0
    promote(args.release, args.out)
    print(f"\nreleased version {candidate['version']} to {args.out}; version {current['version']} kept in "
          f"{args.out / PREVIOUS_FOLDER} (undo: python -m train.retrain --rollback --out {args.out})")
    return 0


def judge_on_panel(candidate: Path, current: Path, fer_val: FaceSet, args) -> tuple[Decision, dict]:
    """Both model files on the panel (`fer_val`, the held-out FER2013 faces, and the sets --panel-* choose): the
    comparison printed, the decision and both panels returned."""
    faces, photos = panel.chosen_sets(args)
    name = evaluate.fer_set_name(evaluate.VALIDATION, args.labels)
    panels = {role: evaluate.evaluate_panel(path, faces, photos,
                                            made={name: evaluate.evaluate_model(path, fer_val, name)})
              for role, path in (("current", current), ("candidate", candidate))}
    for figures in panels.values():
        figures.pop("reports")
    print(panel.comparison_table(panels["candidate"], panels["current"]))
    return panel.compare(panels["candidate"], panels["current"]), panels


def holdout_share_of(metadata: dict) -> float:
    """The share of Training the run behind a model held out (its metadata says; `python -m train`'s default)."""
    return metadata.get("training_data", {}).get("holdout_share", HOLDOUT_SHARE)


def decision_bias(metadata: dict) -> np.ndarray | None:
    """The per-class decision bias a model was exported with (train.choose), in label order; None if it has none."""
    bias = metadata.get("decision_bias")
    return None if bias is None else np.array([bias[label] for label in LABELS], np.float32)


def current_metadata(out_dir: Path) -> dict:
    try:
        return model_metadata(out_dir)
    except FileNotFoundError:
        raise FileNotFoundError(f"no model in {out_dir} to improve on; train one with `python -m train` first"
                                ) from None


def model_metadata(folder: Path) -> dict:
    if not (folder / METADATA_FILE).is_file() or not (folder / INT8_FILE).is_file():
        raise FileNotFoundError(f"no model in {folder}: expected {INT8_FILE} and {METADATA_FILE}")
    return json.loads((folder / METADATA_FILE).read_text())


def starting_checkpoint(args, current: dict) -> Path:
    """The Keras weights behind the model now in use: --from, else the checkpoint its metadata names, else (a fresh
    clone has no runs/) the exported model itself, rebuilt as a network of the width its metadata records."""
    recorded = current.get("training_data", {}).get("checkpoint")
    checkpoint = args.checkpoint or (Path(recorded) if recorded else None)
    exported, width = args.out / INT8_FILE, current.get("training_data", {}).get("width")
    if args.checkpoint is None and (checkpoint is None or not checkpoint.is_file()) and width is not None:
        print(f"no Keras checkpoint at {checkpoint}: rebuilding the network from {exported} (train.from_tflite)")
        return exported
    if checkpoint is None or not checkpoint.is_file():
        raise FileNotFoundError(f"no Keras checkpoint at {checkpoint or 'a path the metadata names'}: a .tflite "
                                f"cannot be fine-tuned, so retraining starts from the Keras weights of the model in "
                                f"{args.out} (version {current['version']}); pass them with --from")
    return checkpoint


async def load_donated_crops(db_path: str | Path) -> list[DonatedCrop]:
    """The crops a retrain may use: those of users who consent and donate at this moment."""
    async with await Database.open(db_path, create=False) as database:
        return await database.donated_crops()


def split_by_user(crops: list[DonatedCrop], holdout_share: float, min_crops: int,
                  seed: int) -> tuple[list[DonatedCrop], list[DonatedCrop]]:
    """(to train on, held out): whole users on each side, so no face is tested by a model that saw its owner.

    A held-out slice of a handful of crops (or of one person) would say more about that person than about the model:
    nothing is held out below `min_crops` crops or with fewer than two donors. Otherwise about `holdout_share` of the
    donors (at least one, never all) are held out, chosen at random with the seed.
    """
    donors = sorted({crop.user_id for crop in crops})
    if len(crops) < min_crops or len(donors) < 2:
        return list(crops), []
    count = min(len(donors) - 1, max(1, round(holdout_share * len(donors))))
    held_out = set(np.random.default_rng(seed).choice(donors, size=count, replace=False).tolist())
    return ([crop for crop in crops if crop.user_id not in held_out],
            [crop for crop in crops if crop.user_id in held_out])


def crops_to_faces(crops: list[DonatedCrop], usage: str, repeat: int = 1) -> FaceSet:
    """Donated crops as FER2013-like faces, labelled with the emotion the user said they show."""
    faces = np.array([np.frombuffer(crop.face48, np.uint8).reshape(INPUT_SIZE, INPUT_SIZE) for crop in crops],
                     dtype=np.uint8).reshape(-1, INPUT_SIZE, INPUT_SIZE)
    labels = np.array([LABELS.index(crop.emotion) for crop in crops], dtype=np.int64)
    return FaceSet(np.repeat(faces, repeat, axis=0), np.repeat(labels, repeat), np.full(len(labels) * repeat, usage))


def fine_tune(checkpoint: Path, train_set: FaceSet, args) -> keras.Model:
    """Continue training the checkpoint with the full run's augmentation, loss and class weights, at a low rate."""
    if checkpoint.suffix == ".tflite":
        width = current_metadata(args.out)["training_data"]["width"]
        classifier = as_reader(network_from_tflite(checkpoint, width))
    else:
        classifier = as_reader(keras.models.load_model(checkpoint))
    steps = max(1, args.epochs * int(np.ceil(len(train_set) / args.batch_size)))
    compile_for_training(classifier, args.learning_rate, steps, label_smoothing_for(train_set))
    print(f"fine-tuning {checkpoint} ({classifier.count_params():,} parameters) for {args.epochs} epochs")
    classifier.fit(augmented_batches(train_set, args.batch_size, args.seed), epochs=args.epochs,
                   verbose=1 if sys.stdout.isatty() else 2)
    return classifier


def retraining_record(args, current_version: str, checkpoint: Path, fer_train: FaceSet,
                      train_crops: list[DonatedCrop], held_out_crops: list[DonatedCrop], held_out_name: str) -> dict:
    """What the candidate saw, for its metadata: counts and dates, never who."""
    used = crops_to_faces(train_crops, DONATED)
    days = sorted(crop.created_at.astimezone(timezone.utc).date().isoformat() for crop in train_crops + held_out_crops)
    return {
        "dataset": "FER2013 (Goodfellow et al., 2013)" + (" with FER+ crowd labels" if args.labels == "ferplus" else "")
                   + " + face crops donated by MoodTunes users (opt-in)",
        "fine_tuned_from": {"version": current_version, "checkpoint": checkpoint.name},
        "fer2013_train_faces": len(fer_train), "fer2013_class_counts": fer_train.class_counts(),
        "donated_crops": {
            "used_for_training": len(train_crops), "held_out": len(held_out_crops),
            "donors": len({crop.user_id for crop in train_crops + held_out_crops}),
            "class_counts": used.class_counts(), "repeat": args.donated_repeat,
            "first_day": days[0] if days else None, "last_day": days[-1] if days else None,
        },
        "validation_split": held_out_name,
        "learning_rate": args.learning_rate,
    }


def compare(candidate: dict, current: dict, margin: float) -> Decision:
    """Promote only if overall accuracy is not lower and no class's recall drops by more than `margin`.

    Both arguments are `train.metrics.metrics()` reports on the same faces. A class absent from those faces has no
    recall to compare and is skipped.
    """
    if candidate["n"] != current["n"]:
        raise ValueError(f"the two models were evaluated on different faces ({candidate['n']} vs {current['n']})")
    reasons = []
    if candidate["accuracy"] < current["accuracy"]:
        reasons.append(f"overall accuracy {candidate['accuracy']:.2%} is below the current "
                       f"{current['accuracy']:.2%}")
    for name, row in current["per_class"].items():
        drop = round(row["recall"] - candidate["per_class"][name]["recall"], 4)
        if row["support"] and drop > margin:
            reasons.append(f"{name}: recall {candidate['per_class'][name]['recall']:.1%} vs "
                           f"{row['recall']:.1%} now, {drop:.1%} lower (allowed: {margin:.1%})")
    return Decision(promote=not reasons, reasons=reasons)


def comparison_table(candidate: dict, current: dict, current_version: str, candidate_version: str) -> str:
    lines = [f"\non {current['n']} held-out faces ({current['usage']}):",
             f"{'':<18}{current_version:>17}{candidate_version:>17}{'change':>9}{'faces':>7}"]
    rows = [("accuracy", current["accuracy"], candidate["accuracy"], current["n"])]
    rows += [(f"recall {name}", row["recall"], candidate["per_class"][name]["recall"], row["support"])
             for name, row in current["per_class"].items()]
    return "\n".join(lines + [f"{label:<18}{now:>17.2%}{new:>17.2%}{new - now:>+9.2%}{faces:>7}"
                               for label, now, new, faces in rows])


def promote(staging: Path, out_dir: Path) -> None:
    """Put the candidate in use: the current files to <out>/previous/, then the candidate's over them."""
    install(read_model_files(out_dir), out_dir / PREVIOUS_FOLDER)
    install(read_model_files(staging), out_dir)


def rollback(out_dir: Path) -> int:
    """Swap the previous model back in; the one it replaces goes to previous/, so a second rollback undoes it."""
    previous_dir = out_dir / PREVIOUS_FOLDER
    if not (previous_dir / METADATA_FILE).is_file():
        raise FileNotFoundError(f"nothing to roll back to: {previous_dir / METADATA_FILE} does not exist")
    previous, current = read_model_files(previous_dir), read_model_files(out_dir)
    install(previous, out_dir)
    install(current, previous_dir)
    versions = [json.loads(files[METADATA_FILE])["version"] for files in (current, previous)]
    print(f"rolled back {out_dir} from version {versions[0]} to {versions[1]}; "
          f"{versions[0]} is now in {previous_dir} (run --rollback again to undo)")
    return 0


def read_model_files(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in MODEL_FILES if (folder / name).is_file()}


def install(files: dict[str, bytes], folder: Path) -> None:
    """Write each file atomically, in MODEL_FILES order: the metadata after the model it describes."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in sorted(files, key=MODEL_FILES.index):
        write_atomically(folder / name, files[name])
    for name in set(MODEL_FILES) - set(files):  # a file of an older model would not belong with the new ones
        (folder / name).unlink(missing_ok=True)


def write_atomically(path: Path, content: bytes) -> None:
    """A reader sees the old file or the new one, never a half-written one: write beside it, then rename over it."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, path.stat().st_mode & 0o777 if path.exists() else 0o644)  # mkstemp makes it 0600
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


if __name__ == "__main__":
    sys.exit(main())
