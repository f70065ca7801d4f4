"""DF-GAN: parameter counts against the official code, fusion at initialisation, the hinge and
MA-GP losses against hand-computed values, and training on the kit's one Stage-I path."""

import json

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from t2ilib.models.dfgan import (
    DFGAN,
    Affine,
    ConditionalHead,
    DFGANDiscriminator,
    DFGANGenerator,
    FusionUpBlock,
    hinge_discriminator_loss,
    hardest_mismatched_logits,
    hinge_generator_loss,
    matching_aware_gradient_penalty,
)
from t2ilib.models.blocks import symmetric_contrastive_loss
from t2ilib.training.stage1 import build_gan, generate, load_generator, train_stage1


def trainable_count(weights_owner):
    return sum(int(np.prod(variable.shape)) for variable in weights_owner.trainable_weights)


# tobran/DF-GAN (CVPR 2022 release), nf 32, noise 100, sentence 256: NetG, NetD, and the 1x1
# shortcut convs (256 -> 256 with bias) that NetD creates in its same-width blocks and never uses.
OFFICIAL = {256: (9_744_131, 6_619_206, 3), 128: (7_306_499, 4_915_013, 2), 64: (4_868_867, 3_210_820, 1)}
UNUSED_SHORTCUT = 256 * 256 + 256
OFFICIAL_NET_C = 295_936


@pytest.mark.parametrize("image_size", [256, 128, 64])
def test_official_parameter_counts(image_size):
    net_g, net_d, same_width_blocks = OFFICIAL[image_size]
    generator = DFGANGenerator(256, image_size=image_size, generator_width=32, noise_dim=100).build_for()
    assert trainable_count(generator) == net_g
    discriminator = DFGANDiscriminator(256, image_size=image_size, discriminator_width=32).build_for()
    assert trainable_count(discriminator.head) == OFFICIAL_NET_C
    # Ours creates no unused shortcut: NetD's count less those convs.
    assert trainable_count(discriminator) - OFFICIAL_NET_C == net_d - same_width_blocks * UNUSED_SHORTCUT


def test_text_in_seed_adds_the_sentence_to_the_first_dense_only():
    plain = DFGANGenerator(16, image_size=32, generator_width=4, noise_dim=8).build_for()
    seeded = DFGANGenerator(16, image_size=32, generator_width=4, noise_dim=8, text_in_seed=True).build_for()
    assert trainable_count(seeded) - trainable_count(plain) == 16 * 4 * 4 * 32


def test_fresh_affine_is_the_identity_and_fresh_down_blocks_are_their_shortcut():
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 5)).astype("float32")
    condition = np.random.default_rng(1).standard_normal((2, 7)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(Affine(5)(x, condition)), x, rtol=1e-6)
    discriminator = DFGANDiscriminator(16, image_size=32, discriminator_width=4).build_for()
    assert [float(block.gamma.numpy()) for block in discriminator.down_blocks] == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("in_channels, out_channels", [(6, 4), (4, 4)])
def test_fusion_up_block_equals_the_textbook_order(in_channels, out_channels):
    # The block runs fusion and shortcut on the small map and the first conv3x3 as one 2x2 conv
    # (upsample_conv3x3); it must give the textbook upsample -> fusion -> conv3x3 -> fusion ->
    # conv3x3 (+ shortcut of the upsampled input): values and both gradients.
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((2, 4, 4, in_channels)).astype("float32"))
    condition = tf.constant(rng.standard_normal((2, 7)).astype("float32"))
    block = FusionUpBlock(in_channels, out_channels)
    block(x, condition)
    for variable in block.trainable_weights:  # non-trivial weights everywhere (a fresh affine is the identity)
        variable.assign(rng.standard_normal(variable.shape).astype("float32") * 0.5)

    def textbook(x, condition):
        up = keras.layers.UpSampling2D(2, interpolation="nearest")(x)
        residual = block.conv_1(block.fusion_1(up, condition))
        residual = block.conv_2(block.fusion_2(residual, condition))
        return (block.shortcut(up) if block.shortcut is not None else up) + residual

    results = []
    for function in (textbook, block):
        with tf.GradientTape() as tape:
            tape.watch([x, condition])
            y = function(x, condition)
            loss = tf.reduce_sum(y * y)
        results.append([y] + tape.gradient(loss, [x, condition, block.conv_1.kernel]))
    assert results[0][0].shape == (2, 8, 8, out_channels)
    for expected, got in zip(*results):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)


