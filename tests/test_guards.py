"""Collapse guard and best checkpoint: a collapsed generator is caught at once, a varied one is not.

(That train_stage1 runs both guards, with spreads in history.csv and run_dir/best, is checked on
the real run of tests/test_sweeps.py.)
"""

import json
import logging

import keras
import numpy as np
import pandas as pd
import pytest
from keras import ops

from t2ilib.training.checkpoints import RunCheckpoint
from t2ilib.training.guards import BestCheckpoint, CollapseGuard, collapse_report

SIZE, DIM, NOISE = 16, 6, 4


class ConstantGenerator(keras.Model):
    """A collapsed generator: one fixed picture (a gradient, not flat) whatever the caption."""

    def call(self, embeddings, noise, training=False):
        ramp = ops.reshape(ops.linspace(-1.0, 1.0, SIZE), (1, SIZE, 1, 1))
        images = ops.broadcast_to(ramp, (ops.shape(embeddings)[0], SIZE, SIZE, 3))
        zeros = ops.zeros((ops.shape(embeddings)[0], 2))
        return images, zeros, zeros


class VariedGenerator(keras.Model):
    """Different, textured images for different captions."""

    def __init__(self):
        super().__init__()
        self.project = keras.layers.Dense(SIZE * SIZE * 3, kernel_initializer=keras.initializers.RandomNormal(seed=1))

    def call(self, embeddings, noise, training=False):
        images = ops.tanh(ops.reshape(self.project(ops.concatenate([embeddings, noise], -1)), (-1, SIZE, SIZE, 3)))
        zeros = ops.zeros((ops.shape(embeddings)[0], 2))
        return images, zeros, zeros


class FlatGenerator(keras.Model):
    """Single-colour images, a different colour per caption (the report's epoch-490 outputs)."""

    def call(self, embeddings, noise, training=False):
        colour = ops.tanh(embeddings[:, :3])
        images = ops.broadcast_to(colour[:, None, None, :], (ops.shape(embeddings)[0], SIZE, SIZE, 3))
        zeros = ops.zeros((ops.shape(embeddings)[0], 2))
        return images, zeros, zeros


def captions_and_noise():
    rng = np.random.default_rng(0)
    return rng.standard_normal((4, DIM)).astype("float32") * 2, rng.standard_normal(NOISE).astype("float32")


def test_a_constant_generator_triggers_the_guard_and_stops_fit(caplog, capsys):
    embeddings, noise = captions_and_noise()
    guard = CollapseGuard(ConstantGenerator(), embeddings, noise, stop_on_collapse=True, warmup_epochs=0)
    # a real fit loop: the guard must stop it after the first epoch
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with caplog.at_level(logging.WARNING, logger="t2ilib"):
        history = model.fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=5, verbose=0, callbacks=[guard])
    assert len(history.history["loss"]) == 1
    assert guard.collapsed_epochs == [1]
    assert "COLLAPSE WARNING at epoch 1" in caplog.text and "the same image for every caption" in caplog.text
    assert "COLLAPSE WARNING at epoch 1" in capsys.readouterr().out
    assert history.history["caption_spread"][0] < 1e-6 and history.history["image_spread"][0] > 0.1


def test_a_varied_generator_does_not_trigger_the_guard(caplog):
    embeddings, noise = captions_and_noise()
    guard = CollapseGuard(VariedGenerator(), embeddings, noise, stop_on_collapse=True)
    logs = {"d_loss": 1.2, "g_loss": 0.7}
    with caplog.at_level(logging.WARNING, logger="t2ilib"):
        for epoch in range(3):
            guard.on_epoch_end(epoch, logs)
    assert guard.collapsed_epochs == [] and "COLLAPSE" not in caplog.text
    assert logs["caption_spread"] > 0.05 and logs["image_spread"] > 0.05


def test_flat_images_and_nan_losses_are_reported():
    embeddings, noise = captions_and_noise()
    flat = CollapseGuard(FlatGenerator(), embeddings, noise, warmup_epochs=0)
    flat.on_epoch_end(0, {})
    assert flat.last_report["collapsed"] and "flat single-colour" in flat.last_report["reasons"][0]
    assert flat.last_report["caption_spread"] > 0.05  # colours differ by caption: not "one image"
    varied = CollapseGuard(VariedGenerator(), embeddings, noise)
    varied.on_epoch_end(0, {"g_loss": float("nan")})
    assert varied.collapsed_epochs == [1] and "non-finite values in g_loss" in varied.last_report["reasons"][0]


