"""Frechet Inception Distance (Heusel et al. 2017), computed the way the trusted libraries do.

FID = ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2)), with mu and S the mean and
covariance of InceptionV3 pool features (2,048-d) of real and generated images, in float64.

The matrix square root follows pytorch-fid: `scipy.linalg.sqrtm(S_1 S_2)`; if the result is
not finite (a singular product), retry with `eps * I` added to both covariances; a tiny
imaginary part from rounding is dropped, a large one is an error. (The kit also takes the
offset when scipy warns that the product is singular.)

FID is biased at small N (it falls as N grows): compare runs only at the same N, and say N.
With fewer images than feature dimensions the covariances are singular, so the kit then uses
an exact shortcut (see `trace_sqrt_product_from_features`), which also avoids a 20-second
2,048x2,048 `sqrtm` on a CPU.
"""

from __future__ import annotations

import warnings

import numpy as np

from t2ilib.metrics.inception import InceptionScorer, check_uint8_images
from t2ilib.metrics.result import MetricResult

IMAGINARY_TOLERANCE = 1e-3  # pytorch-fid's limit on the imaginary part of sqrtm's diagonal


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and covariance (d, d) of features (N, d), float64, covariance with N - 1."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"features must be (N, d) with N >= 2; got shape {features.shape}.")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), via scipy.linalg.sqrtm."""
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (len(mu1), len(mu1)):
        raise ValueError(f"Statistics do not match: means {mu1.shape} / {mu2.shape}, covariances "
                         f"{sigma1.shape} / {sigma2.shape}.")
    difference = mu1 - mu2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", linalg.LinAlgWarning)
        root = linalg.sqrtm(sigma1 @ sigma2)
    singular = any(issubclass(warning.category, linalg.LinAlgWarning) for warning in caught)
    if singular or not np.isfinite(root).all():
        offset = np.eye(len(mu1)) * eps
        root = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(root):
        largest = np.max(np.abs(np.diagonal(root).imag))
        if largest > IMAGINARY_TOLERANCE:
            raise ValueError(f"sqrtm(S1 S2) has an imaginary part of {largest:.3g} on its diagonal: the covariances "
                             "are badly conditioned (too few images?). Use more images.")
        root = root.real
    return float(difference @ difference + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(root))


def trace_sqrt_product_from_features(features1, features2) -> float:
    """Tr((S_1 S_2)^(1/2)) straight from two feature sets, exactly, without a d x d square root.

    With A_i the centred features (N_i, d), S_i = A_i^T A_i / (N_i - 1). The non-zero
    eigenvalues of S_1 S_2 are those of M M^T / c with M = A_1 A_2^T (N_1 x N_2) and
    c = (N_1 - 1)(N_2 - 1), i.e. the squared singular values of M over c. The principal square
    root of S_1 S_2 has the square roots of those eigenvalues, so the trace is the sum of the
    singular values of M over sqrt(c): an SVD of an N_1 x N_2 matrix instead of a d x d sqrtm.
    """
    a1 = np.asarray(features1, np.float64)
    a2 = np.asarray(features2, np.float64)
    a1 = a1 - a1.mean(axis=0)
    a2 = a2 - a2.mean(axis=0)
    singular_values = np.linalg.svd(a1 @ a2.T, compute_uv=False)
    return float(singular_values.sum() / np.sqrt((len(a1) - 1) * (len(a2) - 1)))


def fid_from_features(features1, features2, method: str = "auto") -> tuple[float, str]:
    """(FID, method used) for two feature sets (N_1, d) and (N_2, d).

    method: "sqrtm" (statistics + scipy sqrtm, the pytorch-fid route), "svd" (the exact
    shortcut above) or "auto": "svd" when both sets have fewer rows than dimensions.
    """
    features1, features2 = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    mu1, sigma1 = feature_statistics(features1)
    mu2, sigma2 = feature_statistics(features2)
    if method == "auto":
        method = "svd" if max(len(features1), len(features2)) < features1.shape[1] else "sqrtm"
    if method == "sqrtm":
        return frechet_distance(mu1, sigma1, mu2, sigma2), method
    if method == "svd":
        difference = mu1 - mu2
        value = (difference @ difference + np.trace(sigma1) + np.trace(sigma2)
                 - 2.0 * trace_sqrt_product_from_features(features1, features2))
        return float(value), method
    raise ValueError(f"Unknown FID method {method!r}; choose auto, sqrtm or svd.")


def fid(real_images, generated_images, weights: str | None = "imagenet", batch_size: int = 32,
        scorer: InceptionScorer | None = None, method: str = "auto") -> MetricResult:
    """FID between uint8 real and generated images (N, H, W, 3) with InceptionV3 pool features.

    `weights`: "imagenet" (downloads once; use in Colab) or None (random weights, offline:
    a pipeline check only). Pass `scorer` to reuse a built InceptionV3.
    """
    real_images = check_uint8_images(real_images, "real_images")
    generated_images = check_uint8_images(generated_images, "generated_images")
    scorer = scorer or InceptionScorer(weights, batch_size=batch_size)
    value, used = fid_from_features(scorer.features(real_images), scorer.features(generated_images), method)
    return MetricResult("fid", value, n=len(generated_images), image_size=int(generated_images.shape[1]),
                        weights=scorer.weights_label,
                        details={"num_real": len(real_images), "feature": "InceptionV3 avg_pool (2048-d)",
                                 "resize": "299x299 bilinear antialias", "sqrt_method": used})
