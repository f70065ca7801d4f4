"""StackGAN Stage-II: parameter counts against the official architecture, shapes, a frozen
Stage-I, training steps and checkpoints. Tiny widths, a 32x32 Stage-I -> 128x128 Stage-II."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from t2ilib.models import StageIGenerator, StageIIDiscriminator, StageIIGenerator, build_stage2
from t2ilib.training.checkpoints import RunCheckpoint


def trainable_count(model):
    return sum(int(np.prod(variable.shape)) for variable in model.trainable_variables)


def snapshot(variables):
    return [ops.convert_to_numpy(variable) for variable in variables]


def tiny_stage1(config):
    model = config.model
    return StageIGenerator(16, image_size=32, generator_width=model.generator_width,
                           condition_dim=model.condition_dim, noise_dim=model.noise_dim, seed=0).build_for()


def random_batches(batch_size=2, image_size=128, dim=16, count=2):
    rng = np.random.default_rng(0)
    shape = (count * batch_size, image_size, image_size, 3)
    return tf.data.Dataset.from_tensor_slices((
        rng.uniform(-1, 1, shape).astype("float32"),
        rng.standard_normal((count * batch_size, dim)).astype("float32"),
        rng.uniform(-1, 1, shape).astype("float32"),
    )).batch(batch_size)


def test_official_stage2_generator_parameter_count():
    # docs/reference.md#stackgan: gf=128, Ng=128, 1024-d embedding; the frozen Stage-I adds nothing.
    # encoder  3*9*128 + (16*128*256 + 512) + (16*256*512 + 1024)              =  2,626,432
    # CA       1024*256 + 256                                                    =    262,400
    # joint    9*(512+128)*512 + 1024                                            =  2,950,144
    # residual 4 * 2 * (9*512*512 + 1024)                                        = 18,882,560
    # up       (9*512*256 + 512) + (9*256*128 + 256) + (9*128*64 + 128) + (9*64*32 + 64) = 1,567,680
    # to_image 9*32*3                                                            =        864
    stage1 = StageIGenerator(embedding_dim=1024)
    generator = StageIIGenerator(stage1, embedding_dim=1024).build_for(batch_size=1)
    assert trainable_count(generator) == 26_290_080
    assert trainable_count(stage1) == 0 and len(stage1.weights) > 0


def test_official_stage2_discriminator_parameter_count():
    # six conv4x4/2: 16*3*64 + (16*64*128 + 256) + (16*128*256 + 512) + (16*256*512 + 1024)
    #                + (16*512*1024 + 2048) + (16*1024*2048 + 4096)              = 44,706,560
    # conv3x3 16df, 8df: (9*2048*1024 + 2048) + (9*1024*512 + 1024)              = 23,596,032
    # conditional head: text Dense 1024*128 + 128, joint 9*(512+128)*512 + 1024,
    #                   logit 16*512 + 1                                         =  3,089,537
    # unconditional head: 16*512 + 1                                             =      8,193
    discriminator = StageIIDiscriminator(embedding_dim=1024).build_for(batch_size=1)
    assert trainable_count(discriminator) == 44_706_560 + 23_596_032 + 3_089_537 + 8_193 == 71_400_322


def test_shapes_and_ranges(tiny_config):
    stage1 = tiny_stage1(tiny_config)
    generator = StageIIGenerator(stage1, 16, image_size=128, generator_width=8, condition_dim=8)
    discriminator = StageIIDiscriminator(16, image_size=128, discriminator_width=8, condition_dim=8)
    embeddings = np.random.default_rng(0).standard_normal((3, 16)).astype("float32")
    noise = np.random.default_rng(1).standard_normal((3, tiny_config.model.noise_dim)).astype("float32")
    images, mu, log_variance, stage1_images = generator(embeddings, noise, training=True)
    images = ops.convert_to_numpy(images)
    assert images.shape == (3, 128, 128, 3) and images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert tuple(stage1_images.shape) == (3, 32, 32, 3)
    assert tuple(mu.shape) == (3, 8) and tuple(log_variance.shape) == (3, 8)
    # Stage-I runs in inference mode inside Stage-II: its images are exactly its own inference output.
    np.testing.assert_array_equal(ops.convert_to_numpy(stage1_images),
                                  ops.convert_to_numpy(stage1(embeddings, noise, training=False)[0]))
    conditional, unconditional = discriminator(images, embeddings, training=True)
    for logits in (conditional, unconditional):
        logits = ops.convert_to_numpy(logits)
        assert logits.shape == (3,) and logits.dtype == np.float32 and np.all(np.isfinite(logits))


def test_image_size_must_be_four_times_stage1(tiny_config):
    with pytest.raises(ValueError, match="must be 128"):
        StageIIGenerator(tiny_stage1(tiny_config), 16, image_size=256)
    with pytest.raises(ValueError, match="same text encoder"):
        StageIIGenerator(tiny_stage1(tiny_config), 32, image_size=128)


def test_fit_trains_stage2_and_leaves_stage1_bit_identical(tiny_config):
    stage1 = tiny_stage1(tiny_config)
    gan = build_stage2(tiny_config, stage1, embedding_dim=16, steps_per_epoch=2, image_size=128)
    stage1_ids = {id(variable) for variable in stage1.variables}
    assert not stage1_ids & {id(variable) for variable in gan.generator.trainable_variables}
    assert any("moving_mean" in variable.path for variable in stage1.variables)
    stage1_before = snapshot(stage1.variables)  # weights, BatchNorm moving statistics, seed state
    generator_before = snapshot(gan.generator.trainable_variables)
    discriminator_before = snapshot(gan.discriminator.trainable_variables)

    history = gan.fit(random_batches(), epochs=1, verbose=0).history

    for name in ("d_loss", "g_loss", "kl", "real_score", "fake_score"):
        assert np.isfinite(history[name][0]), name
    assert int(gan.g_optimizer.iterations.numpy()) == 2 and int(gan.d_optimizer.iterations.numpy()) == 2
    for a, b in zip(stage1_before, stage1.variables):
        np.testing.assert_array_equal(a, ops.convert_to_numpy(b), err_msg=b.path)
    assert all(not np.array_equal(a, ops.convert_to_numpy(b))
               for a, b in zip(generator_before, gan.generator.trainable_variables))
    assert all(not np.array_equal(a, ops.convert_to_numpy(b))
               for a, b in zip(discriminator_before, gan.discriminator.trainable_variables))


def test_checkpoint_round_trips_the_stage2_gan(tiny_config, tmp_path):
    def make():
        gan = build_stage2(tiny_config, tiny_stage1(tiny_config), embedding_dim=16, steps_per_epoch=2, image_size=128)
        parts = {"model": gan, "g_optimizer": gan.g_optimizer, "d_optimizer": gan.d_optimizer}
        return gan, RunCheckpoint(tmp_path / "checkpoints", parts)

    gan, checkpoint = make()
    gan.fit(random_batches(), epochs=1, verbose=0)
    checkpoint.save(1)
    restored, restored_checkpoint = make()
    assert restored_checkpoint.restore_or_initialize() == 1
    saved = gan.variables + gan.g_optimizer.variables + gan.d_optimizer.variables
    loaded = restored.variables + restored.g_optimizer.variables + restored.d_optimizer.variables
    assert len(saved) == len(loaded)
    for a, b in zip(saved, loaded):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b), err_msg=a.path)
    # The frozen Stage-I generator travels inside the Stage-II checkpoint.
    assert {id(v) for v in gan.generator.stage1_generator.variables} <= {id(v) for v in gan.variables}


def test_generator_config_round_trip(tiny_config):
    generator = StageIIGenerator(tiny_stage1(tiny_config), 16, image_size=128, generator_width=8, condition_dim=8,
                                 num_residual=2, last_activation="leaky_relu")
    clone = StageIIGenerator.from_config(generator.get_config())
    assert clone.image_size == 128 and clone.num_residual == 2 and len(clone.residual_blocks) == 2
    assert clone.stage1_generator.image_size == 32 and clone.noise_dim == tiny_config.model.noise_dim
    assert not clone.stage1_generator.trainable
    assert isinstance(keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(generator)),
                      StageIIGenerator)
