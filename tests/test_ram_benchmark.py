"""The RAM benchmark's generator and measured steps still run (20 images, 2 small batches, in this
process to stay fast; the figures themselves are in benchmarks/RESULTS.md, not checked here)."""

import importlib.util
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ram_benchmark_smoke(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # for its `common` helpers
    spec = importlib.util.spec_from_file_location("ram_flickr8k", ROOT / "benchmarks" / "ram_flickr8k.py")
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    benchmark.generate_dataset(tmp_path / "dataset", 20)
    assert len(list((tmp_path / "dataset" / "Flicker8k_Dataset").glob("*.jpg"))) == 20
    assert benchmark.generate_dataset(tmp_path / "dataset", 20) == 0.0  # reused
    result = benchmark.child(tmp_path / "dataset", tmp_path / "work", batches=2, batch_size=8, image_size=32)
    assert result["captions"] == 100 and result["cache_shape"] == [20, 38, 38, 3]
    assert result["batches"] == 2
    # the peak only grows, and this process (TensorFlow loaded) holds well over 100 MiB
    assert result["peak_rss_mb"] >= result["peak_rss_after_prepare_mb"] > 100
    import keras
    import tensorflow as tf

    assert result["machine"].startswith(f"{os.cpu_count()} CPU cores (")
    assert f"TensorFlow {tf.__version__}, Keras {keras.__version__}" in result["machine"]
