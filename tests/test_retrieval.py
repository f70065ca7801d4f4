"""Caption retrieval recall@k and semantic search: the maths on constructed cases, then the built-in data."""

import numpy as np
import pandas as pd
import pytest

from t2ilib.config import preset
from t2ilib.data.prepare import prepare_data
from t2ilib.text import (TextEncoder, embed_captions, make_encoder, retrieval_captions, retrieval_recall,
                         retrieval_table, semantic_search)
from t2ilib.text.retrieval import first_hit_ranks


def unit(degrees):
    radians = np.deg2rad(np.asarray(degrees, dtype=np.float64))
    return np.stack([np.cos(radians), np.sin(radians)], axis=1).astype(np.float32)


# Captions on the unit circle (angle = how far apart). D has no partner: a distractor, never a query.
ANGLES = [0, 110, 12, 20, 200, 210, 5]
GROUPS = ["A", "A", "B", "B", "C", "C", "D"]


def test_known_ranks_and_recall_on_a_constructed_case():
    # A@0: D(5) B(12) B(20) closer than A(110) -> 4. A@110: all five others closer -> 6.
    # B@12: D(7) closer than B(8) -> 2. B@20: B(8) first -> 1. C: each other's nearest -> 1.
    ranks = first_hit_ranks(unit(ANGLES) * [[1], [3], [2], [1], [5], [1], [1]], GROUPS)  # lengths do not matter
    assert ranks.tolist() == [4, 6, 2, 1, 1, 1, 0]
    np.testing.assert_array_equal(first_hit_ranks(unit(ANGLES), GROUPS, chunk_size=2), ranks)
    scores = retrieval_recall(unit(ANGLES), GROUPS, ks=(1, 5, 10))
    assert scores == {"recall@1": 0.5, "recall@5": 5 / 6, "recall@10": 1.0, "median_rank": 1.5, "queries": 6}


def test_ranks_match_a_full_sort_on_random_data():
    rng = np.random.default_rng(3)
    embeddings = rng.normal(size=(60, 8)).astype(np.float32)
    groups = np.repeat(np.arange(12), 5)
    ranks = first_hit_ranks(embeddings, groups, chunk_size=7)
    normed = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    similarity = normed @ normed.T
    for query in range(60):
        order = [i for i in np.argsort(-similarity[query]) if i != query]
        assert ranks[query] == 1 + next(r for r, i in enumerate(order) if groups[i] == groups[query])


def test_ties_count_against_the_encoder():
    constant = np.ones((10, 3), np.float32)  # every caption the same vector
    scores = retrieval_recall(constant, np.repeat(np.arange(5), 2), ks=(1, 5, 9))
    assert scores["recall@1"] == scores["recall@5"] == 0.0 and scores["recall@9"] == 1.0
    with pytest.raises(ValueError, match="group"):
        retrieval_recall(constant[:3], ["a", "b", "c"])


class AngleEncoder(TextEncoder):
    """Captions that are numbers ('12') become unit vectors at that angle; counts its calls."""

    name = "angles"

    def __init__(self):
        self.calls = 0

    def encode(self, captions):
        self.calls += 1
        return unit([float(caption) for caption in captions])


def test_semantic_search_lists_the_k_nearest_with_cosine_distances(tmp_path):
    encoder = AngleEncoder()
    corpus = ["0", "90", "30", "180"]
    table = semantic_search(encoder, ["10", "170"], corpus, k=2, cache_dir=tmp_path)
    assert table["caption"].tolist() == ["0", "30", "180", "90"]
    assert table["rank"].tolist() == [1, 2, 1, 2] and table["query"].tolist() == ["10", "10", "170", "170"]
    np.testing.assert_allclose(table["cosine_similarity"], np.cos(np.deg2rad([10, 20, 10, 80])), rtol=1e-5)
    np.testing.assert_allclose(table["cosine_distance"], 1 - table["cosine_similarity"])
    calls = encoder.calls
    semantic_search(encoder, ["10"], corpus, k=1, cache_dir=tmp_path)
    assert encoder.calls == calls + 1  # the corpus came from the cache: only the query was encoded


class Constant(TextEncoder):
    """The baseline every real encoder must beat: the same vector for every caption."""

    name = "constant"
    dim = 4

    def encode(self, captions):
        return np.ones((len(captions), 4), np.float32)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    config = preset("tiny").replace(**{"data.data_dir": str(tmp_path_factory.mktemp("data"))})
    return config, prepare_data(config.data, progress=False)


