"""Building blocks shared by every StackGAN stage.

Conventions from the official StackGAN (docs/reference.md#conventions):
- every convolution is bias-free except the final logit convolutions;
- BatchNorm after every convolution except the first discriminator convolution and the
  image-output convolution;
- weights ~ N(0, 0.02), BatchNorm gamma ~ N(1, 0.02), beta = 0.
"""

from __future__ import annotations

import keras
from keras import layers, ops


def weight_init():
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def batch_norm(name=None):
    """StackGAN's BatchNorm. Built inside a multi-replica strategy scope it synchronises its batch
    statistics across replicas, so a distributed step normalises over the whole global batch."""
    return FusedBatchNormalization(
        gamma_initializer=keras.initializers.RandomNormal(mean=1.0, stddev=0.02),
        beta_initializer="zeros",
        synchronized=keras.backend.backend() == "tensorflow" and _num_replicas() > 1,
        name=name,
    )


@keras.saving.register_keras_serializable(package="t2ilib")
class FusedBatchNormalization(layers.BatchNormalization):
    """`keras.layers.BatchNormalization` computed by TensorFlow's fused kernel.

    Keras 3 normalises with separate ops (moments, subtract, scale, ...) and differentiates
    through each of them: about ten passes over the activations forward and backward. The fused
    kernel (FusedBatchNormV3, oneDNN on CPUs, cuDNN on GPUs) does it in one op and its gradient
    in another; on this 2-core CPU that made the whole Stage-I step faster (benchmarks/RESULTS.md).
    Same weights, same moving-statistics update and the same numbers up to float round-off.
    Channels-last inputs of rank 2 (Dense outputs) or 4; anything else (masks, renorm,
    synchronised replicas, other axes) takes the Keras path.
    """

    def call(self, inputs, training=None, mask=None):
        rank = len(inputs.shape)
        if (keras.backend.backend() != "tensorflow" or mask is not None or self.renorm or self.synchronized
                or rank not in (2, 4) or self.axis not in (-1, rank - 1) or not (self.scale and self.center)):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = inputs if rank == 4 else tf.reshape(inputs, (-1, 1, 1, inputs.shape[-1]))  # (B, 1, 1, C)
        if x.dtype not in (tf.float16, tf.bfloat16, tf.float32):
            x = tf.cast(x, "float32")
        gamma, beta = ops.cast(self.gamma, "float32"), ops.cast(self.beta, "float32")
        if training and self.trainable:
            outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                x, gamma, beta, epsilon=self.epsilon, data_format="NHWC", is_training=True)
            count = ops.cast(ops.size(x) // x.shape[-1], "float32")
            variance = variance * (count - 1.0) / ops.maximum(count, 1.0)  # the kernel returns the unbiased one
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
                x, gamma, beta, mean=ops.cast(self.moving_mean, "float32"),
                variance=ops.cast(self.moving_variance, "float32"), epsilon=self.epsilon, data_format="NHWC",
                is_training=False)
        if rank == 2:
            outputs = tf.reshape(outputs, (-1, inputs.shape[-1]))
        return ops.cast(outputs, self.compute_dtype)


def _num_replicas() -> int:
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def conv(filters, kernel_size, strides=1, padding="same", use_bias=False, name=None):
    return layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias,
                         kernel_initializer=weight_init(), name=name)


def activation(name: str):
    """The activations the report compared (and the ones StackGAN uses)."""
    if name == "relu":
        return layers.ReLU()
    if name == "leaky_relu":
        return layers.LeakyReLU(negative_slope=0.2)
    if name == "selu":
        return layers.Activation("selu")
    raise ValueError(f"Unknown activation {name!r}; choose relu, leaky_relu or selu.")


