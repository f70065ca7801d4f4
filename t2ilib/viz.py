"""Pictures: sample grids (captions x noise), loss curves, comparison sheets (runs side by side),
AttnGAN's word-attention figure."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np


def to_uint8(images) -> np.ndarray:
    """Model images in [-1, 1] -> uint8 [0, 255] (rounded, clipped)."""
    images = np.asarray(images, dtype=np.float32)
    return np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        try:
            import IPython  # noqa: F401  (in a notebook keep the inline backend)
            from IPython import get_ipython

            if get_ipython() is None:
                matplotlib.use("Agg")
        except ImportError:
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def caption_label(caption: str, wrap: int = 28, max_chars: int = 140) -> str:
    """A caption wrapped to `wrap` columns for a figure, cut to about `max_chars` characters
    with " ..." (a 10,000-character caption would otherwise take seconds and the whole page)."""
    return textwrap.fill(textwrap.shorten(caption, max_chars, placeholder=" ...") if len(caption) > max_chars
                         else caption, wrap)


def save_sample_grid(images, captions: list[str], path, title: str | None = None, wrap: int = 28,
                     column_labels: list[str] | None = None):
    """Save a grid with one row per caption (its text on the left) and one column per noise vector.

    images: uint8 (num_captions, num_noise, H, W, 3); W may be a multiple of H (side-by-side cells).
    column_labels: optional titles above the columns (e.g. the variants of a comparison).
    """
    images = np.asarray(images)
    rows, cols = images.shape[:2]
    aspect = images.shape[3] / images.shape[2]  # 1 for square cells
    plt = _pyplot()
    figure, axes = plt.subplots(rows, cols + 1, figsize=(1.3 * aspect * cols + 2.6, 1.3 * rows),
                                gridspec_kw={"width_ratios": [2.2] + [aspect] * cols}, squeeze=False)
    for r in range(rows):
        axes[r, 0].axis("off")
        axes[r, 0].text(1.0, 0.5, caption_label(captions[r], wrap), ha="right", va="center", fontsize=7,
                        transform=axes[r, 0].transAxes)
        for c in range(cols):
            axes[r, c + 1].imshow(images[r, c], interpolation="nearest")
            axes[r, c + 1].axis("off")
            if r == 0 and column_labels is not None and column_labels[c]:
                axes[r, c + 1].set_title(textwrap.fill(str(column_labels[c]), 14), fontsize=7)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout(pad=0.3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)  # PNG: lossless, as the metrics expect
    plt.close(figure)
    return path


def side_by_side(small, large, gap: int = 4) -> np.ndarray:
    """Stage-I and Stage-II images as one picture per cell: the small image upscaled (nearest,
    so its pixels stay visible) to the large size, a white gap, then the large image.

    small: uint8 (..., s, s, 3), large: uint8 (..., S, S, 3) with S a multiple of s.
    Returns uint8 (..., S, 2S + gap, 3).
    """
    small, large = np.asarray(small), np.asarray(large)
    factor = large.shape[-2] // small.shape[-2]
    upscaled = np.repeat(np.repeat(small, factor, axis=-3), factor, axis=-2)
    white = np.full(large.shape[:-2] + (gap, 3), 255, dtype=np.uint8)
    return np.concatenate([upscaled, white, large], axis=-2)


def save_stacked_grid(stage1_images, stage2_images, captions: list[str], path, title: str | None = None):
    """`save_sample_grid` of `side_by_side` cells: per caption and noise, Stage-I | Stage-II."""
    return save_sample_grid(side_by_side(stage1_images, stage2_images), captions, path, title=title)


SCORE_COLUMNS = ("fidelity", "r_precision", "real_r_precision")  # in [0, 1]: drawn on their own axis


def plot_history(history, path, columns=None, title: str | None = None):
    """Loss curves from a history table (pandas DataFrame or path to history.csv). Scores in
    [0, 1] (`SCORE_COLUMNS`: fidelity, r_precision, ...) are drawn dashed on a right-hand 0-1
    axis; epochs where a column was not measured (empty in the CSV) are skipped."""
    import pandas as pd

    table = pd.read_csv(history) if isinstance(history, (str, Path)) else history
    columns = columns or [c for c in table.columns if c not in ("epoch", "learning_rate")]
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 3.5))
    epochs = np.asarray(table["epoch"] + 1 if "epoch" in table else np.arange(1, len(table) + 1))
    scores = [column for column in columns if column in SCORE_COLUMNS]
    score_axis = axis.twinx() if scores else None
    for index, column in enumerate(columns):
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
        kept = np.isfinite(values)
        target = score_axis if column in scores else axis
        target.plot(epochs[kept], values[kept], marker="o" if kept.sum() < 30 else None, markersize=3, label=column,
                    linestyle="--" if column in scores else "-", color=f"C{index}")
    axis.set_xlabel("epoch")
    axis.grid(alpha=0.3)
    handles, labels = axis.get_legend_handles_labels()
    if score_axis is not None:
        score_axis.set_ylim(0, 1)
        score_axis.set_ylabel("score (dashed)", fontsize=8)
        more_handles, more_labels = score_axis.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    if handles:
        axis.legend(handles, labels, fontsize=8)
    if title:
        axis.set_title(title, fontsize=9)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_overlaid_histories(histories: dict, path, columns=("d_loss", "g_loss", "fidelity"), title: str | None = None):
    """One panel per column (losses, fidelity), one line per run: `histories` maps a label to a
    history table (DataFrame or path to history.csv). Columns no run has are left out."""
    import pandas as pd

    tables = {label: pd.read_csv(table) if isinstance(table, (str, Path)) else table
              for label, table in histories.items()}
    columns = [column for column in columns if any(column in table for table in tables.values())]
    if not columns:
        raise ValueError(f"None of the runs has any of the columns {columns}.")
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(columns), figsize=(4.2 * len(columns), 3.4), squeeze=False)
    for axis, column in zip(axes[0], columns):
        for label, table in tables.items():
            if column in table and len(table):
                epochs = table["epoch"] + 1 if "epoch" in table else np.arange(1, len(table) + 1)
                axis.plot(epochs, table[column], marker="o" if len(table) < 30 else None, markersize=3, label=label)
        axis.set_title(column, fontsize=9)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def save_attention_figure(attention: dict, path, title: str | None = None) -> list[list[str]]:
    """AttnGAN's word-attention figure (`t2ilib.evaluation.attention_maps` gives `attention`):
    one row per attention stage, with the image of the stage it attends from, the stage's own
    image, then one panel per word: the word's attention map (upscaled, nearest, to the stage's
    image) over that image, titled with the word and its largest weight. Returns the panel titles,
    row by row."""
    words, maps, images, sizes = attention["words"], attention["maps"], attention["images"], attention["sizes"]
    plt = _pyplot()
    columns = 2 + len(words)
    figure, axes = plt.subplots(len(maps), columns, figsize=(1.25 * columns, 1.45 * len(maps) + 0.5), squeeze=False)
    titles = []
    for row, stage_maps in enumerate(maps):
        stage = row + 1  # attention k attends from stage k's features and makes stage k + 1's image
        image = images[stage]
        row_titles = [f"stage {stage} ({sizes[stage - 1]} px)", f"stage {stage + 1} ({sizes[stage]} px)"]
        axes[row, 0].imshow(images[stage - 1], interpolation="nearest")
        axes[row, 1].imshow(image, interpolation="nearest")
        factor = image.shape[0] // stage_maps.shape[1]
        for index, (word, weights) in enumerate(zip(words, stage_maps)):
            upscaled = np.repeat(np.repeat(weights, factor, axis=0), factor, axis=1)
            axis = axes[row, 2 + index]
            axis.imshow(image, interpolation="nearest")
            axis.imshow(upscaled, cmap="jet", alpha=0.55, vmin=0.0, vmax=max(float(stage_maps.max()), 1e-6),
                        interpolation="nearest")
            row_titles.append(f"{word} ({float(weights.max()):.2f})")
        for axis, text in zip(axes[row], row_titles):
            axis.set_title(textwrap.fill(text, 18), fontsize=7)
            axis.axis("off")
        titles.append(row_titles)
    figure.suptitle(title or caption_label(attention["caption"], wrap=100), fontsize=8)
    figure.tight_layout(pad=0.3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return titles
