"""Small helpers shared by the benchmark scripts (run them from the repository root)."""

from __future__ import annotations

import os
import platform
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's t2ilib, even without install


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)


def machine() -> str:
    """One line: CPU count, accelerator, TensorFlow/Keras versions."""
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    accelerator = ", ".join(tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name) for gpu in gpus)
    return (f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), "
            f"{accelerator or 'no GPU'}; Python {platform.python_version()}, TensorFlow {tf.__version__}, "
            f"Keras {keras.__version__}")
