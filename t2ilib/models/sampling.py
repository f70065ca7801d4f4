"""Drawing images from a generator: the one output contract of the kit's GANs, and `sample_images`.

The contract. Every generator of the kit (StackGAN Stage-I, DF-GAN, StackGAN Stage-II, and the
next family) is called as `generator(embeddings, noise, training=False)` and returns the images,
float (B, S, S, 3) in [-1, 1], as its FIRST output. What follows is the family's own and no
caller of this module reads it: the conditioning augmentation's mu and log-variance (DF-GAN:
empty), and for Stage-II the Stage-I images it refined. The generator a run draws from is the
GAN's `sampler` (DF-GAN: its weight average when kept).

Stage-II's pair, the Stage-I image beside its refinement for the side-by-side grid, is the one
extra, asked for by name: `StageIIGenerator.image_pair(embeddings, noise)` ->
(Stage-I images, Stage-II images), used by `sample_image_pairs`.

Everything that turns a generator into pictures goes through here: the per-epoch sample grids,
the shapes fidelity callback, the end-of-run evaluation, `evaluation.evaluate_run` and the
`generate` functions of the run types. Images come back as uint8 (as a PNG would hold them),
computed `batch_size` at a time in inference mode.
"""

from __future__ import annotations

import weakref

import numpy as np

from t2ilib.viz import to_uint8

BATCH_SIZE = 64  # images per generator call: small enough for Stage-II's 256x256 on a Colab GPU


def _batches(call, embeddings, noise, batch_size: int) -> list[np.ndarray]:
    """`call(embeddings, noise)` -> a tuple of image batches in [-1, 1], over `batch_size`-row
    slices; each element of the tuple concatenated and made uint8."""
    import keras

    embeddings = np.asarray(embeddings, dtype=np.float32)
    noise = np.asarray(noise, dtype=np.float32)
    if len(embeddings) != len(noise):
        raise ValueError(f"One noise vector per embedding: got {len(embeddings)} embeddings and {len(noise)} noise "
                         "vectors.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1 (got {batch_size}).")
    parts = [[to_uint8(keras.ops.convert_to_numpy(images)) for images in call(embeddings[start:start + batch_size],
                                                                             noise[start:start + batch_size])]
             for start in range(0, len(embeddings), batch_size)]
    return [np.concatenate(column) for column in zip(*parts)]


_INFERENCE = weakref.WeakKeyDictionary()  # generator -> its traced inference function
_EAGER_CALLS = weakref.WeakKeyDictionary()  # generator -> calls made eagerly so far
EAGER_CALLS_BEFORE_TRACING = 20


def inference_function(generator):
    """`generator(embeddings, noise, training=False)[0]`, as one traced TensorFlow function once
    the generator has been asked for images `EAGER_CALLS_BEFORE_TRACING` times (kept while it
    lives), eagerly before. A generator called eagerly runs layer by layer in Python: 0.90 CPU s
    per 240 images of the quickstart's DF-GAN against 0.23 traced (benchmarks/RESULTS.md), but a
    trace costs 1-2 s, which a short run (a test, a one-off `generate`) never earns back; a
    training run draws its per-epoch grid, fidelity, agreement and guard images ~10 times an
    epoch, so it switches in its second or third epoch. The traced function reads the
    generator's variables at each call, so it follows training (and a weight average)."""
    import keras
    import tensorflow as tf

    def eager(embeddings, noise):
        return generator(embeddings, noise, training=False)[0]

    if not isinstance(generator, keras.layers.Layer):  # any other callable (a test's stand-in) as it is
        return eager
    function = _INFERENCE.get(generator)
    if function is None:
        calls = _EAGER_CALLS.get(generator, 0) + 1
        _EAGER_CALLS[generator] = calls
        if calls <= EAGER_CALLS_BEFORE_TRACING:
            return eager
        function = tf.function(eager, reduce_retracing=True)
        _INFERENCE[generator] = function
    return function


def sample_images(generator, embeddings, noise, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """uint8 (N, S, S, 3): the generator's image for `embeddings[i]` with `noise[i]` (the first
    output of `generator(embeddings, noise, training=False)`, see the module docstring)."""
    function = inference_function(generator)
    return _batches(lambda e, z: (function(e, z),), embeddings, noise, batch_size)[0]


def sample_image_pairs(generator, embeddings, noise, batch_size: int = BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (Stage-I images, Stage-II images), (N, S/4, S/4, 3) and (N, S, S, 3), for the same
    captions and noise, from a Stage-II generator's `image_pair`."""
    first, refined = _batches(generator.image_pair, embeddings, noise, batch_size)
    return first, refined


def grid_inputs(embeddings, noise) -> tuple[np.ndarray, np.ndarray]:
    """Every caption with every noise vector: (C*K, dim) embeddings and (C*K, noise_dim) noise,
    caption-major (row c*K + k is caption c with noise k)."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    noise = np.asarray(noise, dtype=np.float32)
    return np.repeat(embeddings, len(noise), axis=0), np.tile(noise, (len(embeddings), 1))


def _as_grid(images: np.ndarray, num_captions: int) -> np.ndarray:
    return images.reshape((num_captions, -1) + images.shape[1:])


def sample_grid(generator, embeddings, noise, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """uint8 (num_captions, num_noise, S, S, 3): every caption with every noise vector."""
    images = sample_images(generator, *grid_inputs(embeddings, noise), batch_size=batch_size)
    return _as_grid(images, len(embeddings))


def sample_pair_grid(generator, embeddings, noise, batch_size: int = BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """A Stage-II generator's pair of uint8 grids, (num_captions, num_noise, ...) each: the
    Stage-I images and their Stage-II refinements, every caption with every noise vector."""
    first, refined = sample_image_pairs(generator, *grid_inputs(embeddings, noise), batch_size=batch_size)
    return _as_grid(first, len(embeddings)), _as_grid(refined, len(embeddings))


def seeded_noise(seed: int, shape: tuple) -> np.ndarray:
    """Standard-normal float32 noise of `shape` from `numpy.random.default_rng(seed)`: the noise of
    `generate` and of `evaluation.generate_for_captions` (same seed, same images)."""
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
