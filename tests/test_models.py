"""StackGAN Stage-I: parameter counts against the official architecture, shapes, behaviour."""

import keras
import numpy as np
import pytest
from keras import ops

from t2ilib.models import StageIDiscriminator, StageIGenerator, build_stage1
from t2ilib.models.blocks import ConditioningAugmentation, kl_divergence
from test_dfgan import LinearDiscriminator  # D(x, s) = 0.1 sum(x) + 0.5 sum(s), split into features / logits


def trainable_count(model):
    return sum(int(np.prod(variable.shape)) for variable in model.trainable_variables)


def test_official_stage1_generator_parameter_count():
    # docs/reference.md#stackgan: gf=128, Ng=128, Nz=100, 1024-d char-CNN-RNN embedding.
    generator = StageIGenerator(embedding_dim=1024).build_for()
    assert trainable_count(generator) == 10_301_248


def test_official_stage1_discriminator_parameter_count():
    # Conv trunk + head with the 3x3 joint conv: 5,715,713; the text Dense adds emb*Ng + Ng.
    discriminator = StageIDiscriminator(embedding_dim=1024).build_for()
    assert trainable_count(discriminator) == 5_715_713 + 1024 * 128 + 128
    text_dense = discriminator.head.text_dense
    assert trainable_count(discriminator) - sum(int(np.prod(v.shape)) for v in text_dense.trainable_variables) == 5_715_713


def test_joint_kernel_size_one_matches_official_tf_variant():
    three = StageIDiscriminator(embedding_dim=768, joint_kernel_size=3).build_for()
    one = StageIDiscriminator(embedding_dim=768, joint_kernel_size=1).build_for()
    # Only the joint conv differs: (9 - 1) * (8df + Ng) * 8df weights.
    assert trainable_count(three) - trainable_count(one) == 8 * (512 + 128) * 512


@pytest.mark.parametrize("image_size", [32, 64])
def test_generator_and_discriminator_shapes_and_ranges(image_size):
    generator = StageIGenerator(16, image_size=image_size, generator_width=8, condition_dim=8, noise_dim=4)
    discriminator = StageIDiscriminator(16, image_size=image_size, discriminator_width=8, condition_dim=8)
    embeddings = np.random.default_rng(0).standard_normal((5, 16)).astype("float32")
    noise = np.random.default_rng(1).standard_normal((5, 4)).astype("float32")
    images, mu, log_variance = generator(embeddings, noise, training=True)
    images = ops.convert_to_numpy(images)
    assert images.shape == (5, image_size, image_size, 3)
    assert images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert tuple(mu.shape) == (5, 8) and tuple(log_variance.shape) == (5, 8)
    logits = ops.convert_to_numpy(discriminator(images, embeddings, training=True))
    assert logits.shape == (5,)
    assert np.all(np.isfinite(logits))


def test_generator_rejects_image_sizes_that_are_not_powers_of_two():
    with pytest.raises(ValueError, match="power of two"):
        StageIGenerator(16, image_size=48)


def test_inference_is_deterministic_and_training_samples_the_condition():
    generator = StageIGenerator(16, image_size=32, generator_width=8, condition_dim=8, noise_dim=4)
    embeddings = np.ones((3, 16), "float32")
    noise = np.zeros((3, 4), "float32")
    first = ops.convert_to_numpy(generator(embeddings, noise, training=False)[0])
    second = ops.convert_to_numpy(generator(embeddings, noise, training=False)[0])
    np.testing.assert_array_equal(first, second)
    conditioning = ConditioningAugmentation(8, seed=3)
    condition_a, mu, _ = conditioning(embeddings, training=True)
    condition_b, _, _ = conditioning(embeddings, training=True)
    assert not np.allclose(ops.convert_to_numpy(condition_a), ops.convert_to_numpy(condition_b))
    np.testing.assert_allclose(ops.convert_to_numpy(conditioning(embeddings, training=False)[0]), ops.convert_to_numpy(mu))


def test_kl_divergence_known_values():
    zeros = np.zeros((4, 3), "float32")
    assert float(kl_divergence(zeros, zeros)) == pytest.approx(0.0)
    # KL(N(1, 1) || N(0, 1)) = 0.5 per dimension.
    assert float(kl_divergence(np.ones((4, 3), "float32"), zeros)) == pytest.approx(0.5)


