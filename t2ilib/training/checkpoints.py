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

Nothing non-finite is ever written or read back: `RunCheckpoint.save` refuses a state holding
NaN/Inf (`NonFiniteWeights`), and a checkpoint that restores NaN/Inf is treated as unreadable
(the one before it is used; none left: `CheckpointUnreadable`), so every loader refuses it.

`RunFolder` makes a run directory change only by steps that complete: a start that fails (bad
settings, unreadable or incompatible checkpoints, a crash before the first checkpoint) leaves
the folder as it was; config.json is written with the first checkpoint, or after a restore.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

import tensorflow as tf

from t2ilib.errors import CheckpointWriteError, warn_once
from t2ilib.files import partial_glob, write_text_atomically

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
    write_text_atomically(state_file, text)
    warn_once(logger, "%s %s but %d checkpoint(s) are in that folder; rebuilt it from the files "
              "(newest: %s).", state_file, problem, len(on_disk), Path(on_disk[-1]).name)


class NonFiniteWeights(RuntimeError):
    """A state holding NaN/Inf was about to be written (or used): it never is."""


class CheckpointUnreadable(RuntimeError):
    """None of the checkpoints of a folder could be restored; `problems`: one line per file."""

    def __init__(self, message: str, problems: list[str]):
        super().__init__(message)
        self.problems = problems


def non_finite_variables(variables) -> str | None:
    """The path of the first floating-point variable holding a NaN/Inf, or None."""
    for variable in variables:
        value = _tf_variable(variable)
        if value.dtype.is_floating and not bool(tf.reduce_all(tf.math.is_finite(value))):
            return getattr(variable, "path", None) or variable.name
    return None


def refuse_non_finite(variables, what: str) -> None:
    """Raise `NonFiniteWeights` naming `what` (e.g. a weights file about to be written) and the
    first variable holding NaN/Inf; nothing when every value is finite."""
    name = non_finite_variables(variables)
    if name:
        raise NonFiniteWeights(f"{what}: variable {name} holds NaN/Inf, so it is not written (nor used). Training "
                               "diverged: lower the learning rate and train again in a new run directory.")


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

    def __init__(self, directory, parts: dict, max_to_keep: int = 3, before_first_save=None):
        self.directory = Path(directory)
        self.before_first_save = before_first_save  # called once, just before the first save (RunFolder)
        self.saved = False  # a checkpoint was written by this object
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
                bad = non_finite_variables(self.variables())
                if bad:
                    raise NonFiniteWeights(f"variable {bad} holds NaN/Inf")
            except Exception as error:  # noqa: BLE001  (TensorFlow raises many kinds for a damaged file)
                reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
                problems.append(f"{path}: {reason}")
                warn_once(logger, "Checkpoint %s could not be read (%s); trying the previous one.", path, reason)
                continue
            epoch = int(self.epoch.numpy())
            logger.info("Resumed from %s (epoch %d).", path, epoch)
            return epoch
        if candidates:
            raise CheckpointUnreadable(
                f"None of the {len(candidates)} checkpoints in {self.directory} could be read "
                f"({'; '.join(problems[:3])}). Move the folder away to start a new run, or restore a "
                "backup copy of it.", problems)
        return 0

    def save(self, epoch: int, step: int | None = None) -> str:
        """Save with the number of finished epochs and, for step-exact trainers, the number of
        batches trained (the file is then numbered by step: ckpt-<step>). Old checkpoints beyond
        `max_to_keep` are deleted only after the new one is complete.

        Raises `CheckpointWriteError` naming the folder (and saying what to do) when the write
        fails, e.g. on a full disk; the previous checkpoint is left as it was.
        """
        number = epoch if step is None else step
        refuse_non_finite(self.variables(), f"Checkpoint {CHECKPOINT_NAME}-{number} in {self.directory}")
        if self.before_first_save is not None:
            hook, self.before_first_save = self.before_first_save, None
            hook()
        self.epoch.assign(epoch)
        if step is not None:
            self.step.assign(step)
        try:
            path = self.manager.save(checkpoint_number=number)
            self.saved = True
            return path
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


# ---------------------------------------------------------------------------------------
# The run directory as a whole
# ---------------------------------------------------------------------------------------
RUN_FILES = ("config.json", "vae_config.json", "checkpoints", "best", "samples", "history.csv", "loss_curves.png",
             "metrics.json", "logs")  # what the trainers write into a run directory (logs/: TensorBoard)