def test_generator_shapes_range_and_empty_conditioning_statistics():
    generator = DFGANGenerator(16, image_size=32, generator_width=4, noise_dim=8, text_in_seed=True)
    images, mu, log_variance = generator(np.ones((3, 16), "float32"), np.ones((3, 8), "float32"))
    assert images.shape == (3, 32, 32, 3) and mu.shape == (3, 0) and log_variance.shape == (3, 0)
    images = keras.ops.convert_to_numpy(images)
    assert images.min() >= -1 and images.max() <= 1
    logits = DFGANDiscriminator(16, image_size=32, discriminator_width=4)(images, np.ones((3, 16), "float32"))
    assert logits.shape == (3,) and logits.dtype == "float32"


def test_projection_head_adds_the_inner_product_of_pooled_features_and_projected_sentence():
    rng = np.random.default_rng(3)
    plain = DFGANDiscriminator(6, image_size=32, discriminator_width=4).build_for()
    projected = DFGANDiscriminator(6, image_size=32, discriminator_width=4, projection=True).build_for()
    W = projected.head.projection.kernel
    assert tuple(W.shape) == (6, 32)  # sentence -> the 8nf feature channels, no bias
    assert trainable_count(projected) - trainable_count(plain) == 6 * 32
    for variable in projected.trainable_weights:  # gammas and the zero-free kernels all non-trivial
        variable.assign(rng.standard_normal(variable.shape).astype("float32") * 0.3)
    images = rng.uniform(-1, 1, (3, 32, 32, 3)).astype("float32")
    sentences = rng.standard_normal((3, 6)).astype("float32")
    features = projected.features(images).numpy()  # (3, 4, 4, 32)
    head = projected.head
    concat_only = ConditionalHead(4)  # the same concat head without the projection, same weights
    concat_only(features, sentences)
    concat_only.joint_conv.kernel.assign(head.joint_conv.kernel)
    concat_only.logit_conv.kernel.assign(head.logit_conv.kernel)
    expected = concat_only(features, sentences).numpy() + np.einsum("bc,bc->b", features.mean(axis=(1, 2)),
                                                                    sentences @ W.numpy())
    np.testing.assert_allclose(projected(images, sentences).numpy(), expected, rtol=1e-4, atol=1e-4)
    assert DFGANDiscriminator.from_config(projected.get_config()).projection is True


def test_hinge_losses_known_values():
    real = np.array([0.5, 2.0], "float32")  # relu(1 - r): 0.5, 0      -> mean 0.25
    fake = np.array([-2.0, 0.0], "float32")  # relu(1 + f): 0, 1       -> mean 0.5
    wrong = np.array([1.0, -0.5], "float32")  # relu(1 + w): 2, 0.5    -> mean 1.25
    assert float(hinge_discriminator_loss(real, fake, wrong)) == pytest.approx(0.25 + 0.5 * (0.5 + 1.25))
    assert float(hinge_generator_loss(fake)) == pytest.approx(1.0)


