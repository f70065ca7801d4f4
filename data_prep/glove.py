"""Download GloVe (glove.6B, Stanford NLP) and extract the dimensions you need into DEST.

    python data_prep/glove.py --dest /content/drive/MyDrive/t2ilib/data            # glove.6B.50d.txt
    python data_prep/glove.py --dest t2ilib_data --dims 50 300 --delete-zip

Afterwards::

    DEST/
      downloads/glove.6B.zip        822 MB, kept (unless --delete-zip) so a re-run never downloads again
      glove.6B.50d.txt              400,000 lines "word v1 ... v50" (171 MB); 100d/200d/300d when asked

That path is what `t2ilib.text.GloveEncoder`, the config field `text.glove_path` and the
VAE notebook expect. A file already in DEST is kept; each extraction is written to
`<name>.part` and renamed when complete, so an interrupted run is simply run again.
Only the Python standard library is used.
"""

from __future__ import annotations

import argparse
import os
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared helpers beside this script
from downloads import download  # noqa: E402

GLOVE_URL = "https://nlp.stanford.edu/data/glove.6B.zip"
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
            with archive.open(members[name]) as source, open(partial, "wb") as out:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
            os.replace(partial, target)
            print(f"  {name}: {target.stat().st_size / 1e6:.1f} MB -> {target}")
            written.append(target)
    return written


def count_lines(path) -> int:
    with open(path, "rb") as file:
        return sum(1 for _ in file)


def prepare_glove(dest, dims=(50,), url: str = GLOVE_URL, delete_zip: bool = False) -> list[Path]:
    """Download (once) and extract the GloVe files of `dims` into `dest`; return their paths."""
    dest = Path(dest).expanduser()
    for dim in dims:
        if dim not in DIMENSIONS:
            raise ValueError(f"glove.6B has {', '.join(map(str, DIMENSIONS))} dimensions, not {dim}.")
    if all((dest / glove_file_name(dim)).is_file() for dim in dims):
        print(f"  GloVe {', '.join(f'{d}d' for d in dims)}: already in {dest}, no download needed.")
        return [dest / glove_file_name(dim) for dim in dims]
    zip_path = download(url, dest / "downloads" / Path(url).name)
    paths = extract_glove(zip_path, dest, dims)
    if delete_zip:
        zip_path.unlink()
        print(f"  {zip_path.name}: deleted (--delete-zip).")
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Download glove.6B and extract the chosen dimensions into DEST.")
    parser.add_argument("--dest", default="t2ilib_data", help="data folder (default: %(default)s)")
    parser.add_argument("--dims", type=int, nargs="+", default=[50], choices=DIMENSIONS,
                        help="which files to extract (default: 50, the VAE report's)")
    parser.add_argument("--url", default=GLOVE_URL, help="where glove.6B.zip is (default: %(default)s); file:// works")
    parser.add_argument("--delete-zip", action="store_true", help="delete the 822 MB zip after extracting")
    args = parser.parse_args(argv)
    print(f"GloVe -> {Path(args.dest).expanduser()} (from {args.url})")
    try:
        paths = prepare_glove(args.dest, args.dims, args.url, delete_zip=args.delete_zip)
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
