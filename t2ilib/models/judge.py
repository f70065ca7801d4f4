"""The kit's R-precision judge: an image tower and a text tower trained to map matching
image-caption pairs close together (a small stand-in for AttnGAN's DAMSM).

- image tower: three stride-2 conv blocks -> global average pool -> Dense(code_dim)
- text tower: an MLP over caption embeddings (by default Word2Vec vectors trained on the
  training captions, whatever encoder the generator used, so runs with different encoders are
  scored by the same judge)
- loss: symmetric contrastive cross-entropy over the batch (each image against every caption of
  the batch and back), cosine similarity / temperature.

Trained and cached per dataset by `t2ilib.training.judge`; scored with `t2ilib.metrics.rprecision`.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from t2ilib.models.blocks import symmetric_contrastive_loss


def _uint8_images(images) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}; from the model "
                         "range [-1, 1] use t2ilib.viz.to_uint8(images).")
    return images


@keras.saving.register_keras_serializable(package="t2ilib")
class DualEncoder(keras.Model):
    """Image tower and text tower mapping into one `code_dim` space (see module docstring).

    `fit` takes batches of (images in [-1, 1], caption embeddings), as made by
    `make_gan_dataset` without its third element.
    """

    def __init__(self, text_dim: int, image_size: int, code_dim: int = 64, width: int = 16,
                 temperature: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.text_dim, self.image_size, self.code_dim = text_dim, image_size, code_dim
        self.width, self.temperature = width, temperature
        self.image_tower = keras.Sequential(
            [layers.Conv2D(width * 2 ** i, 3, strides=2, padding="same", activation="relu") for i in range(3)]
            + [layers.GlobalAveragePooling2D(), layers.Dense(code_dim)], name="image_tower")
        self.text_tower = keras.Sequential(
            [layers.Dense(2 * code_dim, activation="relu"), layers.Dense(code_dim)], name="text_tower")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name="match_accuracy")  # image -> own caption, in the batch

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker]

    def call(self, images, embeddings):
        image_codes = ops.normalize(self.image_tower(images), axis=-1)
        text_codes = ops.normalize(self.text_tower(embeddings), axis=-1)
        return image_codes, text_codes

    def build_for(self):
        self(ops.zeros((1, self.image_size, self.image_size, 3)), ops.zeros((1, self.text_dim)))
        return self

    def train_step(self, data):
        import tensorflow as tf

        images, embeddings = data[0], data[1]
        with tf.GradientTape() as tape:
            image_codes, text_codes = self(images, embeddings)
            logits = ops.matmul(image_codes, ops.transpose(text_codes)) / self.temperature  # (B, B)
            labels = ops.arange(ops.shape(logits)[0])
            loss = symmetric_contrastive_loss(image_codes, text_codes, self.temperature)
        variables = self.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        self.loss_tracker.update_state(loss)
        self.accuracy_tracker.update_state(ops.mean(ops.cast(ops.argmax(logits, axis=1) == labels, "float32")))
        return {metric.name: metric.result() for metric in self.metrics}

    def encode_images(self, images, batch_size: int = 256) -> np.ndarray:
        """Unit-length codes (N, code_dim) of uint8 images, resized to the tower's size if needed."""
        import tensorflow as tf

        images = _uint8_images(images)
        codes = []
        for start in range(0, len(images), batch_size):
            batch = tf.cast(images[start:start + batch_size], tf.float32) / 127.5 - 1.0
            if batch.shape[1] != self.image_size:
                batch = tf.image.resize(batch, (self.image_size, self.image_size), antialias=True)
            codes.append(ops.convert_to_numpy(ops.normalize(self.image_tower(batch, training=False), axis=-1)))
        return np.concatenate(codes)

    def encode_texts(self, embeddings) -> np.ndarray:
        """Unit-length codes (N, code_dim) of caption embeddings (N, text_dim)."""
        embeddings = np.asarray(embeddings, dtype=np.float32)
        return ops.convert_to_numpy(ops.normalize(self.text_tower(embeddings, training=False), axis=-1))

    def settings(self) -> dict:
        return {"text_dim": self.text_dim, "image_size": self.image_size, "code_dim": self.code_dim,
                "width": self.width, "temperature": self.temperature}


