"""FER2013 loading in both layouts, and clear errors on malformed data."""

import gzip

import cv2
import numpy as np
import pytest

from model.preprocess import LABELS
from train.data import (FERPLUS_COLUMNS, NOT_OURS, TIED, DataError, FaceSet, holdout_split, load_fer2013,
                        load_ferplus_votes, with_crowd_labels)

HEADER = "emotion,pixels,Usage\n"


def fer_row(label: int, value: int, usage: str) -> str:
    return f"{label},{' '.join([str(value)] * 48 * 48)},{usage}\n"


@pytest.fixture
def csv_text() -> str:
    rows = [fer_row(label, 10 * label, "Training") for label in range(7)] + [fer_row(3, 200, "PublicTest")]
    return HEADER + "".join(rows)


def test_csv_rows_become_faces_labels_and_splits(tmp_path, csv_text):
    path = tmp_path / "fer.csv"
    path.write_text(csv_text)
    data = load_fer2013(path)
    assert data.faces.shape == (8, 48, 48) and data.faces.dtype == np.uint8
    assert data.labels.tolist() == [0, 1, 2, 3, 4, 5, 6, 3]
    assert data.faces[2].min() == data.faces[2].max() == 20
    public = data.split("PublicTest")
    assert len(public) == 1 and public.faces[0, 0, 0] == 200


def test_gzipped_csv_reads_like_the_plain_one(tmp_path, csv_text):
    plain, packed = tmp_path / "fer.csv", tmp_path / "fer.csv.gz"
    plain.write_text(csv_text)
    packed.write_bytes(gzip.compress(csv_text.encode()))
    a, b = load_fer2013(plain), load_fer2013(packed)
    assert np.array_equal(a.faces, b.faces) and np.array_equal(a.labels, b.labels)


def test_folder_layout_maps_train_and_test_to_training_and_publictest(tmp_path):
    for split, label in [("train", "happy"), ("train", "disgust"), ("test", "sad")]:
        folder = tmp_path / split / label
        folder.mkdir(parents=True)
        cv2.imwrite(str(folder / "face.png"), np.full((48, 48), 99, np.uint8))
    cv2.imwrite(str(tmp_path / "test" / "sad" / "big.jpg"), np.full((96, 96, 3), 99, np.uint8))
    data = load_fer2013(tmp_path)
    assert sorted(LABELS[i] for i in data.split("Training").labels) == ["disgust", "happy"]
    test = data.split("PublicTest")
    assert len(test) == 2 and test.faces.shape[1:] == (48, 48)


@pytest.mark.parametrize("bad_row, complaint", [
    ("9,1 2 3,Training\n", "emotion 9 is outside 0-6"),
    ("x," + " ".join(["1"] * 2304) + ",Training\n", "not a number"),
    ("2,1 2 3,Training\n", "expected 2304 pixels, got 3"),
    ("2," + " ".join(["300"] * 2304) + ",Training\n", "0-255"),
    ("2," + " ".join(["a"] * 2304) + ",Training\n", "integers"),
])
def test_malformed_row_is_refused_naming_its_line(tmp_path, bad_row, complaint):
    path = tmp_path / "fer.csv"
    path.write_text(HEADER + fer_row(0, 1, "Training") + bad_row)
    with pytest.raises(DataError, match=rf"fer.csv: line 3: .*{complaint}"):
        load_fer2013(path)


def test_file_without_the_kaggle_columns_is_refused(tmp_path):
    path = tmp_path / "songs.csv"
    path.write_text("name,artist\nHey Jude,The Beatles\n")
    with pytest.raises(DataError, match="missing column"):
        load_fer2013(path)


def test_unknown_emotion_folder_is_refused(tmp_path):
    (tmp_path / "train" / "bored").mkdir(parents=True)
    with pytest.raises(DataError, match="unknown emotion folder"):
        load_fer2013(tmp_path)


def test_asking_for_a_missing_split_names_the_ones_present(tmp_path, csv_text):
    path = tmp_path / "fer.csv"
    path.write_text(csv_text)
    with pytest.raises(DataError, match="PublicTest, Training"):
        load_fer2013(path).split("PrivateTest")


# ----- FER+ crowd labels and the held-out split -----

def votes(neutral=0, happiness=0, surprise=0, sadness=0, anger=0, disgust=0, fear=0, contempt=0, unknown=0, nf=0):
    return [neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, nf]


def crowd(*rows) -> FaceSet:
    faces = FaceSet(np.zeros((len(rows), 48, 48), np.uint8), np.zeros(len(rows), np.int64),
                    np.array(["Training"] * len(rows)))
    return with_crowd_labels(faces, np.array(rows))


def test_the_crowd_majority_is_the_label_and_the_votes_are_the_target():
    faces = crowd(votes(anger=7, sadness=2, nf=1), votes(neutral=8, happiness=1, fear=1))
    assert [LABELS[label] for label in faces.labels] == ["angry", "neutral"]
    assert faces.targets[0] == pytest.approx([7 / 9, 0, 0, 0, 2 / 9, 0, 0]), "not-a-face votes are dropped"
    assert faces.targets[1] == pytest.approx([0, 0, 0, 0, 0, 0, 1]), "single votes are noise, dropped"


def test_ties_and_faces_mostly_voted_contempt_unknown_or_not_a_face_are_set_aside_but_counted():
    faces = crowd(votes(neutral=5, happiness=5), votes(contempt=6, neutral=2, anger=2), votes(nf=9, neutral=1),
                  votes(unknown=6, sadness=4))
    assert faces.labels.tolist() == [TIED, NOT_OURS, NOT_OURS, NOT_OURS]
    assert len(faces.labelled()) == 0
    assert faces.targets[0] == pytest.approx([0, 0, 0, 0.5, 0, 0, 0.5]), "a tie still teaches both emotions"
    assert faces.targets[1] == pytest.approx([0.5, 0, 0, 0, 0, 0, 0.5]), "the votes for our classes are kept"
    assert len(faces.trainable()) == 2, "a face the crowd could not read or that is no face teaches nothing"


def test_votes_of_another_length_than_the_faces_are_refused(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text(",".join(FERPLUS_COLUMNS) + "\n" + ",".join(["1"] * 10) + "\n")
    with pytest.raises(DataError, match="expected 2 rows"):
        load_ferplus_votes(path, expected_rows=2)


def test_the_held_out_split_keeps_copies_of_an_image_together_and_drops_copies_of_test_images():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(400, 48, 48), dtype=np.uint8)
    train_faces = np.concatenate([images, images[:100]])  # 100 images twice
    train = FaceSet(train_faces, np.zeros(500, np.int64), np.array(["Training"] * 500))
    test = FaceSet(images[390:], np.zeros(10, np.int64), np.array(["PublicTest"] * 10))
    kept, held_out, dropped = holdout_split(train, test, share=0.2)
    assert dropped == 10
    assert len(kept) + len(held_out) == 490
    assert 40 < len(held_out) < 160
    seen_in_training = {face.tobytes() for face in kept.faces}
    assert not any(face.tobytes() in seen_in_training for face in held_out.faces)
    assert not any(face.tobytes() in seen_in_training for face in test.faces)
    again = holdout_split(train, test, share=0.2)[1]
    assert np.array_equal(again.faces, held_out.faces), "the same split on every run"
