"""Cells of notebooks/06_xception_baseline.ipynb: the report's Xception feature baseline.

`cells()` returns the cell list; tools/make_notebooks.py writes the notebook from it.
"""

from __future__ import annotations

from make_notebooks import COLAB_MARKDOWN, REPO_URL, code, colab_cell, md


def cells():
    return [
        md("""
# 06 · The Xception feature baseline: image features as the condition, text mapped into them

Before BERT, the StackGAN+BERT report tried another road (footnote 1 and appendix C): describe
every image by the 2,048 numbers a pretrained **Xception** network computes for it, train a
StackGAN to redraw the image from that vector, and then learn a second network that maps a
caption onto the vector, so that text can drive the generator. The report showed two images
from that attempt and moved on. This notebook builds the whole road and measures it:

1. Xception features, computed once per image and cached;
2. a Stage-I StackGAN conditioned on them: the *same* models and training as notebook 03, only
   the condition changes, and a grid of each original image beside its reconstruction;
3. the text-to-feature mapper, with retrieval numbers (does a caption land next to its image?);
4. the text-conditioned Stage-I and the feature baseline driven by text, on the same captions
   and the same noise, side by side, with the shapes fidelity of both on the built-in dataset.

Use a GPU runtime in Colab, and run notebook 03 first: its Stage-I run is the text side of the
comparison.
"""),
        md("""
## Settings

`FEATURE_WEIGHTS = "imagenet"` is the report's pretrained Xception (downloaded once, ~80 MB).
`None` builds the same network with random weights: that runs offline, but its "features"
are random projections of the pixels, so the numbers then only check the pipeline.
`EPOCHS` is the epoch both Stage-I runs should reach; raise it and re-run to continue.
"""),
        code(f'''
import os

SMOKE = os.environ.get("T2ILIB_SMOKE", "0") == "1"  # CI / laptop check: tiny models, built-in data, CPU

PRESET = "colab"  # the preset of notebook 03's run (BERT, batch 128, ...)
DATASET = "flickr8k"  # "flickr8k", "shapes" (built in, has ground truth) or a folder path
DATA_DIR = os.environ.get("T2ILIB_DATA_DIR", "t2ilib_data")  # becomes a Google Drive folder in Colab
RUN_ROOT = os.environ.get("T2ILIB_RUN_DIR", "runs/xception_baseline")  # the comparison's files
TEXT_RUN_DIR = "runs/stage1_colab"  # the text-conditioned Stage-I run (notebook 03)
FEATURE_RUN_DIR = "runs/stage1_colab_xception"  # the feature-conditioned Stage-I run
FEATURE_WEIGHTS = "imagenet"  # "imagenet", None (random weights, offline) or a weights file
FEATURE_INPUT_SIZE = 299  # Xception's native input; 71 is its minimum
EPOCHS = 20  # both Stage-I runs train up to this epoch; raise and re-run to continue
MAPPER_EPOCHS = 40
VERBOSE = 1  # 1: a progress bar per epoch, 2: one line per epoch
NEW_CAPTIONS = ["A dog runs across a green field .", "A man in a red shirt climbs a rock .",
                "Two children play in the sand at the beach ."]
NUM_PER_CAPTION = 3  # images per caption (different noise)
SEED = 0  # noise of the comparison figures
REPO_URL = "{REPO_URL}"  # the kit's repository (or your course's fork), cloned in Colab

if SMOKE:  # both runs are trained here, under RUN_ROOT, in seconds
    PRESET, DATASET, EPOCHS, MAPPER_EPOCHS, VERBOSE = "tiny", "shapes", 1, 3, 0
    FEATURE_WEIGHTS, FEATURE_INPUT_SIZE = None, 71
    TEXT_RUN_DIR, FEATURE_RUN_DIR = f"{{RUN_ROOT}}/text", f"{{RUN_ROOT}}/xception"
    NEW_CAPTIONS = ["A red circle at the top on a black background .",
                    "A blue square in the middle on a white background ."]
''', tags=["parameters"]),
        md(COLAB_MARKDOWN),
        colab_cell(),
        md("""
In Colab every run lives on Google Drive: the text run is notebook 03's, the feature run and
the comparison sit beside it.
"""),
        code('''
if IN_COLAB:
    TEXT_RUN_DIR = f"{DRIVE_DIR}/runs/stage1_{PRESET}"
    FEATURE_RUN_DIR = f"{DRIVE_DIR}/runs/stage1_{PRESET}_xception"
    RUN_ROOT = f"{DRIVE_DIR}/runs/xception_baseline_{PRESET}"
print(f"text run: {TEXT_RUN_DIR}\\nfeature run: {FEATURE_RUN_DIR}\\ncomparison: {RUN_ROOT}")
'''),
        md("""
## Two configurations that differ in one place

`feature_run_config(config)` copies the text run's configuration and changes only the
condition: `text.encoder = "xception-features"` (with the weights and input size). Data,
models, losses, optimizer and schedule stay the same, so `train_stage1` trains both.
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
from t2ilib.data.prepare import prepare_data
from t2ilib.features import MapperConfig, build_xception, extract_features
from t2ilib.training.feature_baseline import (compare_with_text, feature_run_config, generate_from_text,
                                              reconstruction_grid, summarize_baseline, train_mapper)
from t2ilib.training.stage1 import embed_all_captions, summarize, train_stage1
from t2ilib.viz import save_sample_grid

config = preset(PRESET).replace(**{"data.data_dir": DATA_DIR, "data.dataset": DATASET, "train.epochs": EPOCHS})
feature_config = feature_run_config(config, weights=FEATURE_WEIGHTS, input_size=FEATURE_INPUT_SIZE)
TEXT_RUN_DIR, FEATURE_RUN_DIR, RUN_ROOT = Path(TEXT_RUN_DIR), Path(FEATURE_RUN_DIR), Path(RUN_ROOT)
print("text run:   ", json.dumps(config.to_dict()["text"]))
print("feature run:", json.dumps(feature_config.to_dict()["text"]))
'''),
        md("""
## Xception features, once per image

`keras.applications.Xception(include_top=False, pooling="avg")` turns an image into 2,048
numbers (the average of its last feature maps). Each image is decoded from its file at the
input size, scaled by `keras.applications.xception.preprocess_input`, and passed through once,
not once per caption: Flickr8k's 8,091 images, not its 40,455 captions. The vectors are cached
under `DATA_DIR`; later calls read the file. Every caption then gets its image's vector,
standardised with the training images' mean and spread (like the Word2Vec vectors).
"""),
        code('''
prepared = prepare_data(config.data, progress=False)
started = time.perf_counter()
condition, conditions = embed_all_captions(feature_config, prepared)
print(f"{prepared.cache.array.shape[0]:,} images -> features cached as {condition.cache_key()} "
      f"({time.perf_counter() - started:.1f} s)")
print(f"{len(prepared.captions):,} captions -> conditions {conditions.shape}; "
      f"the first two captions share an image: {bool(np.array_equal(conditions[0], conditions[1]))}")
'''),
        md("""
In inference mode (BatchNorm reads its stored statistics) an image's vector does not depend
on the other images in its batch. A quick check on four images:
"""),
        code('''
xception = build_xception(FEATURE_WEIGHTS, FEATURE_INPUT_SIZE)
sample = np.asarray(prepared.cache.array[:4])
alone, together = extract_features(xception, sample, batch_size=1), extract_features(xception, sample, batch_size=4)
print(f"largest difference, batches of 1 vs 4: {np.abs(alone - together).max():.2e} "
      f"(feature scale {np.abs(together).mean():.2e})")
del xception
'''),
        md("""
## The text-conditioned Stage-I

The text side of the comparison is notebook 03's run. If it has reached `EPOCHS` this cell
only reads it; otherwise it trains (or resumes) it, exactly as notebook 03 does. For a fair
comparison both runs should have trained the same number of epochs (`summarize` prints it).
"""),
        code('''
started = time.perf_counter()
text_metrics = train_stage1(config, TEXT_RUN_DIR, verbose=VERBOSE)
print(f"{time.perf_counter() - started:.0f} s")
print(summarize(text_metrics))
'''),
        md("""
## The feature-conditioned Stage-I: redraw an image from its vector

The same `train_stage1`, with the feature configuration: conditioning augmentation now reads
a 2,048-d image feature instead of a caption embedding, and the discriminator judges "real and
matching this *feature*". Checkpoints, sample grids and resume work as in notebook 03. On the
shapes dataset `summarize` scores how often the redrawn test images show the right shape,
colour, position and background.
"""),
        code('''
started = time.perf_counter()
feature_metrics = train_stage1(feature_config, FEATURE_RUN_DIR, verbose=VERBOSE)
print(f"{time.perf_counter() - started:.0f} s")
print(summarize(feature_metrics))
'''),
        md("""
Each row is a fixed test image; in every cell the original is on the left and the generator's
drawing from its feature (one fixed noise vector per column) on the right. This is what the
report's appendix C showed two of.
"""),
        code('''
display(Image(filename=str(reconstruction_grid(FEATURE_RUN_DIR))))
'''),
        md("""
## Text -> feature: the mapper

A small network (`TextToFeature`: two Dense + LayerNorm + ReLU blocks, then a linear layer)
maps a caption embedding (the text run's encoder, so both sides read the same vectors) onto
the standardised feature of the caption's image. Loss: (1 − cosine) + mean squared error.
It trains on the training captions; on the validation captions, **recall@k** says how often the
mapped vector's k nearest image features (among the validation images) include the caption's
own image. Chance is k / number of images. On the shapes dataset several images share the same
shape, colour, position and background, which no caption can tell apart, so `attributes_recall@k`
also counts any image with the caption's attributes as a hit (with its own chance level).
"""),
        code('''
MAPPER_DIR = RUN_ROOT / "mapper"
mapper_metrics = train_mapper(FEATURE_RUN_DIR, MAPPER_DIR, config.text, MapperConfig(epochs=MAPPER_EPOCHS),
                              verbose=0)
print(json.dumps(mapper_metrics, indent=2))
pd.read_csv(MAPPER_DIR / "history.csv").tail(5)
'''),
        md("""
## Text drives the feature generator

`generate_from_text(FEATURE_RUN_DIR, MAPPER_DIR, captions)`: caption -> embedding -> mapper ->
feature -> generator. The noise is drawn as `generate` draws it for a text run, so the same
`SEED` gives both runs the same noise.
"""),
        code('''
images = generate_from_text(FEATURE_RUN_DIR, MAPPER_DIR, NEW_CAPTIONS, num_per_caption=NUM_PER_CAPTION, seed=SEED)
path = save_sample_grid(images, NEW_CAPTIONS, RUN_ROOT / "new_captions.png", title="text -> mapper -> feature generator")
display(Image(filename=str(path)))
'''),
        md("""
## Text conditioning against the feature baseline

`compare_with_text` draws the fixed test captions through both routes with the same noise: in
every cell the text-conditioned Stage-I is on the left and the feature baseline driven by text
on the right. On the shapes dataset it also scores both with the shapes fidelity metric, next
to the reconstruction from the true image feature (the baseline's best case: a perfect mapper)
and chance; `mismatched_mean` scores the same images against other captions (what ignoring the
text would get). Flickr8k has no such ground truth: judge the figure and the retrieval numbers.
"""),
        code('''
table = compare_with_text(TEXT_RUN_DIR, FEATURE_RUN_DIR, MAPPER_DIR, RUN_ROOT, num_per_caption=NUM_PER_CAPTION,
                          seed=SEED)
display(Image(filename=str(RUN_ROOT / "comparison.png")))
print(summarize_baseline(mapper_metrics, table, FEATURE_WEIGHTS))
'''),
        md("""
## What this shows, and what it does not

The smoke run (random-weight Xception at 71 px, tiny networks, one epoch of three batches)
only shows that every piece runs end to end: the images are flat gray, and recall and
fidelity sit near chance. With random weights the features are random projections of the
pixels: they do tell images apart (background colour above all), but they are not the
report's ImageNet features, so no conclusion about the idea can come from them.

The real comparison is the Colab run: `FEATURE_WEIGHTS = "imagenet"` at 299 px on Flickr8k,
both Stage-I runs trained for the same number of epochs. Then ask: do the reconstructions
keep the colours and layout of the originals (the feature carries them), does recall@k beat
chance by a wide margin (text does land near its image), and do the text-driven images look
like the text run's, or like blurred averages (a mapped vector that falls between images)?
"""),
    ]
