"""Retraining on donated crops: whose crops are used, how candidates are judged, promotion and rollback.

Real SQLite files, real LiteRT, tiny synthetic data: every emotion is drawn as a bright horizontal band at its own
height. That makes it possible to build, without training, a current model that is perfect on such faces (no
candidate can beat it) or one that always answers "disgust", an emotion the held-out faces never show (every
candidate is at least as good). The model folders are copies in tmp_path, never the real `model/`.
"""

import asyncio
import hashlib
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest

from db import Database, DonatedCrop
from model import EmotionModel
from model.preprocess import INPUT_SIZE, LABELS, face_to_input
from train.data import FaceSet, holdout_split
from train.export import export
from train.network import build_model, reader
from train.retrain import compare, load_donated_crops, main, split_by_user, write_atomically

BAND = INPUT_SIZE // len(LABELS)  # rows per emotion band
TESTED = [label for label in LABELS if label != "disgust"]  # emotions the held-out faces show
DONORS = (987654301, 987654302, 987654303, 987654304)  # 8 donated crops each
NOT_DONATING, WITHDREW = 987654305, 987654306  # corrections without crops; crops deleted on withdrawal
CROPS_PER_USER = 8
GUESS = {label: 1 / len(LABELS) for label in LABELS}


def band_face(label: int, rng: np.random.Generator) -> np.ndarray:
    """A 48x48 uint8 'face' whose emotion is a bright band of rows at the label's height."""
    face = rng.integers(20, 60, size=(INPUT_SIZE, INPUT_SIZE))
    face[label * BAND:(label + 1) * BAND] += 160
    return face.astype(np.uint8)


def write_band_csv(path: Path, train_per_class: int = 20, test_per_class: int = 6) -> Path:
    """A FER2013-layout CSV of band faces, judged by their FER2013 labels (`--labels fer2013` below).

    The retrain holds out part of Training by image; every disgust row is one image, and one that stays on the
    training side, so the held-out faces show every emotion but disgust.
    """
    rng = np.random.default_rng(0)
    disgust = band_face(LABELS.index("disgust"), rng)
    while holdout_split(FaceSet(disgust[None], np.zeros(1, np.int64), np.array(["Training"])),
                        FaceSet(np.zeros((0, INPUT_SIZE, INPUT_SIZE), np.uint8), np.zeros(0, np.int64),
                                np.array([])), share=0.1)[0].faces.size == 0:
        disgust = band_face(LABELS.index("disgust"), rng)
    rows = [(label, "Training") for label in range(len(LABELS)) for _ in range(train_per_class)]
    rows += [(LABELS.index(name), "PublicTest") for name in TESTED for _ in range(test_per_class)]
    faces = [disgust if LABELS[label] == "disgust" else band_face(label, rng) for label, _ in rows]
    lines = [f"{label},{' '.join(map(str, face.ravel()))},{usage}" for (label, usage), face in zip(rows, faces)]
    path.write_text("emotion,pixels,Usage\n" + "\n".join(lines) + "\n")
    return path


def band_model(perfect: bool) -> keras.Model:
    """One dense layer: reads the band (perfect), or always says disgust (hopeless)."""
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 1))
    dense = keras.layers.Dense(len(LABELS))
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    kernel = np.zeros((INPUT_SIZE, INPUT_SIZE, len(LABELS)), np.float32)
    bias = np.zeros(len(LABELS), np.float32)
    if perfect:
        for label in range(len(LABELS)):
            kernel[label * BAND:(label + 1) * BAND, :, label] = 0.1
    else:
        bias[LABELS.index("disgust")] = 5.0
    dense.set_weights([kernel.reshape(-1, len(LABELS)), bias])
    return model


def export_model(model: keras.Model, folder: Path, version: str) -> Path:
    """The model as the bot gets it: int8 and float .tflite plus metadata, via `train.export`."""
    rng = np.random.default_rng(1)
    representative = np.stack([face_to_input(band_face(label % len(LABELS), rng)) for label in range(70)])
    export(reader(model), 1.0, representative, folder, version, {"dataset": "synthetic bands"})
    return folder


def write_band_faces(path: Path, labels: list[int], shown: list[int] | None = None) -> Path:
    """A face set `.npz` (`train.face_sets`' layout: 96x96 colour crops, no landmarks found) of band faces showing
    `shown` (default: their labels), for the panel."""
    rng = np.random.default_rng(4)
    faces = [cv2.cvtColor(cv2.resize(band_face(label, rng), (96, 96), interpolation=cv2.INTER_NEAREST),
                          cv2.COLOR_GRAY2RGB) for label in (shown or labels)]
    np.savez_compressed(path, faces=np.stack(faces), labels=np.array(labels, np.int8),
                        source=np.array(["bands"] * len(labels)), face_found=np.zeros(len(labels), bool),
                        landmarks=np.full((len(labels), 5, 2), np.nan, np.float32))
    return path