def test_retrieval_captions_take_every_caption_of_the_split_images(shapes):
    _, prepared = shapes
    table = retrieval_captions(prepared)  # validation: caption #0 of 36 images, plus their other four
    images = prepared.split("validation")["image"].unique()
    assert set(table["image"]) == set(images) and len(table) == 5 * len(images)
    attributes = prepared.attributes.loc[table.index]
    same_scene = (attributes["shape"] + attributes["colour"] + attributes["position"] + attributes["background"])
    assert table["group"].nunique() == same_scene.nunique() < len(images)  # repeated scenes share a group
    assert (retrieval_captions(prepared, group="image")["group"] == table["image"]).all()
    drawn = retrieval_captions(prepared, max_images=10, seed=1)
    assert drawn["image"].nunique() == 10
    assert drawn.equals(retrieval_captions(prepared, max_images=10, seed=1))  # seeded: the same draw
    assert not drawn.equals(retrieval_captions(prepared, max_images=10, seed=2))
    with pytest.raises(ValueError, match="group"):
        retrieval_captions(prepared, group="colour")


def test_retrieval_table_ranks_encoders_and_is_reproducible(shapes, tmp_path):
    config, prepared = shapes
    training = prepared.split("train")["caption"].tolist()
    encoders = {name: make_encoder(config.replace(**{"text.encoder": name}).text, training, tmp_path)
                for name in ("word2vec", "onehot", "tokenizer")}
    encoders["constant"] = Constant()
    captions = retrieval_captions(prepared)
    table = retrieval_table(encoders, captions, cache_dir=tmp_path / "cache")
    assert list(table.index) == list(range(1, 5)) and table.index.name == "rank"
    assert table["recall@1"].is_monotonic_decreasing
    assert table.set_index("encoder").loc["constant", "recall@10"] == 0.0  # ties: no credit
    scores = table.set_index("encoder")
    sizes = captions["group"].map(captions["group"].value_counts())
    chance = float(((sizes - 1) / (len(captions) - 1)).mean())  # recall@1 of a random order, about 0.03
    for name in ("word2vec", "onehot", "tokenizer"):
        assert scores.loc[name, "recall@1"] > 4 * chance, (name, scores.loc[name, "recall@1"], chance)
    assert (scores["queries"] == len(captions)).all() and (scores["captions"] == len(captions)).all()
    # "Same image" is a subset of "same scene": per image, recall can only be lower (the shapes caveat).
    by_image = retrieval_table(encoders, retrieval_captions(prepared, group="image")).set_index("encoder")
    assert (by_image["recall@1"] <= scores["recall@1"]).all() and (by_image["recall@1"] < scores["recall@1"]).any()
    again = retrieval_table(encoders, captions, cache_dir=tmp_path / "cache")
    pd.testing.assert_frame_equal(table.drop(columns="seconds"), again.drop(columns="seconds"))
    everything = {name: embed_captions(encoder, prepared.captions["caption"].tolist()) for name, encoder in encoders.items()}
    given = retrieval_table(encoders, captions, embeddings={name: rows[captions.index] for name, rows in everything.items()})
    pd.testing.assert_frame_equal(table.drop(columns="seconds"), given.drop(columns="seconds"))  # rows of a bigger table
    fresh = {name: make_encoder(config.replace(**{"text.encoder": name}).text, training, tmp_path / "w2")
             for name in ("word2vec",)}
    np.testing.assert_array_equal(embed_captions(fresh["word2vec"], captions["caption"].tolist()),
                                  embed_captions(encoders["word2vec"], captions["caption"].tolist()))


def test_retrieval_command_prints_and_saves_the_table(shapes, tmp_path, capsys):
    from t2ilib.cli import main

    config, _ = shapes
    csv = tmp_path / "retrieval.csv"
    assert main(["retrieval", "--preset", "tiny", "--data-dir", config.data.data_dir, "--encoders", "word2vec",
                 "--max-images", "20", "--seed", "3", "--csv", str(csv)]) == 0
    assert "Caption retrieval on 20 images of the validation split (100 captions" in capsys.readouterr().out
    saved = pd.read_csv(csv)
    assert saved["encoder"].tolist() == ["word2vec"] and 0 < saved.loc[0, "recall@10"] <= 1
    assert main(["retrieval", "--preset", "tiny", "--data-dir", config.data.data_dir, "--encoders", "skipthought"]) == 2
    assert "Unknown text encoder 'skipthought'" in capsys.readouterr().err
