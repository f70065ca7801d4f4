"""Training: finite losses that change the weights, checkpoints that round-trip, exact resume."""

import json

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from t2ilib.models import build_stage1
from t2ilib.training.checkpoints import RunCheckpoint
from t2ilib.training.stage1 import generate, train_stage1


def random_batches(batch_size=8, image_size=32, dim=16, count=3):
    rng = np.random.default_rng(0)
    batches = [(rng.uniform(-1, 1, (batch_size, image_size, image_size, 3)).astype("float32"),
                rng.standard_normal((batch_size, dim)).astype("float32"),
                rng.uniform(-1, 1, (batch_size, image_size, image_size, 3)).astype("float32"))
               for _ in range(count)]
    return tf.data.Dataset.from_tensor_slices(tuple(np.stack(part) for part in zip(*batches)))


def snapshot(variables):
    return [keras.ops.convert_to_numpy(variable) for variable in variables]


def test_train_steps_give_finite_losses_and_change_both_networks(tiny_config):
    gan = build_stage1(tiny_config, embedding_dim=16, steps_per_epoch=3)
    generator_before = snapshot(gan.generator.trainable_variables)
    discriminator_before = snapshot(gan.discriminator.trainable_variables)
    history = gan.fit(random_batches(), epochs=1, verbose=0).history
    for name in ("d_loss", "g_loss", "kl", "real_score", "fake_score"):
        assert np.isfinite(history[name][0]), name
    assert int(gan.g_optimizer.iterations.numpy()) == 3 and int(gan.d_optimizer.iterations.numpy()) == 3
    assert all(not np.array_equal(a, keras.ops.convert_to_numpy(b)) for a, b in zip(generator_before, gan.generator.trainable_variables))
    assert all(not np.array_equal(a, keras.ops.convert_to_numpy(b)) for a, b in zip(discriminator_before, gan.discriminator.trainable_variables))


def test_checkpoint_round_trips_weights_statistics_optimizers_and_random_state(tiny_config, tmp_path):
    def make():
        gan = build_stage1(tiny_config, embedding_dim=16, steps_per_epoch=3)
        parts = {"model": gan, "g_optimizer": gan.g_optimizer, "d_optimizer": gan.d_optimizer}
        return gan, RunCheckpoint(tmp_path / "checkpoints", parts, max_to_keep=2)

    gan, checkpoint = make()
    gan.fit(random_batches(), epochs=1, verbose=0)
    checkpoint.save(1)
    restored, restored_checkpoint = make()
    assert restored_checkpoint.restore_or_initialize() == 1
    saved = gan.variables + gan.g_optimizer.variables + gan.d_optimizer.variables
    loaded = restored.variables + restored.g_optimizer.variables + restored.d_optimizer.variables
    assert len(saved) == len(loaded)
    for a, b in zip(saved, loaded):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), err_msg=a.path)
    # BatchNorm moving statistics are part of it (Keras 3 + tf.train.Checkpoint alone would miss them).
    assert any("moving_mean" in variable.path for variable in gan.variables)


def test_checkpoint_manager_keeps_at_most_max_to_keep(tiny_config, tmp_path):
    gan = build_stage1(tiny_config, embedding_dim=16, steps_per_epoch=3)
    checkpoint = RunCheckpoint(tmp_path / "ck", {"model": gan, "g_optimizer": gan.g_optimizer}, max_to_keep=2)
    for epoch in range(1, 5):
        checkpoint.save(epoch)
    assert len(checkpoint.manager.checkpoints) == 2
    assert checkpoint.latest.endswith("ckpt-4")


def test_damaged_latest_checkpoint_falls_back_to_the_previous_one(tiny_config, tmp_path):
    gan = build_stage1(tiny_config, embedding_dim=16, steps_per_epoch=3)
    parts = {"model": gan, "g_optimizer": gan.g_optimizer, "d_optimizer": gan.d_optimizer}
    checkpoint = RunCheckpoint(tmp_path / "ck", parts)
    checkpoint.save(1)
    latest = checkpoint.save(2)
    for data_file in tmp_path.glob("ck/ckpt-2.data-*"):
        data_file.write_bytes(data_file.read_bytes()[:10])  # truncated, as after a crash mid-copy
    assert latest.endswith("ckpt-2")
    fresh = build_stage1(tiny_config, embedding_dim=16, steps_per_epoch=3)
    fresh_checkpoint = RunCheckpoint(tmp_path / "ck", {"model": fresh, "g_optimizer": fresh.g_optimizer,
                                                       "d_optimizer": fresh.d_optimizer})
    assert fresh_checkpoint.restore_or_initialize() == 1


def test_train_stage1_writes_the_run_directory(tiny_config, tmp_path):
    run_dir = tmp_path / "run"
    metrics = train_stage1(tiny_config, run_dir, verbose=0)
    for name in ("config.json", "history.csv", "loss_curves.png", "metrics.json", "samples/epoch_0001.png",
                 "samples/epoch_0002.png"):
        assert (run_dir / name).exists(), name
    assert (run_dir / "checkpoints" / "checkpoint").exists()
    history = pd.read_csv(run_dir / "history.csv")
    assert history["epoch"].tolist() == [0, 1]
    assert np.isfinite(history[["d_loss", "g_loss"]].to_numpy()).all()
    assert history["fidelity"].between(0, 1).all()  # the shapes fidelity of each epoch is logged too
    assert not any(column.startswith("val_") for column in history.columns)  # no empty validation columns
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["epochs_trained"] == 2 and saved["optimizer_steps"] == 6
    assert set(saved["fidelity"]) >= {"shape", "colour", "position", "background", "mean"}
    assert metrics["fidelity"] == saved["fidelity"]


