"""InceptionV3 features and class probabilities for FID and the Inception Score.

`InceptionScorer(weights="imagenet")` builds `keras.applications.InceptionV3` once and gives,
for uint8 images of any size:
- `features(images)`: the 2,048-d global-average-pool activations ("pool3"), used by FID;
- `probabilities(images)`: the softmax over the 1,000 ImageNet classes (the softmax of the
  classifier's logits), used by the Inception Score.

Images are resized to 299x299 with antialiasing (bilinear), then scaled to [-1, 1] as
InceptionV3 expects. `weights=None` builds the same architecture with random weights: use it
offline to check the pipeline only; its numbers mean nothing. The published FID/IS numbers used
the TF1 Inception graph (1,008 classes, other weights), so the kit's figures are comparable
with each other, not with papers.
"""

from __future__ import annotations

import hashlib

import numpy as np

INCEPTION_SIZE = 299
FEATURE_DIM = 2048

_MODELS: dict = {}  # one model per weights setting, built on first use


def check_uint8_images(images, name: str = "images") -> np.ndarray:
    """(N, H, W, 3) uint8, or a ValueError that says how to convert."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 (0..255), got {images.dtype}; from the model range [-1, 1] use "
                         "t2ilib.viz.to_uint8(images) (metrics score images as they are saved, quantised).")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (N, H, W, 3); got {images.shape}.")
    if len(images) == 0:
        raise ValueError(f"{name} is empty.")
    return images


def _weights_label(weights) -> str | None:
    return None if weights is None else str(weights)


class InceptionScorer:
    """InceptionV3 (Keras applications) as a feature extractor and a classifier, in inference mode."""

    def __init__(self, weights: str | None = "imagenet", batch_size: int = 32):
        import keras

        self.weights = weights
        self.batch_size = batch_size
        key = _weights_label(weights)
        if key not in _MODELS:
            network = keras.applications.InceptionV3(include_top=True, weights=weights)
            pool = network.get_layer("avg_pool").output  # (B, 2048)
            _MODELS[key] = keras.Model(network.input, [pool, network.output])
        self.model = _MODELS[key]
        self._recent: dict = {}  # a few recent results by image content: FID and IS of one set share one pass

    @property
    def weights_label(self) -> str | None:
        return _weights_label(self.weights)

    def _run(self, images) -> tuple[np.ndarray, np.ndarray]:
        images = check_uint8_images(images)
        key = (images.shape, hashlib.sha1(np.ascontiguousarray(images).tobytes()).hexdigest())
        if key not in self._recent:
            if len(self._recent) >= 4:
                self._recent.pop(next(iter(self._recent)))
            self._recent[key] = self._compute(images)
        return self._recent[key]

    def _compute(self, images) -> tuple[np.ndarray, np.ndarray]:
        import tensorflow as tf
        from keras.applications.inception_v3 import preprocess_input

        pools, probabilities = [], []
        batch_size = min(self.batch_size, len(images))
        for start in range(0, len(images), batch_size):
            batch = tf.cast(images[start:start + batch_size], tf.float32)
            if batch.shape[1:3] != (INCEPTION_SIZE, INCEPTION_SIZE):
                batch = tf.image.resize(batch, (INCEPTION_SIZE, INCEPTION_SIZE), method="bilinear", antialias=True)
            count = batch.shape[0]
            if count < batch_size:  # pad the last batch: one input shape, one compiled function
                batch = tf.concat([batch, tf.zeros((batch_size - count,) + tuple(batch.shape[1:]))], axis=0)
            pool, probability = self.model.predict_on_batch(preprocess_input(batch))
            pools.append(np.asarray(pool[:count], dtype=np.float64))
            probabilities.append(np.asarray(probability[:count], dtype=np.float64))
        return np.concatenate(pools), np.concatenate(probabilities)

    def features(self, images) -> np.ndarray:
        """float64 (N, 2048) pool features of uint8 images (N, H, W, 3)."""
        return self._run(images)[0]

    def probabilities(self, images) -> np.ndarray:
        """float64 (N, 1000) class probabilities of uint8 images (N, H, W, 3)."""
        return self._run(images)[1]

    def features_and_probabilities(self, images) -> tuple[np.ndarray, np.ndarray]:
        """Both, from one pass over the images."""
        return self._run(images)
