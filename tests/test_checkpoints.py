"""Safe checkpoints and training guards: kills during a save, damaged checkpoints, max_to_keep,
refused config changes, NaN/Inf that stops a run without overwriting the last good checkpoint,
and a full disk that is reported."""

import errno
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from t2ilib.training import stage1
from t2ilib.training.callbacks import SaveCheckpoint, TrainingDiverged
from t2ilib.training.checkpoints import CheckpointWriteError, RunCheckpoint
from t2ilib.training.gan import check_run_config

ROOT = Path(__file__).resolve().parents[1]


def dense_checkpoint(directory, max_to_keep=3):
    layer = keras.layers.Dense(8)
    layer.build((None, 16))
    return layer, RunCheckpoint(directory, {"model": layer}, max_to_keep=max_to_keep)


def save_epochs(directory, epochs, max_to_keep=3):
    """Checkpoints whose kernel is filled with the epoch number, so a restore shows which one it read."""
    layer, checkpoint = dense_checkpoint(directory, max_to_keep)
    for epoch in epochs:
        layer.kernel.assign(np.full((16, 8), epoch, "float32"))
        checkpoint.save(epoch)
    return checkpoint


def restored_epoch_and_kernel(directory):
    layer, checkpoint = dense_checkpoint(directory)
    epoch = checkpoint.restore_or_initialize()
    return epoch, keras.ops.convert_to_numpy(layer.kernel)


def warnings_about(caplog, text):
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and text in r.getMessage()]


def flip_bytes(path):
    path.write_bytes(bytes(b ^ 0xFF for b in path.read_bytes()))


