"""Guards that watch a GAN while it trains: collapse warnings and the best checkpoint.

The StackGAN+BERT report trained 490 epochs before noticing that every output had become a
flat, single-colour image. `CollapseGuard` measures this after every epoch and says so at once:

- `caption_spread`: images for *different* captions (same noise) -> per-pixel standard
  deviation across captions, averaged (`t2ilib.metrics.reconstruction.output_spread`, images
  in [0, 1]). ~0: the generator draws one picture whatever the caption.
- `image_spread`: the mean, over those images and channels, of each image's spatial standard deviation.
  ~0: flat single-colour images.
- losses that are not finite (NaN / Inf);
- with an agreement score (`t2ilib.training.agreement.AgreementScore`, placed before the guard):
  generated images whose R-precision for their captions stays at chance (2 measurements in a
  row) while the real images' does not: the text is ignored (from epoch `warmup_epochs + 1` on;
  earlier only logged). The DF-GAN quickstart leaves chance at epoch 6 (0.044, chance 0.01).

Both spreads land in the epoch's logs (so in history.csv, and on the curves). On collapse it
logs a warning and prints it; with `stop_on_collapse=True` it stops `fit` after `patience`
collapsed epochs in a row.

A fresh generator also draws flat gray at first (after one epoch, BatchNorm's moving statistics
have not caught up: the quickstart's epoch-1 grid is uniform gray). So flat or identical outputs
count as a collapse once the outputs have been varied at some epoch of this session, or from
epoch `warmup_epochs + 1` on, whichever comes first; earlier they are only logged (info).

`BestCheckpoint` keeps a copy of the whole run state (a `RunCheckpoint` in `run_dir/best/`)
from the epoch with the best value of a chosen log entry (default `fidelity`, higher is
better; names containing "loss" are minimised), and writes `best/best.json`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras
import numpy as np

from t2ilib.files import write_text_atomically
from t2ilib.metrics.reconstruction import output_spread
from t2ilib.models.sampling import inference_function
from t2ilib.training.agreement import text_ignored
from t2ilib.training.callbacks import non_finite_logs
from t2ilib.training.checkpoints import non_finite_variables

logger = logging.getLogger("t2ilib")

COLLAPSE_SPREAD = 0.01  # 1% of the [0, 1] range across captions: visually one image
FLAT_SPREAD = 0.02  # 2% of the [0, 1] range within an image: a flat colour
AT_CHANCE_MEASUREMENTS = 2  # "the text is ignored": this many agreement measurements in a row at chance


def image_spread(images) -> float:
    """Mean over images and channels of the spatial standard deviation of each image (images in
    [0, 1]): 0 for flat single-colour images, whatever the colour."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C); got shape {images.shape}.")
    return float(images.reshape(len(images), -1, images.shape[-1]).std(axis=1).mean())


def collapse_report(images, caption_threshold: float = COLLAPSE_SPREAD, flat_threshold: float = FLAT_SPREAD) -> dict:
    """{"caption_spread", "image_spread", "collapsed", "reasons"} for images of different captions
    (float in [0, 1], (N, H, W, C), N >= 2)."""
    across, within = output_spread(images), image_spread(images)
    reasons = []
    if across < caption_threshold:
        reasons.append(f"the same image for every caption (spread across captions {across:.4f} < {caption_threshold})")
    if within < flat_threshold:
        reasons.append(f"flat single-colour images (spread within images {within:.4f} < {flat_threshold})")
    return {"caption_spread": across, "image_spread": within, "collapsed": bool(reasons), "reasons": reasons}


