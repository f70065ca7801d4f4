"""Read any folder in Flickr8k format: captions, official image lists and splits.

A dataset folder ("root") looks like the unpacked Flickr8k zips::

    root/
      Flickr8k.token.txt          <image>.jpg#<k><TAB><caption>, k = 0..4   (required)
      Flickr8k.lemma.token.txt    same layout, lemmatised                  (optional)
      Flickr_8k.trainImages.txt   one image file name per line             (optional)
      Flickr_8k.devImages.txt                                              (optional)
      Flickr_8k.testImages.txt                                             (optional)
      Flicker8k_Dataset/          the images ("Flicker" is the real zip's spelling;
                                  "Flickr8k_Dataset" or "images" work too)  (optional)

The built-in shapes dataset (`t2ilib.data.shapes`) is written in the same layout, so
everything here works on it unchanged.

Typical use::

    files = find_dataset_files("t2ilib_data/flickr8k")
    captions = read_captions(files.token_file, files.images_dir)
    captions = assign_splits(captions, files, rule="reports")
    paths = write_splits(captions, "t2ilib_data/flickr8k/splits")

Problems in the data are handled in two ways. Lines that cannot be understood at all
(no tab, no ``#k``) stop with a ``ValueError`` naming ``file:line``. Lines that are
understood but unusable (empty caption, repeated key, missing image, ...) are skipped,
and ONE warning per kind of problem says how many were skipped (once per process: reading
the same file again, as every `prepare_data` call does, does not repeat it).
This module needs only numpy, pandas and the standard library (no TensorFlow).
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from t2ilib.errors import warn_once
from t2ilib.files import partial_file

logger = logging.getLogger("t2ilib")

TOKEN_FILE = "Flickr8k.token.txt"
LEMMA_FILE = "Flickr8k.lemma.token.txt"
TRAIN_LIST = "Flickr_8k.trainImages.txt"
DEV_LIST = "Flickr_8k.devImages.txt"
TEST_LIST = "Flickr_8k.testImages.txt"
# Looked for in this order; the first that exists is used.
IMAGE_DIR_NAMES = ("Flicker8k_Dataset", "Flickr8k_Dataset", "images")

CAPTIONS_PER_IMAGE = 5  # valid caption indices are 0 .. 4
SPLITS = ("train", "validation", "test")
COLUMNS = ["image", "caption_index", "caption"]

_EXPECTED_LINE = "<image>.jpg#<k><TAB><caption>, for example '1000268201_693b08cb0e.jpg#0\tA child ...'"
# Keys such as '2258277193_586949ec62.jpg.1' name a file that is not in the image zip.
_BROKEN_IMAGE_NAME = re.compile(r"\.jpe?g\.\d+$", re.IGNORECASE)


# ---------------------------------------------------------------------------------------
# Finding the files
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetFiles:
    """Where the pieces of one dataset folder are. Optional pieces are None when absent."""

    root: Path
    token_file: Path
    lemma_file: Path | None = None
    images_dir: Path | None = None
    train_list: Path | None = None
    dev_list: Path | None = None
    test_list: Path | None = None


def find_dataset_files(root) -> DatasetFiles:
    """Look inside `root` for the Flickr8k-format files and return their paths.

    Only ``Flickr8k.token.txt`` is required; every other piece is None when missing.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(
            f"Dataset folder {root} does not exist. Pass the folder that contains "
            f"{TOKEN_FILE}, or create the built-in dataset with "
            f"t2ilib.data.shapes.make_shapes_dataset({str(root)!r})."
        )
    token_file = root / TOKEN_FILE
    if not token_file.is_file():
        hint = ""
        nested = sorted(root.glob(f"*/{TOKEN_FILE}"))
        if nested:
            hint = (
                f" Found one in {nested[0].parent}: pass that folder instead, or move the "
                f"text files up into {root}."
            )
        raise FileNotFoundError(
            f"No {TOKEN_FILE} in dataset folder {root}. A dataset folder in Flickr8k format "
            f"needs {TOKEN_FILE} (lines '<image>.jpg#<k><TAB><caption>'), and may have "
            f"{LEMMA_FILE}, {TRAIN_LIST}, {DEV_LIST}, {TEST_LIST} and an images folder "
            f"named {' or '.join(IMAGE_DIR_NAMES)}.{hint}"
        )

    def optional_file(name):
        path = root / name
        return path if path.is_file() else None

    images_dir = next((root / n for n in IMAGE_DIR_NAMES if (root / n).is_dir()), None)
    return DatasetFiles(
        root=root,
        token_file=token_file,
        lemma_file=optional_file(LEMMA_FILE),
        images_dir=images_dir,
        train_list=optional_file(TRAIN_LIST),
        dev_list=optional_file(DEV_LIST),
        test_list=optional_file(TEST_LIST),
    )


