"""Cells of notebook 04 (StackGAN Stage-II); `tools/make_notebooks.py` writes the notebook."""

from __future__ import annotations

import sys
from pathlib import Path


def cells():
    # Imported here, not at the top: make_notebooks imports this module (no import cycle).
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from make_notebooks import COLAB_MARKDOWN, REPO_URL, code, colab_cell, md

    return [
        md("""
# 04 · StackGAN Stage-II: refine 64×64 into 256×256

Stage-II of StackGAN (Zhang et al., 2017) takes the 64×64 image of a trained, **frozen**
Stage-I generator, reads the caption again, and paints a 256×256 image. Its discriminator
judges 256×256 images twice: "real and matching this caption?" and "real at all?".
This notebook estimates the GPU memory, trains Stage-II on the Stage-I run of notebook 03
(checkpoints on Google Drive, resumable like Stage-I), and shows every Stage-I image beside
its Stage-II refinement, for the same caption and the same noise.

Use a GPU runtime in Colab, and run notebook 03 first: Stage-II needs its run directory.
"""),
        md("""
## Settings

`STAGE1_RUN_DIR` is the Stage-I run to refine (notebook 03's `RUN_DIR`); `RUN_DIR` is the
new Stage-II run. `EPOCHS` is the epoch the Stage-II run should reach; raise it and re-run the
training cell to continue.
"""),
        code(f'''
import os

SMOKE = os.environ.get("T2ILIB_SMOKE", "0") == "1"  # CI / laptop check: tiny models, built-in data, CPU

PRESET = "colab"  # the same preset as the Stage-I run (its stage2 section: 256x256, batch 48, mixed_float16)
DATASET = "flickr8k"  # "flickr8k", "shapes" (built in) or a folder path: the Stage-I run's
DATA_DIR = os.environ.get("T2ILIB_DATA_DIR", "t2ilib_data")  # becomes a Google Drive folder in Colab
STAGE1_RUN_DIR = "runs/stage1_colab"  # the Stage-I run of notebook 03
RUN_DIR = os.environ.get("T2ILIB_RUN_DIR", "runs/stage2_colab")  # the Stage-II run: checkpoints, samples, ...
EPOCHS = 10  # train Stage-II up to this epoch; raise and re-run to continue
EXTRA_EPOCHS = 1  # the "resume" cell trains this many more epochs
BATCH_SIZES = [16, 24, 32, 48, 64]  # rows of the memory estimate
VERBOSE = 1  # 1: a progress bar per epoch, 2: one line per epoch
NEW_CAPTIONS = ["A dog runs across a green field .", "A man in a red shirt climbs a rock ."]
NUM_PER_CAPTION = 3  # image pairs per new caption (different noise)
REPO_URL = "{REPO_URL}"  # the kit's repository (or your course's fork), cloned in Colab

if SMOKE:  # a tiny Stage-I (32x32) is trained below, next to RUN_DIR; Stage-II makes 128x128
    PRESET, DATASET, EPOCHS, VERBOSE = "tiny", "shapes", 1, 2
    STAGE1_RUN_DIR = RUN_DIR.rstrip("/") + "_stage1"
    BATCH_SIZES = [4, 8]
    NEW_CAPTIONS = ["A red circle at the top on a black background .",
                    "A blue square in the middle on a white background ."]
''', tags=["parameters"]),
        md(COLAB_MARKDOWN),
        colab_cell(run_dir=False),
        code('''
if IN_COLAB:  # both runs on Google Drive, where notebook 03 put the Stage-I run
    STAGE1_RUN_DIR = f"{DRIVE_DIR}/runs/stage1_{PRESET}"
    RUN_DIR = f"{DRIVE_DIR}/runs/stage2_{PRESET}"
print(f"Stage-I run: {STAGE1_RUN_DIR}\\nStage-II run: {RUN_DIR}")
'''),
        md("""
## The configuration

A Stage-II run takes the data, text and model sections of its Stage-I run (same captions,
same caption embeddings, same condition and noise sizes) and adds its own `stage2` section:
image size (4× Stage-I's), widths, batch size, epochs and learning rate. `train_stage2`
records the Stage-I run directory in `RUN_DIR/config.json`.
"""),
        code('''
import json
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's start-up messages
import numpy as np
import pandas as pd
import tensorflow as tf
from IPython.display import Image, display

for gpu in tf.config.list_physical_devices("GPU"):  # leave room for BERT (torch) in this process
    tf.config.experimental.set_memory_growth(gpu, True)

from t2ilib.config import preset
from t2ilib.models import StageIGenerator, StageIIGenerator
from t2ilib.training.stage1 import train_stage1
from t2ilib.training.stage2 import format_memory_estimate, generate, memory_estimate, summarize, train_stage2
from t2ilib.viz import save_stacked_grid

config = preset(PRESET).replace(**{"data.data_dir": DATA_DIR, "data.dataset": DATASET, "stage2.epochs": EPOCHS})
STAGE1_RUN_DIR, RUN_DIR = Path(STAGE1_RUN_DIR), Path(RUN_DIR)
print(json.dumps(config.to_dict()["stage2"], indent=2))
'''),
        md("""
## The Stage-I run

Stage-II starts from a trained Stage-I. In Colab this is notebook 03's run on Drive. Smoke
mode has none, so it trains a tiny one here first (two epochs, seconds).
"""),
        code('''
if SMOKE and not (STAGE1_RUN_DIR / "checkpoints").exists():
    train_stage1(config, STAGE1_RUN_DIR, verbose=0)
if not (STAGE1_RUN_DIR / "checkpoints").exists():
    raise FileNotFoundError(f"No Stage-I run in {STAGE1_RUN_DIR}: run notebook 03 first (same PRESET and DATA_DIR).")
print(f"Stage-I run: {json.loads((STAGE1_RUN_DIR / 'metrics.json').read_text())['epochs_trained']} epochs trained")
'''),
        md("""
## Memory: how large a batch fits

Stage-II is much bigger than Stage-I: 256×256 activations, a six-level discriminator. Before
training, `memory_estimate` counts the parameters and estimates the memory of one training
step for each batch size: 16 bytes per trainable parameter (weight, gradient, two Adam slots),
plus batch × (generator activations + 3 × discriminator activations: real, wrong and fake
images) × bytes per value × 2 for the backward pass. It is an estimate, not a measurement.
At the official widths with BERT it gives 9.2 GiB for batch 24 in float32 and 9.3 GiB for
batch 48 with mixed precision (float16 activations), so the `colab` preset trains with
`mixed_precision="auto"` (mixed_float16 on the GPU) and batch 48 on a 15 GB T4, keeping a
quarter of the memory free.
"""),
        code('''
print(format_memory_estimate(memory_estimate(config, BATCH_SIZES)))
'''),
        md("""
A check against the paper's code: at the official widths with the 1,024-d char-CNN-RNN
embedding, the Stage-II generator has **26,290,080** trainable parameters; the frozen Stage-I
generator inside it adds none.
"""),
        code('''
reference = StageIIGenerator(StageIGenerator(embedding_dim=1024), embedding_dim=1024).build_for(batch_size=1)
trainable = sum(int(np.prod(weight.shape)) for weight in reference.trainable_weights)
print(f"official Stage-II generator: {trainable:,} trainable parameters (paper code: 26,290,080)")
del reference
'''),
        md("""
## Train

`train_stage2(config, RUN_DIR, STAGE1_RUN_DIR)` loads the Stage-I generator from its latest
checkpoint and freezes it, prepares the real images at the Stage-II size (cached at 76/64 of
it, then a random crop and flip per sample, as for Stage-I), reuses the Stage-I run's caption
embeddings, and calls `model.fit` with the callbacks of Stage-I: a checkpoint, a sample grid
and a row of `history.csv` after every epoch. A runtime reset loses nothing: run the notebook
again and this cell resumes. The guards of Stage-I watch Stage-II too: a collapse warning as
soon as the refined images turn flat or identical for every caption, and `RUN_DIR/best/`, a copy
of the epoch with the best shapes fidelity (`train.collapse_guard`, `train.best_metric`).
"""),
        code('''
started = time.perf_counter()
metrics = train_stage2(config, RUN_DIR, STAGE1_RUN_DIR, verbose=VERBOSE)
print(f"{time.perf_counter() - started:.0f} s; checkpoints: {sorted(p.name for p in (RUN_DIR / 'checkpoints').glob('*.index'))}")
'''),
        md("""
## Resume

The same call with a higher epoch target continues the run: `Resuming ... at epoch N`, the
optimizer's step counter goes on, and `history.csv` gets new rows.
"""),
        code('''
config = config.replace(**{"stage2.epochs": config.stage2.epochs + EXTRA_EPOCHS})
metrics = train_stage2(config, RUN_DIR, STAGE1_RUN_DIR, verbose=VERBOSE)
pd.read_csv(RUN_DIR / "history.csv")[["epoch", "d_loss", "g_loss", "kl", "real_score", "fake_score"]].tail(6)
'''),
        md("""
## Stage-I beside Stage-II

Each row is a fixed test caption, each column a fixed noise vector. In every cell the left
picture is the Stage-I image (upscaled, pixels kept visible) and the right one is Stage-II's
refinement of it, so you see what the second stage adds, epoch by epoch.
"""),
        code('''
grids = sorted((RUN_DIR / "samples").glob("epoch_*.png"))
print(f"{len(grids)} grids in {RUN_DIR / 'samples'}")
for path in dict.fromkeys([grids[0], grids[-1]]):
    print(path.name)
    display(Image(filename=str(path)))
'''),
        code('''
display(Image(filename=str(RUN_DIR / "loss_curves.png")))
'''),
        md("""
## Numbers

On the shapes dataset `summarize` scores the Stage-II images of the test captions (at their
full size) and compares them with the Stage-I images they refine (same captions, same noise):
a good Stage-II keeps every attribute Stage-I got right. Because each Stage-II image is paired
with its own Stage-I image, the comparison is a paired difference with a 95% interval
(`metrics["stage2_minus_stage1"]`): "better", "same within noise" or "worse". Flickr8k has no
such ground truth: judge the grids, and use the evaluation notebook for FID and Inception Score.
"""),
        code('''
print(summarize(metrics))
'''),
        md("""
## Your own captions

`generate(RUN_DIR, captions, stage=2)` returns the pair `(stage1_images, stage2_images)` for
the same captions and noise; `stage=1` returns the Stage-I images alone (from a Stage-I or a
Stage-II run directory).
"""),
        code('''
low, high = generate(RUN_DIR, NEW_CAPTIONS, stage=2, num_per_caption=NUM_PER_CAPTION)
print("Stage-I:", low.shape, "Stage-II:", high.shape, high.dtype)
path = save_stacked_grid(low, high, NEW_CAPTIONS, RUN_DIR / "samples" / "new_captions.png", title="new captions")
display(Image(filename=str(path)))
'''),
        md("""
## What a short run shows

The smoke run (tiny widths, a 32×32 Stage-I of two epochs, a 128×128 Stage-II of two epochs
of two batches) only shows that the pipeline works end to end: both stages draw flat gray or
noise, and the fidelity numbers sit at or below chance, for Stage-II as for Stage-I.
On the CPU with the `quickstart` preset (a 40-epoch 32×32 Stage-I, Stage-II at 128×128) the
kit measured Stage-II at 0.429 against Stage-I's 0.440 after 10 epochs (paired difference −0.010,
95% interval [−0.043, +0.023]) and 0.460 against 0.440 after 20 (+0.021, [−0.017, +0.058]): the
refinement keeps the caption's attributes, within noise. It does not yet refine Stage-I's drawing
stroke by stroke: it repaints colours (right 0.35 of the time against Stage-I's 0.16) and keeps
the background less often (0.66 against 0.74). Compare the grids above. The paper trained Stage-II for 600 epochs on top of a 600-epoch Stage-I. On Flickr8k, expect
Stage-II to be slower per epoch than Stage-I; give it many sessions, and compare grids of the
same fixed captions as it goes.
"""),
    ]
