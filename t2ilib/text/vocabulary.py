"""Vocabulary encoders of the StackGAN+BERT report: a simple tokenizer and a one-hot bag of words.

Both read a caption the same way (`caption_words`): the VAE report's cleaning
(`t2ilib.text.cleaning.clean_caption`: contractions expanded, digits, punctuation and NLTK
stopwords dropped, lowercase), then WordNet lemmas ("dogs" -> "dog", "children" -> "child")
when NLTK's `wordnet` corpus is installed. Offline, without the corpus, a one-line notice is
logged and the words stay as they are.

The vocabulary is built from the TRAINING captions only (`build_vocabulary`): every word seen
at least `min_count` times, most frequent first (ties alphabetical, so the same captions
always give the same ids). Keras' `TextVectorization` layer does the lookup:

- `TokenizerEncoder` ("tokenizer"): integer ids (1 = unknown word, 2... = the vocabulary),
  LEFT-padded with 0 to `length` ids, as float32. A caption longer than `length` keeps its
  first `length` words.
- `OneHotEncoder` ("onehot"): a multi-hot vector with one column per vocabulary word (1 if
  the caption uses the word). Unknown words have no column; they are counted.

Vocabulary size on the real Flickr8k text (training captions #1-#4, 32,364, the reports'
split; this cleaning; `min_count=1`): 7,575 words from `Flickr8k.token.txt` without lemmas
(4,545 with `min_count=2`), and 5,723 from the same captions of `Flickr8k.lemma.token.txt`,
close to the 5,748 the report quoted for its lemma-file vector (docs/reference.md#vocabulary-sizes).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter

import numpy as np

from t2ilib.text.cleaning import clean_caption
from t2ilib.text.base import TextEncoder

logger = logging.getLogger("t2ilib")

_lemmatizer = None  # False: looked for, not available


def wordnet_lemmatizer():
    """NLTK's WordNet lemmatiser, or None (with a one-line notice, once) when its corpus is missing."""
    global _lemmatizer
    if _lemmatizer is None:
        try:
            from nltk.stem import WordNetLemmatizer

            candidate = WordNetLemmatizer()
            candidate.lemmatize("dogs")  # reads the corpus: LookupError when it is not installed
            _lemmatizer = candidate
        except (LookupError, ImportError, OSError):
            logger.warning("NLTK's 'wordnet' corpus is not installed (nltk.download('wordnet') needs the internet); "
                           "captions are not lemmatised.")
            _lemmatizer = False
    return _lemmatizer or None


def caption_words(caption: str, lemmatize: bool = True) -> list[str]:
    """The words the vocabulary encoders see: cleaned caption, lemmatised when possible."""
    words = clean_caption(caption).split()
    lemmatizer = wordnet_lemmatizer() if lemmatize else None
    if lemmatizer is not None:
        words = [lemmatizer.lemmatize(word) for word in words]
    return words


def build_vocabulary(captions: list[str], min_count: int = 1, lemmatize: bool = True) -> list[str]:
    """Words of `captions` seen at least `min_count` times, most frequent first, ties alphabetical."""
    if min_count < 1:
        raise ValueError(f"min_count must be at least 1, got {min_count}.")
    counts = Counter(word for caption in captions for word in caption_words(caption, lemmatize))
    vocabulary = sorted((word for word, count in counts.items() if count >= min_count),
                        key=lambda word: (-counts[word], word))
    if not vocabulary:
        raise ValueError(f"No word of the {len(captions)} training captions is seen {min_count}+ times after "
                         "cleaning: are the captions empty?")
    return vocabulary


