"""Metrics for generated images. Each returns numbers with what produced them (N, size, weights).

- `fid`, `frechet_distance`: Frechet Inception Distance (t2ilib.metrics.fid)
- `inception_score`: Inception Score, 10 splits (t2ilib.metrics.inception_score)
- `r_precision`: R-precision with a judge (the kit's is t2ilib.models.judge, trained by t2ilib.training.judge)
- `diversity`, `ms_ssim`: MS-SSIM between samples of one caption (t2ilib.metrics.diversity)
- `shapes_fidelity`: attribute accuracy on the built-in shapes dataset (t2ilib.metrics.fidelity)

TensorFlow-heavy modules are imported on first use, so `import t2ilib.metrics` stays cheap.
"""

from t2ilib.metrics.fidelity import chance_fidelity, predict_attributes, shapes_fidelity
from t2ilib.metrics.result import MetricResult

_LAZY = {
    "fid": "t2ilib.metrics.fid", "frechet_distance": "t2ilib.metrics.fid", "fid_from_features": "t2ilib.metrics.fid",
    "inception_score": "t2ilib.metrics.inception_score", "InceptionScorer": "t2ilib.metrics.inception",
    "r_precision": "t2ilib.metrics.rprecision",
    "diversity": "t2ilib.metrics.diversity", "ms_ssim": "t2ilib.metrics.diversity",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 't2ilib.metrics' has no attribute {name!r}")


__all__ = ["MetricResult", "chance_fidelity", "predict_attributes", "shapes_fidelity", *_LAZY]
