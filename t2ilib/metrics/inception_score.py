"""Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))), over 10 splits.

p(y|x) is the softmax of InceptionV3's logits for image x; p(y) is the mean of p(y|x) over
the images of a split. Images are shuffled with a fixed seed, cut into `splits` parts, and the
score is the mean +- standard deviation over the parts, in float64. A score near 1 means the
classifier sees the same thing (or nothing certain) in every image; K distinct, confidently
classified kinds of image, equally often, give K.
"""

from __future__ import annotations

import numpy as np

from t2ilib.metrics.inception import InceptionScorer, check_uint8_images
from t2ilib.metrics.result import MetricResult

DEFAULT_SPLITS = 10


def inception_score_from_probabilities(probabilities, splits: int = DEFAULT_SPLITS, seed: int = 0) -> tuple[float, float]:
    """(mean, std) of the Inception Score of class probabilities (N, K) over `splits` parts."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2:
        raise ValueError(f"probabilities must be (N, classes); got shape {probabilities.shape}.")
    if not 1 <= splits <= len(probabilities):
        raise ValueError(f"{len(probabilities)} images cannot be cut into {splits} splits: use more images or "
                         "fewer splits.")
    order = np.random.default_rng(seed).permutation(len(probabilities))
    scores = []
    for part in np.array_split(probabilities[order], splits):
        marginal = part.mean(axis=0, keepdims=True)
        # x log(x / m) with 0 log 0 = 0
        kl = np.where(part > 0, part * (np.log(np.maximum(part, 1e-300)) - np.log(np.maximum(marginal, 1e-300))), 0.0)
        scores.append(np.exp(kl.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


def inception_score(images, weights: str | None = "imagenet", splits: int = DEFAULT_SPLITS, seed: int = 0,
                    batch_size: int = 32, scorer: InceptionScorer | None = None) -> MetricResult:
    """Inception Score of uint8 images (N, H, W, 3). With fewer than `splits` images, one split per image."""
    images = check_uint8_images(images)
    scorer = scorer or InceptionScorer(weights, batch_size=batch_size)
    used_splits = min(splits, len(images))
    mean, std = inception_score_from_probabilities(scorer.probabilities(images), used_splits, seed)
    return MetricResult("inception_score", mean, std=std, n=len(images), image_size=int(images.shape[1]),
                        weights=scorer.weights_label,
                        details={"splits": used_splits, "classes": 1000, "classifier": "InceptionV3 softmax",
                                 "resize": "299x299 bilinear antialias"})
