"""StackGAN Stage-II (Zhang et al., ICCV 2017): a 256x256 refiner on top of a frozen Stage-I.

Read top to bottom: the generator (encode the Stage-I image, add the text again, residual
blocks, up-blocks), the discriminator (a deeper Stage-I discriminator with a second,
unconditional head), then `StackGANStage2`, the `keras.Model` whose `train_step` holds both
losses. Every building block is shared with Stage-I (`t2ilib.models.blocks`).
Architecture and numbers: docs/reference.md#stackgan. At the official widths (gf=128, df=64,
Ng=128) with a 1024-d embedding the generator has 26,290,080 trainable parameters (the frozen
Stage-I generator inside it adds none) and the discriminator 71,400,322.
"""

from __future__ import annotations


import keras
import tensorflow as tf
from keras import layers, ops

from t2ilib.models.blocks import (
    ConditionalLogits,
    ConditioningAugmentation,
    ConvBlock,
    DownBlock,
    ResidualBlock,
    UnconditionalLogits,
    UpBlock,
    conv,
    global_kl_divergence,
)
from t2ilib.acceleration import precision_policy
from t2ilib.models.stackgan import (
    _num_resamplings,
    StackGANStage1,
    StageIGenerator,
    compile_gan,
    sigmoid_cross_entropy,
    unpack_batch,
)

NUM_UP_BLOCKS = 4  # Stage-II always goes (S/16) -> S with four x2 up-blocks


