"""TensorBoard summaries of every trainer (issue 18, item 11): run_dir/logs holds the epoch
scalars, the learning rates, the speed and the fixed-caption sample grid, on the run's global
step, and a resumed run continues that step axis instead of starting again at 0."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorflow.core.util import event_pb2

from t2ilib.training.stage1 import train_stage1


def read_events(log_dir: Path) -> dict[str, list[tuple[int, object]]]:
    """{tag: [(step, value), ...]} over every event file in `log_dir`; images as (H, W, C) arrays."""
    found = defaultdict(list)
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(str(path)):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor)
                if value.metadata.plugin_data.plugin_name == "images":  # [width, height, png bytes...]
                    found[value.tag].append((event.step, tf.io.decode_png(tensor[2]).numpy()))
                else:
                    found[value.tag].append((event.step, float(tensor)))
    return found


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory):
    """A tiny Stage-I run of 2 epochs (3 steps each), then resumed to 3 epochs."""
    from t2ilib.config import preset

    root = tmp_path_factory.mktemp("tensorboard")
    config = preset("tiny").replace(**{"data.data_dir": str(root / "data"), "train.collapse_guard": False})
    run_dir = root / "run"
    train_stage1(config, run_dir, verbose=0)
    first = read_events(run_dir / "logs")
    train_stage1(config.replace(**{"train.epochs": 3}), run_dir, verbose=0)
    return run_dir, first, read_events(run_dir / "logs")


def test_stage1_writes_scalars_learning_rates_speed_and_sample_grid(resumed_run):
    run_dir, first, _ = resumed_run
    for tag in ("epoch/d_loss", "epoch/g_loss", "epoch/kl", "epoch/fidelity", "learning_rate/g", "learning_rate/d",
                "speed/epochs_per_hour", "samples"):
        assert [step for step, _ in first[tag]] == [3, 6], tag  # one point per epoch, on the global step
    assert all(value == pytest.approx(2e-4) for _, value in first["learning_rate/g"])
    assert all(value > 0 for _, value in first["speed/epochs_per_hour"])
    grid = np.asarray(Image.open(run_dir / "samples" / "epoch_0002.png"))
    assert np.array_equal(first["samples"][-1][1], grid)  # the image is the sample grid of that epoch


def test_a_resumed_run_continues_the_step_axis(resumed_run):
    _, first, after = resumed_run
    steps = sorted(step for step, _ in after["epoch/g_loss"])
    assert steps == [3, 6, 9]  # the resumed session's epoch 3 is step 9, not step 3 again
    assert sorted(step for step, _ in after["samples"]) == [3, 6, 9]
    assert len(after["epoch/g_loss"]) == len(first["epoch/g_loss"]) + 1


def test_vae_runs_write_their_losses_on_the_optimizer_step(tmp_path):
    from t2ilib.training.vae import VAEConfig, train_vae

    common = dict(data_dir=str(tmp_path / "data"), shapes_num_images=40, batch_size=16, eval_samples=8)
    train_vae("report2", tmp_path / "vae", VAEConfig(epochs=1, **common), verbose=0)
    train_vae("report2", tmp_path / "vae", VAEConfig(epochs=2, **common), verbose=0)
    events = read_events(tmp_path / "vae" / "logs")
    steps = [step for step, _ in events["epoch/loss"]]
    assert len(steps) == 2 and steps[1] == 2 * steps[0] > 0  # epoch 2 continues from epoch 1's step
    assert "learning_rate" in events and "speed/epochs_per_hour" in events
