"""From a photo to its faces and their emotions: what a user of `EmotionModel.analyze` sees.

The photos are made from real FER2013 faces pasted into synthetic scenes (tools/fer_photos.py), so the true place
of every face is known. No test says which emotion a face gets (that is the model's accuracy, measured by
`python -m train.evaluate`): only that every face gets a well-formed answer, framed the way the model was trained.
"""

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from model import EmotionModel, FaceEmotion
from model.crop import BOX_ON_FER_FRAME, FER_MEAN, FER_STD, crop_face
from model.decode import decode_image
from model.detect import Detection
from model.preprocess import LABELS, PIXEL_SCALE, face_to_input
from tools.fer_photos import PlacedFace, compose_photo, encode, read_fer_faces
from test_model_decode import with_exif_orientation

MODEL_DIR = Path(__file__).resolve().parents[1] / "model"

LANDSCAPE = (1280, 960)


@pytest.fixture(scope="module")
def model() -> EmotionModel:
    return EmotionModel.load()


@pytest.fixture(scope="module")
def fer() -> np.ndarray:
    """The first FER2013 faces, 48x48 uint8 grayscale, exactly as training reads them."""
    return read_fer_faces(12)


def photo(fer: np.ndarray, faces: list[tuple[int, tuple[int, int, int, int]]], size=LANDSCAPE, seed: int = 0,
          extension: str = ".jpg") -> bytes:
    """A photo with FER face `index` pasted at each (x, y, side, side) box, encoded as a camera would."""
    placed = [PlacedFace(fer[index], box) for index, box in faces]
    return encode(compose_photo(*size, placed, np.random.default_rng(seed)), extension)


def centred_box(share: float, size=LANDSCAPE) -> tuple[int, int, int, int]:
    """A face `share` of the photo's width wide, centred across and a third of the way down, as in a selfie."""
    side = round(share * size[0])
    return (size[0] - side) // 2, (size[1] - side) // 3, side, side


def on_face(box, frame) -> bool:
    """Whether a reported box covers the pasted face: its centre in the middle half, its side 60-105% of it."""
    x, y, w, h = box
    fx, fy, side, _ = frame
    centre_x, centre_y = x + w / 2, y + h / 2
    return (abs(centre_x - (fx + side / 2)) <= side / 4 and abs(centre_y - (fy + side / 2)) <= side / 4
            and 0.6 * side <= w <= 1.05 * side)


def centred_on(box, frame) -> bool:
    """Whether a reported box is centred in the middle half of the pasted face, whatever its size."""
    x, y, w, h = box
    fx, fy, side, _ = frame
    return abs(x + w / 2 - (fx + side / 2)) <= side / 4 and abs(y + h / 2 - (fy + side / 2)) <= side / 4


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(np.float64), b.ravel().astype(np.float64))[0, 1])


# The centre of a 48x48 face: FER-in-photo faces are feathered into the scene over their outer few pixels.
INNER = (slice(8, 40), slice(8, 40))


# --- finding faces ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("extension", [".jpg", ".png", ".webp"])
def test_one_face_is_found_in_a_selfie_and_its_box_is_on_the_face(model, fer, extension):
    frame = centred_box(0.3)
    faces = model.analyze(photo(fer, [(0, frame)], extension=extension))
    assert len(faces) == 1
    assert isinstance(faces[0], FaceEmotion)
    assert on_face(faces[0].box, frame)
    assert all(isinstance(v, int) for v in faces[0].box)


@pytest.mark.parametrize("index", range(8))
def test_a_face_a_fifth_of_the_photo_wide_is_found(model, fer, index):
    frame = centred_box(0.2)
    faces = model.analyze(photo(fer, [(index, frame)]))
    assert any(centred_on(face.box, frame) for face in faces)


@pytest.mark.parametrize("size", [LANDSCAPE, (960, 1280)], ids=["landscape", "portrait"])
@pytest.mark.parametrize("index", range(12))
def test_a_face_15_percent_of_the_photo_s_width_is_found(model, fer, index, size):
    """The smallest face issue 3 asks for; in portrait it is smaller still beside the photo's long side."""
    frame = centred_box(0.15, size)
    faces = model.analyze(photo(fer, [(index, frame)], size=size, seed=index))
    assert any(centred_on(face.box, frame) for face in faces)


@pytest.mark.xfail(strict=True, reason="known: BlazeFace on the whole photo sees a face this small as a larger, "
                                       "looser box that the tiles' box does not absorb (model/DETECTION.md)")
def test_a_small_face_is_reported_once_with_a_box_its_own_size(model, fer):
    frame = centred_box(0.2)
    faces = model.analyze(photo(fer, [(6, frame)]))
    assert [on_face(face.box, frame) for face in faces] == [True]