def test_matching_aware_gradient_penalty_known_values():
    # Per sample the image and sentence gradients form one vector: (3, 4, 0) -> norm 5; (0, 0, 1) -> 1.
    image_gradients = np.array([[[[3.0], [4.0]]], [[[0.0], [0.0]]]], "float32")  # (2, 1, 2, 1)
    sentence_gradients = np.array([[0.0], [1.0]], "float32")
    assert float(matching_aware_gradient_penalty(image_gradients, sentence_gradients)) == pytest.approx(
        2.0 * (5.0 ** 6 + 1.0 ** 6) / 2)
    assert float(matching_aware_gradient_penalty(image_gradients, sentence_gradients, weight=1.0, power=2.0)) \
        == pytest.approx((25.0 + 1.0) / 2)
    # A zero gradient has a zero penalty and a finite gradient (no square root at 0).
    zeros = tf.Variable(np.zeros((1, 2, 2, 1), "float32"))
    with tf.GradientTape() as tape:
        penalty = matching_aware_gradient_penalty(zeros, tf.zeros((1, 3)))
    assert float(penalty) == 0.0 and np.isfinite(tape.gradient(penalty, zeros).numpy()).all()


class LinearDiscriminator(keras.Model):
    """D(x, s) = a * sum(x) + b . s: its input gradients are known (a everywhere, b)."""

    def __init__(self, image_size, embedding_dim):
        super().__init__()
        self.image_size, self.embedding_dim = image_size, embedding_dim
        self.a = self.add_weight(shape=(), initializer=keras.initializers.Constant(0.1), name="a")
        self.b = self.add_weight(shape=(embedding_dim,), initializer=keras.initializers.Constant(0.5), name="b")

    def features(self, images, training=False):  # `training` as StageIDiscriminator takes it (test_models)
        return self.a * keras.ops.sum(images, axis=(1, 2, 3))

    def logits(self, features, embeddings, training=False):
        return features + keras.ops.sum(embeddings * self.b, axis=-1)

    def call(self, images, embeddings, training=False):
        return self.logits(self.features(images), embeddings)

    def build_for(self, batch_size=2):
        self(keras.ops.zeros((batch_size, self.image_size, self.image_size, 3)),
             keras.ops.zeros((batch_size, self.embedding_dim)))
        return self


def test_train_step_penalises_the_gradients_of_real_images_and_their_sentences():
    size, dim = 8, 4
    gan = DFGAN(DFGANGenerator(dim, image_size=size, generator_width=2, noise_dim=3), LinearDiscriminator(size, dim))
    gan.compile(d_optimizer=keras.optimizers.SGD(0.0), g_optimizer=keras.optimizers.SGD(0.0))
    gan.build_all()
    real = np.full((1, size, size, 3), 0.5, "float32")
    embeddings = np.ones((1, dim), "float32")
    wrong = np.full((1, size, size, 3), -0.5, "float32")
    logs = gan.train_step(((tf.constant(real), tf.constant(embeddings), tf.constant(wrong)),
                           (tf.zeros((1, 3)), tf.zeros((1, 1)))))
    pixels = size * size * 3
    # ||(a,...,a, b)||^2 = pixels * a^2 + dim * b^2, to the power 6/2, times 2.
    expected_penalty = 2.0 * (pixels * 0.1 ** 2 + dim * 0.5 ** 2) ** 3
    assert float(logs["gradient_penalty"]) == pytest.approx(expected_penalty, rel=1e-5)
    real_logit = 0.1 * pixels * 0.5 + 0.5 * dim  # 11.6
    wrong_logit = -0.1 * pixels * 0.5 + 0.5 * dim  # -7.6
    assert float(logs["real_logit"]) == pytest.approx(real_logit, rel=1e-5)
    assert float(logs["mismatched_logit"]) == pytest.approx(wrong_logit, rel=1e-5)
    fake_logit = float(logs["fake_logit"])
    expected_d = 0.5 * (max(0.0, 1 + fake_logit) + max(0.0, 1 + wrong_logit)) + expected_penalty
    assert float(logs["d_loss"]) == pytest.approx(expected_d, rel=1e-5)
    assert float(logs["g_loss"]) == pytest.approx(-fake_logit, rel=1e-5)  # D unchanged (lr 0)


