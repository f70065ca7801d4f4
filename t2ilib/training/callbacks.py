"""Keras callbacks that turn `model.fit` into a run directory.

- `SampleGrid`: after each epoch, images for fixed captions x fixed noise -> samples/epoch_XXXX.png
- `StackedSampleGrid`: the same for Stage-II, each cell the Stage-I image beside its refinement
- `LossCurves`: redraws loss_curves.png from history.csv (written by keras.callbacks.CSVLogger)
- `SaveCheckpoint`: a `RunCheckpoint` of both networks, both optimizers and the epoch counter;
  stops the run on a NaN/Inf loss and never saves a non-finite state (`TrainingDiverged`)
- `ShapesFidelity`: on the built-in dataset, adds the fidelity of fixed test captions to the logs
  (so it lands in history.csv and on the curves: you see *when* the model starts to follow text)
- `TensorBoardLog`: every epoch's logs, learning rates, epochs/hour and the sample grid as
  TensorBoard summaries in run_dir/logs, on the run's global step (a resumed run continues it)
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import keras
import numpy as np

from t2ilib.errors import TrainingDiverged  # noqa: F401  (raised here, defined TF-free)
from t2ilib.models.sampling import sample_grid, sample_images, sample_pair_grid
from t2ilib.training.checkpoints import non_finite_variables
from t2ilib.viz import plot_history, save_sample_grid, save_stacked_grid

logger = logging.getLogger("t2ilib")


class SampleGrid(keras.callbacks.Callback):
    """Save `samples/epoch_XXXX.png` (1-based epoch) from fixed captions and fixed noise.

    Because captions and noise never change within a run (and the generator uses the mean
    condition in inference), the grids of two epochs differ only by what the model learned.
    """

    def __init__(self, generator, captions: list[str], embeddings: np.ndarray, noise: np.ndarray, directory,
                 every_epochs: int = 1):
        super().__init__()
        self.generator = generator
        self.captions = list(captions)
        self.embeddings = np.asarray(embeddings, dtype=np.float32)
        self.noise = np.asarray(noise, dtype=np.float32)
        self.directory = Path(directory)
        self.every_epochs = every_epochs
        self.last_path = None

    def on_epoch_end(self, epoch, logs=None):
        finished = epoch + 1
        if finished % self.every_epochs:
            return
        images = sample_grid(self.generator, self.embeddings, self.noise)
        self.last_path = save_sample_grid(images, self.captions, self.directory / f"epoch_{finished:04d}.png",
                                          title=f"epoch {finished}")


class StackedSampleGrid(SampleGrid):
    """Stage-II's `SampleGrid`: each cell shows the Stage-I image (upscaled) and, beside it,
    the Stage-II image for the same caption and noise."""

    def on_epoch_end(self, epoch, logs=None):
        finished = epoch + 1
        if finished % self.every_epochs:
            return
        first, refined = sample_pair_grid(self.generator, self.embeddings, self.noise)
        self.last_path = save_stacked_grid(first, refined, self.captions, self.directory / f"epoch_{finished:04d}.png",
                                           title=f"epoch {finished}: Stage-I (left) and Stage-II (right)")


class ShapesFidelity(keras.callbacks.Callback):
    """Score images generated from fixed test captions with the shapes fidelity metric each epoch.

    Put it before CSVLogger in the callback list: it adds `fidelity` (mean over attributes) and
    `fidelity_shape`, `fidelity_colour`, ... (one per attribute) to the epoch's logs, which the
    logger then writes: an attribute that stays at chance while the mean rises shows in its column.
    """

    def __init__(self, generator, embeddings: np.ndarray, attributes, noise: np.ndarray):
        super().__init__()
        self.generator = generator
        self.embeddings = np.asarray(embeddings, dtype=np.float32)
        self.attributes = attributes.reset_index(drop=True)
        self.noise = np.asarray(noise, dtype=np.float32)

    def on_epoch_end(self, epoch, logs=None):
        from t2ilib.metrics.fidelity import ATTRIBUTES, shapes_fidelity

        score = shapes_fidelity(sample_images(self.generator, self.embeddings, self.noise), self.attributes)
        if logs is not None:
            logs["fidelity"] = score["mean"]
            logs.update({f"fidelity_{name}": score[name] for name in ATTRIBUTES})


class HistoryCSV(keras.callbacks.CSVLogger):
    """keras.callbacks.CSVLogger without the empty `val_*` columns it adds when fit has no
    validation data. Appends across resumes (one row per epoch, `epoch` 0-based); a resumed run
    keeps the columns of the existing file, so rows never shift under an older header."""

    def __init__(self, filename):
        super().__init__(str(filename), append=True)

    def on_epoch_end(self, epoch, logs=None):
        if self.keys is None and logs:
            self.keys = self._existing_columns() or sorted(logs)
        super().on_epoch_end(epoch, logs)

    def _existing_columns(self) -> list | None:
        path = Path(self.filename)
        if not path.exists():
            return None
        with open(path, encoding="utf-8") as file:
            header = file.readline().strip()
        return [column for column in header.split(self.sep) if column != "epoch"] if header else None


class LossCurves(keras.callbacks.Callback):
    """Redraw the loss-curve figure from the history CSV after every epoch."""

    def __init__(self, history_csv, figure_path, columns=("d_loss", "g_loss", "kl", "fidelity", "r_precision",
                                                          "real_r_precision"),
                 title: str = "Stage-I losses (and agreement scores)"):
        super().__init__()
        self.title = title
        self.history_csv = Path(history_csv)
        self.figure_path = Path(figure_path)
        self.columns = list(columns)

    def on_epoch_end(self, epoch, logs=None):
        if self.history_csv.exists():
            import pandas as pd

            table = pd.read_csv(self.history_csv)
            columns = [column for column in self.columns if column in table]
            plot_history(table, self.figure_path, columns=columns, title=self.title)


def _plugin_metadata(plugin: str, data_class: int, description: str = ""):
    """SummaryMetadata for TensorBoard's `plugin` ("scalars": data class 1, scalar; "images": 3,
    blob sequence), as the tensorboard package's own summary functions write it."""
    from tensorflow.core.framework import summary_pb2

    return summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin),
                                       summary_description=description, data_class=data_class)


