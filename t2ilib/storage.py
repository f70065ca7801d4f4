"""What takes space in a data folder (and the run folders in it), and what can be deleted.

    python -m t2ilib storage /content/drive/MyDrive/t2ilib          # a table, grouped
    storage_report(folder) -> list[StorageItem]                      # the same as data

Every file under the folders given is put in one group, by where it lies in the layouts the
kit writes (data_prep/, t2ilib.data.prepare, the trainers' run directories):

| group | what | deletable |
|---|---|---|
| zips | downloads/*.zip (+ .part) | yes: after a verified unpack they are never read again |
| images | a dataset's image folder (Flickr8k/Flicker8k_Dataset) | no: only a new download brings them back; a generated shapes dataset: yes |
| dataset text | captions, split lists, the zips' recorded sums | no (small) |
| word vectors | glove.6B.*.txt | yes: `data_prep/glove.py` extracts them again (an 822 MB download) |
| image caches | prepared/*/images_*.npy, letterbox_*.npy | yes: rebuilt from the images |
| embedding caches | prepared/*/embeddings/ | yes: rebuilt by the encoder (BERT: a minute on a GPU) |
| encoders and features | prepared/*/encoders/, prepared/*/features/, prepared/*/splits/ | yes: rebuilt identically |
| judge | prepared/*/judge/ (the R-precision judge, t2ilib.training.judge) | better not: retrained, but scores before and after are not comparable |
| run checkpoints | RUN/checkpoints/ | no while you may resume; only the newest one is needed |
| run best | RUN/best/ | no if you use the best epoch (notebooks 04/08 do) |
| run samples | RUN/samples/*.png | yes, but they are the run's record |
| run logs | RUN/logs/ (TensorBoard) | yes, but they are the run's record |
| run other | RUN/config.json, history.csv, metrics.json, ... | no (small) |
| other | anything else | ? |

Standard library only (the folder may be on Google Drive, read through its mount).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

GROUPS = ("zips", "images", "dataset text", "word vectors", "image caches", "embedding caches",
          "encoders and features", "judge", "run checkpoints", "run best", "run samples", "run logs", "run other", "other")

# group -> (can be deleted, what deleting costs / how it comes back)
GROUP_NOTES = {
    "zips": (True, "never read after the verified unpack (data_prep deletes them unless --keep-zips)"),
    "images": (False, "only a new download brings them back (generated shapes data: rebuilt by prepare)"),
    "dataset text": (False, "captions and split lists (small)"),
    "word vectors": (True, "python data_prep/glove.py extracts them again (downloads 822 MB)"),
    "image caches": (True, "rebuilt from the images by the next prepare (set data.cache_dir to keep them off Drive)"),
    "embedding caches": (True, "rebuilt by the caption encoder (set data.cache_dir to keep them off Drive)"),
    "encoders and features": (True, "rebuilt, identically, by the next prepare/embed"),
    "judge": (False, "the R-precision judge: retrained on next use, but r_precision figures before and after are not "
                     "comparable"),
    "run checkpoints": (False, "needed to resume; older ones than the newest can go"),
    "run best": (False, "the best epoch's weights (train.best_metric)"),
    "run samples": (True, "the run's sample grids: its record, not needed to resume"),
    "run logs": (True, "TensorBoard event files: the run's record, not needed to resume"),
    "run other": (False, "config.json, history.csv, metrics.json (small)"),
    "other": (False, "not written by t2ilib: look before deleting"),
}

GENERATED_NOTE = "the built-in shapes dataset: generated again by prepare"
RUN_FOLDERS = {"checkpoints": "run checkpoints", "best": "run best", "samples": "run samples", "logs": "run logs"}
RUN_MARKERS = ("config.json", "vae_config.json")  # the file every trainer writes first into its run directory


@dataclass
class StorageItem:
    """One folder (or file) of one group, with its total size."""

    path: str
    group: str
    bytes: int
    files: int
    deletable: bool
    note: str

    def to_dict(self) -> dict:
        return asdict(self)


def _size(path: Path) -> tuple[int, int]:
    """(bytes, files) under `path` (a file or a folder); links are not followed."""
    if path.is_file() or path.is_symlink():
        return (path.lstat().st_size, 1)
    total = count = 0
    for folder, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
                count += 1
            except OSError:  # vanished while walking (a sync, a running job)
                pass
    return total, count


def _is_run_dir(folder: Path) -> bool:
    return any((folder / marker).is_file() for marker in RUN_MARKERS) and any(
        (folder / name).is_dir() for name in ("checkpoints", "samples", "best", "logs"))


def _is_dataset_dir(folder: Path) -> bool:
    return (folder / "Flickr8k.token.txt").is_file() or (folder / "captions.txt").is_file() or any(
        (folder / name).is_dir() for name in ("Flicker8k_Dataset", "Flickr8k_Dataset", "images"))


def _classify_prepared(folder: Path, items: list) -> None:
    """prepared/<dataset>/: image caches, embeddings, encoders/features/splits."""
    for path in sorted(folder.iterdir()):
        if path.is_dir():
            group = "embedding caches" if path.name == "embeddings" else "encoders and features"
            if path.name == "judge":
                group = "judge"
            elif path.name not in ("embeddings", "encoders", "features", "splits"):
                group = "other"
        elif path.name.startswith(("images_", "letterbox_")):
            group = "image caches"
        else:
            group = "other"
        items.append((path, group))


def _classify(folder: Path, items: list) -> None:
    """Put every entry of `folder` in a group, going into folders whose layout the kit knows."""
    if _is_run_dir(folder):
        for path in sorted(folder.iterdir()):
            items.append((path, RUN_FOLDERS.get(path.name, "run other") if path.is_dir() else "run other"))
        return
    if _is_dataset_dir(folder):
        generated = folder.name.startswith("shapes-")
        for path in sorted(folder.iterdir()):
            group = "images" if path.is_dir() else "dataset text"
            items.append((path, f"{group} (generated)" if generated else group))
        return
    for path in sorted(folder.iterdir()):
        if path.is_symlink():
            items.append((path, "other"))
        elif path.is_dir() and path.name == "downloads":
            for entry in sorted(path.iterdir()):
                is_zip = entry.name.endswith((".zip", ".zip.part"))
                items.append((entry, "zips" if is_zip else "dataset text"))
        elif path.is_dir() and path.name == "prepared":
            for dataset in sorted(path.iterdir()):
                if dataset.is_dir():
                    _classify_prepared(dataset, items)
                else:
                    items.append((dataset, "other"))
        elif path.is_dir():
            _classify(path, items)
        elif path.name.startswith("glove.") and path.suffix == ".txt":
            items.append((path, "word vectors"))
        else:
            items.append((path, "other"))


def storage_report(*folders) -> list[StorageItem]:
    """Every top-level piece of `folders` (data folders, run folders, or a folder holding both),
    grouped as in the module docstring, largest first within each group."""
    pairs = []
    for folder in folders:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a folder: give the data folder (data.data_dir) or a run folder.")
        _classify(folder, pairs)
    items = []
    for path, group in pairs:
        size, count = _size(path)
        if group.endswith(" (generated)"):
            group, deletable, note = group.removesuffix(" (generated)"), True, GENERATED_NOTE
        else:
            deletable, note = GROUP_NOTES[group]
        items.append(StorageItem(str(path), group, size, count, deletable, note))
    items.sort(key=lambda item: (GROUPS.index(item.group), -item.bytes, item.path))
    return items


def group_totals(items) -> dict[str, int]:
    """{group: bytes} over `items` (groups in GROUPS order, empty ones left out)."""
    totals = {}
    for item in items:
        totals[item.group] = totals.get(item.group, 0) + item.bytes
    return {group: totals[group] for group in GROUPS if group in totals}


def human(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def format_report(items, top: int = 3) -> str:
    """A table by group (size, files, deletable, what deleting costs) and each group's largest items."""
    lines = [f"{'group':<22} {'size':>9} {'files':>7}  deletable  what deleting it costs"]
    by_group = {}
    for item in items:
        by_group.setdefault(item.group, []).append(item)
    for group, members in by_group.items():
        size = sum(item.bytes for item in members)
        files = sum(item.files for item in members)
        deletable = {item.deletable for item in members}
        mark = "yes" if deletable == {True} else "no" if deletable == {False} else "some"
        notes = dict.fromkeys(item.note for item in members)
        lines.append(f"{group:<22} {human(size):>9} {files:>7}  {mark:<9}  {'; '.join(notes)}")
        for item in members[:top]:
            lines.append(f"    {human(item.bytes):>9}  {item.path}")
        if len(members) > top:
            lines.append(f"    ... and {len(members) - top} more")
    total = sum(item.bytes for item in items)
    freeable = sum(item.bytes for item in items if item.deletable)
    lines.append(f"{'total':<22} {human(total):>9}   ({human(freeable)} of it can be deleted and rebuilt)")
    lines.append("On Google Drive a file deleted through the mount goes to Drive's trash and still counts "
                 "until the trash is emptied (drive.google.com > Trash).")
    return "\n".join(lines)
