"""How one user's face reads: a small adjustment of the emotion model's output learnt from that user alone.

People's faces differ (a resting face that looks sad, a small smile), so the model errs the same way again and
again for one person. From the user's own lessons this learns one offset per emotion, `b`, and reads their next
faces as softmax(log p + b) instead of p. A mood the user told the bot (a correction, or an answer when it asked) is
a full lesson: this face shows that emotion. A reading they let stand is a weak one (`LET_STAND_WEIGHT`): read this
face as the model did; it holds the adjustment back from changing what the user accepted, without pushing it further
(a hard label would make every accepted reading more certain, and the adjustment feed on itself).

`b` is the maximum a posteriori fit (a few Newton steps; the problem is concave) of the lessons' likelihood under a
Gaussian prior N(0, PRIOR_SD^2) on every offset, which keeps it near zero until evidence accumulates: one odd
correction moves it a little, several consistent ones a lot. A reading at least `CLEAR_READING` sure is never
changed, and a user who never told the bot a mood gets no adjustment at all (their readings are the model's own,
bit for bit). Lessons come from one model version: another version's outputs mean something else.

Pure: no SQL and no Telegram; `db` stores the lessons, the bot applies the adjustment.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from model.preprocess import LABELS

CLEAR_READING = 0.8  # a reading whose top probability is at least this is never moved to another emotion
PRIOR_SD = 0.7  # the prior's spread of each offset (natural log): how far evidence must pull to change a reading
LET_STAND_WEIGHT = 0.5  # a reading the user did not correct weighs this much against a mood they told the bot
LESSONS_USED = 400  # the latest lessons of a user (and model version) that are learnt from
_FLOOR = 1e-4  # the int8 model can output exact zeros; log needs a floor
_NEWTON_STEPS, _CONVERGED = 25, 1e-9


@dataclass(frozen=True)
class Lesson:
    """One photo of the user as evidence: the model's own output, and the mood the user said it shows."""

    probabilities: Mapping[str, float]  # what the model read, before any adjustment
    said: str | None = None  # a correction, or an answer when the bot asked; None: the user let the reading stand


@dataclass(frozen=True)
class FaceAdjustment:
    """What was learnt about one user's face: an offset per emotion, added to the model's log-probabilities."""

    offsets: Mapping[str, float]
    lessons_from_user: int  # how many moods the user told the bot (corrections and answers)

    def apply(self, probabilities: Mapping[str, float]) -> dict[str, float]:
        """The model's probabilities as read for this user; a clear reading (`CLEAR_READING`) is left as it is."""
        if max(probabilities.values()) >= CLEAR_READING:
            return dict(probabilities)
        adjusted = _softmax(_logits(probabilities) + np.array([self.offsets[label] for label in LABELS]))
        return {label: float(p) for label, p in zip(LABELS, adjusted)}


def learn(lessons: Iterable[Lesson]) -> FaceAdjustment | None:
    """The adjustment the lessons support; None when the user never told the bot a mood (nothing to learn from)."""
    lessons = list(lessons)
    told = sum(lesson.said is not None for lesson in lessons)
    if not told:
        return None
    logits = np.stack([_logits(lesson.probabilities) for lesson in lessons])
    targets = _softmax(logits)  # let stand: as the model read it
    for row, lesson in enumerate(lessons):
        if lesson.said is not None:
            targets[row] = [float(label == lesson.said) for label in LABELS]
    weights = np.array([LET_STAND_WEIGHT if lesson.said is None else 1.0 for lesson in lessons])
    offsets = _fit(logits, targets, weights)
    return FaceAdjustment({label: float(offset) for label, offset in zip(LABELS, offsets)}, told)


def read_for_user(probabilities: Mapping[str, float], adjustment: FaceAdjustment | None) -> Mapping[str, float]:
    """The probabilities the bot reads for the user: the model's own (the very same object) without an adjustment."""
    return probabilities if adjustment is None else adjustment.apply(probabilities)


def _fit(logits: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Newton's method, each step halved until it gains, on the weighted log-likelihood of softmax(logits + b) plus
    the Gaussian log-prior of b (a full step can overshoot where the model's outputs are nearly 0 or 1)."""
    precision = 1.0 / PRIOR_SD ** 2

    def objective(offsets: np.ndarray) -> float:
        shifted = logits + offsets
        top = shifted.max(axis=1)
        log_normaliser = top + np.log(np.exp(shifted - top[:, None]).sum(axis=1))
        return float(weights @ ((targets * shifted).sum(axis=1) - log_normaliser) - precision / 2 * offsets @ offsets)

    offsets = np.zeros(logits.shape[1])
    value = objective(offsets)
    for _ in range(_NEWTON_STEPS):
        q = _softmax(logits + offsets)
        gradient = weights @ (targets - q) - precision * offsets
        curvature = np.einsum("n,ni,nj->ij", weights, q, q) - np.diag(weights @ q) - precision * np.eye(len(offsets))
        step = -np.linalg.solve(curvature, gradient)
        while (candidate := objective(offsets + step)) < value and np.abs(step).max() > _CONVERGED:
            step = step / 2
        offsets, value = offsets + step, max(candidate, value)
        if np.abs(step).max() < _CONVERGED:
            break
    return offsets


def _logits(probabilities: Mapping[str, float]) -> np.ndarray:
    return np.log(np.maximum([probabilities[label] for label in LABELS], _FLOOR))


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)
