"""DF-GAN (Tao et al., CVPR 2022): a one-stage text-to-image GAN, as Keras 3 subclassed models.

Read top to bottom: the deep fusion blocks, the generator, the discriminator with its
conditional head, the two losses, then `DFGAN`, the `keras.Model` whose `train_step` holds
them, so that training is `model.fit(...)` as for `StackGANStage1`. Architecture and counts:
docs/reference.md#df-gan.

What is different from StackGAN Stage-I:
- no BatchNorm and no conditioning augmentation: the sentence vector (with the noise) sets a
  per-channel scale and shift in every block of the generator ("deep text-image fusion");
- the discriminator's blocks are residual, each scaled by a learned gamma that starts at 0;
- hinge loss, and a matching-aware gradient penalty (MA-GP) that keeps D smooth around real
  images with their own captions, with respect to the image AND the sentence.

At the official settings (nf 32, noise 100, sentence 256) the generator has 9,744,131 /
7,306,499 / 4,868,867 trainable parameters at 256 / 128 / 64 px, as tobran/DF-GAN's NetG.
The official NetD also creates a 1x1 shortcut conv in every same-width block and never uses
it; these blocks do not create it (the tests reconcile the two counts).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers, ops

from t2ilib.acceleration import num_replicas, precision_policy, resolve_jit_compile, wrap_optimizer
from t2ilib.models.blocks import (ConditionalGAN, global_mean, hardest_mismatched_logits,
                                  symmetric_contrastive_loss, upsample_conv3x3)
from t2ilib.models.stackgan import _num_resamplings, make_optimizer, learning_rate_schedule, unpack_batch


def block_widths(width: int, image_size: int) -> list[int]:
    """Feature widths from the image end to the 4x4 end: nf * min(2^i, 8), one per resolution.

    64 px, nf 32: [32, 64, 128, 256, 256] (64, 32, 16, 8, 4 px). The generator reads it backwards.
    """
    return [width * min(2 ** i, 8) for i in range(_num_resamplings(image_size) + 1)]


class Affine(layers.Layer):
    """x * scale(condition) + shift(condition), one scale and one shift per channel.

    scale and shift each come from Dense -> ReLU -> Dense on the condition; the last Dense starts
    at weights 0 with bias 1 (scale) or 0 (shift), so a fresh block is the identity.
    """

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.scale_hidden = layers.Dense(channels, activation="relu", name="scale_hidden")
        self.scale = layers.Dense(channels, kernel_initializer="zeros", bias_initializer="ones", name="scale")
        self.shift_hidden = layers.Dense(channels, activation="relu", name="shift_hidden")
        self.shift = layers.Dense(channels, kernel_initializer="zeros", bias_initializer="zeros", name="shift")

    def call(self, x, condition):
        scale = self.scale(self.scale_hidden(condition))[:, None, None, :]  # (B, 1, 1, C)
        shift = self.shift(self.shift_hidden(condition))[:, None, None, :]
        return x * ops.cast(scale, x.dtype) + ops.cast(shift, x.dtype)


class FusionBlock(layers.Layer):
    """Deep text-image fusion: (affine -> LeakyReLU 0.2) twice, in place of a normalisation."""

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.affine_1 = Affine(channels, name="affine_1")
        self.affine_2 = Affine(channels, name="affine_2")

    def call(self, x, condition):
        x = ops.leaky_relu(self.affine_1(x, condition), negative_slope=0.2)
        return ops.leaky_relu(self.affine_2(x, condition), negative_slope=0.2)


class FusionUpBlock(layers.Layer):
    """Nearest x2 upsampling, then shortcut + residual [fusion -> conv3x3 -> fusion -> conv3x3].

    The shortcut is a 1x1 conv when the width changes, the identity otherwise.

    Computed in an equivalent, cheaper order: the fusion and the 1x1 shortcut are per pixel, so
    they commute with nearest upsampling and run on the small map (4x fewer pixels); the first
    conv3x3 and the upsampling are one 2x2 convolution of the small map (`upsample_conv3x3`, as
    in StackGAN's up-blocks). Same weights and the same numbers up to round-off as the textbook
    order (tests/test_dfgan.py checks both gradients); `conv_1` still holds the 3x3 kernel.
    """

    def __init__(self, in_channels: int, out_channels: int, **kwargs):
        super().__init__(autocast=False, **kwargs)  # conv_1's kernel stays float32 until phase_kernel has summed it
        self.upsample = layers.UpSampling2D(2, interpolation="nearest")
        self.fusion_1 = FusionBlock(in_channels, name="fusion_1")
        self.conv_1 = layers.Conv2D(out_channels, 3, padding="same", name="conv_1")
        self.fusion_2 = FusionBlock(out_channels, name="fusion_2")
        self.conv_2 = layers.Conv2D(out_channels, 3, padding="same", name="conv_2")
        self.shortcut = layers.Conv2D(out_channels, 1, name="shortcut") if in_channels != out_channels else None

    def build(self, x_shape, condition_shape):
        height, width = (None if side is None else 2 * side for side in x_shape[1:3])
        self.conv_1.build((x_shape[0], height, width, x_shape[-1]))  # used through its kernel and bias
        self.built = True

    def call(self, x, condition):
        residual = upsample_conv3x3(self.fusion_1(x, condition), self.conv_1.kernel)  # (B, 2H, 2W, out)
        residual = residual + ops.cast(self.conv_1.bias, residual.dtype)
        residual = self.conv_2(self.fusion_2(residual, condition))
        return self.upsample(self.shortcut(x) if self.shortcut is not None else x) + residual


@keras.saving.register_keras_serializable(package="t2ilib")
class DFGANGenerator(keras.Model):
    """(sentence embedding, noise) -> image in [-1, 1].

    noise (Nz) -> Dense(4*4*8nf) -> (4, 4, 8nf) -> up-blocks fused with concat(noise, sentence)
    -> LeakyReLU -> conv3x3(3) -> tanh. `text_in_seed=True` feeds concat(noise, sentence) to the
    first Dense as well (the official model seeds from the noise only; at 32 px the object's
    position stayed at chance without it in a prototype, see issue 14).

    Returns `(images, mu, log_variance)` like `StageIGenerator`, so every Stage-I tool (sample
    grids, guards, fidelity, `sample`, `evaluate`) calls both families the same way. DF-GAN has
    no conditioning augmentation: `mu` and `log_variance` are empty (B, 0) tensors.
    """

    def __init__(self, embedding_dim: int, image_size: int = 64, generator_width: int = 32, noise_dim: int = 100,
                 text_in_seed: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.embedding_dim = embedding_dim
        self.image_size = image_size
        self.generator_width = generator_width
        self.noise_dim = noise_dim
        self.text_in_seed = text_in_seed
        widths = block_widths(generator_width, image_size)[::-1]  # 64 px: 8nf, 8nf, 4nf, 2nf, nf
        self.project = layers.Dense(4 * 4 * widths[0], name="project")
        self.reshape = layers.Reshape((4, 4, widths[0]))
        self.up_blocks = [FusionUpBlock(in_channels, out_channels, name=f"up_{i + 1}")
                          for i, (in_channels, out_channels) in enumerate(zip(widths[:-1], widths[1:]))]
        self.to_image = layers.Conv2D(3, 3, padding="same", name="to_image")
        self.tanh = layers.Activation("tanh", dtype="float32")  # images stay float32 under mixed precision

    def call(self, embeddings, noise, training=False, condition_noise=None):
        """`condition_noise` is accepted and ignored (no conditioning augmentation here)."""
        noise = ops.cast(noise, self.compute_dtype)
        condition = ops.concatenate([noise, ops.cast(embeddings, self.compute_dtype)], axis=-1)  # (B, Nz + D)
        x = self.reshape(self.project(condition if self.text_in_seed else noise))  # (B, 4, 4, 8nf)
        for block in self.up_blocks:
            x = block(x, condition)  # doubles the side, e.g. up to (B, 64, 64, nf)
        images = self.tanh(self.to_image(ops.leaky_relu(x, negative_slope=0.2)))  # (B, S, S, 3) in [-1, 1]
        empty = ops.zeros((ops.shape(images)[0], 0), dtype="float32")
        return images, empty, empty

    def build_for(self, batch_size: int = 2):
        """Create the weights by running a dummy batch (Keras builds subclassed models lazily)."""
        self(ops.zeros((batch_size, self.embedding_dim)), ops.zeros((batch_size, self.noise_dim)))
        return self

    def get_config(self):
        return {**super().get_config(), "embedding_dim": self.embedding_dim, "image_size": self.image_size,
                "generator_width": self.generator_width, "noise_dim": self.noise_dim,
                "text_in_seed": self.text_in_seed}


class ResidualDownBlock(layers.Layer):
    """shortcut + gamma * residual, gamma a learned scalar that starts at 0.

    residual: conv4x4 stride 2 -> LReLU -> conv3x3 -> LReLU (bias-free);
    shortcut: [1x1 conv when the width changes] -> 2x2 average pool.
    """

    def __init__(self, in_channels: int, out_channels: int, **kwargs):
        super().__init__(**kwargs)
        self.conv_1 = layers.Conv2D(out_channels, 4, strides=2, padding="same", use_bias=False, name="conv_1")
        self.conv_2 = layers.Conv2D(out_channels, 3, padding="same", use_bias=False, name="conv_2")
        self.shortcut = layers.Conv2D(out_channels, 1, name="shortcut") if in_channels != out_channels else None
        self.pool = layers.AveragePooling2D(2)

    def build(self, input_shape):
        self.gamma = self.add_weight(shape=(), initializer="zeros", name="gamma")

    def call(self, x):
        residual = ops.leaky_relu(self.conv_1(x), negative_slope=0.2)
        residual = ops.leaky_relu(self.conv_2(residual), negative_slope=0.2)
        shortcut = self.pool(self.shortcut(x) if self.shortcut is not None else x)
        return shortcut + ops.cast(self.gamma, x.dtype) * residual


class ConditionalHead(layers.Layer):
    """The official NetC: concat(features (B, 4, 4, 8nf), sentence tiled 4x4) -> conv3x3 to 2nf
    -> LReLU -> conv4x4 valid to one logit per image (bias-free).

    `projection=True` adds the projection discriminator's term (Miyato & Koyama, ICLR 2018;
    not in DF-GAN): the inner product of the spatially averaged features with a linear map of
    the sentence, `<mean(features), W s>`. It makes "this image feature goes with this word" one
    weight, where the concat head must build it from a hidden unit; docs/diagnosis.md (g) shows
    the image features carrying shape while the concat head ignored it.
    """

    def __init__(self, discriminator_width: int, feature_channels: int | None = None, projection: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.joint_conv = layers.Conv2D(2 * discriminator_width, 3, padding="same", use_bias=False, name="joint_conv")
        self.logit_conv = layers.Conv2D(1, 4, padding="valid", use_bias=False, name="logit_conv")
        if projection and not feature_channels:
            raise ValueError("projection=True needs feature_channels, the width of the features it is applied to.")
        self.projection = layers.Dense(feature_channels, use_bias=False, name="projection") if projection else None

    def call(self, features, embeddings):
        height, width = features.shape[1], features.shape[2]
        text = ops.tile(ops.cast(embeddings, features.dtype)[:, None, None, :], (1, height, width, 1))  # (B, 4, 4, D)
        x = ops.leaky_relu(self.joint_conv(ops.concatenate([features, text], axis=-1)), negative_slope=0.2)
        logits = ops.reshape(self.logit_conv(x), (-1,))  # (B,)
        if self.projection is not None:
            projected = self.projection(ops.cast(embeddings, features.dtype))  # (B, 8nf)
            logits = logits + ops.sum(ops.mean(features, axis=(1, 2)) * projected, axis=-1)
        return logits


@keras.saving.register_keras_serializable(package="t2ilib")
class DFGANDiscriminator(keras.Model):
    """(image, sentence embedding) -> one logit: "a real image that matches this sentence?"

    conv3x3 to nf -> residual down-blocks to (B, 4, 4, 8nf) (the official NetD), then the
    conditional head (`head`, the official NetC).
    """

    def __init__(self, embedding_dim: int, image_size: int = 64, discriminator_width: int = 32,
                 projection: bool = False, contrastive_dim: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.embedding_dim = embedding_dim
        self.image_size = image_size
        self.discriminator_width = discriminator_width
        self.projection = projection
        self.contrastive_dim = int(contrastive_dim)
        widths = block_widths(discriminator_width, image_size)  # 64 px: nf, 2nf, 4nf, 8nf, 8nf
        self.from_image = layers.Conv2D(widths[0], 3, padding="same", name="from_image")
        self.down_blocks = [ResidualDownBlock(in_channels, out_channels, name=f"down_{i + 1}")
                            for i, (in_channels, out_channels) in enumerate(zip(widths[:-1], widths[1:]))]
        self.head = ConditionalHead(discriminator_width, feature_channels=widths[-1], projection=projection,
                                    name="conditional_head")
        if self.contrastive_dim:  # `matching_codes`: not in the official NetD
            self.image_code = layers.Dense(self.contrastive_dim, name="image_code")
            self.text_code = layers.Dense(self.contrastive_dim, name="text_code")

    def features(self, images):
        """The image part (the official NetD): (B, S, S, 3) -> (B, 4, 4, 8nf), before any text."""
        x = self.from_image(ops.cast(images, self.compute_dtype))
        for block in self.down_blocks:
            x = block(x)
        return x

    def logits(self, features, embeddings):
        """The conditional head (the official NetC) on precomputed image features: (B,) float32."""
        return ops.cast(self.head(features, embeddings), "float32")

    def matching_codes(self, features, embeddings):
        """(image codes, sentence codes), each (B, contrastive_dim): a linear map of the spatially
        averaged image features and of the sentence, compared by `symmetric_contrastive_loss`
        (DF-GAN's `contrastive_weight`; needs `contrastive_dim > 0`)."""
        if not self.contrastive_dim:
            raise ValueError("matching_codes needs a discriminator built with contrastive_dim > 0.")
        pooled = ops.mean(features, axis=(1, 2))
        return self.image_code(pooled), self.text_code(ops.cast(embeddings, pooled.dtype))

    def call(self, images, embeddings, training=False):
        return self.logits(self.features(images), embeddings)

    def build_for(self, batch_size: int = 2):
        if self.contrastive_dim:  # before the first call, which marks the whole model built
            self.image_code.build((None, block_widths(self.discriminator_width, self.image_size)[-1]))
            self.text_code.build((None, self.embedding_dim))
        self(ops.zeros((batch_size, self.image_size, self.image_size, 3)), ops.zeros((batch_size, self.embedding_dim)))
        return self

    def get_config(self):
        return {**super().get_config(), "embedding_dim": self.embedding_dim, "image_size": self.image_size,
                "discriminator_width": self.discriminator_width, "projection": self.projection,
                "contrastive_dim": self.contrastive_dim}


def hinge_discriminator_loss(real_logits, fake_logits, mismatched_logits):
    """relu(1 - D(x, s)) + 1/2 [relu(1 + D(G(z, s), s)) + relu(1 + D(x', s))], over the global batch.

    x' is a real image of another caption (the kit's "wrong" image): real, but not what s says.
    """
    return (global_mean(ops.relu(1.0 - real_logits))
            + 0.5 * (global_mean(ops.relu(1.0 + fake_logits)) + global_mean(ops.relu(1.0 + mismatched_logits))))


def hinge_generator_loss(fake_logits):
    """-D(G(z, s), s), over the global batch."""
    return global_mean(-fake_logits)


def matching_aware_gradient_penalty(image_gradients, sentence_gradients, weight: float = 2.0, power: float = 6.0):
    """MA-GP: weight * mean over samples of ||(dD/dx, dD/ds)||_2 ^ power, the two gradients of
    D(x, s) on a real image with its own sentence joined per sample.

    Written as (sum of squares)^(power / 2), which has a finite gradient at 0 (a square root
    would not).
    """
    batch = ops.shape(image_gradients)[0]
    squared = (ops.sum(ops.square(ops.reshape(ops.cast(image_gradients, "float32"), (batch, -1))), axis=-1)
               + ops.sum(ops.square(ops.cast(sentence_gradients, "float32")), axis=-1))  # (B,)
    return weight * global_mean(ops.power(squared, power / 2.0))


class DFGAN(ConditionalGAN):
    """DF-GAN: `compile(d_optimizer=..., g_optimizer=...)`, then `fit(dataset)`.

    The dataset is the one StackGAN Stage-I trains on (`make_gan_dataset`, see
    `stackgan.unpack_batch`): real images, their caption embeddings, mismatched real images,
    and optionally the noise keyed by step (the conditioning epsilon is not used here).

    One step: D on (real, s) -> 1, (fake, s) and (wrong, s) -> -1 (hinge) plus MA-GP on (real, s);
    then G against the updated D: -D(fake, s). With `hard_negatives = K > 0` the mismatched term
    is, instead of one random wrong image, the hardest of K other captions of the batch on the
    real images (`hardest_mismatched_logits`; not in the official code, see its docstring).

    With `contrastive_weight = w > 0` (not in the official DF-GAN; the image-sentence term of
    XMC-GAN, Zhang et al. CVPR 2021) both losses gain w x `symmetric_contrastive_loss` of the
    discriminator's `matching_codes` over the batch: D's on the real images, G's on the fakes.
    Each image must pick its own caption among all the batch's captions, so the caption that
    differs from it in one attribute, which the hinge term's single random wrong image rarely is,
    is a negative in every batch that holds one; and G is asked directly to make its image
    recognisable as its caption's. With `ema_decay > 0`, `ema_generator` keeps an
    exponential moving average of the generator's weights after every step; `sampler` is the
    generator that sample grids, fidelity and checkpoints' users draw from (the average if kept).
    """

    def __init__(self, generator: DFGANGenerator, discriminator: DFGANDiscriminator,
                 gradient_penalty_weight: float = 2.0, gradient_penalty_power: float = 6.0,
                 ema_decay: float = 0.0, ema_generator: DFGANGenerator | None = None, seed: int | None = None,
                 hard_negatives: int = 0, contrastive_weight: float = 0.0, contrastive_temperature: float = 0.1,
                 gradient_penalty_rows: int = 0, **kwargs):
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) (got {ema_decay}); 0 turns the average off, 0.999 is typical.")
        if ema_decay and ema_generator is None:
            raise ValueError("ema_decay > 0 needs an ema_generator: a second generator built like the first.")
        if gradient_penalty_rows < 0:
            raise ValueError(f"gradient_penalty_rows must be >= 0 (got {gradient_penalty_rows}); 0 is the whole batch.")
        if hard_negatives < 0:
            raise ValueError(f"hard_negatives must be >= 0 (got {hard_negatives}); 0 is the official random wrong image.")
        if contrastive_weight < 0 or contrastive_temperature <= 0:
            raise ValueError(f"contrastive_weight must be >= 0 and contrastive_temperature > 0 (got "
                             f"{contrastive_weight}, {contrastive_temperature}); weight 0 is the official loss.")
        if contrastive_weight and not discriminator.contrastive_dim:
            raise ValueError("contrastive_weight > 0 needs a discriminator built with contrastive_dim > 0.")
        super().__init__(generator, discriminator, **kwargs)
        self.hard_negatives = int(hard_negatives)
        self.contrastive_weight = float(contrastive_weight)
        self.contrastive_temperature = float(contrastive_temperature)
        self.gradient_penalty_weight = gradient_penalty_weight
        self.gradient_penalty_power = gradient_penalty_power
        self.gradient_penalty_rows = int(gradient_penalty_rows)
        self.ema_decay = ema_decay
        self.ema_generator = ema_generator if ema_decay else None
        if self.ema_generator is not None:
            self.ema_generator.trainable = False
        self.noise_dim = generator.noise_dim
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.penalty_tracker = keras.metrics.Mean(name="gradient_penalty")
        self.real_logit_tracker = keras.metrics.Mean(name="real_logit")  # mean D(real, s)
        self.fake_logit_tracker = keras.metrics.Mean(name="fake_logit")  # mean D(fake, s)
        self.mismatched_logit_tracker = keras.metrics.Mean(name="mismatched_logit")  # mean mismatched-term logit
        # The contrastive terms (contrastive_weight > 0): D's on real images, G's on fakes, unweighted.
        self.real_contrastive_tracker = keras.metrics.Mean(name="real_contrastive")
        self.fake_contrastive_tracker = keras.metrics.Mean(name="fake_contrastive")

    @property
    def metrics(self):
        trackers = [self.d_loss_tracker, self.g_loss_tracker, self.penalty_tracker, self.real_logit_tracker,
                    self.fake_logit_tracker, self.mismatched_logit_tracker]
        if self.contrastive_weight:
            trackers += [self.real_contrastive_tracker, self.fake_contrastive_tracker]
        return trackers

    def contrastive_term(self, features, embeddings):
        """`symmetric_contrastive_loss` of the discriminator's matching codes (unweighted)."""
        image_codes, text_codes = self.discriminator.matching_codes(features, embeddings)
        return symmetric_contrastive_loss(image_codes, text_codes, self.contrastive_temperature)

    @property
    def sampler(self) -> DFGANGenerator:
        return self.ema_generator if self.ema_generator is not None else self.generator

    def build_all(self):
        """`ConditionalGAN.build_all`, and the weight average starts as a copy of the generator."""
        super().build_all()
        if self.ema_generator is not None:
            self.ema_generator.build_for()
            for average, weight in zip(self.ema_generator.weights, self.generator.weights):
                average.assign(weight)
        return self

    def discriminator_terms(self, real_images, fake_images, wrong_images, embeddings):
        """(real features, real logits, fake logits, mismatched logits, MA-GP), on D's tape.

        The penalty's input gradients are taken on the first `gradient_penalty_rows` real images
        (all when 0, the official); every other image of the step (the other real rows, the fakes,
        and the wrong images unless `hard_negatives` scores the real ones against other captions)
        goes through D once, as one batch: D has no batch statistics, so this is the same function
        as separate passes, in fewer, larger convolutions. With `gradient_penalty_weight` 0 there is
        no penalty and no input tape.
        """
        discriminator = self.discriminator
        penalised = bool(self.gradient_penalty_weight)
        # real rows [:split] are penalised, [split:] join the one batch
        split = (self.gradient_penalty_rows or ops.shape(real_images)[0]) if penalised else 0
        penalised_images, penalised_embeddings = real_images[:split], embeddings[:split]
        other_real, other_embeddings = real_images[split:], embeddings[split:]
        penalty = ops.zeros((), "float32")
        if penalised:
            with tf.GradientTape(watch_accessed_variables=False) as input_tape:
                input_tape.watch([penalised_images, penalised_embeddings])
                penalised_features = discriminator.features(penalised_images)
                penalised_logits = discriminator.logits(penalised_features, penalised_embeddings)
            image_gradients, sentence_gradients = input_tape.gradient(penalised_logits,
                                                                      [penalised_images, penalised_embeddings])
            penalty = matching_aware_gradient_penalty(image_gradients, sentence_gradients,
                                                      self.gradient_penalty_weight, self.gradient_penalty_power)
        fake_images = tf.stop_gradient(fake_images)
        parts = [other_real, ops.cast(fake_images, other_real.dtype)]
        if not self.hard_negatives:
            parts.append(ops.cast(wrong_images, other_real.dtype))
        joint_embeddings = ops.concatenate([other_embeddings] + [embeddings] * (len(parts) - 1), axis=0)
        joint_features = discriminator.features(ops.concatenate(parts, axis=0))
        joint_logits = discriminator.logits(joint_features, joint_embeddings)
        others, batch = ops.shape(other_real)[0], ops.shape(fake_images)[0]
        real_features, real_logits = joint_features[:others], joint_logits[:others]
        if penalised:
            real_features = ops.concatenate([penalised_features, real_features], axis=0)
            real_logits = ops.concatenate([penalised_logits, real_logits], axis=0)
        fake_logits = joint_logits[others:others + batch]
        if self.hard_negatives:
            wrong_logits = hardest_mismatched_logits(discriminator, real_features, embeddings, self.hard_negatives)
        else:
            wrong_logits = joint_logits[others + batch:]
        return real_features, real_logits, fake_logits, wrong_logits, penalty

    def train_step(self, data):
        real_images, embeddings, wrong_images, noise, _ = unpack_batch(self, data)

        with tf.GradientTape() as g_tape:
            fake_images, _, _ = self.generator(embeddings, noise, training=True)

            # Discriminator step, not recorded on the generator's tape.
            with g_tape.stop_recording():
                with tf.GradientTape() as d_tape:
                    real_features, real_logits, fake_logits, wrong_logits, penalty = self.discriminator_terms(
                        real_images, fake_images, wrong_images, embeddings)
                    d_loss = hinge_discriminator_loss(real_logits, fake_logits, wrong_logits) + penalty
                    if self.contrastive_weight:
                        real_contrastive = self.contrastive_term(real_features, embeddings)
                        d_loss = d_loss + self.contrastive_weight * real_contrastive
                    scaled_d_loss = self.d_optimizer.scale_loss(d_loss)
                d_variables = self.discriminator.trainable_variables
                self.d_optimizer.apply(d_tape.gradient(scaled_d_loss, d_variables), d_variables)

            # Generator step against the updated discriminator.
            if self.contrastive_weight:
                fake_features = self.discriminator.features(fake_images)
                g_loss = hinge_generator_loss(self.discriminator.logits(fake_features, embeddings))
                fake_contrastive = self.contrastive_term(fake_features, embeddings)
                g_loss = g_loss + self.contrastive_weight * fake_contrastive
            else:
                g_loss = hinge_generator_loss(self.discriminator(fake_images, embeddings, training=True))
            scaled_g_loss = self.g_optimizer.scale_loss(g_loss)
        g_variables = self.generator.trainable_variables
        self.g_optimizer.apply(g_tape.gradient(scaled_g_loss, g_variables), g_variables)
        if self.ema_generator is not None:
            for average, weight in zip(self.ema_generator.weights, self.generator.weights):
                average.assign(self.ema_decay * average + (1.0 - self.ema_decay) * weight)

        replicas = num_replicas()  # losses are per-replica shares of the global mean
        self.d_loss_tracker.update_state(d_loss * replicas)
        self.g_loss_tracker.update_state(g_loss * replicas)
        self.penalty_tracker.update_state(penalty * replicas)
        self.real_logit_tracker.update_state(ops.mean(real_logits))
        self.fake_logit_tracker.update_state(ops.mean(fake_logits))
        self.mismatched_logit_tracker.update_state(ops.mean(wrong_logits))
        if self.contrastive_weight:
            self.real_contrastive_tracker.update_state(real_contrastive)
            self.fake_contrastive_tracker.update_state(fake_contrastive)
        return {metric.name: metric.result() for metric in self.metrics}


