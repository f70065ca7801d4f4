"""Bad input through the real command line (`t2ilib.cli.main`, in-process; one case in a
subprocess): every case ends with a one-paragraph error and exit code 2 (usage) or 1 (failure),
never a traceback, and a run folder is byte-for-byte what it was unless a step completed.

One tiny run (`--preset tiny`, 2 epochs of 3 steps) is trained once for the module; each case
hashes every file of it (and of the folders the case names) before and after.
"""

import dataclasses
import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from t2ilib import cli
from t2ilib.config import ConfigError, RunConfig, allowed, at_least, preset, setting_problems


def run_cli(arguments, capsys):
    """(exit code, stdout, stderr) of `python -m t2ilib ARGUMENTS`, run in this process."""
    try:
        code = cli.main([str(item) for item in arguments])
    except SystemExit as stop:  # argparse: usage errors
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def tree_hash(folder) -> dict:
    """{relative path: sha256} of every file under `folder` ({} when it does not exist), and its folders."""
    folder = Path(folder)
    if not folder.exists():
        return {}
    result = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        result[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "<dir>"
    return result


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """A trained tiny run, its data folder, and helpers shared by every case."""
    root = tmp_path_factory.mktemp("bad_input_cli")
    data = root / "data"
    good = root / "good"
    code = cli.main(["train", "--preset", "tiny", "--data-dir", str(data), "--run-dir", str(good), "--verbose", "0"])
    assert code == 0 and (good / "checkpoints").is_dir() and (good / "config.json").is_file()
    (root / "a_file.txt").write_text("not a folder\n")
    return {"root": root, "data": data, "good": good, "file": root / "a_file.txt",
            "train": ["train", "--preset", "tiny", "--data-dir", str(data), "--verbose", "0"]}


def copy_of_good(kit, tmp_path, name="copy"):
    target = tmp_path / name
    shutil.copytree(kit["good"], target)
    return target


# --- settings: every case refused before anything is written ---------------------------------------
SETTINGS = [
    (["--set", "train.epochs=abc"], "train.epochs = 'abc' (expected an integer)"),
    (["--set", "nosuch.key=1"], "Unknown config key 'nosuch.key'"),
    (["--set", "train.nokey=1"], "Unknown config key 'train.nokey'"),
    (["--set", "train.epochs"], "write SECTION.KEY=VALUE"),
    (["--set", "train=3"], "whole config section"),
    (["--set", "train.batch_size=0"], "train.batch_size = 0 (expected an integer >= 1)"),
    (["--set", "train.batch_size=-1"], "train.batch_size = -1 (expected an integer >= 1)"),
    (["--set", "train.batch_size=1.5"], "train.batch_size = 1.5 (expected an integer)"),
    (["--set", "model.last_activation=nonsense"], 'model.last_activation = \'nonsense\' (expected one of "relu"'),
    (["--set", "train.learning_rate=NaN"], "train.learning_rate = nan (expected a finite number)"),
    (["--set", "train.learning_rate=0"], "train.learning_rate = 0 (expected a finite number > 0)"),
    (["--set", "train.optimizer=sgd"], "train.optimizer = 'sgd' (expected one of \"adam\""),
    (["--set", "data.image_size=48"], "data.image_size = 48 (expected a power of two >= 8)"),
    (["--set", "data.augment=maybe"], "data.augment = 'maybe' (expected true or false)"),
    (["--set", "train.mixed_precision=fp8"], "train.mixed_precision = 'fp8'"),
    (["--set", "train.num_sample_captions=1"], "train.num_sample_captions = 1 (expected >= 2 while"),
    (["--set", "data.shapes_num_images=2"], "data.shapes_num_images = 2 (expected an integer >= 3)"),
]
NEEDS_DATA = [  # rules between a setting and the prepared data (a resume of the good run is refused earlier)
    (["--set", "train.batch_size=5000"], "train.batch_size = 5000 (expected at most 160, the number of training "
                                         "captions of"),
    (["--set", "data.shapes_num_images=3"], "has 1 image(s) to draw the sample grid from; the collapse guard"),
]


def check_refused(kit, run_dirs, arguments, expected, capsys):
    for run_dir in run_dirs:
        code, _, err = run_cli(kit["train"] + ["--run-dir", run_dir] + arguments, capsys)
        assert code == 2 and expected in err, err
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("arguments, expected", SETTINGS, ids=[" ".join(case[0]) for case in SETTINGS])
def test_a_bad_setting_is_refused_before_anything_is_written(kit, tmp_path, capsys, arguments, expected):
    new_run, before = tmp_path / "new_run", tree_hash(kit["good"])
    check_refused(kit, (new_run, kit["good"]), arguments, expected, capsys)  # a new run and a resume
    assert not new_run.exists() and tree_hash(kit["good"]) == before


@pytest.mark.parametrize("arguments, expected", NEEDS_DATA, ids=[" ".join(case[0]) for case in NEEDS_DATA])
def test_a_setting_the_data_cannot_take_is_refused_before_the_run_folder_is_touched(kit, tmp_path, capsys,
                                                                                    arguments, expected):
    check_refused(kit, (tmp_path / "new_run",), arguments, expected, capsys)
    assert not (tmp_path / "new_run").exists()


def test_after_a_refused_setting_the_same_run_starts_normally(kit, tmp_path, capsys):
    """The issue's lock-out: a failed --set wrote config.json, and the plain command was refused."""
    run_dir = tmp_path / "run"
    code, _, err = run_cli(kit["train"] + ["--run-dir", run_dir, "--set", "train.batch_size=-1", "--epochs", "0"],
                           capsys)
    assert code == 2 and not run_dir.exists()
    code, _, err = run_cli(kit["train"] + ["--run-dir", run_dir, "--epochs", "0"], capsys)
    assert code == 0, err
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["train"]["batch_size"] == 8 and Path(saved["data"]["data_dir"]).is_absolute()


# --- paths ---------------------------------------------------------------------------------------
def test_paths_that_are_files_or_missing(kit, tmp_path, capsys):
    before = tree_hash(kit["good"])
    cases = [
        (kit["train"] + ["--run-dir", kit["file"]], 2, "is a file; give a folder"),
        (kit["train"] + ["--run-dir", tmp_path / "r", "--dataset", kit["file"]], 2, "that path is a file"),
        (kit["train"] + ["--run-dir", tmp_path / "r", "--dataset", tmp_path / "nowhere"], 2, "that path does not exist"),
        (["train", "--preset", "tiny", "--data-dir", kit["file"], "--run-dir", tmp_path / "r"], 2,
         "data.data_dir = "),
        (["train", "--config", tmp_path / "missing.json", "--run-dir", tmp_path / "r"], 2, "missing.json"),
        (["sample", "--run-dir", tmp_path / "nowhere"], 2, "does not exist"),
        (["sample", "--run-dir", kit["file"]], 2, "is a file"),
        (["sample", "--run-dir", tmp_path], 2, "is not a run directory (no config.json)"),
        (["sample", "--run-dir", kit["good"], "--out", tmp_path], 2, "is a folder; give the path of the PNG"),
        (["evaluate", "--run-dir", kit["good"], "--checkpoint-dir", "nosuch", "--weights", "none"], 2,
         "No checkpoint in"),
        (["train-stage2", "--preset", "tiny", "--stage1-run-dir", tmp_path / "nowhere", "--run-dir",
          tmp_path / "s2"], 2, "No Stage-I run"),
        (["vae-train", "report2", "--run-dir", tmp_path / "r", "--dataset", kit["file"]], 2,
         "dataset = " + repr(str(kit["file"]))),
    ]
    garbled = tmp_path / "garbled.json"
    garbled.write_text('{"train": {"epochs": 2,')
    cases.append((["train", "--config", garbled, "--run-dir", tmp_path / "r"], 2, "not a valid t2ilib run config"))
    for arguments, expected_code, expected in cases:
        code, _, err = run_cli(arguments, capsys)
        assert (code, expected in err, "Traceback" in err) == (expected_code, True, False), (arguments, err)
    assert tree_hash(kit["good"]) == before and not (tmp_path / "r").exists() and not (tmp_path / "s2").exists()
    assert len(cases) == 13


@pytest.mark.parametrize("arguments, expected", [
    (["sample", "--num", "-2"], "--num: -2 is not allowed"),
    (["sample", "--num", "0"], "--num: 0 is not allowed"),
    (["evaluate", "--num-images", "-1"], "--num-images: -1 is not allowed"),
    (["train", "--epochs", "-1"], "--epochs: -1 is not allowed"),
    (["train", "--verbose", "7"], "--verbose: invalid choice"),
    (["vae-train", "report2", "--batch-size", "0"], "--batch-size: 0 is not allowed"),
    (["vae-train", "report2", "--learning-rate=-1e-3"], "--learning-rate: -1e-3 is not allowed"),
], ids=lambda item: " ".join(item) if isinstance(item, list) else None)
def test_invalid_counts_are_usage_errors(kit, tmp_path, capsys, arguments, expected):
    before = tree_hash(kit["good"])
    code, _, err = run_cli(arguments + ["--run-dir", kit["good"]], capsys)
    assert code == 2 and expected in err, err
    assert tree_hash(kit["good"]) == before


def test_vae_compare_without_a_label_is_a_usage_error(kit, capsys):
    code, _, err = run_cli(["vae-compare", kit["good"], "--output-dir", kit["root"] / "cmp"], capsys)
    assert code == 2 and "LABEL=RUN_DIR" in err and not (kit["root"] / "cmp").exists()


# --- the run folder: only steps that complete change it ------------------------------------------------
def test_resuming_with_other_settings_is_refused_and_changes_nothing(kit, capsys):
    before = tree_hash(kit["good"])
    code, _, err = run_cli(kit["train"] + ["--run-dir", kit["good"], "--set", "model.generator_width=16"], capsys)
    assert code == 2 and "model.generator_width: saved 8, now 16" in err and "--allow-config-change" in err
    assert tree_hash(kit["good"]) == before


def test_allow_config_change_restores_first_and_refuses_when_the_weights_cannot_take_it(kit, capsys):
    before = tree_hash(kit["good"])
    code, _, err = run_cli(kit["train"] + ["--run-dir", kit["good"], "--set", "model.generator_width=16",
                                           "--allow-config-change"], capsys)
    assert code == 2 and "cannot take the changed settings (model.generator_width: saved 8, now 16)" in err, err
    assert "Nothing in" in err and "Traceback" not in err
    assert tree_hash(kit["good"]) == before  # config.json still says 8: sample and a plain train still work


def test_a_read_only_run_folder_is_reported_before_any_work(kit, tmp_path, capsys, monkeypatch):
    """As root the folder cannot be made read-only here; the write probe fails as on a read-only mount."""
    import t2ilib.training.checkpoints as checkpoints
    import t2ilib.training.stage1 as stage1

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    def must_not_run(*args, **kwargs):
        raise AssertionError("generated images before checking that the output can be written")

    before = tree_hash(kit["good"])
    monkeypatch.setattr(checkpoints.tempfile, "TemporaryFile", read_only)
    monkeypatch.setattr(stage1, "generate", must_not_run)
    for arguments in (kit["train"] + ["--run-dir", kit["good"]], ["sample", "--run-dir", kit["good"]],
                      ["evaluate", "--run-dir", kit["good"], "--weights", "none"]):
        code, _, err = run_cli(arguments, capsys)
        assert code == 1 and "Cannot write to" in err and "Read-only file system" in err, err
        assert "Drive is mounted" in err and "Traceback" not in err
    assert tree_hash(kit["good"]) == before


def test_unreadable_checkpoints_are_one_clear_error(kit, tmp_path, capsys):
    run_dir = copy_of_good(kit, tmp_path)
    for data_file in (run_dir / "checkpoints").glob("ckpt-*.data-*"):
        data_file.write_bytes(b"\0" * data_file.stat().st_size)  # garbled by a bad copy
    before = tree_hash(run_dir)
    for arguments in (["sample", "--run-dir", run_dir], kit["train"] + ["--run-dir", run_dir, "--epochs", "3"]):
        code, _, err = run_cli(arguments, capsys)
        assert code == 1 and "None of the 2 checkpoints in" in err and "could be read" in err, err
        assert err.count("\n") == 1 and "Traceback" not in err
    assert tree_hash(run_dir) == before


def test_non_finite_weights_are_refused_by_every_loader(kit, tmp_path, capsys):
    """A checkpoint holding NaN (written behind the kit's back, or by an older version into best/)."""
    import keras

    from t2ilib.training import stage1
    from t2ilib.training.checkpoints import RunCheckpoint

    run_dir = copy_of_good(kit, tmp_path)
    config = RunConfig.load(run_dir / "config.json")
    gan = stage1.build_stage1(config, config.text.word2vec_dim, steps_per_epoch=3)
    parts = {"model": gan, "g_optimizer": gan.g_optimizer, "d_optimizer": gan.d_optimizer}
    checkpoint = RunCheckpoint(run_dir / "best", parts, max_to_keep=1)
    checkpoint.restore_or_initialize()
    kernel = gan.generator.trainable_variables[0]
    kernel.assign(np.full(kernel.shape, np.nan, "float32"))
    with pytest.raises(RuntimeError, match="holds NaN/Inf, so it is not written"):
        checkpoint.save(9)  # the kit itself refuses ...
    checkpoint.manager.save(checkpoint_number=9)  # ... so write it behind its back
    before = tree_hash(run_dir)
    code, _, err = run_cli(["evaluate", "--run-dir", run_dir, "--checkpoint-dir", "best", "--weights", "none",
                            "--metrics", "fidelity"], capsys)
    assert code == 1 and "holds NaN/Inf" in err and "Traceback" not in err, err
    assert tree_hash(run_dir) == before
    keras.backend.clear_session()


def test_a_diverged_new_run_keeps_nothing_and_can_be_started_again(kit, tmp_path, capsys):
    run_dir = tmp_path / "diverged"
    code, _, err = run_cli(kit["train"] + ["--run-dir", run_dir, "--set", "train.learning_rate=1e30"], capsys)
    assert code == 1 and "Training stopped on NaN/Inf" in err and "No checkpoint had been written yet" in err, err
    assert not run_dir.exists()  # no best/ with NaN weights, no config.json that would lock the folder


def test_evaluate_offline_with_the_default_weights_names_the_offline_option(kit, capsys, monkeypatch):
    import keras

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/tensorflow/keras-applications/"
                        "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels.h5: None -- [Errno -3] "
                        "Temporary failure in name resolution")

    monkeypatch.setattr(keras.applications, "InceptionV3", offline)
    before = tree_hash(kit["good"])
    code, _, err = run_cli(["evaluate", "--run-dir", kit["good"], "--metrics", "fid", "--num-images", "4"], capsys)
    assert code == 1 and "Could not download pretrained weights" in err and "--weights none" in err, err
    assert tree_hash(kit["good"]) == before