DAMAGE = {
    "truncated data file": lambda d: (lambda f: f.write_bytes(f.read_bytes()[: f.stat().st_size // 2]))(
        next(d.glob("ckpt-3.data-*"))),
    "missing index file": lambda d: (d / "ckpt-3.index").unlink(),
    "garbage bytes in the data file": lambda d: flip_bytes(next(d.glob("ckpt-3.data-*"))),
    "garbage bytes in the index file": lambda d: flip_bytes(d / "ckpt-3.index"),
    "state file names a missing checkpoint": lambda d: [f.unlink() for f in d.glob("ckpt-3.*")],
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_newest_checkpoint_is_reported_once_and_the_previous_one_used(tmp_path, caplog, damage):
    directory = tmp_path / "checkpoints"
    save_epochs(directory, [1, 2, 3])
    DAMAGE[damage](directory)
    with caplog.at_level(logging.WARNING, logger="t2ilib"):
        epoch, kernel = restored_epoch_and_kernel(directory)
        assert (epoch, float(kernel.min()), float(kernel.max())) == (2, 2.0, 2.0)
        assert restored_epoch_and_kernel(directory)[0] == 2  # e.g. generate() after training: no second warning
    reported = warnings_about(caplog, "could not be read")
    assert len(reported) == 1 and str(directory / "ckpt-3") in reported[0], reported


def test_no_readable_checkpoint_stops_with_the_folder_named(tmp_path):
    directory = tmp_path / "checkpoints"
    save_epochs(directory, [1, 2])
    for data_file in directory.glob("ckpt-*.data-*"):
        flip_bytes(data_file)
    with pytest.raises(RuntimeError, match="None of the 2 checkpoints") as error:
        restored_epoch_and_kernel(directory)
    assert str(directory) in str(error.value) and "Move the folder away" in str(error.value)


def test_save_interrupted_before_it_was_recorded_leaves_the_previous_checkpoint(tmp_path):
    """What a kill during TensorFlow's save leaves: a ckpt-N_temp folder and possibly some final files
    of checkpoint 3, while the state file still names checkpoint 2."""
    directory = tmp_path / "checkpoints"
    save_epochs(directory, [1, 2])
    temporary = directory / "ckpt-3_temp"
    temporary.mkdir()
    (temporary / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"\x00" * 100)
    (directory / "ckpt-3.data-00000-of-00001").write_bytes(b"\x00" * 100)  # merged, index never written
    assert restored_epoch_and_kernel(directory)[0] == 2
    assert not temporary.exists()  # the leftover is cleaned up
    save_epochs(directory, [3])  # the next save of epoch 3 simply replaces the partial files
    assert restored_epoch_and_kernel(directory)[0] == 3


@pytest.mark.parametrize("state", ["missing", "empty", "garbage"])
def test_lost_or_damaged_state_file_is_rebuilt_instead_of_restarting_at_epoch_0(tmp_path, caplog, state):
    directory = tmp_path / "checkpoints"
    save_epochs(directory, [1, 2, 3])
    state_file = directory / "checkpoint"
    if state == "missing":
        state_file.unlink()
    else:
        state_file.write_bytes(b"" if state == "empty" else b"\xfe\xff garbage \x00")
    with caplog.at_level(logging.WARNING, logger="t2ilib"):
        epoch, kernel = restored_epoch_and_kernel(directory)
    assert epoch == 3 and float(kernel.max()) == 3.0
    assert any(str(state_file) in message and "rebuilt" in message for message in warnings_about(caplog, "ckpt-3"))


# Where the child stops inside the save of epoch 4 (TensorFlow's own functions, wrapped in the
# child): after the tensors are in ckpt-4_temp but before they are merged into ckpt-4.*, and
# after ckpt-4.* is complete but before the `checkpoint` state file names it.
KILL_POINTS = {
    "tensors written, not merged": ("tensorflow.python.ops.gen_io_ops", "merge_v2_checkpoints"),
    "files complete, state file not updated": ("tensorflow.python.checkpoint.checkpoint_management",
                                               "update_checkpoint_state_internal"),
}


@pytest.mark.parametrize("kill_point", list(KILL_POINTS))
def test_a_run_killed_during_a_save_resumes_from_a_complete_checkpoint(tmp_path, kill_point):
    """For real: a process saving checkpoints in a loop is SIGKILLed while it is inside the save of
    epoch 4, at a fixed point: it says where it is by writing a file, then waits to be killed."""
    directory, stopped = tmp_path / "checkpoints", tmp_path / "inside_save_4"
    module_name, function_name = KILL_POINTS[kill_point]
    child = textwrap.dedent(f"""
        import importlib, os, time
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        import keras, numpy as np
        from t2ilib.training.checkpoints import RunCheckpoint
        module = importlib.import_module({module_name!r})
        original = getattr(module, {function_name!r})
        epoch = 0

        def stop_in_save_4(*args, **kwargs):
            if epoch == 4:
                open({str(stopped)!r}, "w").close()
                time.sleep(600)  # the parent kills us here
            return original(*args, **kwargs)

        setattr(module, {function_name!r}, stop_in_save_4)
        layer = keras.layers.Dense(512)
        layer.build((None, 512))
        checkpoint = RunCheckpoint({str(directory)!r}, {{"model": layer}}, max_to_keep=2)
        for epoch in range(1, 6):
            layer.kernel.assign(np.full((512, 512), epoch, "float32"))
            checkpoint.save(epoch)
    """)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    process = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not stopped.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stopped.exists(), f"the child never reached {function_name} in save 4: {process.poll()}"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    if kill_point == "tensors written, not merged":
        assert list(directory.glob("ckpt-4_temp/*")) and not (directory / "ckpt-4.index").exists()
    else:
        assert (directory / "ckpt-4.index").exists() and not list(directory.glob("*_temp"))

    layer = keras.layers.Dense(512)
    layer.build((None, 512))
    epoch = RunCheckpoint(directory, {"model": layer}).restore_or_initialize()
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    # ckpt-3, the newest the state file names: ckpt-4 is complete in the second case, but a save
    # counts only once the state file names it (what RunCheckpoint restores is that list)
    assert epoch == 3 and float(kernel.min()) == float(kernel.max()) == 3.0  # complete, not a mixture
    assert not list(directory.glob("*_temp"))


def test_max_to_keep_bounds_the_files_on_disk(tmp_path):
    directory = tmp_path / "checkpoints"
    save_epochs(directory, range(1, 6), max_to_keep=2)
    names = sorted(path.name for path in directory.iterdir())
    assert names == ["checkpoint", "ckpt-4.data-00000-of-00001", "ckpt-4.index",
                     "ckpt-5.data-00000-of-00001", "ckpt-5.index"]


# --- the config stored with the checkpoints ---------------------------------------------
def test_resume_with_another_config_is_refused_unless_allowed(tiny_config, tmp_path):
    run_dir = tmp_path / "run"
    check_run_config(run_dir, tiny_config)
    assert (run_dir / "config.json").is_file()
    check_run_config(run_dir, tiny_config.replace(**{"train.epochs": 9}))  # train longer: allowed
    changed = tiny_config.replace(**{"model.condition_dim": 4, "train.batch_size": 4})
    with pytest.raises(ValueError) as error:
        check_run_config(run_dir, changed)
    message = str(error.value)
    assert str(run_dir / "config.json") in message and "model.condition_dim: saved" in message
    assert "train.batch_size" in message and "allow_config_change=True" in message
    check_run_config(run_dir, changed, allow_config_change=True)  # explicitly allowed ...
    assert '"condition_dim": 4' in (run_dir / "config.json").read_text()  # ... and recorded


def test_stage2_resume_with_other_stage2_settings_is_refused(tiny_config, tmp_path):
    from t2ilib.training.stage2 import check_stage2_config

    run_dir = tmp_path / "stage2"
    check_stage2_config(run_dir, tiny_config)
    with pytest.raises(ValueError, match="stage2.batch_size: saved"):
        check_stage2_config(run_dir, tiny_config.replace(**{"stage2.batch_size": tiny_config.stage2.batch_size + 1}))


# --- NaN / Inf ----------------------------------------------------------------------------
def small_regression(directory):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.optimizer.build(model.trainable_variables)
    checkpoint = RunCheckpoint(directory, {"model": model, "optimizer": model.optimizer})
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    return model, checkpoint, x, x.sum(axis=1, keepdims=True)


def test_non_finite_weights_are_never_saved(tmp_path, caplog):
    """Even when the logged losses are finite (the NaN appeared in the last update)."""
    model, checkpoint, x, y = small_regression(tmp_path / "checkpoints")

    class PoisonLastUpdate(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.params and batch == self.params["steps"] - 1 and self._epoch == 1:
                model.layers[0].bias.assign([np.nan])

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch

    saver = SaveCheckpoint(checkpoint)
    with caplog.at_level(logging.ERROR, logger="t2ilib"):
        model.fit(x, y, batch_size=8, epochs=3, callbacks=[PoisonLastUpdate(), saver], verbose=0)
    with pytest.raises(TrainingDiverged) as error:
        saver.raise_if_diverged()
    assert (error.value.epoch, error.value.step) == (2, None) and error.value.checkpoint.endswith("ckpt-1")
    assert "holds NaN/Inf" in str(error.value) and "end of epoch 2" in str(error.value)
    assert sorted(path.name for path in (tmp_path / "checkpoints").glob("*.index")) == ["ckpt-1.index"]
    assert len([r for r in caplog.records if "stopped on NaN/Inf" in r.getMessage()]) == 1


def test_stage1_stops_on_nan_and_keeps_the_last_good_checkpoint(tiny_config, tmp_path, monkeypatch, caplog):
    """Inf in the real images of epoch 2, step 2 (as a corrupt input would give) -> NaN losses."""
    make_dataset = stage1.make_gan_dataset

    def poisoned(*args, **kwargs):
        start = kwargs.get("start_step", 0)

        def at_batch_5(index, batch):
            def poison_real_images(part):  # the first tensor of the (nested) batch: the real images
                if isinstance(part, tuple):
                    return (poison_real_images(part[0]), *part[1:])
                return tf.where(index + start == 4, tf.fill(tf.shape(part), np.inf), part)
            return poison_real_images(batch)
        return make_dataset(*args, **kwargs).enumerate().map(at_batch_5)

    monkeypatch.setattr(stage1, "make_gan_dataset", poisoned)
    run_dir = tmp_path / "run"
    with caplog.at_level(logging.ERROR, logger="t2ilib"), pytest.raises(TrainingDiverged) as error:
        stage1.train_stage1(tiny_config.replace(**{"train.epochs": 3}), run_dir, verbose=0)
    assert (error.value.epoch, error.value.step) == (2, 5)  # the 5th batch of the run: 2nd of epoch 2
    assert error.value.checkpoint == str(run_dir / "checkpoints" / "ckpt-3")  # numbered by step: end of epoch 1
    message = str(error.value)
    assert "epoch 2, batch 5 of the run" in message and " = nan" in message and "ckpt-3" in message
    assert sorted(path.name for path in (run_dir / "checkpoints").glob("*.index")) == ["ckpt-3.index"]
    assert not (run_dir / "metrics.json").exists()
    assert len([r for r in caplog.records if "stopped on NaN/Inf" in r.getMessage()]) == 1

    gan = stage1.build_stage1(tiny_config, embedding_dim=tiny_config.text.word2vec_dim, steps_per_epoch=3)
    checkpoint = RunCheckpoint(run_dir / "checkpoints",
                               {"model": gan, "g_optimizer": gan.g_optimizer, "d_optimizer": gan.d_optimizer})
    assert checkpoint.restore_or_initialize() == 1 and int(checkpoint.step.numpy()) == 3
    assert all(np.isfinite(keras.ops.convert_to_numpy(v)).all() for v in gan.variables if "float" in str(v.dtype))


def test_vae_with_a_huge_learning_rate_stops_without_saving(tmp_path):
    from t2ilib.training.vae import VAEConfig, train_vae

    config = VAEConfig(data_dir=str(tmp_path / "data"), shapes_num_images=40, batch_size=16, epochs=2,
                       learning_rate=1e30, eval_samples=16)
    with pytest.raises(TrainingDiverged, match="No checkpoint had been written yet") as error:
        train_vae("report1", tmp_path / "run", config, verbose=0)
    assert error.value.epoch == 1 and error.value.checkpoint is None
    assert not list((tmp_path / "run" / "checkpoints").glob("ckpt-*"))


# --- a full disk ----------------------------------------------------------------------------
@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"),
                                     tf.errors.ResourceExhaustedError(None, None, "No space left on device")])
def test_full_disk_while_saving_is_reported_not_swallowed(tmp_path, monkeypatch, failure):
    directory = tmp_path / "checkpoints"
    model, checkpoint, x, y = small_regression(directory)
    checkpoint.save(1)

    def no_space(*args, **kwargs):
        raise failure

    monkeypatch.setattr(tf.train.CheckpointManager, "save", no_space)
    with pytest.raises(CheckpointWriteError) as error:
        model.fit(x, y, batch_size=8, initial_epoch=1, epochs=2, callbacks=[SaveCheckpoint(checkpoint)], verbose=0)
    message = str(error.value)
    assert str(directory) in message and "full" in message and "max_to_keep" in message
    assert f"{directory / 'ckpt-1'} is unchanged" in message
    monkeypatch.undo()
    assert restored_epoch_and_kernel_of_regression(directory) == 1


def restored_epoch_and_kernel_of_regression(directory):
    _, checkpoint, _, _ = small_regression(directory)
    return checkpoint.restore_or_initialize()
