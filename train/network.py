"""The emotion CNN and the augmentation it trains with.

A VGG-style network sized for 48x48 faces and for CPUs: four blocks of two 3x3 convolutions (32, 64, 128, 256
filters) with batch norm, max-pooling and growing dropout, then global average pooling and a small dense head.
It outputs logits; `reader` wraps it the way the exported model reads a face, and softmax and temperature are added
at export (see `train.export`).
"""

import json

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from model.preprocess import INPUT_SIZE, LABELS

BLOCK_FILTERS = (32, 64, 128, 256)
READER_NAME = "moodtunes_reader"


def build_model(width: float = 1.0, dropout: float = 0.4) -> keras.Model:
    """The classifier: (48, 48, 1) floats in [0, 1] -> 7 logits."""
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="face")
    x = inputs
    for block, filters in enumerate(BLOCK_FILTERS):
        filters = max(8, int(filters * width))
        for _ in range(2):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer="he_normal")(x)
            x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x)
        x = layers.Dropout(dropout * (block + 1) / len(BLOCK_FILTERS))(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(int(256 * width), use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Dropout(dropout)(x)
    logits = layers.Dense(len(LABELS), name="logits", dtype="float32")(x)  # float32 even under mixed precision
    return keras.Model(inputs, logits, name="moodtunes_emotion")


def as_float32(network: keras.Model) -> keras.Model:
    """The same network computing in float32: what calibration and the TFLite export need after a run trained
    with mixed precision (its weights are float32 already; only the layers' compute dtype changes)."""
    config = json.dumps(network.get_config())
    if "mixed_" not in config:
        return network
    for policy in ("mixed_bfloat16", "mixed_float16"):
        config = config.replace(f'"{policy}"', '"float32"')
    copy = keras.Model.from_config(json.loads(config))
    copy.set_weights(network.get_weights())
    return copy


def reader(network: keras.Model) -> keras.Model:
    """The logits the exported model computes: the network's mean over the face and its mirror image.

    Faces are left-right symmetric in what they express, so the mirror image is a second opinion for one more
    ~0.6 ms forward pass (+0.4 to +0.7 point of PublicTest accuracy, measured on two networks of this design).
    """
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="face")
    views = (network(inputs), network(keras.ops.flip(inputs, axis=2)))
    return keras.Model(inputs, layers.Average(name="logits")(views), name=READER_NAME)


def as_reader(model: keras.Model) -> keras.Model:
    """A loaded checkpoint as a reader: `python -m train` saves readers, older runs saved bare networks."""
    return model if model.name == READER_NAME else reader(model)


def build_augmenter(seed: int) -> keras.Sequential:
    """Phone-selfie-like variation: mirror, small rotation/zoom/shift (one resampling, so faces stay sharp),
    lighting, focus blur, sensor noise, and a random erased patch (an occluding hand, hair or glasses)."""
    return keras.Sequential([
        RandomGeometry(max_degrees=15, max_zoom=0.12, max_shift=0.08, seed=seed),
        layers.RandomContrast(0.3, seed=seed + 1),
        layers.RandomBrightness(0.2, value_range=(0.0, 1.0), seed=seed + 2),
        layers.RandomGaussianBlur(factor=0.25, kernel_size=5, sigma=(0.2, 1.2), value_range=(0.0, 1.0), seed=seed + 3),
        layers.GaussianNoise(0.02, seed=seed + 4),
        layers.RandomErasing(factor=0.25, scale=(0.02, 0.2), value_range=(0.0, 1.0), seed=seed + 5),
    ], name="augment")


class RandomGeometry(layers.Layer):
    """Random horizontal flip, rotation, zoom and shift composed into one affine warp per image.

    Separate Keras layers would resample the 48x48 face three times and blur it; one warp keeps it sharp.
    """

    def __init__(self, max_degrees: float, max_zoom: float, max_shift: float, seed: int, **kwargs):
        super().__init__(**kwargs)
        self.max_radians, self.max_zoom, self.max_shift = np.deg2rad(max_degrees), max_zoom, max_shift
        self.generator = tf.random.Generator.from_seed(seed)

    def call(self, images, training=True):
        if not training:
            return images
        batch = tf.shape(images)[0]
        uniform = lambda low, high: self.generator.uniform((batch,), low, high)
        angle = uniform(-self.max_radians, self.max_radians)
        scale = uniform(1 - self.max_zoom, 1 + self.max_zoom)
        flip = tf.where(uniform(0.0, 1.0) < 0.5, -1.0, 1.0)
        shift_x, shift_y = (uniform(-self.max_shift, self.max_shift) * INPUT_SIZE for _ in range(2))
        centre = (INPUT_SIZE - 1) / 2
        # Each output pixel (x, y) samples the input at [a0 a1 a2; b0 b1 b2] @ (x, y, 1).
        a0, a1 = flip * tf.cos(angle) / scale, flip * tf.sin(angle) / scale
        b0, b1 = -tf.sin(angle) / scale, tf.cos(angle) / scale
        a2 = centre - a0 * centre - a1 * centre - shift_x
        b2 = centre - b0 * centre - b1 * centre - shift_y
        zeros = tf.zeros_like(angle)
        transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
        return keras.ops.image.affine_transform(images, transforms, interpolation="bilinear", fill_mode="reflect")
