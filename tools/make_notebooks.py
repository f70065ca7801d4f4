"""Write notebooks 01-03 from the cell texts below (the notebooks are generated; edit here).

    python tools/make_notebooks.py            # (re)write notebooks/01_..., 02_..., 03_...
    python tools/make_notebooks.py --check    # exit 1 if a committed notebook differs from this file

Why a script: a notebook is JSON, awkward to review and to edit in a pull request. Here
every cell is a plain string, the notebooks come out without outputs or execution counts,
and cell ids are fixed (`01-05`, ...) so a re-run changes only what you changed.
Notebooks hold settings, explanations and pictures; the logic lives in `t2ilib`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"

# The repository the README's "Open in Colab" badges point at; a course fork changes this line.
REPO_URL = "https://github.com/t2ilib/t2ilib.git"


def md(text: str):
    return nbformat.v4.new_markdown_cell(text.strip("\n"))


def code(text: str, tags=None):
    cell = nbformat.v4.new_code_cell(text.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def colab_cell(run_dir: bool = False):
    """The Colab-only setup cell: Drive, the kit, the data. Skipped everywhere else."""
    run_line = '    RUN_DIR = f"{DRIVE_DIR}/runs/stage1_{PRESET}"\n' if run_dir else ""
    shown = 'print(f"In Colab: {IN_COLAB}. DATA_DIR = {DATA_DIR}' + (', RUN_DIR = {RUN_DIR}' if run_dir else "") + '")'
    return code(f'''
import sys

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    from google.colab import drive

    drive.mount("/content/drive")
    DRIVE_DIR = "/content/drive/MyDrive/t2ilib"  # on Google Drive: survives runtime resets
    DATA_DIR = f"{{DRIVE_DIR}}/data"
{run_line}    KIT_DIR = "/content/t2ilib"  # the kit's code; put it under DRIVE_DIR to keep your own edits
    if not os.path.isdir(KIT_DIR):
        !git clone --depth 1 {{REPO_URL}} {{KIT_DIR}}
    os.chdir(KIT_DIR)
    sys.path.insert(0, KIT_DIR)  # `import t2ilib` works at once, no runtime restart after `pip install -e`
    SETUP_FLAGS = "--flickr8k" if DATASET == "flickr8k" else ""
    !bash colab_setup.sh --data-dir "{{DATA_DIR}}" {{SETUP_FLAGS}}
{shown}
''')


COLAB_MARKDOWN = """
## Colab only: Google Drive, the kit and the data

In Colab this cell mounts your Google Drive, fetches the kit and runs `colab_setup.sh`, which
installs what Colab lacks without touching its TensorFlow and, for Flickr8k, downloads the
dataset once into `MyDrive/t2ilib/data`. Everything the kit writes goes to Drive, so a runtime
reset loses nothing. Outside Colab the cell does nothing.
"""


# ---------------------------------------------------------------------------------------
# 01: data splits
# ---------------------------------------------------------------------------------------
def notebook_01():
    return [
        md("""
# 01 · Flickr8k: captions, splits and the image cache

This notebook turns a folder of images and captions into what training reads: a captions
table with a split for every caption (written as CSV files) and a cache of resized images.
In Colab it uses the real Flickr8k (8,091 photos, 5 captions each). In smoke mode
(`T2ILIB_SMOKE=1`, what CI runs) it uses the kit's built-in *shapes* dataset, which is written
in exactly the same format, so every cell below works on both.

A CPU runtime is enough for this notebook.
"""),
        md("""
## Settings

Edit the UPPER_CASE values, then run the cells in order. In smoke mode the last lines switch to
the tiny built-in dataset and to the folders given by `T2ILIB_DATA_DIR`.
"""),
        code(f'''
import os

SMOKE = os.environ.get("T2ILIB_SMOKE", "0") == "1"  # CI / laptop check: built-in data, CPU, seconds

PRESET = "colab"  # settings preset: tiny | quickstart | colab | official
DATASET = "flickr8k"  # "flickr8k" (downloaded by colab_setup.sh), "shapes" (built in) or a folder path
DATA_DIR = os.environ.get("T2ILIB_DATA_DIR", "t2ilib_data")  # becomes a Google Drive folder in Colab
NUM_EXAMPLES = 3  # images shown with their five captions
REPO_URL = "{REPO_URL}"  # the kit's repository (or your course's fork), cloned in Colab

if SMOKE:
    PRESET, DATASET = "tiny", "shapes"
''', tags=["parameters"]),
        md(COLAB_MARKDOWN),
        colab_cell(),
        md("""
