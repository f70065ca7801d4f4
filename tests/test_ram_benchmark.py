"""The RAM benchmark script still runs end to end (20 images, 2 small batches; figures not checked here)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ram_benchmark_smoke(tmp_path):
    finished = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "ram_flickr8k.py"), "--num-images", "20", "--batches", "2",
         "--batch-size", "8", "--image-size", "32", "--folder", str(tmp_path)],
        capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "images: 20, captions: 100" in finished.stdout
    assert "peak RSS (ru_maxrss" in finished.stdout and "GiB" in finished.stdout