class RunFolder:
    """A run directory that only steps which complete change.

    Made before a trainer writes anything: it refuses a path that is a file or a folder it
    cannot write to, and remembers what is there. `undo_on_failure()` wraps the start of
    training: if it fails before this session wrote a checkpoint (bad data, an unreadable or
    incompatible checkpoint, a crash or Ctrl-C in the first epoch), the trainer's files it
    created (`RUN_FILES` and sample images, nothing else) are removed again, so the folder is as
    it was. `run_checkpoint(parts, write_config=...)` makes the run's `RunCheckpoint`, which
    saves config.json together with the first checkpoint of a new run.
    """

    def __init__(self, run_dir):
        self.path = Path(run_dir)
        if self.path.exists() and not self.path.is_dir():
            raise NotADirectoryError(f"The run directory {self.path} is a file; give a folder (new or an earlier "
                                     "run's) as the run directory.")
        self.existed = self.path.is_dir()
        self.before = set(self._trainer_paths())
        self.checkpoints: list[RunCheckpoint] = []  # whose saves count as "this session wrote a checkpoint"
        check_writable(self.path)

    def _trainer_paths(self):
        """The trainer's files and folders in the run directory, and the images in samples/.
        (Inside checkpoints/ and best/ TensorFlow's own protocol keeps every step complete.)"""
        for name in RUN_FILES:
            if (self.path / name).exists():
                yield self.path / name
            yield from self.path.glob(partial_glob(name))  # unfinished writes (t2ilib.files)
        if (self.path / "samples").is_dir():
            yield from (self.path / "samples").iterdir()

    def run_checkpoint(self, parts: dict, max_to_keep: int = 3, write_config=None) -> RunCheckpoint:
        """The RunCheckpoint of `run_dir/checkpoints`; `write_config()` runs just before its first
        save (a new run's config.json goes with its first checkpoint)."""
        checkpoint = RunCheckpoint(self.path / "checkpoints", parts, max_to_keep=max_to_keep,
                                   before_first_save=write_config)
        self.checkpoints.append(checkpoint)
        return checkpoint

    @property
    def saved(self) -> bool:
        return any(checkpoint.saved for checkpoint in self.checkpoints)

    @contextlib.contextmanager
    def undo_on_failure(self):
        """Create the folder, run the block; on any failure before a checkpoint of this session
        was written, `undo()`."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            yield self
        except BaseException:
            if not self.saved:
                self.undo()
            raise

    def undo(self) -> None:
        """Remove what the trainer created since this object was made: files and folders of
        `RUN_FILES` that were not there, and new images in samples/."""
        for path in self._trainer_paths():
            if path in self.before:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        if not self.existed and self.path.is_dir() and not any(self.path.iterdir()):
            self.path.rmdir()

    def trim_history(self, finished_epochs: int, name: str = "history.csv") -> None:
        """Drop the rows of epochs after the restored checkpoint (0-based `epoch` >=
        `finished_epochs`), written by a session that stopped before saving them, so a resumed
        run's history has each epoch once. Rewritten atomically."""
        path = self.path / name
        if not path.is_file():
            return
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        if not lines:
            return
        kept = [lines[0]] + [line for line in lines[1:] if not _epoch_at_least(line, finished_epochs)]
        if len(kept) < len(lines):
            write_text_atomically(path, "".join(kept))
            logger.info("Dropped %d row(s) of %s for epochs after the checkpoint the run resumes from.",
                        len(lines) - len(kept), path)


def _epoch_at_least(line: str, epoch: int) -> bool:
    try:
        return int(float(line.split(",", 1)[0])) >= epoch
    except ValueError:
        return False


def check_writable(path) -> None:
    """Raise PermissionError naming `path` when files cannot be created in it (or, for a folder
    that does not exist yet, in its nearest existing parent): a read-only mount, no permission."""
    path = Path(path)
    probe_in = path
    while not probe_in.exists() and probe_in != probe_in.parent:
        probe_in = probe_in.parent
    if not probe_in.is_dir():
        raise NotADirectoryError(f"{probe_in} is a file, so {path} cannot be a folder; choose another path.")
    try:
        with tempfile.TemporaryFile(dir=probe_in):
            pass
    except OSError as error:
        raise PermissionError(f"Cannot write to {probe_in} ({os.strerror(error.errno) if error.errno else error}): "
                              f"{path} needs a folder you can write to. On Colab, check that Drive is mounted "
                              "(and not full); otherwise choose another folder.") from error


def gan_checkpoint_parts(gan) -> dict:
    """What a GAN run's checkpoint holds: the whole model (every network inside it, Stage-II's
    frozen Stage-I generator included, so a run is self-contained) and both optimizers."""
    return {"model": gan, "g_optimizer": gan.g_optimizer, "d_optimizer": gan.d_optimizer}