## The configuration

Every step of the kit reads one `RunConfig` (`t2ilib.config`). This notebook needs only its
`data` section: which dataset, where the files go, which split rule, and the image size.
"""),
        code('''
import json
import math
import re
import textwrap
import time

import matplotlib.pyplot as plt
from IPython.display import display
from PIL import Image

from t2ilib.config import preset
from t2ilib.data import flickr8k
from t2ilib.data.prepare import dataset_root, prepare_data
from t2ilib.data.shapes import ATTRIBUTES, parse_caption

config = preset(PRESET).replace(**{"data.data_dir": DATA_DIR, "data.dataset": DATASET})
print(json.dumps(config.to_dict()["data"], indent=2))
'''),
        md("""
## 1. The Flickr8k format

A dataset folder holds a token file with one caption per line,
`<image>.jpg#<k><TAB><caption>` with `k` = 0..4, three optional lists of image names (the
official train/dev/test split) and a folder of JPEGs. `find_dataset_files` finds the pieces.
For the built-in `shapes` dataset, `dataset_root` first draws the images (once).
"""),
        code('''
root = dataset_root(config.data)
files = flickr8k.find_dataset_files(root)
for name, path in vars(files).items():
    print(f"{name:12s} {path}")
'''),
        md("""
The first lines of the token file, exactly as stored (`\\t` is the TAB):
"""),
        code('''
with open(files.token_file, encoding="utf-8") as token_file:
    for _, line in zip(range(6), token_file):
        print(repr(line))
'''),
        md("""
## 2. Reading the captions, and the `.jpg.1` drop

In the real token file, the 5 lines of the key `2258277193_586949ec62.jpg.1` name an image
that is not in the image zip (the real file has no `.1`). `read_captions` drops them and
says so once, in a warning. Captions whose image file is missing are dropped the same way.
On Flickr8k: 40,460 lines -> **40,455 captions of 8,091 images, 8,091 per caption number**.
"""),
        code('''
lines = files.token_file.read_text(encoding="utf-8").splitlines()
broken = sorted({line.split("\\t")[0].split("#")[0] for line in lines if re.search(r"\\.jpe?g\\.\\d+#", line)})
print(f"{len(lines):,} lines in {files.token_file.name}; keys ending in '.jpg.<n>': {broken or 'none'}")

captions = flickr8k.read_captions(files.token_file, files.images_dir)
print(f"{len(captions):,} captions of {captions['image'].nunique():,} images")
print("captions per caption number:", captions["caption_index"].value_counts().sort_index().to_dict())
captions.head()
'''),
        md("""
The same rule on a two-line token file, so you can see the warning whatever the dataset:
"""),
        code('''
import tempfile
from pathlib import Path

with tempfile.TemporaryDirectory() as folder:
    example = Path(folder) / "Flickr8k.token.txt"
    example.write_text("1000268201_693b08cb0e.jpg#0\\tA child in a pink dress .\\n"
                       "2258277193_586949ec62.jpg.1#0\\tA caption whose image does not exist .\\n", encoding="utf-8")
    print(flickr8k.read_captions(example))
'''),
        md("""
## 3. The split rule of the StackGAN+BERT report

The report split *captions*, not images: captions #1–#4 of every image are for training;
captions #0, in file order, go 90 % to validation and the last 10 % to test. On Flickr8k that
is **32,364 / 7,281 / 810** (0.9 × 8,091 = 7,281.9: validation takes the floor).
"""),
        code('''
by_rule = flickr8k.assign_splits(captions, files, rule="reports")
first = int((by_rule["caption_index"] == 0).sum())
print(f"captions #0: {first:,}  ->  validation floor(0.9 x {first:,}) = {math.floor(round(0.9 * first, 9)):,}, test the rest")
counts = by_rule["split"].value_counts().reindex(list(flickr8k.SPLITS), fill_value=0)
print(counts.to_string(), f"\\ntotal       {counts.sum():,}")
if DATASET == "flickr8k":
    print("matches the report (32,364 / 7,281 / 810):", counts.tolist() == [32_364, 7_281, 810])
'''),
        md("""
