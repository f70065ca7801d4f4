"""Honest numbers for image-regression models such as the GloVe "VAE" (t2ilib.models.vae).

- `reconstruction_report(predicted, target)`: MSE, PSNR (dB) and SSIM against the true images.
- `output_spread(images)`: how much the outputs for *different* captions differ (mean over
  pixels of the per-pixel standard deviation across images).
- `is_collapsed(images)`: True when that spread is ~0, i.e. the model draws one image whatever
  the caption. The report's models stalled at loss 0.0667 from epoch 2 for this reason: the
  best constant answer to an MSE loss is the mean training image.

All images are float arrays in [0, 1], shape (N, H, W, 3). A low MSE alone proves nothing: compare
it with the MSE of the constant mean image (`reconstruction_report(mean_image_baseline(target),
target)`), and look at `output_spread`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

COLLAPSE_THRESHOLD = 0.01  # per-pixel std below 1% of the [0, 1] range: visually one image


def _images(images, name: str) -> np.ndarray:
    array = np.asarray(images, dtype=np.float32)
    if array.ndim != 4 or array.shape[-1] not in (1, 3):
        raise ValueError(f"{name} must be a batch of images (N, H, W, 3) in [0, 1]; got shape {array.shape}.")
    return array


def reconstruction_report(predicted, target) -> dict:
    """{"mse", "psnr", "ssim"}: MSE over every pixel of the batch, the PSNR of that MSE (dB, peak 1.0)
    and the mean SSIM of the image pairs (max value 1.0).

    SSIM uses `tf.image.ssim` (11x11 Gaussian window), so images must be at least 11x11.
    PSNR is infinite for a perfect reconstruction.
    """
    predicted, target = _images(predicted, "predicted"), _images(target, "target")
    if predicted.shape != target.shape:
        raise ValueError(f"predicted {predicted.shape} and target {target.shape} must have the same shape.")
    mse = float(np.mean((predicted.astype(np.float64) - target.astype(np.float64)) ** 2))
    psnr = float(10.0 * np.log10(1.0 / mse)) if mse > 0 else float("inf")
    ssim = float(tf.reduce_mean(tf.image.ssim(tf.constant(predicted), tf.constant(target), max_val=1.0)))
    return {"mse": mse, "psnr": psnr, "ssim": ssim}


def mean_image_baseline(target) -> np.ndarray:
    """The constant answer a collapsed model gives: the mean image, repeated for every row."""
    target = _images(target, "target")
    return np.broadcast_to(target.mean(axis=0, keepdims=True), target.shape).copy()


def output_spread(images) -> float:
    """Mean over pixels and channels of the standard deviation across images (of different captions)."""
    images = _images(images, "images")
    if len(images) < 2:
        raise ValueError("output_spread needs images of at least 2 different captions.")
    return float(images.astype(np.float64).std(axis=0).mean())


def is_collapsed(images, threshold: float = COLLAPSE_THRESHOLD) -> bool:
    """True when the model outputs (about) one image for every caption: `output_spread < threshold`."""
    return output_spread(images) < threshold
