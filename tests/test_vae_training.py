"""The improved conditional VAE, VAE runs (train / resume) and the honest comparison table."""

import json

import numpy as np
import pandas as pd
import pytest

from t2ilib.models.cvae import ConditionalVAE, improved_model
from t2ilib.training.vae import TABLE_COLUMNS, VAEConfig, compare_vaes, train_vae

# One pytest-xdist worker runs this whole file, so its module fixture is built once.
pytestmark = pytest.mark.xdist_group("vae_training")


def test_improved_model_trains_and_decodes_from_caption_and_prior_sample():
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(16, 50)).astype("float32")
    images = rng.uniform(size=(16, 64, 64, 3)).astype("float32")
    model, optimizer = improved_model(seed=0, width=8)
    model.adapt_text(embeddings)
    history = model.fit(embeddings, images, batch_size=8, epochs=2, verbose=0)
    assert set(history.history) == {"loss", "reconstruction", "kl"}  # no "accuracy"
    assert all(np.isfinite(value) for values in history.history.values() for value in values)
    assert int(optimizer.iterations.numpy()) == 4

    noise = rng.normal(size=(3, model.latent_dim)).astype("float32")
    generated = np.asarray(model.generate(embeddings[:3], noise))  # no image needed at test time
    assert generated.shape == (3, 64, 64, 3) and generated.min() >= 0 and generated.max() <= 1
    np.testing.assert_array_equal(generated, np.asarray(model.generate(embeddings[:3], noise)))  # same seed, same image
    other = np.asarray(model.generate(embeddings[:3], noise + 3.0))
    assert not np.allclose(generated, other)  # the prior sample matters
    assert np.asarray(model(embeddings[:3])).shape == (3, 64, 64, 3)  # call() draws its own prior sample


def test_adapt_text_rejects_wrong_shapes():
    model = ConditionalVAE(embedding_dim=50, width=8).build_for()
    with pytest.raises(ValueError, match="adapt_text"):
        model.adapt_text(np.zeros((4, 12), "float32"))


@pytest.fixture(scope="module")
def shapes_runs(tmp_path_factory):
    """Report model 2 and the improved model, trained briefly on 120 shapes images."""
    root = tmp_path_factory.mktemp("vae")
    common = dict(data_dir=str(root / "data"), shapes_num_images=120, batch_size=32)
    report = train_vae("report2", root / "report2", VAEConfig(epochs=3, **common), verbose=0)
    improved_config = VAEConfig(epochs=10, learning_rate=3e-3, **common)
    improved = train_vae("improved", root / "improved", improved_config, verbose=0)
    return root, common, report, improved


def test_report_model_collapses_and_the_improved_model_follows_captions(shapes_runs):
    _, _, report, improved = shapes_runs
    assert report["collapsed"] and report["output_spread"] < 0.01
    assert not improved["collapsed"]
    assert improved["fidelity"] > report["fidelity"] + 0.1
    assert all(np.isfinite(improved[key]) for key in ("mse", "psnr", "ssim", "kl"))


def test_resume_continues_the_step_counter(shapes_runs):
    root, common, _, improved = shapes_runs
    steps = improved["optimizer_steps"]
    assert improved["epochs_trained"] == 10 and steps > 0
    resumed = train_vae("improved", root / "improved", VAEConfig(epochs=11, learning_rate=3e-3, **common), verbose=0)
    assert resumed["epochs_trained"] == 11
    assert resumed["optimizer_steps"] == steps + steps // 10
    assert len(pd.read_csv(root / "improved" / "history.csv")) == 11
    with pytest.raises(ValueError, match="other settings"):
        train_vae("improved", root / "improved", VAEConfig(epochs=11, learning_rate=1e-4, **common), verbose=0)