def test_hardest_mismatched_logits_take_the_best_scoring_other_caption_of_the_batch():
    # D(x_i, s_j) = 0.1 * sum(x_i) + 0.5 * sum(s_j): image i's own term plus caption j's term.
    size, dim = 2, 2
    discriminator = LinearDiscriminator(size, dim).build_for()
    images = np.stack([np.full((size, size, 3), value, "float32") for value in (1.0, 0.0, -1.0)])  # 1.2, 0, -1.2
    embeddings = np.array([[1.0, 1.0], [0.0, 0.0], [3.0, 3.0]], "float32")  # caption terms 1, 0, 3
    features = discriminator.features(images)
    # K = 1: caption i-1 (mod 3) -> 1.2 + 3, 0 + 1, -1.2 + 0.
    np.testing.assert_allclose(hardest_mismatched_logits(discriminator, features, embeddings, 1), [4.2, 1.0, -1.2],
                               rtol=1e-6)
    # K = 2: every other caption; image 0's best is caption 2 (3), image 1's caption 2, image 2's caption 0.
    np.testing.assert_allclose(hardest_mismatched_logits(discriminator, features, embeddings, 2), [4.2, 3.0, -0.2],
                               rtol=1e-6)


def test_train_step_with_hard_negatives_uses_the_hardest_other_caption_not_the_wrong_image():
    size, dim = 8, 2
    gan = DFGAN(DFGANGenerator(dim, image_size=size, generator_width=2, noise_dim=3), LinearDiscriminator(size, dim),
                hard_negatives=2)
    gan.compile(d_optimizer=keras.optimizers.SGD(0.0), g_optimizer=keras.optimizers.SGD(0.0))
    gan.build_all()
    real = np.stack([np.full((size, size, 3), value, "float32") for value in (0.5, 0.0, -0.5)])
    embeddings = np.array([[1.0, 1.0], [0.0, 0.0], [3.0, 3.0]], "float32")
    wrong = np.full((3, size, size, 3), 9.0, "float32")  # would give huge logits if it were used
    logs = gan.train_step(((tf.constant(real), tf.constant(embeddings), tf.constant(wrong)),
                           (tf.zeros((3, 3)), tf.zeros((3, 1)))))
    image_terms = 0.1 * size * size * 3 * np.array([0.5, 0.0, -0.5])  # 9.6, 0, -9.6
    caption_terms = np.array([1.0, 0.0, 3.0])
    hardest = [image_terms[i] + max(caption_terms[(i + k) % 3] for k in (1, 2)) for i in range(3)]
    assert float(logs["mismatched_logit"]) == pytest.approx(np.mean(hardest), rel=1e-5)
    fake_logit = float(logs["fake_logit"])
    real_logits = image_terms + caption_terms
    expected_d = (np.mean(np.maximum(0, 1 - real_logits)) + 0.5 * max(0.0, 1 + fake_logit)
                  + 0.5 * np.mean(np.maximum(0, 1 + np.array(hardest))) + float(logs["gradient_penalty"]))
    assert float(logs["d_loss"]) == pytest.approx(expected_d, rel=1e-5)
    with pytest.raises(ValueError, match="hard_negatives"):
        DFGAN(DFGANGenerator(dim, image_size=size, generator_width=2, noise_dim=3), LinearDiscriminator(size, dim),
              hard_negatives=-1)


def test_symmetric_contrastive_loss_known_values():
    # Image codes (1, 0), (0, 2); text codes (1, 0), (1, 1): after normalising, cosines
    # [[1, c], [0, c]] with c = 1/sqrt(2); temperature 0.5 doubles them.
    c = 1 / np.sqrt(2)
    logits = np.array([[1.0, c], [0.0, c]]) / 0.5

    def cross_entropy(rows):  # mean over rows of -log softmax(row)[i] for row i
        return np.mean([np.log(np.exp(row).sum()) - row[i] for i, row in enumerate(rows)])

    expected = 0.5 * (cross_entropy(logits) + cross_entropy(logits.T))
    value = symmetric_contrastive_loss(np.array([[1.0, 0.0], [0.0, 2.0]], "float32"),
                                       np.array([[1.0, 0.0], [1.0, 1.0]], "float32"), temperature=0.5)
    assert float(value) == pytest.approx(expected, rel=1e-5)
    # Matched codes far apart from the others: the loss goes to 0; swapped captions: it grows.
    eye = np.eye(3, dtype="float32")
    assert float(symmetric_contrastive_loss(eye, eye, 0.01)) < 1e-6
    assert float(symmetric_contrastive_loss(eye, eye[[1, 2, 0]], 0.01)) > 10


