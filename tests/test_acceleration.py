"""Speed switches on the CPU (issue 9): mixed precision, loss scaling, one trace per run, XLA,
and a MirroredStrategy step that equals the single-device step on the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from t2ilib.acceleration import resolve_precision
from t2ilib.models.stackgan import build_stage1
from t2ilib.training.resume import fit_resumable

REPO = Path(__file__).resolve().parents[1]
EMBEDDING_DIM = 6


def batches(config, num_batches: int = 4, seed: int = 0):
    """Random (real, embedding, wrong, noise, condition_noise) training batches."""
    rng = np.random.default_rng(seed)
    size, batch = config.data.image_size, config.train.batch_size
    data = []
    for _ in range(num_batches):
        data.append((rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32),
                     rng.standard_normal((batch, EMBEDDING_DIM)).astype(np.float32),
                     rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32),
                     rng.standard_normal((batch, config.model.noise_dim)).astype(np.float32),
                     rng.standard_normal((batch, config.model.condition_dim)).astype(np.float32)))
    return data


def stream(data):
    """The batches as the kit's pipeline shapes them: ((real, embedding, wrong), (noise, condition_noise))."""
    real, embedding, wrong, noise, condition_noise = (np.stack(part) for part in zip(*data))
    return tf.data.Dataset.from_tensor_slices(((real, embedding, wrong), (noise, condition_noise))).repeat()


@pytest.mark.parametrize("precision, compute, scaled", [("mixed_float16", "float16", True),
                                                         ("mixed_bfloat16", "bfloat16", False)])
def test_mixed_precision_policy_applies_to_layers_and_not_to_outputs(tiny_config, precision, compute, scaled):
    config = tiny_config.replace(**{"train.mixed_precision": precision})
    gan = build_stage1(config, EMBEDDING_DIM, steps_per_epoch=2)
    assert keras.config.dtype_policy().name == "float32"  # building left no global policy behind
    assert gan.generator.project.compute_dtype == compute and gan.generator.project.kernel.dtype == "float32"
    assert gan.discriminator.down_blocks[1].conv.compute_dtype == compute
    assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer) is scaled
    assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer) is scaled

    images = gan(np.zeros((2, EMBEDDING_DIM), np.float32), np.zeros((2, config.model.noise_dim), np.float32))
    assert images.dtype == "float32"
    history = gan.fit(stream(batches(config)), epochs=1, steps_per_epoch=2, verbose=0).history
    assert all(np.isfinite(values[-1]) for values in history.values())


def test_auto_precision_is_float32_without_a_gpu():
    assert resolve_precision("auto") == ("mixed_float16" if tf.config.list_physical_devices("GPU") else "float32")
    with pytest.raises(ValueError, match="mixed_precision"):
        resolve_precision("half")


def test_a_step_whose_scaled_gradients_overflow_is_skipped(tiny_config):
    config = tiny_config.replace(**{"train.mixed_precision": "mixed_float16"})
    gan = build_stage1(config, EMBEDDING_DIM, steps_per_epoch=1)
    for optimizer in (gan.d_optimizer, gan.g_optimizer):
        optimizer.dynamic_scale.assign(3e38)  # any real gradient times this overflows
    before = [variable.numpy().copy() for variable in gan.trainable_variables]
    gan.fit(stream(batches(config, 1)), epochs=1, steps_per_epoch=1, verbose=0)
    after = [variable.numpy() for variable in gan.trainable_variables]
    assert all(np.array_equal(a, b) for a, b in zip(before, after)), "an overflowing step changed the weights"
    assert int(gan.g_optimizer.iterations.numpy()) == 0 and int(gan.d_optimizer.iterations.numpy()) == 0
    assert float(gan.g_optimizer.dynamic_scale.numpy()) == pytest.approx(1.5e38)  # scale halved for the next step

    for optimizer in (gan.d_optimizer, gan.g_optimizer):
        optimizer.dynamic_scale.assign(2.0 ** 10)
    gan.fit(stream(batches(config, 1)), epochs=1, steps_per_epoch=1, verbose=0)
    assert int(gan.g_optimizer.iterations.numpy()) == 1  # a normal scale trains again
    assert not all(np.array_equal(a, v.numpy()) for a, v in zip(before, gan.trainable_variables))


def test_the_train_step_is_traced_once_for_a_whole_resumed_run(tiny_config):
    gan = build_stage1(tiny_config, EMBEDDING_DIM, steps_per_epoch=3)
    traces = []
    original = gan.train_step

    def counting_train_step(data):
        traces.append(1)  # Python runs only while TensorFlow traces the step
        return original(data)

    gan.train_step = counting_train_step
    data = batches(tiny_config, 4)
    # Starts mid-epoch (two `fit` calls, 1 + 2x3 steps), as a resumed run does.
    fit_resumable(gan, lambda step: stream(data), start_step=2, epochs=3, steps_per_epoch=3, callbacks=[], verbose=0)
    assert int(gan.g_optimizer.iterations.numpy()) == 7
    assert len(traces) == 1


def test_xla_compiled_steps_train(tiny_config):
    gan = build_stage1(tiny_config.replace(**{"train.jit_compile": True}), EMBEDDING_DIM, steps_per_epoch=2)
    assert gan.jit_compile is True
    history = gan.fit(stream(batches(tiny_config)), epochs=1, steps_per_epoch=2, verbose=0).history
    assert all(np.isfinite(values[-1]) for values in history.values())


