"""Cells of notebooks/07_comparisons.ipynb: a sweep of Stage-I variants, compared side by side.

`cells()` returns the cell list; tools/make_notebooks.py writes the notebook from it.
"""

from __future__ import annotations

from make_notebooks import COLAB_MARKDOWN, REPO_URL, code, colab_cell, md


def cells():
    return [
        md("""
# 07 · Comparisons: a sweep of Stage-I variants, side by side

The StackGAN+BERT report chose its model by comparing grids by eye: four caption
representations, batch sizes 32/64/128/512, Adadelta/RMSprop/Adam, four learning rates, three
activations of the generator's last layer, and the epochs 0/390/480/490 (after ~490 epochs the
outputs had collapsed to flat colours). This notebook runs such a **sweep** with the kit: one
run directory per variant, then one figure per factor (the same captions and the same noise in
every column, so a difference between columns is the factor's doing), the loss curves
overlaid, and a table with the numbers — including the collapse flag of the kit's guard.

A sweep is long: every variant is a training run. It resumes like a training run: re-run the
sweep cell after a runtime reset and finished variants are skipped.
"""),
        md("""
## Settings

`FACTORS = None` runs the default: the report's grid on Flickr8k (one factor at a time around
its best setting: BERT, batch 128, Adam 2e-4, LeakyReLU, 490 epochs), a small grid on the
built-in shapes dataset. Or give your own, e.g. `{"learning_rate": [2e-4, 1e-3]}`, with
`BASELINE` values for the factors (default: the preset's). Shrink the report's grid before you
start it in Colab (e.g. `"epochs": [0, 20, 40]` and a baseline of 40 epochs): at ~6 epochs an
hour on a GPU its 490-epoch variants take days each.
"""),
        code(f'''
import os

SMOKE = os.environ.get("T2ILIB_SMOKE", "0") == "1"  # CI / laptop check: tiny models, built-in data, CPU

PRESET = "colab"  # the base settings every variant starts from
DATASET = "flickr8k"  # "flickr8k", "shapes" (built in) or a folder path
DATA_DIR = os.environ.get("T2ILIB_DATA_DIR", "t2ilib_data")  # becomes a Google Drive folder in Colab
SWEEP_DIR = os.environ.get("T2ILIB_RUN_DIR", "runs/sweep")  # one run directory per variant below it
FACTORS = None  # None: the default grid; or e.g. {{"learning_rate": [2e-4, 1e-3], "epochs": [0, 20]}}
BASELINE = {{}}  # baseline value per factor (one_at_a_time mode); default: the preset's
MODE = "one_at_a_time"  # "one_at_a_time" (as the report) or "grid" (every combination)
EPOCHS = None  # None: the preset's (or the factor's); a number overrides the base config's epochs
NUM_CAPTIONS = 4  # rows of each comparison figure
NUM_NOISE = 2  # noise vectors per caption and variant (2+ also gives the MS-SSIM diversity column)
VERBOSE = 0  # 1: a progress bar per epoch
REPO_URL = "{REPO_URL}"  # the kit's repository (or your course's fork), cloned in Colab

if SMOKE:  # two variants of the tiny preset: its initial weights (epoch 0) and one epoch later
    PRESET, DATASET, NUM_CAPTIONS = "tiny", "shapes", 3
    FACTORS = {{"epochs": [0, 1]}}
    BASELINE = {{"epochs": 1}}
''', tags=["parameters"]),
        md(COLAB_MARKDOWN),
        colab_cell(run_dir=False),
        code('''
if IN_COLAB:
    SWEEP_DIR = f"{DRIVE_DIR}/runs/sweep_{PRESET}"
print(f"Sweep folder: {SWEEP_DIR}")
'''),
        md("""
## The plan

`SweepSpec` holds the base config, the factors and their values, and the baseline. Each
variant is named from its values; that name is its run directory, so the same sweep always
finds its own runs again.
"""),
        code('''
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's start-up messages
import pandas as pd
from IPython.display import Image, Markdown, display

from t2ilib.config import preset
from t2ilib.sweeps import SweepSpec, default_sweep, run_sweep

base = preset(PRESET).replace(**{"data.data_dir": DATA_DIR, "data.dataset": DATASET})
if EPOCHS is not None:
    base = base.replace(**{"train.epochs": EPOCHS})
spec = default_sweep(base) if FACTORS is None else SweepSpec(base, FACTORS, mode=MODE, baseline=BASELINE)
print(f"mode: {spec.mode}; baseline: {spec.baseline}")
pd.DataFrame([{"run directory": v.name, "changes": v.factor or "baseline", **v.values} for v in spec.variants()])
'''),
        md("""
## Run the sweep

Each variant is an ordinary `train_stage1` run (checkpoints, sample grids, history.csv, the
collapse guard, the best checkpoint). A variant whose `metrics.json` says it reached its epochs
is skipped; variants that differ only in epochs continue one another instead of starting over.
"""),
        code('''
started = time.perf_counter()
table = run_sweep(spec, SWEEP_DIR, verbose=VERBOSE, num_captions=NUM_CAPTIONS, num_noise=NUM_NOISE)
print(f"{time.perf_counter() - started:.0f} s")
'''),
        md("""
## One figure per factor

Rows are fixed test captions; each column is a variant (its value on top), with `NUM_NOISE`
columns each; every variant draws with the same noise vectors. Look for colours, backgrounds
and positions that follow the caption, for columns that are identical whatever the caption
(collapse), and for flat single-colour cells (the report's epoch-490 images).
"""),
        code('''
for path in sorted(Path(SWEEP_DIR, "comparisons").glob("*.png")):
    display(Markdown(f"**{path.stem}**"))
    display(Image(filename=str(path)))
'''),
        md("""
## Loss curves, overlaid

The discriminator and generator losses of the variants of each factor (and the shapes fidelity
on the built-in dataset), from each run's `history.csv`. Low generator loss is not the goal:
the report's lowest-loss settings were not its best-looking ones. Read the curves with the grids.
"""),
        code('''
for path in sorted(Path(SWEEP_DIR, "curves").glob("*.png")):
    display(Image(filename=str(path)))
'''),
        md("""
## The results table

One row per variant (also `results.csv` and `results.md` in the sweep folder): the last
losses, the guard's spreads (across captions, within images) and its **collapsed** flag, the
shapes fidelity against the mismatched-caption baseline (built-in dataset only), and MS-SSIM
between the samples of one caption (1 = no diversity). For FID, Inception Score and
R-precision of any run directory, use notebook 08.
"""),
        code('''
shown = [c for c in ["variant", "changed", "epochs_trained", "d_loss", "g_loss", "caption_spread", "image_spread",
                     "collapsed", "fidelity", "fidelity_mismatched", "ms_ssim"] if c in table]
table[shown]
'''),
        md("""
## What a short run shows

The smoke run (the tiny preset at epoch 0 and after one epoch of three batches; the second
continues a copy of the first) only shows that the machinery works: both columns are flat gray,
the guard reports them as not yet varied, and the numbers sit at chance. The comparisons mean something after real training:
on the built-in dataset, the `quickstart` preset (about 8 minutes a variant on a CPU); on
Flickr8k, tens to hundreds of epochs a variant on a GPU.
"""),
    ]