def test_stopping_and_starting_again_resumes_from_the_last_checkpoint(tiny_config, tmp_path):
    run_dir = tmp_path / "run"
    one_epoch = tiny_config.replace(**{"train.epochs": 1})
    train_stage1(one_epoch, run_dir, verbose=0)

    # What the checkpoint holds after epoch 1 ...
    probe = build_stage1(tiny_config, embedding_dim=16, steps_per_epoch=3)
    probe_checkpoint = RunCheckpoint(run_dir / "checkpoints", {"model": probe, "g_optimizer": probe.g_optimizer,
                                                               "d_optimizer": probe.d_optimizer})
    assert probe_checkpoint.restore_or_initialize() == 1
    assert int(probe.g_optimizer.iterations.numpy()) == 3

    # ... is where a second call (same run directory, more epochs) continues from.
    resumed_from = {}

    class RecordStart(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            resumed_from["step"] = int(self.model.g_optimizer.iterations.numpy())
            resumed_from["slots"] = [keras.ops.convert_to_numpy(v) for v in self.model.g_optimizer.variables]

        def on_epoch_begin(self, epoch, logs=None):
            resumed_from.setdefault("epoch", epoch)

    metrics = train_stage1(tiny_config, run_dir, verbose=0, extra_callbacks=[RecordStart()])
    assert resumed_from["epoch"] == 1 and resumed_from["step"] == 3
    for a, b in zip(resumed_from["slots"], probe.g_optimizer.variables):
        np.testing.assert_array_equal(a, keras.ops.convert_to_numpy(b))
    assert metrics["epochs_trained"] == 2 and metrics["optimizer_steps"] == 6
    assert pd.read_csv(run_dir / "history.csv")["epoch"].tolist() == [0, 1]


def test_resume_with_other_settings_is_refused(tiny_config, tmp_path):
    run_dir = tmp_path / "run"
    train_stage1(tiny_config.replace(**{"train.epochs": 1}), run_dir, verbose=0)
    changed = tiny_config.replace(**{"train.learning_rate": 1e-3})
    with pytest.raises(ValueError, match="train.learning_rate"):
        train_stage1(changed, run_dir, verbose=0)


def test_generate_from_a_run_directory(tiny_config, tmp_path):
    run_dir = tmp_path / "run"
    train_stage1(tiny_config.replace(**{"train.epochs": 1}), run_dir, verbose=0)
    images = generate(run_dir, ["a red circle at the top on a black background", "a blue square"],
                      num_per_caption=3, seed=1)
    assert images.shape == (2, 3, 32, 32, 3) and images.dtype == np.uint8
    again = generate(run_dir, ["a red circle at the top on a black background", "a blue square"],
                     num_per_caption=3, seed=1)
    np.testing.assert_array_equal(images, again)


def test_fidelity_is_measured_on_fidelity_samples_images_with_a_true_mismatched_baseline():
    """A test split shorter than fidelity_samples is cycled with new noise; the mismatched
    baseline never pairs a caption with itself, also among the repeats."""
    from types import SimpleNamespace

    from t2ilib.config import preset
    from t2ilib.training.stage1 import evaluation_rows_and_noise, mismatched_attributes

    captions = pd.DataFrame({"split": ["train"] * 5 + ["test"] * 7})
    attributes = pd.DataFrame({"shape": [f"s{i}" for i in range(12)]})
    prepared = SimpleNamespace(captions=captions, attributes=attributes,
                               split=lambda name: captions[captions["split"] == name])
    config = preset("tiny").replace(**{"train.fidelity_samples": 20})
    rows, noise = evaluation_rows_and_noise(config, prepared)
    assert len(rows) == len(noise) == 20
    assert rows.tolist() == ([5, 6, 7, 8, 9, 10, 11] * 3)[:20]  # the test captions, in order, cycled
    assert len(np.unique(noise, axis=0)) == 20  # each repeat draws new noise
    mismatched = mismatched_attributes(prepared, rows, config.train.seed)
    assert len(mismatched) == 20
    assert (mismatched["shape"].to_numpy() != attributes.loc[rows, "shape"].to_numpy()).all()
    assert set(mismatched["shape"]) == {f"s{i}" for i in range(5, 12)}  # partners are test captions


def test_summary_verdict_rests_on_the_significance_of_the_margin():
    """A margin over the mismatched baseline that is not significant is reported as not following
    the captions, even when it is large; older metrics.json files without the check still read."""
    from t2ilib.training.stage1 import summarize

    def metrics(margin, follows):
        fidelity = {"shape": 0.3, "colour": 0.3, "position": 0.4, "background": 0.9, "mean": 0.3 + margin}
        return {"epochs_trained": 4, "optimizer_steps": 300, "fidelity": fidelity, "fidelity_samples": 240,
                "fidelity_mismatched_captions": {"mean": 0.3}, "fidelity_chance": {"mean": 0.31},
                "follows_captions": {"follows": follows, "p_value": 0.0001 if follows else 0.2, "n": 240}}

    assert "follows its captions: +0.20 over the mismatched baseline (one-sided p = 0.0001 on 240" in \
        summarize(metrics(0.2, True))
    noisy = summarize(metrics(0.2, False))
    assert "does NOT follow its captions yet (+0.20" in noisy and "not significant: one-sided p = 0.2" in noisy
    old = metrics(0.2, True)
    del old["follows_captions"]
    assert summarize(old).endswith("follows its captions: +0.20 over the mismatched baseline.")