One consequence to keep in mind: every validation and test image was also seen in training,
with its other four captions. The rule tests new *captions*, not new pictures.
"""),
        code('''
train_images = set(by_rule.loc[by_rule["split"] == "train", "image"])
test_images = set(by_rule.loc[by_rule["split"] == "test", "image"])
print(f"test images also in train: {len(test_images & train_images):,} of {len(test_images):,}")
'''),
        md("""
## 4. The official image lists

Flickr8k also ships an image-level split, `Flickr_8k.{train,dev,test}Images.txt`: **6,000 /
1,000 / 1,000 images**, disjoint; 91 valid images are in none of the lists (their captions are
dropped, with a warning). Use it when test pictures must be new; set
`data.split_rule = "official"` in the config. The shapes dataset's lists hold 80/10/10 %.
"""),
        code('''
official = flickr8k.assign_splits(captions, files, rule="official")
images_per_split = official.groupby("split")["image"].nunique().reindex(list(flickr8k.SPLITS), fill_value=0)
print("images per split:", images_per_split.to_dict())
print(f"images in none of the lists: {captions['image'].nunique() - official['image'].nunique():,}")
'''),
        md("""
## 5. Split CSVs and the image cache: `prepare_data`

`prepare_data` does all of the above with the configured rule, writes
`splits/{captions,train,validation,test}.csv`, and decodes every image once into a uint8
array on disk (resized to 76/64 of the training size, ready for StackGAN's random crop).
Training memory-maps that file, so it never holds 8,000 decoded photos in RAM. A second call
reuses the files: in Colab the first call reads 8,091 JPEGs from Drive (minutes), later ones
take seconds.
"""),
        code('''
started = time.perf_counter()
prepared = prepare_data(config.data)
print(f"prepare_data: {time.perf_counter() - started:.1f} s")

for path in sorted((prepared.work_dir / "splits").glob("*.csv")):
    print(f"{path.name:16s} {len(flickr8k.read_split_csv(path)):>7,} rows   {path}")
cache = prepared.cache
print(f"image cache: {cache.array.shape} {cache.array.dtype}, {cache.array.nbytes / 1e6:.1f} MB in {cache.path}")
'''),
        md("""
The captions table that training reads: one row per caption, its split, and `row`, the
image's row in the cache.
"""),
        code('''
prepared.captions.head(7)
'''),
        md("""
## 6. A few images with their five captions

Left: the file as stored. Middle: the cached copy the model trains on. Right: the five
captions with their split.
"""),
        code('''
examples = prepared.captions["image"].drop_duplicates().head(NUM_EXAMPLES).tolist()
figure, axes = plt.subplots(len(examples), 3, figsize=(13, 2.8 * len(examples)), squeeze=False,
                            gridspec_kw={"width_ratios": [1.3, 1, 3.2]})
for (original_axis, cached_axis, text_axis), image_name in zip(axes, examples):
    these = prepared.captions[prepared.captions["image"] == image_name].sort_values("caption_index")
    with Image.open(files.images_dir / image_name) as original:
        original_axis.imshow(original.convert("RGB"))
        original_axis.set_title(f"{image_name}  {original.width}x{original.height}", fontsize=8)
    cached_axis.imshow(cache.array[these["row"].iloc[0]])
    cached_axis.set_title(f"cache {cache.size}x{cache.size}", fontsize=8)
    text = "\\n".join(textwrap.fill(f"#{k} [{split}] {caption}", 100, subsequent_indent="      ")
                     for k, split, caption in these[["caption_index", "split", "caption"]].itertuples(index=False))
    text_axis.text(0, 0.5, text, va="center", fontsize=8)
    for axis in (original_axis, cached_axis, text_axis):
        axis.axis("off")
plt.tight_layout()
plt.show()
'''),
        md("""
## 7. The shapes dataset: ground truth

Only the built-in dataset knows what each picture shows: shape, colour, vertical position
and background. That table is what lets `t2ilib.metrics.fidelity` check whether a generated
image matches its caption; `parse_caption` reads the same four attributes back out of any
caption, including ones you type.
"""),
        code('''
if prepared.attributes is None:
    print("This dataset has no attributes table: Flickr8k has captions only.")
else:
    per_image = prepared.attributes.drop_duplicates("image")
    display(per_image.head(8))
    for name in ATTRIBUTES:
        print(f"{name:10s}", per_image[name].value_counts().sort_index().to_dict())
    example = prepared.captions["caption"].iloc[0]
    print(f"\\nparse_caption({example!r})\\n  -> {parse_caption(example)}")
'''),
        md("""
## What you have now

`DATA_DIR/prepared/<dataset>/` holds the split CSVs and the image cache; notebook 02 embeds
the captions and notebook 03 trains on both. Nothing here needs to be re-run after a
runtime reset: the next `prepare_data` call finds the files and returns in seconds.
"""),
    ]


# 02 (text embeddings): tools/notebook_02.py


# ---------------------------------------------------------------------------------------
# 03: StackGAN Stage-I
# ---------------------------------------------------------------------------------------
def notebook_03():
    return [
        md("""
# 03 · StackGAN Stage-I: train, resume, look, generate

Stage-I of StackGAN (Zhang et al., 2017) draws a 64×64 image from a caption embedding and
random noise; a discriminator judges whether an image is real *and* matches its caption.
This notebook trains it with the StackGAN+BERT report's best settings, with checkpoints on
Google Drive so training survives Colab's session limits, then shows sample grids, loss
curves, a few numbers, and images for captions you write.

Use a GPU runtime in Colab. Run notebook 02 first: it computes the BERT embeddings on the GPU.
"""),
        md("""
## Settings

`EPOCHS` is the number of epochs the run should reach. To train longer, raise it and run
the training cell again: the run continues from its last checkpoint.
"""),
        code(f'''
import os

SMOKE = os.environ.get("T2ILIB_SMOKE", "0") == "1"  # CI / laptop check: tiny model, built-in data, CPU

PRESET = "colab"  # the report's best: BERT, batch 128, Adam 2e-4, LeakyReLU (see the config below)
DATASET = "flickr8k"  # "flickr8k", "shapes" (built in) or a folder path
DATA_DIR = os.environ.get("T2ILIB_DATA_DIR", "t2ilib_data")  # becomes a Google Drive folder in Colab
RUN_DIR = os.environ.get("T2ILIB_RUN_DIR", "runs/stage1_colab")  # checkpoints, samples, history, metrics
EPOCHS = 20  # train up to this epoch; raise and re-run to continue
EXTRA_EPOCHS = 1  # the "resume" cell trains this many more epochs
VERBOSE = 1  # 1: a progress bar per epoch, 2: one line per epoch
NEW_CAPTIONS = ["A dog runs across a green field .", "A man in a red shirt climbs a rock .",
                "Two children play in the sand at the beach ."]
NUM_PER_CAPTION = 4  # images per new caption (different noise)
REPO_URL = "{REPO_URL}"  # the kit's repository (or your course's fork), cloned in Colab

if SMOKE:
    PRESET, DATASET, EPOCHS, VERBOSE = "tiny", "shapes", 2, 2
    NEW_CAPTIONS = ["A red circle at the top on a black background .",
                    "A blue square in the middle on a white background ."]
''', tags=["parameters"]),
        md(COLAB_MARKDOWN),
        colab_cell(run_dir=True),
        md("""
## The configuration

One `RunConfig` holds every setting of the run; it is saved as `RUN_DIR/config.json`. The
`colab` preset is the report's best combination: BERT sentence embeddings, batch 128, Adam
with learning rate 2e-4 (beta_1 0.5, halved every 50 epochs as in the official code), and
LeakyReLU in the generator's last hidden block. The widths are StackGAN's (gf 128, df 64,
Ng 128, Nz 100). The `tiny` preset of smoke mode shrinks everything to run in seconds.
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

# TensorFlow takes all GPU memory by default; growing on demand leaves room for BERT (torch),
# which embeds captions in this same process when they are not cached yet.
for gpu in tf.config.list_physical_devices("GPU"):
    tf.config.experimental.set_memory_growth(gpu, True)

from t2ilib.config import preset
from t2ilib.data.prepare import prepare_data
from t2ilib.models import StageIGenerator, build_stage1
from t2ilib.training.stage1 import embed_all_captions, generate, summarize, train_stage1
from t2ilib.viz import save_sample_grid

config = preset(PRESET).replace(**{"data.data_dir": DATA_DIR, "data.dataset": DATASET, "train.epochs": EPOCHS})
RUN_DIR = Path(RUN_DIR)
print(json.dumps(config.to_dict(), indent=2))
'''),
        md("""
## The data and the caption embeddings

The split and image cache of notebook 01, and one embedding per caption from the configured
encoder, read from the cache that notebook 02 wrote (computed now if it is not there; BERT on
the CPU takes a while).
"""),
        code('''
prepared = prepare_data(config.data, progress=False)
encoder, embeddings = embed_all_captions(config, prepared)
print(f"{len(prepared.captions):,} captions ({len(prepared.split('train')):,} for training), "
      f"image cache {prepared.cache.array.shape}")
print(f"embeddings from {encoder.cache_key()}: {embeddings.shape}")
'''),
        md("""
## The models and their sizes

`build_stage1` makes the generator, the discriminator and the `keras.Model` that trains them
together (`StackGANStage1`, whose `train_step` holds both losses), compiled with the two
optimizers. Trainable weights are what the optimizers change; the non-trainable ones are
BatchNorm's moving statistics.
"""),
        code('''
def count(model):
    trainable = sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)
    return trainable, model.count_params() - trainable


