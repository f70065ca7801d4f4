"""StackGAN Stage-I (Zhang et al., ICCV 2017) as Keras 3 subclassed models.

Read top to bottom: the generator, the discriminator, then `StackGANStage1`, the
`keras.Model` whose `train_step` holds both losses, so that training is `model.fit(...)`.
Architecture and numbers: docs/reference.md#stackgan. At the official widths (gf=128, df=64,
Ng=128, Nz=100) with a 1024-d embedding the generator has 10,301,248 trainable parameters.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers, ops

from t2ilib.models.blocks import (
    ConditionalGAN,
    ConditionalLogits,
    ConditioningAugmentation,
    DownBlock,
    hardest_mismatched_logits,
    UpBlock,
    batch_norm,
    conv,
    global_kl_divergence,
    global_mean,
    weight_init,
)
from t2ilib.acceleration import num_replicas, precision_policy, resolve_jit_compile, wrap_optimizer


def _num_resamplings(image_size: int) -> int:
    """How many x2 steps separate a 4x4 map from `image_size` (64 -> 4, 256 -> 6)."""
    steps = math.log2(image_size / 4) if image_size >= 8 else -1
    if steps != int(steps) or steps < 1:
        raise ValueError(f"image_size must be a power of two >= 8 (got {image_size}); StackGAN uses 64 for "
                         "Stage-I and 256 for Stage-II.")
    return int(steps)


@keras.saving.register_keras_serializable(package="t2ilib")
class StageIGenerator(keras.Model):
    """(caption embedding, noise) -> image in [-1, 1], plus the CA statistics (mu, log-variance).

    concat(c, z) -> Dense(4*4*8gf) -> BN -> ReLU -> (4, 4, 8gf) -> up-blocks halving the width
    (4gf, 2gf, gf, gf/2 for 64x64) -> conv3x3(3) -> tanh.
    `last_activation` is the activation of the last up-block (the report's "last layer"
    activation: the output layer itself must stay tanh, so the variant lives just before it).
    """

    def __init__(self, embedding_dim: int, image_size: int = 64, generator_width: int = 128,
                 condition_dim: int = 128, noise_dim: int = 100, last_activation: str = "relu",
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.embedding_dim = embedding_dim
        self.image_size = image_size
        self.generator_width = generator_width
        self.condition_dim = condition_dim
        self.noise_dim = noise_dim
        self.last_activation = last_activation
        num_up = _num_resamplings(image_size)
        base = generator_width * 8
        self.conditioning = ConditioningAugmentation(condition_dim, seed=seed, name="conditioning")
        self.project = layers.Dense(4 * 4 * base, use_bias=False, kernel_initializer=weight_init(), name="project")
        self.project_norm = batch_norm(name="project_norm")
        self.reshape = layers.Reshape((4, 4, base))
        widths = [max(base // 2 ** (i + 1), 1) for i in range(num_up)]  # 64x64: 4gf, 2gf, gf, gf/2
        self.up_blocks = [
            UpBlock(width, last_activation if i == num_up - 1 else "relu", name=f"up_{i + 1}")
            for i, width in enumerate(widths)
        ]
        self.to_image = conv(3, 3, name="to_image")
        self.tanh = layers.Activation("tanh", dtype="float32")  # images stay float32 under mixed precision

    def call(self, embeddings, noise, training=False, condition_noise=None):
        """`condition_noise`: the conditioning augmentation's epsilon in training (optional)."""
        condition, mu, log_variance = self.conditioning(embeddings, training=training, noise=condition_noise)
        x = ops.concatenate([condition, ops.cast(noise, condition.dtype)], axis=-1)  # (B, Ng + Nz)
        x = ops.relu(self.project_norm(self.project(x), training=training))
        x = self.reshape(x)  # (B, 4, 4, 8gf)
        for block in self.up_blocks:
            x = block(x, training=training)  # doubles the side, e.g. up to (B, 64, 64, gf/2)
        images = self.tanh(self.to_image(x))  # (B, S, S, 3) in [-1, 1]
        return images, ops.cast(mu, "float32"), ops.cast(log_variance, "float32")

    def build_for(self, batch_size: int = 2):
        """Create the weights by running a dummy batch (Keras builds subclassed models lazily)."""
        self(ops.zeros((batch_size, self.embedding_dim)), ops.zeros((batch_size, self.noise_dim)))
        return self

    def get_config(self):
        return {**super().get_config(), "embedding_dim": self.embedding_dim, "image_size": self.image_size,
                "generator_width": self.generator_width, "condition_dim": self.condition_dim,
                "noise_dim": self.noise_dim, "last_activation": self.last_activation}