def test_debug_shows_the_traceback(kit, tmp_path):
    with pytest.raises(ConfigError, match="train.epochs = 'abc'"):
        cli.main(kit["train"] + ["--run-dir", str(tmp_path / "r"), "--set", "train.epochs=abc", "--debug"])


def test_the_module_entry_point_exits_2_without_a_traceback(kit, tmp_path):
    result = subprocess.run([sys.executable, "-m", "t2ilib", "train", "--preset", "tiny", "--run-dir",
                             str(tmp_path / "r"), "--set", "train.batch_size=0"], capture_output=True, text=True,
                            timeout=300, cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 2 and "train.batch_size = 0" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "r").exists()


# --- run folders are self-contained ----------------------------------------------------------------------
def test_a_run_samples_from_another_working_directory(kit, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["sample", "--run-dir", kit["good"], "--num", "1", "--out", tmp_path / "s.png"], capsys)
    assert code == 0 and (tmp_path / "s.png").stat().st_size > 0, err
    assert not (tmp_path / "t2ilib_data").exists()  # nothing rebuilt here


def test_a_run_with_a_relative_data_folder_that_is_not_here_is_not_rebuilt(kit, tmp_path, capsys, monkeypatch):
    run_dir = copy_of_good(kit, tmp_path)
    saved = json.loads((run_dir / "config.json").read_text())
    saved["data"]["data_dir"] = "t2ilib_data"  # as an older version saved it
    (run_dir / "config.json").write_text(json.dumps(saved))
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["sample", "--run-dir", run_dir], capsys)
    assert code == 2 and "'t2ilib_data' (data.data_dir in its config.json), is not there" in err, err
    assert not (tmp_path / "t2ilib_data").exists()


