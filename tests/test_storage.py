"""Where a run's files go and what `python -m t2ilib storage` says about them (issue 18, item 6):
rebuildable caches under `data.cache_dir` (the Colab VM's local disk) rather than `data.data_dir`
(Drive), and every byte of a data folder counted once, in the group a user can act on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from t2ilib.storage import GROUPS, group_totals, storage_report

REPO = Path(__file__).resolve().parents[1]


def disk_usage(folder: Path) -> int:
    return sum(os.lstat(os.path.join(root, name)).st_size for root, _, names in os.walk(folder) for name in names)


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    """A tiny Stage-I run (1 epoch) with data on "Drive", caches on "local disk", a kept zip and GloVe."""
    from t2ilib.config import preset
    from t2ilib.training.stage1 import train_stage1

    root = tmp_path_factory.mktemp("storage")
    drive, local = root / "drive", root / "local"
    config = preset("tiny").replace(**{"data.data_dir": str(drive), "data.cache_dir": str(local),
                                       "train.epochs": 1, "train.collapse_guard": False})
    train_stage1(config, drive / "runs" / "stage1", verbose=0)
    (drive / "downloads").mkdir()
    (drive / "downloads" / "Flickr8k_Dataset.zip").write_bytes(b"z" * 5000)
    (drive / "downloads" / "SHA256SUMS").write_text("0" * 64 + "  Flickr8k_Dataset.zip\n")
    (drive / "glove.6B.50d.txt").write_text("the " + " ".join(["0.1"] * 50) + "\n")
    return config, drive, local


def test_rebuildable_caches_go_to_cache_dir_not_data_dir(layout):
    _, drive, local = layout
    assert not (drive / "prepared").exists()
    cached = {item.group for item in storage_report(local)}
    assert {"image caches", "embedding caches", "encoders and features"} <= cached
    assert all(item.deletable for item in storage_report(local) if item.group != "other")


def test_every_byte_is_counted_once_in_a_group(layout):
    _, drive, local = layout
    for folder in (drive, local):
        items = storage_report(folder)
        assert sum(item.bytes for item in items) == disk_usage(folder)
        assert len({item.path for item in items}) == len(items)


def test_groups_of_a_data_folder_with_a_run(layout):
    _, drive, _ = layout
    items = storage_report(drive)
    totals = group_totals(items)
    assert {"zips", "images", "word vectors", "run checkpoints", "run samples", "run logs", "run other"} <= set(totals)
    assert list(totals) == [group for group in GROUPS if group in totals]
    by_group = {item.group: item for item in items}
    assert by_group["zips"].deletable and by_group["zips"].bytes == 5000
    assert not by_group["run checkpoints"].deletable
    assert by_group["images"].deletable  # the generated shapes dataset: prepare makes it again
    checkpoints = next(item for item in items if item.group == "run checkpoints")
    assert checkpoints.path == str(drive / "runs" / "stage1" / "checkpoints")
    assert checkpoints.bytes == disk_usage(drive / "runs" / "stage1" / "checkpoints") > 0


def test_a_run_resumes_with_its_caches_somewhere_else(layout, tmp_path):
    from t2ilib.training.stage1 import train_stage1

    config, drive, _ = layout  # a new Colab runtime: the local disk is empty again
    metrics = train_stage1(config.replace(**{"data.cache_dir": str(tmp_path / "new-local"), "train.epochs": 2}),
                           drive / "runs" / "stage1", verbose=0)
    assert metrics["epochs_trained"] == 2
    assert (tmp_path / "new-local" / "prepared").is_dir()


def test_storage_command(layout):
    _, drive, _ = layout
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    table = subprocess.run([sys.executable, "-m", "t2ilib", "storage", str(drive)], capture_output=True, text=True,
                           env=env, timeout=120, check=False)
    assert table.returncode == 0, table.stderr
    assert "run checkpoints" in table.stdout and "zips" in table.stdout and "can be deleted" in table.stdout
    as_json = subprocess.run([sys.executable, "-m", "t2ilib", "storage", str(drive), "--json"], capture_output=True,
                             text=True, env=env, timeout=120, check=False)
    assert json.loads(as_json.stdout) == [item.to_dict() for item in storage_report(drive)]
    missing = subprocess.run([sys.executable, "-m", "t2ilib", "storage", str(drive / "nowhere")],
                             capture_output=True, text=True, env=env, timeout=120, check=False)
    assert missing.returncode == 2 and "is not a folder" in missing.stderr
