"""Images decoded and resized once into a uint8 array on disk, memory-mapped when read.

One row per *image*, not per caption: Flickr8k has 5 captions per image and the pipeline
looks rows up by index, so memory does not grow with the number of captions. At Stage-I's
76x76 load size all 8,091 Flickr8k images take 140 MB; at Stage-II's 304x304, 2.2 GB on disk
but only the rows of the current batch are read into memory.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from t2ilib.report import warn_once

logger = logging.getLogger("t2ilib")

MAX_IMAGE_PIXELS = 100_000_000  # refuse decompression bombs; a real photo is far below this


def load_size_for(image_size: int) -> int:
    """StackGAN resizes to 76/64 of the target before its random crop (64 -> 76, 256 -> 304)."""
    return int(round(image_size * 76 / 64))


def load_rgb(path, size: int) -> np.ndarray:
    """Decode any image Pillow reads (JPEG, PNG, GIF, grayscale, CMYK...) to (size, size, 3) uint8.

    The whole picture is resized to a square (as StackGAN does for Flickr8k-like data), with
    Pillow's antialiasing filter.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
        with Image.open(path) as image:
            image.draft("RGB", (size * 2, size * 2))  # JPEG: decode at reduced scale when much larger
            image = image.convert("RGB")
            image = image.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)
            return np.asarray(image, dtype=np.uint8)


@dataclass
class ImageCache:
    """`array[row]` is the image `names[row]`, uint8 (size, size, 3)."""

    path: Path
    names: list[str]
    array: np.ndarray

    @property
    def size(self) -> int:
        return int(self.array.shape[1])

    def rows(self, image_names) -> np.ndarray:
        index = {name: row for row, name in enumerate(self.names)}
        missing = [name for name in image_names if name not in index]
        if missing:
            raise KeyError(f"{len(missing)} images are not in the cache {self.path} (first: {missing[0]}). "
                           "Rebuild it with build_image_cache over the same captions table.")
        return np.array([index[name] for name in image_names], dtype=np.int64)


def build_image_cache(images_dir, image_names, size: int, cache_path, progress: bool = True) -> ImageCache:
    """Decode each image once, resize to `size`, and store all of them in `cache_path` (.npy).

    Reuses an existing cache with exactly the same image list and size (a damaged cache file is
    reported and built again). Images that cannot be read (missing, empty, truncated, not an
    image) are skipped, counted and reported once per process, also when the cache is reused;
    they are absent from the returned `names`, so the caller can drop their captions. Their
    names are listed under "failed" in the cache's .json file.
    """
    images_dir, cache_path = Path(images_dir), Path(cache_path)
    names_path = cache_path.with_suffix(".json")
    requested = list(dict.fromkeys(image_names))  # unique, order kept
    if cache_path.exists() and names_path.exists():
        try:
            meta = json.loads(names_path.read_text())
        except (OSError, ValueError):
            meta = {}
        if meta.get("requested") == requested and meta.get("size") == size:
            try:
                array = np.load(cache_path, mmap_mode="r")
                if array.shape != (len(meta["names"]), size, size, 3) or array.dtype != np.uint8:
                    raise ValueError(f"it holds {array.dtype} {array.shape}")
            except (OSError, ValueError, EOFError) as error:
                warn_once(logger, "Image cache %s is damaged (%s); building it again.", cache_path, error)
            else:
                _report_skipped(images_dir, meta.get("failed", []), meta.get("first_error", ""), len(requested),
                                names_path)
                return ImageCache(cache_path, meta["names"], array)

    cache_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = cache_path.with_suffix(".tmp.npy")
    array = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.uint8, shape=(len(requested), size, size, 3))
    kept, failures = [], []
    iterator = requested
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(requested, desc=f"caching images at {size}x{size}", unit="img", leave=False)
    for name in iterator:
        try:
            array[len(kept)] = load_rgb(images_dir / name, size)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            failures.append((name, f"{type(error).__name__}: {error}"))
            continue
        kept.append(name)
    array.flush()
    del array
    if failures:
        _report_skipped(images_dir, [name for name, _ in failures], failures[0][1], len(requested), names_path)
        # Shrink the file to the rows actually filled.
        full = np.load(temporary, mmap_mode="r")
        np.save(cache_path.with_suffix(".tmp2.npy"), full[: len(kept)])
        del full
        os.replace(cache_path.with_suffix(".tmp2.npy"), temporary)
    os.replace(temporary, cache_path)
    names_path.write_text(json.dumps({"size": size, "requested": requested, "names": kept,
                                      "failed": [name for name, _ in failures],
                                      "first_error": failures[0][1] if failures else ""}))
    return ImageCache(cache_path, kept, np.load(cache_path, mmap_mode="r"))


def _report_skipped(images_dir: Path, failed: list[str], first_error: str, total: int, names_path: Path) -> None:
    if failed:
        warn_once(logger, "Skipped %d of %d images that could not be read (first: %s, %s); their captions are "
                  "dropped. All of them are listed under \"failed\" in %s; to use them, fix those files and delete "
                  "%s to rebuild the cache.", len(failed), total, images_dir / failed[0], first_error, names_path,
                  names_path.with_suffix(".npy"))