@keras.saving.register_keras_serializable(package="t2ilib")
class StageIIGenerator(keras.Model):
    """(caption embedding, noise) -> (image_SxS, mu, log-variance, stage1_image).

    The images come first, as from every generator of the kit (`t2ilib.models.sampling`);
    `image_pair` gives the Stage-I image and its refinement together.

    The Stage-I generator draws a low-resolution image (S/4 x S/4, 64x64 for S=256); Stage-II
    encodes it, sees the caption again through its own conditioning augmentation, and paints
    the S x S image:

      Stage-I image (S/4)  -> conv3x3 (gf) -> ReLU -> conv4x4/2 (2gf) -> BN -> ReLU
                           -> conv4x4/2 (4gf) -> BN -> ReLU               => (S/16, S/16, 4gf)
      concat with c tiled  -> conv3x3 (4gf) -> BN -> ReLU
                           -> `num_residual` residual blocks
                           -> 4 up-blocks (2gf, gf, gf/2, gf/4)           => (S, S, gf/4)
                           -> conv3x3 (3) -> tanh                          => (S, S, 3)

    So `image_size` must be 4x the Stage-I size: 64 -> 256 (official), or 32 -> 128 (tests).

    The Stage-I generator is frozen: this constructor sets its `trainable = False` (its
    weights are not in `trainable_variables`), it is always called with `training=False` (its
    BatchNorm moving statistics never change, and its conditioning augmentation returns mu),
    and no gradient flows back into it.
    `last_activation` is the activation of the last up-block, as in `StageIGenerator`.
    """

    def __init__(self, stage1_generator: StageIGenerator, embedding_dim: int, image_size: int = 256,
                 generator_width: int = 128, condition_dim: int = 128, num_residual: int = 4,
                 last_activation: str = "relu", seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if stage1_generator.embedding_dim != embedding_dim:
            raise ValueError(f"The Stage-I generator takes {stage1_generator.embedding_dim}-d embeddings but "
                             f"embedding_dim={embedding_dim}; use the same text encoder for both stages.")
        if image_size != 4 * stage1_generator.image_size:
            raise ValueError(f"Stage-II makes images 4x the Stage-I size: the Stage-I generator makes "
                             f"{stage1_generator.image_size}x{stage1_generator.image_size}, so image_size must be "
                             f"{4 * stage1_generator.image_size} (got {image_size}).")
        self.embedding_dim = embedding_dim
        self.image_size = image_size
        self.generator_width = generator_width
        self.condition_dim = condition_dim
        self.num_residual = num_residual
        self.last_activation = last_activation
        self.noise_dim = stage1_generator.noise_dim  # the noise goes to Stage-I only
        self.stage1_generator = stage1_generator
        self.stage1_generator.trainable = False

        gf = generator_width
        self.encoder = [
            ConvBlock(gf, 3, normalize=False, name="encode_1"),  # (S/4, S/4, gf)
            ConvBlock(2 * gf, 4, strides=2, name="encode_2"),  # (S/8, S/8, 2gf)
            ConvBlock(4 * gf, 4, strides=2, name="encode_3"),  # (S/16, S/16, 4gf)
        ]
        self.conditioning = ConditioningAugmentation(condition_dim, seed=seed, name="conditioning")
        self.joint = ConvBlock(4 * gf, 3, name="joint")
        self.residual_blocks = [ResidualBlock(4 * gf, name=f"residual_{i + 1}") for i in range(num_residual)]
        widths = [max(2 * gf // 2 ** i, 1) for i in range(NUM_UP_BLOCKS)]  # 2gf, gf, gf/2, gf/4
        self.up_blocks = [
            UpBlock(width, last_activation if i == NUM_UP_BLOCKS - 1 else "relu", name=f"up_{i + 1}")
            for i, width in enumerate(widths)
        ]
        self.to_image = conv(3, 3, name="to_image")
        self.tanh = layers.Activation("tanh", dtype="float32")  # images stay float32 under mixed precision

    def call(self, embeddings, noise, training=False, condition_noise=None):
        """`condition_noise`: epsilon of Stage-II's own conditioning augmentation in training."""
        stage1_images, _, _ = self.stage1_generator(embeddings, noise, training=False)  # always inference mode
        stage1_images = ops.stop_gradient(stage1_images)  # (B, S/4, S/4, 3)
        x = stage1_images
        for block in self.encoder:
            x = block(x, training=training)  # ends at (B, S/16, S/16, 4gf)
        condition, mu, log_variance = self.conditioning(embeddings, training=training, noise=condition_noise)  # (B, Ng)
        height, width = x.shape[1], x.shape[2]
        condition = ops.tile(condition[:, None, None, :], (1, height, width, 1))  # (B, S/16, S/16, Ng)
        x = ops.concatenate([x, ops.cast(condition, x.dtype)], axis=-1)
        x = self.joint(x, training=training)  # (B, S/16, S/16, 4gf)
        for block in self.residual_blocks:
            x = block(x, training=training)
        for block in self.up_blocks:
            x = block(x, training=training)  # doubles the side, up to (B, S, S, gf/4)
        images = self.tanh(self.to_image(x))  # (B, S, S, 3) in [-1, 1]
        return images, ops.cast(mu, "float32"), ops.cast(log_variance, "float32"), stage1_images

    def image_pair(self, embeddings, noise):
        """(Stage-I images, Stage-II images) for the same captions and noise, in inference mode,
        both in [-1, 1]: the side-by-side grid's pair (`t2ilib.models.sampling.sample_image_pairs`).
        A plain call returns the Stage-II images first, like every generator of the kit."""
        images, _, _, stage1_images = self(embeddings, noise, training=False)
        return stage1_images, images

    def build_for(self, batch_size: int = 2):
        """Create the weights (Stage-I's too, if new) by running a dummy batch."""
        self(ops.zeros((batch_size, self.embedding_dim)), ops.zeros((batch_size, self.noise_dim)))
        return self

    def get_config(self):
        return {**super().get_config(),
                "stage1_generator": keras.saving.serialize_keras_object(self.stage1_generator),
                "embedding_dim": self.embedding_dim, "image_size": self.image_size,
                "generator_width": self.generator_width, "condition_dim": self.condition_dim,
                "num_residual": self.num_residual, "last_activation": self.last_activation}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["stage1_generator"] = keras.saving.deserialize_keras_object(config["stage1_generator"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="t2ilib")
class StageIIDiscriminator(keras.Model):
    """(image, caption embedding) -> (conditional logit, unconditional logit), both (B,).

    conv4x4/2 (df, no BN) -> LReLU -> conv4x4/2 (2df) -> BN -> LReLU -> ... (six for 256x256:
    df .. 32df) -> conv3x3 (16df) -> BN -> LReLU -> conv3x3 (8df) -> BN -> LReLU
    => (B, 4, 4, 8df). Then two heads on the same features: the text-conditional head of
    Stage-I ("real and matching this caption?") and an unconditional one ("real at all?").
    """

    def __init__(self, embedding_dim: int, image_size: int = 256, discriminator_width: int = 64,
                 condition_dim: int = 128, joint_kernel_size: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.embedding_dim = embedding_dim
        self.image_size = image_size
        self.discriminator_width = discriminator_width
        self.condition_dim = condition_dim
        self.joint_kernel_size = joint_kernel_size
        df = discriminator_width
        num_down = _num_resamplings(image_size)  # stride-2 convs down to 4x4 (256 -> 6)
        self.down_blocks = [DownBlock(df * 2 ** i, normalize=i > 0, name=f"down_{i + 1}") for i in range(num_down)]
        self.squeeze = [
            ConvBlock(16 * df, 3, activation_name="leaky_relu", name="squeeze_1"),
            ConvBlock(8 * df, 3, activation_name="leaky_relu", name="squeeze_2"),
        ]
        self.conditional_head = ConditionalLogits(8 * df, condition_dim, joint_kernel_size, name="conditional_head")
        self.unconditional_head = UnconditionalLogits(name="unconditional_head")

    def call(self, images, embeddings, training=False):
        x = images
        for block in self.down_blocks:
            x = block(x, training=training)  # (B, 4, 4, 32df) for 256x256
        for block in self.squeeze:
            x = block(x, training=training)  # ends at (B, 4, 4, 8df)
        conditional = self.conditional_head(x, embeddings, training=training)
        unconditional = self.unconditional_head(x)
        return ops.cast(conditional, "float32"), ops.cast(unconditional, "float32")

    def build_for(self, batch_size: int = 2):
        self(ops.zeros((batch_size, self.image_size, self.image_size, 3)), ops.zeros((batch_size, self.embedding_dim)))
        return self

    def get_config(self):
        return {**super().get_config(), "embedding_dim": self.embedding_dim, "image_size": self.image_size,
                "discriminator_width": self.discriminator_width, "condition_dim": self.condition_dim,
                "joint_kernel_size": self.joint_kernel_size}


class StackGANStage2(StackGANStage1):
    """Stage-II GAN: `compile(d_optimizer=..., g_optimizer=...)`, then `fit(dataset)`.

    Same interface, metrics, `build_all()` and step structure as `StackGANStage1`; only the
    networks and the losses differ. The dataset yields `(real_images, embeddings,
    wrong_images)` at Stage-II's size (256x256).

    Losses (sigmoid cross-entropy on logits; weighting of the PyTorch port):
      D = (real->1 + uncond_real->1) / 2 + (fake->0 + wrong->0 + uncond_fake->0) / 3
      G = fake->1 + uncond_fake->1 + kl_weight * KL(Stage-II's own conditioning augmentation)
    real / wrong / fake use the conditional head, uncond_* the unconditional head.
    Only the Stage-II generator is trained: the frozen Stage-I generator's variables are not
    in `generator.trainable_variables`. `real_score` / `fake_score` are the conditional head's.
    """

    def __init__(self, generator: StageIIGenerator, discriminator: StageIIDiscriminator,
                 kl_weight: float = 2.0, seed: int | None = None, **kwargs):
        super().__init__(generator, discriminator, kl_weight=kl_weight, seed=seed, **kwargs)

    def train_step(self, data):
        real_images, embeddings, wrong_images, noise, condition_noise = unpack_batch(self, data)

        with tf.GradientTape() as g_tape:
            fake_images, mu, log_variance, _ = self.generator(embeddings, noise, training=True,
                                                              condition_noise=condition_noise)

            # Discriminator step, not recorded on the generator's tape.
            with g_tape.stop_recording():
                with tf.GradientTape() as d_tape:
                    real_logits, real_unconditional = self.discriminator(real_images, embeddings, training=True)
                    wrong_logits, _ = self.discriminator(wrong_images, embeddings, training=True)
                    fake_logits, fake_unconditional = self.discriminator(
                        tf.stop_gradient(fake_images), embeddings, training=True)
                    real_loss = sigmoid_cross_entropy(1.0, real_logits) + sigmoid_cross_entropy(1.0, real_unconditional)
                    fake_loss = (sigmoid_cross_entropy(0.0, fake_logits) + sigmoid_cross_entropy(0.0, wrong_logits)
                                 + sigmoid_cross_entropy(0.0, fake_unconditional))
                    d_loss = real_loss / 2.0 + fake_loss / 3.0
                    scaled_d_loss = self.d_optimizer.scale_loss(d_loss)
                d_variables = self.discriminator.trainable_variables
                self.d_optimizer.apply(d_tape.gradient(scaled_d_loss, d_variables), d_variables)

            # Generator step against the updated discriminator.
            fake_logits_for_g, fake_unconditional_for_g = self.discriminator(fake_images, embeddings, training=True)
            kl = global_kl_divergence(mu, log_variance)
            g_loss = (sigmoid_cross_entropy(1.0, fake_logits_for_g)
                      + sigmoid_cross_entropy(1.0, fake_unconditional_for_g)
                      + self.kl_weight * kl)
            scaled_g_loss = self.g_optimizer.scale_loss(g_loss)
        g_variables = self.generator.trainable_variables  # Stage-II only; Stage-I is frozen
        self.g_optimizer.apply(g_tape.gradient(scaled_g_loss, g_variables), g_variables)
        return self.track(d_loss, g_loss, kl, real_logits, fake_logits)


def build_stage2(config, stage1_generator: StageIGenerator, embedding_dim: int, steps_per_epoch: int,
                 image_size: int = 256) -> StackGANStage2:
    """Build and compile a Stage-II GAN on top of a (trained) Stage-I generator.

    Stage-II's own settings come from `config.stage2` (widths, residual blocks, learning rate and
    its halving); the activation, condition size and KL weight from `config.model` (those of the
    Stage-I run), the optimizer, beta_1 and precision from `config.train`. `image_size` must be
    4x the Stage-I generator's (256 for 64).
    All weights and optimizer slots exist on return. The Stage-I generator is frozen in place.
    Stage-II's layers take the configured precision policy (`train.mixed_precision`).
    """
    with precision_policy(config.train.mixed_precision):
        return compile_gan(_stage2_models(config, stage1_generator, embedding_dim, image_size), config,
                           steps_per_epoch, learning_rate=config.stage2.learning_rate,
                           lr_decay_epochs=config.stage2.lr_decay_epochs)


def _stage2_models(config, stage1_generator: StageIGenerator, embedding_dim: int, image_size: int):
    model_config, train_config, settings = config.model, config.train, config.stage2
    generator = StageIIGenerator(
        stage1_generator, embedding_dim, image_size=image_size, generator_width=settings.generator_width,
        condition_dim=model_config.condition_dim, num_residual=settings.num_residual,
        last_activation=model_config.last_activation, seed=train_config.seed + 2, name="stage2_generator")
    discriminator = StageIIDiscriminator(
        embedding_dim, image_size=image_size, discriminator_width=settings.discriminator_width,
        condition_dim=model_config.condition_dim, joint_kernel_size=model_config.joint_kernel_size,
        name="stage2_discriminator")
    return StackGANStage2(generator, discriminator, kl_weight=model_config.kl_weight,
                          seed=train_config.seed + 3, name="stackgan_stage2")
