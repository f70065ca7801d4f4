"""Learning visible on any dataset (issue 14, item 4): the R-precision judge trained once per
dataset and cached with a manifest, the per-epoch agreement score `r_precision` in history.csv,
TensorBoard and the loss curves, `best/` by it, and the collapse guard's "the text is ignored"."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pandas as pd
import pytest

from t2ilib.config import ConfigError, preset
from t2ilib.metrics.rprecision import chance_p_value, r_precision_from_codes
from t2ilib.training import judge as judge_module
from t2ilib.training.agreement import AgreementScore, agreement_callbacks, text_ignored
from t2ilib.training.guards import CollapseGuard, resolved_best_metric
from t2ilib.training.judge import dual_encoder_for, dual_encoder_path, judge_groups, real_crops


def agreement_config(data_dir, **overrides):
    """The tiny preset (40 shapes images, 32 px) with the agreement score on."""
    return preset("tiny").replace(**{"data.data_dir": str(data_dir), "train.agreement_every_epochs": 1,
                                     "train.agreement_samples": 36, **overrides})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A judge trained on the tiny shapes dataset (a few CPU seconds), with its prepared data."""
    from t2ilib.data.prepare import prepare_data

    config = agreement_config(tmp_path_factory.mktemp("agreement") / "data")
    dual = dual_encoder_for(config)
    return config, dual, prepare_data(config.data, progress=False)


def count_trainings(monkeypatch) -> list:
    calls = []
    original = judge_module.train_dual_encoder

    def counting(*args, **kwargs):
        calls.append(args[1])
        return original(*args, **kwargs)

    monkeypatch.setattr(judge_module, "train_dual_encoder", counting)
    return calls


def test_the_judge_is_trained_once_and_then_reused(trained, monkeypatch):
    config, dual, _ = trained
    path = dual_encoder_path(config)
    manifest = path.parent / "manifest.json"
    stamps = (path.stat().st_mtime_ns, manifest.stat().st_mtime_ns)
    calls = count_trainings(monkeypatch)
    again = dual_encoder_for(config.replace(**{"train.seed": 7, "text.encoder": "onehot"}))  # not the judge's settings
    assert calls == [] and (path.stat().st_mtime_ns, manifest.stat().st_mtime_ns) == stamps
    images = real_crops(trained[2], [0, 1, 2], 32)
    np.testing.assert_allclose(again.encode_images(images), dual.encode_images(images), atol=1e-6)
    meta = json.loads(manifest.read_text())
    assert meta["fingerprint"]["num_images"] == 40 and meta["seed"] == 0 and meta["text_encoder"]["encoder"] == "word2vec"


def test_real_validation_images_score_above_chance_and_other_captions_at_chance(trained):
    """The judge can tell: real validation images with their own captions far above chance, the
    same images with other images' captions at chance (this fails when images and captions are
    paired wrongly, or when the mismatched captions may come from the same group)."""
    _, dual, _ = trained
    check = dual.meta["validation"]
    assert check["captions"] == 36 and check["candidates"] == 35 and check["chance"] == pytest.approx(1 / 35)
    assert chance_p_value(check["real_hits"], check["captions"], check["chance"]) < 1e-4  # measured: 12 of 36 hits
    assert chance_p_value(check["shuffled_hits"], check["captions"], check["chance"]) > 0.01
    assert check["real"] > 5 * check["chance"] > check["shuffled"] - 2 * check["chance"]


def test_shapes_groups_are_the_four_attributes(trained):
    """Two shapes images of the same attributes are the same picture: another one's caption is
    never a mismatched candidate (with image groups a perfect judge would tie with it and miss)."""
    _, _, prepared = trained
    rows = np.arange(len(prepared.captions))
    groups = judge_groups(prepared, rows)
    same = prepared.attributes[["shape", "colour", "position", "background"]].astype(str).agg("-".join, axis=1)
    assert (pd.Series(groups).factorize()[0] == same.factorize()[0]).all()
    # the arithmetic with such groups: identical codes of two "images" of one group still score a hit
    codes = np.eye(3)[[0, 0, 1, 2]]
    assert r_precision_from_codes(codes, codes, groups=["a", "a", "b", "c"])["hits"] == 4
    assert r_precision_from_codes(codes, codes, groups=[0, 1, 2, 3])["hits"] == 2  # ties are misses


def shapes_copy(source_root, destination):
    """The tiny shapes dataset as a plain Flickr8k-format folder (a dataset like any other)."""
    shutil.copytree(source_root, destination)
    return destination


def test_a_changed_dataset_retrains_the_judge(trained, tmp_path, monkeypatch, caplog):
    _, _, prepared = trained
    folder = shapes_copy(prepared.root, tmp_path / "mydata")
    config = agreement_config(tmp_path / "data", **{"data.dataset": str(folder)})
    calls = count_trainings(monkeypatch)
    first = dual_encoder_for(config)
    dual_encoder_for(config)
    assert len(calls) == 1
    tokens = folder / "Flickr8k.token.txt"
    lines = tokens.read_text().splitlines()
    name, caption = lines[1].split("\t")
    lines[1] = f"{name}\t{caption} again"  # caption #1 of an image: a training caption
    tokens.write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.INFO, logger="t2ilib"):
        retrained = dual_encoder_for(config)
    assert len(calls) == 2 and "the dataset changed since the judge was trained (captions differ)" in caplog.text
    assert retrained.meta["fingerprint"]["captions"] != first.meta["fingerprint"]["captions"]
    assert retrained.meta["fingerprint"]["pixels"] == first.meta["fingerprint"]["pixels"]
    dual_encoder_for(config)
    assert len(calls) == 2  # and the new judge is reused in turn


def test_a_damaged_judge_cache_is_rebuilt_and_logged(trained, tmp_path, monkeypatch, caplog):
    _, _, prepared = trained
    config = agreement_config(tmp_path / "data", **{"data.dataset": str(shapes_copy(prepared.root, tmp_path / "d"))})
    calls = count_trainings(monkeypatch)
    path = dual_encoder_path(config)
    dual_encoder_for(config)
    (path.parent / "manifest.json").write_text("{ half a manifest")
    with caplog.at_level(logging.WARNING, logger="t2ilib"):
        dual_encoder_for(config)
    assert "damaged cache" in caplog.text and "does not parse" in caplog.text and len(calls) == 2
    caplog.clear()
    path.write_bytes(b"not an HDF5 file")
    with caplog.at_level(logging.WARNING, logger="t2ilib"):
        dual = dual_encoder_for(config)
    assert "damaged cache" in caplog.text and "cannot be loaded" in caplog.text and len(calls) == 3
    assert np.isfinite(dual.encode_images(real_crops(prepared, [0], 32))).all()
