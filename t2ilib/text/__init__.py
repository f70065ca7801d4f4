"""Caption encoders (one interface: list[str] -> float32 array) and their on-disk cache.

`t2ilib.text.base` defines the interface, each encoder has its own module, and
`t2ilib.text.encoders.make_encoder` builds the one a `TextConfig` names (see its table).
"""

from t2ilib.text.base import TextEncoder, tokenize
from t2ilib.text.cache import embed_captions, nearest_captions
from t2ilib.text.cleaning import clean_caption, clean_captions, english_stopwords
from t2ilib.text.encoders import ENCODERS, make_encoder
from t2ilib.text.glove import GloveEncoder, load_glove
from t2ilib.text.retrieval import retrieval_captions, retrieval_recall, retrieval_table, semantic_search
from t2ilib.text.sentence import SentenceTransformerEncoder
from t2ilib.text.vocabulary import OneHotEncoder, TokenizerEncoder, build_vocabulary
from t2ilib.text.word2vec import Word2VecEncoder

# TF-Hub (t2ilib.text.hub) and char-CNN-RNN (t2ilib.text.char_cnn_rnn) encoders: import them from their modules.
__all__ = ["ENCODERS", "GloveEncoder", "OneHotEncoder", "SentenceTransformerEncoder", "TextEncoder", "TokenizerEncoder",
           "Word2VecEncoder", "build_vocabulary", "clean_caption", "clean_captions", "embed_captions",
           "english_stopwords", "load_glove", "make_encoder", "nearest_captions", "retrieval_captions",
           "retrieval_recall", "retrieval_table", "semantic_search", "tokenize"]
