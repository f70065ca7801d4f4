"""Diversity: mean MS-SSIM between images generated from the *same* caption (TAC-GAN).

A generator that ignores its noise draws the same image for every noise vector: MS-SSIM 1.
Lower is more diverse (real image pairs of one class score ~0.05-0.3 on natural photos).

MS-SSIM uses `tf.image.ssim_multiscale`. Its standard five scales with an 11x11 window need
images of at least 176 px (the smallest scale, side / 16, must hold the window). For smaller
images we keep the 11x11 window and use as many scales as fit (side / 2^(k-1) >= 11):
256 px -> 5, 128 -> 4, 64 -> 3, 32 -> 2, 16 -> 1 (plain SSIM), with the first k of the
standard power factors (0.0448, 0.2856, 0.3001, 0.2363, 0.1333) rescaled to sum to 1.
"""

from __future__ import annotations

import itertools

import numpy as np

from t2ilib.metrics.inception import check_uint8_images
from t2ilib.metrics.result import MetricResult

STANDARD_POWER_FACTORS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
FILTER_SIZE = 11


def power_factors_for(image_size: int) -> tuple[float, ...]:
    """The MS-SSIM scale weights the kit uses for square images of this side (see module docstring)."""
    if image_size < FILTER_SIZE:
        raise ValueError(f"Images of {image_size}px are smaller than the {FILTER_SIZE}x{FILTER_SIZE} SSIM window.")
    scales = 1
    while scales < len(STANDARD_POWER_FACTORS) and image_size / 2 ** scales >= FILTER_SIZE:
        scales += 1
    factors = np.array(STANDARD_POWER_FACTORS[:scales])
    return tuple(float(value) for value in factors / factors.sum())


def ms_ssim(images1, images2) -> np.ndarray:
    """MS-SSIM of each pair (images1[i], images2[i]), uint8 (N, H, W, 3) each -> float (N,)."""
    import tensorflow as tf

    images1, images2 = check_uint8_images(images1, "images1"), check_uint8_images(images2, "images2")
    if images1.shape != images2.shape:
        raise ValueError(f"Pairs need equal shapes; got {images1.shape} and {images2.shape}.")
    factors = power_factors_for(min(images1.shape[1:3]))
    values = tf.image.ssim_multiscale(tf.constant(images1), tf.constant(images2), max_val=255,
                                      power_factors=factors, filter_size=FILTER_SIZE)
    return np.asarray(values, dtype=np.float64)


def diversity(images, max_pairs_per_caption: int = 10) -> MetricResult:
    """Mean MS-SSIM over pairs of images of one caption: uint8 (num_captions, num_per_caption, H, W, 3).

    Up to `max_pairs_per_caption` pairs (i, j), i < j, per caption. The `std` is over captions.
    """
    images = np.asarray(images)
    if images.ndim != 5 or images.shape[1] < 2:
        raise ValueError(f"diversity needs images shaped (num_captions, num_per_caption >= 2, H, W, 3); got "
                         f"{images.shape}. Generate several images per caption (different noise).")
    pairs = list(itertools.combinations(range(images.shape[1]), 2))[:max_pairs_per_caption]
    first = images[:, [i for i, _ in pairs]].reshape((-1,) + images.shape[2:])
    second = images[:, [j for _, j in pairs]].reshape((-1,) + images.shape[2:])
    per_caption = ms_ssim(first, second).reshape(len(images), len(pairs)).mean(axis=1)
    size = int(images.shape[2])
    return MetricResult("ms_ssim", float(per_caption.mean()), std=float(per_caption.std()),
                        n=int(len(images) * len(pairs)), image_size=size,
                        details={"captions": int(len(images)), "pairs_per_caption": len(pairs),
                                 "power_factors": list(power_factors_for(size)), "filter_size": FILTER_SIZE,
                                 "reading": "1 = identical samples (no diversity); lower is more diverse"})