class ConditioningAugmentation(layers.Layer):
    """Text embedding -> condition code c ~ N(mu, sigma^2), as in StackGAN.

    Dense(embedding -> 2*condition_dim) + LeakyReLU(0.2) (official TF code; the PyTorch port's
    ReLU would force sigma >= 1), split into mu and log-variance.
    In training, c = mu + exp(logvar / 2) * eps; in inference c = mu, so that sample grids
    with fixed noise are exactly reproducible.
    """

    def __init__(self, condition_dim: int, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.condition_dim = condition_dim
        self.dense = layers.Dense(2 * condition_dim, kernel_initializer=weight_init(), name="dense")
        self.activation = layers.LeakyReLU(negative_slope=0.2)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, embeddings, training=False, noise=None):
        """`noise`: optional (B, condition_dim) standard-normal epsilon for training (the training
        pipeline supplies it, keyed by step); drawn from the layer's own seed otherwise."""
        statistics = self.activation(self.dense(embeddings))  # (B, 2*Ng)
        mu = statistics[:, : self.condition_dim]
        log_variance = statistics[:, self.condition_dim :]
        if training:
            if noise is None:
                eps = keras.random.normal(ops.shape(mu), dtype=mu.dtype, seed=self.seed_generator)
            else:
                eps = ops.cast(noise, mu.dtype)
            condition = mu + ops.exp(0.5 * log_variance) * eps
        else:
            condition = mu
        return condition, mu, log_variance


def kl_divergence(mu, log_variance):
    """KL(N(mu, sigma^2) || N(0, I)), averaged over batch and dimensions (official code)."""
    return ops.mean(-0.5 * (1.0 + log_variance - ops.square(mu) - ops.exp(log_variance)))


def global_mean(per_example):
    """Mean of a per-example loss (B,) over the *global* batch.

    Without a distribution strategy this is the plain mean. Under one, each replica divides its
    sum by the global batch size (`tf.nn.compute_average_loss`), so that the gradients the
    optimizer sums across replicas equal the gradient of the mean over the whole batch.
    """
    import tensorflow as tf

    return tf.nn.compute_average_loss(ops.cast(per_example, "float32"))


def hardest_mismatched_logits(discriminator, features, embeddings, count: int, **logit_kwargs):
    """For each real image, the highest logit among `count` other captions of the batch:
    max over k = 1..count of D(x_i, s_(i-k) mod B), scored on the image's precomputed features.

    Hardest-negative mining (as in VSE++, Faghri et al. 2018): a random other caption usually
    differs from the image in an attribute the discriminator already checks, so it teaches
    little; the best-scoring of several is the one it confuses, e.g. a caption that differs in
    one word. A caption of the same image can land among the k (a batch drawn at random from N
    captions of N/5 images holds one with probability about 4/N per pair); it is rare, and it is
    counted as mismatched, as a random wrong image of the same picture would never be.

    `discriminator.logits(features, embeddings, **logit_kwargs)` scores precomputed image features
    (DF-GAN's and StackGAN Stage-I's discriminators both split `features` / `logits`).
    """
    rolled = [discriminator.logits(features, ops.roll(embeddings, k, axis=0), **logit_kwargs)
              for k in range(1, count + 1)]
    return ops.max(ops.stack(rolled), axis=0)  # (B,)


def symmetric_contrastive_loss(image_codes, text_codes, temperature: float):
    """Symmetric InfoNCE over a batch: image i must pick caption i among the batch's captions, and
    caption i image i; the mean of the two cross-entropies of the (B, B) cosine-similarity logits
    `normalize(image) . normalize(text)^T / temperature` (CLIP's loss; the kit's judge and DF-GAN's
    `contrastive_weight` use it). Per replica batch, float32."""
    image_codes = ops.normalize(ops.cast(image_codes, "float32"), axis=-1)
    text_codes = ops.normalize(ops.cast(text_codes, "float32"), axis=-1)
    logits = ops.matmul(image_codes, ops.transpose(text_codes)) / temperature  # (B, B)
    labels = ops.arange(ops.shape(logits)[0])
    return 0.5 * (ops.mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
                  + ops.mean(keras.losses.sparse_categorical_crossentropy(labels, ops.transpose(logits),
                                                                          from_logits=True)))


def global_kl_divergence(mu, log_variance):
    """`kl_divergence` as a loss term: mean over dimensions, `global_mean` over the batch."""
    return global_mean(ops.mean(-0.5 * (1.0 + log_variance - ops.square(mu) - ops.exp(log_variance)), axis=-1))


