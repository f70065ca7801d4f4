"""R-precision (AttnGAN / DM-GAN protocol): does a generated image match its own caption better than 99 others?

For every generated image, its true caption and 99 mismatched captions (of other images) are
ranked by the cosine similarity of an image code and caption codes; a hit is the true caption
ranked first. The score is the hit rate (mean +- std over folds); chance is 1/100.

The codes come from a judge: an image/text encoder pair trained on *real* image-caption pairs,
never the text encoder the generator was trained against (a generator can learn to please its
own encoder without drawing the right thing). AttnGAN used its DAMSM; the kit's own judge is
`t2ilib.models.judge.DualEncoder`, trained once per dataset by `t2ilib.training.judge`:

    dual = dual_encoder_for(config)                 # t2ilib.training.judge: trains once, then loads
    r_precision(dual, generated_uint8, judge_embeddings(config, captions), groups=image_names)

This module holds the arithmetic only: codes in, score out.
"""

from __future__ import annotations

import math

import numpy as np

from t2ilib.metrics.inception import check_uint8_images
from t2ilib.metrics.result import MetricResult

NUM_CANDIDATES = 100  # 1 true + 99 mismatched captions


def _normalise(codes):
    codes = np.asarray(codes, dtype=np.float64)
    return codes / np.maximum(np.linalg.norm(codes, axis=-1, keepdims=True), 1e-12)


def r_precision_from_codes(image_codes, text_codes, groups=None, num_candidates: int = NUM_CANDIDATES,
                           folds: int = 10, seed: int = 0) -> dict:
    """R-precision of image codes (N, d) against their true caption codes (N, d), row by row.

    Mismatched captions for image i are other rows of `text_codes` whose `groups` value differs
    from row i's (pass image names so that another caption of the same image is never counted
    as "mismatched"; default: every other row). Returns {"mean", "std", "candidates", "folds",
    "hits"}; with too few rows, fewer candidates are used and "candidates" says how many.
    """
    images, texts = _normalise(image_codes), _normalise(text_codes)
    if images.shape != texts.shape or images.ndim != 2:
        raise ValueError(f"image_codes {images.shape} and text_codes {texts.shape} must both be (N, d), row-aligned.")
    groups = np.arange(len(texts)) if groups is None else np.asarray(groups)
    if len(groups) != len(texts):
        raise ValueError(f"{len(groups)} groups for {len(texts)} captions.")
    rng = np.random.default_rng(seed)
    hits, used = np.zeros(len(images), bool), []
    for i in range(len(images)):
        others = np.flatnonzero(groups != groups[i])
        if len(others) == 0:
            raise ValueError("R-precision needs captions of at least two different images.")
        chosen = rng.choice(others, size=min(num_candidates - 1, len(others)), replace=False)
        true_similarity = images[i] @ texts[i]
        hits[i] = true_similarity > np.max(texts[chosen] @ images[i])  # a tie is not a hit
        used.append(len(chosen) + 1)
    folds = max(1, min(folds, len(hits)))
    fold_means = [part.mean() for part in np.array_split(hits[rng.permutation(len(hits))], folds)]
    return {"mean": float(np.mean(fold_means)), "std": float(np.std(fold_means)), "candidates": int(min(used)),
            "folds": folds, "hits": int(hits.sum())}


def r_precision(dual, images, caption_embeddings, groups=None, folds: int = 10,
                seed: int = 0) -> MetricResult:
    """R-precision of uint8 generated images (N, H, W, 3), image i generated from caption i.
    `dual`: a judge with `encode_images` / `encode_texts` (t2ilib.models.judge.DualEncoder);
    `caption_embeddings`: the judge's embeddings (t2ilib.training.judge.judge_embeddings)."""
    images = check_uint8_images(images)
    scores = r_precision_from_codes(dual.encode_images(images), dual.encode_texts(caption_embeddings), groups,
                                    folds=folds, seed=seed)
    return MetricResult("r_precision", scores["mean"], std=scores["std"], n=len(images),
                        image_size=int(images.shape[1]), weights=getattr(dual, "weights_path", "untrained or unsaved"),
                        details={"candidates": scores["candidates"], "chance": 1.0 / scores["candidates"],
                                 "folds": scores["folds"], "encoder_pair": "t2ilib DualEncoder trained on real pairs"})


def chance_p_value(hits: int, n: int, chance: float) -> float:
    """One-sided exact binomial p-value of `hits` or more in `n` images when each is a hit with
    probability `chance` (an image that does not depend on its caption: its true caption is one
    of `candidates` exchangeable ones). Small: the images follow their captions."""
    if not 0 <= hits <= n or not 0 < chance < 1:
        raise ValueError(f"need 0 <= hits <= n and 0 < chance < 1; got hits={hits}, n={n}, chance={chance}.")
    log_terms = [math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * math.log(chance)
                 + (n - k) * math.log1p(-chance) for k in range(hits, n + 1)]
    top = max(log_terms)
    return float(min(1.0, math.exp(top) * sum(math.exp(term - top) for term in log_terms)))
