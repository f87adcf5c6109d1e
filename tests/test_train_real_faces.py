"""Training for real faces: extra public face sets framed as the bot frames a face, teachers' soft targets, a panel
of kinds of faces that chooses the checkpoint and balances the decision, and fine-tuning from an exported model."""

import asyncio
import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from db import Database
from model import EmotionModel
from model.preprocess import INPUT_SIZE, LABELS
from train.__main__ import extra_faces
from train.__main__ import main as train_main
from train.choose import PanelSet, balanced_accuracy, fit_decision_bias
from train.data import FERPLUS_VOTES_FILE
from train.face_sets import load_face_set
from train.from_tflite import network_from_tflite
from train.network import reader
from train.retrain import main as retrain_main

SHARED = Path(__file__).resolve().parents[2] / "shared"
FER2013 = SHARED / "data" / "fer2013" / "fer2013_train_publictest.csv.gz"
FACES_EXTRA = SHARED / "data" / "faces_extra"


@pytest.fixture(scope="module")
def small_sets(tmp_path_factory) -> dict[str, Path]:
    """The first faces of each extra set (every key kept), and a few FER2013 rows with their FER+ votes."""
    folder = tmp_path_factory.mktemp("sets")
    sets = {}
    for name, count in (("train", 120), ("dev_posed", 40), ("dev_wild_sfew", 40)):
        with np.load(FACES_EXTRA / f"{name}.npz") as data:
            rows = np.random.default_rng(1).choice(len(data["labels"]), count, replace=False)
            np.savez_compressed(folder / f"{name}.npz", **{key: data[key][rows] for key in data.files})
        sets[name] = folder / f"{name}.npz"
    with gzip.open(FER2013, "rt") as source, gzip.open(FER2013.parent / FERPLUS_VOTES_FILE, "rt") as votes:
        header, votes_header = next(source), next(votes)
        rows = list(zip(source, votes))
    chosen = ([row for row in rows if row[0].rstrip().endswith(",Training")][::205][:140]
              + [row for row in rows if row[0].rstrip().endswith(",PublicTest")][:35])
    (folder / "few.csv").write_text(header + "".join(faces for faces, _ in chosen))
    with gzip.open(folder / FERPLUS_VOTES_FILE, "wt") as out:
        out.write(votes_header + "".join(counts for _, counts in chosen))
    sets["fer"] = folder / "few.csv"
    return sets


def test_extra_faces_are_framed_like_fer2013_faces_at_the_model_input_size(small_sets):
    faces = load_face_set(small_sets["dev_posed"])
    assert faces.faces.shape == (40, INPUT_SIZE, INPUT_SIZE) and faces.faces.dtype == np.uint8
    assert set(faces.sources) == {"ckplus"} and faces.labels.max() < len(LABELS)
    # Brought to FER2013's exposure: mean brightness about 126, contrast about 54 (model.crop).
    assert abs(faces.faces.mean() - 126) < 12 and abs(faces.faces.reshape(40, -1).std(axis=1).mean() - 54) < 10


def test_extra_faces_targets_blend_the_label_with_the_teachers(small_sets):
    plain = extra_faces(small_sets["train"], [], 0.5)
    taught = extra_faces(small_sets["train"], ["hsemotion", "mobilefacenet"], 0.5)
    assert np.array_equal(plain.targets, np.eye(len(LABELS))[plain.labels])
    assert np.allclose(taught.targets.sum(axis=1), 1.0, atol=1e-3)
    on_label = taught.targets[np.arange(len(taught)), taught.labels]
    assert (on_label >= 0.5 - 1e-3).all() and (on_label < 1.0 - 1e-3).any(), "half the label, half the teachers"
    with pytest.raises(ValueError, match="hsemotion"):
        extra_faces(small_sets["dev_posed"], ["hsemotion"], 0.5)  # development sets carry no teacher outputs


def test_the_decision_bias_lifts_rare_classes_only_when_the_panel_gains():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 700)
    logits = rng.normal(0, 1, (700, 7))
    logits[np.arange(700), labels] += 1.5
    logits[:, 6] += 2.0  # the network favours neutral, as FER+ crowd labels teach it to
    prior = np.array([0.07, 0.01, 0.03, 0.28, 0.1, 0.1, 0.41])
    panel = [PanelSet("balanced", np.zeros((700, 48, 48, 1)), labels)]
    alpha, bias = fit_decision_bias([logits], panel, prior)
    assert alpha > 0 and bias[1] > bias[6]
    assert balanced_accuracy(labels, (logits + bias).argmax(1)) > balanced_accuracy(labels, logits.argmax(1))


