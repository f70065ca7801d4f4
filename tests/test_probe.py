"""Linear probes (t2ilib.metrics.probe): read attributes out of vectors, or say they are not there."""

import numpy as np
import pandas as pd
import pytest

from t2ilib.metrics.probe import linear_probe, probe_attributes, variance_share


def test_probe_reads_a_linearly_coded_label_and_not_noise():
    rng = np.random.default_rng(0)
    labels = rng.choice(["red", "green", "blue", "yellow"], size=600)
    directions = {name: rng.standard_normal(16) for name in ("red", "green", "blue", "yellow")}
    coded = np.stack([directions[label] for label in labels]) + rng.standard_normal((600, 16))
    noise = rng.standard_normal((600, 16))
    result = linear_probe(coded[:400], labels[:400], coded[400:], labels[400:])
    assert result["accuracy"] > 0.9 and result["chance"] == 0.25 and result["classes"] == 4
    assert result["n_train"] == 400 and result["n_test"] == 200
    blind = linear_probe(noise[:400], labels[:400], noise[400:], labels[400:])
    assert abs(blind["accuracy"] - 0.25) < 0.12  # nothing to read: near chance


def test_probe_ignores_scale_and_constant_dimensions():
    """Standardised inputs: a code scaled by 1e-3 (a tiny conditioning mean) reads the same."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, size=300)
    vectors = np.eye(3)[labels] + 0.3 * rng.standard_normal((300, 3))
    vectors = np.hstack([vectors, np.ones((300, 2))])  # two constant columns
    big = linear_probe(vectors[:200], labels[:200], vectors[200:], labels[200:])
    small = linear_probe(vectors[:200] * 1e-3, labels[:200], vectors[200:] * 1e-3, labels[200:])
    assert big["accuracy"] == pytest.approx(small["accuracy"]) and big["accuracy"] > 0.9


def test_probe_attributes_per_column_and_input_checks():
    rng = np.random.default_rng(2)
    table = pd.DataFrame({"colour": rng.choice(["red", "blue"], 200), "shape": rng.choice(["a", "b", "c"], 200)})
    vectors = np.stack([(table["colour"] == "red").to_numpy(float), rng.standard_normal(200)], axis=1)
    scores = probe_attributes(vectors[:150], table[:150], vectors[150:], table[150:])
    assert scores["colour"]["accuracy"] == 1.0 and scores["shape"]["accuracy"] < 0.6
    with pytest.raises(ValueError, match="one label per vector"):
        linear_probe(vectors[:10], table["colour"][:9], vectors[:5], table["colour"][:5])
    with pytest.raises(ValueError, match="one value only"):
        linear_probe(vectors[:10], ["red"] * 10, vectors[:5], ["red"] * 5)
    with pytest.raises(ValueError, match="NaN"):
        linear_probe(np.full((4, 2), np.nan), [0, 1, 0, 1], vectors[:2], [0, 1])
    with pytest.raises(ValueError, match="missing"):
        probe_attributes(vectors, table, vectors, table, attributes=["position"])


def test_variance_share_says_how_loud_a_label_is():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, size=1000)
    loud = np.eye(2)[labels] * 10 + rng.standard_normal((1000, 2))
    quiet = np.eye(2)[labels] * 0.1 + rng.standard_normal((1000, 2))
    assert variance_share(loud, labels) > 0.9 and variance_share(quiet, labels) < 0.02
    assert variance_share(np.eye(2)[labels], labels) == pytest.approx(1.0)
    assert variance_share(np.ones((10, 3)), np.arange(10) % 2) == 0.0
