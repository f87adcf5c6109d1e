"""The bias report: one self-contained HTML page, readable with an empty database and with production data.

Real SQLite files and real LiteRT. The model under test reads synthetic band faces (see test_train_retrain.py)
right, except fear, which it always takes for sad: a known flaw the page must point out.
"""

import asyncio
import re

import numpy as np
import pytest

from db import Database
from model.preprocess import LABELS
from tools.fer_photos import read_fer_faces
from test_train_retrain import band_model, export_model, write_band_csv  # tests/ is on sys.path, as for bot_harness
from train import metrics
from train.data import FaceSet
from train.metrics import reliability
from train.photo_sets import build
from train.report import main, wilson_interval

FEAR, SAD = LABELS.index("fear"), LABELS.index("sad")
HAPPY_MOSTLY = {label: 0.02 for label in LABELS} | {"happy": 0.88}


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("report")
    model = band_model(perfect=True)
    dense = model.layers[-1]
    kernel, bias = dense.get_weights()
    kernel[:, SAD] += kernel[:, FEAR]  # fear's band now lights up sad
    kernel[:, FEAR] = 0
    dense.set_weights([kernel, bias])
    return {"data": write_band_csv(root / "bands.csv"),
            "model": export_model(model, root / "model", "report-1") / "emotion.tflite"}


def render(lab: dict, db_path, out) -> str:
    assert main(["--db", str(db_path), "--data", str(lab["data"]), "--model", str(lab["model"]),
                 "--out", str(out)]) == 0
    return (out / "report.html").read_text(encoding="utf-8")


async def fill_database(path, with_production_data: bool):
    """A fresh database file; with production data: 4 photos (3 happy), 1 correction, 3 rated songs by the reported
    model (report-1), and 5 photos and 2 corrections by an older model that the report must leave out."""
    database = await Database.open(path)
    if with_production_data:
        user = 424242
        await database.set_consent(user, True)
        for probabilities in [HAPPY_MOSTLY] * 3 + [{**HAPPY_MOSTLY, "happy": 0.02, "sad": 0.88}]:
            await database.record_reading(user, probabilities, "report-1")
        await database.record_emotion_feedback(user, "happy", "sad", HAPPY_MOSTLY, "report-1")
        await database.record_emotion_feedback(user, "happy", "happy", HAPPY_MOSTLY, "report-1")  # "can't tell"
        for _ in range(5):
            await database.record_reading(user, HAPPY_MOSTLY, "report-0")
        for _ in range(2):
            await database.record_emotion_feedback(user, "happy", "sad", HAPPY_MOSTLY, "report-0")
        match = await database.recommend(user, HAPPY_MOSTLY, "match", n=2)
        await database.rate(user, match[0].suggestion_id, True)
        await database.rate(user, match[1].suggestion_id, False)
        lift = await database.recommend(user, HAPPY_MOSTLY, "lift", n=1)
        await database.rate(user, lift[0].suggestion_id, True)
    await database.close()
    return path


def test_the_report_renders_with_an_empty_database(lab, tmp_path):
    page = render(lab, asyncio.run(fill_database(tmp_path / "empty.sqlite3", False)), tmp_path / "out")
    assert "No production data yet" in page and "No ratings yet" in page
    assert page.count("<section>") == 7 and page.count("How to read it.") == 7 and page.count("What it shows.") == 7
    assert page.count('<img src="data:image/png;base64,') == 4  # lab figures, and the training shares alone


def test_the_report_is_one_self_contained_page(lab, tmp_path):
    page = render(lab, asyncio.run(fill_database(tmp_path / "empty.sqlite3", False)), tmp_path / "out")
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["report.html"]
    assert not re.search(r'(src|href)="(?!data:)', page), "no file or URL outside the page"


def test_the_report_points_out_the_emotion_the_model_gets_wrong(lab, tmp_path):
    page = render(lab, asyncio.run(fill_database(tmp_path / "empty.sqlite3", False)), tmp_path / "out")
    assert "fear worst (recall 0%)" in page
    assert "100% of fear faces are read as sad" in page
    assert "Model version report-1" in page
    assert "does not say where its confidence was tuned" in page, "calibration fitted where? the page says"


def test_the_report_compares_with_always_answering_the_most_common_emotion(lab, tmp_path):
    page = render(lab, asyncio.run(fill_database(tmp_path / "empty.sqlite3", False)), tmp_path / "out")
    assert "Always answering angry, the most common emotion of these faces, would be right 17% of the time" in page
    assert "Only this model version&#x27;s photos are counted" in page


def test_a_rate_from_few_faces_gets_a_wide_interval_and_one_from_many_a_narrow_one():
    low, high = wilson_interval(3, 6)
    assert low < 0.2 and high > 0.8
    low, high = wilson_interval(500, 1000)
    assert high - low < 0.07
    assert wilson_interval(0, 0) is None


def test_the_report_shows_production_shares_corrections_and_thumbs_up_rates(lab, tmp_path, database_address):
    page = render(lab, asyncio.run(fill_database(database_address, True)), tmp_path / "out")
    assert "No production data yet" not in page and "No ratings yet" not in page
    assert "4 photos read so far. The most frequent reading is happy (75%)" in page
    assert "Users correct happy readings most often (33% of 3)" in page
    assert "match 50% of 2 ratings, lift 100% of 1 ratings" in page
    assert page.count('<img src="data:image/png;base64,') == 6
    assert "424242" not in page, "totals only, no user ids"


def test_a_missing_database_is_an_error_not_a_new_empty_one(lab, tmp_path, capsys):
    missing = tmp_path / "typo.sqlite3"
    assert main(["--db", str(missing), "--data", str(lab["data"]), "--model", str(lab["model"]),
                 "--out", str(tmp_path / "out")]) == 1
    assert "no database at" in capsys.readouterr().err and not missing.exists()


def test_reliability_bins_give_the_same_calibration_error_as_train_evaluate():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.full(len(LABELS), 0.3), size=500)
    labels = rng.integers(0, len(LABELS), size=500)
    counts, confidence, accuracy = reliability(labels, probabilities)
    assert counts.sum() == 500
    ece = float(np.sum(counts * np.abs(confidence - accuracy)) / counts.sum())
    assert ece == pytest.approx(metrics.expected_calibration_error(labels, probabilities))


def test_whole_photo_sets_get_a_section_with_their_groups(lab, tmp_path):
    faces = np.concatenate([read_fer_faces(1, emotion=label) for label in range(len(LABELS))])
    scenes = tmp_path / "scenes"
    build(FaceSet(faces, np.arange(len(LABELS)), np.array(["PublicTest"] * len(LABELS))), scenes, 7, seed=1)
    database = asyncio.run(fill_database(tmp_path / "empty.sqlite3", False))
    assert main(["--db", str(database), "--data", str(lab["data"]), "--model", str(lab["model"]),
                 "--out", str(tmp_path / "out"), "--photos", str(scenes)]) == 0
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "Whole photos: scenes" in page and "7 photos: a face was found in" in page
    assert "lighting = " in page and "same faces as tight crops" in page