class CollapseGuard(keras.callbacks.Callback):
    """After each epoch, generate images for a few different captions with fixed noise and warn
    when the outputs collapse (see module docstring). Place it before HistoryCSV.

    generator: called as `generator(embeddings, noise, training=False)` -> (images in [-1, 1], ...).
    embeddings: (K, dim) of K >= 2 different captions; noise: (K, noise_dim) or (noise_dim,).
    """

    def __init__(self, generator, embeddings, noise, stop_on_collapse: bool = False, patience: int = 1,
                 warmup_epochs: int = 5, caption_threshold: float = COLLAPSE_SPREAD,
                 flat_threshold: float = FLAT_SPREAD, agreement=None):
        super().__init__()
        self.agreement = agreement  # an AgreementScore (its `last` result), or None
        self.chance_streak = 0  # agreement measurements in a row at chance
        self.generator = generator
        self.embeddings = np.asarray(embeddings, dtype=np.float32)
        if len(self.embeddings) < 2:
            raise ValueError("CollapseGuard needs the embeddings of at least 2 different captions.")
        noise = np.asarray(noise, dtype=np.float32)
        self.noise = np.broadcast_to(noise, (len(self.embeddings), noise.shape[-1])).copy()
        self.stop_on_collapse = stop_on_collapse
        self.patience = max(1, patience)
        self.warmup_epochs = warmup_epochs
        self.healthy_seen = False  # outputs were varied at some epoch of this session
        self.caption_threshold, self.flat_threshold = caption_threshold, flat_threshold
        self.collapsed_epochs: list[int] = []  # 1-based epochs at which outputs were collapsed
        self.streak = 0
        self.last_report: dict | None = None

    def measure(self) -> dict:
        images = inference_function(self.generator)(self.embeddings, self.noise)  # traced, not layer by layer
        images = (keras.ops.convert_to_numpy(images).astype(np.float64) + 1.0) / 2.0  # [-1, 1] -> [0, 1]
        return collapse_report(images, self.caption_threshold, self.flat_threshold)

    def on_epoch_end(self, epoch, logs=None):
        report = self.measure()
        bad_losses = sorted(name for name, value in (logs or {}).items()
                            if np.ndim(value) == 0 and not np.isfinite(float(value)))
        if bad_losses:
            report["collapsed"] = True
            report["reasons"].append(f"non-finite values in {', '.join(bad_losses)}")
        finished = epoch + 1
        self._check_agreement(report, finished)
        self.last_report = report
        if logs is not None:
            logs["caption_spread"] = report["caption_spread"]
            logs["image_spread"] = report["image_spread"]
        if not report["collapsed"]:
            self.streak = 0
            self.healthy_seen = True
            return
        if not bad_losses and not self.healthy_seen and finished <= self.warmup_epochs:
            logger.info("Epoch %d: outputs are still flat or identical (%s); normal early in training, a collapse "
                        "warning follows if it lasts past epoch %d.", finished, "; ".join(report["reasons"]),
                        self.warmup_epochs)
            return
        self.collapsed_epochs.append(finished)
        self.streak += 1
        message = (f"COLLAPSE WARNING at epoch {finished}: the generator draws " + "; ".join(report["reasons"])
                   + ". Look at the latest sample grid; consider stopping, lowering the learning rate, or going back "
                   "to the best checkpoint (run_dir/best).")
        logger.warning(message)
        print(message, flush=True)
        if self.stop_on_collapse and self.streak >= self.patience and self.model is not None:
            print(f"Stopping training: outputs collapsed for {self.streak} epoch(s) in a row (stop_on_collapse).",
                  flush=True)
            self.model.stop_training = True

    def _check_agreement(self, report: dict, finished: int) -> None:
        """Add "the text is ignored" to `report` when this epoch's agreement score is at chance, as
        was the previous measurement (past the warm-up; otherwise it is only logged)."""
        last = getattr(self.agreement, "last", None)
        if not last or last.get("epoch") != finished:  # not measured this epoch (train.agreement_every_epochs)
            report["text_ignored"] = False
            return
        reason = text_ignored(last)
        self.chance_streak = self.chance_streak + 1 if reason else 0
        report["text_ignored"] = reason is not None
        if reason is None:
            return
        if finished <= self.warmup_epochs or self.chance_streak < AT_CHANCE_MEASUREMENTS:
            logger.info("Epoch %d: %s; normal early in training, a collapse warning follows if it lasts past epoch %d "
                        "(%d measurements in a row).", finished, reason, self.warmup_epochs, AT_CHANCE_MEASUREMENTS)
            return
        report["collapsed"] = True
        report["reasons"].append(reason)


