"""Download GloVe (glove.6B, Stanford NLP) and extract the dimensions you need into DEST.

    python data_prep/glove.py --dest /content/drive/MyDrive/t2ilib/data            # glove.6B.50d.txt
    python data_prep/glove.py --dest t2ilib_data --dims 50 300 --keep-zip

Afterwards::

    DEST/
      downloads/SHA256SUMS          the zip's and the extracted files' SHA-256, recorded on first use
      glove.6B.50d.txt              400,000 lines "word v1 ... v50" (171 MB); 100d/200d/300d when asked

That path is what `t2ilib.text.GloveEncoder`, the config field `text.glove_path` and the
VAE notebook expect. The zip (822 MB) is downloaded to the runtime's local disk (`--local-dir`,
default /content/t2ilib_local on Colab) and deleted after the extraction unless `--keep-zip`
(then it is kept in DEST/downloads, and other dimensions need no new download).

What is verified: no SHA-256 of glove.6B.zip is published, so the zip is checked by its size
(862,182,613 bytes, when downloaded from the Stanford URL) and by the CRC-32 the zip stores for
every member (checked while extracting); its SHA-256 and those of the extracted files are then
recorded in DEST/downloads/SHA256SUMS (trust on first use) and every later run checks the
files against them. A mismatch stops with the file, both sums, and what to do.

A file already in DEST is kept; each extraction is written to `<name>.part` and renamed when
complete, so an interrupted run is simply run again. Only the Python standard library is used.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared helpers beside this script
from downloads import (ChecksumMismatch, check_file, download, file_digest, local_work_dir,  # noqa: E402
                       read_sums, record_sum)

GLOVE_URL = "https://nlp.stanford.edu/data/glove.6B.zip"
GLOVE_ZIP_BYTES = 862_182_613  # size of glove.6B.zip at GLOVE_URL (no checksum is published)
RECORDED_SUMS = "SHA256SUMS"  # DEST/downloads/SHA256SUMS: sums recorded on first use
DIMENSIONS = (50, 100, 200, 300)
EXPECTED_WORDS = 400_000  # lines of every glove.6B file


def glove_file_name(dim: int) -> str:
    return f"glove.6B.{dim}d.txt"


def extract_glove(zip_path, dest, dims=(50,)) -> list[Path]:
    """Copy `glove.6B.<dim>d.txt` for each of `dims` out of the zip into `dest` (skipping files already there)."""
    zip_path, dest = Path(zip_path), Path(dest)
    written = []
    try:
        archive = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as error:
        raise RuntimeError(f"{zip_path} is not a complete zip file ({error}). Delete it and re-run.") from error
    with archive:
        members = {Path(name).name: name for name in archive.namelist()}
        for dim in dims:
            name = glove_file_name(dim)
            target = dest / name
            if target.is_file():
                print(f"  {name}: already in {dest}, skipped.")
                written.append(target)
                continue
            if name not in members:
                raise RuntimeError(f"{zip_path} has no {name} (it holds {', '.join(sorted(members))}).")
            partial = target.with_name(name + ".part")
            dest.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(members[name]) as source, open(partial, "wb") as out:
                    while chunk := source.read(1 << 20):  # zipfile checks the member's CRC-32 at its end
                        out.write(chunk)
            except zipfile.BadZipFile as error:
                partial.unlink(missing_ok=True)
                raise ChecksumMismatch(f"{zip_path}: {name} fails the zip's own CRC-32 check ({error}). The zip is "
                                       "damaged: delete it and run again to download it afresh.") from error
            os.replace(partial, target)
            print(f"  {name}: {target.stat().st_size / 1e6:.1f} MB -> {target}")
            written.append(target)
    return written


def count_lines(path) -> int:
    with open(path, "rb") as file:
        return sum(1 for _ in file)


def check_recorded(paths, recorded_path) -> None:
    """Check each of `paths` against the SHA-256 recorded for its name in `recorded_path` (if any)."""
    recorded = read_sums(recorded_path)
    for path in paths:
        check_file(path, {"sha256": (recorded.get(Path(path).name), f"recorded in {recorded_path} on first use")},
                   f"Delete {path} and run again to extract it afresh.")


def prepare_glove(dest, dims=(50,), url: str = GLOVE_URL, keep_zip: bool = False, local_dir=None) -> list[Path]:
    """Download (once), check and extract the GloVe files of `dims` into `dest`; return their paths."""
    dest = Path(dest).expanduser()
    for dim in dims:
        if dim not in DIMENSIONS:
            raise ValueError(f"glove.6B has {', '.join(map(str, DIMENSIONS))} dimensions, not {dim}.")
    recorded_path = dest / "downloads" / RECORDED_SUMS
    targets = [dest / glove_file_name(dim) for dim in dims]
    if all(target.is_file() for target in targets):
        check_recorded(targets, recorded_path)
        print(f"  GloVe {', '.join(f'{d}d' for d in dims)}: already in {dest}, no download needed.")
        return targets
    kept = dest / "downloads" / Path(url).name
    fresh = not kept.is_file()
    zip_path = download(url, local_work_dir(local_dir) / "downloads" / kept.name) if fresh else kept
    advice = ("The damaged download was deleted: run the same command again." if fresh
              else f"Delete {zip_path} and run again to download it afresh.")
    try:
        if url == GLOVE_URL and zip_path.stat().st_size != GLOVE_ZIP_BYTES:
            raise ChecksumMismatch(f"{zip_path}: {zip_path.stat().st_size:,} bytes, expected {GLOVE_ZIP_BYTES:,} "
                                   f"(the size of glove.6B.zip at {GLOVE_URL}). The download is incomplete or is "
                                   f"another file. {advice}")
        recorded = read_sums(recorded_path).get(zip_path.name)
        check_file(zip_path, {"sha256": (recorded, f"recorded in {recorded_path} on first use")}, advice)
        paths = extract_glove(zip_path, dest, dims)
    except ChecksumMismatch:
        if fresh:
            zip_path.unlink(missing_ok=True)
        raise
    check_recorded(paths, recorded_path)  # files extracted in an earlier run
    for path in [zip_path, *paths]:
        if path.name not in read_sums(recorded_path):
            record_sum(recorded_path, path.name, file_digest(path))
    print(f"  SHA-256 of {zip_path.name} and {', '.join(p.name for p in paths)} in {recorded_path} "
          "(checked on every later run).")
    if keep_zip and fresh:
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(zip_path), str(kept))
        print(f"  {zip_path.name}: kept in {kept} (--keep-zip).")
    elif not keep_zip:
        zip_path.unlink()
        print(f"  {zip_path.name}: deleted after extracting (--keep-zip keeps it).")
    if fresh and zip_path.parent.parent.name.startswith("t2ilib-local-"):  # a temporary folder of this run
        shutil.rmtree(zip_path.parent.parent, ignore_errors=True)
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Download glove.6B and extract the chosen dimensions into DEST.")
    parser.add_argument("--dest", default="t2ilib_data", help="data folder (default: %(default)s)")
    parser.add_argument("--dims", type=int, nargs="+", default=[50], choices=DIMENSIONS,
                        help="which files to extract (default: 50, the VAE report's)")
    parser.add_argument("--url", default=GLOVE_URL, help="where glove.6B.zip is (default: %(default)s); file:// works")
    parser.add_argument("--keep-zip", action="store_true",
                        help="keep the 822 MB zip in DEST/downloads (default: deleted after extracting)")
    parser.add_argument("--local-dir", default=None,
                        help="local disk for the download (default: $T2ILIB_LOCAL_DIR, else /content/t2ilib_local on "
                             "Colab, else a temporary folder)")
    args = parser.parse_args(argv)
    print(f"GloVe -> {Path(args.dest).expanduser()} (from {args.url})")
    try:
        paths = prepare_glove(args.dest, args.dims, args.url, keep_zip=args.keep_zip, local_dir=args.local_dir)
    except (RuntimeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in paths:
        lines = count_lines(path)
        note = "" if lines == EXPECTED_WORDS else f" (the real glove.6B files have {EXPECTED_WORDS:,})"
        print(f"  {path}: {lines:,} words{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
