"""Remove outputs, execution counts and per-session metadata from notebooks before committing.

    python tools/strip_notebooks.py                  # every notebooks/*.ipynb, in place
    python tools/strip_notebooks.py path/a.ipynb ... # just these
    python tools/strip_notebooks.py --check          # exit 1 if any notebook still has outputs

Kept: the cells, their ids and tags (the first code cell's `parameters` tag), and the
notebook's kernelspec and Colab settings. Removed: outputs, execution counts, and
metadata that only records one session (execution timings, collapsed/scrolled state,
Colab's per-user `outputId`/`executionInfo`, widget state).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
SESSION_CELL_KEYS = ("execution", "collapsed", "scrolled", "outputId", "executionInfo", "colab", "id")
SESSION_NOTEBOOK_KEYS = ("widgets",)


def strip(notebook) -> bool:
    """Strip `notebook` in place; return True if anything changed."""
    changed = False
    for cell in notebook.cells:
        if cell.cell_type == "code":
            if cell.get("outputs"):
                cell.outputs = []
                changed = True
            if cell.get("execution_count") is not None:
                cell.execution_count = None
                changed = True
        for key in SESSION_CELL_KEYS:
            if key in cell.metadata:
                del cell.metadata[key]
                changed = True
    for key in SESSION_NOTEBOOK_KEYS:
        if key in notebook.metadata:
            del notebook.metadata[key]
            changed = True
    return changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/*.ipynb)")
    parser.add_argument("--check", action="store_true", help="report notebooks that need stripping, change nothing")
    args = parser.parse_args(argv)
    paths = args.paths or sorted((REPO / "notebooks").glob("*.ipynb"))
    dirty = []
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        if not strip(notebook):
            continue
        dirty.append(path)
        if not args.check:
            nbformat.write(notebook, path)
            print(f"stripped {path}")
    if args.check and dirty:
        print("these notebooks have outputs or session metadata; run python tools/strip_notebooks.py:")
        print("\n".join(f"  {path}" for path in dirty))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