async def fill_database(path: str | Path) -> str | Path:
    """Four donors, a user who corrects without donating, and one who donated then withdrew."""
    rng = np.random.default_rng(2)
    database = await Database.open(path)
    for user in DONORS + (NOT_DONATING, WITHDREW):
        await database.set_consent(user, True)
        if user != NOT_DONATING:
            await database.set_donation(user, True)
        for number in range(CROPS_PER_USER):
            emotion = TESTED[(number + user) % len(TESTED)]
            face = band_face(LABELS.index(emotion), rng).tobytes()
            await database.record_emotion_feedback(user, "neutral", emotion, GUESS, "test-1", face)
    await database.set_donation(WITHDREW, False)
    await database.close()
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory, new_postgresql_database) -> dict[str, Path]:
    """Data, database (PostgreSQL: the SQLite file is the report's and the bot's tests' default), a starting
    checkpoint, two current models (hopeless, perfect) and panel face sets, shared by the tests: band faces of the
    emotions the held-out faces show (where the hopeless model is always wrong, so any candidate may pass), and happy
    band faces labelled disgust (what the hopeless model always answers)."""
    root = tmp_path_factory.mktemp("retrain")
    start = root / "start.keras"
    build_model(width=0.125).save(start)
    tested = [LABELS.index(name) for name in TESTED for _ in range(4)]
    return {
        "data": write_band_csv(root / "bands.csv"),
        "panel": write_band_faces(root / "bands.npz", tested),
        "disgust_only": write_band_faces(root / "disgust_only.npz", [LABELS.index("disgust")] * 8,
                                         shown=[LABELS.index("happy")] * 8),
        "db": asyncio.run(fill_database(new_postgresql_database())),
        "start": start,
        "hopeless": export_model(band_model(perfect=False), root / "hopeless", "hopeless-1"),
        "perfect": export_model(band_model(perfect=True), root / "perfect", "perfect-1"),
    }


def retrain(world, out: Path, workdir: Path, version: str, panel: tuple[str, ...] = ("panel",)) -> int:
    return main(["--db", str(world["db"]), "--data", str(world["data"]), "--labels", "fer2013", "--out", str(out),
                 "--from", str(world["start"]), "--workdir", str(workdir), "--epochs", "1", "--batch-size", "32",
                 "--min-holdout-crops", "10", "--version", version, *panel_options(world, panel)])


def panel_options(world, sets: tuple[str, ...]) -> list[str]:
    return [option for name in sets for option in ("--panel-faces", str(world[name]))]


@pytest.fixture(scope="module")
def promoted(world, tmp_path_factory) -> Path:
    """A model folder where a retrain replaced the hopeless model."""
    root = tmp_path_factory.mktemp("promoted")
    out = shutil.copytree(world["hopeless"], root / "model")
    assert retrain(world, out, root / "runs", "2.0.0") == 0
    return out


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


# ----- end to end -----

def test_a_retrain_on_donated_crops_promotes_a_candidate_that_is_no_worse(promoted):
    metadata = json.loads((promoted / "emotion.json").read_text())
    assert metadata["version"] == "2.0.0"
    assert metadata["training_data"]["fine_tuned_from"]["version"] == "hopeless-1"
    assert metadata["metrics"]["compared_with"] == {"version": "hopeless-1", "accuracy": 0.0}
    model = EmotionModel.load(promoted / "emotion.tflite")
    assert model.version == "2.0.0"
    assert model.classify_faces([band_face(3, np.random.default_rng(3))]).shape == (1, len(LABELS))


def test_promotion_keeps_the_previous_model_for_rollback_and_rollback_swaps_them(promoted, tmp_path):
    assert json.loads((promoted / "previous" / "emotion.json").read_text())["version"] == "hopeless-1"
    out = shutil.copytree(promoted, tmp_path / "model")
    assert main(["--rollback", "--out", str(out)]) == 0
    assert EmotionModel.load(out / "emotion.tflite").version == "hopeless-1"
    assert json.loads((out / "previous" / "emotion.json").read_text())["version"] == "2.0.0"
    assert main(["--rollback", "--out", str(out)]) == 0
    assert folder_bytes(out)["emotion.tflite"] == folder_bytes(promoted)["emotion.tflite"]


