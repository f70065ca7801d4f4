"""Files written whole or not at all, also when two writers write the same file at once."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from t2ilib.files import partial_file, partial_glob, partial_path, write_text_atomically

REPOSITORY = Path(__file__).resolve().parents[1]


def test_partial_names_are_private_and_keep_the_extension(tmp_path):
    target = tmp_path / "judge.weights.h5"
    first, second = partial_path(target), partial_path(target)
    assert first != second and first.parent == tmp_path
    assert first.name.startswith(f"judge.partial-{os.getpid()}-") and first.name.endswith(".weights.h5")
    assert partial_path(tmp_path / "checkpoint").name.startswith("checkpoint.partial-")
    import fnmatch

    for name in ("judge.weights.h5", "checkpoint", "config.json"):
        assert fnmatch.fnmatchcase(partial_path(tmp_path / name).name, partial_glob(name))
    assert not fnmatch.fnmatchcase("config.json.partial", partial_glob("config.json"))


def test_two_writers_of_one_file_at_once_both_finish(tmp_path):
    """The second writer starts and finishes while the first is still writing: neither loses its file."""
    target = tmp_path / "manifest.json"
    with partial_file(target) as outer:
        outer.write_text("outer")
        write_text_atomically(target, "inner")
        assert target.read_text() == "inner" and outer.read_text() == "outer"
    assert target.read_text() == "outer"  # the last rename wins
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = write_text_atomically(tmp_path / "config.json", "old")
    with pytest.raises(RuntimeError):
        with partial_file(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_split_files_survive_another_process_writing_them_at_the_same_time(tmp_path, monkeypatch):
    """Two runs start at once on one data folder: while this process writes captions.csv, another
    writes all the split files. Before, both used "captions.csv.partial" and this one stopped
    with "No such file or directory: captions.csv.partial"."""
    import t2ilib.data.flickr8k as flickr8k

    captions = pd.DataFrame({"image": ["a.jpg", "a.jpg", "b.jpg"], "caption_index": [0, 1, 0],
                             "caption": ["a red ball", "a ball", "a blue cube"],
                             "split": ["train", "validation", "test"]})
    table_file = tmp_path / "captions.pkl"
    captions.to_pickle(table_file)
    other = ("import pandas as pd; from t2ilib.data.flickr8k import write_splits; "
             f"write_splits(pd.read_pickle({str(table_file)!r}), {str(tmp_path / 'splits')!r})")
    original, calls = pd.DataFrame.to_csv, []

    def write_while_another_process_writes_them_all(self, path, *args, **kwargs):
        result = original(self, path, *args, **kwargs)
        if not calls:  # this process has written its first file, not yet renamed it
            calls.append(path)
            subprocess.run([sys.executable, "-c", other], check=True, cwd=REPOSITORY,
                           env={**os.environ, "PYTHONPATH": str(REPOSITORY)})
        return result

    monkeypatch.setattr(pd.DataFrame, "to_csv", write_while_another_process_writes_them_all)
    paths = flickr8k.write_splits(captions, tmp_path / "splits")
    assert calls
    assert flickr8k.read_split_csv(paths["captions"])["caption"].tolist() == captions["caption"].tolist()
    assert flickr8k.read_split_csv(paths["train"])["caption"].tolist() == ["a red ball"]
    assert sorted(p.name for p in (tmp_path / "splits").iterdir()) == [
        "captions.csv", "test.csv", "train.csv", "validation.csv"]


def test_an_undone_run_removes_its_unfinished_config_too(tmp_path):
    """A run that fails before its first checkpoint leaves its folder as it found it, also the
    temporary file of a config.json it was writing."""
    from t2ilib.training.checkpoints import RunFolder

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "notes.txt").write_text("mine")
    folder = RunFolder(run_dir)
    partial_path(run_dir / "config.json").write_text("{half")
    (run_dir / "history.csv").write_text("epoch\n0\n")
    folder.undo()
    assert [p.name for p in run_dir.iterdir()] == ["notes.txt"]
