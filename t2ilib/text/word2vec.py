"""Skip-gram Word2Vec caption vectors trained here on the training captions (gensim): the
offline default encoder, needing no download."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from t2ilib.text.base import TextEncoder, tokenize

logger = logging.getLogger("t2ilib")


class Word2VecEncoder(TextEncoder):
    """Skip-gram Word2Vec (gensim) trained on captions; a caption is the mean of its word vectors,
    then standardised per dimension with the training captions' mean and standard deviation.

    Why standardise: words that share contexts ("red", "blue") get similar skip-gram vectors,
    so raw mean vectors of two captions differ by a few percent and a GAN's conditioning
    barely sees the difference. After standardisation the differences are on the scale of 1
    (on the shapes dataset a linear probe of each attribute goes from 0.59-0.86 to ~1.0).

    Words never seen in training are counted (see `last_unknown_words`) and contribute nothing;
    a caption with no known word pools to the zero vector. Training uses one worker thread and a
    fixed seed, so the same captions give the same vectors.
    """

    name = "word2vec"

    def __init__(self, dim: int = 128, epochs: int = 50, window: int = 5, seed: int = 0):
        self.dim = dim
        self.epochs = epochs
        self.window = window
        self.seed = seed
        self.vectors = None  # gensim KeyedVectors after fit/load
        self.mean = self.scale = None  # per-dimension statistics of the training captions' mean vectors
        self._fingerprint = None
        self.last_unknown_words = 0

    def fit(self, captions: list[str]) -> "Word2VecEncoder":
        from gensim.models import Word2Vec

        sentences = [tokenize(caption) for caption in captions]
        if not any(sentences):
            raise ValueError("Word2VecEncoder.fit got no words: are the training captions empty?")
        model = Word2Vec(sentences=sentences, vector_size=self.dim, window=self.window, min_count=1, sg=1,
                         workers=1, seed=self.seed, epochs=self.epochs)
        self.vectors = model.wv
        digest = hashlib.sha256("\n".join(captions).encode("utf-8"))
        self._fingerprint = digest.hexdigest()[:16]
        self.mean = np.zeros(self.dim, np.float32)
        self.scale = np.ones(self.dim, np.float32)
        pooled = self.encode(captions)
        self.mean = pooled.mean(axis=0)
        self.scale = np.maximum(pooled.std(axis=0), 1e-6).astype(np.float32)
        return self

    def save(self, path) -> None:
        self._require_fit()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.vectors.save(str(path))
        Path(str(path) + ".fingerprint").write_text(self._fingerprint)
        np.savez(str(path) + ".standardize.npz", mean=self.mean, scale=self.scale)

    @classmethod
    def load(cls, path, **kwargs) -> "Word2VecEncoder":
        from gensim.models import KeyedVectors

        encoder = cls(**kwargs)
        encoder.vectors = KeyedVectors.load(str(path))
        encoder.dim = encoder.vectors.vector_size
        encoder._fingerprint = Path(str(path) + ".fingerprint").read_text().strip()
        with np.load(str(path) + ".standardize.npz") as statistics:
            encoder.mean, encoder.scale = statistics["mean"], statistics["scale"]
        return encoder

    def cache_key(self) -> str:
        self._require_fit()
        return f"word2vec-std-d{self.dim}-e{self.epochs}-w{self.window}-s{self.seed}-{self._fingerprint}"

    def encode(self, captions: list[str]) -> np.ndarray:
        self._require_fit()
        output = np.zeros((len(captions), self.dim), dtype=np.float32)
        unknown = 0
        for row, caption in enumerate(captions):
            words = tokenize(caption)
            known = [word for word in words if word in self.vectors.key_to_index]
            unknown += len(words) - len(known)
            if known:
                output[row] = self.vectors[known].mean(axis=0)
        output = (output - self.mean) / self.scale
        self.last_unknown_words = unknown
        if unknown:
            logger.info("word2vec: %d words in %d captions were not in the training vocabulary (encoded as zero).",
                        unknown, len(captions))
        return output

    def _require_fit(self):
        if self.vectors is None:
            raise ValueError("This Word2VecEncoder is not trained: call .fit(training_captions) or Word2VecEncoder.load(path).")
