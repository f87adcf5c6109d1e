"""Training end to end on a few real FER2013 rows: train, calibrate, export, evaluate through LiteRT."""

import asyncio
import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from db import Database
from model.preprocess import LABELS
from train import evaluate, metrics
from train.__main__ import main as train_main
from train.data import FERPLUS_VOTES_FILE
from train.export import fit_temperature
from train.retrain import main as retrain_main

FER2013 = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013" / "fer2013_train_publictest.csv.gz"
FERPLUS = FER2013.parent / FERPLUS_VOTES_FILE


@pytest.fixture(scope="module")
def few_fer_rows(tmp_path_factory) -> Path:
    """140 Training rows spread over the file (sorted by emotion: this spans all 7) and 35 PublicTest rows, with
    their FER+ votes in a file of the expected name beside them."""
    with gzip.open(FER2013, "rt") as source, gzip.open(FERPLUS, "rt") as votes:
        header, votes_header = next(source), next(votes)
        rows = list(zip(source, votes))
    training = [row for row in rows if row[0].rstrip().endswith(",Training")][::205][:140]
    public = [row for row in rows if row[0].rstrip().endswith(",PublicTest")][:35]
    folder = tmp_path_factory.mktemp("fer")
    (folder / "few.csv").write_text(header + "".join(faces for faces, _ in training + public))
    with gzip.open(folder / FERPLUS_VOTES_FILE, "wt") as out:
        out.write(votes_header + "".join(counts for _, counts in training + public))
    return folder / "few.csv"


