"""What every caption encoder is: `encoder.encode(list_of_captions) -> float32 (N, dim)`.

Each encoder module (word2vec, sentence, vocabulary, glove, hub, char_cnn_rnn) subclasses
`TextEncoder` from here, and `t2ilib.text.encoders.make_encoder` builds the one a config names.
Every encoder has a `name` and a `cache_key()` that changes whenever its output would, so
`t2ilib.text.cache.embed_captions` can reuse embeddings safely.
"""

from __future__ import annotations

import re

import numpy as np

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