gan = build_stage1(config, embedding_dim=embeddings.shape[1], steps_per_epoch=1)
for network in (gan.generator, gan.discriminator):
    trainable, frozen = count(network)
    print(f"{network.name:14s} {trainable:>12,} trainable  {frozen:>8,} non-trainable")
del gan  # train_stage1 builds its own
'''),
        md("""
A check against the paper: at the official widths with the original 1,024-d char-CNN-RNN
text embedding, the Stage-I generator has **10,301,248** trainable parameters, in the
official code and here.
"""),
        code('''
reference = StageIGenerator(embedding_dim=1024).build_for()
print(f"official Stage-I generator: {count(reference)[0]:,} trainable parameters (paper code: 10,301,248)")
del reference
'''),
        md("""
## Train

`train_stage1(config, RUN_DIR)` embeds (cached), builds the models, restores the last
checkpoint if `RUN_DIR` has one, and calls `model.fit` with callbacks that, after every
epoch, save a checkpoint (both networks, both optimizers, the epoch), draw a sample grid from
fixed captions and fixed noise, and append the losses to `history.csv`.

**After a runtime reset**, run the notebook again from the top: the setup cell remounts Drive
and this cell resumes at the last saved epoch, with the same optimizer state and the same
point of the learning-rate schedule (the schedule reads the optimizer's step counter).
Changing a setting that would change what is trained (batch size, encoder, ...) is refused
with a message; use a new `RUN_DIR` for a new experiment.
"""),
        code('''
