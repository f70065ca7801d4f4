"""TF-Hub sentence encoders, loaded with `hub.load` and wrapped (Keras 3 cannot use `hub.KerasLayer`).

- `HubSentenceEncoder` ("tfhub"): any SavedModel that maps a batch of strings to one vector per
  string. Default: the Universal Sentence Encoder (512-d), the maintained successor of the
  skip-thought vectors the StackGAN+BERT report compared (skip-thoughts need TF1 and are
  abandoned).
- `HubBertEncoder` ("tfhub-bert"): BERT from TF-Hub with its tensorflow-text preprocessing
  model: strings -> preprocess -> {input_word_ids, input_mask, input_type_ids} -> encoder ->
  `pooled_output` (768-d for BERT-base).

A handle is a tfhub.dev / Kaggle Models URL (downloaded once into `TFHUB_CACHE_DIR`, see
`data_prep/tfhub.py`) or a local SavedModel folder. `tensorflow_text` is imported before
loading, because the BERT preprocessing model uses its ops; install it with the version of
your TensorFlow (`colab_setup.sh` does).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from t2ilib.text.base import TextEncoder

logger = logging.getLogger("t2ilib")

USE_HANDLE = "https://tfhub.dev/google/universal-sentence-encoder/4"
BERT_PREPROCESS_HANDLE = "https://tfhub.dev/tensorflow/bert_en_uncased_preprocess/3"
BERT_ENCODER_HANDLE = "https://tfhub.dev/tensorflow/bert_en_uncased_L-12_H-768_A-12/4"


def load_hub_model(handle: str):
    """`hub.load(handle)` with tensorflow-text's ops registered and clear errors when it fails."""
    try:
        import tensorflow_hub as hub
    except ImportError as error:
        raise ImportError("TF-Hub encoders need tensorflow-hub: pip install 'tensorflow-hub>=0.16' 'setuptools<81'.") from error
    try:
        import tensorflow_text  # noqa: F401  (registers the ops of tokenizer SavedModels)
        have_text = True
    except ImportError:
        have_text = False
    is_url = str(handle).startswith(("http://", "https://", "gs://"))
    if not is_url and not Path(handle).exists():
        raise FileNotFoundError(f"TF-Hub model {handle} not found: give a tfhub.dev / Kaggle URL or a SavedModel folder.")
    try:
        return hub.load(str(handle))
    except Exception as error:  # TF raises many kinds (NotFoundError, ValueError, ...)
        if "Op type not registered" in str(error) and not have_text:
            raise ImportError(
                f"{handle} uses tensorflow-text ops, and tensorflow-text is not installed. Install the version of "
                "your TensorFlow: pip install 'tensorflow-text==<tf major.minor>.*' (colab_setup.sh does).") from error
        raise


def _handle_label(handle: str) -> str:
    """A file-name-safe label that changes when the model does (for cache keys)."""
    local = Path(handle)
    if local.exists():
        saved = local / "saved_model.pb"
        stamp = f"{local.resolve()}:{saved.stat().st_size if saved.exists() else 0}"
        return f"{local.name}-{hashlib.sha256(stamp.encode()).hexdigest()[:8]}"
    return str(handle).split("://", 1)[-1].replace("/", "_")


def _as_array(outputs, key: str | None, handle: str) -> np.ndarray:
    if isinstance(outputs, dict):
        if key is None:
            key = "outputs" if "outputs" in outputs else "default" if "default" in outputs else None
            if key is None and len(outputs) == 1:
                key = next(iter(outputs))
        if key not in outputs:
            raise ValueError(f"{handle} returns {sorted(outputs)}; set output_key to one of them.")
        outputs = outputs[key]
    return np.asarray(outputs, dtype=np.float32)


class HubSentenceEncoder(TextEncoder):
    """A TF-Hub text model that maps strings to vectors (default: the Universal Sentence Encoder)."""

    name = "tfhub"

    def __init__(self, handle: str = USE_HANDLE, batch_size: int = 256, output_key: str | None = None):
        self.handle = str(handle)
        self.batch_size = int(batch_size)
        self.output_key = output_key
        self._model = None
        self._dim = None

    @property
    def model(self):
        if self._model is None:
            self._model = load_hub_model(self.handle)
        return self._model

    def _embed_batch(self, batch: list[str]) -> np.ndarray:
        import tensorflow as tf

        return _as_array(self.model(tf.constant(batch, dtype=tf.string)), self.output_key, self.handle)

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self._embed_batch(["a"]).shape[-1])
        return self._dim

    def cache_key(self) -> str:
        return f"{self.name}-{_handle_label(self.handle)}" + (f"-{self.output_key}" if self.output_key else "")

    def encode(self, captions: list[str]) -> np.ndarray:
        captions = list(captions)
        parts = [self._embed_batch(captions[start:start + self.batch_size])
                 for start in range(0, len(captions), self.batch_size)]
        if not parts:
            return np.zeros((0, self.dim), dtype=np.float32)
        output = np.concatenate(parts)
        self._dim = output.shape[-1]
        return output


class HubBertEncoder(HubSentenceEncoder):
    """TF-Hub BERT: the tensorflow-text preprocessing model, then the encoder's `pooled_output`."""

    name = "tfhub-bert"

    def __init__(self, preprocess_handle: str = BERT_PREPROCESS_HANDLE, encoder_handle: str = BERT_ENCODER_HANDLE,
                 batch_size: int = 64, output_key: str = "pooled_output"):
        super().__init__(encoder_handle, batch_size, output_key)
        self.preprocess_handle = str(preprocess_handle)
        self._preprocess = None

    def _embed_batch(self, batch: list[str]) -> np.ndarray:
        import tensorflow as tf

        if self._preprocess is None:
            self._preprocess = load_hub_model(self.preprocess_handle)
        inputs = self._preprocess(tf.constant(batch, dtype=tf.string))
        return _as_array(self.model(inputs), self.output_key, self.handle)

    def cache_key(self) -> str:
        return f"{self.name}-{_handle_label(self.preprocess_handle)}-{_handle_label(self.handle)}-{self.output_key}"
