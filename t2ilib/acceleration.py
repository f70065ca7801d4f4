"""Speed switches shared by every trainer: mixed precision, distribution strategies, XLA.

- `mixed_precision` (TrainConfig): "off" (float32), "mixed_float16" (NVIDIA GPUs with tensor
  cores: T4, V100, A100...), "mixed_bfloat16" (TPUs, recent CPUs), or "auto" (mixed_float16
  when TensorFlow sees a GPU, float32 otherwise). Layers compute in the low precision and keep
  float32 weights; images, logits and losses stay float32. Under mixed_float16 both GAN
  optimizers are wrapped in `keras.optimizers.LossScaleOptimizer`, so a step whose scaled
  gradients overflow is skipped (and the loss scale halved) instead of being applied.
- `strategy` (TrainConfig): "default" (one device), "mirrored" (all local GPUs; data-parallel,
  the configured batch size is the *global* batch), "tpu" (a Colab/Cloud TPU). Models and
  optimizers are built in `strategy.scope()`; losses are averaged over the global batch with
  `tf.nn.compute_average_loss` (see t2ilib.models.blocks.global_mean), and BatchNorm
  synchronises its batch statistics across replicas, so N replicas compute the same step as
  one device on the whole batch.
- `jit_compile` (TrainConfig): compile the train step with XLA (`model.compile(jit_compile=...)`):
  true, false or "auto" (`resolve_jit_compile`): on for the StackGAN stages on one device, where
  it was measured to help (Stage-I on an idle 2-core CPU: 1.7x at batch 16, 2x at batch 64 before
  the up-blocks became one 2x2 convolution; level with it since, on a loaded machine;
  benchmarks/RESULTS.md), and for DF-GAN (the 2026-12-07 VM, idle, the quickstart's 32 px
  recipe: 18-19 s an epoch against 27-29 s without, after ~20 s of compilation in the first;
  an older, loaded machine had measured no gain), off under a multi-replica strategy (Keras'
  own "auto" makes the same choice there). Keras' own "auto" would leave XLA
  off on every CPU-only machine, which is where the kit measured it helping most.
- `allow_gpu_memory_growth()`: TensorFlow takes GPU memory as it needs it instead of all of it,
  so that torch (BERT captions) can share the GPU. Every trainer calls it; a notebook calls it
  first thing, before anything touches the GPU.
"""

from __future__ import annotations

import contextlib
import logging

import keras
import tensorflow as tf

logger = logging.getLogger("t2ilib")

PRECISIONS = ("off", "auto", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "tpu")


def allow_gpu_memory_growth() -> bool:
    """Let TensorFlow take GPU memory as it needs it instead of all of it at start-up, so that a
    torch text encoder (BERT) can share the GPU in the same process.

    Returns True when growth is on for every GPU (also when there is none: nothing to do) and
    False when TensorFlow had already initialised a GPU, which is then left as it is (the
    setting can only be made before the first GPU operation): call this first thing.
    """
    all_set = True
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # the GPU is already initialised: too late for this process
            if not tf.config.experimental.get_memory_growth(gpu):
                all_set = False
    if not all_set:
        logger.warning("GPU memory growth could not be turned on: TensorFlow had already started on the GPU. "
                       "Call t2ilib.acceleration.allow_gpu_memory_growth() before anything else uses TensorFlow "
                       "(in a notebook: restart the runtime and run the setup cell first).")
    return all_set


def resolve_precision(name: str) -> str:
    """The Keras dtype-policy name for a `mixed_precision` setting ("float32" for off)."""
    if name not in PRECISIONS:
        raise ValueError(f"Unknown mixed_precision {name!r}; choose one of {', '.join(PRECISIONS)}.")
    if name == "auto":
        return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"
    return "float32" if name == "off" else name


@contextlib.contextmanager
def precision_policy(name: str):
    """Build layers under the dtype policy for `name` (a `mixed_precision` setting), then restore
    the previous global policy, so that building one mixed model leaves no global state behind."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(resolve_precision(name))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def wrap_optimizer(optimizer, precision: str):
    """`optimizer` wrapped in a LossScaleOptimizer when `precision` resolves to mixed_float16
    (float16 gradients underflow without loss scaling); unchanged otherwise."""
    if resolve_precision(precision) == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


JIT_COMPILE = (True, False, "auto")
XLA_FAMILIES = ("stackgan", "dfgan")  # model families whose train step XLA was measured to speed up


def resolve_jit_compile(setting, family: str = "stackgan", strategy=None) -> bool:
    """Whether to XLA-compile the train step for a `jit_compile` setting: true and false as
    they are; "auto" is true for the families in XLA_FAMILIES on one replica (CPU or GPU) and
    false otherwise (AttnGAN; mirrored or TPU strategies, which compile their own way)."""
    if setting not in JIT_COMPILE or not isinstance(setting, (bool, str)):
        raise ValueError(f"Unknown jit_compile {setting!r}; choose true, false or \"auto\".")
    if setting != "auto":
        return setting
    replicas = (strategy or tf.distribute.get_strategy()).num_replicas_in_sync
    return family in XLA_FAMILIES and replicas == 1


def make_strategy(name: str):
    """The tf.distribute strategy for a `strategy` setting."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
        logger.info("MirroredStrategy over %d device(s).", strategy.num_replicas_in_sync)
        return strategy
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.NotFoundError) as error:
            raise RuntimeError("strategy='tpu' needs a TPU runtime (Colab: Runtime > Change runtime type > TPU); "
                               f"none was found ({error}).") from error
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"Unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}.")


def num_replicas() -> int:
    """Replicas in sync in the current (replica or cross-replica) context; 1 without a strategy."""
    return tf.distribute.get_strategy().num_replicas_in_sync