started = time.perf_counter()
metrics = train_stage1(config, RUN_DIR, verbose=VERBOSE)
print(f"{time.perf_counter() - started:.0f} s; checkpoints: {sorted(p.name for p in (RUN_DIR / 'checkpoints').glob('*.index'))}")
'''),
        md("""
## Resume

The same call with a higher epoch target continues where the run stopped: it prints
`Resuming ... at epoch N`, and `history.csv` gets new rows rather than a fresh start.
"""),
        code('''
config = config.replace(**{"train.epochs": config.train.epochs + EXTRA_EPOCHS})
metrics = train_stage1(config, RUN_DIR, verbose=VERBOSE)
pd.read_csv(RUN_DIR / "history.csv")[["epoch", "d_loss", "g_loss", "kl", "real_score", "fake_score"]].tail(6)
'''),
        md("""
## Sample grids

Each row is one fixed test caption, each column one fixed noise vector; every epoch draws the
same grid, so two grids differ only by what the generator learnt in between. First and
latest epoch:
"""),
        code('''
grids = sorted((RUN_DIR / "samples").glob("epoch_*.png"))
print(f"{len(grids)} grids in {RUN_DIR / 'samples'}")
for path in dict.fromkeys([grids[0], grids[-1]]):
    print(path.name)
    display(Image(filename=str(path)))
