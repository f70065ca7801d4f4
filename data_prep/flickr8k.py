"""Download, unpack and verify Flickr8k into DEST/Flickr8k (the layout t2ilib reads).

    python data_prep/flickr8k.py --dest /content/drive/MyDrive/t2ilib/data
    python data_prep/flickr8k.py --dest t2ilib_data --verify-only

Afterwards::

    DEST/
      downloads/Flickr8k_text.zip, Flickr8k_Dataset.zip    kept, so a re-run never downloads again
      Flickr8k/
        Flickr8k.token.txt, Flickr8k.lemma.token.txt, Flickr_8k.{train,dev,test}Images.txt, ...
        Flicker8k_Dataset/*.jpg                             ("Flicker" is the zip's own spelling)

and `t2ilib.data.flickr8k.find_dataset_files(DEST / "Flickr8k")` finds everything; with the
config `data.dataset = "flickr8k"`, `data.data_dir = DEST` the kit uses it directly.

Every step can be interrupted and re-run:
- a download goes to `<name>.part` and is renamed only when complete; a re-run continues a
  `.part` file with an HTTP Range request when the server allows it, and skips a finished zip;
- a zip is unpacked into a staging folder, moved into place, and then a marker file
  `Flickr8k/.unpacked-<zip name>` is written; a re-run skips zips whose marker is there.

Only the Python standard library is used, so the script runs before `pip install`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared helpers beside this script
from downloads import download, extract_zip  # noqa: E402

BASE_URL = "https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/"
TEXT_ZIP = "Flickr8k_text.zip"
IMAGES_ZIP = "Flickr8k_Dataset.zip"
DATASET_FOLDER = "Flickr8k"  # DEST/Flickr8k: where t2ilib looks for data.dataset = "flickr8k"
TOKEN_FILE = "Flickr8k.token.txt"
IMAGES_FOLDER = "Flicker8k_Dataset"  # the spelling inside the official zip; t2ilib looks for it first
OTHER_IMAGE_FOLDER_NAMES = ("Flickr8k_Dataset", "images")

# What the real Flickr8k release contains (docs/reference.md#files).
EXPECTED_TOKEN_LINES = 40_460
EXPECTED_JPEGS = 8_091
EXPECTED_MISSING = ("2258277193_586949ec62.jpg.1",)  # a key with a stray ".1": its 5 captions are dropped


def _find_images_folder(staging: Path) -> Path:
    """The folder of the staging tree that holds the JPEGs."""
    counts = {}
    for path in staging.rglob("*"):
        if path.is_file() and path.suffix.lower() in (".jpg", ".jpeg"):
            counts[path.parent] = counts.get(path.parent, 0) + 1
    if not counts:
        raise RuntimeError(f"No JPEG files in the unpacked images zip ({staging}).")
    return max(counts, key=counts.get)


def unpack(zip_path, dataset_dir) -> None:
    """Unpack one Flickr8k zip into `dataset_dir` (DEST/Flickr8k), once.

    The text zip's files go directly into `dataset_dir`; the image folder becomes
    `dataset_dir/Flicker8k_Dataset`, whatever it was called inside the zip.
    """
    zip_path, dataset_dir = Path(zip_path), Path(dataset_dir)
    marker = dataset_dir / f".unpacked-{zip_path.name}"
    if marker.is_file():
        print(f"  {zip_path.name}: already unpacked, skipped.")
        return
    dataset_dir.mkdir(parents=True, exist_ok=True)
    staging = dataset_dir.parent / f".{dataset_dir.name}-staging-{zip_path.stem}"
    if staging.exists():
        shutil.rmtree(staging)  # left over from an interrupted run
    staging.mkdir(parents=True)
    print(f"  {zip_path.name}: unpacking ...", flush=True)
    extract_zip(zip_path, staging)

    token_files = sorted(staging.rglob(TOKEN_FILE))
    if token_files:  # the text zip: move every file of the token file's folder
        for path in token_files[0].parent.iterdir():
            if path.is_file():
                os.replace(path, dataset_dir / path.name)
        moved = f"text files into {dataset_dir}"
    else:  # the images zip
        source = _find_images_folder(staging)
        target = dataset_dir / IMAGES_FOLDER
        if target.exists():
            shutil.rmtree(target)  # an earlier, unfinished unpack (its marker was never written)
        shutil.move(str(source), str(target))
        moved = f"{sum(1 for _ in target.iterdir())} files into {target}"
    shutil.rmtree(staging, ignore_errors=True)
    marker.write_text(f"unpacked from {zip_path}\n")
    print(f"  {zip_path.name}: moved {moved}.")


# ---------------------------------------------------------------------------------------
# Verify
# ---------------------------------------------------------------------------------------
@dataclass
class Verification:
    """What a Flickr8k-format folder holds, compared with the real release."""

    root: Path
    token_lines: int = 0
    token_images: int = 0  # distinct image names in the token file
    jpegs: int = 0
    images_dir: Path | None = None
    missing_images: list[str] = field(default_factory=list)  # named in the token file, no file
    errors: list[str] = field(default_factory=list)  # the folder cannot be used
    notes: list[str] = field(default_factory=list)  # usable, but differs from the real Flickr8k

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def is_real_flickr8k(self) -> bool:
        return self.ok and not self.notes

    def summary(self) -> str:
        images_name = self.images_dir.name if self.images_dir else "images folder"
        examples = ", ".join(self.missing_images[:3]) + (", ..." if len(self.missing_images) > 3 else "")
        lines = [
            f"Flickr8k folder {self.root}",
            (f"  {TOKEN_FILE}: {self.token_lines:,} lines naming {self.token_images:,} images "
             f"(real Flickr8k: {EXPECTED_TOKEN_LINES:,} lines)"),
            f"  {images_name}: {self.jpegs:,} JPEGs (real Flickr8k: {EXPECTED_JPEGS:,})",
            f"  named in the token file but missing: {len(self.missing_images)}"
            + (f" ({examples})" if self.missing_images else "")
            + f" (real Flickr8k: 1, {EXPECTED_MISSING[0]}, whose captions t2ilib drops)",
        ]
        lines += [f"  ERROR: {text}" for text in self.errors]
        lines += [f"  note: {text}" for text in self.notes]
        if self.is_real_flickr8k:
            lines.append("  OK: this is the complete Flickr8k release.")
        elif self.ok:
            lines.append("  OK: usable by t2ilib (see the notes for how it differs from the real Flickr8k).")
        return "\n".join(lines)


def verify(root) -> Verification:
    """Count lines, images and missing files of a Flickr8k-format folder (standard library only)."""
    root = Path(root)
    result = Verification(root=root)
    token_file = root / TOKEN_FILE
    if not token_file.is_file():
        result.errors.append(f"no {TOKEN_FILE} in {root}")
        return result
    names = []
    with open(token_file, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if not line.strip():
                continue
            result.token_lines += 1
            key = line.split("\t", 1)[0].strip()
            names.append(key.rpartition("#")[0] or key)
    unique_names = list(dict.fromkeys(names))
    result.token_images = len(unique_names)

    folder = next((root / name for name in (IMAGES_FOLDER, *OTHER_IMAGE_FOLDER_NAMES) if (root / name).is_dir()), None)
    if folder is None:
        result.errors.append(f"no images folder ({IMAGES_FOLDER}/) in {root}")
        return result
    result.images_dir = folder
    present = set(os.listdir(folder))
    result.jpegs = sum(1 for name in present if name.lower().endswith((".jpg", ".jpeg")))
    result.missing_images = [name for name in unique_names if name not in present]

    if result.jpegs == 0:
        result.errors.append(f"{folder} holds no JPEG files")
    elif len(result.missing_images) == len(unique_names):
        result.errors.append(f"none of the images named in {TOKEN_FILE} is in {folder}")
    if result.token_lines != EXPECTED_TOKEN_LINES:
        result.notes.append(f"{result.token_lines:,} caption lines, not {EXPECTED_TOKEN_LINES:,}")
    if result.jpegs != EXPECTED_JPEGS:
        result.notes.append(f"{result.jpegs:,} JPEGs, not {EXPECTED_JPEGS:,}")
    if tuple(result.missing_images) != EXPECTED_MISSING:
        result.notes.append(f"missing images differ from the known one ({EXPECTED_MISSING[0]})")
    return result


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------
def prepare_flickr8k(dest, base_url: str = BASE_URL, delete_zips: bool = False) -> Verification:
    """Download (once), unpack (once) and verify Flickr8k under `dest`."""
    dest = Path(dest).expanduser()
    dataset_dir = dest / DATASET_FOLDER
    downloads = dest / "downloads"
    base_url = base_url if base_url.endswith("/") else base_url + "/"
    for name in (TEXT_ZIP, IMAGES_ZIP):
        if (dataset_dir / f".unpacked-{name}").is_file():
            print(f"  {name}: already unpacked in {dataset_dir}, no download needed.")
            continue
        zip_path = download(base_url + name, downloads / name)
        unpack(zip_path, dataset_dir)
        if delete_zips:
            zip_path.unlink()
            print(f"  {name}: deleted the zip (--delete-zips).")
    return verify(dataset_dir)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Download, unpack and verify Flickr8k into DEST/Flickr8k.")
    parser.add_argument("--dest", default="t2ilib_data",
                        help="data folder (the config's data.data_dir); Flickr8k goes to DEST/Flickr8k "
                             "(default: %(default)s)")
    parser.add_argument("--base-url", default=BASE_URL,
                        help="where the two zips are (default: %(default)s); file:// URLs work too")
    parser.add_argument("--verify-only", action="store_true", help="only count what DEST/Flickr8k holds")
    parser.add_argument("--delete-zips", action="store_true",
                        help="delete each zip after unpacking it (saves ~1.1 GB; a re-run still skips the download)")
    args = parser.parse_args(argv)

    if args.verify_only:
        result = verify(Path(args.dest).expanduser() / DATASET_FOLDER)
    else:
        print(f"Flickr8k -> {Path(args.dest).expanduser() / DATASET_FOLDER} (from {args.base_url})")
        try:
            result = prepare_flickr8k(args.dest, args.base_url, delete_zips=args.delete_zips)
        except RuntimeError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    print(result.summary())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