def build_dfgan(config, embedding_dim: int, steps_per_epoch: int, strategy=None) -> DFGAN:
    """Build and compile a DF-GAN from a `RunConfig` (`model.family = "dfgan"`), like
    `build_stage1`: all weights and optimizer slots exist, in the configured precision and
    strategy. Adam's betas come from `train.beta_1` / `train.beta_2`; D's learning rate from
    `train.d_learning_rate` (None: `train.learning_rate`)."""
    with (strategy or tf.distribute.get_strategy()).scope(), precision_policy(config.train.mixed_precision):
        gan = _dfgan_models(config, embedding_dim)
        train_config = config.train

        def optimizer(learning_rate):
            schedule = learning_rate_schedule(learning_rate, steps_per_epoch, train_config.lr_decay_epochs)
            if train_config.optimizer == "adam":  # DF-GAN's Adam sets beta_2 too (0.9)
                made = keras.optimizers.Adam(learning_rate=schedule, beta_1=train_config.beta_1,
                                             beta_2=train_config.beta_2)
            else:
                made = make_optimizer(train_config.optimizer, schedule)
            return wrap_optimizer(made, train_config.mixed_precision)

        d_learning_rate = train_config.d_learning_rate or train_config.learning_rate
        gan.compile(d_optimizer=optimizer(d_learning_rate), g_optimizer=optimizer(train_config.learning_rate),
                    jit_compile=resolve_jit_compile(train_config.jit_compile, "dfgan"))
        return gan.build_all()


def _dfgan_models(config, embedding_dim: int) -> DFGAN:
    model_config = config.model

    def generator(name):
        return DFGANGenerator(embedding_dim, image_size=config.data.image_size,
                              generator_width=model_config.generator_width, noise_dim=model_config.noise_dim,
                              text_in_seed=model_config.text_in_seed, name=name)

    discriminator = DFGANDiscriminator(embedding_dim, image_size=config.data.image_size,
                                       discriminator_width=model_config.discriminator_width,
                                       projection=model_config.projection_head,
                                       contrastive_dim=model_config.contrastive_dim if model_config.contrastive_weight
                                       else 0, name="discriminator")
    ema_decay = config.train.ema_decay
    return DFGAN(generator("generator"), discriminator,
                 gradient_penalty_weight=model_config.gradient_penalty_weight,
                 gradient_penalty_power=model_config.gradient_penalty_power, ema_decay=ema_decay,
                 ema_generator=generator("ema_generator") if ema_decay else None,
                 seed=config.train.seed + 1, hard_negatives=model_config.hard_negatives,
                 contrastive_weight=model_config.contrastive_weight,
                 contrastive_temperature=model_config.contrastive_temperature,
                 gradient_penalty_rows=model_config.gradient_penalty_rows, name="dfgan")
