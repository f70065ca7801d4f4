"""Checkpoints of a whole training run: both networks, both optimizers, random streams, epoch.

Built on `tf.train.Checkpoint` + `tf.train.CheckpointManager` (rotation with `max_to_keep`).

Why not `tf.train.Checkpoint(generator=model)` directly: with Keras 3, TensorFlow's object
tracking does not see every Keras variable (layers held in Python lists and BatchNorm moving
statistics were silently left out when we tried). So we hand the checkpoint explicit,
ordered dictionaries of every variable: weights, BatchNorm statistics, seed-generator states,
optimizer slots and step counters. Keys are positions (the variable order of a model is fixed
by its architecture), so a checkpoint written by one Python process restores in another.

What a kill (Colab preemption, a full disk) can and cannot do to the checkpoint folder, as
TensorFlow 2.21 writes it (read in `functional_saver` and `checkpoint_management`):
1. the tensors go to `ckpt-N_temp/part-*` and are then merged/renamed to `ckpt-N.index` and
   `ckpt-N.data-*`;
2. only then is the small `checkpoint` state file, which names the newest checkpoint, replaced
   atomically (write to a temporary name, rename);
3. only after that are checkpoints beyond `max_to_keep` deleted.
A kill during 1 leaves a `ckpt-N_temp` folder and the state file still naming the previous
checkpoint: the run resumes from that one (and the leftover folder is removed). A newest
checkpoint damaged after the fact (truncated or garbled by a Drive sync, index file missing) is
detected on restore (TensorFlow checks a CRC32C of every tensor), reported once, and the one
before it is used. A missing or unreadable state file is rebuilt from the checkpoint files on
disk instead of silently starting the run again from epoch 0.
"""

from __future__ import annotations

import errno
import logging
import re
import shutil
from pathlib import Path

import tensorflow as tf

from t2ilib.report import CheckpointWriteError, warn_once

logger = logging.getLogger("t2ilib")

CHECKPOINT_NAME = "ckpt"  # tf.train.CheckpointManager's default prefix: ckpt-<epoch>.index, ...
_NUMBERED = re.compile(rf"^{CHECKPOINT_NAME}-(\d+)\.index$")
_TEMPORARY = re.compile(rf"^{CHECKPOINT_NAME}-\d+_temp$")