def test_a_face_in_a_12_megapixel_photo_is_reported_in_the_photo_s_own_pixels(model, fer):
    size = (4000, 3000)
    frame = centred_box(0.2, size)
    faces = model.analyze(photo(fer, [(1, frame)], size=size))
    assert [on_face(face.box, frame) for face in faces] == [True]


def test_two_faces_are_both_returned_the_larger_first(model, fer):
    small, large = (120, 300, 256, 256), (640, 180, 512, 512)  # the small face is left of the large one
    faces = model.analyze(photo(fer, [(2, small), (0, large)]))
    assert len(faces) == 2
    assert on_face(faces[0].box, large) and on_face(faces[1].box, small)
    assert faces[0].box[2] * faces[0].box[3] > faces[1].box[2] * faces[1].box[3]


@pytest.mark.parametrize("scene", ["room-1", "room-2", "room-3", "grey", "noise"])
def test_a_photo_without_a_face_gives_an_empty_list(model, fer, scene):
    if scene == "grey":
        data = encode(np.full((960, 1280, 3), 128, np.uint8))
    elif scene == "noise":
        data = encode(np.random.default_rng(0).integers(0, 256, (960, 1280, 3), dtype=np.uint8))
    else:
        data = photo(fer, [], seed=int(scene[-1]))
    assert model.analyze(data) == []


@pytest.mark.parametrize("orientation, turn", [(6, cv2.ROTATE_90_COUNTERCLOCKWISE), (8, cv2.ROTATE_90_CLOCKWISE)])
def test_a_selfie_stored_sideways_is_read_upright_from_its_exif_orientation(model, fer, orientation, turn):
    size = (1600, 1200)  # big enough to be decoded at half size: the box must still come back in full pixels
    frame = (560, 260, 480, 480)
    upright = compose_photo(*size, [PlacedFace(fer[0], frame)], np.random.default_rng(0))
    stored = encode(cv2.rotate(upright, turn))  # as a phone held sideways writes it: pixels turned, plus a tag
    assert decode_image(stored).width == size[1]

    faces = model.analyze(with_exif_orientation(stored, orientation))
    assert [on_face(face.box, frame) for face in faces] == [True]
    # Without the tag the same pixels hold a face lying on its side, not the upright face.
    assert not any(on_face(face.box, frame) for face in model.analyze(stored))


# --- what each face gets ---------------------------------------------------------------------------------------