def test_promoted_metadata_records_what_data_it_saw_but_no_user(promoted):
    metadata = json.loads((promoted / "emotion.json").read_text())
    seen = metadata["training_data"]
    donated = seen["donated_crops"]
    assert donated["used_for_training"] + donated["held_out"] == len(DONORS) * CROPS_PER_USER
    assert donated["held_out"] == CROPS_PER_USER  # one whole donor of four
    assert donated["donors"] == len(DONORS)
    assert sum(donated["class_counts"].values()) == donated["used_for_training"]
    assert donated["first_day"] == donated["last_day"] == datetime.now(timezone.utc).date().isoformat()
    held_out_fer_faces = seen["validation_faces"] - donated["held_out"]
    assert 0 < held_out_fer_faces < 7 * 20 / 4, "about a tenth of Training is held out"
    assert seen["fer2013_train_faces"] == 7 * 20 - held_out_fer_faces
    assert seen["train_faces"] == seen["fer2013_train_faces"] + donated["used_for_training"]
    assert seen["validation_split"] == "held-out 10% of Training + held-out donated crops"
    assert metadata["metrics"]["split"] == seen["validation_split"]
    everything = " ".join(path.read_text() for path in promoted.rglob("*.json"))
    assert not any(str(user) in everything for user in DONORS + (NOT_DONATING, WITHDREW))


def test_promoted_metadata_names_the_model_file_it_belongs_to(promoted):
    files = json.loads((promoted / "emotion.json").read_text())["files"]
    assert files["emotion.tflite"]["sha256"] == hashlib.sha256((promoted / "emotion.tflite").read_bytes()).hexdigest()
    assert not list(promoted.rglob(".*.tmp")), "no temporary files are left behind"


def test_a_candidate_worse_than_the_current_model_is_refused_and_nothing_changes(world, tmp_path, capsys):
    out = shutil.copytree(world["perfect"], tmp_path / "model")
    before = folder_bytes(out)
    assert retrain(world, out, tmp_path / "runs", "2.0.0") == 0
    printed = capsys.readouterr().out
    assert folder_bytes(out) == before
    assert "keeping version perfect-1" in printed and "recall" in printed
    comparison = json.loads((tmp_path / "runs" / "2.0.0" / "comparison.json").read_text())
    assert comparison["promoted"] is False and comparison["reasons"]


def test_a_candidate_worse_on_one_panel_set_is_refused_though_better_on_the_held_out_faces(world, tmp_path, capsys):
    out = shutil.copytree(world["hopeless"], tmp_path / "model")
    before = folder_bytes(out)
    assert retrain(world, out, tmp_path / "runs", "2.0.0", panel=("panel", "disgust_only")) == 0
    printed = capsys.readouterr().out
    assert folder_bytes(out) == before
    assert "keeping version hopeless-1" in printed and "panel, balanced accuracy" in printed
    comparison = json.loads((tmp_path / "runs" / "2.0.0" / "comparison.json").read_text())
    assert comparison["promoted"] is False
    assert [reason.split(":")[0] for reason in comparison["reasons"]] == ["disgust_only"]
    assert comparison["panel"]["current"]["sets"]["disgust_only"]["interval"] == [1.0, 1.0]


def test_a_release_of_an_exported_model_passes_the_same_panel(world, tmp_path, capsys):
    out = shutil.copytree(world["hopeless"], tmp_path / "model")
    release = ["--data", str(world["data"]), "--labels", "fer2013", "--out", str(out),
               *panel_options(world, ("panel",))]
    assert main(["--release", str(world["perfect"]), *release]) == 0
    assert EmotionModel.load(out / "emotion.tflite").version == "perfect-1"
    assert "released version perfect-1" in capsys.readouterr().out
    worse = shutil.copytree(world["hopeless"], tmp_path / "worse")
    assert main(["--release", str(worse), *release]) == 0
    assert EmotionModel.load(out / "emotion.tflite").version == "perfect-1"
    printed = capsys.readouterr().out
    assert "keeping version perfect-1" in printed and "bands: balanced accuracy" in printed


def test_the_next_retrain_starts_from_the_promoted_candidate_without_being_told(world, promoted, tmp_path):
    out = shutil.copytree(promoted, tmp_path / "model")
    assert main(["--db", str(world["db"]), "--data", str(world["data"]), "--labels", "fer2013", "--out", str(out),
                 "--workdir", str(tmp_path / "runs"), "--epochs", "1", "--min-holdout-crops", "10",
                 "--version", "3.0.0", *panel_options(world, ("panel",))]) == 0
    started = json.loads((tmp_path / "runs" / "3.0.0" / "emotion.json").read_text())["training_data"]
    assert started["fine_tuned_from"] == {"version": "2.0.0", "checkpoint": "candidate.keras"}


