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
from t2ilib.training.agreement import AgreementScore, text_ignored
from t2ilib.training.guards import CollapseGuard, resolved_best_metric
from t2ilib.data.prepare import real_images as real_crops
from t2ilib.training.judge import dual_encoder_for, dual_encoder_path, judge_groups


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
    from t2ilib.acceleration import precision_policy

    with precision_policy("mixed_bfloat16"):  # a mixed-precision run: the judge stays float32
        again = dual_encoder_for(config.replace(**{"train.seed": 7, "text.encoder": "onehot"}))  # not its settings
    assert {layer.compute_dtype for layer in again.image_tower.layers} == {"float32"}
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


class LookupGenerator:
    """A stand-in generator over real images, the embedding being the caption's index: `faithful`
    draws the real image of its caption, otherwise the image of a caption of another group (the
    embeddings shuffled): varied, non-flat images, so only the agreement check can tell."""

    def __init__(self, images, groups, faithful: bool):
        from t2ilib.metrics.fidelity import mismatched_rows

        self.images = images.astype(np.float32) / 127.5 - 1.0
        positions = np.arange(len(images))
        self.index = positions if faithful else mismatched_rows(positions, groups, seed=3)

    def __call__(self, embeddings, noise, training=False):
        return self.images[self.index[np.asarray(embeddings)[:, 0].astype(int)]], None, None


def score_callback(trained, faithful: bool, every_epochs: int = 1):
    config, dual, prepared = trained
    rows = np.arange(len(prepared.captions))[prepared.captions["split"] == "validation"]
    real = real_crops(prepared, rows, 32)
    text_codes = dual.encode_texts(dual.text_encoder.encode(prepared.captions.loc[rows, "caption"].tolist()))
    noise = np.random.default_rng(0).standard_normal((len(rows), 4)).astype(np.float32)
    groups = judge_groups(prepared, rows)
    return AgreementScore(LookupGenerator(real, groups, faithful), np.arange(len(rows), dtype=np.float32)[:, None],
                          noise, dual, text_codes, groups, real, every_epochs=every_epochs)


@pytest.mark.parametrize("faithful", [True, False])
def test_the_guard_says_the_text_is_ignored_only_for_a_caption_ignoring_generator(trained, faithful, caplog):
    score = score_callback(trained, faithful)
    guard = CollapseGuard(score.generator, np.arange(4, dtype=np.float32)[:, None],
                          np.random.default_rng(1).standard_normal(4), warmup_epochs=1, agreement=score)
    with caplog.at_level(logging.INFO, logger="t2ilib"):
        for epoch in range(3):
            logs = {"d_loss": 1.0}
            score.on_epoch_end(epoch, logs)
            guard.on_epoch_end(epoch, logs)
    assert logs["real_r_precision"] == pytest.approx(score.real["value"]) and score.real["p_value"] < 1e-4
    if faithful:  # the real images themselves: the judge's own validation score, no warning
        assert logs["r_precision"] == pytest.approx(logs["real_r_precision"]) and guard.collapsed_epochs == []
        assert text_ignored(score.last) is None
    else:
        assert score.last["p_value"] > 0.05 and guard.last_report["caption_spread"] > 0.05  # varied, at chance
        assert guard.collapsed_epochs == [2, 3]  # epoch 1 is the warm-up: logged, not warned
        assert "the text is ignored" in caplog.text and "COLLAPSE WARNING at epoch 2" in caplog.text
        assert "Epoch 1: images that ignore their captions" in caplog.text


def test_the_score_is_measured_every_n_epochs_and_at_the_last(trained):
    score = score_callback(trained, faithful=True, every_epochs=3)
    score.set_params({"epochs": 5})
    measured = []
    for epoch in range(5):
        logs = {}
        score.on_epoch_end(epoch, logs)
        measured.append("r_precision" in logs)
    assert measured == [True, False, True, False, True]  # the session's first, every 3rd, the last


def test_best_metric_auto_and_its_rules():
    config = preset("tiny")
    assert config.train.best_metric == "auto" and resolved_best_metric(config) == "fidelity"
    flickr = config.replace(**{"data.dataset": "flickr8k", "train.agreement_every_epochs": 1})
    assert resolved_best_metric(flickr) == "r_precision"
    assert resolved_best_metric(flickr.replace(**{"train.agreement_every_epochs": 0})) == ""
    assert resolved_best_metric(flickr.replace(**{"train.best_metric": "fidelity"})) == "fidelity"  # old configs
    with pytest.raises(ConfigError, match="train.best_metric = 'r_precision'.*agreement_every_epochs = 0"):
        config.replace(**{"train.best_metric": "r_precision"}).validate(check_paths=False)
    with pytest.raises(ConfigError, match="train.agreement_every_epochs = -1"):
        config.replace(**{"train.agreement_every_epochs": -1}).validate(check_paths=False)


