"""AttnGAN: the official trainable counts (birds settings), shapes and word attention at tiny
settings, the per-stage losses against hand-computed values, and a train step at 32/64 px
(docs/reference.md#attngan-and-damsm)."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from t2ilib.models.attngan import (
    AttnGAN,
    AttnGANDiscriminator,
    AttnGANDiscriminators,
    AttnGANGenerator,
    AttnGANSampler,
    WordAttention,
    attngan_kl,
    stage_discriminator_loss,
    stage_generator_loss,
)
from t2ilib.models.damsm import DAMSMImageEncoder, DAMSMTextEncoder


def trainable_count(owner):
    return sum(int(np.prod(variable.shape)) for variable in owner.trainable_weights)


# taoxugit/AttnGAN code/model.py at the birds settings (GF 32, DF 64, Z 100, condition 100, R_NUM 2, D 256).
OFFICIAL_G, OFFICIAL_STAGE_1, OFFICIAL_NEXT_STAGE = 7_084_592, 6_548_592, 268_000
OFFICIAL_D = {64: 6_313_730, 128: 19_424_002, 256: 71_858_946}


def test_generator_has_the_official_trainable_counts():
    generator = AttnGANGenerator().build_for(batch_size=1, words=3)
    assert trainable_count(generator) == OFFICIAL_G
    # stage 1 counts the conditioning augmentation and its image head, as the official figure
    assert trainable_count(generator.conditioning) + trainable_count(generator.initial) \
        + trainable_count(generator.heads[0]) == OFFICIAL_STAGE_1
    assert [trainable_count(stage) + trainable_count(head)
            for stage, head in zip(generator.next_stages, generator.heads[1:])] == [OFFICIAL_NEXT_STAGE] * 2
    assert generator.image_sizes == [64, 128, 256]


@pytest.mark.parametrize("image_size", [64, 128, 256])
def test_discriminators_have_the_official_trainable_counts(image_size):
    assert trainable_count(AttnGANDiscriminator(image_size=image_size).build_for(1)) == OFFICIAL_D[image_size]


def tiny_generator():
    return AttnGANGenerator(embedding_dim=16, base_size=32, stages=2, generator_width=4, noise_dim=8,
                            condition_dim=6, residual_blocks=1, seed=0)


def test_tiny_generator_shapes_range_and_attention_over_words_only():
    keras.utils.set_random_seed(0)
    generator = tiny_generator()
    rng = np.random.default_rng(0)
    words = rng.standard_normal((2, 5, 16)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], bool)
    images, mu, log_variance, attentions = generator(rng.standard_normal((2, 16)).astype("float32"), words, mask,
                                                     rng.standard_normal((2, 8)).astype("float32"))
    assert [tuple(image.shape) for image in images] == [(2, 32, 32, 3), (2, 64, 64, 3)]
    assert all(float(ops.max(ops.abs(image))) <= 1.0 for image in images)
    assert tuple(mu.shape) == tuple(log_variance.shape) == (2, 6)
    attention = ops.convert_to_numpy(attentions[0])  # (B, 32 * 32 regions, 5 words)
    assert attention.shape == (2, 32 * 32, 5)
    np.testing.assert_allclose(attention.sum(axis=-1), 1.0, rtol=1e-5)
    assert not attention[0, :, 3:].any() and not attention[1, :, 1:].any()  # padding words get no attention
    np.testing.assert_allclose(attention[1, :, 0], 1.0, rtol=1e-6)  # a one-word caption: all on that word


def test_word_attention_context_is_the_attention_weighted_sum_of_the_projected_words():
    layer = WordAttention(2)
    features = np.array([[[[1.0, 0.0]], [[0.0, 2.0]]]], "float32")  # (1, 2, 1, 2): two regions
    words = np.eye(2, dtype="float32")[None]  # two words
    layer(features, words, np.ones((1, 2), bool))
    layer.project_words.kernel.assign(np.eye(2, dtype="float32"))  # projected words = words
    context, attention = layer(features, words, np.ones((1, 2), bool))
    first = [math.exp(1) / (math.exp(1) + 1), 1 / (math.exp(1) + 1)]  # region (1, 0): scores 1, 0
    second = [1 / (1 + math.exp(2)), math.exp(2) / (1 + math.exp(2))]  # region (0, 2): scores 0, 2
    np.testing.assert_allclose(ops.convert_to_numpy(attention)[0], [first, second], rtol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(context)[0, :, 0], [first, second], rtol=1e-5)


class StubDiscriminator:
    """features = the images (B, 1); unconditional logit = feature; conditional = feature x sentence."""

    def features(self, images, training=False):
        return images

    def unconditional_logits(self, features):
        return features[:, 0]

    def conditional_logits(self, features, sentence, training=False):
        return features[:, 0] * sentence[:, 0]


def test_stage_losses_hand_computed():
    def bce_real(x):  # -log sigmoid(x)
        return math.log1p(math.exp(-x))

    def bce_fake(x):  # -log(1 - sigmoid(x))
        return math.log1p(math.exp(x))

    real = np.array([[1.0], [2.0]], "float32")
    fake = np.array([[-1.0], [0.5]], "float32")
    sentence = np.array([[1.0], [-1.0]], "float32")
    uncond_real = (bce_real(1) + bce_real(2)) / 2
    cond_real = (bce_real(1) + bce_real(-2)) / 2
    uncond_fake = (bce_fake(-1) + bce_fake(0.5)) / 2
    cond_fake = (bce_fake(-1) + bce_fake(-0.5)) / 2
    cond_wrong = bce_fake(1 * -1)  # real image 0 with sentence 1; the last image has no next sentence
    expected = (uncond_real + cond_real) / 2 + (uncond_fake + cond_fake + cond_wrong) / 3
    got = float(stage_discriminator_loss(StubDiscriminator(), real, fake, sentence))
    assert got == pytest.approx(expected, rel=1e-5)
    expected_g = (bce_real(-1) + bce_real(0.5)) / 2 + (bce_real(-1) + bce_real(-0.5)) / 2
    assert float(stage_generator_loss(StubDiscriminator(), fake, sentence)) == pytest.approx(expected_g, rel=1e-5)
    # KL of N(1, e^0) and N(0, e^1): mean over elements of -0.5 (1 + logvar - mu^2 - e^logvar)
    kl = attngan_kl(np.array([[1.0, 0.0]], "float32"), np.array([[0.0, 1.0]], "float32"))
    assert float(kl) == pytest.approx((0.5 * 1 + -0.5 * (2 - math.e)) / 2, rel=1e-5)


def tiny_attngan(seed=0):
    keras.utils.set_random_seed(seed)
    text_encoder = DAMSMTextEncoder(12, embedding_dim=16, word_dim=8).build_for(5)
    image_encoder = DAMSMImageEncoder(16, backbone_size=75, backbone_weights=None)
    discriminators = AttnGANDiscriminators([AttnGANDiscriminator(16, image_size=size, base_size=32,
                                                                 discriminator_width=4) for size in (32, 64)])
    gan = AttnGAN(AttnGANSampler(text_encoder, tiny_generator(), words=5), discriminators, image_encoder, seed=1)
    gan.compile(d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5), g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
    return gan.build_all()


def test_the_damsm_loss_reaches_the_first_stage_through_the_frozen_image_encoder():
    gan = tiny_attngan()
    ids = np.array([[0, 0, 2, 3, 4], [0, 5, 6, 7, 8]], "float32")
    words, mask, sentence = gan.generator.encode(ids)
    with tf.GradientTape() as tape:
        images, _, _, _ = gan.generator.generator(sentence, words, mask, np.ones((2, 8), "float32"), training=True)
        damsm = gan.damsm_loss(images[-1], words, mask, sentence)  # as in train_step
    first_stage = gan.generator.generator.initial.trainable_variables
    gradients = tape.gradient(damsm, first_stage)
    assert all(gradient is not None for gradient in gradients)
    assert max(float(ops.max(ops.abs(gradient))) for gradient in gradients) > 0


def test_a_train_step_at_32_and_64_px_updates_generator_and_discriminators_only():
    gan = tiny_attngan()
    assert trainable_count(gan.generator) == trainable_count(gan.generator.generator)  # text encoder frozen
    frozen = [variable.numpy().copy() for variable in gan.generator.text_encoder.weights + gan.image_encoder.weights]
    generator_before = [variable.numpy().copy() for variable in gan.generator.trainable_variables]
    discriminator_before = [variable.numpy().copy() for variable in gan.discriminator.trainable_variables]
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (4, 64, 64, 3)).astype("float32")
    ids = np.array([[0, 0, 2, 3, 4], [0, 5, 6, 7, 8], [0, 0, 0, 9, 10], [2, 4, 6, 8, 10]], "float32")
    noise = rng.standard_normal((4, 8)).astype("float32")
    logs = gan.train_step(((real, ids, real[::-1]), (noise, rng.standard_normal((4, 6)).astype("float32"))))
    assert all(np.isfinite(float(value)) for value in logs.values())
    assert float(logs["damsm_loss"]) > 0 and float(logs["d_loss"]) > 0
    assert all(np.array_equal(before, variable.numpy()) for before, variable
               in zip(frozen, gan.generator.text_encoder.weights + gan.image_encoder.weights))
    assert any(not np.array_equal(before, variable.numpy())
               for before, variable in zip(generator_before, gan.generator.trainable_variables))
    changed = [not np.array_equal(before, variable.numpy())
               for before, variable in zip(discriminator_before, gan.discriminator.trainable_variables)]
    assert sum(changed) >= len(changed) - 2  # every discriminator weight moved (Adam moves all but exact zeros)
    images, mu, log_variance = gan.sampler(ids, noise)
    assert tuple(images.shape) == (4, 64, 64, 3) and tuple(mu.shape) == (4, 6)
