"""Reading a user's face as their own corrections taught (model/personal.py): pure, no database, no model file."""

import numpy as np
import pytest

from model.personal import CLEAR_READING, Lesson, learn, read_for_user
from model.preprocess import LABELS


def probabilities(**given: float) -> dict[str, float]:
    """Probabilities with the given emotions, the rest shared out evenly."""
    rest = (1 - sum(given.values())) / (len(LABELS) - len(given))
    return {label: given.get(label, rest) for label in LABELS}


RESTING_FACE = probabilities(sad=0.5, neutral=0.35)  # a calm face the model reads as sad
SMILE = probabilities(happy=0.6, neutral=0.3)


def top(reading) -> str:
    return max(reading, key=reading.get)


def test_a_user_who_never_told_a_mood_reads_exactly_as_the_model_does():
    let_stand = [Lesson(RESTING_FACE), Lesson(SMILE)]
    assert learn([]) is None and learn(let_stand) is None
    assert read_for_user(RESTING_FACE, learn(let_stand)) is RESTING_FACE, "the very same probabilities"


def test_three_corrections_of_a_resting_face_teach_the_bot_to_read_it_as_calm():
    accepted_smiles = [Lesson(SMILE)] * 5
    adjustment = learn([*accepted_smiles, *[Lesson(RESTING_FACE, said="neutral")] * 3])
    read = read_for_user(probabilities(sad=0.48, neutral=0.36), adjustment)
    assert top(read) == "neutral" and adjustment.lessons_from_user == 3
    assert sum(read.values()) == pytest.approx(1.0)
    assert top(read_for_user(SMILE, adjustment)) == "happy", "other emotions are read as before"


def test_one_odd_correction_among_readings_the_user_let_stand_changes_little():
    lessons = [Lesson(SMILE)] * 10 + [Lesson(RESTING_FACE)] * 10
    adjustment = learn([*lessons, Lesson(RESTING_FACE, said="angry")])
    assert max(abs(offset) for offset in adjustment.offsets.values()) < 1
    for face in (RESTING_FACE, SMILE, probabilities(sad=0.45, angry=0.2), probabilities(neutral=0.5, sad=0.3)):
        assert top(read_for_user(face, adjustment)) == top(face)


def test_a_clear_reading_is_never_moved_however_many_corrections_say_otherwise():
    adjustment = learn([Lesson(probabilities(happy=0.7, neutral=0.25), said="neutral")] * 40)
    big_smile = probabilities(happy=CLEAR_READING, neutral=0.15)
    assert read_for_user(big_smile, adjustment) == big_smile
    assert top(read_for_user(probabilities(happy=0.7, neutral=0.25), adjustment)) == "neutral"


def test_outputs_of_exactly_zero_and_many_corrections_give_a_finite_adjustment():
    certain = {label: float(label == "disgust") for label in LABELS}
    adjustment = learn([Lesson(certain, said="fear")] * 60 + [Lesson(SMILE)])
    offsets = np.array(list(adjustment.offsets.values()))
    assert np.isfinite(offsets).all() and np.abs(offsets).max() < 20
    read = read_for_user(probabilities(disgust=0.4, fear=0.1), adjustment)
    assert top(read) == "fear" and sum(read.values()) == pytest.approx(1.0)
