"""Step-exact training of a GAN with `fit`, resumable from any saved step.

The position in training is one number, the count of batches trained (`RunCheckpoint.step`).
Everything random in a batch is keyed by that number (`make_gan_dataset(start_step=...)`), and
the checkpoint holds every weight, optimizer slot and counter. So a run killed at any moment and
started again from its last checkpoint trains the same batches, with the same noise, in the same
order as a run that was never interrupted: no batch is replayed twice into the weights, none is
skipped, and on a CPU the final weights are bit-for-bit those of the uninterrupted run
(tests/test_resume.py). Only the work since the last save is redone.

A kill in the middle of epoch `e` resumes with a short `fit` that finishes epoch `e` (its
history row then averages the losses of the remaining steps only), then continues epoch by epoch.
"""

from __future__ import annotations

import warnings
from typing import Callable

import tensorflow as tf


def resume_position(step: int, steps_per_epoch: int) -> tuple[int, int]:
    """(epoch, steps already done in that epoch) for a global step."""
    return divmod(int(step), steps_per_epoch)


def restore_start_step(checkpoint, steps_per_epoch: int, verbose: int = 1) -> int:
    """Restore the newest readable checkpoint of `checkpoint` (a RunCheckpoint) and return the
    global step to continue from (0 for a new run), saying where a resumed run picks up."""
    checkpoint.restore_or_initialize()
    start_step = int(checkpoint.step.numpy())
    if verbose and start_step:
        epoch, done = resume_position(start_step, steps_per_epoch)
        print(f"Resuming {checkpoint.directory.parent} at step {start_step} (epoch {epoch + 1}, "
              f"batch {done + 1} of {steps_per_epoch}).")
    return start_step


def fit_resumable(gan, dataset_from: Callable[[int], tf.data.Dataset], start_step: int, epochs: int,
                  steps_per_epoch: int, callbacks, verbose: int = 1) -> None:
    """Train `gan` from global step `start_step` to the end of epoch `epochs`.

    `dataset_from(step)` must return the (repeating) training stream positioned at batch `step`.
    """
    warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")  # our tf.data shuffles itself
    epoch, done = resume_position(start_step, steps_per_epoch)
    if epoch >= epochs:
        return
    if done:  # finish the interrupted epoch first
        gan.fit(dataset_from(start_step), epochs=epoch + 1, initial_epoch=epoch,
                steps_per_epoch=steps_per_epoch - done, callbacks=callbacks, verbose=verbose)
        epoch += 1
        if gan.stop_training or epoch >= epochs:
            return
    gan.fit(dataset_from(epoch * steps_per_epoch), epochs=epochs, initial_epoch=epoch,
            steps_per_epoch=steps_per_epoch, callbacks=callbacks, verbose=verbose)
