"""`MetricResult`: a number together with what produced it.

A FID of 40 means little without the N it was computed at, the image size, and which
Inception weights scored it. Every metric in `t2ilib.metrics` returns one of these, so a
table of results always carries that information with it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class MetricResult:
    """One metric value and its provenance.

    name: "fid", "inception_score", "r_precision", "ms_ssim", "fidelity", ...
    value: the number (for split/fold metrics: the mean).
    std: spread over splits or folds (None when the metric has none).
    n: how many generated images (or image pairs) were scored.
    image_size: side of the images as given to the metric (before any resize inside it).
    weights: which weights scored them ("imagenet", None for random weights, a file path ...).
    details: anything else the metric used (splits, scales, candidates, method).
    """

    name: str
    value: float
    std: float | None = None
    n: int = 0
    image_size: int | None = None
    weights: str | None = None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        spread = f" ± {self.std:.4g}" if self.std is not None else ""
        size = f", {self.image_size}px" if self.image_size else ""
        weights = f", weights={self.weights}" if "fid" in self.name or "inception" in self.name else ""
        return f"{self.name} = {self.value:.4g}{spread} (N={self.n}{size}{weights})"