def test_every_face_gets_all_seven_emotions_with_probabilities_summing_to_one(model, fer):
    faces = model.analyze(photo(fer, [(2, (120, 300, 256, 256)), (0, (640, 180, 512, 512))]))
    assert len(faces) == 2
    for face in faces:
        assert list(face.probabilities) == list(LABELS) == list(model.labels)
        assert all(0.0 <= p <= 1.0 for p in face.probabilities.values())
        assert sum(face.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert face.emotion == max(face.probabilities, key=face.probabilities.get)
        assert face.confidence == face.probabilities[face.emotion]
        assert face.face48.shape == (48, 48) and face.face48.dtype == np.uint8


def test_a_batch_of_faces_gets_the_same_probabilities_as_one_face_at_a_time(model, fer):
    together = model.classify_faces(list(fer))
    one_by_one = np.concatenate([model.classify_faces([face]) for face in fer])
    assert together.shape == (len(fer), len(LABELS))
    np.testing.assert_allclose(together, one_by_one, atol=1e-6)
    np.testing.assert_allclose(together.sum(axis=1), 1.0, atol=1e-5)
    assert model.classify_faces([]).shape == (0, len(LABELS))


def test_the_model_reports_its_version(model):
    assert isinstance(model.version, str) and model.version


# --- the same input as training --------------------------------------------------------------------------------


def test_a_fer2013_row_becomes_the_input_training_gives_the_model(fer):
    # train/ calls face_to_input on each 48x48 row: the row, scaled to [0, 1], as one channel, nothing else.
    for row in fer:
        prepared = face_to_input(row)
        assert prepared.shape == (48, 48, 1) and prepared.dtype == np.float32
        np.testing.assert_array_equal(prepared[..., 0], row.astype(np.float32) * np.float32(PIXEL_SCALE))


@pytest.mark.parametrize("share", [0.06, 0.3, 0.7])
def test_a_face_cut_from_a_photo_where_the_detector_would_box_it_is_its_training_row(fer, share):
    # Crop and shared preprocessing alone: a box placed where BlazeFace puts it on a FER frame (model/crop.py)
    # must give back the 48x48 row that was pasted, at any size (upscaled, halved, or many times halved).
    frame = centred_box(share)
    pixels = compose_photo(*LANDSCAPE, [PlacedFace(fer[0], frame)], np.random.default_rng(0))
    x, y, side, _ = frame
    box = (x + BOX_ON_FER_FRAME["x"] * side, y + BOX_ON_FER_FRAME["y"] * side,
           BOX_ON_FER_FRAME["w"] * side, BOX_ON_FER_FRAME["w"] * side)
    face = face_to_input(crop_face(pixels, Detection(box, 1.0)))[..., 0] / PIXEL_SCALE
    assert correlation(face[INNER], fer[0][INNER]) > 0.95


def test_a_fer2013_face_found_in_a_photo_comes_back_framed_like_its_training_row(model, fer):
    # Detection, crop and preprocessing end to end. FER2013's own framing varies from face to face, so a crop can
    # sit a few pixels off its row (compared through a slight blur for that); taken together, the crops must be
    # recognisably their own rows.
    frame = centred_box(0.3)
    crops = []
    for index in range(8):
        faces = [face for face in model.analyze(photo(fer, [(index, frame)], extension=".png"))
                 if on_face(face.box, frame)]
        assert len(faces) == 1, f"FER face {index} was not found"
        crops.append(faces[0].face48)

    def blurred(face):
        return cv2.GaussianBlur(face.astype(np.float32), (0, 0), 2.0)[INNER]

    similarity = np.array([[correlation(blurred(crop), blurred(row)) for row in fer[:8]] for crop in crops])
    own, others = np.diag(similarity), similarity[~np.eye(8, dtype=bool)]
    assert np.median(own) > 0.5 and np.median(others) < 0.2
    assert (similarity.argmax(axis=1) == np.arange(8)).sum() >= 6


@pytest.mark.parametrize("light", [0.45, 1.6])
def test_a_face_in_dim_or_bright_light_reaches_the_model_as_in_normal_light(model, fer, light):
    # The model learnt from FER2013's exposure; a crop is brought to it, so the light of the room does not decide
    # the emotion (on whole test photos dim light cost 16 points of accuracy before this).
    frame = centred_box(0.3)
    pixels = compose_photo(*LANDSCAPE, [PlacedFace(fer[2], frame)], np.random.default_rng(0))
    lit = np.clip(pixels.astype(np.float32) * light, 0, 255).astype(np.uint8)
    normal, changed = ([face for face in model.analyze(encode(image, ".png")) if on_face(face.box, frame)]
                       for image in (pixels, lit))
    assert len(normal) == len(changed) == 1
    for face in (normal[0].face48, changed[0].face48):
        assert face.mean() == pytest.approx(FER_MEAN, abs=4) and face.std() == pytest.approx(FER_STD, abs=6)
    assert correlation(normal[0].face48[INNER], changed[0].face48[INNER]) > 0.6, \
        "the same face (other faces: under 0.2)"


@pytest.mark.parametrize("roll", [-20.0, 20.0])
def test_a_tilted_head_is_turned_level_before_it_is_classified(model, fer, roll):
    # FER face 4 is level in its row. Pasted tilted, its crop must come back level: more like the row than the
    # same box cut without turning. (How often tilted faces are found at all is in model/DETECTION.md.)
    frame = centred_box(0.3)
    pixels = compose_photo(*LANDSCAPE, [PlacedFace(fer[4], frame, roll)], np.random.default_rng(0))
    faces = model.analyze(encode(pixels, ".png"))
    assert [centred_on(face.box, frame) for face in faces] == [True]
    not_turned = face_to_input(crop_face(pixels, Detection(faces[0].box, 1.0)))[..., 0] / PIXEL_SCALE

    def likeness(face):
        blurred = cv2.GaussianBlur(face.astype(np.float32), (0, 0), 2.0)
        return correlation(blurred[INNER], cv2.GaussianBlur(fer[4].astype(np.float32), (0, 0), 2.0)[INNER])

    assert likeness(faces[0].face48) > 0.7
    assert likeness(faces[0].face48) > likeness(not_turned) + 0.15


# --- many threads at once --------------------------------------------------------------------------------------


def test_threads_analysing_photos_at_once_get_the_same_answers_as_one_thread(model, fer):
    photos = [photo(fer, [(index, centred_box(share))], seed=index)
              for index, share in enumerate([0.2, 0.3, 0.4, 0.5, 0.25, 0.35])]
    photos.append(photo(fer, [(2, (120, 300, 256, 256)), (0, (640, 180, 512, 512))]))
    alone = [model.analyze(data) for data in photos]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(model.analyze, photos * 4))
    assert together == alone * 4
    for faces, expected in zip(together, alone * 4):
        for face, same in zip(faces, expected):
            np.testing.assert_array_equal(face.face48, same.face48)


def test_a_model_file_its_metadata_does_not_describe_is_refused(tmp_path):
    for name in ("emotion.tflite", "emotion.json"):
        shutil.copy(MODEL_DIR / name, tmp_path / name)
    assert EmotionModel.load(tmp_path / "emotion.tflite").version
    metadata = json.loads((tmp_path / "emotion.json").read_text())
    metadata["files"]["emotion.tflite"]["sha256"] = "0" * 64  # as if the model had been replaced, not the metadata
    (tmp_path / "emotion.json").write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match="do not belong together"):
        EmotionModel.load(tmp_path / "emotion.tflite")
