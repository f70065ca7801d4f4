"""Caption encoders (one interface: list[str] -> float32 array) and their on-disk cache."""

from t2ilib.text.cache import embed_captions, nearest_captions
from t2ilib.text.encoders import (
    ENCODERS,
    SentenceTransformerEncoder,
    TextEncoder,
    Word2VecEncoder,
    make_encoder,
    tokenize,
)

__all__ = ["ENCODERS", "SentenceTransformerEncoder", "TextEncoder", "Word2VecEncoder", "embed_captions",
           "make_encoder", "nearest_captions", "tokenize"]
from t2ilib.text.cleaning import clean_caption, clean_captions, english_stopwords  # noqa: E402
from t2ilib.text.glove import GloveEncoder, load_glove  # noqa: E402

__all__ += ["GloveEncoder", "clean_caption", "clean_captions", "english_stopwords", "load_glove"]
from t2ilib.text.retrieval import retrieval_captions, retrieval_recall, retrieval_table, semantic_search  # noqa: E402
from t2ilib.text.vocabulary import OneHotEncoder, TokenizerEncoder, build_vocabulary  # noqa: E402

__all__ += ["OneHotEncoder", "TokenizerEncoder", "build_vocabulary", "retrieval_captions", "retrieval_recall",
            "retrieval_table", "semantic_search"]
# TF-Hub (t2ilib.text.hub) and char-CNN-RNN (t2ilib.text.char_cnn_rnn) encoders are imported from their modules.
