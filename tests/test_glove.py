"""Caption cleaning and the GloVe encoder of the GloVe "VAE" report, on tiny files made here."""

import logging

import numpy as np
import pytest

from t2ilib.text import cleaning
from t2ilib.text.cleaning import NLTK_ENGLISH_STOPWORDS, clean_caption, english_stopwords
from t2ilib.text.glove import GloveEncoder, load_glove


def test_cleaning_contractions():
    assert clean_caption("The dog won't swim") == "dog swim"  # won't -> will not: all stopwords
    assert clean_caption("kids can't jump") == "kids jump"
    assert clean_caption("It's raining") == "raining"
    assert clean_caption("dog's ball") == "dog ball"  # 's -> " is" (possessive too), "is" dropped
    assert clean_caption("Won\u2019t climb") == "climb"


def test_cleaning_digits_urls_punctuation_and_br():
    assert clean_caption("2 dogs play in the 10th street") == "dogs play street"
    assert clean_caption("see http://example.com/a?b=1 dog, cat!") == "see dog cat"
    assert clean_caption("www.example.com surfer") == "surfer"
    assert clean_caption("red<br/>ball BR") == "red ball"
    assert clean_caption("A man-made  LAKE.") == "man made lake"


def test_stopwords_case_choice():
    # Default: stopwords are dropped whatever their case; match_case=True is the literal order.
    assert clean_caption("The Cat") == "cat"
    assert clean_caption("The Cat", match_case=True) == "the cat"


def test_builtin_stopwords_are_nltks_list():
    words = NLTK_ENGLISH_STOPWORDS
    assert len(words) == 179 and len(set(words)) == 179
    for word in ("the", "not", "don't", "ll", "ve", "t", "wouldn't", "i"):
        assert word in words
    assert "br" not in words


def test_stopword_fallback_when_corpus_missing(monkeypatch, caplog):
    import nltk.corpus

    class Missing:
        def words(self, language):
            raise LookupError("Resource stopwords not found.")

    monkeypatch.setattr(nltk.corpus, "stopwords", Missing())
    with caplog.at_level(logging.WARNING, logger="t2ilib"):
        words = english_stopwords()
    assert len(words) == 179 and words == list(NLTK_ENGLISH_STOPWORDS)
    assert sum("stopwords" in record.getMessage() for record in caplog.records) == 1


def test_stopword_set_is_read_once(monkeypatch):
    monkeypatch.setattr(cleaning, "_stopwords_cache", None)
    calls = []
    real = cleaning.english_stopwords
    monkeypatch.setattr(cleaning, "english_stopwords", lambda: calls.append(1) or real())
    clean_caption("a dog")
    clean_caption("the cat")
    assert len(calls) == 1


VECTORS = {"dog": [1.0, 2.0, 0.5], "runs": [0.5, -1.0, 2.0], "beach": [-2.0, 0.0, 1.0]}


@pytest.fixture
def glove_file(tmp_path):
    path = tmp_path / "glove.tiny.3d.txt"
    path.write_text("".join(f"{word} {' '.join(str(v) for v in values)}\n" for word, values in VECTORS.items()))
    return path


def test_load_glove(glove_file):
    words, vectors = load_glove(glove_file)
    assert words == ["dog", "runs", "beach"]
    assert vectors.dtype == np.float32 and vectors.shape == (3, 3)
    np.testing.assert_array_equal(vectors[2], VECTORS["beach"])


def test_sum_and_mean_pooling_count_unknown_words(glove_file):
    caption = "A dog runs on the BEACH with a frisbee"  # frisbee is not in the file
    encoder = GloveEncoder(glove_file)
    assert encoder.tokens(caption) == ["dog", "runs", "beach", "frisbee"]
    embeddings = encoder.encode([caption, "the"])
    assert embeddings.dtype == np.float32 and embeddings.shape == (2, 3) and encoder.dim == 3
    np.testing.assert_allclose(embeddings[0], [-0.5, 1.0, 3.5])  # dog + runs + beach, frisbee = 0
    np.testing.assert_array_equal(embeddings[1], [0.0, 0.0, 0.0])  # nothing left after cleaning
    assert encoder.last_unknown_words == 1

    mean = GloveEncoder(glove_file, pooling="mean").encode([caption])
    np.testing.assert_allclose(mean[0], [-0.5 / 3, 1.0 / 3, 3.5 / 3], rtol=1e-6)  # over the 3 known words


def test_only_the_first_max_tokens_count(glove_file):
    caption = " ".join(["dog"] * 100 + ["beach"] * 5)
    np.testing.assert_allclose(GloveEncoder(glove_file).encode([caption])[0], 100 * np.array(VECTORS["dog"]))
    np.testing.assert_allclose(GloveEncoder(glove_file, max_tokens=2).encode(["beach dog runs"])[0],
                               np.add(VECTORS["beach"], VECTORS["dog"]))


def test_cache_key_follows_file_pooling_and_length(glove_file):
    key = GloveEncoder(glove_file).cache_key()
    assert glove_file.name in key and str(glove_file.stat().st_size) in key
    assert key != GloveEncoder(glove_file, pooling="mean").cache_key()
    assert key != GloveEncoder(glove_file, max_tokens=10).cache_key()
    with pytest.raises(ValueError, match="pooling"):
        GloveEncoder(glove_file, pooling="max")


def test_missing_glove_file_says_where_to_download(tmp_path):
    missing = tmp_path / "glove.6B.50d.txt"
    with pytest.raises(FileNotFoundError, match="glove.6B.zip") as error:
        load_glove(missing)
    assert str(missing) in str(error.value) and "data_prep" in str(error.value)
    with pytest.raises(FileNotFoundError):
        GloveEncoder(missing).encode(["a dog"])


def test_bad_glove_file_names_file_and_line(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("dog 1 2 3\nruns 1 2 3\nbeach 1 2\n")
    with pytest.raises(ValueError, match="line 3 has 2 values but the first line has 3") as error:
        load_glove(short)
    assert str(short) in str(error.value)

    text = tmp_path / "text.txt"
    text.write_text("dog 1 2 3\nruns 1 x 3\n")
    with pytest.raises(ValueError, match="line 2") as error:
        load_glove(text)
    assert str(text) in str(error.value)


def test_works_with_the_embedding_cache(glove_file, tmp_path):
    from t2ilib.text import embed_captions

    first = embed_captions(GloveEncoder(glove_file), ["a dog runs"], cache_dir=tmp_path / "cache")
    cached_encoder = GloveEncoder(glove_file)
    second = embed_captions(cached_encoder, ["a dog runs"], cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(first, second)
    assert cached_encoder.vectors is None  # read from the cache: the GloVe file was not loaded
