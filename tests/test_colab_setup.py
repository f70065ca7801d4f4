"""colab_setup.sh in its check mode (issue 18): it says what it would install and download,
installs and downloads nothing, and fails with a clear message when something it needs is
missing. The simulated Colab run of the notebooks uses this mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "colab_setup.sh"


def logging_python(folder: Path, flags: str = "") -> tuple[Path, Path]:
    """A `python` that records every command line it is given, then runs this interpreter."""
    log = folder / "calls.log"
    wrapper = folder / "python"
    wrapper.write_text(f'#!/usr/bin/env bash\necho "$*" >> "{log}"\nexec "{sys.executable}" {flags} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, log


def run_setup(tmp_path, python, *args, dry_run_variable: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": str(python)}
    env.pop("T2ILIB_SETUP_DRY_RUN", None)
    if dry_run_variable:
        env["T2ILIB_SETUP_DRY_RUN"] = "1"
    return subprocess.run(["bash", str(SCRIPT), "--data-dir", str(tmp_path / "data"), "--local-dir",
                           str(tmp_path / "local"), *args], capture_output=True, text=True, env=env, timeout=120,
                          check=False)


def test_check_mode_prints_the_plan_and_installs_nothing(tmp_path):
    python, log = logging_python(tmp_path)
    result = run_setup(tmp_path, python, "--flickr8k", "--glove")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "CHECK ONLY" in out and "check passed" in out
    from importlib.metadata import version

    assert f"TensorFlow {version('tensorflow')} is installed and will be kept" in out
    assert f"tensorflow=={version('tensorflow')}" in out  # pinned for every pip call
    assert "would pip install (constrained): tensorflow-hub>=0.16 setuptools<81 sentence-transformers" in out
    assert "would pip install --no-deps -e" in out
    for name in ("Flickr8k_text.zip", "Flickr8k_Dataset.zip"):
        assert f"would download https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/{name}" in out
    assert "glove.6B.zip (822 MB)" in out
    calls = log.read_text().splitlines()
    assert not [call for call in calls if call.startswith("-m pip install")], calls  # nothing installed
    assert not (tmp_path / "data").exists() and not (tmp_path / "local").exists()  # nothing downloaded


def test_check_flag_and_already_unpacked_data(tmp_path):
    python, _ = logging_python(tmp_path)
    dataset = tmp_path / "data" / "Flickr8k"
    dataset.mkdir(parents=True)
    for name in ("Flickr8k_text.zip", "Flickr8k_Dataset.zip"):
        (dataset / f".unpacked-{name}").write_text("unpacked\n")
    result = run_setup(tmp_path, python, "--check", "--flickr8k", dry_run_variable=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("already unpacked") == 2 and "would download" not in result.stdout


def test_check_mode_fails_with_what_is_missing(tmp_path):
    # -S -I: this interpreter without its site-packages, i.e. without TensorFlow and pip.
    python, log = logging_python(tmp_path, flags="-S -I")
    result = run_setup(tmp_path, python, "--flickr8k")
    assert result.returncode == 1
    assert "TensorFlow is not installed" in result.stderr and "pip is not available" in result.stderr
    assert "check FAILED: 2 problem(s)" in result.stderr
    assert not [call for call in log.read_text().splitlines() if call.startswith("-m pip install")]


@pytest.mark.skipif(Path("/content/drive/MyDrive").is_dir(), reason="Google Drive is mounted here")
def test_an_unmounted_drive_is_reported_not_created(tmp_path):
    python, _ = logging_python(tmp_path)
    env = {**os.environ, "PYTHON": str(python), "T2ILIB_SETUP_DRY_RUN": "1"}
    result = subprocess.run(["bash", str(SCRIPT), "--data-dir", "/content/drive/MyDrive/t2ilib/data",
                             "--local-dir", str(tmp_path / "local")], capture_output=True, text=True, env=env,
                            timeout=120, check=False)
    assert result.returncode == 1
    assert "which is not mounted" in result.stderr and "drive.mount" in result.stderr
