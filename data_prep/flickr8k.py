"""Download, unpack and verify Flickr8k into DEST/Flickr8k (the layout t2ilib reads).

    python data_prep/flickr8k.py --dest /content/drive/MyDrive/t2ilib/data
    python data_prep/flickr8k.py --dest t2ilib_data --verify-only

Afterwards::

    DEST/
      downloads/SHA256SUMS        the two zips' SHA-256, recorded when they were first verified
      Flickr8k/
        Flickr8k.token.txt, Flickr8k.lemma.token.txt, Flickr_8k.{train,dev,test}Images.txt, ...
        Flicker8k_Dataset/*.jpg                             ("Flicker" is the zip's own spelling)

and `t2ilib.data.flickr8k.find_dataset_files(DEST / "Flickr8k")` finds everything; with the
config `data.dataset = "flickr8k"`, `data.data_dir = DEST` the kit uses it directly.

What is verified (checksums beside this script, `SHA256SUMS` and `MD5SUMS`):
- each zip's MD5 against the sum published for the jbrownlee release (MD5SUMS), before unpacking;
- each zip's SHA-256 against DEST/downloads/SHA256SUMS when an earlier run recorded it there
  (trust on first use: the kit had no published SHA-256 of the zips to start from);
- the five text files against their known SHA-256 (SHA256SUMS), when unpacked and on every
  later run; the images by count (8,091) and by the zip's own CRC-32 of every member.
A mismatch stops with the file, the expected and the actual sum, and what to do.

Downloads and unpacking happen on the runtime's local disk (`--local-dir`, default
/content/t2ilib_local on Colab, a temporary folder elsewhere); only the unpacked, verified
files are moved into DEST, and the zips are then deleted (`--keep-zips` keeps them in
DEST/downloads). On Colab DEST is on Drive, where a deleted file still counts until Drive's
trash is emptied: the zips never go there.

Every step can be interrupted and re-run:
- a download goes to `<name>.part` and is renamed only when complete; a re-run continues a
  `.part` file with an HTTP Range request when the server allows it, and skips a finished zip;
- a zip is unpacked into a staging folder, checked, moved into place, and then a marker file
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
from downloads import (ChecksumMismatch, check_file, download, extract_zip, file_digest,  # noqa: E402
                       local_work_dir, read_sums, record_sum)

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

# Known checksums, beside this script: SHA256SUMS (the text files; from the text release kept in
# ../shared/data/flickr8k_text) and MD5SUMS (the two zips, as published for the jbrownlee release by
# mlverse/torchvision, R/dataset-flickr.R). `--checksums DIR` points at another folder with the same
# two files (a course's own copy of the data; the tests' tiny zips).
CHECKSUMS_DIR = Path(__file__).resolve().parent
RECORDED_SUMS = "SHA256SUMS"  # DEST/downloads/SHA256SUMS: the zips' SHA-256, recorded on first verified unpack


@dataclass
class KnownSums:
    """Checksums the kit knows before downloading: {file name: hex digest} per algorithm."""

    sha256: dict[str, str]
    md5: dict[str, str]
    folder: Path

    @classmethod
    def load(cls, folder=CHECKSUMS_DIR) -> "KnownSums":
        folder = Path(folder)
        if not folder.is_dir():
            raise RuntimeError(f"--checksums {folder}: no such folder (it should hold SHA256SUMS and/or MD5SUMS).")
        return cls(read_sums(folder / "SHA256SUMS"), read_sums(folder / "MD5SUMS"), folder)

    def text_files(self) -> dict[str, str]:
        """The SHA-256 of every non-zip file (the text release's files)."""
        return {name: value for name, value in self.sha256.items() if not name.endswith(".zip")}


def check_text_files(folder, known: KnownSums, what_to_do: str) -> list[str]:
    """Check every text file `known` has a SHA-256 for against the copy in `folder`; return their names.
    A known file that is missing, or differs, raises ChecksumMismatch."""
    folder = Path(folder)
    checked = []
    for name, expected in sorted(known.text_files().items()):
        path = folder / name
        if not path.is_file():
            raise ChecksumMismatch(f"{path} is missing; the Flickr8k text release holds it "
                                   f"({known.folder / 'SHA256SUMS'} lists it). {what_to_do}")
        check_file(path, {"sha256": (expected, f"known sum, {known.folder / 'SHA256SUMS'}")}, what_to_do)
        checked.append(name)
    return checked


def check_zip(zip_path, known: KnownSums, recorded: dict[str, str], what_to_do: str) -> dict[str, str]:
    """MD5 (published) and SHA-256 (known, or recorded on first use) of one zip; returns both digests."""
    name = Path(zip_path).name
    expected_sha = known.sha256.get(name) or recorded.get(name)
    sha_source = (f"known sum, {known.folder / 'SHA256SUMS'}" if name in known.sha256
                  else "recorded when this data folder first verified it")
    got = check_file(zip_path, {"md5": (known.md5.get(name), f"published sum, {known.folder / 'MD5SUMS'}"),
                                "sha256": (expected_sha, sha_source)}, what_to_do)
    got.setdefault("sha256", file_digest(zip_path, "sha256"))
    return got


def _find_images_folder(staging: Path) -> Path:
    """The folder of the staging tree that holds the JPEGs."""
    counts = {}
    for path in staging.rglob("*"):
        if path.is_file() and path.suffix.lower() in (".jpg", ".jpeg"):
            counts[path.parent] = counts.get(path.parent, 0) + 1
    if not counts:
        raise RuntimeError(f"No JPEG files in the unpacked images zip ({staging}).")
    return max(counts, key=counts.get)


def unpack(zip_path, dataset_dir, work_dir=None, known: KnownSums | None = None) -> list[str]:
    """Unpack one Flickr8k zip into `dataset_dir` (DEST/Flickr8k), once; return the text files checked.

    The zip is unpacked into a staging folder in `work_dir` (the local disk; default: beside
    `dataset_dir`); the text zip's files are checked against `known` there, before anything is
    moved, then go directly into `dataset_dir`; the image folder becomes
    `dataset_dir/Flicker8k_Dataset`, whatever it was called inside the zip.
    """
    zip_path, dataset_dir = Path(zip_path), Path(dataset_dir)
    marker = dataset_dir / f".unpacked-{zip_path.name}"
    if marker.is_file():
        print(f"  {zip_path.name}: already unpacked, skipped.")
        return []
    dataset_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(work_dir or dataset_dir.parent) / f".{dataset_dir.name}-staging-{zip_path.stem}"
    if staging.exists():
        shutil.rmtree(staging)  # left over from an interrupted run
    staging.mkdir(parents=True)
    print(f"  {zip_path.name}: unpacking into {staging} ...", flush=True)
    checked = []
    try:
        extract_zip(zip_path, staging)
        token_files = sorted(staging.rglob(TOKEN_FILE))
        if token_files:  # the text zip: check, then move every file of the token file's folder
            if known is not None:
                checked = check_text_files(
                    token_files[0].parent, known,
                    f"Nothing was moved into {dataset_dir}. Delete {zip_path} and run again to download it afresh.")
            for path in token_files[0].parent.iterdir():
                if path.is_file():
                    shutil.move(str(path), str(dataset_dir / path.name))  # a copy when DEST is on another disk
            moved = f"text files into {dataset_dir}" + (f" ({len(checked)} checked by SHA-256)" if checked else "")
        else:  # the images zip
            source = _find_images_folder(staging)
            target = dataset_dir / IMAGES_FOLDER
            if target.exists():
                shutil.rmtree(target)  # an earlier, unfinished unpack (its marker was never written)
            shutil.move(str(source), str(target))
            moved = f"{sum(1 for _ in target.iterdir())} files into {target}"
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    marker.write_text(f"unpacked from {zip_path}\n")
    print(f"  {zip_path.name}: moved {moved}.")
    return checked


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
    checksums_ok: list[str] = field(default_factory=list)  # files whose SHA-256 matched the known sum

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
        if self.checksums_ok:
            lines.append(f"  SHA-256 as known: {', '.join(self.checksums_ok)}")
        lines += [f"  ERROR: {text}" for text in self.errors]
        lines += [f"  note: {text}" for text in self.notes]
        if self.is_real_flickr8k:
            lines.append("  OK: this is the complete Flickr8k release.")
        elif self.ok:
            lines.append("  OK: usable by t2ilib (see the notes for how it differs from the real Flickr8k).")
        return "\n".join(lines)


def verify(root, known: KnownSums | None = None) -> Verification:
    """Count lines, images and missing files of a Flickr8k-format folder (standard library only);
    with `known`, also check the text files' SHA-256 (a mismatch is an error)."""
    root = Path(root)
    result = Verification(root=root)
    token_file = root / TOKEN_FILE
    if not token_file.is_file():
        result.errors.append(f"no {TOKEN_FILE} in {root}")
        return result
    if known is not None:
        try:
            result.checksums_ok = check_text_files(
                root, known, f"Delete it and {root}/.unpacked-{TEXT_ZIP}, then run again to download and "
                             "unpack the text release afresh (2 MB).")
        except ChecksumMismatch as error:
            result.errors.append(str(error))
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
def prepare_flickr8k(dest, base_url: str = BASE_URL, keep_zips: bool = False, local_dir=None,
                     checksums=CHECKSUMS_DIR) -> Verification:
    """Download (once), check, unpack (once, on local disk) and verify Flickr8k under `dest`.

    Zips are downloaded into `local_dir` (see `downloads.local_work_dir`) and deleted after a
    verified unpack unless `keep_zips` (then moved to DEST/downloads). A zip already in
    DEST/downloads (an earlier --keep-zips run) is checked and used instead of a download.
    Raises ChecksumMismatch (or RuntimeError) with what to do; nothing unverified reaches DEST.
    """
    dest = Path(dest).expanduser()
    known = KnownSums.load(checksums)
    dataset_dir = dest / DATASET_FOLDER
    downloads = dest / "downloads"
    recorded_path = downloads / RECORDED_SUMS
    base_url = base_url if base_url.endswith("/") else base_url + "/"
    work = None
    for name in (TEXT_ZIP, IMAGES_ZIP):
        if (dataset_dir / f".unpacked-{name}").is_file():
            print(f"  {name}: already unpacked in {dataset_dir}, no download needed.")
            continue
        work = work or local_work_dir(local_dir)
        kept = downloads / name
        zip_path = kept if kept.is_file() else download(base_url + name, work / "downloads" / name)
        fresh = zip_path != kept
        advice = ("The damaged download was deleted: run the same command again to download it afresh."
                  if fresh else f"Delete {zip_path} and run again to download it afresh.")
        advice += (" If it happens again, the copy at the source is not the release the kit knows; for a copy of "
                   "your own, pass --checksums DIR with its SHA256SUMS and MD5SUMS.")
        try:
            sums = check_zip(zip_path, known, read_sums(recorded_path), advice)
        except ChecksumMismatch:
            if fresh:
                zip_path.unlink()
            raise
        unpack(zip_path, dataset_dir, work_dir=work, known=known)
        if name not in read_sums(recorded_path):
            record_sum(recorded_path, name, sums["sha256"])
            print(f"  {name}: SHA-256 {sums['sha256']} recorded in {recorded_path} (checked on every later use).")
        if keep_zips and fresh:
            downloads.mkdir(parents=True, exist_ok=True)
            shutil.move(str(zip_path), str(kept))
            print(f"  {name}: kept in {kept} (--keep-zips).")
        elif not keep_zips:
            zip_path.unlink()
            note = " (on Google Drive it still counts until Drive's trash is emptied)" if not fresh else ""
            print(f"  {name}: deleted the zip after the verified unpack{note}.")
    if work is not None and work.name.startswith("t2ilib-local-"):  # a temporary folder of this run
        shutil.rmtree(work, ignore_errors=True)
    return verify(dataset_dir, known)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Download, unpack and verify Flickr8k into DEST/Flickr8k.")
    parser.add_argument("--dest", default="t2ilib_data",
                        help="data folder (the config's data.data_dir); Flickr8k goes to DEST/Flickr8k "
                             "(default: %(default)s)")
    parser.add_argument("--base-url", default=BASE_URL,
                        help="where the two zips are (default: %(default)s); file:// URLs work too")
    parser.add_argument("--verify-only", action="store_true", help="only count what DEST/Flickr8k holds")
    parser.add_argument("--keep-zips", action="store_true",
                        help="keep the zips in DEST/downloads (1.1 GB); by default they are deleted after a "
                             "verified unpack (the markers still prevent a new download)")
    parser.add_argument("--local-dir", default=None,
                        help="the runtime's local disk, where zips are downloaded and unpacked before the files move "
                             "to DEST (default: $T2ILIB_LOCAL_DIR, else /content/t2ilib_local on Colab, else a "
                             "temporary folder)")
    parser.add_argument("--checksums", default=str(CHECKSUMS_DIR),
                        help="folder with the known SHA256SUMS / MD5SUMS (default: beside this script)")
    args = parser.parse_args(argv)

    if args.verify_only:
        try:
            result = verify(Path(args.dest).expanduser() / DATASET_FOLDER, KnownSums.load(args.checksums))
        except (RuntimeError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    else:
        print(f"Flickr8k -> {Path(args.dest).expanduser() / DATASET_FOLDER} (from {args.base_url})")
        try:
            result = prepare_flickr8k(args.dest, args.base_url, keep_zips=args.keep_zips, local_dir=args.local_dir,
                                      checksums=args.checksums)
        except (RuntimeError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    print(result.summary())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
