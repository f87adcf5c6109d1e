"""Choosing by real faces: the development panel a training run is judged on, and the decision rule fitted on it.

The panel is FER2013's held-out validation faces (FER+ majority) plus other kinds of faces: posed lab photos and
film stills (`--panel *.npz`, see train.face_sets) and whole web photos (`--panel-photos DIR`, the face the bot's own
pipeline detects and crops). Each set is scored by balanced accuracy (mean recall over the classes it has), so a
set's common emotions do not decide for it, and the panel by the mean over its sets: a checkpoint that only gains
on FER2013's crops does not win. PublicTest is never looked at here.

The decision rule: the network learns how often each emotion occurs in its training faces (mostly happy and
neutral), but a rare label there is not a rare emotion in a selfie. `fit_decision_bias` subtracts a share `alpha`
of the log class prior from the logits (logit adjustment, Menon et al., 2021), with `alpha` chosen on the panel.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

import model as model_package
from model import EmotionModel, ImageError
from model.preprocess import LABELS, face_to_input
from train.face_sets import load_face_set
from train.photo_eval import annotated_box, judged_face, read_labels

ALPHAS = np.round(np.linspace(0.0, 1.0, 11), 2)
CACHE = Path.home() / ".cache" / "moodtunes" / "panel"


@dataclass(frozen=True)
class PanelSet:
    name: str
    inputs: np.ndarray  # (N, 48, 48, 1) float32 model inputs
    labels: np.ndarray  # (N,) int64


def load_panel(validation_faces: np.ndarray, validation_labels: np.ndarray, face_sets: list[Path],
               photo_folders: list[Path]) -> list[PanelSet]:
    """The panel: FER2013 validation faces first, then each face set and photo folder."""
    panel = [PanelSet("fer+ validation", _inputs(validation_faces), validation_labels)]
    for path in face_sets:
        faces = load_face_set(path)
        panel.append(PanelSet(faces.name, _inputs(faces.faces), faces.labels))
    for folder in photo_folders:
        faces, labels = _photo_faces(folder)
        panel.append(PanelSet(folder.name, _inputs(faces), labels))
    return panel


def balanced_accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Mean recall over the classes present in `labels`."""
    return float(np.mean([np.mean(predictions[labels == c] == c) for c in np.unique(labels)]))


def panel_scores(logits: list[np.ndarray], panel: list[PanelSet], bias: np.ndarray | None = None) -> dict[str, float]:
    """Balanced accuracy per panel set and their mean (`panel`), from each set's logits."""
    bias = np.zeros(len(LABELS)) if bias is None else bias
    scores = {s.name: balanced_accuracy(s.labels, (set_logits + bias).argmax(axis=1))
              for s, set_logits in zip(panel, logits)}
    scores["panel"] = float(np.mean(list(scores.values())))
    return scores


def fit_decision_bias(logits: list[np.ndarray], panel: list[PanelSet], prior: np.ndarray) -> tuple[float, np.ndarray]:
    """(alpha, bias): the share of the log prior subtracted from the logits that gives the best panel mean.

    Only the sets that show every emotion choose it: a set without neutral faces (posed lab photos) would reward
    never answering neutral, and a resting face read as sad is as wrong as an angry one read as neutral."""
    log_prior = np.log(np.maximum(prior, 1e-6))
    complete = [i for i, s in enumerate(panel) if len(np.unique(s.labels)) == len(LABELS)] or list(range(len(panel)))
    chosen_logits, chosen_sets = [logits[i] for i in complete], [panel[i] for i in complete]
    alpha = max(ALPHAS, key=lambda a: panel_scores(chosen_logits, chosen_sets, -a * log_prior)["panel"])
    return float(alpha), (-alpha * log_prior).astype(np.float32)


class PanelCheckpoint(keras.callbacks.Callback):
    """Scores the network on the panel after every epoch and logs each set's balanced accuracy and the mean as
    `val_panel`, which the checkpoint callbacks after it in the list then monitor."""

    def __init__(self, panel: list[PanelSet], predict_logits):
        super().__init__()
        self.panel, self.predict_logits = panel, predict_logits

    def on_epoch_end(self, epoch, logs=None):
        scores = panel_scores([self.predict_logits(self.model, s.inputs) for s in self.panel], self.panel)
        print("  panel: " + ", ".join(f"{name} {value:.3f}" for name, value in scores.items()))
        if logs is not None:
            logs.update({f"val_{name.replace(' ', '_').replace('+', 'plus')}": value
                         for name, value in scores.items()})


def _inputs(faces: np.ndarray) -> np.ndarray:
    return np.stack([face_to_input(face) for face in faces])


def _photo_faces(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The labelled face of each photo as the bot's pipeline crops it (photos whose face it misses are left out:
    they count against every checkpoint alike). Cached, keyed by the labels and the detection and crop code."""
    key = hashlib.sha256((folder / "labels.csv").read_bytes())
    for module in ("detect.py", "crop.py", "decode.py"):
        key.update((Path(model_package.__file__).parent / module).read_bytes())
    cached = CACHE / f"{folder.name}-{key.hexdigest()[:16]}.npz"
    if cached.is_file():
        with np.load(cached) as data:
            return data["faces"], data["labels"]
    faces, labels = _detected_faces(folder)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cached, faces=faces, labels=labels)
    return faces, labels


def _detected_faces(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    model = EmotionModel.load()
    faces, labels = [], []
    for row in read_labels(folder):
        try:
            found = model.analyze((folder / row["file"]).read_bytes())
        except ImageError:
            continue
        face = judged_face(found, annotated_box(row))
        if face is not None:
            faces.append(face.face48)
            labels.append(LABELS.index(row["emotion"]))
    return np.stack(faces), np.array(labels)