'''),
        md("""
## Loss curves

`d_loss` is the discriminator's loss (real -> 1, plus half of mismatched-real and fake -> 0);
`g_loss` the generator's (fake -> 1, plus 2 × the KL term of conditioning augmentation). In a
healthy GAN neither wins for long: a `d_loss` that falls towards 0 while `g_loss` climbs means
the discriminator has won and the images stop improving.
"""),
        code('''
display(Image(filename=str(RUN_DIR / "loss_curves.png")))
'''),
        md("""
## Numbers

On the shapes dataset the ground truth of every test caption is known, so `summarize` says how
often the generated image shows the caption's shape, colour, position and background,
compared with the same images scored against mismatched captions (what a generator that ignores
its text would get). Flickr8k has no such ground truth: judge the grids here and use the
evaluation notebook for FID and Inception Score.
"""),
        code('''
print(summarize(metrics))
'''),
        md("""
## Your own captions

`generate(RUN_DIR, captions)` loads the latest checkpoint, embeds the captions with the run's
encoder and draws `NUM_PER_CAPTION` images per caption, one noise vector per column.
"""),
        code('''
images = generate(RUN_DIR, NEW_CAPTIONS, num_per_caption=NUM_PER_CAPTION)
print("images:", images.shape, images.dtype)
path = save_sample_grid(images, NEW_CAPTIONS, RUN_DIR / "samples" / "new_captions.png", title="new captions")
display(Image(filename=str(path)))
'''),
        md("""
## What a short run shows

Be honest about what the pictures can say. The smoke run (tiny widths, 32×32 images, three
epochs of three batches) only shows that the pipeline works end to end: its images are flat
gray or noise, and the fidelity numbers are at or below chance.
On Flickr8k, a first session of `EPOCHS = 20` is a start, not a
result: the report trained for hundreds of epochs (its best grids came at 390–490 epochs, and after about 490 the outputs
collapsed into flat single-colour images), at 5–7 epochs an hour on a Colab GPU. Raise
`EPOCHS`, re-run the training cell across sessions, and compare grids of the same fixed
captions as the run goes.
"""),
    ]


NOTEBOOKS = {
    "01_data_splits.ipynb": notebook_01,
    "03_stackgan_stage1.ipynb": notebook_03,
}
GPU_NOTEBOOKS = {"02_text_embeddings.ipynb", "03_stackgan_stage1.ipynb"}


def _register_later_notebooks():
    """Notebooks 04+ keep their cells in tools/notebook_0X.py (one file each)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import notebook_02
    import notebook_04
    import notebook_05

    NOTEBOOKS["02_text_embeddings.ipynb"] = notebook_02.cells
    NOTEBOOKS["04_stackgan_stage2.ipynb"] = notebook_04.cells
    NOTEBOOKS["05_glove_vae.ipynb"] = notebook_05.cells
    GPU_NOTEBOOKS.add("04_stackgan_stage2.ipynb")
    import notebook_06

    NOTEBOOKS["06_xception_baseline.ipynb"] = notebook_06.cells
    GPU_NOTEBOOKS.add("06_xception_baseline.ipynb")
    import notebook_07
    import notebook_08

    NOTEBOOKS["07_comparisons.ipynb"] = notebook_07.cells
    NOTEBOOKS["08_evaluation.ipynb"] = notebook_08.cells
    GPU_NOTEBOOKS.update({"07_comparisons.ipynb", "08_evaluation.ipynb"})


def build(name: str):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = NOTEBOOKS[name]()
    prefix = name.split("_")[0]
    for number, cell in enumerate(notebook.cells):
        cell.id = f"{prefix}-{number:02d}"  # stable ids: regenerating changes only edited cells
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "colab": {"provenance": [], "toc_visible": True},
    }
    if name in GPU_NOTEBOOKS:
        notebook.metadata["accelerator"] = "GPU"
        notebook.metadata["colab"]["gpuType"] = "T4"
    nbformat.validate(notebook)
    return notebook


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare with the committed notebooks")
    args = parser.parse_args(argv)
    NOTEBOOK_DIR.mkdir(exist_ok=True)
    _register_later_notebooks()
    stale = []
    for name in NOTEBOOKS:
        text = nbformat.writes(build(name)) + "\n"
        path = NOTEBOOK_DIR / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
            continue
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)}")
    if stale:
        print("out of date (run python tools/make_notebooks.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