def test_train_step_with_contrastive_weight_adds_the_weighted_terms_to_both_losses():
    size, dim, batch = 8, 3, 4
    rng = np.random.default_rng(0)
    discriminator = DFGANDiscriminator(dim, image_size=size, discriminator_width=2, contrastive_dim=5)
    gan = DFGAN(DFGANGenerator(dim, image_size=size, generator_width=2, noise_dim=3), discriminator,
                contrastive_weight=0.7, contrastive_temperature=0.2)
    gan.compile(d_optimizer=keras.optimizers.SGD(0.0), g_optimizer=keras.optimizers.SGD(0.0))
    gan.build_all()
    real = rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32")
    embeddings = rng.normal(size=(batch, dim)).astype("float32")
    wrong = rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32")
    batch_data = ((tf.constant(real), tf.constant(embeddings), tf.constant(wrong)),
                  (tf.constant(rng.normal(size=(batch, 3)).astype("float32")), tf.zeros((batch, 1))))

    def step(weight):
        gan.contrastive_weight = weight
        gan.reset_metrics()
        return {name: float(value) for name, value in gan.train_step(batch_data).items()}

    with_term, without = step(0.7), step(0.0)
    assert "real_contrastive" not in without  # off: the official DF-GAN losses, no extra columns
    image_codes, text_codes = discriminator.matching_codes(discriminator.features(real), embeddings)
    assert with_term["real_contrastive"] == pytest.approx(
        float(symmetric_contrastive_loss(image_codes, text_codes, 0.2)), rel=1e-5)
    assert with_term["d_loss"] - without["d_loss"] == pytest.approx(0.7 * with_term["real_contrastive"], rel=1e-4)
    assert with_term["g_loss"] - without["g_loss"] == pytest.approx(0.7 * with_term["fake_contrastive"], rel=1e-4)

    # With a learning rate the codes' layers train (they are D's variables, and G's loss reaches G).
    gan.contrastive_weight = 0.7
    gan.d_optimizer.learning_rate.assign(0.1)
    before = discriminator.image_code.kernel.numpy().copy()
    gan.train_step(batch_data)
    assert not np.allclose(before, discriminator.image_code.kernel.numpy())
    with pytest.raises(ValueError, match="contrastive_dim"):
        DFGAN(DFGANGenerator(dim, image_size=size, generator_width=2, noise_dim=3),
              DFGANDiscriminator(dim, image_size=size, discriminator_width=2), contrastive_weight=1.0)


def dfgan_config(tiny_config):
    return tiny_config.replace(**{"model.family": "dfgan", "model.text_in_seed": True, "train.beta_1": 0.0,
                                  "train.beta_2": 0.9, "train.ema_decay": 0.9, "train.d_learning_rate": 4e-4})


def test_projection_head_is_a_config_knob_off_by_default(tiny_config):
    assert build_gan(dfgan_config(tiny_config), embedding_dim=16, steps_per_epoch=3).discriminator.head.projection is None
    gan = build_gan(dfgan_config(tiny_config).replace(**{"model.projection_head": True}), embedding_dim=16,
                    steps_per_epoch=3)
    assert gan.discriminator.head.projection is not None