class TensorBoardLog(keras.callbacks.Callback):
    """Write TensorBoard summaries to `run_dir/logs` (`%tensorboard --logdir RUN_DIR/logs`).

    At every epoch end, on the run's global step (batches trained since the run began):
    - every number in the epoch's logs (`d_loss`, `g_loss`, `kl`, `fidelity`, `loss`, ...), as
      `epoch/<name>`; put this callback after the ones that add entries (ShapesFidelity);
    - the learning rate of each optimizer the model holds (`learning_rate/g`, `learning_rate/d`,
      or `learning_rate`), which shows the schedule's halvings;
    - `speed/epochs_per_hour`: the batches of this epoch over its wall time, per hour;
    - the fixed-caption grid `run_dir/samples/epoch_XXXX.png` as the image `samples`, when a
      SampleGrid earlier in the list wrote it.

    `initial_step` is the step the run resumes from (0 for a new run; the GAN trainers' start
    step, the VAE's optimizer iterations), so a resumed run continues the same step axis and
    its points follow those of the earlier sessions. `steps_per_epoch` (default: what `fit`
    was given) measures the speed of a short epoch that finishes an interrupted one.

    Summaries are written with `tf.summary.write` and the metadata of TensorBoard's scalar and
    image plugins, which is what `tf.summary.scalar`/`image` write when the `tensorboard`
    package is installed (Colab has it); written this way they need TensorFlow only, so training
    works the same on a machine without it (`pip install tensorboard` to look at the logs there).
    """

    def __init__(self, run_dir, initial_step: int = 0, steps_per_epoch: int | None = None):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.log_dir = self.run_dir / "logs"
        self.step = int(initial_step)
        self.steps_per_epoch = steps_per_epoch
        self.writer = None
        self._epoch_started = None
        self._epoch_first_step = self.step

    def _writer(self):
        import tensorflow as tf

        if self.writer is None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self.writer = tf.summary.create_file_writer(str(self.log_dir))
        return self.writer

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.perf_counter()
        self._epoch_first_step = self.step

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1

    def learning_rates(self) -> dict[str, float]:
        rates = {}
        for attribute, tag in (("g_optimizer", "learning_rate/g"), ("d_optimizer", "learning_rate/d"),
                               ("optimizer", "learning_rate")):
            optimizer = getattr(self.model, attribute, None)
            rate = getattr(optimizer, "learning_rate", None)
            if rate is not None and tag not in rates:
                try:
                    rates[tag] = float(keras.ops.convert_to_numpy(rate))
                except (TypeError, ValueError):  # a schedule object that is not a number here
                    pass
        if "learning_rate/g" in rates:
            rates.pop("learning_rate", None)  # the GAN's compile-time optimizer slot duplicates g's
        return rates

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        scalars = {f"epoch/{name}": float(value) for name, value in (logs or {}).items()
                   if np.ndim(value) == 0 and isinstance(value, (int, float, np.number))}
        scalars.update(self.learning_rates())
        batches = self.step - self._epoch_first_step
        per_epoch = self.steps_per_epoch or (self.params or {}).get("steps")
        if self._epoch_started is not None and batches and per_epoch:
            elapsed = max(time.perf_counter() - self._epoch_started, 1e-9)
            scalars["speed/epochs_per_hour"] = (batches / per_epoch) * 3600.0 / elapsed
        grid = self.run_dir / "samples" / f"epoch_{epoch + 1:04d}.png"
        with self._writer().as_default(step=self.step):
            for tag, value in scalars.items():
                tf.summary.write(tag, tf.constant(value, tf.float32), metadata=_plugin_metadata("scalars", 1))
            if grid.is_file():
                png = tf.io.read_file(str(grid))
                height, width = tf.io.decode_png(png).shape[:2]
                # The image plugin's layout: [width, height, PNG bytes of each image].
                tf.summary.write("samples", tf.stack([tf.constant(str(width)), tf.constant(str(height)), png]),
                                 metadata=_plugin_metadata("images", 3,
                                                           f"fixed captions x fixed noise, epoch {epoch + 1}"))
        self.writer.flush()

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.flush()