# ---------------------------------------------------------------------------------------
# Reading text files
# ---------------------------------------------------------------------------------------
def _read_lines(path: Path) -> list[str]:
    """Lines of a text file, tolerant of a UTF-8 BOM, Windows line ends and bad bytes.

    Bytes that are not UTF-8 are replaced by U+FFFD; one warning counts the lines affected.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"File {path} does not exist. Check the dataset folder path.")
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    # Split on b"\n" only: str.splitlines() would also split on rare characters such as
    # U+2028 that can legitimately appear inside a caption.
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()  # the file ended with a newline
    lines, bad_lines = [], []
    for number, raw in enumerate(raw_lines, start=1):
        raw = raw.rstrip(b"\r")
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(raw.decode("utf-8", errors="replace"))
            bad_lines.append(number)
    if bad_lines:
        warn_once(
            logger, "%s: %d line(s) are not valid UTF-8 (first at line %d); the bad bytes were "
            "replaced by '\ufffd'. Re-save the file as UTF-8 to fix it.",
            path, len(bad_lines), bad_lines[0],
        )
    return lines


def read_image_list(path) -> list[str]:
    """Image file names from a split list such as ``Flickr_8k.trainImages.txt``.

    One name per line; surrounding spaces and blank lines are ignored. File order is kept.
    """
    return [line.strip() for line in _read_lines(Path(path)) if line.strip()]


def _parse_line(line: str, path: Path, number: int) -> tuple[str, int, str]:
    """Split one token-file line into (image, caption_index, caption) or raise ValueError."""
    key, tab, caption = line.partition("\t")
    where = f"{path}:{number}"
    if not tab:
        raise ValueError(
            f"{where}: no TAB between key and caption in {line[:80]!r}. Each line should "
            f"look like {_EXPECTED_LINE}. If an editor turned tabs into spaces, restore them."
        )
    image, hash_sign, index_text = key.strip().rpartition("#")
    if not hash_sign or not image:
        raise ValueError(
            f"{where}: key {key!r} has no '#<k>' caption number. Each line should look like "
            f"{_EXPECTED_LINE}."
        )
    try:
        index = int(index_text)
    except ValueError:
        raise ValueError(
            f"{where}: caption number {index_text!r} in key {key!r} is not an integer. "
            f"Each line should look like {_EXPECTED_LINE}."
        ) from None
    return image, index, caption.strip()


def read_captions(token_file, images_dir=None) -> pd.DataFrame:
    """Read a Flickr8k token file into a table with one row per caption.

    Returns a DataFrame with columns ``image`` (file name, e.g. '1000268201_693b08cb0e.jpg'),
    ``caption_index`` (int, 0..4) and ``caption`` (stripped text), in file order.

    Skipped, with one counted warning per kind: keys ending in '.jpg.1' (a known broken
    entry of Flickr8k), caption numbers outside 0..4, empty captions, repeated
    (image, caption_index) keys (the first is kept) and, when `images_dir` is given,
    captions whose image file is not in that folder. Blank lines are ignored.
    Malformed lines raise ValueError naming ``file:line``.
    """
    token_file = Path(token_file)
    rows, seen = [], set()
    broken_keys, bad_index, empty, duplicates = [], [], [], []
    for number, line in enumerate(_read_lines(token_file), start=1):
        if not line.strip():
            continue
        image, index, caption = _parse_line(line, token_file, number)
        if _BROKEN_IMAGE_NAME.search(image):
            broken_keys.append((number, image))
        elif not 0 <= index < CAPTIONS_PER_IMAGE:
            bad_index.append(number)
        elif not caption:
            empty.append(number)
        elif (image, index) in seen:
            duplicates.append(number)
        else:
            seen.add((image, index))
            rows.append((image, index, caption))

    if broken_keys:
        names = sorted({image for _, image in broken_keys})
        warn_once(
            logger, "%s: dropped %d caption(s) of %d key(s) whose image name ends in '.jpg.<n>' "
            "(first at line %d: %s); no such image file exists in Flickr8k.",
            token_file, len(broken_keys), len(names), broken_keys[0][0], names[0],
        )
    if bad_index:
        warn_once(
            logger, "%s: skipped %d caption(s) whose caption number is outside 0..%d "
            "(first at line %d).",
            token_file, len(bad_index), CAPTIONS_PER_IMAGE - 1, bad_index[0],
        )
    if empty:
        warn_once(
            logger, "%s: skipped %d empty caption(s) (first at line %d).", token_file, len(empty), empty[0]
        )
    if duplicates:
        warn_once(
            logger, "%s: skipped %d repeated image#k key(s), keeping the first of each "
            "(first repeat at line %d).",
            token_file, len(duplicates), duplicates[0],
        )

    captions = pd.DataFrame(rows, columns=COLUMNS)
    captions["caption_index"] = captions["caption_index"].astype("int64")
    if images_dir is not None:
        captions = _drop_missing_images(captions, Path(images_dir), token_file)
    return captions.reset_index(drop=True)


def _drop_missing_images(captions: pd.DataFrame, images_dir: Path, token_file: Path) -> pd.DataFrame:
    if not images_dir.is_dir():
        raise FileNotFoundError(
            f"Images folder {images_dir} does not exist. Unpack the images there, or call "
            f"read_captions({str(token_file)!r}) without images_dir to skip the check."
        )
    present = set(os.listdir(images_dir))  # one directory listing, not 8,000 stat calls
    missing = ~captions["image"].isin(present)
    if missing.any():
        missing_images = captions.loc[missing, "image"].unique()
        warn_once(
            logger, "%s: dropped %d caption(s) of %d image(s) that are not in %s (for example %s).",
            token_file, int(missing.sum()), len(missing_images), images_dir, missing_images[0],
        )
    return captions.loc[~missing]


# ---------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------
def split_reports_rule(captions: pd.DataFrame, validation_fraction: float = 0.9) -> pd.DataFrame:
    """The caption-level split of the StackGAN+BERT report (docs/reference.md#split-rules).

    Captions #1..#4 of every image go to "train". Captions #0, in file order, are split:
    the first floor(validation_fraction * n0) go to "validation", the rest to "test".
    Note that train and validation/test share images (only the captions differ).
    Returns a copy of `captions` with a new column ``split``.
    """
    if not 0.0 <= validation_fraction <= 1.0:
        raise ValueError(
            f"validation_fraction must be between 0 and 1, got {validation_fraction}; "
            "the report used 0.9."
        )
    _check_columns(captions, ["caption_index"], "split_reports_rule")
    out = captions.copy()
    is_first = (out["caption_index"] == 0).to_numpy()
    n_first = int(is_first.sum())
    # round() guards against float noise such as 0.29 * 100 = 28.999999999999996
    n_validation = math.floor(round(validation_fraction * n_first, 9))
    first_rank = is_first.cumsum()  # 1, 2, ... along the #0 captions in file order
    out["split"] = "train"
    out.loc[is_first & (first_rank <= n_validation), "split"] = "validation"
    out.loc[is_first & (first_rank > n_validation), "split"] = "test"
    return out


def split_official(captions: pd.DataFrame, train_images, dev_images, test_images) -> pd.DataFrame:
    """Image-level split from the three official lists ("dev" becomes "validation").

    Every caption of an image goes to the split of its image. Captions of images that are
    in none of the lists are dropped (on Flickr8k, 91 images), with one counted warning.
    List entries that name images without captions are counted in one warning.
    Raises ValueError if an image is in two lists.
    """
    _check_columns(captions, ["image"], "split_official")
    lists = {"train": set(train_images), "validation": set(dev_images), "test": set(test_images)}
    for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
        both = lists[a] & lists[b]
        if both:
            raise ValueError(
                f"{len(both)} image(s) are in both the {a} and the {b} list "
                f"(for example {sorted(both)[0]}). An image may be in one split only: "
                "fix the list files."
            )
    split_of = {image: split for split, images in lists.items() for image in images}
    out = captions.copy()
    out["split"] = out["image"].map(split_of)

    unused = out["split"].isna()
    if unused.any():
        warn_once(
            logger, "Official split: dropped %d caption(s) of %d image(s) that are in none of the "
            "train/dev/test lists.",
            int(unused.sum()), out.loc[unused, "image"].nunique(),
        )
    have_captions = set(out["image"])
    orphans = {s: len(images - have_captions) for s, images in lists.items()}
    if sum(orphans.values()):
        warn_once(
            logger, "Official split: %d list entr(ies) name images that have no captions "
            "(train %d, validation %d, test %d); they are ignored.",
            sum(orphans.values()), orphans["train"], orphans["validation"], orphans["test"],
        )
    out = out.loc[~unused].reset_index(drop=True)
    out["split"] = out["split"].astype(str)
    return out


def assign_splits(
    captions: pd.DataFrame, files: DatasetFiles, rule: str = "reports", validation_fraction: float = 0.9
) -> pd.DataFrame:
    """Add a ``split`` column using `rule`: "reports" (caption-level, see
    `split_reports_rule`) or "official" (image-level, from the three list files)."""
    if rule == "reports":
        return split_reports_rule(captions, validation_fraction)
    if rule == "official":
        named = {TRAIN_LIST: files.train_list, DEV_LIST: files.dev_list, TEST_LIST: files.test_list}
        missing = [name for name, path in named.items() if path is None]
        if missing:
            raise ValueError(
                f"rule='official' needs {', '.join(missing)} in {files.root}, which "
                f"{'is' if len(missing) == 1 else 'are'} missing. Add the list file(s) or use "
                "rule='reports'."
            )
        return split_official(
            captions,
            read_image_list(files.train_list),
            read_image_list(files.dev_list),
            read_image_list(files.test_list),
        )
    raise ValueError(f"Unknown split rule {rule!r}: use 'reports' or 'official'.")


# ---------------------------------------------------------------------------------------
# CSV files
# ---------------------------------------------------------------------------------------
def write_splits(captions_with_split: pd.DataFrame, out_dir) -> dict[str, Path]:
    """Write ``captions.csv`` (all rows) and ``train.csv``, ``validation.csv``, ``test.csv``.

    Columns: image, caption_index, caption, split. Returns {"captions": path, "train": path,
    "validation": path, "test": path}. A split with no rows still gets a file (header only).
    """
    columns = COLUMNS + ["split"]
    _check_columns(captions_with_split, columns, "write_splits (call assign_splits first)")
    unknown = set(captions_with_split["split"]) - set(SPLITS)
    if unknown:
        raise ValueError(
            f"write_splits: unknown split name(s) {sorted(map(str, unknown))}; "
            f"use only {', '.join(SPLITS)}."
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = captions_with_split[columns]
    paths = {"captions": _write_csv(table, out_dir / "captions.csv")}
    for split in SPLITS:
        paths[split] = _write_csv(table[table["split"] == split], out_dir / f"{split}.csv")
    return paths


def _write_csv(table: pd.DataFrame, path: Path) -> Path:
    # Write beside the target under a private name, then rename: an interrupted run never leaves
    # half a file, and two runs writing the same splits at once do not take each other's file.
    with partial_file(path) as temporary:
        table.to_csv(temporary, index=False, encoding="utf-8")
    return path


def read_split_csv(path) -> pd.DataFrame:
    """Read a CSV written by `write_splits` (caption_index as int, text kept as str,
    so captions such as "NA" or "" are not turned into missing values)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Split file {path} does not exist. Create it with t2ilib.data.write_splits "
            "(or `python -m t2ilib prepare`)."
        )
    table = pd.read_csv(
        path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8"
    )
    _check_columns(table, COLUMNS, f"read_split_csv({path})")
    try:
        table["caption_index"] = table["caption_index"].astype("int64")
    except ValueError:
        raise ValueError(
            f"{path}: column caption_index must hold integers 0..4. Re-create the file with "
            "write_splits."
        ) from None
    return table


def _check_columns(table: pd.DataFrame, columns, who: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(
            f"{who}: the table has no column(s) {missing}; expected {list(columns)}. "
            "Make it with read_captions."
        )
