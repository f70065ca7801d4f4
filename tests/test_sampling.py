"""The generators' one output contract and `sample_images` (t2ilib.models.sampling): every GAN
generator of the kit gives its images first, and one function turns any of them into uint8."""

import numpy as np
import pytest
from keras import ops

from t2ilib.models import DFGANGenerator, StageIGenerator, StageIIGenerator
from t2ilib.models.sampling import (grid_inputs, sample_grid, sample_image_pairs, sample_images, sample_pair_grid,
                                    seeded_noise)
from t2ilib.viz import to_uint8

DIM, NOISE = 6, 4


def generators():
    stage1 = StageIGenerator(DIM, image_size=16, generator_width=4, condition_dim=4, noise_dim=NOISE, seed=0)
    stage1.build_for()
    stage2 = StageIIGenerator(stage1, DIM, image_size=64, generator_width=4, condition_dim=4).build_for()
    dfgan = DFGANGenerator(DIM, image_size=16, generator_width=4, noise_dim=NOISE).build_for()
    return {"stage1": (stage1, 16), "dfgan": (dfgan, 16), "stage2": (stage2, 64)}


def inputs(count=5):
    return (np.random.default_rng(0).standard_normal((count, DIM)).astype("float32"),
            seeded_noise(1, (count, NOISE)))


@pytest.mark.parametrize("name", ["stage1", "dfgan", "stage2"])
def test_every_generator_gives_its_images_first_and_sample_images_makes_them_uint8(name):
    generator, size = generators()[name]
    embeddings, noise = inputs()
    images = sample_images(generator, embeddings, noise, batch_size=2)  # three calls: 2 + 2 + 1
    assert images.shape == (5, size, size, 3) and images.dtype == np.uint8
    expected = to_uint8(ops.convert_to_numpy(generator(embeddings, noise, training=False)[0]))
    np.testing.assert_array_equal(images, expected)  # the first output, in inference mode, batch by batch


def test_stage2_pairs_are_the_stage1_images_beside_their_refinements():
    stage2, _ = generators()["stage2"]
    embeddings, noise = inputs()
    first, refined = sample_image_pairs(stage2, embeddings, noise, batch_size=3)
    assert first.shape == (5, 16, 16, 3) and refined.shape == (5, 64, 64, 3)
    np.testing.assert_array_equal(first, sample_images(stage2.stage1_generator, embeddings, noise))
    np.testing.assert_array_equal(refined, sample_images(stage2, embeddings, noise))


def test_grids_put_every_caption_with_every_noise_vector():
    stage2, _ = generators()["stage2"]
    embeddings, noise = inputs(3)
    grid = sample_grid(stage2.stage1_generator, embeddings, noise[:2])
    assert grid.shape == (3, 2, 16, 16, 3)
    np.testing.assert_array_equal(grid[2, 1], sample_images(stage2.stage1_generator, embeddings[2:3], noise[1:2])[0])
    repeated, tiled = grid_inputs(embeddings, noise[:2])
    np.testing.assert_array_equal(repeated[3], embeddings[1])  # row c*K + k: caption c with noise k
    np.testing.assert_array_equal(tiled[3], noise[1])
    first, refined = sample_pair_grid(stage2, embeddings, noise[:2])
    assert first.shape == (3, 2, 16, 16, 3) and refined.shape == (3, 2, 64, 64, 3)
    np.testing.assert_array_equal(first, grid)


def test_one_noise_vector_per_embedding_is_required():
    generator, _ = generators()["stage1"]
    embeddings, noise = inputs()
    with pytest.raises(ValueError, match="One noise vector per embedding: got 5 embeddings and 4"):
        sample_images(generator, embeddings, noise[:4])


def test_sampling_is_traced_once_per_generator_and_follows_its_weights():
    # Per-epoch grids, fidelity and agreement draw through one traced function per generator: it
    # must read the weights as they are at each call (training changes them), not a copy.
    from t2ilib.models import sampling

    generator, _ = generators()["dfgan"]
    embeddings, noise = inputs()
    eager = [sample_images(generator, embeddings, noise) for _ in range(sampling.EAGER_CALLS_BEFORE_TRACING)]
    assert generator not in sampling._INFERENCE  # short uses stay eager: no trace to pay for
    before = sample_images(generator, embeddings, noise)  # traced from here on
    assert generator in sampling._INFERENCE
    np.testing.assert_array_equal(before, eager[0])
    assert sampling.inference_function(generator) is sampling.inference_function(generator)
    for variable in generator.trainable_variables:
        variable.assign(variable * 0.5 + 0.1)
    after = sample_images(generator, embeddings, noise)
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 1
    np.testing.assert_array_equal(after, to_uint8(ops.convert_to_numpy(generator(embeddings, noise, training=False)[0])))