def test_last_activation_variant_is_a_config_field(tiny_config):
    # What each activation does to -1 and 2: relu 0, leaky_relu(0.2) -0.2, selu 1.0507 * 1.6733 * (e^-1 - 1).
    expected = {"relu": [0.0, 2.0], "leaky_relu": [-0.2, 2.0], "selu": [-1.1113, 2.1014]}
    for name, values in expected.items():
        gan = build_stage1(tiny_config.replace(**{"model.last_activation": name}), embedding_dim=16, steps_per_epoch=3)
        blocks = gan.generator.up_blocks
        np.testing.assert_allclose(ops.convert_to_numpy(blocks[-1].activation(np.array([-1.0, 2.0], "float32"))),
                                   values, rtol=1e-4)
        np.testing.assert_allclose(ops.convert_to_numpy(blocks[0].activation(np.array([-1.0, 2.0], "float32"))),
                                   [0.0, 2.0])  # the other blocks keep ReLU
    with pytest.raises(ValueError, match="relu, leaky_relu or selu"):
        build_stage1(tiny_config.replace(**{"model.last_activation": "tanh"}), embedding_dim=16, steps_per_epoch=3)


def test_unknown_optimizer_is_a_clear_error(tiny_config):
    with pytest.raises(ValueError, match="adam, rmsprop or adadelta"):
        build_stage1(tiny_config.replace(**{"train.optimizer": "sgd"}), embedding_dim=16, steps_per_epoch=3)


@pytest.mark.parametrize("height, width", [(4, 4), (3, 5)])
def test_up_block_convolution_is_upsample_then_conv3x3(height, width):
    # upsample_conv3x3 (one 2x2 conv of the small input) against the textbook
    # UpSampling2D(nearest) -> Conv2D(3x3, same), values and both gradients.
    import tensorflow as tf
    from keras import layers

    from t2ilib.models.blocks import upsample_conv3x3

    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((2, height, width, 5)), tf.float32)
    kernel = tf.constant(rng.standard_normal((3, 3, 5, 7)), tf.float32)
    weights = tf.constant(rng.standard_normal((2, 2 * height, 2 * width, 7)), tf.float32)

    def reference(x, kernel):
        return tf.nn.conv2d(layers.UpSampling2D(2, interpolation="nearest")(x), kernel, 1, "SAME")

    results = []
    for function in (reference, upsample_conv3x3):
        with tf.GradientTape() as tape:
            tape.watch([x, kernel])
            y = function(x, kernel)
            loss = tf.reduce_sum(y * weights)
        results.append([y, *tape.gradient(loss, [x, kernel])])
    for expected, got in zip(*results):
        assert got.shape == expected.shape
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)


def test_up_block_keeps_its_conv3x3_kernel(tiny_config):
    from t2ilib.models.blocks import UpBlock

    block = UpBlock(6)
    block(np.zeros((2, 4, 4, 3), "float32"))
    assert [tuple(v.shape) for v in block.conv.trainable_variables] == [(3, 3, 3, 6)]


def test_stage1_discriminator_features_then_logits_is_the_discriminator():
    rng = np.random.default_rng(0)
    discriminator = StageIDiscriminator(6, image_size=16, discriminator_width=4, condition_dim=3).build_for()
    images = rng.uniform(-1, 1, (3, 16, 16, 3)).astype("float32")
    embeddings = rng.standard_normal((3, 6)).astype("float32")
    split = discriminator.logits(discriminator.features(images), embeddings)
    np.testing.assert_allclose(ops.convert_to_numpy(split), ops.convert_to_numpy(discriminator(images, embeddings)),
                               rtol=1e-6)


