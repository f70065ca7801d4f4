"""AttnGAN (Xu et al., CVPR 2018): a multi-stage generator whose later stages let every image
region attend over the caption's words, one discriminator per stage, and a DAMSM loss that
pulls the last image towards its words (`t2ilib.models.damsm`).

Read top to bottom: GLU and the blocks, the conditioning augmentation, the first stage, the
word attention and the later stages, the generator, the per-stage discriminator, the losses,
then `AttnGAN`, the `keras.Model` whose `train_step` holds them. Architecture and counts:
docs/reference.md#attngan-and-damsm.

Shapes at the official (birds) settings, gf 32, df 64, D 256, T words:

    sentence (B, D), words (B, T, D), mask (B, T), noise (B, 100)
    -> condition c (B, 100) -> stage 1: (B, 4, 4, 16gf) -> ... -> h1 (B, 64, 64, gf) -> image 64
    -> stage 2: regions of h1 attend over words -> (B, 64, 64, gf) context, concat -> 2 residual
       blocks -> x2 -> h2 (B, 128, 128, gf) -> image 128;   stage 3 the same -> image 256

Smaller settings keep the structure: `base_size` 32 with 2 stages gives 32 and 64 px images.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers, ops

from t2ilib.models.blocks import ConditionalGAN, batch_norm, conv, global_mean, upsample_conv3x3, weight_init
from t2ilib.models.damsm import DAMSMImageEncoder, DAMSMTextEncoder, sentence_loss, words_loss


def glu(x):
    """Gated linear unit over the last axis: first half * sigmoid(second half)."""
    half = x.shape[-1] // 2
    return x[..., :half] * ops.sigmoid(x[..., half:])


class GLUUpBlock(layers.Layer):
    """Nearest x2 -> conv3x3 (bias-free) to 2 x `filters` -> BatchNorm -> GLU: (B, H, W, C) -> (B, 2H, 2W, filters).

    The upsampling and the conv are one `upsample_conv3x3` (the same numbers, fewer multiply-adds).
    """

    def __init__(self, filters: int, **kwargs):
        super().__init__(autocast=False, **kwargs)  # the kernel stays float32 until phase_kernel has summed it
        self.conv = conv(2 * filters, 3)
        self.norm = batch_norm()

    def build(self, input_shape):
        height, width = (None if side is None else 2 * side for side in input_shape[1:3])
        self.conv.build((input_shape[0], height, width, input_shape[-1]))
        self.built = True

    def call(self, x, training=False):
        return glu(self.norm(upsample_conv3x3(x, self.conv.kernel), training=training))


class GLUResidualBlock(layers.Layer):
    """x + [conv3x3 to 2C -> BN -> GLU -> conv3x3 to C -> BN] (official ResBlock: no activation after the sum)."""

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.conv_1, self.norm_1 = conv(2 * channels, 3), batch_norm()
        self.conv_2, self.norm_2 = conv(channels, 3), batch_norm()

    def call(self, x, training=False):
        residual = glu(self.norm_1(self.conv_1(x), training=training))
        return x + self.norm_2(self.conv_2(residual), training=training)


class ConditioningAugmentationGLU(layers.Layer):
    """sentence (B, D) -> (c, mu, log_variance), each (B, condition_dim).

    AttnGAN's version: Dense(D -> 4 x condition_dim) + GLU gives mu and log-variance (the kit's
    StackGAN one uses a LeakyReLU on 2 x condition_dim). c = mu + exp(log_variance / 2) * eps in
    training (eps from the pipeline when given), c = mu in inference.
    """

    def __init__(self, condition_dim: int, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.condition_dim = condition_dim
        self.dense = layers.Dense(4 * condition_dim, kernel_initializer="glorot_uniform", name="dense")
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, sentence, training=False, noise=None):
        statistics = glu(self.dense(sentence))  # (B, 2 * Ng)
        mu, log_variance = statistics[:, :self.condition_dim], statistics[:, self.condition_dim:]
        if not training:
            return mu, mu, log_variance
        eps = (keras.random.normal(ops.shape(mu), dtype=mu.dtype, seed=self.seed_generator) if noise is None
               else ops.cast(noise, mu.dtype))
        return mu + ops.exp(0.5 * log_variance) * eps, mu, log_variance


class InitialStage(layers.Layer):
    """concat(c, noise) -> Dense (bias-free) to 4 x 4 x 2W -> BatchNorm -> GLU -> (B, 4, 4, W) ->
    `up_blocks` GLU up-blocks, halving the width each time, to (B, base, base, gf); W = gf x 2^up_blocks
    (16 gf at the official 64 px)."""

    def __init__(self, generator_width: int, up_blocks: int, **kwargs):
        super().__init__(**kwargs)
        self.start_width = generator_width * 2 ** up_blocks
        self.project = layers.Dense(4 * 4 * 2 * self.start_width, use_bias=False, kernel_initializer="glorot_uniform",
                                    name="project")
        self.norm = batch_norm()
        self.up_blocks = [GLUUpBlock(self.start_width // 2 ** (i + 1), name=f"up_{i + 1}") for i in range(up_blocks)]

    def call(self, condition, noise, training=False):
        x = glu(self.norm(self.project(ops.concatenate([condition, noise], axis=-1)), training=training))
        x = ops.reshape(x, (-1, 4, 4, self.start_width))
        for block in self.up_blocks:
            x = block(x, training=training)
        return x  # (B, base, base, gf)


class WordAttention(layers.Layer):
    """Each region of the image features attends over the caption's words (official GlobalAttentionGeneral).

    words (B, T, D) are projected to the features' width by a bias-free 1x1 conv (a Dense on each
    word); for each region, a softmax over the words of region x word, padding words left out
    (per sample: the official mask is tiled in the wrong order across the batch); the context is
    the attention-weighted sum of the projected words.
    features (B, H, W, C) -> context (B, H, W, C), attention (B, H * W, T).
    """

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.project_words = layers.Dense(channels, use_bias=False, kernel_initializer=weight_init(),
                                          name="project_words")

    def call(self, features, words, mask):
        height, width, channels = features.shape[1], features.shape[2], features.shape[3]
        words = ops.cast(self.project_words(words), features.dtype)  # (B, T, C)
        queries = ops.reshape(features, (-1, height * width, channels))  # (B, HW, C)
        scores = ops.cast(ops.einsum("bqc,btc->bqt", queries, words), "float32")  # (B, HW, T)
        scores = ops.where(ops.cast(mask, "bool")[:, None, :], scores, -1e9)
        attention = ops.softmax(scores, axis=-1)
        context = ops.einsum("bqt,btc->bqc", ops.cast(attention, features.dtype), words)
        return ops.reshape(context, (-1, height, width, channels)), attention


class NextStage(layers.Layer):
    """h (B, S, S, gf) -> word attention -> concat (B, S, S, 2gf) -> residual blocks -> GLU up-block
    -> (B, 2S, 2S, gf), with the attention (B, S*S, T)."""

    def __init__(self, generator_width: int, residual_blocks: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.attention = WordAttention(generator_width, name="attention")
        self.residual_blocks = [GLUResidualBlock(2 * generator_width, name=f"residual_{i + 1}")
                                for i in range(residual_blocks)]
        self.up_block = GLUUpBlock(generator_width, name="up")

    def call(self, features, words, mask, training=False):
        context, attention = self.attention(features, words, mask)
        x = ops.concatenate([features, context], axis=-1)
        for block in self.residual_blocks:
            x = block(x, training=training)
        return self.up_block(x, training=training), attention


class ImageHead(layers.Layer):
    """conv3x3 (bias-free) to RGB -> tanh, in float32."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = conv(3, 3)
        self.tanh = layers.Activation("tanh", dtype="float32")

    def call(self, features):
        return self.tanh(self.conv(features))


