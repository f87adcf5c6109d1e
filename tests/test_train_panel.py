"""The development panel: one model, or a teacher, read through the same evaluation on several sets at once.

Small real subsets: FER2013 rows with their FER+ votes, a few faces of each face set, a few photos in scenes.
"""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from model.preprocess import LABELS
from test_train_photos import scenes  # noqa: F401  (fixture: 14 photos in scenes)
from test_train_pipeline import few_fer_rows  # noqa: F401  (fixture: 175 FER2013 rows with their votes)
from train import evaluate, panel
from train.data import holdout_split, load_faces, validation_rows

FACES_EXTRA = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces_extra"
REPOSITORY = Path(__file__).resolve().parents[1]


def face_subset(name: str, per_class: int, folder: Path) -> Path:
    """The first `per_class` faces of each emotion of a face set, as a `.npz` of the same layout."""
    with np.load(FACES_EXTRA / f"{name}.npz") as data:
        rows = np.concatenate([np.flatnonzero(data["labels"] == c)[:per_class] for c in range(len(LABELS))])
        path = folder / f"{name}.npz"
        np.savez_compressed(path, **{key: data[key][rows] for key in data.files})
    return path


@pytest.fixture(scope="module")
def small_sets(tmp_path_factory, few_fer_rows, scenes) -> list[str]:  # noqa: F811
    """The panel command's options on small subsets of each kind of set."""
    folder = tmp_path_factory.mktemp("panel")
    posed, film = face_subset("dev_posed", 2, folder), face_subset("dev_wild_sfew", 2, folder)
    return ["--data", str(few_fer_rows), "--usage", "validation", "--labels", "ferplus",
            "--faces", str(posed), "--faces", str(film), "--photos", str(scenes)]


def run_json(capsys, *args) -> dict:
    assert evaluate.main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_one_invocation_over_several_sets_reports_each_and_both_means(small_sets, capsys):
    result = run_json(capsys, *small_sets)
    assert list(result["sets"]) == ["FER+ validation", "dev_posed", "dev_wild_sfew", scenes_name(small_sets)]
    assert [row["kind"] for row in result["sets"].values()] == ["fer2013", "faces", "faces", "photos"]
    assert result["sets"]["dev_posed"]["n"] == 12 and result["sets"]["dev_wild_sfew"]["n"] == 14
    assert result["sets"][scenes_name(small_sets)]["n"] == 14, "every photo counts, a missed face as wrong"
    for row in result["sets"].values():
        recalls = list(row["recall"].values())
        assert row["balanced_accuracy"] == pytest.approx(np.mean(recalls), abs=1e-4)
        low, high = row["interval"]
        assert low <= row["balanced_accuracy"] <= high
    assert "neutral" not in result["sets"]["dev_posed"]["recall"], "the posed set has no neutral face"
    scores = [row["balanced_accuracy"] for row in result["sets"].values()]
    assert result["mean_balanced_accuracy"] == pytest.approx(np.mean(scores), abs=1e-4)
    assert result["real_faces_mean_balanced_accuracy"] == pytest.approx(np.mean(scores[1:]), abs=1e-4)


def scenes_name(options: list[str]) -> str:
    return Path(options[options.index("--photos") + 1]).name


def test_the_panel_prints_a_table_with_intervals_and_means(small_sets, capsys):
    assert evaluate.main(small_sets) == 0
    table = capsys.readouterr().out
    assert re.search(r"dev_posed\s+12\s+[\d.]+%\s+[\d.]+%-[\d.]+%", table)
    assert "mean, all sets" in table and "mean, real-face sets" in table


def test_validation_is_the_part_of_training_that_training_holds_out(few_fer_rows, capsys):  # noqa: F811
    faces = load_faces(few_fer_rows, "ferplus")
    held_out = holdout_split(faces.split("Training").trainable(), faces.split("PublicTest"), 0.1)[1]
    rows = validation_rows(faces)
    assert np.array_equal(faces.faces[rows], held_out.faces) and len(held_out) > 0
    report = run_json(capsys, "--data", str(few_fer_rows), "--usage", "validation", "--labels", "ferplus")
    assert report["n"] + sum(report["set_aside"].values()) == len(held_out)
    assert report["panel"]["n"] == report["n"] and report["usage"] == "validation"


def test_a_single_face_set_keeps_the_full_report_and_adds_its_panel_row(small_sets, capsys):
    report = run_json(capsys, "--faces", small_sets[small_sets.index("--faces") + 1])
    assert {"accuracy", "per_class", "confusion_matrix", "ece", "n"} <= set(report)
    assert report["n"] == report["panel"]["n"] == 12 and report["usage"] == "dev_posed"


@pytest.mark.parametrize("teacher", ["hsemotion", "mobilefacenet"])
def test_a_teacher_reads_the_same_sets_and_answers_from_its_cache_the_second_time(small_sets, teacher, tmp_path,
                                                                                    capsys):
    options = [*small_sets, "--teacher", teacher, "--teacher-cache", str(tmp_path)]
    first = run_json(capsys, *options)
    assert first["model"] == f"teacher {teacher}" and list(tmp_path.iterdir())
    assert set(first["sets"]) == set(run_json(capsys, *small_sets)["sets"])
    assert first["sets"]["dev_posed"]["balanced_accuracy"] >= 0.5, "posed faces are what teachers read well"
    assert evaluate.main([*options, "--json"]) == 0
    second = capsys.readouterr()
    assert json.loads(second.out) == first
    assert f"{teacher}: 0 s computing" in second.err


def test_the_bot_never_loads_a_teacher():
    names = re.compile(r"teacher|hsemotion|mobilefacenet|yunet|\btrain\b", re.I)
    for path in [*REPOSITORY.glob("bot/**/*.py"), *REPOSITORY.glob("model/**/*.py"), *REPOSITORY.glob("db/**/*.py")]:
        assert not [line for line in path.read_text().splitlines()
                    if names.search(line) and re.match(r"\s*(import|from)\s", line)], path


def test_an_interval_is_the_same_every_run_and_narrows_with_more_faces():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, len(LABELS), 2000)
    predictions = np.where(rng.random(2000) < 0.6, labels, (labels + 1) % len(LABELS))
    few, many = panel.row("faces", labels[:100], predictions[:100]), panel.row("faces", labels, predictions)
    assert few == panel.row("faces", labels[:100], predictions[:100])
    assert many["interval"][1] - many["interval"][0] < few["interval"][1] - few["interval"][0]
    assert many["interval"][0] < 0.6 < many["interval"][1]
    missed = panel.row("photos", labels[:100], np.full(100, -1))
    assert missed["balanced_accuracy"] == 0.0 and missed["interval"] == [0.0, 0.0]


def panel_of(**scores: tuple[float, tuple[float, float]]) -> dict:
    rows = {name: {"kind": "faces", "n": 100, "balanced_accuracy": score, "interval": list(interval), "recall": {}}
            for name, (score, interval) in scores.items()}
    return panel.summary(rows, model="made up")


def test_a_candidate_below_the_shipped_interval_on_one_set_is_refused_and_within_it_promoted():
    shipped = panel_of(posed=(0.60, (0.55, 0.65)), film=(0.40, (0.36, 0.44)))
    assert panel.compare(panel_of(posed=(0.70, (0.65, 0.75)), film=(0.37, (0.33, 0.41))), shipped).promote
    refused = panel.compare(panel_of(posed=(0.80, (0.75, 0.85)), film=(0.35, (0.31, 0.39))), shipped)
    assert not refused.promote and len(refused.reasons) == 1 and refused.reasons[0].startswith("film:")