def metric_mode(name: str) -> str:
    """"min" for losses, "max" for everything else (fidelity, spreads, scores)."""
    return "min" if "loss" in name else "max"


class BestCheckpoint(keras.callbacks.Callback):
    """Keep the run state of the epoch with the best `logs[metric]` in `run_checkpoint` (a
    `RunCheckpoint` over `run_dir/best`, max_to_keep=1) and describe it in `best.json` there.

    Epochs whose logs lack the metric, or hold a non-finite value (the metric or any loss), are
    never "best", and neither is a state whose weights hold NaN/Inf (nothing non-finite is ever
    kept: a diverged run has no best checkpoint). best.json is written atomically after the
    checkpoint. A resumed run reads best.json, so a better epoch must beat the best of the
    earlier sessions.
    """

    def __init__(self, run_checkpoint, metric: str = "fidelity", mode: str | None = None):
        super().__init__()
        self.run_checkpoint = run_checkpoint
        self.metric = metric
        self.mode = mode or metric_mode(metric)
        self.info_path = Path(run_checkpoint.directory) / "best.json"
        self.best = None
        if self.info_path.exists():
            saved = json.loads(self.info_path.read_text())
            if saved.get("metric") == metric:
                self.best = saved.get("value")
        self._missing_reported = False

    def improved(self, value: float) -> bool:
        if self.best is None:
            return True
        return value > self.best if self.mode == "max" else value < self.best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.metric)
        if value is None:
            if not self._missing_reported:
                logger.info("BestCheckpoint: no %r in the logs of epoch %d (available: %s); such epochs are never the "
                            "best.", self.metric, epoch + 1, ", ".join(sorted(logs or {})))
                self._missing_reported = True
            return
        value = float(value)
        if not np.isfinite(value) or not self.improved(value):
            return
        problem = non_finite_logs(logs) or non_finite_variables(self.run_checkpoint.variables())
        if problem:
            logger.info("BestCheckpoint: epoch %d is not kept as the best: %s is not finite.", epoch + 1, problem)
            return
        finished = epoch + 1
        path = self.run_checkpoint.save(finished)
        self.best = value
        write_text_atomically(self.info_path, json.dumps({"metric": self.metric, "mode": self.mode, "value": value,
                                                          "epoch": finished, "checkpoint": Path(path).name},
                                                         indent=2) + "\n")


def resolved_best_metric(config) -> str:
    """The log entry `train.best_metric` names: "auto" is "fidelity" on the built-in shapes
    dataset and "r_precision" on any other ("" when the agreement score is off there)."""
    metric = config.train.best_metric
    if metric != "auto":
        return metric
    if config.data.dataset == "shapes":
        return "fidelity"
    return "r_precision" if config.train.agreement_every_epochs else ""


def guard_callbacks(config, gan, run_dir, embeddings, noise, agreement=()) -> list:
    """The guards `train_stage1` adds from `config.train` (collapse_guard, stop_on_collapse,
    best_metric): embeddings of a few different captions and the run's fixed noise;
    `agreement`: what `agreement_callbacks` returned (the guard reads its score)."""
    from t2ilib.training.checkpoints import RunCheckpoint, gan_checkpoint_parts

    callbacks = []
    scores = [callback for callback in agreement if hasattr(callback, "last")]
    if config.train.collapse_guard:
        callbacks.append(CollapseGuard(gan.sampler, embeddings, np.asarray(noise)[0],
                                       stop_on_collapse=config.train.stop_on_collapse,
                                       agreement=scores[0] if scores else None))
    metric = resolved_best_metric(config)
    if metric:
        best = RunCheckpoint(Path(run_dir) / "best", gan_checkpoint_parts(gan), max_to_keep=1)
        callbacks.append(BestCheckpoint(best, metric))
    return callbacks
