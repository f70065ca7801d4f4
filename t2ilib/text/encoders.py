"""The caption encoders by name: `make_encoder(config.text, training_captions, work_dir)`.

| `TextConfig.encoder` | class | module |
|---|---|---|
| "word2vec" | `Word2VecEncoder`: skip-gram vectors trained on the training captions (offline default) | `t2ilib.text.word2vec` |
| "sentence-transformers" | `SentenceTransformerEncoder`: BERT, MiniLM, ... by name or local folder | `t2ilib.text.sentence` |
| "tokenizer", "onehot" | `TokenizerEncoder`, `OneHotEncoder`: the report's vocabulary encoders | `t2ilib.text.vocabulary` |
| "tfhub", "tfhub-bert" | `HubSentenceEncoder`, `HubBertEncoder`: Universal Sentence Encoder, BERT | `t2ilib.text.hub` |
| "glove" | `GloveEncoder`: summed or averaged GloVe vectors | `t2ilib.text.glove` |
| "char-cnn-rnn" | `CharCnnRnnEncoder`: StackGAN's precomputed CUB/Oxford embeddings | `t2ilib.text.char_cnn_rnn` |

All of them subclass `t2ilib.text.base.TextEncoder`; this module imports them, none imports it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from t2ilib.text.base import TextEncoder, tokenize
from t2ilib.text.char_cnn_rnn import CharCnnRnnEncoder
from t2ilib.text.glove import GloveEncoder
from t2ilib.text.hub import HubBertEncoder, HubSentenceEncoder
from t2ilib.text.sentence import SentenceTransformerEncoder
from t2ilib.text.vocabulary import OneHotEncoder, TokenizerEncoder
from t2ilib.text.word2vec import Word2VecEncoder

__all__ = ["ENCODERS", "CharCnnRnnEncoder", "GloveEncoder", "HubBertEncoder", "HubSentenceEncoder", "OneHotEncoder",
           "SentenceTransformerEncoder", "TextEncoder", "TokenizerEncoder", "Word2VecEncoder", "make_encoder",
           "tokenize"]

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
        if training_captions is None:
            raise ValueError(f"The {text_config.encoder} encoder's vocabulary comes from the training captions: "
                             "pass training_captions.")
        settings = dict(min_count=text_config.vocabulary_min_count, lemmatize=text_config.lemmatize)
        if text_config.encoder == "tokenizer":
            return TokenizerEncoder(length=text_config.tokenizer_length, **settings).fit(training_captions)
        return OneHotEncoder(**settings).fit(training_captions)
    if text_config.encoder == "tfhub":
        return HubSentenceEncoder(text_config.hub_handle, batch_size=text_config.batch_size)
    if text_config.encoder == "tfhub-bert":
        return HubBertEncoder(text_config.hub_preprocess_handle, text_config.hub_bert_handle,
                              batch_size=text_config.batch_size)
    if text_config.encoder == "glove":
        return GloveEncoder(text_config.glove_path, pooling=text_config.glove_pooling)
    if text_config.encoder == "char-cnn-rnn":
        if not text_config.char_cnn_rnn_dir:
            raise ValueError("Set text.char_cnn_rnn_dir to a StackGAN split folder holding char-CNN-RNN-embeddings.pickle.")
        return CharCnnRnnEncoder(text_config.char_cnn_rnn_dir)
    raise ValueError(f"Unknown text encoder {text_config.encoder!r}; choose one of {', '.join(ENCODERS)}.")