def test_auto_jit_compile_is_xla_for_stackgan_and_dfgan_on_one_device_and_off_for_attngan_and_replicas(tiny_config):
    from t2ilib.acceleration import resolve_jit_compile

    assert preset_default_jit() == "auto"
    gan = build_stage1(tiny_config.replace(**{"train.jit_compile": "auto"}), EMBEDDING_DIM, steps_per_epoch=2)
    assert gan.jit_compile is True
    assert resolve_jit_compile("auto", "dfgan") is True and resolve_jit_compile("auto", "attngan") is False
    assert resolve_jit_compile(False, "stackgan") is False and resolve_jit_compile(False, "dfgan") is False

    class TwoReplicas:  # what resolve_jit_compile reads of a strategy (the 2-device run is in MIRRORED below)
        num_replicas_in_sync = 2

    assert resolve_jit_compile("auto", "stackgan", strategy=TwoReplicas()) is False
    with pytest.raises(ValueError, match="jit_compile"):
        resolve_jit_compile("yes")


def preset_default_jit():
    from t2ilib.config import TrainConfig

    return TrainConfig().jit_compile


MIRRORED = r"""
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
tf.config.experimental.enable_op_determinism()
import keras
from t2ilib.config import RunConfig
from t2ilib.models.stackgan import build_stage1
sys.path.insert(0, sys.argv[2])
from test_acceleration import EMBEDDING_DIM, batches, stream

config = RunConfig.load(sys.argv[1])
data = batches(config, 2)

def train(strategy):
    keras.utils.set_random_seed(0)
    gan = build_stage1(config, EMBEDDING_DIM, steps_per_epoch=2, strategy=strategy)
    initial = [np.array(v.numpy()) for v in gan.variables]
    history = gan.fit(stream(data), epochs=1, steps_per_epoch=2, verbose=0).history
    return gan, initial, [np.array(v.numpy()) for v in gan.variables], history

mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
gan_1, initial_1, final_1, history_1 = train(tf.distribute.get_strategy())
gan_2, initial_2, final_2, history_2 = train(mirrored)
synced = [layer.synchronized for layer in gan_2._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
print(json.dumps({
    "replicas": mirrored.num_replicas_in_sync,
    "synchronized_batchnorm": bool(synced) and all(synced),
    "same_initial": all(np.array_equal(a, b) for a, b in zip(initial_1, initial_2)),
    "num_variables": [len(final_1), len(final_2)],
    "max_weight_difference": max(float(np.max(np.abs(a.astype(np.float64) - b))) for a, b in zip(final_1, final_2)),
    "max_change": max(float(np.max(np.abs(a.astype(np.float64) - b))) for a, b in zip(final_1, initial_1)),
    "losses": [{k: float(v[-1]) for k, v in h.items()} for h in (history_1, history_2)],
}))
"""


def test_a_mirrored_step_on_two_devices_equals_the_single_device_step(tiny_config, tmp_path):
    config = tiny_config.replace(**{"train.strategy": "mirrored", "train.optimizer": "rmsprop"})
    config.save(tmp_path / "config.json")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", MIRRORED, str(tmp_path / "config.json"), str(Path(__file__).parent)],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2 and report["synchronized_batchnorm"] and report["same_initial"]
    assert report["num_variables"][0] == report["num_variables"][1]
    assert report["max_change"] > 1e-4  # the steps did train
    assert report["max_weight_difference"] < 1e-5, report  # float32 sums in another order, nothing more
    single, mirrored = report["losses"]
    for name in ("d_loss", "g_loss", "kl"):
        assert mirrored[name] == pytest.approx(single[name], rel=1e-4, abs=1e-6), (name, single, mirrored)


class _FakeGPUConfig:
    """tf.config's memory-growth calls for one pretend GPU; `initialised` = TensorFlow already used it."""

    def __init__(self, initialised: bool):
        self.initialised = initialised
        self.growth = False

    def set_memory_growth(self, device, enable):
        if self.initialised:
            raise RuntimeError("Physical devices cannot be modified after being initialized")
        self.growth = enable

    def get_memory_growth(self, device):
        return self.growth


@pytest.mark.parametrize("initialised", [False, True])
def test_gpu_memory_growth_helper(monkeypatch, caplog, initialised):
    """One helper (t2ilib.acceleration) turns growth on for every GPU, and says so when it is too late."""
    from t2ilib import acceleration

    fake = _FakeGPUConfig(initialised)
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["GPU:0"] if kind == "GPU" else [])
    monkeypatch.setattr(tf.config.experimental, "set_memory_growth", fake.set_memory_growth)
    monkeypatch.setattr(tf.config.experimental, "get_memory_growth", fake.get_memory_growth)
    with caplog.at_level("WARNING", logger="t2ilib"):
        assert acceleration.allow_gpu_memory_growth() is (not initialised)
    assert fake.growth is (not initialised)
    assert ("before anything else uses TensorFlow" in caplog.text) is initialised


def test_gpu_memory_growth_is_written_once_and_the_gan_training_path_calls_it():
    """One helper (t2ilib.acceleration) sets memory growth; no other module of the kit writes its
    own, and `train_gan` (Stage-I, DF-GAN and Stage-II) calls it before building anything."""
    import inspect

    from t2ilib import acceleration
    from t2ilib.training import gan

    package = Path(acceleration.__file__).parent
    writers = sorted(path.relative_to(package).as_posix() for path in package.rglob("*.py")
                     if "set_memory_growth" in path.read_text(encoding="utf-8"))
    assert writers == ["acceleration.py"]
    assert gan.allow_gpu_memory_growth is acceleration.allow_gpu_memory_growth
    assert "allow_gpu_memory_growth()" in inspect.getsource(gan.train_gan)
