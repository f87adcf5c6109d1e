"""Calibrate a trained classifier and export it as TFLite (float and int8) with its metadata.

The exported graph is `softmax((logits + b) / T)`, the logits those of a reader (`train.network.reader`: the network
on the face and its mirror image), b a per-class decision bias (zero, or the class balancing of train.choose), with
the temperature T fitted on validation data, so the probabilities the bot
shows are calibrated without the bot knowing anything about temperatures.
Files written into the output folder:
- `emotion.tflite`: int8 weights and activations (float32 in and out), what the bot runs;
- `emotion_float.tflite`: the float32 reference;
- `emotion.json`: metadata; nothing else is needed to run the model.
"""

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from model.preprocess import INPUT_SIZE, LABELS, PIXEL_SCALE

MODEL_NAME = "moodtunes-emotion"
INT8_FILE, FLOAT_FILE, METADATA_FILE = "emotion.tflite", "emotion_float.tflite", "emotion.json"


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T > 0 that minimises the negative log-likelihood of softmax(logits / T) (Guo et al., 2017)."""
    logits = logits.astype(np.float64)

    def nll(temperature: float) -> float:
        scaled = logits / temperature
        scaled -= scaled.max(axis=1, keepdims=True)
        log_probs = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
        return float(-log_probs[np.arange(len(labels)), labels].mean())

    # NLL is unimodal in T; a coarse log grid then a fine one is exact enough and needs no optimiser.
    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 161))
    best = min(grid, key=nll)
    fine = np.linspace(best * 0.97, best * 1.03, 61)
    return float(min(fine, key=nll))


def calibrated_model(reader: keras.Model, temperature: float, bias: np.ndarray | None = None) -> keras.Model:
    """Wrap a logits model into one that outputs calibrated probabilities, decided with the per-class `bias`."""
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="face")
    logits = reader(inputs, training=False)
    if bias is not None:
        logits = logits + keras.ops.convert_to_tensor(np.asarray(bias, np.float32)[np.newaxis])
    probabilities = keras.layers.Softmax(name="probabilities")(logits / temperature)
    return keras.Model(inputs, probabilities)


def to_tflite(model: keras.Model, representative_faces: np.ndarray | None = None) -> bytes:
    """Float TFLite, or full-integer int8 (float32 in/out) when representative faces are given."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if representative_faces is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.representative_dataset = lambda: ([face[np.newaxis]] for face in representative_faces)
    return converter.convert()


def export(reader: keras.Model, temperature: float, representative_faces: np.ndarray, out_dir: Path,
           version: str, training_data: dict, bias: np.ndarray | None = None) -> dict:
    """Write both TFLite files and the metadata; return the metadata."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model = calibrated_model(reader, temperature, bias)
    files = {FLOAT_FILE: to_tflite(model), INT8_FILE: to_tflite(model, representative_faces)}
    for name, content in files.items():
        (out_dir / name).write_bytes(content)
    metadata = {
        "name": MODEL_NAME,
        "version": version,
        "labels": list(LABELS),
        "input": {"height": INPUT_SIZE, "width": INPUT_SIZE, "channels": 1, "color": "grayscale",
                  "dtype": "float32", "scale": PIXEL_SCALE, "offset": 0.0},
        "output": "softmax probabilities, temperature-calibrated"
                  + (", of the logits plus a per-class decision bias" if bias is not None else ""),
        "temperature": round(temperature, 4),
        "decision_bias": None if bias is None else dict(zip(LABELS, np.round(np.asarray(bias), 4).tolist())),
        "quantization": "int8",
        "architecture": f"VGG-style CNN, {reader.count_params():,} parameters, run on the face and its mirror image",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "training_data": training_data,
        # What the bot checks on load, so a model file and metadata of different versions are never paired.
        "files": {name: {"sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}
                  for name, content in files.items()},
        "metrics": {},
    }
    write_metadata(out_dir, metadata)
    return metadata


def write_metadata(out_dir: Path, metadata: dict) -> None:
    (out_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