def test_a_resumed_history_has_each_epoch_once(kit, tmp_path):
    """Ctrl-C after an epoch's row was written but before its checkpoint: the row goes on resume."""
    from t2ilib.training.checkpoints import RunFolder

    run_dir = copy_of_good(kit, tmp_path)
    history = (run_dir / "history.csv").read_text().splitlines()
    (run_dir / "history.csv").write_text("\n".join(history + ["2" + history[-1][1:]]) + "\n")  # epoch 2, unsaved
    RunFolder(run_dir).trim_history(2)
    assert (run_dir / "history.csv").read_text().splitlines() == history


# --- the one config mechanism -------------------------------------------------------------------------------
def test_a_new_setting_gets_type_checks_for_free_and_a_rule_in_one_place():
    @dataclass
    class FamilyConfig:  # as a session adding a section would write it
        family: str = "stackgan"
        width: int = field(default=8, metadata=allowed(at_least(1)))
        ratio: float | None = None

    assert setting_problems(FamilyConfig()) == []
    problems = setting_problems(FamilyConfig(family=3, width=0, ratio="x"), prefix="model.")
    assert problems == ["model.family = 3 (expected a string)", "model.width = 0 (expected an integer >= 1)",
                        "model.ratio = 'x' (expected a finite number or null (None))"]


