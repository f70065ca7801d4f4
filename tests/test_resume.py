"""Preemption-exact resume: a run killed with SIGKILL mid-epoch and started again ends with
exactly the weights of a run that was never interrupted (issue 8).

Three training processes on the `tiny` preset (3 epochs x 3 steps, a checkpoint every 2 steps):
  A: trains 9 steps without interruption;
  B: the same run, SIGKILLed at the start of its 6th batch (5 batches done, the last save at
     step 4, in the middle of epoch 2), then started again and run to the end.
Every variable of the final checkpoints (weights, BatchNorm statistics, optimizer slots and
counters) must match bit for bit: the resumed run redid batch 5 with the same data and noise and
neither replayed nor skipped a batch. All processes run with TensorFlow's op determinism on, so
the comparison does not depend on thread scheduling.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf


REPO = Path(__file__).resolve().parents[1]

TRAIN = r"""
import os, signal, sys
import keras
import tensorflow as tf
tf.config.experimental.enable_op_determinism()
from t2ilib.config import RunConfig
from t2ilib.training.stage1 import train_stage1

config_path, run_dir, kill_before_batch = sys.argv[1], sys.argv[2], int(sys.argv[3])

class KillBeforeBatch(keras.callbacks.Callback):
    # SIGKILL ourselves (no cleanup, as Colab does) when batch number `kill_before_batch` of this process starts.
    def __init__(self):
        super().__init__()
        self.batches = 0
    def on_train_batch_begin(self, batch, logs=None):
        if self.batches == kill_before_batch:
            os.kill(os.getpid(), signal.SIGKILL)
        self.batches += 1

train_stage1(RunConfig.load(config_path), run_dir, verbose=1, extra_callbacks=[KillBeforeBatch()])
"""


def train(config_path: Path, run_dir: Path, kill_before_batch: int = -1) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-c", TRAIN, str(config_path), str(run_dir), str(kill_before_batch)],
                          capture_output=True, text=True, env=env, timeout=600)


def checkpoint_tensors(run_dir: Path) -> dict:
    latest = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    reader = tf.train.load_checkpoint(latest)
    return {name: reader.get_tensor(name) for name, _ in tf.train.list_variables(latest)
            if not name.startswith("_CHECKPOINTABLE_OBJECT_GRAPH")}


def test_sigkill_mid_epoch_then_resume_matches_the_uninterrupted_run(tiny_config, tmp_path):
    config = tiny_config.replace(**{"train.epochs": 3, "train.steps_per_epoch": 3, "train.checkpoint_every_steps": 2,
                                    "train.fidelity_samples": 8})
    config_path = tmp_path / "config.json"
    config.save(config_path)

    uninterrupted = train(config_path, tmp_path / "A")
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]

    killed = train(config_path, tmp_path / "B", kill_before_batch=5)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert tf.train.latest_checkpoint(str(tmp_path / "B" / "checkpoints")).endswith("ckpt-4")  # mid-epoch 2

    resumed = train(config_path, tmp_path / "B")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming" in resumed.stdout and "at step 4 (epoch 2, batch 2 of 3)" in resumed.stdout

    expected, actual = checkpoint_tensors(tmp_path / "A"), checkpoint_tensors(tmp_path / "B")
    assert sorted(expected) == sorted(actual)
    step_keys = [name for name in expected if name.startswith("step/")]
    assert [int(expected[name]) for name in step_keys] == [9] and [int(actual[name]) for name in step_keys] == [9]
    different = [name for name in expected if not np.array_equal(expected[name], actual[name])]
    assert not different, f"{len(different)} of {len(expected)} variables differ, e.g. {different[:5]}"