@pytest.fixture(scope="module")
def trained(few_fer_rows, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model")
    assert train_main(["--data", str(few_fer_rows), "--out", str(out), "--workdir", str(out / "run"),
                       "--epochs", "1", "--width", "0.125", "--batch-size", "32", "--version", "test-1"]) == 0
    return out


def test_training_exports_float_and_int8_models_with_metadata(trained):
    metadata = json.loads((trained / "emotion.json").read_text())
    assert metadata["labels"] == list(LABELS)
    assert metadata["version"] == "test-1"
    assert metadata["input"]["height"] == metadata["input"]["width"] == 48
    assert metadata["temperature"] > 0
    seen = metadata["training_data"]
    assert seen["train_faces"] + seen["validation_faces"] <= 140, "Training faces, part of them held out"
    assert seen["validation_faces"] > 0 and "FER+" in seen["dataset"]
    assert 0 <= metadata["metrics"]["accuracy"] <= 1
    assert metadata["metrics"]["split"] == "PublicTest" and metadata["metrics"]["labels"] == "ferplus"
    assert set(metadata["metrics"]["recall"]) == set(LABELS)
    assert set(metadata["metrics"]["by_labels"]) == {"fer2013", "ferplus"}
    assert (trained / "emotion.tflite").stat().st_size < (trained / "emotion_float.tflite").stat().st_size


def test_rerunning_a_finished_run_reexports_without_training_again(trained, few_fer_rows):
    history = (trained / "run" / "history.csv").read_text()
    assert train_main(["--data", str(few_fer_rows), "--out", str(trained), "--workdir", str(trained / "run"),
                       "--epochs", "1", "--width", "0.125", "--version", "test-2"]) == 0
    assert (trained / "run" / "history.csv").read_text() == history
    assert json.loads((trained / "emotion.json").read_text())["version"] == "test-2"


def test_the_exported_network_is_kept_and_named_in_the_metadata_for_retraining(trained):
    checkpoint = Path(json.loads((trained / "emotion.json").read_text())["training_data"]["checkpoint"])
    assert checkpoint == trained / "run" / "reader.keras"
    assert checkpoint.stat().st_size > 0


def test_evaluate_json_reports_every_promised_field(trained, few_fer_rows, capsys):
    assert evaluate.main(["--data", str(few_fer_rows), "--usage", "PublicTest",
                          "--model", str(trained / "emotion.tflite"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"accuracy", "macro_f1", "n", "per_class", "confusion_matrix", "ece", "model_bytes"} <= set(report)
    assert report["n"] == 35
    assert np.array(report["confusion_matrix"]).sum() == 35
    assert set(report["per_class"]["disgust"]) == {"precision", "recall", "f1", "support"}


def test_evaluate_judges_against_the_crowd_majority_and_counts_the_faces_it_sets_aside(trained, few_fer_rows,
                                                                                        capsys):
    assert evaluate.main(["--data", str(few_fer_rows), "--usage", "PublicTest", "--labels", "ferplus",
                          "--model", str(trained / "emotion.tflite"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["label_source"] == "ferplus"
    assert report["n"] + sum(report["set_aside"].values()) == 35
    assert set(report["by_labels"]) == {"fer2013", "ferplus"}
    assert report["by_labels"]["fer2013"]["n"] == 35
    assert report["by_labels"]["ferplus"]["accuracy"] == report["accuracy"]


def test_evaluate_prints_a_table_and_writes_a_confusion_plot(trained, few_fer_rows, tmp_path, capsys):
    plot = tmp_path / "confusion.png"
    assert evaluate.main(["--data", str(few_fer_rows), "--model", str(trained / "emotion.tflite"),
                          "--plot", str(plot)]) == 0
    table = capsys.readouterr().out
    assert "accuracy" in table and "neutral" in table and "175 faces" in table
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_explains_a_missing_split_instead_of_crashing(trained, few_fer_rows, capsys):
    assert evaluate.main(["--data", str(few_fer_rows), "--usage", "PrivateTest",
                          "--model", str(trained / "emotion.tflite")]) == 1
    assert "no rows with Usage='PrivateTest'" in capsys.readouterr().err


def test_temperature_fit_recovers_the_temperature_that_made_the_labels():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(20000, 7))
    true_temperature = 2.0
    probabilities = np.exp(logits / true_temperature)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(7, p=p) for p in probabilities])
    assert fit_temperature(logits, labels) == pytest.approx(true_temperature, rel=0.05)


def test_calibration_error_is_zero_when_confidence_matches_accuracy_and_large_when_overconfident():
    labels = np.array([0, 0, 0, 0])
    honest = np.tile([0.75, 0.25, 0, 0, 0, 0, 0], (4, 1))
    honest[3] = [0.25, 0.75, 0, 0, 0, 0, 0]  # 3 of 4 right, each said with 75% confidence
    assert metrics.expected_calibration_error(labels, honest) == pytest.approx(0.0)
    overconfident = np.tile([0.0, 1.0, 0, 0, 0, 0, 0], (4, 1))
    assert metrics.expected_calibration_error(labels, overconfident) == pytest.approx(1.0)


def test_the_evaluation_says_how_often_each_confidence_band_is_right():
    probabilities = np.full((4, len(LABELS)), 0.01)
    probabilities[0, 0], probabilities[1, 0], probabilities[2, 3], probabilities[3, 3] = 0.9, 0.9, 0.4, 0.2
    bands = {(band["from"], band["to"]): band for band in metrics.metrics(np.array([0, 1, 3, 3]),
                                                                            probabilities)["confidence_bands"]}
    assert bands[(0.85, 1.0)] == {"from": 0.85, "to": 1.0, "share": 0.5, "accuracy": 0.5}
    assert bands[(0.30, 0.55)]["accuracy"] == 1.0 and bands[(0.0, 0.30)]["share"] == 0.25
    assert bands[(0.55, 0.70)]["accuracy"] is None


def test_a_retrain_from_feedback_starts_from_the_exported_network_with_crowd_labels(trained, few_fer_rows, tmp_path):
    database = tmp_path / "moodtunes.sqlite3"
    asyncio.run(create_database(database))
    out = shutil.copytree(trained, tmp_path / "model")
    assert retrain_main(["--db", str(database), "--data", str(few_fer_rows), "--out", str(out),
                         "--workdir", str(tmp_path / "runs"), "--epochs", "1", "--version", "test-retrain"]) == 0
    candidate = json.loads((tmp_path / "runs" / "test-retrain" / "emotion.json").read_text())
    assert "FER+" in candidate["training_data"]["dataset"]
    assert candidate["training_data"]["validation_split"].startswith("held-out")
    assert json.loads((tmp_path / "runs" / "test-retrain" / "comparison.json").read_text())["current"]["n"] > 0


async def create_database(path: Path) -> None:
    async with await Database.open(path):
        pass