@pytest.mark.parametrize("given", ["a missing file", "nothing (the metadata names no checkpoint)"])
def test_without_a_keras_checkpoint_the_retrain_explains_what_it_needs(world, tmp_path, capsys, given):
    out = shutil.copytree(world["hopeless"], tmp_path / "model")
    checkpoint = ["--from", str(tmp_path / "missing.keras")] if given == "a missing file" else []
    assert main(["--db", str(world["db"]), "--data", str(world["data"]), "--out", str(out), *checkpoint]) == 1
    assert "a .tflite cannot be fine-tuned" in capsys.readouterr().err


# ----- whose crops are used -----

async def test_a_users_crops_vanish_from_the_retrain_set_after_forget_and_after_donation_off(tmp_path):
    path = await fill_database(tmp_path / "moodtunes.sqlite3")
    assert {crop.user_id for crop in await load_donated_crops(path)} == set(DONORS)

    database = await Database.open(path)
    await database.forget_user(DONORS[0])
    await database.set_donation(DONORS[1], False)
    await database.close()

    crops = await load_donated_crops(path)
    assert {crop.user_id for crop in crops} == set(DONORS[2:])
    assert len(crops) == 2 * CROPS_PER_USER


def crops_of(users: dict[int, int]) -> list[DonatedCrop]:
    when = datetime(2026, 11, 1, tzinfo=timezone.utc)
    return [DonatedCrop(feedback_id=index, user_id=user, emotion="happy", face48=bytes(INPUT_SIZE * INPUT_SIZE),
                        model_version="test", created_at=when)
            for index, user in enumerate(user for user, count in users.items() for _ in range(count))]


def test_the_held_out_slice_takes_whole_users_never_part_of_one():
    crops = crops_of({user: 5 + user for user in range(10)})
    train, held_out = split_by_user(crops, holdout_share=0.2, min_crops=20, seed=0)
    assert {c.user_id for c in train}.isdisjoint({c.user_id for c in held_out})
    assert len({c.user_id for c in held_out}) == 2
    assert len(train) + len(held_out) == len(crops)


def test_nothing_is_held_out_with_too_few_crops_or_a_single_donor():
    assert split_by_user(crops_of({1: 5, 2: 5}), 0.5, min_crops=20, seed=0)[1] == []
    assert split_by_user(crops_of({1: 50}), 0.5, min_crops=20, seed=0)[1] == []
    train, held_out = split_by_user(crops_of({1: 30, 2: 30}), 0.9, min_crops=20, seed=0)
    assert len({c.user_id for c in held_out}) == 1 and train, "at least one donor always stays for training"


# ----- the promotion rule -----

def report(accuracy: float, recalls: dict[str, float], support: int = 10) -> dict:
    """A made-up `train.metrics.metrics()` report."""
    per_class = {name: {"precision": 0.5, "recall": recalls.get(name, 0.5), "f1": 0.5,
                        "support": 0 if name == "disgust" else support} for name in LABELS}
    return {"n": support * (len(LABELS) - 1), "accuracy": accuracy, "per_class": per_class}


def test_a_candidate_whose_recall_drops_more_than_the_margin_on_one_class_is_refused():
    decision = compare(report(0.62, {"fear": 0.40}), report(0.60, {"fear": 0.45}), margin=0.02)
    assert not decision.promote
    assert len(decision.reasons) == 1
    assert "fear" in decision.reasons[0] and "5.0% lower" in decision.reasons[0]


def test_a_candidate_within_the_margin_on_every_class_and_no_worse_overall_is_promoted():
    decision = compare(report(0.60, {"fear": 0.43, "sad": 0.70}), report(0.60, {"fear": 0.45, "sad": 0.52}),
                       margin=0.02)
    assert decision.promote and decision.reasons == []


def test_a_candidate_with_lower_overall_accuracy_is_refused():
    decision = compare(report(0.59, {}), report(0.60, {}), margin=0.02)
    assert not decision.promote and "overall accuracy 59.00% is below the current 60.00%" in decision.reasons[0]


def test_a_class_absent_from_the_held_out_faces_cannot_block_a_promotion():
    decision = compare(report(0.6, {"disgust": 0.0}), report(0.6, {"disgust": 0.9}), margin=0.02)
    assert decision.promote


def test_models_evaluated_on_different_faces_cannot_be_compared():
    with pytest.raises(ValueError, match="different faces"):
        compare(report(0.6, {}, support=10), report(0.6, {}, support=11), margin=0.02)


def test_files_are_replaced_whole_and_stay_readable_by_the_bot(tmp_path):
    target = tmp_path / "emotion.json"
    target.write_text("old")
    target.chmod(0o644)
    write_atomically(target, b"new")
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o644
    assert [path.name for path in tmp_path.iterdir()] == ["emotion.json"]
