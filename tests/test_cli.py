"""The command line: quickstart end to end on the tiny preset, sample, and --help everywhere."""

import json
import subprocess
import sys

import pytest

from t2ilib.cli import build_parser, main


def test_quickstart_runs_end_to_end_and_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    arguments = ["quickstart", "--preset", "tiny", "--data-dir", str(tmp_path / "data"), "--run-dir",
                 str(tmp_path / "run"), "--verbose", "0"]
    assert main(arguments) == 0
    output = capsys.readouterr().out
    assert "Shapes fidelity" in output and "mismatched captions" in output
    run = tmp_path / "run"
    for name in ("config.json", "history.csv", "loss_curves.png", "metrics.json", "samples/epoch_0002.png"):
        assert (run / name).exists(), name
    assert json.loads((run / "metrics.json").read_text())["epochs_trained"] == 2
    # Asking for more epochs continues the same run.
    assert main(arguments + ["--epochs", "3"]) == 0
    assert "Resuming" not in capsys.readouterr().out  # verbose 0 prints no resume line ...
    assert json.loads((run / "metrics.json").read_text())["epochs_trained"] == 3  # ... but it resumed

    assert main(["sample", "--run-dir", str(run), "--num", "2", "--caption", "a blue square", "--out",
                 str(tmp_path / "sample.png")]) == 0
    assert (tmp_path / "sample.png").stat().st_size > 0


def test_bad_settings_are_reported_not_raised(tmp_path, capsys):
    assert main(["prepare", "--preset", "tiny", "--data-dir", str(tmp_path), "--set", "data.no_such_key=1"]) == 2
    assert "Unknown config key" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["quickstart", "prepare", "embed", "train", "sample", "train-stage2", "vae-train", "vae-compare",
                                     "sweep", "evaluate"])
def test_every_command_has_help(command):
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args([command, "--help"])
    assert stop.value.code == 0


def test_module_entry_point_help():
    result = subprocess.run([sys.executable, "-m", "t2ilib", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "quickstart" in result.stdout
