"""The emotion CNN and the augmentation it trains with.

A VGG-style network sized for 48x48 faces and for CPUs: four blocks of two 3x3 convolutions (32, 64, 128, 256
filters) with batch norm, max-pooling and growing dropout, then global average pooling and a small dense head.
It outputs logits; softmax and temperature are added at export (see `train.export`).
"""

import keras
import tensorflow as tf
from keras import layers

from model.preprocess import INPUT_SIZE, LABELS

BLOCK_FILTERS = (32, 64, 128, 256)


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
    logits = layers.Dense(len(LABELS), name="logits")(x)
    return keras.Model(inputs, logits, name="moodtunes_emotion")


def build_augmenter(seed: int) -> keras.Sequential:
    """Photo-like variation: mirror, small shifts/rotations/zoom, lighting, and a random erased patch."""
    return keras.Sequential([
        layers.RandomFlip("horizontal", seed=seed),
        layers.RandomRotation(0.04, fill_mode="reflect", seed=seed + 1),  # about +-15 degrees
        layers.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=seed + 2),
        layers.RandomZoom((-0.15, 0.15), fill_mode="reflect", seed=seed + 3),
        layers.RandomContrast(0.3, seed=seed + 4),
        layers.RandomBrightness(0.2, value_range=(0.0, 1.0), seed=seed + 5),
        RandomErasing(max_fraction=0.25, probability=0.25, seed=seed + 6),
    ], name="augment")


class RandomErasing(layers.Layer):
    """Blank out one random rectangle per image (Zhong et al., 2017), so no single facial region is relied on."""

    def __init__(self, max_fraction: float, probability: float, seed: int, **kwargs):
        super().__init__(**kwargs)
        self.max_fraction, self.probability = max_fraction, probability
        self.generator = tf.random.Generator.from_seed(seed)

    def call(self, images, training=True):
        if not training:
            return images
        batch = tf.shape(images)[0]
        size = tf.cast(INPUT_SIZE, tf.float32)
        sides = self.generator.uniform((batch, 2), 0.1, tf.sqrt(self.max_fraction)) * size
        corners = self.generator.uniform((batch, 2)) * (size - sides)
        rows = tf.range(INPUT_SIZE, dtype=tf.float32)[tf.newaxis, :, tf.newaxis]
        cols = tf.range(INPUT_SIZE, dtype=tf.float32)[tf.newaxis, tf.newaxis, :]
        top, left = corners[:, 0, None, None], corners[:, 1, None, None]
        height, width = sides[:, 0, None, None], sides[:, 1, None, None]
        inside = (rows >= top) & (rows < top + height) & (cols >= left) & (cols < left + width)
        apply = self.generator.uniform((batch, 1, 1)) < self.probability
        mask = tf.cast(inside & apply, images.dtype)[..., tf.newaxis]
        noise = self.generator.uniform(tf.shape(images), dtype=images.dtype)
        return images * (1 - mask) + noise * mask
