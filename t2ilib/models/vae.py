"""The GloVe text-to-image "VAE" of the second report (docs/reference.md#glove-vae), as one Keras model.

    caption -> clean -> sum of GloVe 50-d vectors (t2ilib.text.glove.GloveEncoder)
      -> encoder Dense(hidden, relu) [Dropout]
      -> z_mean, z_log_var (linear Dense, latent each) -> z = z_mean + exp(z_log_var / 2) * eps
      -> decoder Dense(300, relu) [Dropout] -> Dense(600, sigmoid) [Dropout] -> Dense(64*64*3, sigmoid)
      -> Reshape(64, 64, 3): an image in [0, 1]

The three models of the report are `report_model(1)`, `report_model(2)`, `report_model(3)`
(7,646,388 / 7,646,388 / 7,588,638 trainable parameters). Loss per batch:
    mean squared error over all pixels + kl_weight * KL,
    KL = -0.5 * mean(1 + z_log_var - z_mean^2 - exp(z_log_var))  (mean over batch and latent).

What to expect. It is called a VAE, but the caption is the *input* and the image only the
target: this is a regression from a 50-d vector to 12,288 pixels with noise injected in the
middle. The report's runs stalled at loss 0.0667 from epoch 2: every caption gave the same
mean image. Check a trained model with `t2ilib.metrics.reconstruction.is_collapsed` instead of
trusting the loss (and never with "accuracy", which means nothing for pixel regression).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops
from PIL import Image

from t2ilib.models.blocks import kl_divergence

IMAGE_SIZE = 64
GLOVE_DIM = 50

# The report's three models: encoder width, latent size, dropout, RMSprop learning rate.
REPORT_MODELS = {
    1: dict(encoder_units=100, latent_dim=150, dropout=0.0, learning_rate=1e-2),
    2: dict(encoder_units=100, latent_dim=150, dropout=0.0, learning_rate=1e-3),
    3: dict(encoder_units=50, latent_dim=50, dropout=0.2, learning_rate=1e-3),
}


@keras.saving.register_keras_serializable(package="t2ilib")
class TextToImageVAE(keras.Model):
    """Caption embedding (B, embedding_dim) -> image (B, S, S, 3) in [0, 1].

    `fit` takes a dataset of `(embeddings, images)` with images in [0, 1]. Training samples
    z = z_mean + sigma * eps; `call(..., training=False)` (predict, evaluate) decodes z_mean, so
    one caption always gives one image. Trackers: `loss`, `reconstruction` (MSE), `kl`.
    """

    def __init__(self, embedding_dim: int = GLOVE_DIM, encoder_units: int = 100, latent_dim: int = 150,
                 decoder_units: tuple = (300, 600), dropout: float = 0.0, image_size: int = IMAGE_SIZE,
                 kl_weight: float = 1.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1) (got {dropout}); the report's model 3 used 0.2.")
        self.embedding_dim = embedding_dim
        self.encoder_units = encoder_units
        self.latent_dim = latent_dim
        self.decoder_units = tuple(decoder_units)
        self.dropout = dropout
        self.image_size = image_size
        self.kl_weight = kl_weight
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

        def maybe_dropout(name):
            return layers.Dropout(dropout, seed=seed, name=name) if dropout else None

        self.encoder_hidden = layers.Dense(encoder_units, activation="relu", name="encoder_hidden")
        self.encoder_dropout = maybe_dropout("encoder_dropout")
        self.z_mean_layer = layers.Dense(latent_dim, name="z_mean")
        self.z_log_var_layer = layers.Dense(latent_dim, name="z_log_var")
        # The report's decoder: the first hidden layer relu, the second sigmoid.
        activations = ["relu"] + ["sigmoid"] * (len(self.decoder_units) - 1)
        self.decoder_hidden = [layers.Dense(units, activation=activation, name=f"decoder_hidden_{i + 1}")
                               for i, (units, activation) in enumerate(zip(self.decoder_units, activations))]
        self.decoder_dropouts = [maybe_dropout(f"decoder_dropout_{i + 1}") for i in range(len(self.decoder_units))]
        self.to_pixels = layers.Dense(image_size * image_size * 3, activation="sigmoid", name="to_pixels")
        self.to_image = layers.Reshape((image_size, image_size, 3), name="to_image")  # any batch size

        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def encode(self, embeddings, training=False):
        """(B, embedding_dim) -> z_mean, z_log_var, each (B, latent_dim)."""
        x = self.encoder_hidden(embeddings)
        if self.encoder_dropout is not None:
            x = self.encoder_dropout(x, training=training)
        return self.z_mean_layer(x), self.z_log_var_layer(x)

    def sample(self, z_mean, z_log_var):
        """The reparameterisation trick: z = z_mean + exp(z_log_var / 2) * eps, eps ~ N(0, I)."""
        epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def decode(self, z, training=False):
        """(B, latent_dim) -> (B, S, S, 3) in [0, 1]."""
        x = z
        for dense, dropout in zip(self.decoder_hidden, self.decoder_dropouts):
            x = dense(x)
            if dropout is not None:
                x = dropout(x, training=training)
        return self.to_image(self.to_pixels(x))  # (B, S*S*3) -> (B, S, S, 3)

    def call(self, text_embeddings, training=False):
        images, _, _ = self._forward(text_embeddings, training=training)
        return images

    def _forward(self, embeddings, training):
        z_mean, z_log_var = self.encode(embeddings, training=training)
        z = self.sample(z_mean, z_log_var) if training else z_mean  # inference decodes the mean
        return self.decode(z, training=training), z_mean, z_log_var

    def compute_losses(self, images, predicted, z_mean, z_log_var):
        reconstruction = ops.mean(ops.square(ops.cast(images, predicted.dtype) - predicted))  # over every pixel
        kl = kl_divergence(z_mean, z_log_var)  # mean over batch and latent
        return reconstruction + self.kl_weight * kl, reconstruction, kl

    def _update_trackers(self, loss, reconstruction, kl):
        self.loss_tracker.update_state(loss)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return {metric.name: metric.result() for metric in self.metrics}

    def train_step(self, data):
        embeddings, images, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            predicted, z_mean, z_log_var = self._forward(embeddings, training=True)
            loss, reconstruction, kl = self.compute_losses(images, predicted, z_mean, z_log_var)
        variables = self.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        return self._update_trackers(loss, reconstruction, kl)

    def test_step(self, data):
        # Same losses with z = z_mean (no sampling, no dropout).
        embeddings, images, _ = keras.utils.unpack_x_y_sample_weight(data)
        predicted, z_mean, z_log_var = self._forward(embeddings, training=False)
        return self._update_trackers(*self.compute_losses(images, predicted, z_mean, z_log_var))

    def build_for(self, batch_size: int = 2):
        """Create the weights by running a dummy batch (Keras builds subclassed models lazily)."""
        self(ops.zeros((batch_size, self.embedding_dim)))
        return self

    def count_trainable_parameters(self) -> int:
        return int(sum(np.prod(variable.shape) for variable in self.trainable_variables))

    def get_config(self):
        return {**super().get_config(), "embedding_dim": self.embedding_dim, "encoder_units": self.encoder_units,
                "latent_dim": self.latent_dim, "decoder_units": list(self.decoder_units), "dropout": self.dropout,
                "image_size": self.image_size, "kl_weight": self.kl_weight, "seed": self.seed}


def report_model(number: int, embedding_dim: int = GLOVE_DIM, seed: int | None = None):
    """The report's model 1, 2 or 3: (built and compiled `TextToImageVAE`, its RMSprop optimizer)."""
    if number not in REPORT_MODELS:
        raise ValueError(f"The report has models 1, 2 and 3 (got {number!r}).")
    settings = dict(REPORT_MODELS[number])
    learning_rate = settings.pop("learning_rate")
    model = TextToImageVAE(embedding_dim=embedding_dim, seed=seed, name=f"glove_vae_{number}", **settings)
    optimizer = keras.optimizers.RMSprop(learning_rate=learning_rate)
    model.compile(optimizer=optimizer)
    return model.build_for(), optimizer


def letterbox(image_uint8, size: int = IMAGE_SIZE, canvas: int = 256) -> np.ndarray:
    """The report's target image: fit the image into a `canvas` x `canvas` black square (aspect ratio
    kept, centred), resize that square to `size` x `size` and divide by 255 -> float32 (size, size, 3)."""
    array = np.asarray(image_uint8)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4) or array.dtype != np.uint8:
        raise ValueError(f"letterbox expects a uint8 (H, W, 3) image, got {array.dtype} {array.shape}.")
    image = Image.fromarray(array[..., :3])
    scale = canvas / max(image.size)
    width, height = (max(1, round(side * scale)) for side in image.size)
    square = Image.new("RGB", (canvas, canvas))  # black
    square.paste(image.resize((width, height), Image.BILINEAR), ((canvas - width) // 2, (canvas - height) // 2))
    if size != canvas:
        square = square.resize((size, size), Image.BILINEAR)
    return np.asarray(square, dtype=np.float32) / 255.0
