"""Stage-II training on a Stage-I run: run directory, frozen Stage-I, resume, generate, memory.

One tiny Stage-I run (32x32) is trained once for the module; Stage-II (128x128, widths 8)
trains one epoch on it, then resumes to two.
"""

import json

import keras
import numpy as np
import pandas as pd
import pytest

from t2ilib.config import RunConfig, preset
from t2ilib.training.stage1 import load_generator, train_stage1
from t2ilib.training.stage2 import generate, memory_estimate, train_stage2
from t2ilib.viz import side_by_side

# One pytest-xdist worker runs this whole file, so its module fixture is built once.
pytestmark = pytest.mark.xdist_group("stage2_training")


def snapshot(variables):
    return [keras.ops.convert_to_numpy(variable) for variable in variables]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(config, stage1_run_dir, stage2_run_dir, metrics after 1 epoch, metrics after the resume)."""
    root = tmp_path_factory.mktemp("stage2")
    config = preset("tiny").replace(**{"data.data_dir": str(root / "data"), "train.epochs": 1})
    stage1_dir, stage2_dir = root / "stage1", root / "stage2"
    train_stage1(config, stage1_dir, verbose=0)
    stage1_weights = snapshot(load_generator(stage1_dir)[0].variables)
    first = train_stage2(config.replace(**{"stage2.epochs": 1}), stage2_dir, stage1_dir, verbose=0)
    resumed = train_stage2(config.replace(**{"stage2.epochs": 2}), stage2_dir, stage1_dir, verbose=0)
    return config, stage1_dir, stage2_dir, first, resumed, stage1_weights


def test_run_directory_files_and_recorded_stage1_run(runs):
    config, stage1_dir, stage2_dir, first, resumed, _ = runs
    for name in ("config.json", "history.csv", "loss_curves.png", "metrics.json",
                 "samples/epoch_0001.png", "samples/epoch_0002.png"):
        assert (stage2_dir / name).is_file(), name
    saved = RunConfig.load(stage2_dir / "config.json")
    assert saved.stage2.stage1_run_dir == str(stage1_dir.resolve())
    assert saved.stage2.image_size == 128 and saved.data.image_size == 32
    metrics = json.loads((stage2_dir / "metrics.json").read_text())
    assert metrics["stage1_run_dir"] == str(stage1_dir.resolve())
    assert set(metrics["fidelity"]) >= {"shape", "colour", "position", "background", "mean"}
    assert set(metrics["stage1_fidelity"]) >= {"mean"}
    # Stage-II against the Stage-I images it refines: the same fidelity_samples captions and noise
    paired = metrics["stage2_minus_stage1"]
    assert paired["n"] == metrics["fidelity"]["n"] == config.train.fidelity_samples
    assert paired["difference"] == pytest.approx(metrics["fidelity"]["mean"] - metrics["stage1_fidelity"]["mean"])
    # the verdict follows the recorded 95% interval (difference +- 1.96 standard errors)
    assert (paired["low"], paired["high"]) == pytest.approx(
        (paired["difference"] - 1.96 * paired["stderr"], paired["difference"] + 1.96 * paired["stderr"]))
    expected = "better" if paired["low"] > 0 else "worse" if paired["high"] < 0 else "same within noise"
    assert paired["verdict"] == expected


def test_stage2_is_watched_by_the_collapse_guard_and_the_best_checkpoint(runs):
    config, _, stage2_dir, _, _, _ = runs
    from t2ilib.training.guards import resolved_best_metric

    assert config.train.collapse_guard and resolved_best_metric(config) == "fidelity"  # "auto" on shapes
    history = pd.read_csv(stage2_dir / "history.csv")
    assert {"caption_spread", "image_spread"} <= set(history.columns)
    assert np.isfinite(history[["caption_spread", "image_spread"]].to_numpy()).all()
    best = json.loads((stage2_dir / "best" / "best.json").read_text())
    assert best["metric"] == "fidelity" and best["value"] == pytest.approx(history["fidelity"].max())
    assert best["epoch"] == int(history["fidelity"].idxmax()) + 1


def test_resume_continues_the_step_counter(runs):
    config, _, stage2_dir, first, resumed, _ = runs
    steps = config.stage2.steps_per_epoch
    assert (first["epochs_trained"], first["optimizer_steps"]) == (1, steps)
    assert (resumed["epochs_trained"], resumed["optimizer_steps"]) == (2, 2 * steps)
    history = pd.read_csv(stage2_dir / "history.csv")
    assert history["epoch"].tolist() == [0, 1]
    assert np.isfinite(history[["d_loss", "g_loss", "kl", "fidelity"]].to_numpy()).all()
    assert len(resumed["fidelity_by_epoch"]) == 2


def test_stage1_generator_is_not_changed_by_stage2_training(runs):
    from t2ilib.training.stage2 import load_stage2

    _, stage1_dir, stage2_dir, _, _, stage1_weights = runs
    generator, _, _ = load_stage2(stage2_dir)
    inside = snapshot(generator.stage1_generator.variables)  # what Stage-II trained against, after 2 epochs
    assert len(inside) == len(stage1_weights) > 0
    for before, after in zip(stage1_weights, inside):
        np.testing.assert_array_equal(before, after)
    assert not generator.stage1_generator.trainable_variables


def test_generate_both_stages(runs):
    _, stage1_dir, stage2_dir, _, _, _ = runs
    captions = ["A red circle at the top on a black background .",
                "A blue square in the middle on a white background ."]
    low, high = generate(stage2_dir, captions, stage=2, num_per_caption=3, seed=1)
    assert low.shape == (2, 3, 32, 32, 3) and high.shape == (2, 3, 128, 128, 3)
    assert low.dtype == high.dtype == np.uint8
    again = generate(stage2_dir, captions, stage=1, num_per_caption=3, seed=1)
    np.testing.assert_array_equal(again, low)  # the same Stage-I images, same captions and noise
    alone = generate(stage1_dir, captions, stage=1, num_per_caption=3, seed=1)
    np.testing.assert_array_equal(alone, low)  # ... as the Stage-I run itself draws
    with pytest.raises(ValueError, match="Stage-I run"):
        generate(stage1_dir, captions, stage=2)
    assert side_by_side(low, high).shape == (2, 3, 128, 2 * 128 + 4, 3)


def test_evaluate_run_scores_the_stage2_images_of_a_stage2_run(runs):
    from t2ilib.data.prepare import prepare_data
    from t2ilib.evaluation import evaluate_run, generate_for_captions
    from t2ilib.metrics.fidelity import shapes_fidelity
    from t2ilib.training.gan import embed_all_captions
    from t2ilib.training.stage2 import load_stage2

    _, _, stage2_dir, _, _, _ = runs
    results = evaluate_run(stage2_dir, split="validation", weights=None, metrics=("fidelity", "diversity"))
    generator, _, config = load_stage2(stage2_dir)
    prepared = prepare_data(config.data, progress=False)
    rows = prepared.split("validation").index.to_numpy()
    fidelity = results["fidelity"].to_dict()
    assert fidelity["image_size"] == 128 and fidelity["n"] == len(rows) >= 4  # Stage-II's images, not Stage-I's (32 px)
    images = generate_for_captions(generator, embed_all_captions(config, prepared)[1][rows], config.model.noise_dim,
                                   num_per_caption=2, seed=0)[:, 0]
    assert images.shape == (len(rows), 128, 128, 3)
    assert fidelity["value"] == pytest.approx(shapes_fidelity(images, prepared.attributes.loc[rows])["mean"])
    assert json.loads((stage2_dir / "evaluation.json").read_text())["results"]["fidelity"]["image_size"] == 128
    assert "ms_ssim" in results


def test_config_that_contradicts_stage1_is_refused(runs):
    config, stage1_dir, _, _, _, _ = runs
    with pytest.raises(ValueError, match="does not match the Stage-I run"):
        train_stage2(config.replace(**{"model.noise_dim": 9}), stage1_dir.parent / "other", stage1_dir, verbose=0)


def test_memory_estimate_grows_with_batch():
    rows = memory_estimate(preset("tiny"), batch_sizes=(4, 8))
    assert rows[0]["trainable_parameters"] == rows[1]["trainable_parameters"] > 0
    assert rows[1]["float32_gib"] > rows[0]["float32_gib"] > rows[0]["mixed_float16_gib"]


def test_memory_estimate_assumes_the_encoders_embedding_size():
    from t2ilib.training.stage2 import expected_embedding_dim

    colab = preset("colab")
    assert expected_embedding_dim(colab.text) == 768  # bert-base-nli-mean-tokens
    assert expected_embedding_dim(colab.replace(**{"text.model_name": "all-MiniLM-L6-v2"}).text) == 384
    assert expected_embedding_dim(colab.replace(**{"text.encoder": "glove",
                                                   "text.glove_path": "d/glove.6B.300d.txt"}).text) == 300
    assert expected_embedding_dim(preset("tiny").text) == preset("tiny").text.word2vec_dim
    tiny = preset("tiny")
    wide, narrow = (memory_estimate(tiny, batch_sizes=(4,), embedding_dim=d)[0] for d in (768, 8))
    assert wide["trainable_parameters"] > narrow["trainable_parameters"]


def test_number_of_residual_blocks_is_a_config_field():
    config = preset("tiny")
    assert config.stage2.num_residual == 4  # the paper's
    four, two = (memory_estimate(config.replace(**{"stage2.num_residual": n}), batch_sizes=(4,))[0] for n in (4, 2))
    assert two["trainable_parameters"] < four["trainable_parameters"]
    assert two["float32_gib"] <= four["float32_gib"]


def test_config_round_trip_keeps_stage2():
    config = preset("colab")
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert config.stage2.image_size == 4 * config.data.image_size
    legacy = config.to_dict()
    del legacy["stage2"]  # a config.json written before Stage-II existed
    assert RunConfig.from_dict(legacy).stage2.stage1_run_dir == ""