def test_contrastive_term_is_a_config_knob_off_by_default(tiny_config):
    gan = build_gan(dfgan_config(tiny_config), embedding_dim=16, steps_per_epoch=3)
    assert gan.contrastive_weight == 0.0 and gan.discriminator.contrastive_dim == 0
    gan = build_gan(dfgan_config(tiny_config).replace(**{"model.contrastive_weight": 1.0, "model.contrastive_dim": 8}),
                    embedding_dim=16, steps_per_epoch=3)
    assert gan.contrastive_weight == 1.0 and gan.discriminator.image_code.units == 8
    assert {"real_contrastive", "fake_contrastive"} <= {metric.name for metric in gan.metrics}
    with pytest.raises(ValueError, match="contrastive_temperature"):
        dfgan_config(tiny_config).replace(**{"model.contrastive_temperature": 0.0}).validate(check_paths=False)


def test_unknown_family_is_a_clear_error(tiny_config):
    with pytest.raises(ValueError, match="model.family"):
        build_gan(tiny_config.replace(**{"model.family": "dcgan"}), embedding_dim=16, steps_per_epoch=3)


def test_build_uses_the_config_optimizers_and_keeps_an_average_generator(tiny_config):
    gan = build_gan(dfgan_config(tiny_config), embedding_dim=16, steps_per_epoch=3)
    assert isinstance(gan, DFGAN) and gan.sampler is gan.ema_generator
    assert float(gan.d_optimizer.learning_rate) == pytest.approx(4e-4)
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(2e-4)
    assert float(gan.g_optimizer.beta_1) == 0.0 and float(gan.g_optimizer.beta_2) == 0.9
    assert trainable_count(gan.ema_generator) == 0  # averaged, never trained ...
    assert {id(v) for v in gan.ema_generator.weights} <= {id(v) for v in gan.variables}  # ... but checkpointed
    for average, weight in zip(gan.ema_generator.weights, gan.generator.weights):
        np.testing.assert_array_equal(average.numpy(), weight.numpy())


def checkpoint_values(run_dir):
    latest = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    reader = tf.train.load_checkpoint(latest)
    return {name: reader.get_tensor(name) for name, _ in tf.train.list_variables(latest)
            if not name.startswith("_CHECKPOINTABLE_OBJECT_GRAPH")}


def test_dfgan_trains_resumes_and_samples_through_train_stage1(tiny_config, tmp_path):
    config = dfgan_config(tiny_config)
    uninterrupted = train_stage1(config, tmp_path / "A", verbose=0)

    train_stage1(config.replace(**{"train.epochs": 1}), tmp_path / "B", verbose=0)
    resumed = train_stage1(config, tmp_path / "B", verbose=0)
    assert resumed["epochs_trained"] == 2 and resumed["optimizer_steps"] == 6
    history = pd.read_csv(tmp_path / "B" / "history.csv")
    assert history["epoch"].tolist() == [0, 1]
    assert np.isfinite(history[["d_loss", "g_loss", "gradient_penalty"]].to_numpy()).all()
    assert history["fidelity"].between(0, 1).all() and "caption_spread" in history
    # One column per attribute, whose mean is the epoch's fidelity (a shape stuck at chance shows).
    attribute_columns = [f"fidelity_{name}" for name in ("shape", "colour", "position", "background")]
    np.testing.assert_allclose(history[attribute_columns].mean(axis=1), history["fidelity"], rtol=1e-6)
    assert set(json.loads((tmp_path / "B" / "metrics.json").read_text())["fidelity"]) >= {"shape", "mean"}
    assert (tmp_path / "B" / "samples" / "epoch_0002.png").exists()

    # Resumed = uninterrupted: every weight, average and optimizer slot.
    expected, actual = checkpoint_values(tmp_path / "A"), checkpoint_values(tmp_path / "B")
    assert sorted(expected) == sorted(actual)
    different = [name for name in expected if not np.array_equal(expected[name], actual[name])]
    assert not different, different[:5]
    assert resumed["fidelity"] == uninterrupted["fidelity"]

    generator, _, _ = load_generator(tmp_path / "B")
    assert generator.name == "ema_generator"
    images = generate(tmp_path / "B", ["a red circle at the top on a black background", "a blue square"],
                      num_per_caption=2, seed=1)
    assert images.shape == (2, 2, 32, 32, 3) and images.dtype == np.uint8