@keras.saving.register_keras_serializable(package="t2ilib")
class AttnGANGenerator(keras.Model):
    """(sentence (B, D), words (B, T, D), mask (B, T), noise (B, Nz)) -> (images per stage, mu,
    log_variance, attention per later stage).

    `stages` images from `base_size` up, doubling (official: 3 stages from 64, so 64, 128, 256).
    The images are float32 in [-1, 1]; attention k is (B, S_k * S_k, T) at the size of stage k's
    input features (64 x 64 for the 128 px stage).
    """

    def __init__(self, embedding_dim: int = 256, base_size: int = 64, stages: int = 3, generator_width: int = 32,
                 noise_dim: int = 100, condition_dim: int = 100, residual_blocks: int = 2, seed: int | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        up_blocks = math.log2(base_size / 4)
        if up_blocks != int(up_blocks) or up_blocks < 1:
            raise ValueError(f"base_size must be a power of two >= 8 (got {base_size}); the official one is 64.")
        if stages < 1:
            raise ValueError(f"stages must be at least 1 (got {stages}); the official generator has 3.")
        self.embedding_dim, self.base_size, self.stages = embedding_dim, base_size, stages
        self.generator_width, self.noise_dim, self.condition_dim = generator_width, noise_dim, condition_dim
        self.residual_blocks, self.seed = residual_blocks, seed
        self.conditioning = ConditioningAugmentationGLU(condition_dim, seed=seed, name="conditioning")
        self.initial = InitialStage(generator_width, int(up_blocks), name="stage_1")
        self.next_stages = [NextStage(generator_width, residual_blocks, name=f"stage_{k + 2}") for k in range(stages - 1)]
        self.heads = [ImageHead(name=f"to_image_{k + 1}") for k in range(stages)]

    @property
    def image_sizes(self) -> list[int]:
        return [self.base_size * 2 ** k for k in range(self.stages)]

    def call(self, sentence, words, mask, noise, training=False, condition_noise=None):
        condition, mu, log_variance = self.conditioning(ops.cast(sentence, self.compute_dtype), training=training,
                                                        noise=condition_noise)
        features = self.initial(condition, ops.cast(noise, self.compute_dtype), training=training)
        images, attentions = [self.heads[0](features)], []
        words = ops.cast(words, self.compute_dtype)
        for stage, head in zip(self.next_stages, self.heads[1:]):
            features, attention = stage(features, words, mask, training=training)
            images.append(head(features))
            attentions.append(attention)
        return images, mu, log_variance, attentions

    def build_for(self, batch_size: int = 2, words: int = 18):
        self(ops.zeros((batch_size, self.embedding_dim)), ops.zeros((batch_size, words, self.embedding_dim)),
             ops.ones((batch_size, words), dtype="bool"), ops.zeros((batch_size, self.noise_dim)))
        return self

    def get_config(self):
        return {**super().get_config(), "embedding_dim": self.embedding_dim, "base_size": self.base_size,
                "stages": self.stages, "generator_width": self.generator_width, "noise_dim": self.noise_dim,
                "condition_dim": self.condition_dim, "residual_blocks": self.residual_blocks, "seed": self.seed}


class ConvNormLeaky(layers.Layer):
    """conv (bias-free; 4x4 stride 2 or 3x3) -> [BatchNorm] -> LeakyReLU(0.2)."""

    def __init__(self, filters: int, kernel_size: int, strides: int, normalize: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.conv = conv(filters, kernel_size, strides=strides)
        self.norm = batch_norm() if normalize else None

    def call(self, x, training=False):
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x, training=training)
        return ops.leaky_relu(x, negative_slope=0.2)


@keras.saving.register_keras_serializable(package="t2ilib")
class AttnGANDiscriminator(keras.Model):
    """One stage's discriminator: image (B, S, S, 3) -> features (B, 4, 4, 8df) -> an unconditional
    logit ("a real image?") and a conditional one ("a real image of this sentence?").

    Features: stride-2 4x4 convs down to 4x4 (the first without BatchNorm; widths df, 2df, 4df, 8df
    at the official 64 px, fewer from the narrow end at a smaller base), then for the k-th later
    stage k more stride-2 convs (16df, 32df, ...) and 3x3 convs back to 8df (official D_NET128 and
    D_NET256). Conditional head: concat the sentence tiled 4x4 -> conv3x3 to 8df -> BN -> LeakyReLU
    -> 4x4 conv stride 4 (with bias); unconditional: the 4x4 conv on the features. Logits, not the
    official sigmoid probabilities: the losses use the (stable) cross-entropy from logits.
    """

    def __init__(self, embedding_dim: int = 256, image_size: int = 64, base_size: int = 64,
                 discriminator_width: int = 64, **kwargs):
        super().__init__(**kwargs)
        extra = math.log2(image_size / base_size)
        first = math.log2(base_size / 4)
        if extra != int(extra) or extra < 0 or first != int(first) or not 1 <= first <= 4:
            raise ValueError(f"image_size must be base_size x 2^k and base_size 8 to 64 px (got image_size {image_size}, "
                             f"base_size {base_size}).")
        self.embedding_dim, self.image_size, self.base_size = embedding_dim, image_size, base_size
        self.discriminator_width = df = discriminator_width
        widths = [df, 2 * df, 4 * df, 8 * df][4 - int(first):]
        blocks = [ConvNormLeaky(width, 4, 2, normalize=i > 0, name=f"down_{i + 1}") for i, width in enumerate(widths)]
        extra = int(extra)
        blocks += [ConvNormLeaky(8 * df * 2 ** (j + 1), 4, 2, name=f"down_{len(widths) + j + 1}") for j in range(extra)]
        blocks += [ConvNormLeaky(8 * df * 2 ** (extra - j - 1), 3, 1, name=f"back_{j + 1}") for j in range(extra)]
        self.blocks = blocks
        self.joint = ConvNormLeaky(8 * df, 3, 1, name="conditional_joint")
        self.conditional_logit = conv(1, 4, strides=4, padding="valid", use_bias=True, name="conditional_logit")
        self.unconditional_logit = conv(1, 4, strides=4, padding="valid", use_bias=True, name="unconditional_logit")

    def features(self, images, training=False):
        x = ops.cast(images, self.compute_dtype)
        for block in self.blocks:
            x = block(x, training=training)
        return x  # (B, 4, 4, 8df)

    def conditional_logits(self, features, sentence, training=False):
        text = ops.tile(ops.cast(sentence, features.dtype)[:, None, None, :], (1, 4, 4, 1))
        x = self.joint(ops.concatenate([features, text], axis=-1), training=training)
        return ops.cast(ops.reshape(self.conditional_logit(x), (-1,)), "float32")

    def unconditional_logits(self, features):
        return ops.cast(ops.reshape(self.unconditional_logit(features), (-1,)), "float32")

    def call(self, images, sentence, training=False):
        features = self.features(images, training=training)
        return self.unconditional_logits(features), self.conditional_logits(features, sentence, training=training)

    def build_for(self, batch_size: int = 2):
        self(ops.zeros((batch_size, self.image_size, self.image_size, 3)), ops.zeros((batch_size, self.embedding_dim)))
        return self

    def get_config(self):
        return {**super().get_config(), "embedding_dim": self.embedding_dim, "image_size": self.image_size,
                "base_size": self.base_size, "discriminator_width": self.discriminator_width}


# ---------------------------------------------------------------------------------------
# The kit's generator contract, the discriminators together, the losses and the train step
# ---------------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="t2ilib")
class AttnGANSampler(keras.Model):
    """word ids (B, T) + noise -> (last-stage images, mu, log_variance): the kit's generator
    contract (`t2ilib.models.sampling`), with the frozen DAMSM text encoder in front of the
    generator, so sample grids, fidelity and evaluation call AttnGAN like every family. The word
    ids travel where the other families' caption embeddings do (float32, from `TokenizerEncoder`).

    Only the generator trains: the text encoder is frozen (trainable_variables leave it out).
    `stage_outputs` gives every stage's images and the attention maps.
    """

    def __init__(self, text_encoder: DAMSMTextEncoder, generator: AttnGANGenerator, words: int = 18, **kwargs):
        super().__init__(**kwargs)
        if text_encoder.embedding_dim != generator.embedding_dim:
            raise ValueError(f"The DAMSM text encoder gives {text_encoder.embedding_dim}-d features and the generator "
                             f"reads {generator.embedding_dim}-d: build the generator with embedding_dim="
                             f"{text_encoder.embedding_dim}.")
        self.text_encoder, self.generator, self.words = text_encoder, generator, words
        self.text_encoder.trainable = False
        self.noise_dim, self.image_size = generator.noise_dim, generator.image_sizes[-1]

    def encode(self, ids):
        """(words, mask, sentence) of word ids, constants for the GAN (the DAMSM is pretrained)."""
        words, mask, sentence = self.text_encoder(ops.cast(ids, "int32"), training=False)
        return ops.stop_gradient(words), mask, ops.stop_gradient(sentence)

    def stage_outputs(self, ids, noise, training=False, condition_noise=None):
        """(images per stage, mu, log_variance, attention per later stage, mask)."""
        words, mask, sentence = self.encode(ids)
        images, mu, log_variance, attentions = self.generator(sentence, words, mask, noise, training=training,
                                                              condition_noise=condition_noise)
        return images, mu, log_variance, attentions, mask

    def call(self, embeddings, noise, training=False, condition_noise=None):
        images, mu, log_variance, _, _ = self.stage_outputs(embeddings, noise, training, condition_noise)
        return images[-1], mu, log_variance

    def build_for(self, batch_size: int = 2):
        self(ops.ones((batch_size, self.words)), ops.zeros((batch_size, self.noise_dim)))
        return self


class AttnGANDiscriminators(keras.Model):
    """The per-stage discriminators as one model (one optimizer over all of them: Adam's state is
    per weight, so this is the official one-Adam-per-discriminator with the same settings)."""

    def __init__(self, discriminators: list[AttnGANDiscriminator], **kwargs):
        super().__init__(**kwargs)
        self.stages = list(discriminators)

    def call(self, images_per_stage, sentence, training=False):
        return [stage(images, sentence, training=training) for stage, images in zip(self.stages, images_per_stage)]

    def build_for(self, batch_size: int = 2):
        for stage in self.stages:
            stage.build_for(batch_size)
        self.built = True
        return self


def _cross_entropy(logits, target: float):
    """Binary cross-entropy of logits (B,) against a constant target, over the global batch."""
    return global_mean(keras.losses.binary_crossentropy(ops.full_like(logits, target)[:, None], logits[:, None],
                                                        from_logits=True))


def stage_discriminator_loss(discriminator: AttnGANDiscriminator, real_images, fake_images, sentence, training=True):
    """(uncond real + cond real) / 2 + (uncond fake + cond fake + cond wrong) / 3 (official), wrong:
    real image i with the sentence of sample i + 1 (the batch's last image has none)."""
    real_features = discriminator.features(real_images, training=training)
    fake_features = discriminator.features(fake_images, training=training)
    cond_real = _cross_entropy(discriminator.conditional_logits(real_features, sentence, training), 1.0)
    cond_fake = _cross_entropy(discriminator.conditional_logits(fake_features, sentence, training), 0.0)
    cond_wrong = _cross_entropy(discriminator.conditional_logits(real_features[:-1], sentence[1:], training), 0.0)
    uncond_real = _cross_entropy(discriminator.unconditional_logits(real_features), 1.0)
    uncond_fake = _cross_entropy(discriminator.unconditional_logits(fake_features), 0.0)
    return (uncond_real + cond_real) / 2.0 + (uncond_fake + cond_fake + cond_wrong) / 3.0


def stage_generator_loss(discriminator: AttnGANDiscriminator, fake_images, sentence, training=True):
    """Both logits of a stage's fake images against "real": uncond + cond (official)."""
    features = discriminator.features(fake_images, training=training)
    return (_cross_entropy(discriminator.unconditional_logits(features), 1.0)
            + _cross_entropy(discriminator.conditional_logits(features, sentence, training), 1.0))


def attngan_kl(mu, log_variance):
    """KL(N(mu, sigma^2) || N(0, I)) averaged over batch and dimensions (the official KL_loss)."""
    mu, log_variance = ops.cast(mu, "float32"), ops.cast(log_variance, "float32")
    return global_mean(ops.mean(-0.5 * (1.0 + log_variance - ops.square(mu) - ops.exp(log_variance)), axis=-1))


class AttnGAN(ConditionalGAN):
    """AttnGAN: `compile(d_optimizer=..., g_optimizer=...)`, then `fit(dataset)`, the dataset of
    `make_gan_dataset` with word ids as the embeddings (its wrong images are not used: the
    mismatched term pairs real images with the next sample's sentence, as the official code).

    One step: every stage's discriminator on (real at its size, fake, wrong sentence); then the
    generator against the updated discriminators: the stages' adversarial losses + `damsm_weight`
    x DAMSM (word + sentence, both directions) of the last image, through the frozen image
    encoder + `kl_weight` x KL. Official: damsm_weight 5 (CUB), 50 (COCO); kl_weight 1.
    The generator's DAMSM loss treats every other caption of the batch as a mismatch (the official
    code leaves out birds of the same class; the batch here carries no groups).
    """

    def __init__(self, generator: AttnGANSampler, discriminator: AttnGANDiscriminators,
                 image_encoder: DAMSMImageEncoder, damsm_weight: float = 5.0, kl_weight: float = 1.0,
                 seed: int | None = None, **kwargs):
        super().__init__(generator, discriminator, **kwargs)
        if len(discriminator.stages) != generator.generator.stages:
            raise ValueError(f"{generator.generator.stages} generator stages but {len(discriminator.stages)} "
                             "discriminators: one per stage.")
        self.image_encoder, self.damsm_weight, self.kl_weight = image_encoder, damsm_weight, kl_weight
        self.image_encoder.trainable = False
        self.noise_dim = generator.noise_dim
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.damsm_tracker = keras.metrics.Mean(name="damsm_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.damsm_tracker, self.kl_tracker]

    def build_all(self):
        super().build_all()
        self.image_encoder.build_for()
        return self

    def damsm_loss(self, images, words, mask, sentence):
        """Word + sentence loss, both directions, of generated images and their captions; the
        gradient flows back through the frozen image encoder to the images (and the generator)."""
        regions, image_features = self.image_encoder(images, input_gradients=True)
        return sum(words_loss(words, mask, regions)) + sum(sentence_loss(image_features, sentence))

    def train_step(self, data):
        from t2ilib.models.stackgan import unpack_batch

        real_images, ids, _, noise, condition_noise = unpack_batch(self, data)
        words, mask, sentence = self.generator.encode(ids)
        sizes = self.generator.generator.image_sizes
        real_per_stage = [real_images if size == real_images.shape[1] else
                          ops.image.resize(real_images, (size, size), interpolation="bilinear", antialias=True)
                          for size in sizes]
        stages = self.discriminator.stages
        with tf.GradientTape() as g_tape:
            fakes, mu, log_variance, _ = self.generator.generator(sentence, words, mask, noise, training=True,
                                                                  condition_noise=condition_noise)
            with g_tape.stop_recording():
                with tf.GradientTape() as d_tape:
                    d_loss = sum(stage_discriminator_loss(stage, real, tf.stop_gradient(fake), sentence)
                                 for stage, real, fake in zip(stages, real_per_stage, fakes))
                    scaled_d_loss = self.d_optimizer.scale_loss(d_loss)
                d_variables = self.discriminator.trainable_variables
                self.d_optimizer.apply(d_tape.gradient(scaled_d_loss, d_variables), d_variables)

            adversarial = sum(stage_generator_loss(stage, fake, sentence) for stage, fake in zip(stages, fakes))
            damsm = self.damsm_loss(fakes[-1], words, mask, sentence)
            kl = attngan_kl(mu, log_variance)
            g_loss = adversarial + self.damsm_weight * damsm + self.kl_weight * kl
            scaled_g_loss = self.g_optimizer.scale_loss(g_loss)
        g_variables = self.generator.trainable_variables
        self.g_optimizer.apply(g_tape.gradient(scaled_g_loss, g_variables), g_variables)

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.damsm_tracker.update_state(damsm)
        self.kl_tracker.update_state(kl)
        return {metric.name: metric.result() for metric in self.metrics}