def test_comparison_table_and_figure(shapes_runs):
    root, _, report, _ = shapes_runs
    table = compare_vaes({"report 2": root / "report2", "improved": root / "improved"}, root / "compare",
                         num_captions=3)
    assert list(table.columns) == TABLE_COLUMNS
    assert not any("accuracy" in column for column in table.columns)
    assert table["model"].tolist() == ["report 2", "improved", "mean training image"]
    assert table.loc[0, "parameters"] == 7_646_388
    assert table.loc[0, "fidelity"] == pytest.approx(report["fidelity"])  # same captions, same seed
    assert bool(table.loc[2, "collapsed"]) and bool(table.loc[0, "collapsed"])
    assert (root / "compare" / "comparison.png").is_file()
    assert pd.read_csv(root / "compare" / "comparison.csv").shape == table.shape
    metrics = json.loads((root / "report2" / "metrics.json").read_text())
    assert metrics["model"] == "report2" and "accuracy" not in metrics


def test_mismatched_baseline_never_pairs_a_caption_with_its_own_image(monkeypatch):
    """The VAE's "wrong captions" baseline scores each image against a caption of ANOTHER image,
    also when the rows hold several captions of one image (a plain shuffle can leave fixed points)."""
    from types import SimpleNamespace

    import pandas as pd

    import t2ilib.metrics.fidelity as fidelity
    from t2ilib.training.vae import _fidelity

    images = np.repeat(np.array(list("abcdefgh")), 2)  # two captions per image
    captions = pd.DataFrame({"image": images})
    attributes = pd.DataFrame({"image": images, "shape": images, "colour": images, "position": images,
                               "background": images})
    data = SimpleNamespace(prepared=SimpleNamespace(captions=captions, attributes=attributes))
    scored = []
    monkeypatch.setattr(fidelity, "shapes_fidelity", lambda _, table: scored.append(table) or {"mean": 0.0})
    rows = np.arange(len(images))
    for seed in range(30):
        scored.clear()
        _fidelity(np.zeros((len(rows), 8, 8, 3), np.float32), data, rows, seed)
        truth, mismatched = scored
        assert (truth["image"].to_numpy() == images).all()
        assert (mismatched["image"].to_numpy() != images).all()


def test_the_margin_over_mismatched_captions_is_significant_only_for_a_generator_that_follows_them(shapes_runs):
    """The improved model beats its own mismatched-caption baseline at alpha 0.001 (one-sided
    z-test, `follows_captions`) on the 120 held-out captions (validation + test: new captions of
    the 120 images); the collapsed report model (one image for every caption) and the improved
    model fed shuffled caption embeddings (images that follow other captions) fail the check.

    False-failure rate: with the margin and standard error measured here (+0.154 +- 0.027, z 5.6),
    a model that truly learned this margin fails with probability Phi(3.09 - margin / stderr),
    about 0.6%; asserted below (< 2%) from the measured figures. A caption-ignoring model passes
    with probability <= alpha = 0.001."""
    import math

    from t2ilib.metrics.fidelity import normal_quantile
    from t2ilib.training.vae import generate_images, load_vae, score_images

    root, _, report, improved = shapes_runs
    assert improved["follows_captions"]["n"] == improved["held_out_pairs"]  # the run's own metrics carry the check
    assert improved["follows_captions"]["margin"] == pytest.approx(improved["fidelity"] - improved["fidelity_mismatched"])

    def check(run: str, shuffle: bool = False) -> dict:
        model, data, _ = load_vae(root / run)
        rows = data.prepared.captions.index[data.prepared.captions["split"] != "train"].to_numpy()
        embeddings = data.embeddings[rows]
        if shuffle:
            embeddings = embeddings[np.random.default_rng(0).permutation(len(embeddings))]
        return score_images(generate_images(model, embeddings, seed=0), data, rows, seed=0)["follows_captions"]

    passed = check("improved")
    assert passed["n"] == 120 and passed["follows"], passed
    false_failure = 0.5 * math.erfc((passed["margin"] / passed["stderr"] - normal_quantile(0.999)) / math.sqrt(2))
    assert false_failure < 0.02, (false_failure, passed)
    assert not check("report2")["follows"]  # collapsed: ignores its captions
    assert not check("improved", shuffle=True)["follows"]
