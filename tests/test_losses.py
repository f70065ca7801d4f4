"""Every StackGAN loss pinned to values worked out by hand on small logits (docs/reference.md#stackgan).

The real `train_step` of `StackGANStage1` / `StackGANStage2` runs on stand-in networks whose
outputs are fixed: the discriminator's logit is a linear function of the mean pixel (real images
are all 1, wrong images all 0, the generator draws all -0.5), and the generator returns fixed mu
and log-variance. Optimizers with learning rate 0 keep the outputs fixed between the D and the
G step, so the reported losses are exactly the formulas below.

Sigmoid cross-entropy: target 1 -> softplus(-l), target 0 -> softplus(l).
"""

import math

import keras
import numpy as np
import pytest
from keras import ops

from t2ilib.models.blocks import global_kl_divergence, kl_divergence
from t2ilib.models.stackgan import StackGANStage1
from t2ilib.models.stackgan2 import StackGANStage2


def softplus(x):
    return math.log1p(math.exp(x))


# Conditional logit = 2 * mean pixel - 1: real 1.0, wrong -1.0, fake -2.0.
# Unconditional logit (Stage-II) = 3 * mean pixel + 0.5: real 3.5, fake -1.0.
REAL, WRONG, FAKE = 1.0, -1.0, -2.0
UNCOND_REAL, UNCOND_FAKE = 3.5, -1.0
MU = np.array([[0.5, -1.0], [0.0, 0.0]], "float32")
LOG_VARIANCE = np.array([[0.0, math.log(2.0)], [0.0, 0.0]], "float32")
# KL per dimension -0.5 (1 + lv - mu^2 - e^lv): row 0 -> 0.125 and 0.5 (1 - ln 2) + 0.5 = 0.653426; row 1 -> 0.
KL = (0.125 + (0.5 * (1.0 - math.log(2.0)) + 0.5) + 0.0 + 0.0) / 4


class FixedGenerator(keras.Model):
    """Draws the same image (every pixel -0.5 * scale, scale = 1) with fixed mu / log-variance."""

    def __init__(self, stage: int, **kwargs):
        super().__init__(**kwargs)
        self.stage, self.noise_dim = stage, 3
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

    def call(self, embeddings, noise, training=False, condition_noise=None):
        batch = ops.shape(embeddings)[0]
        images = ops.full((batch, 4, 4, 3), -0.5) * self.scale
        outputs = (images, ops.convert_to_tensor(MU) * self.scale, ops.convert_to_tensor(LOG_VARIANCE) * self.scale)
        return outputs + (images,) if self.stage == 2 else outputs  # Stage-II also returns the Stage-I image


class LinearDiscriminator(keras.Model):
    """Logit = a * mean pixel + b (a = 2, b = -1); Stage-II also an unconditional 3 * mean + 0.5."""

    def __init__(self, stage: int, **kwargs):
        super().__init__(**kwargs)
        self.stage = stage
        self.a = self.add_weight(shape=(), initializer=keras.initializers.Constant(2.0), name="a")
        self.b = self.add_weight(shape=(), initializer=keras.initializers.Constant(-1.0), name="b")

    def call(self, images, embeddings, training=False):
        mean = ops.mean(images, axis=(1, 2, 3))[:, None]  # (B, 1)
        conditional = self.a * mean + self.b
        return (conditional, 3.0 * mean + 0.5) if self.stage == 2 else conditional


def one_step(gan_class, stage, kl_weight=2.0):
    gan = gan_class(FixedGenerator(stage), LinearDiscriminator(stage), kl_weight=kl_weight, seed=0)
    gan.compile(d_optimizer=keras.optimizers.SGD(0.0), g_optimizer=keras.optimizers.SGD(0.0))
    real, wrong = np.ones((2, 4, 4, 3), "float32"), np.zeros((2, 4, 4, 3), "float32")
    embeddings = np.zeros((2, 5), "float32")
    logs = gan.train_step((real, embeddings, wrong))
    return {name: float(value) for name, value in logs.items()}


def test_stage1_losses_are_real_plus_half_wrong_and_fake_and_fake_plus_twice_kl():
    logs = one_step(StackGANStage1, stage=1)
    d_loss = softplus(-REAL) + 0.5 * (softplus(WRONG) + softplus(FAKE))  # 0.313262 + 0.5 (0.313262 + 0.126928)
    g_loss = softplus(-FAKE) + 2.0 * KL  # 2.126928 + 2 * 0.194607
    assert d_loss == pytest.approx(0.533357, abs=1e-6) and g_loss == pytest.approx(2.516141, abs=1e-6)
    assert logs["d_loss"] == pytest.approx(d_loss, rel=1e-5)
    assert logs["g_loss"] == pytest.approx(g_loss, rel=1e-5)
    assert logs["kl"] == pytest.approx(KL, rel=1e-5)
    assert logs["real_score"] == pytest.approx(1 / (1 + math.exp(-REAL)), rel=1e-5)
    assert logs["fake_score"] == pytest.approx(1 / (1 + math.exp(-FAKE)), rel=1e-5)


def test_the_kl_weight_is_the_configured_one():
    logs = one_step(StackGANStage1, stage=1, kl_weight=0.5)
    assert logs["g_loss"] == pytest.approx(softplus(-FAKE) + 0.5 * KL, rel=1e-5)


def test_stage2_losses_weight_real_terms_by_half_and_fake_terms_by_a_third():
    logs = one_step(StackGANStage2, stage=2)
    d_loss = ((softplus(-REAL) + softplus(-UNCOND_REAL)) / 2
              + (softplus(FAKE) + softplus(WRONG) + softplus(UNCOND_FAKE)) / 3)
    g_loss = softplus(-FAKE) + softplus(-UNCOND_FAKE) + 2.0 * KL
    assert d_loss == pytest.approx(0.422657, abs=1e-6) and g_loss == pytest.approx(3.829403, abs=1e-6)
    assert logs["d_loss"] == pytest.approx(d_loss, rel=1e-5)
    assert logs["g_loss"] == pytest.approx(g_loss, rel=1e-5)
    assert logs["kl"] == pytest.approx(KL, rel=1e-5)


def test_kl_divergence_with_a_non_zero_log_variance():
    # KL(N(mu, e^lv) || N(0, 1)) per dimension = 0.5 (mu^2 + e^lv - 1 - lv)
    assert float(kl_divergence(MU, LOG_VARIANCE)) == pytest.approx(KL, rel=1e-6)
    assert KL == pytest.approx(0.194607, abs=1e-6)
    # sigma = 1/2, mu = 0: 0.5 (1/4 - 1 + ln 4) = 0.318147; sigma = 3, mu = 2: 0.5 (4 + 9 - 1 - ln 9) = 4.901388
    mu, log_variance = np.array([[0.0, 2.0]], "float32"), np.log(np.array([[0.25, 9.0]], "float32"))
    assert float(kl_divergence(mu, log_variance)) == pytest.approx((0.318147 + 4.901388) / 2, rel=1e-5)
    assert float(global_kl_divergence(mu, log_variance)) == pytest.approx((0.318147 + 4.901388) / 2, rel=1e-5)
