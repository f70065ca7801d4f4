"""Checkpoints of a whole training run: both networks, both optimizers, random streams, epoch.

Built on `tf.train.Checkpoint` + `tf.train.CheckpointManager` (rotation with `max_to_keep`,
writes that a kill cannot half-finish: TensorFlow writes to a temporary name and renames).

Why not `tf.train.Checkpoint(generator=model)` directly: with Keras 3, TensorFlow's object
tracking does not see every Keras variable (layers held in Python lists and BatchNorm moving
statistics were silently left out when we tried). So we hand the checkpoint explicit,
ordered dictionaries of every variable: weights, BatchNorm statistics, seed-generator states,
optimizer slots and step counters. Keys are positions (the variable order of a model is fixed
by its architecture), so a checkpoint written by one Python process restores in another.
"""

from __future__ import annotations

import logging
from pathlib import Path

import tensorflow as tf

logger = logging.getLogger("t2ilib")


def _tf_variable(variable):
    """The underlying tf.Variable of a Keras 3 variable (or the variable itself)."""
    return getattr(variable, "value", variable) if not isinstance(variable, tf.Variable) else variable


def ordered_variables(variables) -> dict:
    """{'0000': tf.Variable, ...} in the given order, each variable once."""
    seen, result = set(), {}
    for variable in variables:
        if id(variable) in seen:
            continue
        seen.add(id(variable))
        result[f"{len(result):04d}"] = _tf_variable(variable)
    return result


class RunCheckpoint:
    """Save and restore the complete state of a GAN run in `directory`.

    `parts` maps a name to a Keras model or optimizer (anything with `.variables`).
    `restore_or_initialize()` returns the number of finished epochs (0 for a new run).
    """

    def __init__(self, directory, parts: dict, max_to_keep: int = 3):
        self.directory = Path(directory)
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")  # batches trained (GAN trainers)
        self.parts = parts
        tracked = {name: ordered_variables(part.variables) for name, part in parts.items()}
        self.checkpoint = tf.train.Checkpoint(epoch=self.epoch, step=self.step, **tracked)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(self.directory), max_to_keep=max_to_keep)

    @property
    def latest(self) -> str | None:
        return self.manager.latest_checkpoint

    def restore_or_initialize(self) -> int:
        """Restore the newest checkpoint that reads back cleanly; 0 when there is none.

        A damaged newest checkpoint (a truncated file after a crash) is reported and the one
        before it is used, so a run never restarts from scratch because of one bad save.
        """
        candidates = list(reversed(self.manager.checkpoints))
        for path in candidates:
            try:
                status = self.checkpoint.restore(path)
                status.assert_existing_objects_matched()
            except Exception as error:  # noqa: BLE001  (TensorFlow raises many kinds for a damaged file)
                logger.warning("Checkpoint %s could not be read (%s); trying the previous one.",
                               path, str(error).splitlines()[0][:200])
                continue
            epoch = int(self.epoch.numpy())
            logger.info("Resumed from %s (epoch %d).", path, epoch)
            return epoch
        if candidates:
            raise RuntimeError(
                f"None of the checkpoints in {self.directory} could be read. Move the folder away "
                "to start a new run, or restore a backup copy of it.")
        return 0

    def save(self, epoch: int, step: int | None = None) -> str:
        """Save with the number of finished epochs and, for step-exact trainers, the number of
        batches trained (the file is then numbered by step: ckpt-<step>)."""
        self.epoch.assign(epoch)
        if step is not None:
            self.step.assign(step)
        try:
            return self.manager.save(checkpoint_number=epoch if step is None else step)
        except (OSError, tf.errors.OpError) as error:
            raise RuntimeError(
                f"Could not write a checkpoint to {self.directory} ({error}). Is the disk (or Google "
                "Drive) full? Free space, then re-run: training resumes from the last good checkpoint.") from error