def test_average_generator_follows_the_trained_one_by_ema_decay():
    size, dim = 8, 4

    def generator(name):
        return DFGANGenerator(dim, image_size=size, generator_width=2, noise_dim=3, name=name)

    gan = DFGAN(generator("generator"), LinearDiscriminator(size, dim), ema_decay=0.75,
                ema_generator=generator("ema_generator"))
    gan.compile(d_optimizer=keras.optimizers.SGD(0.01), g_optimizer=keras.optimizers.SGD(0.01))
    gan.build_all()
    before = [weight.numpy() for weight in gan.generator.weights]
    rng = np.random.default_rng(0)
    batch = tuple(tf.constant(rng.uniform(-1, 1, shape).astype("float32"))
                  for shape in ((2, size, size, 3), (2, dim), (2, size, size, 3)))
    gan.train_step((batch, (tf.constant(rng.standard_normal((2, 3)).astype("float32")), tf.zeros((2, 1)))))
    after = [weight.numpy() for weight in gan.generator.weights]
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
    for average, old, new in zip(gan.ema_generator.weights, before, after):
        np.testing.assert_allclose(average.numpy(), 0.75 * old + 0.25 * new, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("rows", [0, 2])
def test_discriminator_terms_are_the_separate_passes_and_penalise_the_first_rows(rows):
    # One joint D batch (other real rows, fakes, wrong images) must equal separate passes, and the
    # MA-GP must be taken on the first `gradient_penalty_rows` real images (all when 0).
    size, dim, batch = 8, 3, 4
    keras.utils.set_random_seed(3)
    discriminator = DFGANDiscriminator(dim, image_size=size, discriminator_width=2).build_for()
    for variable in discriminator.trainable_variables:  # gamma starts at 0: make the residuals count
        if variable.path.endswith("gamma"):
            variable.assign(0.7)
    gan = DFGAN(DFGANGenerator(dim, image_size=size, generator_width=2, noise_dim=3), discriminator,
                gradient_penalty_rows=rows)
    rng = np.random.default_rng(0)
    real, fake, wrong = (tf.constant(rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32")) for _ in range(3))
    embeddings = tf.constant(rng.standard_normal((batch, dim)).astype("float32"))
    _, real_logits, fake_logits, wrong_logits, penalty = gan.discriminator_terms(real, fake, wrong, embeddings)
    for images, logits in ((real, real_logits), (fake, fake_logits), (wrong, wrong_logits)):
        np.testing.assert_allclose(logits, discriminator(images, embeddings), rtol=1e-4, atol=1e-5)
    penalised = rows or batch
    with tf.GradientTape() as tape:
        tape.watch([real, embeddings])
        logits = discriminator(real, embeddings)[:penalised]
    image_gradients, sentence_gradients = tape.gradient(logits, [real, embeddings])
    expected = matching_aware_gradient_penalty(image_gradients[:penalised], sentence_gradients[:penalised])
    assert float(penalty) == pytest.approx(float(expected), rel=1e-4)
    everything = matching_aware_gradient_penalty(image_gradients, sentence_gradients)
    if rows:  # the penalty of a subset is not the whole batch's
        assert abs(float(penalty) - float(everything)) > 1e-3 * float(everything)
    unpenalised = DFGAN(DFGANGenerator(dim, image_size=size, generator_width=2, noise_dim=3), discriminator,
                        gradient_penalty_weight=0.0)
    _, no_penalty_logits, _, _, zero = unpenalised.discriminator_terms(real, fake, wrong, embeddings)
    assert float(zero) == 0.0
    np.testing.assert_allclose(no_penalty_logits, real_logits, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="gradient_penalty_rows"):
        DFGAN(DFGANGenerator(dim, image_size=size, generator_width=2, noise_dim=3), discriminator,
              gradient_penalty_rows=-1)