def test_every_preset_is_valid_and_the_name_lists_agree_with_the_kit():
    from t2ilib import acceleration, config as config_module
    from t2ilib.features.xception import FEATURE_SOURCE
    from t2ilib.text import ENCODERS

    for name in ("tiny", "quickstart", "colab", "official"):
        preset(name).validate(check_paths=False)
    assert set(config_module.TEXT_ENCODERS) == set(ENCODERS)
    assert set(config_module.CONDITION_SOURCES) == {"text", FEATURE_SOURCE}
    assert config_module.FEATURES_AS_TEXT_ENCODER == FEATURE_SOURCE  # the old text.encoder value it migrates
    assert config_module.MIXED_PRECISIONS == acceleration.PRECISIONS
    assert config_module.STRATEGIES == acceleration.STRATEGIES
    assert config_module.JIT_COMPILE == acceleration.JIT_COMPILE
    for rule in config_module.ALLOWED:  # every rule names a real setting
        section, _, key = rule.partition(".")
        assert key in {item.name for item in dataclasses.fields(getattr(RunConfig(), section))}, rule


def test_the_notebook_api_gets_the_same_errors(tiny_config, tmp_path):
    from t2ilib.training.stage1 import train_stage1

    with pytest.raises(ConfigError, match=r"train.batch_size = -1 \(expected an integer >= 1\)"):
        train_stage1(tiny_config.replace(**{"train.batch_size": -1}), tmp_path / "run", verbose=0)
    assert not (tmp_path / "run").exists() and os.listdir(tmp_path) == []


def test_the_best_checkpoint_never_keeps_non_finite_weights_or_losses(tmp_path):
    """The issue's diverged run: fidelity stays finite while half the weights are NaN."""
    import keras

    from t2ilib.training.checkpoints import RunCheckpoint
    from t2ilib.training.guards import BestCheckpoint

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    best = BestCheckpoint(RunCheckpoint(tmp_path / "best", {"model": model}, max_to_keep=1))
    best.on_epoch_end(0, {"fidelity": 0.3, "g_loss": 1.0})
    best.on_epoch_end(1, {"fidelity": 0.6, "g_loss": float("nan")})  # a loss went NaN this epoch
    model.layers[0].kernel.assign(np.full((3, 2), np.inf, "float32"))
    best.on_epoch_end(2, {"fidelity": 0.9, "g_loss": 1.0})  # weights diverged, metric still finite
    info = json.loads((tmp_path / "best" / "best.json").read_text())
    assert (info["epoch"], info["value"]) == (1, 0.3) and best.best == 0.3
    assert sorted(path.name for path in (tmp_path / "best").glob("*.index")) == ["ckpt-1.index"]