def test_training_from_an_exported_model_with_extra_faces_and_a_panel(small_sets, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    common = ["--data", str(small_sets["fer"]), "--epochs", "1", "--width", "0.125", "--batch-size", "32"]
    assert train_main(common + ["--out", str(first), "--workdir", str(first / "run"), "--version", "t-1"]) == 0
    assert train_main(common + ["--out", str(second), "--workdir", str(second / "run"), "--version", "t-2",
                                "--from", str(first / "emotion_float.tflite"), "--extra", str(small_sets["train"]),
                                "--teachers", "hsemotion", "mobilefacenet", "--panel", str(small_sets["dev_posed"]),
                                "--panel", str(small_sets["dev_wild_sfew"])]) == 0
    metadata = json.loads((second / "emotion.json").read_text())
    seen = metadata["training_data"]
    assert seen["panel"] == ["fer+ validation", "dev_posed", "dev_wild_sfew"]
    assert seen["teachers"] == ["hsemotion", "mobilefacenet"] and seen["started_from"].endswith("emotion_float.tflite")
    assert seen["train_faces"] > 120, "FER2013's faces and the extra ones"
    assert set(metadata["decision_bias"]) == set(LABELS)
    assert "val_panel" in (second / "run" / "history.csv").read_text()
    faces = load_face_set(small_sets["dev_posed"]).faces
    probabilities = EmotionModel.load(second / "emotion.tflite").classify_faces(list(faces))
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3)


def test_a_network_rebuilt_from_an_exported_model_reads_faces_as_the_file_does(small_sets, tmp_path):
    assert train_main(["--data", str(small_sets["fer"]), "--epochs", "1", "--width", "0.125", "--batch-size", "32",
                       "--out", str(tmp_path), "--workdir", str(tmp_path / "run"), "--version", "t-3"]) == 0
    temperature = json.loads((tmp_path / "emotion.json").read_text())["temperature"]
    faces = load_face_set(small_sets["dev_wild_sfew"]).faces
    inputs = np.stack(faces)[..., np.newaxis].astype(np.float32) / 255.0
    for name in ("emotion_float.tflite", "emotion.tflite"):
        rebuilt = reader(network_from_tflite(tmp_path / name, width=0.125)).predict(inputs, verbose=0) / temperature
        rebuilt = np.exp(rebuilt - rebuilt.max(axis=1, keepdims=True))
        rebuilt /= rebuilt.sum(axis=1, keepdims=True)
        exported = EmotionModel.load(tmp_path / name).classify_faces(list(faces))
        assert np.abs(rebuilt - exported).max() < (0.01 if name == "emotion_float.tflite" else 0.1)
    with pytest.raises(ValueError, match="width"):
        network_from_tflite(tmp_path / "emotion.tflite", width=0.25)


def test_a_retrain_without_the_keras_checkpoint_starts_from_the_exported_model_and_keeps_its_decision(small_sets,
                                                                                                  tmp_path):
    out = tmp_path / "model"
    assert train_main(["--data", str(small_sets["fer"]), "--epochs", "1", "--width", "0.125", "--batch-size", "32",
                       "--out", str(out), "--workdir", str(tmp_path / "run"), "--version", "t-4",
                       "--panel", str(small_sets["dev_posed"])]) == 0
    shutil.rmtree(tmp_path / "run")  # a fresh clone: work folders are not committed
    database = tmp_path / "moodtunes.sqlite3"
    asyncio.run(create_database(database))
    assert retrain_main(["--db", str(database), "--data", str(small_sets["fer"]), "--out", str(out),
                         "--workdir", str(tmp_path / "runs"), "--epochs", "1", "--version", "t-5",
                         "--panel-faces", str(small_sets["dev_posed"])]) == 0
    current = json.loads((out / "emotion.json").read_text())
    candidate = json.loads((tmp_path / "runs" / "t-5" / "emotion.json").read_text())
    shipped = current if current["version"] == "t-4" else json.loads((out / "previous" / "emotion.json").read_text())
    assert shipped["version"] == "t-4" and set(shipped["decision_bias"]) == set(LABELS)
    assert candidate["decision_bias"] == shipped["decision_bias"], "the candidate keeps the class balancing"
    assert candidate["training_data"]["fine_tuned_from"]["checkpoint"] == "emotion.tflite"


async def create_database(path: Path) -> None:
    async with await Database.open(path):
        pass
