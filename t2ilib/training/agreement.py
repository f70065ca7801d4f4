"""Is the generator drawing what the caption says? An image-text agreement score every epoch, on
any dataset: R-precision of generated images for fixed validation captions, judged by the
dataset's cached judge (t2ilib.training.judge; `docs/reference.md#r-precision`).

    callbacks += agreement_callbacks(config, prepared, embeddings, gan.sampler, run_dir)  # [] when off

`AgreementScore` adds to the epoch's logs (so to history.csv, TensorBoard's `epoch/...` scalars
and the loss-curve figure):
- `r_precision`: generated images, each for its own fixed validation caption and fixed noise,
  ranked against 99 captions of other images (fewer when the split is small; chance 1/candidates);
- `real_r_precision`: the real images of the same captions, the same way (the ceiling, constant).

It is measured at the first epoch of a session, every `train.agreement_every_epochs` epochs and at
the last epoch; other rows of history.csv leave it empty. `train.best_metric` may name it (the
default on a dataset other than the built-in shapes), and the collapse guard reads its `last`
result: generated images at chance while the real ones are not means the text is ignored
(`text_ignored`). `run_dir/agreement.json` says which judge scored the run and how well the real
images score. Its cost is one generator pass over `train.agreement_samples` images and the judge's
small image tower over them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras
import numpy as np

from t2ilib.metrics.rprecision import chance_p_value, r_precision_from_codes
from t2ilib.models.sampling import sample_images

logger = logging.getLogger("t2ilib")

GENERATED_ALPHA = 0.05  # generated images "at chance": their hits are not significant at this level
REAL_ALPHA = 1e-3  # the judge can tell on these captions: real images' hits significant at this level
NOISE_SEED_OFFSET = 4242


def text_ignored(result: dict | None) -> str | None:
    """A reason (for the collapse guard) when generated images agree with their captions no
    better than chance while the real images of the same captions do; else None."""
    if not result or result["real_p_value"] >= REAL_ALPHA or result["p_value"] < GENERATED_ALPHA:
        return None
    return (f"images that ignore their captions: the text is ignored (R-precision {result['value']:.3f} on "
            f"{result['n']} validation captions is at chance {result['chance']:.3f}, p = {result['p_value']:.2f}; "
            f"real images {result['real']:.3f})")


class AgreementScore(keras.callbacks.Callback):
    """R-precision of generated images for fixed captions, added to the epoch's logs (see module
    docstring). Place it before the collapse guard, BestCheckpoint and HistoryCSV.

    generator: `generator(embeddings, noise, training=False)` -> (images in [-1, 1], ...);
    embeddings: the generator's caption embeddings (N, dim); noise (N, noise_dim);
    judge: `encode_images(uint8)` -> codes (a `t2ilib.models.judge.DualEncoder`);
    text_codes: the judge's codes of the same N captions; groups: R-precision groups;
    real_images: uint8 real images of the N captions (scored once: `real_r_precision`).
    """

    def __init__(self, generator, embeddings, noise, judge, text_codes, groups, real_images=None,
                 every_epochs: int = 1, batch_size: int = 64, seed: int = 0):
        super().__init__()
        self.generator, self.judge = generator, judge
        self.embeddings = np.asarray(embeddings, dtype=np.float32)
        self.noise = np.asarray(noise, dtype=np.float32)
        self.text_codes, self.groups = np.asarray(text_codes), np.asarray(groups)
        if not len(self.embeddings) == len(self.noise) == len(self.text_codes) == len(self.groups):
            raise ValueError(f"AgreementScore needs one embedding, noise vector, text code and group per caption; got "
                             f"{len(self.embeddings)}, {len(self.noise)}, {len(self.text_codes)}, {len(self.groups)}.")
        self.every_epochs, self.batch_size, self.seed = max(1, every_epochs), batch_size, seed
        self.real = None if real_images is None else self.score(real_images)
        self.last: dict | None = None  # the latest measurement, with "epoch" (1-based)

    def score(self, images) -> dict:
        """R-precision of uint8 images (N, H, W, 3), image i for caption i, with its p-value against chance."""
        result = r_precision_from_codes(self.judge.encode_images(images), self.text_codes, self.groups, seed=self.seed)
        chance = 1.0 / result["candidates"]
        return {"value": result["mean"], "hits": result["hits"], "n": int(len(images)),
                "candidates": result["candidates"], "chance": chance,
                "p_value": chance_p_value(result["hits"], len(images), chance)}

    def generate(self) -> np.ndarray:
        return sample_images(self.generator, self.embeddings, self.noise, batch_size=self.batch_size)

    def due(self, finished: int) -> bool:
        last_epoch = (self.params or {}).get("epochs")
        return self.last is None or finished % self.every_epochs == 0 or finished == last_epoch

    def on_epoch_end(self, epoch, logs=None):
        finished = epoch + 1
        if not self.due(finished):
            return
        result = self.score(self.generate())
        if self.real is not None:
            result.update(real=self.real["value"], real_hits=self.real["hits"], real_p_value=self.real["p_value"])
        self.last = {**result, "epoch": finished}
        if logs is not None:
            logs["r_precision"] = result["value"]
            if self.real is not None:
                logs["real_r_precision"] = self.real["value"]


def agreement_callbacks(config, prepared, embeddings, sampler, run_dir) -> list:
    """[AgreementScore] for a GAN run (Stage-I of either family, or Stage-II with its refined
    images as `sampler`), [] when `train.agreement_every_epochs` is 0 or the validation split has
    captions of fewer than 2 images. Trains the dataset's judge on first use (logged with its
    validation check); writes `run_dir/agreement.json`."""
    from t2ilib.data.cache import load_size_for
    from t2ilib.data.prepare import fixed_sample_rows, prepare_data, real_images
    from t2ilib.training.judge import describe_judge, dual_encoder_for, judge_groups

    settings = config.train
    if not settings.agreement_every_epochs:
        return []
    rows = fixed_sample_rows(prepared.captions, settings.agreement_samples, split="validation")
    groups = judge_groups(prepared, rows)
    if len(set(groups)) < 2:
        logger.warning("No agreement score (r_precision) for this run: the validation split of %s has captions of "
                       "%d distinct image(s); R-precision needs 2.", prepared.root, len(set(groups)))
        return []
    judge = dual_encoder_for(config)
    captions = prepared.captions.loc[rows, "caption"].tolist()
    text_codes = judge.encode_texts(judge.text_encoder.encode(captions))
    # The real images at the judge's size (Stage-I's, also for Stage-II, whose `prepared` holds larger ones).
    same_size = prepared.cache.size == load_size_for(config.data.image_size)
    judge_data = prepared if same_size else prepare_data(config.data, progress=False)
    real = real_images(judge_data, rows, config.data.image_size)
    noise = np.random.default_rng(settings.seed + NOISE_SEED_OFFSET).standard_normal(
        (len(rows), config.model.noise_dim)).astype(np.float32)
    callback = AgreementScore(sampler, np.asarray(embeddings)[rows], noise, judge, text_codes, groups, real,
                              every_epochs=settings.agreement_every_epochs)
    real_score = callback.real
    logger.info("Agreement score: r_precision of %d validation captions every %d epoch(s); real images %.3f, chance "
                "%.3f. %s", len(rows), settings.agreement_every_epochs, real_score["value"], real_score["chance"],
                describe_judge(judge.meta))
    record = {"judge": judge.weights_path, "judge_validation": judge.meta["validation"], "captions": int(len(rows)),
              "candidates": real_score["candidates"], "chance": real_score["chance"], "real": real_score["value"],
              "every_epochs": settings.agreement_every_epochs}
    path = Path(run_dir) / "agreement.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return [callback]
