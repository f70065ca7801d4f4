"""Xception image features: one 2048-d vector per image, computed once and cached on disk.

The StackGAN+BERT report's first attempt (seed 000, footnote 1 and appendix C): describe every
image by the feature vector of a pretrained Xception, train a StackGAN to rebuild the image from
that vector, then learn a map from text to the vector so that text can drive the generator.
Here the vector is a *condition* like a caption embedding, so the same Stage-I models and
training serve: set `condition.source = "xception-features"` in the run config (see
`t2ilib.training.feature_baseline.feature_run_config`) and `train_stage1` does the rest.

- `build_xception(weights, input_size)`: `keras.applications.Xception(include_top=False,
  pooling="avg")`, 2048 outputs. `weights="imagenet"` in Colab (downloads ~80 MB once);
  `weights=None` builds the real architecture with *random* weights (offline tests): the
  features are then random projections of the pixels, fine for checking the pipeline and
  meaningless as a description of the image. A path to a weights file also works.
- `extract_features(model, images)`: uint8 images -> float32 (N, 2048), resized to the input
  size, `keras.applications.xception.preprocess_input`, inference mode (batch-size independent).
- `image_features(condition_config, prepared)`: one row per row of the prepared image cache, decoded
  from the original image files at the input size (not from the 76-px training cache: ImageNet
  features of upscaled thumbnails are poor), cached under `{work_dir}/features/`.
- `feature_conditions(condition_config, prepared)`: one standardised feature per caption (each caption
  gets its image's vector), what `embed_all_captions` returns for a feature-conditioned run.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

import numpy as np

FEATURE_SOURCE = "xception-features"  # the condition.source (ConditionConfig) of a feature-conditioned run
FEATURE_DIM = 2048
MIN_INPUT_SIZE = 71  # keras.applications.Xception refuses smaller inputs
RANDOM_WEIGHTS_SEED = 1234  # weights=None: the same random network in every process


def weights_label(weights) -> str:
    """A short name for a weights setting, used in cache keys ("imagenet", "random-s1234", "file-x.h5-1234")."""
    if weights is None or str(weights).lower() in ("none", "random"):
        return f"random-s{RANDOM_WEIGHTS_SEED}"
    if str(weights) == "imagenet":
        return "imagenet"
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"Xception weights file {path} does not exist; use weights='imagenet', None "
                                "(random weights, offline) or the path of a weights file for "
                                "keras.applications.Xception(include_top=False).")
    return f"file-{path.name}-{path.stat().st_size}"


def build_xception(weights="imagenet", input_size: int = 299):
    """The Xception feature extractor: (N, input_size, input_size, 3) preprocessed -> (N, 2048).

    With `weights=None` the random initialisation is seeded (without touching the caller's
    random streams), so two processes build the same network and a cached feature file stays
    valid.
    """
    import keras

    if int(input_size) < MIN_INPUT_SIZE:
        raise ValueError(f"Xception needs an input size of at least {MIN_INPUT_SIZE} pixels (got {input_size}); "
                         "use 299 (its native size) or 71 for quick offline checks.")
    label = weights_label(weights)
    is_random = label.startswith("random")
    state = random.getstate()  # Keras draws default initializer seeds from Python's `random`
    random.seed(RANDOM_WEIGHTS_SEED)
    try:
        return keras.applications.Xception(include_top=False, pooling="avg",
                                           weights=None if is_random else str(weights),
                                           input_shape=(int(input_size), int(input_size), 3))
    finally:
        random.setstate(state)


def extract_features(model, images, batch_size: int = 32) -> np.ndarray:
    """float32 (N, 2048) Xception features of uint8 images (N, H, W, 3) of any size.

    Images are resized (antialiased) to the model's input size when they differ, scaled with
    `keras.applications.xception.preprocess_input` and run in inference mode, so each image's
    vector does not depend on the batch it came in.
    """
    import keras

    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"extract_features needs uint8 images (N, H, W, 3); got {images.dtype} {images.shape}.")
    size = model.input_shape[1]
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size].astype(np.float32)
        if batch.shape[1:3] != (size, size):
            batch = keras.ops.convert_to_numpy(
                keras.ops.image.resize(batch, (size, size), interpolation="bilinear", antialias=True))
        batch = keras.applications.xception.preprocess_input(batch)  # [0, 255] -> [-1, 1]
        outputs.append(keras.ops.convert_to_numpy(model(batch, training=False)).astype(np.float32))
    if not outputs:
        return np.zeros((0, model.output_shape[-1]), np.float32)
    return np.concatenate(outputs)


def features_path(work_dir, weights, input_size: int, image_names: list[str]) -> Path:
    """Cache file of the features of `image_names` (in this order) for these weights and input size."""
    label = weights_label(weights)
    digest = hashlib.sha256(f"xception|{label}|{int(input_size)}".encode("utf-8"))
    for name in image_names:
        digest.update(b"\x00" + name.encode("utf-8"))
    return Path(work_dir) / "features" / f"xception-{label}-{int(input_size)}px-{digest.hexdigest()[:20]}.npy"


def image_features(condition_config, prepared, batch_size: int = 32, progress: bool | None = None) -> np.ndarray:
    """float32 (num_images, 2048): row r is the feature of image `prepared.cache.names[r]`.

    Computed once per image (not per caption) from the original files, decoded straight at
    `condition_config.feature_input_size`, and cached; later calls read the `.npy`. The cache key is
    the weights, the input size and the exact list of images of the prepared cache.
    """
    from t2ilib.data.cache import load_rgb
    from t2ilib.data.flickr8k import find_dataset_files

    weights, size = condition_config.feature_weights, int(condition_config.feature_input_size)
    names = list(prepared.cache.names)
    path = features_path(prepared.work_dir, weights, size, names)
    if path.exists():
        features = np.load(path)
        if features.shape == (len(names), FEATURE_DIM):
            return features
        path.unlink()  # a file of the wrong shape under the right name: an interrupted or foreign run
    images_dir = find_dataset_files(prepared.root).images_dir
    model = build_xception(weights, size)
    starts = range(0, len(names), batch_size)
    if progress or (progress is None and len(names) >= 1000):  # a bar for Flickr8k, silence for tests
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc=f"Xception features at {size}px", unit="batch", leave=False)
    # The prepared cache lists only images that decoded once already, so a failure here is a real error.
    features = np.concatenate([
        extract_features(model, np.stack([load_rgb(images_dir / name, size) for name in names[start:start + batch_size]]),
                         batch_size=batch_size)
        for start in starts])
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp.npy")
    np.save(temporary, features)
    os.replace(temporary, path)  # atomic: a crash never leaves half a cache under the real name
    path.with_suffix(".json").write_text(json.dumps(
        {"weights": weights_label(weights), "input_size": size, "num_images": len(names), "dim": FEATURE_DIM,
         "images_dir": str(images_dir)}, indent=2))
    return features


class ImageFeatureCondition:
    """What `embed_all_captions` hands back as the "encoder" of a feature-conditioned run.

    It knows how its conditions were made (weights, input size, standardisation statistics of
    the training images) but cannot encode captions: text reaches this generator only through a
    text-to-feature mapper (`t2ilib.training.feature_baseline.generate_from_text`).
    """

    name = FEATURE_SOURCE

    def __init__(self, weights, input_size: int, mean: np.ndarray, scale: np.ndarray):
        self.weights = weights
        self.input_size = int(input_size)
        self.mean = np.asarray(mean, np.float32)
        self.scale = np.asarray(scale, np.float32)
        self.dim = int(self.mean.shape[0])

    def cache_key(self) -> str:
        return f"xception-{weights_label(self.weights)}-{self.input_size}px-standardised"

    def standardize(self, features: np.ndarray) -> np.ndarray:
        """Raw Xception features -> the generator's condition space."""
        return ((np.asarray(features, np.float32) - self.mean) / self.scale).astype(np.float32)

    def encode(self, captions):
        raise ValueError(
            "This run is conditioned on Xception image features, not on text, so it cannot encode captions. "
            "Train a text-to-feature mapper (t2ilib.features.train_mapper) and draw images with "
            "t2ilib.training.feature_baseline.generate_from_text(run_dir, mapper_dir, captions).")


def feature_conditions(condition_config, prepared, progress: bool | None = None):
    """(ImageFeatureCondition, float32 (num_captions, 2048)): each caption row gets its image's feature.

    Standardised per dimension with the mean and standard deviation of the *training* images'
    features (as the word2vec encoder standardises its vectors): raw pooled Xception features
    are non-negative and of very different scales per dimension (tiny ones with random weights),
    which the conditioning Dense layer would otherwise see as nearly constant.
    """
    features = image_features(condition_config, prepared, progress=progress)
    train_rows = np.unique(prepared.split("train")["row"].to_numpy())
    mean = features[train_rows].mean(axis=0)
    spread = features[train_rows].std(axis=0)
    # Floor: a unit that (almost) never fires on training images must not blow up on a new one.
    scale = np.maximum(spread, 0.1 * np.median(spread) + 1e-30)
    condition = ImageFeatureCondition(condition_config.feature_weights, condition_config.feature_input_size, mean, scale)
    return condition, condition.standardize(features[prepared.captions["row"].to_numpy()])