class SwitchingGenerator(keras.Model):
    """Varied until its `collapsed` weight is set to 1, then constant: a run that collapses late.
    A weight, not a Python flag: the guard draws through a traced function (as Keras' predict
    does), which reads weights at every call and Python attributes only when it is traced."""

    def __init__(self):
        super().__init__()
        self.varied, self.constant = VariedGenerator(), ConstantGenerator()
        self.collapsed = self.add_weight(shape=(), initializer="zeros", trainable=False, name="collapsed")

    def call(self, embeddings, noise, training=False):
        varied, constant = self.varied(embeddings, noise)[0], self.constant(embeddings, noise)[0]
        zeros = ops.zeros((ops.shape(embeddings)[0], 2))
        return self.collapsed * constant + (1.0 - self.collapsed) * varied, zeros, zeros


def test_early_flat_outputs_are_a_warm_up_but_a_later_collapse_warns_at_once(caplog):
    embeddings, noise = captions_and_noise()
    still_flat = CollapseGuard(ConstantGenerator(), embeddings, noise, warmup_epochs=3)
    for epoch in range(3):
        still_flat.on_epoch_end(epoch, {})
    assert still_flat.collapsed_epochs == []  # epochs 1-3: not started yet
    still_flat.on_epoch_end(3, {})
    assert still_flat.collapsed_epochs == [4]  # still flat after the warm-up: warned
    switching = SwitchingGenerator()
    guard = CollapseGuard(switching, embeddings, noise, warmup_epochs=100)
    guard.on_epoch_end(0, {})
    switching.collapsed.assign(1.0)
    with caplog.at_level(logging.WARNING, logger="t2ilib"):
        guard.on_epoch_end(1, {})
    assert guard.collapsed_epochs == [2] and "COLLAPSE WARNING at epoch 2" in caplog.text
    resumed = CollapseGuard(switching, embeddings, noise, warmup_epochs=5)
    resumed.on_epoch_end(299, {})  # a resumed run at epoch 300 is past any warm-up
    assert resumed.collapsed_epochs == [300]


def test_collapse_report_needs_two_captions():
    with pytest.raises(ValueError, match="at least 2"):
        collapse_report(np.zeros((1, 8, 8, 3)))


def test_best_checkpoint_keeps_the_best_epoch_and_survives_a_resume(tmp_path):
    model = VariedGenerator()
    embeddings, noise = captions_and_noise()
    model(embeddings, np.tile(noise, (4, 1)))
    best = BestCheckpoint(RunCheckpoint(tmp_path / "best", {"model": model}, max_to_keep=1))
    for epoch, value in enumerate([0.2, 0.5, 0.3]):
        best.on_epoch_end(epoch, {"fidelity": value})
    info = json.loads((tmp_path / "best" / "best.json").read_text())
    assert (info["epoch"], info["value"], info["mode"]) == (2, 0.5, "max")
    resumed = BestCheckpoint(RunCheckpoint(tmp_path / "best", {"model": model}, max_to_keep=1))
    resumed.on_epoch_end(3, {"fidelity": 0.4})  # worse than the earlier session's best
    assert json.loads((tmp_path / "best" / "best.json").read_text())["epoch"] == 2
    losses = BestCheckpoint(RunCheckpoint(tmp_path / "best_loss", {"model": model}), metric="g_loss")
    for epoch, value in enumerate([3.0, 1.0, 2.0, float("nan")]):
        losses.on_epoch_end(epoch, {"g_loss": value})
    assert json.loads((tmp_path / "best_loss" / "best.json").read_text())["epoch"] == 2


def test_a_resumed_history_keeps_its_columns_when_new_metrics_appear(tmp_path):
    from t2ilib.training.callbacks import HistoryCSV

    path = tmp_path / "history.csv"
    path.write_text("epoch,d_loss,g_loss\n0,1.0,2.0\n")  # written before the guard existed
    history = HistoryCSV(path)
    history.on_train_begin()
    history.on_epoch_end(1, {"d_loss": 0.5, "g_loss": 1.5, "caption_spread": 0.2, "image_spread": 0.1})
    history.on_train_end()
    table = pd.read_csv(path)
    assert list(table.columns) == ["epoch", "d_loss", "g_loss"] and table["g_loss"].tolist() == [2.0, 1.5]
