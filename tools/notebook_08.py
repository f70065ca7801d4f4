"""Cells of notebooks/08_evaluation.ipynb: FID, Inception Score, R-precision, diversity, fidelity of a run.

`cells()` returns the cell list; tools/make_notebooks.py writes the notebook from it.
"""

from __future__ import annotations

from make_notebooks import COLAB_MARKDOWN, REPO_URL, code, colab_cell, md


def cells():
    return [
        md("""
# 08 · Evaluation: FID, Inception Score, R-precision, diversity

The reports judged their models by eye (and one by a meaningless "accuracy"). This notebook
measures any Stage-I run directory against the test split with the field's metrics, each
printed with what it used (N, image size, weights), because none of them means much alone:

| metric | question | better |
|---|---|---|
| FID | do generated images look like the real ones, as a set? (InceptionV3 features) | lower |
| Inception Score | are they recognisable and varied? (InceptionV3 classes) | higher |
| R-precision | does each image match *its* caption better than 99 others? | higher (chance 0.01) |
| MS-SSIM | are samples of one caption different from each other? | lower |
| shapes fidelity | (built-in dataset) right shape, colour, position, background? | higher |

Use a GPU runtime for FID/IS on Flickr8k (InceptionV3 at 299×299 on 1,000+ images).
"""),
        md("""
## Settings

`RUN_DIR` is any Stage-I run directory (notebook 03's, or one of notebook 07's sweep).
`WEIGHTS = "imagenet"` downloads InceptionV3's ImageNet weights once (Colab); `None` builds the
same network with random weights, which runs offline but makes FID and IS **meaningless**: a
pipeline check only. FID falls as N grows: compare runs at the same `NUM_IMAGES`.
"""),
        code(f'''
import os

SMOKE = os.environ.get("T2ILIB_SMOKE", "0") == "1"  # CI / laptop check: tiny models, built-in data, CPU

PRESET = "colab"  # used only to train a run when RUN_DIR has none (smoke mode)
DATASET = "flickr8k"  # the run's dataset: "flickr8k", "shapes" or a folder path
DATA_DIR = os.environ.get("T2ILIB_DATA_DIR", "t2ilib_data")  # becomes a Google Drive folder in Colab
RUN_DIR = os.environ.get("T2ILIB_RUN_DIR", "runs/stage1_colab")  # the run directory to evaluate
CHECKPOINT = "checkpoints"  # "checkpoints" (latest epoch) or "best" (best epoch by train.best_metric)
SPLIT = "test"  # captions to generate from, and the real images to compare with
NUM_IMAGES = 1000  # captions of the split to use (None: all); compare runs at the same number
NUM_PER_CAPTION = 2  # samples per caption (MS-SSIM diversity needs 2+)
WEIGHTS = "imagenet"  # InceptionV3 weights for FID / IS; None = random (pipeline check only)
DUAL_ENCODER_EPOCHS = 20  # training of the R-precision encoder pair (once per dataset and image size)
REPO_URL = "{REPO_URL}"  # the kit's repository (or your course's fork), cloned in Colab

if SMOKE:  # a tiny run (trained below), 6 validation captions, random Inception weights
    PRESET, DATASET, SPLIT, NUM_IMAGES, WEIGHTS, DUAL_ENCODER_EPOCHS = "tiny", "shapes", "validation", 6, None, 1
''', tags=["parameters"]),
        md(COLAB_MARKDOWN),
        colab_cell(run_dir=False),
        code('''
if IN_COLAB:
    RUN_DIR = f"{DRIVE_DIR}/runs/stage1_{PRESET}"  # notebook 03's run on Drive
print(f"Run directory: {RUN_DIR}")
'''),
        md("""
## The run

In Colab this is a run trained by notebook 03 (or 07). Smoke mode has none, so it makes a
tiny one here first: 0 epochs, i.e. the initial weights (enough to check the pipeline).
"""),
        code('''
import json
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's start-up messages
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from t2ilib.config import RunConfig, preset
from t2ilib.metrics.evaluate import evaluate_run, results_table
from t2ilib.training.stage1 import train_stage1

RUN_DIR = Path(RUN_DIR)
if SMOKE and not (RUN_DIR / "checkpoints").exists():
    config = preset(PRESET).replace(**{"data.data_dir": DATA_DIR, "data.dataset": DATASET, "train.epochs": 0})
    train_stage1(config, RUN_DIR, verbose=0)
if not (RUN_DIR / "checkpoints").exists():
    raise FileNotFoundError(f"No run in {RUN_DIR}: train one first (notebook 03).")
config = RunConfig.load(RUN_DIR / "config.json")
print(f"{RUN_DIR}: {config.data.dataset}, {config.data.image_size}x{config.data.image_size}, "
      f"text encoder {config.text.encoder}, {json.loads((RUN_DIR / 'metrics.json').read_text())['epochs_trained']} epochs")
'''),
        md("""
## Evaluate

`evaluate_run` generates one image per caption of the split (plus more for diversity) with
seeded noise, quantises it to uint8 as a saved PNG would be, and scores it against the real
images of the same captions. R-precision needs a judge trained on *real* image-caption pairs
and independent of the generator's text encoder: the kit trains a small image/text encoder
pair (`t2ilib.metrics.rprecision.DualEncoder`, contrastive loss, its own Word2Vec) on the
training split once and keeps it under the data folder. The results are also written to
`RUN_DIR/evaluation.json`.
"""),
        code('''
started = time.perf_counter()
results = evaluate_run(RUN_DIR, split=SPLIT, num_images=NUM_IMAGES, num_per_caption=NUM_PER_CAPTION,
                       weights=WEIGHTS, dual_encoder_epochs=DUAL_ENCODER_EPOCHS, checkpoint_dir=CHECKPOINT)
print(f"{time.perf_counter() - started:.0f} s")
for result in results.values():
    print(result)
if WEIGHTS is None:
    print("\\nNOTE: Inception weights are random here (WEIGHTS = None): FID and Inception Score above only show "
          "that the pipeline runs. Their values mean nothing; use WEIGHTS = 'imagenet' for real numbers.")
'''),
        md("""
## The table

`value` is the metric (for split/fold metrics the mean), `std` its spread over splits (IS),
folds (R-precision) or captions (MS-SSIM), `n` the number of generated images (or pairs) and
`weights` what scored them. The `real_*` rows score the real images the same way: the ceiling
a generator can reach with this judge and this N.
"""),
        code('''
results_table(results)
'''),
        md("""
## Generated against real

Each pair of bars: the generated images and the real images of the same captions, for the
metrics that can score both. On the built-in dataset the last panel breaks the shapes fidelity
down by attribute, against chance.
"""),
        code('''
pairs = [(name, f"real_{name}") for name in ("inception_score", "r_precision") if name in results]
panels = len(pairs) + ("fidelity" in results)
figure, axes = plt.subplots(1, max(panels, 1), figsize=(3.6 * max(panels, 1), 3.2), squeeze=False)
for axis, (name, real_name) in zip(axes[0], pairs):
    values = [results[name].value, results[real_name].value]
    errors = [results[name].std or 0, results[real_name].std or 0]
    axis.bar(["generated", "real"], values, yerr=errors, color=["tab:orange", "tab:blue"], capsize=4)
    axis.set_title(f"{name} (N={results[name].n})", fontsize=9)
if "fidelity" in results:
    details = results["fidelity"].details
    names = ["shape", "colour", "position", "background"]
    axes[0, -1].bar(names, [details[n] for n in names], color="tab:green")
    axes[0, -1].axhline(details["chance"], color="gray", linestyle="--", label="chance (mean)")
    axes[0, -1].set_ylim(0, 1)
    axes[0, -1].set_title("shapes fidelity by attribute", fontsize=9)
    axes[0, -1].legend(fontsize=7)
figure.tight_layout()
plt.show()
'''),
        md("""
## How the numbers are computed

- **FID**: 2,048-d InceptionV3 average-pool features of real and generated images (resized to
  299×299 with antialiasing), their means and covariances in float64, and
  ‖μ₁−μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½). The square root is `scipy.linalg.sqrtm` with
  pytorch-fid's safeguards; with fewer images than 2,048 the kit uses an exact shortcut (an SVD
  of an N×N matrix) that gives the same number. `tests/test_metrics.py` checks both against
  independent formulas.
- **Inception Score**: exp(E KL(p(y|x) ‖ p(y))) over 10 splits (fewer when N < 10), mean ± std.
- **R-precision**: 1 true + 99 mismatched captions per image (all there are, when fewer), top-1
  by cosine similarity of the judge's codes, mean ± std over 10 folds.
- **MS-SSIM**: `tf.image.ssim_multiscale` between samples of one caption, with as many scales
  as the image size allows (64 px: 3 scales, 32 px: 2; see `t2ilib.metrics.diversity`).

Published numbers used other Inception weights (the TF1 graph; a bird-tuned one for CUB):
compare the kit's figures with each other, not with papers.
"""),
        md("""
## What a short run shows

In smoke mode the run is an untrained tiny model, the Inception network has random weights,
the judge trained for one epoch, and N is 6: every number above is a pipeline check, nothing
more. For a real evaluation use a trained run, `WEIGHTS = "imagenet"` and N ≥ 1,000 (FID is
strongly biased at small N).
"""),
    ]