def checkpoints_on_disk(directory) -> list[str]:
    """Prefixes (`.../ckpt-N`) of the checkpoints whose index file is in `directory`, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    numbered = [(int(match.group(1)), directory / f"{CHECKPOINT_NAME}-{match.group(1)}")
                for match in map(_NUMBERED.match, (path.name for path in directory.iterdir())) if match]
    return [str(prefix) for _, prefix in sorted(numbered)]


def repair_checkpoint_folder(directory) -> None:
    """Make a checkpoint folder readable by `tf.train.CheckpointManager` after a kill or a bad copy.

    Removes `ckpt-N_temp` folders left by a save that was killed half-way, and rebuilds the
    `checkpoint` state file from the `ckpt-N.index` files on disk when it is missing, empty or
    unreadable (a damaged copy is kept as `checkpoint.damaged`). Each repair is logged.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return
    for leftover in directory.iterdir():
        if leftover.is_dir() and _TEMPORARY.match(leftover.name):
            logger.info("Removing %s, left by a checkpoint save that did not finish.", leftover)
            shutil.rmtree(leftover, ignore_errors=True)
    on_disk = checkpoints_on_disk(directory)
    state_file = directory / "checkpoint"
    problem = None
    if not state_file.exists():
        problem = "is missing"
    else:
        try:
            if tf.train.get_checkpoint_state(str(directory)) is None:
                problem = "is empty"
        except Exception as error:  # noqa: BLE001  (a parse error, bad bytes, ...)
            problem = f"could not be read ({type(error).__name__})"
    if problem is None or not on_disk:
        return
    if state_file.exists():
        state_file.replace(directory / "checkpoint.damaged")
    # The state file is a small text protocol buffer; paths relative to the folder. The manager
    # only rotates (and lists) checkpoints newer than last_preserved_timestamp.
    names = [Path(prefix).name for prefix in on_disk]
    times = [Path(prefix + ".index").stat().st_mtime for prefix in on_disk]
    text = (f'model_checkpoint_path: "{names[-1]}"\n'
            + "".join(f'all_model_checkpoint_paths: "{name}"\n' for name in names)
            + "".join(f"all_model_checkpoint_timestamps: {time!r}\n" for time in times)
            + f"last_preserved_timestamp: {min(times) - 1.0!r}\n")
    partial = directory / "checkpoint.partial"
    partial.write_text(text)
    partial.replace(state_file)
    warn_once(logger, "%s %s but %d checkpoint(s) are in that folder; rebuilt it from the files "
              "(newest: %s).", state_file, problem, len(on_disk), Path(on_disk[-1]).name)


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
        repair_checkpoint_folder(self.directory)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(self.directory), max_to_keep=max_to_keep)

    @property
    def latest(self) -> str | None:
        return self.manager.latest_checkpoint

    def variables(self) -> list:
        """Every variable this checkpoint saves (weights, statistics, optimizer state)."""
        return [variable for part in self.parts.values() for variable in part.variables]

    def restore_or_initialize(self) -> int:
        """Restore the newest checkpoint that reads back cleanly; 0 when there is none.

        A damaged newest checkpoint (a truncated file after a crash) is reported once and the
        one before it is used, so a run never restarts from scratch because of one bad save.
        """
        candidates = list(reversed(self.manager.checkpoints))
        problems = []
        for path in candidates:
            try:
                status = self.checkpoint.restore(path)
                status.assert_existing_objects_matched()
            except Exception as error:  # noqa: BLE001  (TensorFlow raises many kinds for a damaged file)
                reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
                problems.append(f"{path}: {reason}")
                warn_once(logger, "Checkpoint %s could not be read (%s); trying the previous one.", path, reason)
                continue
            epoch = int(self.epoch.numpy())
            logger.info("Resumed from %s (epoch %d).", path, epoch)
            return epoch
        if candidates:
            raise RuntimeError(
                f"None of the {len(candidates)} checkpoints in {self.directory} could be read "
                f"({'; '.join(problems[:3])}). Move the folder away to start a new run, or restore a "
                "backup copy of it.")
        return 0

    def save(self, epoch: int, step: int | None = None) -> str:
        """Save with the number of finished epochs and, for step-exact trainers, the number of
        batches trained (the file is then numbered by step: ckpt-<step>). Old checkpoints beyond
        `max_to_keep` are deleted only after the new one is complete.

        Raises `CheckpointWriteError` naming the folder (and saying what to do) when the write
        fails, e.g. on a full disk; the previous checkpoint is left as it was.
        """
        self.epoch.assign(epoch)
        if step is not None:
            self.step.assign(step)
        try:
            return self.manager.save(checkpoint_number=epoch if step is None else step)
        except (OSError, tf.errors.OpError) as error:
            number = epoch if step is None else step
            shutil.rmtree(self.directory / f"{CHECKPOINT_NAME}-{number}_temp", ignore_errors=True)
            disk_full = getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or \
                "no space left" in str(error).lower() or "quota" in str(error).lower()
            cause = "the disk (or Google Drive) is full" if disk_full else "the write failed"
            kept = (f"The previous checkpoint {self.latest} is unchanged and training will resume from it."
                    if self.latest else "No earlier checkpoint of this run exists.")
            raise CheckpointWriteError(
                f"Could not write checkpoint {CHECKPOINT_NAME}-{number} to {self.directory}: {cause} "
                f"({type(error).__name__}: {error}). {kept} Free space there (on Drive: delete old runs "
                "and empty the bin) or lower train.max_to_keep, then re-run the same command.") from error