def test_stage1_hard_negatives_score_the_real_images_with_the_hardest_other_caption():
    import tensorflow as tf

    from t2ilib.models import StackGANStage1

    size, dim = 8, 2
    generator = StageIGenerator(dim, image_size=size, generator_width=4, condition_dim=2, noise_dim=3)
    gan = StackGANStage1(generator, LinearDiscriminator(size, dim), kl_weight=0.0, hard_negatives=2)
    gan.compile(d_optimizer=keras.optimizers.SGD(0.0), g_optimizer=keras.optimizers.SGD(0.0))
    gan.build_all()
    real = np.stack([np.full((size, size, 3), value, "float32") for value in (0.05, 0.0, -0.05)])
    embeddings = np.array([[1.0, 1.0], [0.0, 0.0], [3.0, 3.0]], "float32")
    wrong = np.full((3, size, size, 3), 0.9, "float32")  # logits of ~20 if it were used
    noise, condition_noise = np.zeros((3, 3), "float32"), np.zeros((3, 2), "float32")
    logs = gan.train_step(((tf.constant(real), tf.constant(embeddings), tf.constant(wrong)),
                           (tf.constant(noise), tf.constant(condition_noise))))
    image_terms = 0.1 * size * size * 3 * np.array([0.05, 0.0, -0.05])  # 0.96, 0, -0.96
    caption_terms = np.array([1.0, 0.0, 3.0])
    hardest = np.array([image_terms[i] + max(caption_terms[(i + k) % 3] for k in (1, 2)) for i in range(3)])
    fake = ops.convert_to_numpy(generator(embeddings, noise, training=True, condition_noise=condition_noise)[0])
    fake_logits = 0.1 * fake.sum(axis=(1, 2, 3)) + caption_terms

    def softplus(x):
        return np.log1p(np.exp(x))

    expected = (np.mean(softplus(-(image_terms + caption_terms)))
                + 0.5 * (np.mean(softplus(hardest)) + np.mean(softplus(fake_logits))))
    assert float(logs["d_loss"]) == pytest.approx(expected, rel=1e-4)
    with pytest.raises(ValueError, match="hard_negatives"):
        StackGANStage1(generator, LinearDiscriminator(size, dim), hard_negatives=-1)


def test_stage1_hard_negatives_is_the_config_knob(tiny_config):
    gan = build_stage1(tiny_config.replace(**{"model.hard_negatives": 3}), embedding_dim=16, steps_per_epoch=2)
    assert gan.hard_negatives == 3
    assert build_stage1(tiny_config, embedding_dim=16, steps_per_epoch=2).hard_negatives == 0


@pytest.mark.parametrize("hard_negatives", [0, 2])
def test_stage1_joint_batch_gives_each_batch_its_own_logits(hard_negatives):
    # Without BatchNorm a joint pass must give exactly the separate passes' logits: real with its
    # caption, the wrong image (or the hardest other caption) and the fake, in that order.
    from t2ilib.models import StackGANStage1
    from t2ilib.models.blocks import hardest_mismatched_logits

    size, dim = 8, 2
    rng = np.random.default_rng(1)
    discriminator = LinearDiscriminator(size, dim).build_for()
    gan = StackGANStage1(StageIGenerator(dim, image_size=size, generator_width=4, condition_dim=2, noise_dim=3),
                         discriminator, hard_negatives=hard_negatives, joint_batch=True)
    real, wrong, fake = (rng.uniform(-1, 1, (3, size, size, 3)).astype("float32") for _ in range(3))
    embeddings = np.array([[1.0, 1.0], [0.0, 0.0], [3.0, 3.0]], "float32")
    real_logits, wrong_logits, fake_logits = (ops.convert_to_numpy(x)
                                              for x in gan.joint_logits(real, wrong, fake, embeddings))
    np.testing.assert_allclose(real_logits, ops.convert_to_numpy(discriminator(real, embeddings)), rtol=1e-5)
    np.testing.assert_allclose(fake_logits, ops.convert_to_numpy(discriminator(fake, embeddings)), rtol=1e-5)
    expected_wrong = (discriminator(wrong, embeddings) if not hard_negatives else
                      hardest_mismatched_logits(discriminator, discriminator.features(real), embeddings, hard_negatives))
    np.testing.assert_allclose(wrong_logits, ops.convert_to_numpy(expected_wrong), rtol=1e-5)


def test_stage1_joint_batch_normalises_over_the_mixture(tiny_config):
    # With the real discriminator (BatchNorm, training mode) a separate pass normalises the
    # all-matching batch on its own; the joint pass normalises it with the wrong and fake rows.
    gan = build_stage1(tiny_config.replace(**{"model.discriminator_batch": "joint"}), embedding_dim=16,
                       steps_per_epoch=2)
    assert gan.joint_batch and not build_stage1(tiny_config, embedding_dim=16, steps_per_epoch=2).joint_batch
    rng = np.random.default_rng(2)
    size = tiny_config.data.image_size
    real, wrong = (rng.uniform(-1, 1, (4, size, size, 3)).astype("float32") for _ in range(2))
    fake = np.zeros((4, size, size, 3), "float32")
    embeddings = rng.standard_normal((4, 16)).astype("float32")
    joint_real = ops.convert_to_numpy(gan.joint_logits(real, wrong, fake, embeddings)[0])
    separate_real = ops.convert_to_numpy(gan.discriminator(real, embeddings, training=True))
    assert not np.allclose(joint_real, separate_real, atol=1e-3)
    with pytest.raises(Exception, match="discriminator_batch"):
        tiny_config.replace(**{"model.discriminator_batch": "mixed"}).validate()
