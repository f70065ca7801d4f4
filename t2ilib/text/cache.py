"""Caption embeddings cached on disk, one `.npy` per (encoder, list of captions).

The file name holds a hash of the encoder's `cache_key()` and of the captions themselves, so
a cache is reused only for exactly the same captions in the same order with the same encoder;
anything else computes (and caches) afresh instead of silently pairing wrong vectors.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from t2ilib.errors import warn_once

logger = logging.getLogger("t2ilib")


def embeddings_path(cache_dir, encoder, captions: list[str]) -> Path:
    digest = hashlib.sha256()
    digest.update(encoder.cache_key().encode("utf-8"))
    for caption in captions:
        digest.update(b"\x00" + caption.encode("utf-8"))
    safe_name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in encoder.name)
    return Path(cache_dir) / f"{safe_name}-{digest.hexdigest()[:20]}.npy"


def embed_captions(encoder, captions: list[str], cache_dir=None) -> np.ndarray:
    """`encoder.encode(captions)`, read from / written to `cache_dir` when given."""
    captions = list(captions)
    if cache_dir is None:
        return encoder.encode(captions)
    path = embeddings_path(cache_dir, encoder, captions)
    if path.exists():
        try:
            embeddings = np.load(path)
            problem = None if embeddings.ndim == 2 and len(embeddings) == len(captions) else f"shape {embeddings.shape}"
        except (OSError, ValueError, EOFError) as error:  # truncated or not a .npy file
            problem = f"{type(error).__name__}: {error}"
        if problem is None:
            return embeddings
        # Under the right name but unusable (an interrupted copy, a foreign file): computed again.
        warn_once(logger, "Embedding cache %s does not hold %d embeddings (%s); computing them again.",
                  path, len(captions), problem)
        path.unlink()
    embeddings = np.asarray(encoder.encode(captions), dtype=np.float32)
    if embeddings.ndim != 2 or len(embeddings) != len(captions):
        raise ValueError(f"Encoder {encoder.name} returned shape {embeddings.shape} for {len(captions)} captions; "
                         f"expected ({len(captions)}, dim).")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp.npy")
    np.save(temporary, embeddings)
    os.replace(temporary, path)  # atomic: a crash never leaves a half-written cache under the real name
    path.with_suffix(".json").write_text(json.dumps(
        {"encoder": encoder.cache_key(), "num_captions": len(captions), "dim": int(embeddings.shape[1])}, indent=2))
    return embeddings


def nearest_captions(query_embeddings: np.ndarray, embeddings: np.ndarray, k: int = 5):
    """Indices and cosine similarities of the k nearest rows of `embeddings` for each query."""
    def normalise(x):
        x = np.asarray(x, dtype=np.float64)
        return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)

    similarity = normalise(query_embeddings) @ normalise(embeddings).T  # (Q, N)
    order = np.argsort(-similarity, axis=1)[:, :k]
    return order, np.take_along_axis(similarity, order, axis=1)