@keras.saving.register_keras_serializable(package="t2ilib")
class StageIDiscriminator(keras.Model):
    """(image, caption embedding) -> one logit: "is this a real image that matches this caption?"

    conv4x4/2 (df, no BN) -> LReLU -> conv4x4/2 (2df) -> BN -> LReLU -> ... -> (B, 4, 4, 8df),
    then the text-conditional head (`ConditionalLogits`).
    """

    def __init__(self, embedding_dim: int, image_size: int = 64, discriminator_width: int = 64,
                 condition_dim: int = 128, joint_kernel_size: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.embedding_dim = embedding_dim
        self.image_size = image_size
        self.discriminator_width = discriminator_width
        self.condition_dim = condition_dim
        self.joint_kernel_size = joint_kernel_size
        num_down = _num_resamplings(image_size)
        top = discriminator_width * 8
        widths = [max(top // 2 ** (num_down - 1 - i), 1) for i in range(num_down)]  # 64x64: df, 2df, 4df, 8df
        self.down_blocks = [DownBlock(width, normalize=i > 0, name=f"down_{i + 1}") for i, width in enumerate(widths)]
        self.head = ConditionalLogits(top, condition_dim, joint_kernel_size, name="conditional_head")

    def features(self, images, training=False):
        """The image part: (B, S, S, 3) -> (B, 4, 4, 8df), before any text."""
        x = images
        for block in self.down_blocks:
            x = block(x, training=training)
        return x

    def logits(self, features, embeddings, training=False):
        """The text-conditional head on precomputed image features: (B,) float32."""
        return ops.cast(self.head(features, embeddings, training=training), "float32")

    def call(self, images, embeddings, training=False):
        return self.logits(self.features(images, training=training), embeddings, training=training)

    def build_for(self, batch_size: int = 2):
        self(ops.zeros((batch_size, self.image_size, self.image_size, 3)), ops.zeros((batch_size, self.embedding_dim)))
        return self

    def get_config(self):
        return {**super().get_config(), "embedding_dim": self.embedding_dim, "image_size": self.image_size,
                "discriminator_width": self.discriminator_width, "condition_dim": self.condition_dim,
                "joint_kernel_size": self.joint_kernel_size}


def sigmoid_cross_entropy(labels_value: float, logits):
    """Sigmoid cross-entropy of (B, 1) logits against a constant label, averaged over the global
    batch (`global_mean`: the plain mean on one device)."""
    labels = ops.full(ops.shape(logits), labels_value, dtype=logits.dtype)
    return global_mean(ops.binary_crossentropy(labels, logits, from_logits=True))


def unpack_batch(model, data):
    """(real, embeddings, wrong, noise, condition_noise) from a training batch.

    The kit's pipeline (`make_gan_dataset(noise_dims=(Nz, Ng))`) yields
    `((real, embeddings, wrong), (noise, condition_noise))`, both noises keyed by step, so resumed
    and distributed runs draw exactly the same numbers. A plain `(real, embeddings, wrong)`
    dataset works too: the noise is then drawn from the model's seed and the conditioning
    epsilon from the conditioning layer's.
    """
    if len(data) == 2:
        (real_images, embeddings, wrong_images), (noise, condition_noise) = data
        return real_images, embeddings, wrong_images, noise, condition_noise
    real_images, embeddings, wrong_images = data
    noise = keras.random.normal((ops.shape(real_images)[0], model.noise_dim), seed=model.seed_generator)
    return real_images, embeddings, wrong_images, noise, None


class StackGANStage1(ConditionalGAN):
    """Stage-I GAN: `compile(d_optimizer=..., g_optimizer=...)`, then `fit(dataset)`.

    The dataset yields `(real_images, embeddings, wrong_images)` (optionally with the noises, see
    `unpack_batch`): a real
    image in [-1, 1], the embedding of one of its captions, and a different real image ("wrong":
    real but mismatched, the matching-aware discriminator of GAN-INT-CLS); see `unpack_batch`.

    Losses (sigmoid cross-entropy on logits):
      D = real->1 + 0.5 * (wrong->0 + fake->0)
      G = fake->1 + kl_weight * KL
    One D step then one G step per batch, from one generator forward pass.

    `hard_negatives = K > 0` (not in the paper; `model.hard_negatives`): the "wrong" term scores
    the real images against K other captions of the batch and keeps the best-scoring one
    (`hardest_mismatched_logits`) instead of one random wrong image, as DF-GAN's option does.
    `joint_batch=True` (`model.discriminator_batch = "joint"`; the official code passes the three
    batches separately): real, wrong and fake go through the discriminator as one batch, in the
    D step and in the G step, so its BatchNorm normalises over the mixture (`joint_logits`).
    """

    def __init__(self, generator: StageIGenerator, discriminator: StageIDiscriminator,
                 kl_weight: float = 2.0, seed: int | None = None, hard_negatives: int = 0,
                 joint_batch: bool = False, **kwargs):
        if hard_negatives < 0:
            raise ValueError(f"hard_negatives must be >= 0 (got {hard_negatives}); 0 is the paper's random wrong image.")
        super().__init__(generator, discriminator, **kwargs)
        self.kl_weight = kl_weight
        self.hard_negatives = int(hard_negatives)
        self.joint_batch = bool(joint_batch)
        self.noise_dim = generator.noise_dim
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.real_score_tracker = keras.metrics.Mean(name="real_score")  # mean D(real) probability
        self.fake_score_tracker = keras.metrics.Mean(name="fake_score")  # mean D(fake) probability

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.kl_tracker,
                self.real_score_tracker, self.fake_score_tracker]

    def train_step(self, data):
        real_images, embeddings, wrong_images, noise, condition_noise = unpack_batch(self, data)

        with tf.GradientTape() as g_tape:
            fake_images, mu, log_variance = self.generator(embeddings, noise, training=True,
                                                           condition_noise=condition_noise)

            # Discriminator step, not recorded on the generator's tape.
            with g_tape.stop_recording():
                with tf.GradientTape() as d_tape:
                    if self.joint_batch:  # one pass: BatchNorm sees real, wrong and fake together
                        real_logits, wrong_logits, fake_logits = self.joint_logits(
                            real_images, wrong_images, tf.stop_gradient(fake_images), embeddings)
                    elif self.hard_negatives:  # the real images' features, scored with K other captions
                        real_features = self.discriminator.features(real_images, training=True)
                        real_logits = self.discriminator.logits(real_features, embeddings, training=True)
                        wrong_logits = hardest_mismatched_logits(self.discriminator, real_features, embeddings,
                                                                 self.hard_negatives, training=True)
                    else:
                        real_logits = self.discriminator(real_images, embeddings, training=True)
                        wrong_logits = self.discriminator(wrong_images, embeddings, training=True)
                    if not self.joint_batch:
                        fake_logits = self.discriminator(tf.stop_gradient(fake_images), embeddings, training=True)
                    d_loss = (sigmoid_cross_entropy(1.0, real_logits)
                              + 0.5 * (sigmoid_cross_entropy(0.0, wrong_logits) + sigmoid_cross_entropy(0.0, fake_logits)))
                    scaled_d_loss = self.d_optimizer.scale_loss(d_loss)
                d_variables = self.discriminator.trainable_variables
                self.d_optimizer.apply(d_tape.gradient(scaled_d_loss, d_variables), d_variables)

            # Generator step against the updated discriminator.
            if self.joint_batch:  # the fakes normalised with the same mixture as in the D step
                fake_logits_for_g = self.joint_logits(real_images, wrong_images, fake_images, embeddings)[2]
            else:
                fake_logits_for_g = self.discriminator(fake_images, embeddings, training=True)
            kl = global_kl_divergence(mu, log_variance)
            g_loss = sigmoid_cross_entropy(1.0, fake_logits_for_g) + self.kl_weight * kl
            scaled_g_loss = self.g_optimizer.scale_loss(g_loss)
        g_variables = self.generator.trainable_variables
        self.g_optimizer.apply(g_tape.gradient(scaled_g_loss, g_variables), g_variables)
        return self.track(d_loss, g_loss, kl, real_logits, fake_logits)

    def joint_logits(self, real_images, wrong_images, fake_images, embeddings):
        """(real, wrong, fake) logits from one discriminator pass over the three batches together.

        With BatchNorm in the discriminator, separate passes normalise an all-matching batch
        and an all-mismatched batch each to zero mean: a channel that says "image and caption
        agree" is high for every row of the first and every row of the second alike, and the
        normalisation subtracts exactly that. One pass keeps the difference. With hard negatives
        the real images' features are scored with their own and K other captions, in the same
        pass as the fakes' features (the wrong images are not used).
        """
        if not self.hard_negatives:
            logits = self.discriminator(ops.concatenate([real_images, wrong_images, fake_images], axis=0),
                                        ops.concatenate([embeddings, embeddings, embeddings], axis=0), training=True)
            real_logits, wrong_logits, fake_logits = ops.split(logits, 3)
            return real_logits, wrong_logits, fake_logits
        count = self.hard_negatives
        real_features, fake_features = ops.split(
            self.discriminator.features(ops.concatenate([real_images, fake_images], axis=0), training=True), 2)
        captions = [embeddings] + [ops.roll(embeddings, k, axis=0) for k in range(1, count + 1)] + [embeddings]
        logits = self.discriminator.logits(ops.concatenate([real_features] * (count + 1) + [fake_features], axis=0),
                                           ops.concatenate(captions, axis=0), training=True)
        parts = ops.split(logits, count + 2)  # own caption, the K others, the fakes
        return parts[0], ops.max(ops.stack(parts[1:-1]), axis=0), parts[-1]

    def track(self, d_loss, g_loss, kl, real_logits, fake_logits):
        """Update the loss trackers; losses are per-replica shares of the global mean, so they are
        scaled back by the number of replicas (a no-op on one device)."""
        replicas = num_replicas()
        self.d_loss_tracker.update_state(d_loss * replicas)
        self.g_loss_tracker.update_state(g_loss * replicas)
        self.kl_tracker.update_state(kl * replicas)
        self.real_score_tracker.update_state(ops.mean(ops.sigmoid(real_logits)))
        self.fake_score_tracker.update_state(ops.mean(ops.sigmoid(fake_logits)))
        return {metric.name: metric.result() for metric in self.metrics}


def make_optimizer(name: str, learning_rate, beta_1: float = 0.5):
    """Adam (StackGAN: beta_1 0.5), RMSprop or Adadelta: the optimizers the report compared."""
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=learning_rate)
    if name == "adadelta":
        return keras.optimizers.Adadelta(learning_rate=learning_rate)
    raise ValueError(f"Unknown optimizer {name!r}; choose adam, rmsprop or adadelta.")


def learning_rate_schedule(learning_rate: float, steps_per_epoch: int, decay_epochs: int):
    """Halve the learning rate every `decay_epochs` epochs (official TF code: 50); 0 = constant.

    The schedule reads the optimizer's own step counter, so a restored optimizer continues the
    schedule where it stopped.
    """
    if not decay_epochs:
        return learning_rate
    return keras.optimizers.schedules.ExponentialDecay(
        learning_rate, decay_steps=steps_per_epoch * decay_epochs, decay_rate=0.5, staircase=True)


def compile_gan(gan, config, steps_per_epoch: int, learning_rate: float | None = None,
                lr_decay_epochs: int | None = None):
    """Compile a GAN with the configured optimizers (loss-scaled under mixed_float16), XLA
    setting and learning-rate schedule, and create every weight and optimizer slot.
    `learning_rate` / `lr_decay_epochs`: the run's own (Stage-II: its stage2 section's); None:
    the train section's."""
    train_config = config.train
    learning_rate = train_config.learning_rate if learning_rate is None else learning_rate
    lr_decay_epochs = train_config.lr_decay_epochs if lr_decay_epochs is None else lr_decay_epochs

    def optimizer():
        schedule = learning_rate_schedule(learning_rate, steps_per_epoch, lr_decay_epochs)
        return wrap_optimizer(make_optimizer(train_config.optimizer, schedule, train_config.beta_1),
                              train_config.mixed_precision)

    gan.compile(d_optimizer=optimizer(), g_optimizer=optimizer(),
                jit_compile=resolve_jit_compile(train_config.jit_compile, "stackgan"))
    return gan.build_all()


def build_stage1(config, embedding_dim: int, steps_per_epoch: int, strategy=None) -> StackGANStage1:
    """Build and compile a Stage-I GAN from a `RunConfig`; all weights and optimizer slots exist.

    Layers take the configured precision policy (`train.mixed_precision`); everything is
    created in `strategy.scope()` (default: the current strategy).
    """
    with (strategy or tf.distribute.get_strategy()).scope(), precision_policy(config.train.mixed_precision):
        return compile_gan(_stage1_models(config, embedding_dim), config, steps_per_epoch)


def _stage1_models(config, embedding_dim: int) -> StackGANStage1:
    model_config, train_config = config.model, config.train
    generator = StageIGenerator(
        embedding_dim, image_size=config.data.image_size, generator_width=model_config.generator_width,
        condition_dim=model_config.condition_dim, noise_dim=model_config.noise_dim,
        last_activation=model_config.last_activation, seed=train_config.seed, name="generator")
    discriminator = StageIDiscriminator(
        embedding_dim, image_size=config.data.image_size, discriminator_width=model_config.discriminator_width,
        condition_dim=model_config.condition_dim, joint_kernel_size=model_config.joint_kernel_size,
        name="discriminator")
    return StackGANStage1(generator, discriminator, kl_weight=model_config.kl_weight,
                          seed=train_config.seed + 1, hard_negatives=model_config.hard_negatives,
                          joint_batch=model_config.discriminator_batch == "joint", name="stackgan_stage1")
