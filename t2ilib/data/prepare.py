"""From a dataset name to everything training reads: captions table with splits, image cache.

    dataset folder (Flickr8k format)       e.g. t2ilib_data/shapes or /content/drive/.../Flickr8k
      -> {work_dir}/splits/{captions,train,validation,test}.csv
      -> {work_dir}/images_{size}.npy (+ .json)        uint8, one row per image
      -> {work_dir}/embeddings/*.npy                     (t2ilib.text, per encoder)

`work_dir` is `{data.data_dir}/prepared/<dataset folder name>`, or the same under
`data.cache_dir` when that is set: everything in it is rebuilt (identically) when missing, so
on Colab it can live on the VM's local disk while the dataset itself stays on Drive.
Every step reuses its files when they are already there, so calling `prepare_data` again
(e.g. after a Colab runtime reset) is cheap.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from t2ilib.data.cache import ImageCache, build_image_cache, load_size_for
from t2ilib.data.flickr8k import assign_splits, find_dataset_files, read_captions, write_splits
from t2ilib.data.shapes import make_shapes_dataset, read_attributes
from t2ilib.errors import warn_once

logger = logging.getLogger("t2ilib")

SHAPES_IMAGE_SIZE = 96  # side of the generated shapes JPEGs (cropped/resized by the pipeline)


@dataclass
class PreparedData:
    """The captions table (with `split` and `row`: the image's row in `cache.array`) and the cache."""

    root: Path
    work_dir: Path
    captions: pd.DataFrame
    cache: ImageCache
    attributes: pd.DataFrame | None  # ground truth of the built-in shapes dataset, per caption; None otherwise

    def split(self, name: str) -> pd.DataFrame:
        table = self.captions[self.captions["split"] == name]
        if table.empty:
            raise ValueError(f"The split {name!r} of {self.root} is empty.")
        return table


def dataset_root(data_config) -> Path:
    """Where the raw dataset folder is (generated first for the built-in `shapes`)."""
    data_dir = Path(data_config.data_dir)
    if data_config.dataset == "shapes":
        folder = data_dir / f"shapes-n{data_config.shapes_num_images}-s{data_config.shapes_seed}"
        return make_shapes_dataset(folder, num_images=data_config.shapes_num_images,
                                   image_size=SHAPES_IMAGE_SIZE, seed=data_config.shapes_seed)
    if data_config.dataset == "flickr8k":
        return data_dir / "Flickr8k"  # where data_prep/flickr8k.py and colab_setup.sh unpack it
    return Path(data_config.dataset)


def prepared_dir(data_config) -> Path:
    """The folder of the rebuildable caches: `data.cache_dir` (when set) or `data.data_dir`, + /prepared."""
    return Path(data_config.cache_dir or data_config.data_dir) / "prepared"


def prepare_data(data_config, image_size: int | None = None, progress: bool = True) -> PreparedData:
    """Read captions, assign splits (written as CSV), and build/reuse the uint8 image cache."""
    root = dataset_root(data_config)
    files = find_dataset_files(root)
    if files.images_dir is None:
        raise FileNotFoundError(
            f"No images folder in {root}: expected one of Flicker8k_Dataset/, Flickr8k_Dataset/ or images/. "
            "For Flickr8k run `python data_prep/flickr8k.py --dest <data_dir>` (or colab_setup.sh).")
    work_dir = prepared_dir(data_config) / root.name
    captions = read_captions(files.token_file, files.images_dir)
    captions = assign_splits(captions, files, rule=data_config.split_rule)
    size = load_size_for(image_size or data_config.image_size)
    cache = build_image_cache(files.images_dir, captions["image"].tolist(), size, work_dir / f"images_{size}.npy",
                              progress=progress)
    readable = set(cache.names)
    unreadable = ~captions["image"].isin(readable)
    if unreadable.any():
        warn_once(logger, "Dropped %d captions of %d unreadable images (see the warning above).",
                  int(unreadable.sum()), captions.loc[unreadable, "image"].nunique())
        captions = captions[~unreadable].reset_index(drop=True)
    captions = captions.reset_index(drop=True)
    captions["row"] = cache.rows(captions["image"].tolist())
    write_splits(captions.drop(columns=["row"]), work_dir / "splits")
    attributes = None
    if data_config.dataset == "shapes":
        table = read_attributes(root).set_index("image")
        attributes = table.loc[captions["image"]].reset_index()
    return PreparedData(root, work_dir, captions, cache, attributes)


def fixed_sample_rows(captions: pd.DataFrame, count: int, split: str = "test") -> np.ndarray:
    """Row numbers of `count` captions of distinct images from `split` (fixed: file order)."""
    table = captions[captions["split"] == split]
    if table.empty:
        table = captions
    return table.drop_duplicates("image").index.to_numpy()[:count]


def real_images(prepared: PreparedData, rows, image_size: int) -> np.ndarray:
    """uint8 centre crops (len(rows), S, S, 3) of the cached images of caption rows `rows`: the real
    images that evaluation, the judge and the agreement score compare generated ones with."""
    from t2ilib.data.pipeline import center_crop

    images = prepared.cache.array[prepared.captions.loc[rows, "row"].to_numpy()]
    return np.asarray(center_crop(images, image_size))

