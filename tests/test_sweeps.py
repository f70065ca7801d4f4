"""Sweeps: planning the report's grid, and a real sweep on the built-in dataset (tiny preset)."""

import json

import numpy as np
import pandas as pd
import pytest

from t2ilib.config import preset
from t2ilib.sweeps import REPORT_FACTORS, SweepSpec, default_sweep, estimated_epochs, markdown_table, run_sweep


def test_the_default_flickr8k_sweep_is_the_reports_one_at_a_time_grid():
    spec = default_sweep(preset("colab"))
    assert spec.mode == "one_at_a_time"
    assert spec.baseline == {"encoder": "sentence-transformers", "batch_size": 128, "optimizer": "adam",
                             "learning_rate": 2e-4, "last_activation": "leaky_relu", "epochs": 490}
    assert spec.factors["batch_size"] == [32, 64, 128, 512] and spec.factors["epochs"] == [0, 390, 480, 490]
    assert spec.factors["learning_rate"] == REPORT_FACTORS["learning_rate"]
    assert spec.factors["encoder"] == ["tokenizer", "onehot", "tfhub", "sentence-transformers"]
    variants = spec.variants()
    names = [variant.name for variant in variants]
    expected = 1 + sum(len(values) - 1 for values in spec.factors.values())
    assert len(names) == len(set(names)) == expected
    assert "enc-sentence-transformers_bs-128_opt-adam_lr-0.0002_act-leaky_relu_ep-490" in names
    assert [variant.values["batch_size"] for variant in spec.variants_of("batch_size")] == [32, 64, 128, 512]
    assert [variant.values["epochs"] for variant in variants] == sorted(v.values["epochs"] for v in variants)
    config = spec.variants_of("optimizer")[0].config(spec.base)
    assert config.train.optimizer == "adadelta" and config.train.batch_size == 128


def test_the_cost_estimate_counts_chains_of_epoch_variants_once():
    # The report's grid: 13 variants that change one other factor, 490 epochs each, plus the
    # baseline's epochs chain 0/390/480/490, which is one run continued (490 epochs once).
    report = default_sweep(preset("colab"))
    assert len(report.variants()) == 17 and estimated_epochs(report) == 14 * 490
    # Notebook 07's one-session default: three activations at 5 epochs each.
    session = SweepSpec(preset("colab").replace(**{"train.epochs": 5}),
                        {"last_activation": ["relu", "selu", "leaky_relu"]})
    assert len(session.variants()) == 3 and estimated_epochs(session) == 15
    # Epoch variants of one setting: the longest alone is trained from scratch.
    chain = SweepSpec(preset("tiny"), {"epochs": [0, 1, 3]}, baseline={"epochs": 3})
    assert estimated_epochs(chain) == 3


def test_grid_mode_and_bad_factors():
    spec = SweepSpec(preset("tiny"), {"learning_rate": [1e-4, 2e-4], "batch_size": [4, 8], "optimizer": ["adam"]},
                     mode="grid")
    assert len(spec.variants()) == 4 and spec.baseline == {"learning_rate": 1e-4, "batch_size": 4, "optimizer": "adam"}
    assert len(spec.variants_of("batch_size")) == 2
    with pytest.raises(ValueError, match="Unknown sweep factors"):
        SweepSpec(preset("tiny"), {"dropout": [0.1]})


def test_a_sweep_on_the_builtin_dataset_trains_compares_and_resumes(tiny_config, tmp_path, capsys):
    base = tiny_config
    # 2 variants (tiny preset): the same settings after 0 and after 1 epoch, LeakyReLU in both.
    spec = SweepSpec(base, {"last_activation": ["leaky_relu"], "epochs": [0, 1]}, mode="grid")
    sweep_dir = tmp_path / "sweep"
    table = run_sweep(spec, sweep_dir, num_captions=3, num_noise=2)
    out = capsys.readouterr().out
    names = sorted(p.name for p in (sweep_dir / "runs").iterdir())
    assert names == ["act-leaky_relu_ep-0", "act-leaky_relu_ep-1"]
    assert "act-leaky_relu_ep-1: training (continuing a copy of act-leaky_relu_ep-0)" in out  # 0 -> 1 epochs shared
    saved_config = json.loads((sweep_dir / "runs" / names[1] / "config.json").read_text())
    assert saved_config["model"]["last_activation"] == "leaky_relu" and saved_config["train"]["epochs"] == 1
    for name in ("comparisons/epochs.png", "comparisons/last_activation.png", "curves/epochs.png",
                 "results.csv", "results.md", "sweep.json"):
        assert (sweep_dir / name).is_file(), name
    saved = pd.read_csv(sweep_dir / "results.csv")
    assert list(saved["variant"]) == names and list(saved["epochs_trained"]) == [0, 1]
    assert {"d_loss", "g_loss", "caption_spread", "collapsed", "fidelity", "fidelity_mismatched", "ms_ssim"} <= set(saved)
    assert saved["fidelity"].between(0, 1).all() and saved["ms_ssim"].between(-1, 1.0001).all()
    assert saved.loc[1, "d_loss"] > 0 and np.isnan(saved.loc[0, "d_loss"])  # the 0-epoch run has no history
    assert (sweep_dir / "results.md").read_text().startswith("| variant | changed |")
    assert len(table) == 2
    # train_stage1's guards: spreads in history.csv, the best epoch by fidelity kept in best/
    trained = sweep_dir / "runs" / names[1]
    history = pd.read_csv(trained / "history.csv")
    assert {"caption_spread", "image_spread", "fidelity"} <= set(history.columns)
    best = json.loads((trained / "best" / "best.json").read_text())
    assert best["metric"] == "fidelity" and best["value"] == pytest.approx(history["fidelity"].max())
    from t2ilib.training.stage1 import load_generator

    assert load_generator(trained, checkpoint_dir="best")[0].last_activation == "leaky_relu"
    figure = (sweep_dir / "comparisons" / "epochs.png").read_bytes()

    # Re-running (here through the CLI, which names the variants the same way) trains nothing,
    # and draws every cell from the same captions and noise again: the same figure.
    from t2ilib.cli import main

    code = main(["sweep", "--preset", "tiny", "--data-dir", base.data.data_dir, "--sweep-dir", str(sweep_dir),
                 "--mode", "grid", "--factor", "last_activation=leaky_relu", "--factor", "epochs=0,1",
                 "--num-captions", "3", "--num-noise", "2"])
    assert code == 0
    assert capsys.readouterr().out.count("finished, skipped") == 2
    assert (sweep_dir / "comparisons" / "epochs.png").read_bytes() == figure
    assert json.loads((sweep_dir / "sweep.json").read_text())["factors"]["epochs"] == [0, 1]


def test_markdown_table_formats_numbers_and_blanks():
    text = markdown_table(pd.DataFrame({"a": [1.234567, None], "b": ["x", "y"]}))
    assert text.splitlines() == ["| a | b |", "|---|---|", "| 1.235 | x |", "|  | y |"]