def non_finite_logs(logs) -> str | None:
    """'name = value' of the first NaN/Inf number in a Keras logs dict, or None."""
    for name, value in (logs or {}).items():
        if np.ndim(value) == 0 and isinstance(value, (int, float, np.number)) and not np.isfinite(value):
            return f"{name} = {value}"
    return None


class SaveCheckpoint(keras.callbacks.Callback):
    """Save a `RunCheckpoint` every `every_epochs` epochs, at the end of training, and (for the
    step-exact GAN trainers, which pass `initial_step`) every `every_steps` batches; never a
    broken state.

    It also guards the run: a NaN or infinite value in the batch logs (any loss: `d_loss`,
    `g_loss`, `kl`, `loss`, ...) stops training at that batch, and a checkpoint is only written
    when the logs and every saved variable are finite. So a run that diverges keeps its last
    good checkpoint. (Keras still calls `on_epoch_end` after a mid-epoch stop; that call saves
    nothing. `keras.callbacks.TerminateOnNaN` watches only a key named "loss", which a GAN does
    not log.) After `fit`, `raise_if_diverged()` turns the stop into a `TrainingDiverged` error
    that names the epoch, the batch and the checkpoint kept.
    """

    def __init__(self, run_checkpoint, every_epochs: int = 1, every_steps: int = 0, initial_step: int | None = None):
        super().__init__()
        self.run_checkpoint = run_checkpoint
        self.every_epochs = max(1, every_epochs)
        self.every_steps = every_steps if initial_step is not None else 0
        self.step = initial_step  # global batch count; None: epoch-numbered checkpoints only
        self.last_saved = None
        self.last_finished_epoch = None
        self.current_epoch = 0
        self.diverged = None  # (epoch, batch or None, what) once a non-finite value was seen

    def _problem(self, logs) -> str | None:
        """What is not finite in `logs` or in the saved variables (None: all finite)."""
        problem = non_finite_logs(logs)
        if problem is None:
            name = non_finite_variables(self.run_checkpoint.variables())
            problem = f"variable {name} holds NaN/Inf" if name else None
        return problem

    def _save(self, epoch: int) -> None:
        key = (epoch, self.step)
        if key != self.last_saved:
            self.run_checkpoint.save(epoch, self.step)
            self.last_saved = key

    def on_epoch_begin(self, epoch, logs=None):
        self.current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.step is not None:
            self.step += 1
        if self.diverged is not None:
            return
        problem = non_finite_logs(logs)
        if problem:
            # The global batch count when the trainer keeps one, else the batch within this fit's epoch.
            self._stop(self.current_epoch + 1, self.step if self.step is not None else batch + 1, problem)
        elif self.every_steps and self.step % self.every_steps == 0:
            problem = self._problem(None)
            if problem:
                self._stop(self.current_epoch + 1, self.step, problem)
            else:
                self._save(self.current_epoch)  # mid-epoch: `current_epoch` epochs are finished

    def on_epoch_end(self, epoch, logs=None):
        if self.diverged is not None:
            return
        problem = self._problem(logs)
        if problem:
            self._stop(epoch + 1, None, problem)
            return
        self.last_finished_epoch = epoch + 1
        if self.last_finished_epoch % self.every_epochs == 0:
            self._save(self.last_finished_epoch)

    def on_train_end(self, logs=None):
        if self.last_finished_epoch is not None and self.diverged is None:
            self._save(self.last_finished_epoch)

    def _stop(self, epoch: int, batch: int | None, problem: str) -> None:
        self.diverged = (epoch, batch, problem)
        if self.model is not None:
            self.model.stop_training = True
        logger.error("%s", self._message())

    def _message(self) -> str:
        epoch, batch, problem = self.diverged
        if batch is None:
            where = f"the end of epoch {epoch}"
        elif self.step is not None:
            where = f"epoch {epoch}, batch {batch} of the run"
        else:
            where = f"epoch {epoch}, batch {batch} of the epoch"
        kept = self.run_checkpoint.latest
        if kept:
            saved = f"Kept {kept}: the last checkpoint with finite weights; nothing was saved after it."
        else:
            saved = "No checkpoint had been written yet, so none was kept."
        return (f"Training stopped on NaN/Inf at {where} ({problem}). {saved} Lower the learning rate and "
                "train again in a new run directory, or, if the inputs held the NaN/Inf, fix them and re-run the "
                "same call to go on from the kept checkpoint.")

    def raise_if_diverged(self) -> None:
        """Raise `TrainingDiverged` if this callback stopped the run on a NaN/Inf."""
        if self.diverged is not None:
            epoch, batch, _ = self.diverged
            raise TrainingDiverged(self._message(), epoch, batch, self.run_checkpoint.latest)
