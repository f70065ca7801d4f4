"""What the notebooks' setup cell does once the kit is importable: where files go, and the installs.

Every notebook starts with a `parameters` cell (the settings a student edits) and a setup cell.
The setup cell mounts Google Drive and fetches the kit (that part must live in the notebook:
before it runs there is no kit to import), then calls `notebook_setup`, which

- maps every *relative* path a student set (`DATA_DIR = "data"`, `RUN_DIR = "runs/stage1"`,
  `GLOVE_PATH = "data/glove.6B.50d.txt"`) onto the Drive folder, so it survives a runtime reset,
  and leaves absolute paths exactly as they were set;
- runs `colab_setup.sh` (installs what Colab lacks without replacing its TensorFlow, downloads
  Flickr8k when the dataset asks for it);
- lets TensorFlow grow its GPU memory before anything touches the GPU, so a torch text encoder
  can share the GPU in the same process.

Outside Colab (a laptop, CI) nothing is mounted or installed and every path stays as set,
relative to the working directory.

This module imports nothing heavy: the setup cell runs it before TensorFlow is loaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

KIT_DIR = Path(__file__).resolve().parents[1]  # the repository folder this t2ilib was imported from
SETUP_SCRIPT = KIT_DIR / "colab_setup.sh"


def on_drive(path, drive_dir):
    """`path` as the notebook should use it: relative paths go below `drive_dir` (when given),
    absolute ones and None stay as they are."""
    if path is None or drive_dir is None:
        return path
    text = os.fspath(path)
    if os.path.isabs(text):
        return text
    return os.path.join(os.fspath(drive_dir), text)


def setup_flags(dataset: str | None, glove: bool = False, nltk: bool = False) -> list[str]:
    """colab_setup.sh's options for what a notebook needs: Flickr8k when the dataset is "flickr8k",
    GloVe and NLTK's corpora when asked."""
    flags = ["--flickr8k"] if dataset == "flickr8k" else []
    return flags + (["--glove"] if glove else []) + (["--nltk"] if nltk else [])


def run_setup_script(data_dir, flags=(), local_dir=None, script: Path = SETUP_SCRIPT) -> None:
    """Run colab_setup.sh, printing its output as it comes; stop the notebook with a clear
    message when it fails. Set T2ILIB_SETUP_DRY_RUN=1 to see what it would do without doing it."""
    if not Path(script).is_file():
        raise FileNotFoundError(
            f"{script} is missing: the kit at {KIT_DIR} is incomplete. Set KIT_SOURCE (first cell) to the "
            "kit's git repository or to a full copy of it (a folder or a .zip), then run the setup cell again.")
    command = ["bash", os.fspath(script), "--data-dir", os.fspath(data_dir), *flags]
    if local_dir:
        command += ["--local-dir", os.path.join(os.fspath(local_dir), "t2ilib_downloads")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in process.stdout:
        print(line, end="")
        lines.append(line)
    if process.wait() != 0:
        raise RuntimeError(f"{Path(script).name} failed (exit {process.returncode}); its last lines:\n"
                           + "".join(lines[-8:]) + "Fix what it says, then run the setup cell again.")


def notebook_setup(in_colab: bool, drive_dir: str | None = None, local_dir: str | None = None,
                   dataset: str | None = None, glove: bool = False, nltk: bool = False, **paths) -> dict:
    """The setup cell's second half. `paths` are the notebook's path settings by name
    (DATA_DIR=..., RUN_DIR=...); returns them as the notebook should use them, plus CACHE_DIR
    (the config's `data.cache_dir`: in Colab `local_dir/t2ilib_cache`, on the runtime's own disk,
    for the caches that are rebuilt when missing; elsewhere "", inside DATA_DIR).

    In Colab: relative paths are placed under `drive_dir`, colab_setup.sh runs (with
    `--flickr8k` when `dataset == "flickr8k"`; `--glove` when `glove` is set and the placed
    GLOVE_PATH does not exist yet; `--nltk` when `nltk` is set), and GPU memory growth is
    switched on. Elsewhere: paths unchanged, nothing installed, GPU memory growth on."""
    if in_colab and not drive_dir:
        raise ValueError("In Colab, DRIVE_DIR (first cell) must name a folder on Google Drive, "
                         "e.g. '/content/drive/MyDrive/t2ilib'.")
    placed = {name: on_drive(value, drive_dir if in_colab else None) for name, value in paths.items()}
    if in_colab:
        os.makedirs(drive_dir, exist_ok=True)
        data_dir = placed.get("DATA_DIR") or on_drive("data", drive_dir)
        glove = glove and not os.path.isfile(placed.get("GLOVE_PATH") or os.path.join(data_dir, "glove.6B.50d.txt"))
        run_setup_script(data_dir, setup_flags(dataset, glove, nltk), local_dir=local_dir)
    placed["CACHE_DIR"] = os.path.join(os.fspath(local_dir), "t2ilib_cache") if in_colab and local_dir else ""

    from t2ilib.acceleration import allow_gpu_memory_growth  # first TensorFlow import of the notebook

    allow_gpu_memory_growth()
    where = "on Google Drive" if in_colab else "relative to " + os.getcwd()
    print(f"In Colab: {in_colab}. Python {sys.version.split()[0]}, kit at {KIT_DIR}. Paths ({where}):")
    for name, value in placed.items():
        print(f"  {name:14s} {value}")
    return placed
