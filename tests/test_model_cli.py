"""`python -m model IMAGE... [--json]`: what it prints for each image, and its exit status."""

import json
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from model import EmotionModel
from model.__main__ import main
from model.decode import MAX_BYTES
from model.preprocess import LABELS
from tools.fer_photos import PlacedFace, compose_photo, encode, read_fer_faces

REPO = Path(__file__).resolve().parents[1]
FACE_FIELDS = {"box", "emotion", "confidence", "probabilities"}


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    """Files a user might pass: photos with one, two and no faces, and files that are not readable photos."""
    folder = tmp_path_factory.mktemp("images")
    fer = read_fer_faces(3)
    rng = np.random.default_rng(0)
    selfie = encode(compose_photo(1280, 960, [PlacedFace(fer[0], (448, 192, 384, 384))], rng))
    contents = {
        "selfie.jpg": selfie,
        "two.png": encode(compose_photo(1280, 960, [PlacedFace(fer[2], (120, 300, 256, 256)),
                                                    PlacedFace(fer[0], (640, 180, 512, 512))], rng), ".png"),
        "room.webp": encode(compose_photo(1280, 960, [], np.random.default_rng(1)), ".webp"),
        "notes.txt": b"not a photo\n",
        "report.pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
        "cut.jpg": selfie[:len(selfie) // 2],
        # Four bytes of the picture damaged, low in the photo: libjpeg warns about corrupt data, and reads it.
        "rough.jpg": selfie[:len(selfie) * 3 // 4] + b"\x13\x37\x42\x99" + selfie[len(selfie) * 3 // 4 + 4:],
        "empty.png": b"",
        "bomb.png": _png_claiming(7000, 7000),
    }
    paths = {}
    for name, data in contents.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    with open(folder / "huge.jpg", "wb") as huge:  # sparse: larger than a bot may download, yet costs no disk
        huge.truncate(MAX_BYTES + 1)
    paths["huge.jpg"] = folder / "huge.jpg"
    paths["missing.jpg"] = folder / "missing.jpg"
    return paths


def _png_claiming(width: int, height: int) -> bytes:
    png = bytearray(encode(np.zeros((8, 8, 3), np.uint8), ".png"))
    png[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    png[29:33] = zlib.crc32(bytes(png[12:29])).to_bytes(4, "big")  # a header whose checksum is right
    return bytes(png)


def run_json(capsys, *paths: Path) -> tuple[int, list[dict]]:
    status = main(["--json", *map(str, paths)])
    return status, json.loads(capsys.readouterr().out)


def test_json_gives_each_face_its_box_emotion_confidence_and_all_seven_probabilities(images, capsys):
    status, results = run_json(capsys, images["selfie.jpg"], images["two.png"])
    assert status == 0
    assert [result["image"] for result in results] == [str(images["selfie.jpg"]), str(images["two.png"])]
    assert [len(result["faces"]) for result in results] == [1, 2]
    for face in results[0]["faces"] + results[1]["faces"]:
        assert set(face) == FACE_FIELDS
        assert len(face["box"]) == 4 and all(isinstance(v, int) and v >= 0 for v in face["box"])
        assert list(face["probabilities"]) == list(LABELS)
        assert sum(face["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
        assert face["emotion"] in LABELS
        assert face["confidence"] == face["probabilities"][face["emotion"]]


def test_json_boxes_are_what_the_model_reports_in_the_photo_s_pixels(images, capsys):
    _, results = run_json(capsys, images["two.png"])
    expected = EmotionModel.load().analyze(images["two.png"].read_bytes())
    assert [face["box"] for face in results[0]["faces"]] == [list(face.box) for face in expected]
    first, second = results[0]["faces"]
    assert first["box"][2] * first["box"][3] > second["box"][2] * second["box"][3]  # largest first


def test_a_photo_without_a_face_is_read_with_an_empty_list_and_exit_0(images, capsys):
    status, results = run_json(capsys, images["room.webp"])
    assert status == 0
    assert results == [{"image": str(images["room.webp"]), "faces": []}]


@pytest.mark.parametrize("name, says", [
    ("notes.txt", "HEIC, AVIF, GIF, BMP and TIFF"), ("report.pdf", "HEIC, AVIF, GIF, BMP and TIFF"),
    ("cut.jpg", "cut short"),
    ("empty.png", "empty"), ("bomb.png", "7000x7000"), ("huge.jpg", f"{MAX_BYTES // 2**20} MB"),
    ("missing.jpg", "No such file"),
])
def test_an_unreadable_file_gets_an_error_string_and_exit_1(images, capsys, name, says):
    status, results = run_json(capsys, images[name])
    assert status == 1
    assert set(results[0]) == {"image", "error"}
    assert says in results[0]["error"]


def test_one_unreadable_file_does_not_stop_the_others_from_being_read(images, capsys):
    status, results = run_json(capsys, images["notes.txt"], images["selfie.jpg"], images["cut.jpg"])
    assert status == 1
    assert ["error" in result for result in results] == [True, False, True]
    assert len(results[1]["faces"]) == 1


def test_an_unexpected_failure_is_reported_for_its_image_not_raised(images, capsys, monkeypatch):
    def broken(self, data):
        raise RuntimeError("detector exploded")

    monkeypatch.setattr(EmotionModel, "analyze", broken)
    status, results = run_json(capsys, images["selfie.jpg"])
    assert status == 1
    assert "detector exploded" in results[0]["error"]


def test_plain_output_names_each_image_and_its_faces_or_its_error(images, capsys):
    status = main([str(images["selfie.jpg"]), str(images["room.webp"]), str(images["notes.txt"])])
    lines = capsys.readouterr().out.splitlines()
    assert status == 1
    assert lines[0] == f"{images['selfie.jpg']}: 1 face"
    assert lines[1].split()[0] in LABELS and "%" in lines[1]
    assert lines[2] == f"{images['room.webp']}: 0 faces"
    assert lines[3].startswith(f"{images['notes.txt']}: error: ")


def test_a_missing_emotion_model_is_an_error_with_exit_2(images, capsys, tmp_path):
    assert main(["--model", str(tmp_path / "none.tflite"), str(images["selfie.jpg"])]) == 2
    assert "cannot load the emotion model" in capsys.readouterr().err


def test_run_as_a_program_bad_files_never_show_a_traceback(images):
    names = ["selfie.jpg", "notes.txt", "report.pdf", "cut.jpg", "empty.png", "bomb.png", "huge.jpg", "missing.jpg"]
    done = subprocess.run([sys.executable, "-m", "model", "--json", *(str(images[n]) for n in names)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr == "", "each error is in the output, for its image"
    results = json.loads(done.stdout)
    assert ["error" in result for result in results] == [False] + [True] * (len(names) - 1)


def test_run_as_a_program_good_photos_leave_stderr_empty(images):
    done = subprocess.run([sys.executable, "-m", "model", str(images["selfie.jpg"]), str(images["rough.jpg"])],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.count(": 1 face") == 2
    assert done.stderr == "", "no LiteRT or libjpeg chatter: stderr is for what the user should read"