class _VocabularyEncoder(TextEncoder):
    """Shared part: fit a vocabulary on training captions, look words up with TextVectorization."""

    def __init__(self, min_count: int = 1, lemmatize: bool = True, batch_size: int = 1024):
        self.min_count = int(min_count)
        self.lemmatize = bool(lemmatize)
        self.batch_size = int(batch_size)
        self.vocabulary = None
        self.lemmatised = False  # whether lemmas were really used (the corpus may be missing)
        self._layer = None
        self.last_unknown_words = 0

    def fit(self, captions: list[str]):
        self.vocabulary = build_vocabulary(captions, self.min_count, self.lemmatize)
        self.lemmatised = self.lemmatize and wordnet_lemmatizer() is not None
        self._layer = None
        return self

    def _require_fit(self):
        if self.vocabulary is None:
            raise ValueError(f"This {type(self).__name__} has no vocabulary: call .fit(training_captions) first.")

    def _settings(self) -> str:
        self._require_fit()
        digest = hashlib.sha256("\n".join(self.vocabulary).encode("utf-8")).hexdigest()[:16]
        lemmas = "lemmas" if self.lemmatised else "words"
        return f"{lemmas}-min{self.min_count}-v{len(self.vocabulary)}-{digest}"

    def _vectorize(self, captions: list[str], layer_options: dict, width: int) -> np.ndarray:
        """Run the TextVectorization layer over the cleaned captions, in batches."""
        self._require_fit()
        import tensorflow as tf
        from keras.layers import TextVectorization

        if self._layer is None:
            self._layer = TextVectorization(standardize=None, split="whitespace", vocabulary=self.vocabulary,
                                            **layer_options)
        output = np.zeros((len(captions), width), dtype=np.float32)
        for start in range(0, len(captions), self.batch_size):
            batch = [" ".join(caption_words(caption, self.lemmatised))
                     for caption in captions[start:start + self.batch_size]]
            output[start:start + len(batch)] = np.asarray(self._layer(tf.constant(batch, dtype=tf.string)))
        return output


class TokenizerEncoder(_VocabularyEncoder):
    """The report's "simple tokenizer": each caption becomes `length` word ids, left-padded with 0.

    Ids: 0 = padding, 1 = a word not in the training vocabulary, 2, 3, ... = vocabulary words by
    falling frequency. Returned as float32 so it fits the common interface (and the cache); as a
    vector for cosine similarity it is a weak representation, which is what the report saw.
    """

    name = "tokenizer"

    def __init__(self, length: int = 20, min_count: int = 1, lemmatize: bool = True, batch_size: int = 1024):
        if length < 1:
            raise ValueError(f"length must be at least 1, got {length}.")
        super().__init__(min_count, lemmatize, batch_size)
        self.length = int(length)

    @property
    def dim(self) -> int:
        return self.length

    def cache_key(self) -> str:
        return f"tokenizer-L{self.length}-{self._settings()}"

    def encode(self, captions: list[str]) -> np.ndarray:
        ids = self._vectorize(list(captions), {"output_mode": "int", "output_sequence_length": self.length},
                              self.length)
        self.last_unknown_words = int((ids == 1).sum())
        return left_pad(ids)


def left_pad(ids: np.ndarray) -> np.ndarray:
    """Move each row's non-zero ids (right-padded with 0) to the end of the row: [5 7 0 0] -> [0 0 5 7]."""
    ids = np.asarray(ids)
    lengths = (ids != 0).sum(axis=1)
    output = np.zeros_like(ids)
    rows, columns = np.nonzero(np.arange(ids.shape[1])[None, :] < lengths[:, None])
    output[rows, columns + (ids.shape[1] - lengths)[rows]] = ids[rows, columns]
    return output


class OneHotEncoder(_VocabularyEncoder):
    """Multi-hot bag of words over the training vocabulary: one column per word, 1 if present."""

    name = "onehot"

    @property
    def dim(self) -> int:
        self._require_fit()
        return len(self.vocabulary)

    def cache_key(self) -> str:
        return f"onehot-{self._settings()}"

    def encode(self, captions: list[str]) -> np.ndarray:
        # "count" mode puts the number of unknown words in column 0; the vocabulary follows.
        counts = self._vectorize(list(captions), {"output_mode": "count"}, len(self.vocabulary) + 1)
        self.last_unknown_words = int(counts[:, 0].sum())
        if self.last_unknown_words:
            logger.info("onehot: %d words in %d captions are not in the %d-word training vocabulary.",
                        self.last_unknown_words, len(captions), len(self.vocabulary))
        return (counts[:, 1:] > 0).astype(np.float32)
