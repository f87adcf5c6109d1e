"""Whole-photo evaluation: the bot's pipeline on a folder of photos with labels.csv, the shipped model, real faces."""

import csv
import json

import numpy as np
import pytest

from model.preprocess import LABELS
from tools.fer_photos import PlacedFace, compose_photo, encode, read_fer_faces
from train import evaluate
from train.data import FaceSet
from train.photo_sets import build

PER_EMOTION = 2


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """14 photos, two of each emotion, with crops, boxes and scene groups, as `python -m train.photo_sets` makes."""
    faces = np.concatenate([read_fer_faces(PER_EMOTION, emotion=label) for label in range(len(LABELS))])
    labels = np.repeat(np.arange(len(LABELS)), PER_EMOTION)
    folder = tmp_path_factory.mktemp("scenes")
    build(FaceSet(faces, labels, np.array(["PublicTest"] * len(labels))), folder, len(labels), seed=3)
    return folder


def run_json(capsys, *args) -> dict:
    assert evaluate.main(["--photos", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_photo_set_reports_detection_accuracy_crops_and_groups(scenes, capsys):
    report = run_json(capsys, scenes)
    assert report["photos"] == 14 and report["unreadable"] == 0
    assert report["face_found"] >= 12 / 14
    assert report["n"] == round(report["face_found"] * 14)
    assert set(report["recall"]) == set(report["prediction_rate"]) == set(LABELS)
    assert sum(report["prediction_rate"].values()) == pytest.approx(1.0, abs=0.01)
    assert np.array(report["confusion_matrix"]).sum() == report["n"]
    assert report["crops"]["source"] == "crop column" and report["crops"]["n"] == report["n"]
    assert {"lighting", "blur", "jpeg", "people", "face_size"} <= set(report["groups"])
    assert sum(value["photos"] for value in report["groups"]["lighting"].values()) == 14


def test_the_text_report_names_the_figures(scenes, capsys):
    assert evaluate.main(["--photos", str(scenes)]) == 0
    text = capsys.readouterr().out
    assert "face found" in text and "balanced accuracy" in text and "same faces as crops" in text
    assert "by lighting:" in text


def test_the_face_judged_is_the_annotated_one_even_when_another_is_larger(tmp_path, capsys):
    big, small = read_fer_faces(1, emotion=3)[0], read_fer_faces(1, emotion=5)[0]
    photo = compose_photo(1280, 960, [PlacedFace(big, (80, 200, 480, 480)), PlacedFace(small, (800, 300, 300, 300))],
                          np.random.default_rng(0))
    (tmp_path / "two.jpg").write_bytes(encode(photo))
    with open(tmp_path / "labels.csv", "w", newline="") as file:
        csv.writer(file).writerows([["file", "emotion", "x", "y", "w", "h"],
                                    ["two.jpg", "surprise", 800, 300, 300, 300]])
    report = run_json(capsys, tmp_path)
    assert report["face_found"] == 1.0 and report["more_than_one_face"] == 1.0
    assert report["largest_is_the_face"] == 0.0
    assert report["crops"]["source"] == "annotated box"


def test_a_labels_file_with_an_unknown_emotion_is_refused_with_its_line(tmp_path, capsys):
    (tmp_path / "labels.csv").write_text("file,emotion\nx.jpg,happy\ny.jpg,bored\n")
    assert evaluate.main(["--photos", str(tmp_path)]) == 1
    assert "line 3: emotion 'bored'" in capsys.readouterr().err
