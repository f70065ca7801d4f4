"""Text -> image feature: the second half of the report's Xception idea.

A feature-conditioned generator draws an image from an image's Xception vector. To drive it
with text, a small network learns to map a caption embedding onto the feature vector of the
caption's image. Its loss mixes direction and size:

    loss = cosine_weight * (1 - cos(predicted, target)) + mse_weight * mean((predicted - target)^2)

(cosine alone leaves the length free, and the generator was trained on vectors of one length;
MSE alone pulls every prediction towards the mean feature). The targets are the standardised
features the generator was trained on.

How good is the map? `mapped_retrieval`: for each held-out caption, rank all held-out images by
cosine similarity between the mapped vector and their features; recall@k is how often the
caption's own image is among the first k (chance: k / number of images).
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
from keras import layers, ops

from t2ilib.config import MapperConfig


@keras.saving.register_keras_serializable(package="t2ilib")
class TextToFeature(keras.Model):
    """Caption embedding (B, text_dim) -> feature vector (B, feature_dim).

    hidden_layers x [Dense(hidden_units) -> LayerNorm -> ReLU -> Dropout], then a linear Dense.
    """

    def __init__(self, feature_dim: int, hidden_units: int = 512, hidden_layers: int = 2, dropout: float = 0.1,
                 **kwargs):
        super().__init__(**kwargs)
        self.feature_dim = feature_dim
        self.hidden_units = hidden_units
        self.hidden_layers = hidden_layers
        self.dropout = dropout
        self.hidden = []
        for index in range(hidden_layers):
            self.hidden += [layers.Dense(hidden_units, name=f"dense_{index + 1}"),
                            layers.LayerNormalization(name=f"norm_{index + 1}"),
                            layers.ReLU(),
                            layers.Dropout(dropout)]
        self.to_feature = layers.Dense(feature_dim, name="to_feature")

    def call(self, embeddings, training=False):
        x = embeddings
        for layer in self.hidden:
            x = layer(x, training=training)
        return self.to_feature(x)

    def get_config(self):
        return {**super().get_config(), "feature_dim": self.feature_dim, "hidden_units": self.hidden_units,
                "hidden_layers": self.hidden_layers, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="t2ilib")
class CosineMSELoss(keras.losses.Loss):
    """cosine_weight * (1 - cosine similarity) + mse_weight * mean squared error, per sample."""

    def __init__(self, cosine_weight: float = 1.0, mse_weight: float = 1.0, name="cosine_mse", **kwargs):
        super().__init__(name=name, **kwargs)
        self.cosine_weight = cosine_weight
        self.mse_weight = mse_weight

    def call(self, y_true, y_pred):
        y_true, y_pred = ops.cast(y_true, y_pred.dtype), y_pred
        dot = ops.sum(y_true * y_pred, axis=-1)
        norms = ops.sqrt(ops.sum(ops.square(y_true), axis=-1) * ops.sum(ops.square(y_pred), axis=-1))
        cosine = dot / ops.maximum(norms, 1e-12)
        mse = ops.mean(ops.square(y_true - y_pred), axis=-1)
        return self.cosine_weight * (1.0 - cosine) + self.mse_weight * mse

    def get_config(self):
        return {**super().get_config(), "cosine_weight": self.cosine_weight, "mse_weight": self.mse_weight}


def build_mapper(text_dim: int, feature_dim: int, mapper_config: MapperConfig, compile: bool = True) -> TextToFeature:
    """A `TextToFeature` with its weights created; compiled (Adam, `CosineMSELoss`) for training,
    or not (`compile=False`) to load trained weights for inference only."""
    mapper = TextToFeature(feature_dim, hidden_units=mapper_config.hidden_units,
                           hidden_layers=mapper_config.hidden_layers, dropout=mapper_config.dropout,
                           name="text_to_feature")
    if compile:
        mapper.compile(optimizer=keras.optimizers.Adam(mapper_config.learning_rate),
                       loss=CosineMSELoss(mapper_config.cosine_weight, mapper_config.mse_weight),
                       metrics=[keras.metrics.CosineSimilarity(name="cosine")])
    mapper(np.zeros((1, text_dim), np.float32))
    return mapper


def mapped_retrieval(queries: np.ndarray, candidates: np.ndarray, targets: np.ndarray, ks=(1, 5), groups=None,
                     chunk_size: int = 1024) -> dict:
    """How often each query's own item is among its k nearest candidates (cosine similarity).

    queries: (Q, D) mapped caption vectors; candidates: (N, D) one row per image; targets: (Q,)
    index into `candidates` of each query's own image. `groups` (optional, one label per
    candidate): a hit is then any candidate of the target's group, e.g. any shapes image with the
    caption's four attributes, which the text cannot tell apart. Ties count AGAINST the query (as
    in `t2ilib.text.retrieval`): a mapper that outputs one constant vector scores 0, not 1.
    Returns recall@k and chance@k (the expected recall of a random ranking: k / N without groups),
    the median rank of the first hit and the counts.
    """
    queries, candidates = np.asarray(queries, np.float32), np.asarray(candidates, np.float32)
    targets = np.asarray(targets, np.int64)
    if len(queries) != len(targets) or queries.ndim != 2 or candidates.ndim != 2 or queries.shape[1] != candidates.shape[1]:
        raise ValueError(f"mapped_retrieval: queries {queries.shape}, candidates {candidates.shape} and targets "
                         f"{targets.shape} do not fit; need (Q, D), (N, D) and (Q,).")
    if len(queries) == 0 or targets.min() < 0 or targets.max() >= len(candidates):
        raise ValueError(f"mapped_retrieval: need at least one query and targets in [0, {len(candidates)}).")
    codes = np.arange(len(candidates)) if groups is None else pd.factorize(pd.Series(list(groups)))[0]
    if len(codes) != len(candidates):
        raise ValueError(f"mapped_retrieval: {len(candidates)} candidates but {len(codes)} group labels.")

    def unit(x):
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    queries, candidates = unit(queries), unit(candidates)
    ranks = np.empty(len(queries), np.int64)
    group_sizes = np.bincount(codes)[codes[targets]]  # candidates that count as a hit, per query
    for start in range(0, len(queries), chunk_size):
        similarity = queries[start:start + chunk_size] @ candidates.T  # (chunk, N)
        same = codes[None, :] == codes[targets[start:start + chunk_size], None]
        best = np.where(same, similarity, -np.inf).max(axis=1)
        ranks[start:start + chunk_size] = 1 + (~same & (similarity >= best[:, None])).sum(axis=1)
    total = len(candidates)
    result = {}
    for k in ks:
        # P(no hit in k random picks) = prod_{i<k} (N - m - i) / (N - i), m = the query's group size
        steps = np.arange(min(k, total))
        miss = np.prod(np.clip(total - group_sizes[:, None] - steps, 0, None) / (total - steps), axis=1)
        result[f"recall@{k}"] = float(np.mean(ranks <= k))
        result[f"chance@{k}"] = float(np.mean(1.0 - miss))
    result.update(median_rank=float(np.median(ranks)), queries=int(len(queries)), candidates=int(total))
    return result
