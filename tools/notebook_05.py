"""Cells of notebooks/05_glove_vae.ipynb: the report's GloVe "VAE" models and the improved conditional VAE.

`cells()` returns the cell list; tools/make_notebooks.py writes the notebook from it.
"""

from __future__ import annotations

from make_notebooks import COLAB_MARKDOWN, REPO_URL, code, colab_cell, md


def cells():
    return [
        md("""
# 05 · The GloVe text-to-image "VAE": the report's three models and an improved one

The second report turned a caption into an image with a small network: the caption's GloVe
vectors are summed into one 50-d vector, passed through a VAE-like bottleneck, and decoded by
Dense layers into 64×64×3 pixels. Its loss stalled at 0.0667 from the second epoch and every
caption gave the same picture. This notebook rebuilds its three models exactly (the parameter
counts match), trains them next to an **improved conditional VAE** with a convolutional
decoder, and compares all of them with honest numbers instead of "accuracy": reconstruction
MSE / PSNR / SSIM on held-out pairs, the KL term, the *spread* of the outputs across different
captions (a model that draws one mean image for every caption is flagged as collapsed), and
the shapes fidelity of the built-in dataset.

A CPU runtime is enough for the shapes dataset; use a GPU for Flickr8k.
"""),
        md("""
## Settings

`EPOCHS` and `IMPROVED_EPOCHS` are the epochs each run should reach; raise them and run the
training cell again to continue from the last checkpoint. `GLOVE_PATH` is the real
`glove.6B.50d.txt` (see `t2ilib.text.glove`); leave it `None` on the shapes dataset to use a
stand-in (below).
"""),
        code(f'''
import os

SMOKE = os.environ.get("T2ILIB_SMOKE", "0") == "1"  # CI / laptop check: 120 shapes images, a few epochs, CPU

DATASET = "shapes"  # "shapes" (built in, has ground truth), "flickr8k" (needs GLOVE_PATH) or a folder path
DATA_DIR = os.environ.get("T2ILIB_DATA_DIR", "t2ilib_data")  # becomes a Google Drive folder in Colab
RUN_ROOT = os.environ.get("T2ILIB_RUN_DIR", "runs/glove_vae")  # one run directory per model below it
GLOVE_PATH = None  # e.g. f"{{DATA_DIR}}/glove.6B.50d.txt"; None: Word2Vec stand-in (shapes only)
NUM_IMAGES = 600  # size of the built-in shapes dataset
EPOCHS = 10  # the report's models (their loss stalls after 2 epochs anyway)
IMPROVED_EPOCHS = 60  # the improved conditional VAE
IMPROVED_LEARNING_RATE = 2e-3
BATCH_SIZE = 32
EXTRA_EPOCHS = 1  # the "resume" cell trains the improved model this many more epochs
NUM_CAPTIONS = 6  # rows of the comparison figure
SEED = 0
VERBOSE = 2  # 1: a progress bar per epoch, 2: one line per epoch
REPO_URL = "{REPO_URL}"  # the kit's repository (or your course's fork), cloned in Colab

if SMOKE:
    DATASET, NUM_IMAGES, EPOCHS, IMPROVED_EPOCHS, IMPROVED_LEARNING_RATE = "shapes", 120, 2, 8, 3e-3
    VERBOSE, NUM_CAPTIONS = 0, 4
''', tags=["parameters"]),
        md(COLAB_MARKDOWN),
        colab_cell(),
        md("""
In Colab the run directories go to Google Drive too, so checkpoints survive a runtime reset.
"""),
        code('''
if IN_COLAB:
    RUN_ROOT = f"{DRIVE_DIR}/runs/glove_vae"
print("run directories under", RUN_ROOT)
'''),
        md("""
## The settings of every run

`VAEConfig` (in `t2ilib.training.vae`) holds every knob of a run; it is saved as
`vae_config.json` in the run directory, and resuming with other settings is refused.
"""),
        code('''
import json
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import pandas as pd
from IPython.display import Image, display

from t2ilib.models import ConditionalVAE, report_model
from t2ilib.training.vae import VAEConfig, compare_vaes, prepare_vae_data, train_vae

RUN_ROOT = Path(RUN_ROOT)
common = dict(dataset=DATASET, data_dir=DATA_DIR, shapes_num_images=NUM_IMAGES, glove_path=GLOVE_PATH,
              batch_size=BATCH_SIZE, seed=SEED)
configs = {
    "report1": VAEConfig(epochs=EPOCHS, **common),
    "report2": VAEConfig(epochs=EPOCHS, **common),
    "report3": VAEConfig(epochs=EPOCHS, **common),
    "improved": VAEConfig(epochs=IMPROVED_EPOCHS, learning_rate=IMPROVED_LEARNING_RATE, **common),
}
print(json.dumps(asdict(configs["improved"]), indent=2))
'''),
        md("""
## The data: summed GloVe vectors in, letterboxed images out

The report's input is the **sum** of the GloVe vectors of the cleaned caption's first 100
tokens (`GloveEncoder`), its target the image fitted into a black 256×256 square, resized to
64×64 and divided by 255 (`letterbox`). One target per image; each training caption is one
(caption, image) pair. Held-out pairs are the test split's captions.

**About the word vectors here.** Without `GLOVE_PATH` (smoke mode, CI, offline) the kit trains
a 50-d Word2Vec on the shapes *training* captions and writes it in GloVe's text format, so the
very same `GloveEncoder` reads it. These are not Stanford's GloVe vectors; they are a
stand-in trained on a few hundred captions. With the real file, set `GLOVE_PATH`.
"""),
        code('''
data = prepare_vae_data(configs["improved"])
train_rows = data.prepared.split("train")
print(f"{len(data.prepared.captions):,} captions, {len(train_rows):,} training pairs, "
      f"{len(data.prepared.split('test')):,} held-out pairs")
print(f"word vectors: {data.encoder.path}  ->  embeddings {data.embeddings.shape}")
print(f"targets: {data.targets.shape} {data.targets.dtype} in [{data.targets.min():.0f}, {data.targets.max():.0f}]")
'''),
        md("""
## The four models and their sizes

The report's models (`report_model(n)`, `t2ilib.models.vae`) differ in encoder width, latent
size, dropout and learning rate; each has about 7.6 million weights, nearly all in the last
Dense layer (600 → 12,288 pixels). The improved model (`t2ilib.models.cvae`) is a conditional
VAE: at training time its encoder sees the image *and* the caption; at test time it decodes the
caption with a sample of the prior N(0, I). Its decoder is convolutional.
"""),
        code('''
expected = {1: 7_646_388, 2: 7_646_388, 3: 7_588_638}
for number, count in expected.items():
    model, optimizer = report_model(number)
    print(f"report model {number}: {model.count_trainable_parameters():>10,} trainable parameters "
          f"(report: {count:,}; match: {model.count_trainable_parameters() == count}), "
          f"RMSprop lr {float(optimizer.learning_rate):g}")
improved = ConditionalVAE(embedding_dim=data.embeddings.shape[1]).build_for()
print(f"improved (conditional VAE): {improved.count_trainable_parameters():>10,} trainable parameters")
del model, improved
'''),
        md("""
## Train

`train_vae(name, run_dir, config)` prepares the data (cached), builds the model, restores the
last checkpoint of `run_dir` if there is one, and calls `model.fit`; after every epoch it saves
a checkpoint (model, optimizer, epoch) and appends the losses to `history.csv`. At the end it
writes the held-out numbers to `metrics.json`. After a runtime reset, run the notebook again
from the top: every run continues where it stopped.
"""),
        code('''
metrics = {}
for name, config in configs.items():
    started = time.perf_counter()
    metrics[name] = train_vae(name, RUN_ROOT / name, config, verbose=VERBOSE)
    print(f"{name:9s} {metrics[name]['epochs_trained']:3d} epochs, {time.perf_counter() - started:5.1f} s, "
          f"held-out MSE {metrics[name]['mse']:.4f}, spread {metrics[name]['output_spread']:.4f}")
'''),
        md("""
## Resume

The same call with a higher epoch target continues the run: it prints `Resuming ... at
epoch N` and the optimizer's step counter goes on from where it was.
"""),
        code('''
steps_before = metrics["improved"]["optimizer_steps"]
configs["improved"].epochs += EXTRA_EPOCHS
metrics["improved"] = train_vae("improved", RUN_ROOT / "improved", configs["improved"], verbose=VERBOSE)
print(f"optimizer steps: {steps_before} -> {metrics['improved']['optimizer_steps']}")
pd.read_csv(RUN_ROOT / "improved" / "history.csv").tail(3)
'''),
        md("""
## Side by side: same captions, same seeds, one figure, one table

`compare_vaes` loads every run at its latest checkpoint and gives all of them the same
held-out captions (the improved model also the same prior samples, fixed by the seed). The
table adds the **mean training image** as a model: what a collapsed model converges to.

- `mse`, `psnr`, `ssim`: the generated image against the true image of the held-out pair.
- `kl`: the KL term on held-out pairs (report: q(z | caption); improved: q(z | image, caption)).
- `output_spread`: mean per-pixel standard deviation across the outputs of different captions;
  `collapsed` when below 0.01: one image whatever the caption.
- `fidelity`: share of shape / colour / position / background that the image gets right
  (shapes only); `fidelity_mismatched`: the same images scored against other captions.
  A model that ignores its caption scores the same on both.
"""),
        code('''
table = compare_vaes({f"report {n}": RUN_ROOT / f"report{n}" for n in (1, 2, 3)} | {"improved": RUN_ROOT / "improved"},
                     RUN_ROOT / "comparison", num_captions=NUM_CAPTIONS, seed=SEED)
display(table.round(4))
display(Image(filename=str(RUN_ROOT / "comparison" / "comparison.png")))
'''),
        md("""
## The verdict, from the numbers
"""),
        code('''
for row in table.itertuples():
    if row.model == "mean training image":
        continue
    follows = "n/a" if pd.isna(row.fidelity) else f"{row.fidelity:.2f} vs {row.fidelity_mismatched:.2f} mismatched"
    state = "COLLAPSED: one image for every caption" if row.collapsed else "outputs differ by caption"
    print(f"{row.model:10s} spread {row.output_spread:.4f} ({state}); fidelity {follows}")
'''),
        md("""
## What this shows, and what it does not

The report's models learn the constant image that minimises the mean squared error, the mean
training image: their spread is (close to) zero and their MSE is that of the mean image
(compare the last row). The caption enters only through a 50-d vector that the KL term pushes
towards pure noise, and nothing in the loss rewards using it. The improved model keeps the
caption as a condition and decodes it with convolutions, so its outputs change with the
caption and its fidelity rises above the mismatched baseline.

A smoke run (120 images, a few epochs) shows only that everything runs and that the report's
models collapse at once; the improved model's pictures are still blurry there. With the
defaults (600 images, 60 epochs) its shapes, colours and backgrounds follow the captions
more clearly. Flickr8k photos have no ground truth, so there only MSE/PSNR/SSIM, KL and the
spread apply; do not expect recognisable photos from a model of this size.
"""),
    ]