def phase_kernel(kernel):
    """The (3, 3, C, F) kernel of a conv3x3 "same" applied after nearest x2 upsampling, as the
    (2, 2, C, 4F) kernel of one 2x2 "valid" convolution of the small input padded by one pixel
    (`upsample_conv3x3`). Along each axis the upsampled rows 2i-1, 2i, 2i+1 under the taps
    k0, k1, k2 are the small rows i-1, i, i (even outputs: taps k0 | k1 + k2) and the rows
    2i, 2i+1, 2i+2 are i, i, i+1 (odd outputs: k0 + k1 | k2). Output groups in the order of
    the phases (row, column) = (0, 0), (0, 1), (1, 0), (1, 1)."""

    def phases(k, axis):
        k0, k1, k2 = ops.unstack(k, 3, axis=axis)
        return ops.stack([k0, k1 + k2], axis=axis), ops.stack([k0 + k1, k2], axis=axis)

    return ops.concatenate([column for row in phases(kernel, 0) for column in phases(row, 1)], axis=-1)


def upsample_conv3x3(x, kernel):
    """conv3x3 "same" (no bias) of the nearest-x2 upsampled `x`, without upsampling: one 2x2
    convolution of `x` gives the four output phases, interleaved into the (B, 2H, 2W, F) map.

    The same linear map of `x` and `kernel` as `Conv2D(F, 3, padding="same")(UpSampling2D(2)(x))`
    (tests/test_models.py checks it, up to float round-off): 4 x 4 = 16 multiply-adds per
    output pixel and input channel instead of 36, and the kernel's gradient flows back through
    `phase_kernel`. XLA-compiled on a 2-core CPU the four up-blocks' forward and backward
    passes take 1.6-1.8x fewer CPU seconds (benchmarks/RESULTS.md)."""
    height, width, filters = x.shape[1], x.shape[2], kernel.shape[-1]
    y = ops.conv(ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), ops.cast(phase_kernel(kernel), x.dtype),
                 padding="valid")  # (B, H + 1, W + 1, 4F): phase (a, b) of output pixel (i, j) at (i + a, j + b)
    p00, p01 = y[:, :height, :width, :filters], y[:, :height, 1:, filters : 2 * filters]
    p10, p11 = y[:, 1:, :width, 2 * filters : 3 * filters], y[:, 1:, 1:, 3 * filters :]
    rows = ops.stack([ops.stack([p00, p01], axis=3), ops.stack([p10, p11], axis=3)], axis=2)  # (B, H, 2, W, 2, F)
    return ops.reshape(rows, (-1, 2 * height, 2 * width, filters))


class UpBlock(layers.Layer):
    """Nearest x2 upsampling -> conv3x3 -> BatchNorm -> activation.

    The upsampling and the convolution are computed together by `upsample_conv3x3` (same
    numbers, 2.25x fewer multiply-adds); `self.conv` holds the conv3x3's kernel, as before.
    """

    def __init__(self, filters: int, activation_name: str = "relu", **kwargs):
        super().__init__(autocast=False, **kwargs)  # the kernel stays float32 until phase_kernel has summed it
        self.conv = conv(filters, 3)
        self.norm = batch_norm()
        self.activation = activation(activation_name)

    def build(self, input_shape):
        height, width = (None if side is None else 2 * side for side in input_shape[1:3])
        self.conv.build((input_shape[0], height, width, input_shape[-1]))
        self.built = True

    def call(self, x, training=False):
        return self.activation(self.norm(upsample_conv3x3(x, self.conv.kernel), training=training))


class DownBlock(layers.Layer):
    """conv4x4 stride 2 -> [BatchNorm] -> LeakyReLU(0.2)."""

    def __init__(self, filters: int, normalize: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.conv = conv(filters, 4, strides=2)
        self.norm = batch_norm() if normalize else None
        self.activation = layers.LeakyReLU(negative_slope=0.2)

    def call(self, x, training=False):
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x, training=training)
        return self.activation(x)


