"""tf.data batches for GAN training: (real image, caption embedding, mismatched real image).

The dataset iterates over *caption* indices; images are looked up by row in the memory-mapped
uint8 cache one batch at a time, so nothing holds decoded float images for the whole dataset.
Augmentation follows StackGAN: the cache stores images at 76/64 of the target size, and each
sample gets its own random crop to the target size and a random horizontal flip.
Images are scaled to [-1, 1].
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def to_model_range(images_uint8):
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return tf.cast(images_uint8, tf.float32) / 127.5 - 1.0


def center_crop(images, image_size: int):
    """Crop the centre `image_size` square of a batch (B, S, S, 3)."""
    offset = (images.shape[1] - image_size) // 2
    return images[:, offset: offset + image_size, offset: offset + image_size, :]


def random_crop_and_flip(images, image_size: int, seed, flip: bool = True):
    """Per-sample random crop to `image_size` and horizontal flip of a batch (B, S, S, 3).

    `seed` is a shape-(2,) int tensor for TensorFlow's stateless random ops, so the same
    seed always gives the same crops (reproducible, and resumable mid-run).
    """
    batch = tf.shape(images)[0]
    side = tf.shape(images)[1]
    max_offset = side - image_size + 1
    offsets = tf.random.stateless_uniform((batch, 2), seed=seed, minval=0, maxval=max_offset, dtype=tf.int32)
    steps = tf.range(image_size)
    rows = offsets[:, :1] + steps[None, :]  # (B, image_size)
    cols = offsets[:, 1:] + steps[None, :]
    if flip:
        do_flip = tf.random.stateless_uniform((batch, 1), seed=seed + 1) < 0.5
        cols = tf.where(do_flip, tf.reverse(cols, axis=[1]), cols)
    images = tf.gather(images, rows, axis=1, batch_dims=1)  # (B, image_size, S, 3)
    return tf.gather(images, cols, axis=2, batch_dims=1)  # (B, image_size, image_size, 3)


def caption_order(num_captions: int, seed: int, shuffle: bool = True, repeat: bool = False,
                  start_index: int = 0) -> tf.data.Dataset:
    """Caption indices in training order, starting `start_index` elements into the stream.

    Epoch `e` of the stream is a permutation of `range(num_captions)` that depends only on
    `(seed, e)` (stateless shuffling), so any position of the stream can be reached directly:
    a run resumed at batch `k` reads exactly the captions it would have read without the
    interruption, and never replays or skips a batch.
    """
    first_epoch, skip = divmod(int(start_index), num_captions)
    if not repeat and first_epoch > 0:
        raise ValueError(f"start_index {start_index} is past the single epoch of {num_captions} captions.")

    def epoch_order(epoch):
        indices = tf.range(num_captions, dtype=tf.int64)
        if shuffle:
            indices = tf.random.experimental.stateless_shuffle(indices, seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        return tf.data.Dataset.from_tensor_slices(indices)

    epochs = tf.data.Dataset.range(first_epoch, 2**62 if repeat else 1)
    return epochs.flat_map(epoch_order).skip(skip)


def make_gan_dataset(image_array: np.ndarray, image_rows: np.ndarray, embeddings: np.ndarray, batch_size: int,
                     image_size: int, augment: bool = True, flip: bool = True, seed: int = 0,
                     shuffle: bool = True, repeat: bool = False, start_step: int = 0,
                     noise_dims: tuple[int, ...] = ()) -> tf.data.Dataset:
    """Batches of `(real_images, embeddings, wrong_images)` for `StackGANStage1.fit`, or with
    `noise_dims`, `((real_images, embeddings, wrong_images), (noise_1, noise_2, ...))`.

    image_array: uint8 (num_images, S, S, 3), usually `ImageCache.array` (memory-mapped).
    image_rows: int (num_captions,), the image row of each caption.
    embeddings: float32 (num_captions, dim), one per caption.
    The "wrong" image of a sample is a random image (of those used by these captions) other
    than its own. Incomplete last batches are dropped (BatchNorm dislikes tiny batches).

    Every random choice of batch `k` (caption order, wrong images, crops, flips, and one
    standard-normal array per entry of `noise_dims`, e.g. `(noise_dim, condition_dim)` for the
    generator's z and its conditioning-augmentation epsilon) is a function of `(seed, k)` only.
    Hence `start_step=k` continues a stream exactly at batch `k` (resume after a kill), and a
    distribution strategy that splits a global batch between devices sees the same numbers as
    one device.
    """
    image_rows = np.asarray(image_rows, dtype=np.int64)
    if len(image_rows) != len(embeddings):
        raise ValueError(f"{len(image_rows)} captions but {len(embeddings)} embeddings: they must be aligned row by row.")
    if len(image_rows) < batch_size:
        raise ValueError(f"Only {len(image_rows)} captions for a batch of {batch_size}: lower batch_size.")
    candidate_rows = np.unique(image_rows)
    if len(candidate_rows) < 2:
        raise ValueError("Need at least two distinct images to draw mismatched ('wrong') images.")
    if augment and image_array.shape[1] < image_size:
        raise ValueError(f"Cached images are {image_array.shape[1]}px, smaller than image_size {image_size}.")

    def gather(caption_indices, wrong_picks):
        rows = image_rows[caption_indices]
        wrong = candidate_rows[wrong_picks]
        # Move any accidental self-match to the next candidate image.
        clash = wrong == rows
        wrong[clash] = candidate_rows[(wrong_picks[clash] + 1) % len(candidate_rows)]
        return image_array[rows], embeddings[caption_indices].astype(np.float32), image_array[wrong]

    dim = embeddings.shape[1]
    side = image_array.shape[1]

    def load(step, caption_indices):
        step_seed = tf.stack([tf.constant(seed, tf.int64), step])
        wrong_picks = tf.random.stateless_uniform(tf.shape(caption_indices), seed=step_seed, minval=0,
                                                  maxval=len(candidate_rows), dtype=tf.int64)
        real, emb, wrong = tf.numpy_function(gather, [caption_indices, wrong_picks],
                                             [tf.uint8, tf.float32, tf.uint8], stateful=False)
        real.set_shape((batch_size, side, side, 3))
        wrong.set_shape((batch_size, side, side, 3))
        emb.set_shape((batch_size, dim))
        crop_seed = tf.cast(step_seed, tf.int32) + 7
        if augment:
            real = random_crop_and_flip(real, image_size, crop_seed, flip)
            wrong = random_crop_and_flip(wrong, image_size, crop_seed + 3, flip)
        else:
            real, wrong = center_crop(real, image_size), center_crop(wrong, image_size)
        noise = tuple(tf.random.stateless_normal((batch_size, noise_dim), seed=step_seed + 101 * (number + 1))
                      for number, noise_dim in enumerate(noise_dims))
        images_and_text = (to_model_range(real), emb, to_model_range(wrong))
        return (images_and_text, noise) if noise_dims else images_and_text

    order = caption_order(len(image_rows), seed, shuffle=shuffle, repeat=repeat, start_index=start_step * batch_size)
    batches = order.batch(batch_size, drop_remainder=True)
    dataset = tf.data.Dataset.zip(tf.data.Dataset.range(start_step, 2**62), batches)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)