def test_a_run_saved_before_the_agreement_settings_resumes(tmp_path):
    """A config.json without the new keys (written before them) loads with the defaults, and a
    resume with them is not refused as a changed experiment."""
    from t2ilib.config import RunConfig
    from t2ilib.training.gan import check_run_config

    config = preset("tiny").replace(**{"data.data_dir": str(tmp_path / "data")})
    old = config.to_dict()
    for key in ("agreement_every_epochs", "agreement_samples"):
        del old["train"][key]
    old["train"]["best_metric"] = "fidelity"
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps(old))
    assert RunConfig.load(tmp_path / "run" / "config.json").train.agreement_every_epochs == 1
    changes = check_run_config(tmp_path / "run", config.replace(**{"train.agreement_every_epochs": 1}), write=False)
    assert changes == []


@pytest.mark.parametrize("family", ["stackgan", "dfgan"])
def test_stage1_logs_r_precision_to_history_tensorboard_and_the_curves(trained, family, tmp_path):
    from tests.test_tensorboard import read_events
    from t2ilib.training.stage1 import summarize, train_stage1

    config = trained[0].replace(**{"model.family": family, "train.best_metric": "r_precision",
                                   "train.collapse_guard": True})
    run_dir = tmp_path / "run"
    metrics = train_stage1(config, run_dir, verbose=0)
    history = pd.read_csv(run_dir / "history.csv")
    assert len(history) == 2 and np.isfinite(history[["r_precision", "real_r_precision"]].to_numpy()).all()
    assert list(metrics["r_precision_by_epoch"].values()) == pytest.approx(history["r_precision"].tolist(), abs=1e-4)
    assert "Image-text agreement (r_precision of validation captions, real images" in summarize(metrics)
    assert ((0 <= history["r_precision"]) & (history["r_precision"] <= 1)).all()
    recorded = json.loads((run_dir / "agreement.json").read_text())
    assert recorded["captions"] == 36 and recorded["judge"] == str(dual_encoder_path(config))
    assert history["real_r_precision"].iloc[0] == pytest.approx(recorded["real"])
    events = read_events(run_dir / "logs")
    assert [value for _, value in events["epoch/r_precision"]] == pytest.approx(history["r_precision"].tolist())
    best = json.loads((run_dir / "best" / "best.json").read_text())
    assert best["metric"] == "r_precision" and best["value"] == pytest.approx(history["r_precision"].max())
    assert (run_dir / "loss_curves.png").stat().st_size > 0


def test_stage2_logs_r_precision_of_its_refined_images(trained, tmp_path):
    from t2ilib.training.stage1 import train_stage1
    from t2ilib.training.stage2 import train_stage2

    config = trained[0].replace(**{"train.epochs": 1, "stage2.epochs": 2, "train.best_metric": "r_precision"})
    train_stage1(config, tmp_path / "stage1", verbose=0)
    train_stage2(config, tmp_path / "stage2", tmp_path / "stage1", verbose=0)
    history = pd.read_csv(tmp_path / "stage2" / "history.csv")
    assert len(history) == 2 and np.isfinite(history["r_precision"]).all()
    # the same judge (Stage-I's size, 32 px) scores the 128 px images, on the same real ceiling
    recorded = [json.loads((tmp_path / stage / "agreement.json").read_text()) for stage in ("stage1", "stage2")]
    assert recorded[0]["judge"] == recorded[1]["judge"] and recorded[0]["real"] == recorded[1]["real"]
    best = json.loads((tmp_path / "stage2" / "best" / "best.json").read_text())
    assert best["metric"] == "r_precision" and best["value"] == pytest.approx(history["r_precision"].max())


def test_text_ignored_needs_generated_at_chance_and_real_above_it():
    result = {"value": 0.012, "n": 250, "chance": 0.01, "p_value": chance_p_value(3, 250, 0.01), "real": 0.75,
              "real_p_value": chance_p_value(187, 250, 0.01)}
    assert "the text is ignored" in text_ignored(result)
    assert text_ignored({**result, "p_value": chance_p_value(11, 250, 0.01)}) is None  # 0.044: it follows the text
    assert text_ignored({**result, "real_p_value": chance_p_value(4, 250, 0.01)}) is None  # the judge cannot tell


def test_storage_names_the_judge_folder(trained):
    from t2ilib.storage import storage_report

    config, _, _ = trained
    judges = [item for item in storage_report(config.data.data_dir) if item.group == "judge"]
    assert [item.path for item in judges] == [str(dual_encoder_path(config).parents[1])] and not judges[0].deletable


def test_the_summary_of_a_dataset_without_attributes_gives_the_agreement_by_epoch():
    from t2ilib.training.stage1 import summarize

    metrics = {"epochs_trained": 8, "optimizer_steps": 80, "fidelity": None, "real_r_precision": 0.748,
               "r_precision_chance": 0.01, "r_precision_by_epoch": {"1": 0.004, "4": 0.012, "8": 0.076}}  # as in JSON
    assert summarize(metrics).splitlines()[-1] == ("Image-text agreement (r_precision of validation captions, real "
                                                   "images 0.748, chance 0.010): 0.004 after epoch 1 -> 0.076 after "
                                                   "epoch 8.")
