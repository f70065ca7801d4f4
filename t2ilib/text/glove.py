"""GloVe word vectors (Stanford text format) and the report's caption encoder.

The GloVe "VAE" report (docs/reference.md#glove-vae) encoded a caption as the SUM of the
glove.6B.50d vectors of the first 100 space-separated tokens of the cleaned caption
(`t2ilib.text.cleaning.clean_caption`); a token missing from GloVe counts as zero.

Get the vectors once (822 MB zip, four files of 50/100/200/300 dimensions):
https://nlp.stanford.edu/data/glove.6B.zip -> unzip `glove.6B.50d.txt` into your data folder
(see `data_prep/`). Each line of the file is `word v1 v2 ... vD`, with no header line.

Use::

    encoder = GloveEncoder("data/glove.6B.50d.txt")            # pooling="sum", max_tokens=100
    embeddings = encoder.encode(["A dog runs on the beach ."])  # (1, 50) float32
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from t2ilib.text.cleaning import clean_caption
from t2ilib.text.base import TextEncoder

logger = logging.getLogger("t2ilib")

GLOVE_URL = "https://nlp.stanford.edu/data/glove.6B.zip"
POOLINGS = ("sum", "mean")


def _first_bad_line(path: Path) -> str:
    """Describe the first line whose number of values differs from the first line's (or is not numeric)."""
    expected = None
    with open(path, "rb") as file:
        for number, raw in enumerate(file, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                return f"line {number} is not valid UTF-8 (re-save the file as UTF-8)"
            parts = line.rstrip("\r\n").rstrip(" ").split(" ")
            if not line.strip():
                return f"line {number} is empty"
            if number == 1 and len(parts) == 2 and all(part.isdigit() for part in parts):
                return ("line 1 looks like a word2vec header ('count dim'); GloVe files have none: delete that line "
                        "or convert the file")
            values = len(parts) - 1
            if expected is None:
                expected = values
            if values != expected:
                return (f"line {number} has {values} values but the first line has {expected} "
                        f"(word {parts[0]!r})")
            try:
                [float(value) for value in parts[1:]]
            except ValueError:
                return f"line {number} has a value that is not a number (word {parts[0]!r})"
    return "no bad line found"


def load_glove(path) -> tuple[list[str], np.ndarray]:
    """Read a GloVe text file: (words, float32 vectors of shape (len(words), D)).

    Uses gensim's `KeyedVectors.load_word2vec_format(..., no_header=True)` (GloVe files have no
    "count dim" header line). Raises FileNotFoundError with download instructions when the file
    is missing and ValueError naming the file and the line when the format is wrong.
    """
    from gensim.models import KeyedVectors

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"GloVe file {path} not found. Download {GLOVE_URL}, unzip glove.6B.50d.txt next to your data "
            f"(see data_prep/) and pass its path.")
    if path.stat().st_size == 0:
        raise ValueError(f"GloVe file {path} is empty.")
    with open(path, "rb") as file:
        if file.read(4) == b"PK\x03\x04":
            raise ValueError(f"{path} is a zip archive, not a GloVe text file: unzip it (glove.6B.zip holds "
                             "glove.6B.50d.txt, ...100d, ...200d, ...300d) and pass the .txt file.")
    try:
        vectors = KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=True)
    except (ValueError, UnicodeDecodeError, IndexError) as error:
        raise ValueError(
            f"{path} is not a GloVe text file (one 'word v1 v2 ... vD' per line, no header): "
            f"{_first_bad_line(path)}.") from error
    if vectors.vector_size == 0:
        raise ValueError(f"{path}: line 1 has no numbers after its word. A GloVe file separates the word and its "
                         "values with single spaces (not tabs): 'word v1 v2 ... vD'.")
    return list(vectors.index_to_key), np.asarray(vectors.vectors, dtype=np.float32)


class GloveEncoder(TextEncoder):
    """Caption -> pooled GloVe vector, the report's text input.

    Each caption is cleaned (`clean_caption`), split on spaces and cut to its first
    `max_tokens` tokens. `pooling="sum"` (the report) adds the vectors of those tokens, with
    out-of-vocabulary tokens counting as zero; `pooling="mean"` divides that sum by the number
    of tokens found in GloVe (a caption with none gives the zero vector). Out-of-vocabulary
    tokens are counted in `last_unknown_words` and logged once per `encode` call.

    The file is read on first use, so a cached embedding file (`embed_captions`) needs only
    the file's name and size for its cache key.
    """

    name = "glove"

    def __init__(self, path, pooling: str = "sum", max_tokens: int = 100, clean: bool = True):
        if pooling not in POOLINGS:
            raise ValueError(f"Unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}.")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1 (got {max_tokens}); the report used 100.")
        self.path = Path(path)
        self.pooling = pooling
        self.max_tokens = int(max_tokens)
        self.clean = clean
        self.words = None
        self.vectors = None  # (vocabulary, D) float32, read on first use
        self.index = None  # word -> row of `vectors`
        self.last_unknown_words = 0

    def load(self) -> "GloveEncoder":
        if self.vectors is None:
            self.words, self.vectors = load_glove(self.path)
            self.index = {word: row for row, word in enumerate(self.words)}
        return self

    @property
    def dim(self) -> int:
        return int(self.load().vectors.shape[1])

    def cache_key(self) -> str:
        if not self.path.is_file():
            load_glove(self.path)  # raises the download message
        size = self.path.stat().st_size
        clean = "clean" if self.clean else "raw"
        return f"glove-{self.path.name}-{size}-{self.pooling}-t{self.max_tokens}-{clean}"

    def tokens(self, caption: str) -> list[str]:
        """The tokens that `encode` looks up: the cleaned caption's first `max_tokens` words."""
        text = clean_caption(caption) if self.clean else caption
        return text.split()[: self.max_tokens]

    def encode(self, captions: list[str]) -> np.ndarray:
        self.load()
        output = np.zeros((len(captions), self.vectors.shape[1]), dtype=np.float32)
        unknown = 0
        for row, caption in enumerate(captions):
            rows = []
            for token in self.tokens(caption):
                found = self.index.get(token)
                if found is None:
                    unknown += 1
                else:
                    rows.append(found)
            if rows:
                pooled = self.vectors[rows].sum(axis=0)
                output[row] = pooled / len(rows) if self.pooling == "mean" else pooled
        self.last_unknown_words = unknown
        if unknown:
            logger.info("glove: %d tokens in %d captions are not in %s (counted as zero).",
                        unknown, len(captions), self.path.name)
        return output