class ConditionalLogits(layers.Layer):
    """Discriminator head: image features (B, 4, 4, C) + text embedding -> one logit per image.

    The text gets its own Dense(embedding -> condition_dim) + LeakyReLU (paper and TF code),
    tiled to 4x4 and concatenated; then conv (joint_kernel_size) -> BN -> LeakyReLU ->
    conv4x4 valid with bias -> (B,) logits.
    """

    def __init__(self, filters: int, condition_dim: int, joint_kernel_size: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.text_dense = layers.Dense(condition_dim, kernel_initializer=weight_init(), name="text_dense")
        self.text_activation = layers.LeakyReLU(negative_slope=0.2)
        self.joint_conv = conv(filters, joint_kernel_size)
        self.joint_norm = batch_norm()
        self.joint_activation = layers.LeakyReLU(negative_slope=0.2)
        self.logit_conv = conv(1, 4, padding="valid", use_bias=True)

    def call(self, features, embeddings, training=False):
        text = self.text_activation(self.text_dense(embeddings))  # (B, Ng)
        height, width = features.shape[1], features.shape[2]
        text = ops.tile(text[:, None, None, :], (1, height, width, 1))  # (B, 4, 4, Ng)
        x = ops.concatenate([features, ops.cast(text, features.dtype)], axis=-1)
        x = self.joint_activation(self.joint_norm(self.joint_conv(x), training=training))
        return ops.reshape(self.logit_conv(x), (-1,))


class UnconditionalLogits(layers.Layer):
    """Stage-II's extra head: conv4x4 valid with bias on the 4x4 features -> (B,) logits."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.logit_conv = conv(1, 4, padding="valid", use_bias=True)

    def call(self, features):
        return ops.reshape(self.logit_conv(features), (-1,))


class ConvBlock(layers.Layer):
    """conv (bias-free) -> [BatchNorm] -> activation: Stage-II's image encoder and its
    discriminator's 3x3 convolutions. `activation_name` as in `activation()`.
    """

    def __init__(self, filters: int, kernel_size: int, strides: int = 1, normalize: bool = True,
                 activation_name: str = "relu", **kwargs):
        super().__init__(**kwargs)
        self.conv = conv(filters, kernel_size, strides=strides)
        self.norm = batch_norm() if normalize else None
        self.activation = activation(activation_name)

    def call(self, x, training=False):
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x, training=training)
        return self.activation(x)


class ResidualBlock(layers.Layer):
    """Stage-II residual block: x -> conv3x3 -> BN -> ReLU -> conv3x3 -> BN, add x, ReLU.

    Keeps the shape (B, H, W, C); `filters` must equal the input's C.
    """

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.conv_1 = conv(filters, 3)
        self.norm_1 = batch_norm()
        self.conv_2 = conv(filters, 3)
        self.norm_2 = batch_norm()

    def call(self, x, training=False):
        residual = ops.relu(self.norm_1(self.conv_1(x), training=training))
        residual = self.norm_2(self.conv_2(residual), training=training)
        return ops.relu(x + residual)


class ConditionalGAN(keras.Model):
    """What every text-conditioned GAN of the kit shares (StackGAN Stage-I, DF-GAN): a generator
    and a discriminator, `compile(d_optimizer=..., g_optimizer=...)`, `build_all` (every weight
    and optimizer slot created, so a checkpoint can be restored into them) and `sampler`, the
    generator that sample grids, guards and evaluation draw from (images first:
    `t2ilib.models.sampling`). A family adds its losses in `train_step` and its metric trackers."""

    def __init__(self, generator, discriminator, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator

    @property
    def sampler(self):
        """The generator to draw images from: the one trained here (DF-GAN may keep an average)."""
        return self.generator

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer

    def build_all(self):
        """Create every weight and optimizer slot now, so a checkpoint can be restored into them."""
        self.generator.build_for()
        self.discriminator.build_for()
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)
        self.built = True  # every sub-model is built: `fit` under a strategy must not build it again
        return self

    def call(self, embeddings, noise, training=False):
        return self.sampler(embeddings, noise, training=training)[0]  # images first (t2ilib.models.sampling)

