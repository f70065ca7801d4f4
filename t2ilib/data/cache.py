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

from t2ilib.errors import warn_once

logger = logging.getLogger("t2ilib")

MAX_IMAGE_PIXELS = 100_000_000  # refuse decompression bombs; a real photo is far below this
ALPHA_BACKGROUND = (255, 255, 255)  # transparent pixels are composited onto white (as a browser page shows them)
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")


def to_rgb(image: Image.Image) -> Image.Image:
    """Any image Pillow opens, as 8-bit RGB with its colours kept.

    - 16-bit greyscale (`I;16*`, e.g. a 16-bit PNG): scaled to 8 bits (v / 257: 65535 -> 255).
    - 32-bit integer `I`: taken as 16-bit values (0..65535) when any exceeds 255, else as 8-bit;
      outside the range clipped. 32-bit float `F`: values in [0, 1] scaled by 255, others taken
      as 0..255 and clipped; NaN -> 0.
    - transparency (`RGBA`, `LA`, `PA`, `RGBa`, a palette or greyscale image with a
      transparent colour): composited onto `ALPHA_BACKGROUND` (white), never dropped onto
      whatever colour the transparent pixels happen to hold.
    - `P` (palette), `1`, `L`, `CMYK`, `YCbCr`, `LAB`, `HSV`, `RGBX`: Pillow's own conversion.
    """
    mode = image.mode
    if mode in _SIXTEEN_BIT or mode in ("I", "F"):
        values = np.asarray(image).astype(np.float64)
        if mode in _SIXTEEN_BIT or (mode == "I" and values.size and values.max() > 255):
            values = np.clip(values, 0, 65535) / 257.0
        elif mode == "F" and values.size and np.nanmin(values) >= 0 and np.nanmax(values) <= 1:
            values = values * 255.0
        grey = np.clip(np.nan_to_num(values, nan=0.0), 0, 255).round().astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if "A" in mode or "a" in mode or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def load_size_for(image_size: int) -> int:
    """StackGAN resizes to 76/64 of the target before its random crop (64 -> 76, 256 -> 304)."""
    return int(round(image_size * 76 / 64))


def load_rgb(path, size: int) -> np.ndarray:
    """Decode any image Pillow reads (JPEG, PNG, GIF, TIFF; every mode, see `to_rgb`) to
    (size, size, 3) uint8.

    The whole picture is resized to a square (as StackGAN does for Flickr8k-like data), with
    Pillow's antialiasing filter.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
        with Image.open(path) as image:
            image.draft("RGB", (size * 2, size * 2))  # JPEG: decode at reduced scale when much larger
            image = to_rgb(image)
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
                array = open_rows(cache_path)
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
    kept, failures = [], []
    iterator = requested
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(requested, desc=f"caching images at {size}x{size}", unit="img", leave=False)
    # Rows are appended with plain writes, not through a memory map: the 2.2 GB of a Stage-II
    # Flickr8k cache then sit in the OS page cache, not in this process's resident memory.
    with open(temporary, "wb") as file:
        file.write(_npy_header((len(requested), size, size, 3)))
        for name in iterator:
            try:
                file.write(load_rgb(images_dir / name, size).tobytes())
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
                    Image.DecompressionBombWarning) as error:
                failures.append((name, f"{type(error).__name__}: {error}"))
                continue
            kept.append(name)
        if failures:  # fewer rows than announced: rewrite the header (same length: it is padded)
            header = _npy_header((len(kept), size, size, 3))
            file.seek(0)
            file.write(header)
            file.truncate(len(header) + len(kept) * size * size * 3)
    if failures:
        _report_skipped(images_dir, [name for name, _ in failures], failures[0][1], len(requested), names_path)
    os.replace(temporary, cache_path)
    names_path.write_text(json.dumps({"size": size, "requested": requested, "names": kept,
                                      "failed": [name for name, _ in failures],
                                      "first_error": failures[0][1] if failures else ""}))
    return ImageCache(cache_path, kept, open_rows(cache_path))


def _npy_header(shape: tuple) -> bytes:
    """The .npy header of a C-ordered uint8 array of `shape` (64-byte aligned, so its length
    does not change when a row count shrinks by a few digits' worth)."""
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "|u1", "fortran_order": False, "shape": shape})
    return buffer.getvalue()


class RowMemmap(np.memmap):
    """The memory-mapped cache, read-only, whose row lookups (`array[rows]` with an integer
    array, what the tf.data pipeline does) return a copy and then hand the pages they touched
    back to the OS (`madvise(MADV_DONTNEED)`). The pages stay in the OS page cache, so a second
    read is as fast, but they do not pile up in this process's resident memory: streaming the
    whole 2.2 GB Stage-II cache of Flickr8k keeps the resident set near its size without the cache.
    """

    _release_rows = False  # only the array returned by open_rows (not views or copies of it)

    def __getitem__(self, index):
        result = super().__getitem__(index)
        if self._release_rows and isinstance(index, np.ndarray) and index.ndim == 1 and index.dtype.kind in "iu":
            self._release(index)
            result = np.asarray(result)
        return result

    def _release(self, rows) -> None:
        import mmap

        buffer = getattr(self, "_mmap", None)
        if buffer is None or not hasattr(buffer, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
            return
        row_bytes = int(np.prod(self.shape[1:])) * self.itemsize
        start_in_map = self.offset % mmap.ALLOCATIONGRANULARITY  # where row 0 starts inside the mapping
        page = mmap.PAGESIZE
        for row in np.unique(rows):
            first = start_in_map + int(row) * row_bytes
            begin, end = first - first % page, min(-(-(first + row_bytes) // page) * page, len(buffer))
            buffer.madvise(mmap.MADV_DONTNEED, begin, end - begin)


def open_rows(cache_path) -> np.ndarray:
    """The cache file `cache_path` memory-mapped read-only, as a `RowMemmap`."""
    array = np.load(cache_path, mmap_mode="r").view(RowMemmap)
    array._release_rows = True
    return array


def _report_skipped(images_dir: Path, failed: list[str], first_error: str, total: int, names_path: Path) -> None:
    if failed:
        warn_once(logger, "Skipped %d of %d images that could not be read (first: %s, %s); their captions are "
                  "dropped. All of them are listed under \"failed\" in %s; to use them, fix those files and delete "
                  "%s to rebuild the cache.", len(failed), total, images_dir / failed[0], first_error, names_path,
                  names_path.with_suffix(".npy"))
