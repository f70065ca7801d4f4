"""The built-in "shapes" dataset: synthetic images with captions, made on demand.

Each image shows ONE filled shape on a plain background, described by four attributes:

    shape       circle | square | triangle      (the triangle points up)
    colour      red | green | blue | yellow
    position    top | middle | bottom           (vertical only, see below)
    background  black | white | gray

Every image gets 5 captions with varied wording ("A red disc near the top on a dark
background .") that all name the four attributes. The dataset is written in the exact
Flickr8k layout, so every tool in t2ilib treats it like Flickr8k::

    root/images/shape_00000.jpg ...
    root/Flickr8k.token.txt                 shape_00000.jpg#0<TAB>caption, 5 per image
    root/Flickr_8k.{train,dev,test}Images.txt   80 / 10 / 10 % of the images
    root/attributes.csv                     image, shape, colour, position, background
    root/manifest.json                      written last: the folder is complete

Why these choices: training flips images horizontally and crops up to 12/76 of the side,
so the shapes are left/right symmetric and only the VERTICAL position is an attribute.
Because the true attributes are known, `t2ilib.metrics.fidelity` can check whether a
generated image shows what its caption says. Generation is deterministic by `seed`.
Needs only numpy, pandas and Pillow.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

GENERATOR_VERSION = 1  # bump when images or captions change for the same seed

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "shape": ("circle", "square", "triangle"),
    "colour": ("red", "green", "blue", "yellow"),
    "position": ("top", "middle", "bottom"),
    "background": ("black", "white", "gray"),
}

# Far apart from each other and from every background (RGB distance >= 148).
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 180, 30),
    "blue": (30, 60, 220),
    "yellow": (240, 210, 20),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "gray": (128, 128, 128),
}

# Geometry, as fractions of the image side.
RADIUS_RANGE = (0.15, 0.20)  # circle radius, half the square's side
TRIANGLE_SCALE = 1.15  # the triangle's circumradius is this times the radius (similar area)
POSITION_CENTRES = {"top": 0.25, "middle": 0.5, "bottom": 0.75}
POSITION_JITTER = 0.025  # vertical centre = POSITION_CENTRES[...] +- this
SUPERSAMPLE = 4  # draw 4x larger, then shrink: smooth (anti-aliased) edges

# ---------------------------------------------------------------------------------------
# Caption wording. No word is shared between two values of the same attribute, so every
# caption names each attribute unambiguously (see `parse_caption`).
# ---------------------------------------------------------------------------------------
SHAPE_WORDS = {
    "circle": ("circle", "disc", "round shape", "ball"),
    "square": ("square", "box", "block"),
    "triangle": ("triangle", "triangular shape"),
}
COLOUR_WORDS = {"red": ("red",), "green": ("green",), "blue": ("blue",), "yellow": ("yellow",)}
# Phrases that can be followed by "of the picture".
POSITION_WORDS = {
    "top": ("at the top", "in the upper part", "near the top"),
    "middle": ("in the middle", "in the centre", "in the center"),
    "bottom": ("at the bottom", "in the lower part", "near the bottom"),
}
BACKGROUND_WORDS = {
    "black": ("black", "dark"),
    "white": ("white", "bright white"),
    "gray": ("gray", "grey"),
}
TEMPLATES = (
    "a {colour} {shape} {position} on a {background} background",
    "a {background} background with a {colour} {shape} {position}",
    "there is a {colour} {shape} {position} of the picture and the background is {background}",
    "the image shows a {colour} {shape} {position} against a {background} background",
    "{position} of a {background} image there is a {colour} {shape}",
    "a single {colour} {shape} placed {position} of the frame , {background} backdrop",
    "on a {background} background a {colour} {shape} sits {position}",
)

# Key words used to read the attributes back out of a caption.
_KEYWORDS = {
    "shape": {"circle": ("circle", "disc", "round", "ball"), "square": ("square", "box", "block"),
              "triangle": ("triangle", "triangular")},
    "colour": {name: (name,) for name in ATTRIBUTES["colour"]},
    "position": {"top": ("top", "upper"), "middle": ("middle", "centre", "center"),
                 "bottom": ("bottom", "lower")},
    "background": {"black": ("black", "dark"), "white": ("white",), "gray": ("gray", "grey")},
}


def make_caption(attrs: dict, rng: np.random.Generator) -> str:
    """One caption for `attrs` (a dict with the four attribute names), wording drawn by `rng`.

    Flickr8k style: first letter capitalised, final " ." as a separate token.
    """
    _check_attrs(attrs)

    def pick(options):
        return options[int(rng.integers(len(options)))]

    text = pick(TEMPLATES).format(
        shape=pick(SHAPE_WORDS[attrs["shape"]]),
        colour=pick(COLOUR_WORDS[attrs["colour"]]),
        position=pick(POSITION_WORDS[attrs["position"]]),
        background=pick(BACKGROUND_WORDS[attrs["background"]]),
    )
    return text[0].upper() + text[1:] + " ."


def parse_caption(caption: str) -> dict:
    """Read the four attributes back from a caption (yours or generated ones).

    Returns {attribute: value}, with None where the caption names no value, or several
    values, of that attribute. Handy to score images made from captions you typed.
    """
    words = set(re.findall(r"[a-z]+", caption.lower()))
    found = {}
    for attribute, values in _KEYWORDS.items():
        named = [value for value, keys in values.items() if words.intersection(keys)]
        found[attribute] = named[0] if len(named) == 1 else None
    return found


# ---------------------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------------------
def render_shape(attrs: dict, image_size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw one image for `attrs`; size and horizontal place are jittered by `rng`.

    Returns a uint8 array of shape (image_size, image_size, 3).
    """
    _check_attrs(attrs)
    if int(image_size) < 16:
        raise ValueError(f"image_size must be at least 16 pixels, got {image_size}.")
    size = int(image_size)
    radius = rng.uniform(*RADIUS_RANGE) * size
    # Half width / half height of the drawn shape around its centre (cx, cy).
    if attrs["shape"] == "triangle":
        circumradius = TRIANGLE_SCALE * radius
        half_width, above, below = circumradius * np.sqrt(3) / 2, circumradius, circumradius / 2
    else:
        half_width = above = below = radius
    margin = 1.0  # pixels kept free at the image edge
    cy = (POSITION_CENTRES[attrs["position"]] + rng.uniform(-POSITION_JITTER, POSITION_JITTER)) * size
    cy = float(np.clip(cy, above + margin, size - below - margin))
    cx = rng.uniform(half_width + margin, size - half_width - margin)

    big = size * SUPERSAMPLE
    canvas = Image.new("RGB", (big, big), BACKGROUNDS[attrs["background"]])
    draw = ImageDraw.Draw(canvas)
    fill = COLOURS[attrs["colour"]]
    s = SUPERSAMPLE
    if attrs["shape"] == "circle":
        draw.ellipse([s * (cx - radius), s * (cy - radius), s * (cx + radius), s * (cy + radius)], fill=fill)
    elif attrs["shape"] == "square":
        draw.rectangle([s * (cx - radius), s * (cy - radius), s * (cx + radius), s * (cy + radius)], fill=fill)
    else:
        # Equilateral, pointing up, centred on its centroid (so "top" means the same
        # for every shape): apex at cy - R, base at cy + R/2.
        draw.polygon(
            [(s * cx, s * (cy - above)), (s * (cx + half_width), s * (cy + below)),
             (s * (cx - half_width), s * (cy + below))],
            fill=fill,
        )
    return np.asarray(canvas.resize((size, size), Image.Resampling.BOX), dtype=np.uint8)


def _check_attrs(attrs: dict) -> None:
    for attribute, values in ATTRIBUTES.items():
        if attrs.get(attribute) not in values:
            raise ValueError(
                f"attrs[{attribute!r}] is {attrs.get(attribute)!r}; use one of {values}."
            )


def random_attributes(rng: np.random.Generator) -> dict:
    """Draw the four attributes uniformly and independently."""
    return {name: values[int(rng.integers(len(values)))] for name, values in ATTRIBUTES.items()}


# ---------------------------------------------------------------------------------------
# The dataset folder
# ---------------------------------------------------------------------------------------
def _split_sizes(num_images: int) -> tuple[int, int, int]:
    """80 / 10 / 10 % of the images, at least one image in dev and test."""
    n_dev = n_test = max(1, round(0.1 * num_images))
    return num_images - n_dev - n_test, n_dev, n_test


def make_shapes_dataset(root, num_images: int = 600, image_size: int = 96, seed: int = 0) -> Path:
    """Create the shapes dataset in `root` (Flickr8k layout) and return `root` as a Path.

    Cheap to call every time: if `root` already holds a finished dataset made with the
    same parameters it returns at once. Different parameters raise ValueError.
    The files are written into ``<root>.partial-<pid>-<id>`` and renamed to `root` only when
    complete (manifest last), so an interrupted run is never mistaken for a finished one, and
    two processes that make the same dataset at once both end with it (the first to finish
    publishes it; the other's copy is deleted).

    Image i is made by its own random stream, ``SeedSequence(seed).spawn(...)[i]``, so
    the first 100 images are the same whether you ask for 100 or 600. The split is by
    index: the first 80 % train, then 10 % dev, then 10 % test (images are i.i.d.).
    """
    root = Path(root).expanduser()
    if int(num_images) < 3:
        raise ValueError(f"num_images must be at least 3 (one per split), got {num_images}.")
    manifest = {
        "dataset": "shapes",
        "num_images": int(num_images),
        "image_size": int(image_size),
        "seed": int(seed),
        "generator_version": GENERATOR_VERSION,
    }
    manifest_path = root / "manifest.json"
    if manifest_path.is_file():
        existing = json.loads(manifest_path.read_text(encoding="utf-8"))
        if existing == manifest:
            return root
        raise ValueError(
            f"{root} already holds a shapes dataset made with {existing}, not {manifest}. "
            "Pick another folder for these parameters, or delete that folder to regenerate."
        )
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ValueError(
            f"{root} exists and is not a finished shapes dataset (no manifest.json). "
            "Pick an empty or new folder so no files of yours are overwritten."
        )

    _remove_abandoned_partials(root)
    # One folder per writer: two processes asked for the same dataset at once (two notebooks on one
    # Drive folder, a sweep) each write their own; the first to finish publishes it, the other keeps it.
    partial = root.with_name(f"{root.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    marker = partial / "GENERATING"
    (partial / "images").mkdir(parents=True)
    marker.write_text(f"make_shapes_dataset (process {os.getpid()}) is writing this folder\n", encoding="utf-8")

    streams = np.random.SeedSequence(int(seed)).spawn(int(num_images))
    names, attribute_rows, token_lines = [], [], []
    for i, stream in enumerate(streams):
        rng = np.random.default_rng(stream)
        name = f"shape_{i:05d}.jpg"
        attrs = random_attributes(rng)
        pixels = render_shape(attrs, image_size, rng)
        Image.fromarray(pixels).save(partial / "images" / name, quality=95, subsampling=0)
        for k, caption in enumerate(_five_captions(attrs, rng)):
            token_lines.append(f"{name}#{k}\t{caption}\n")
        names.append(name)
        attribute_rows.append({"image": name, **attrs})

    _write_text(partial / "Flickr8k.token.txt", "".join(token_lines))
    n_train, n_dev, _ = _split_sizes(int(num_images))
    for file_name, part in (
        ("Flickr_8k.trainImages.txt", names[:n_train]),
        ("Flickr_8k.devImages.txt", names[n_train:n_train + n_dev]),
        ("Flickr_8k.testImages.txt", names[n_train + n_dev:]),
    ):
        _write_text(partial / file_name, "".join(n + "\n" for n in part))
    pd.DataFrame(attribute_rows, columns=["image", *ATTRIBUTES]).to_csv(
        partial / "attributes.csv", index=False
    )
    _write_text(partial / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    marker.unlink()
    try:
        if root.is_dir() and not any(root.iterdir()):
            root.rmdir()
        os.replace(partial, root)
    except OSError:
        if not (manifest_path.is_file() and json.loads(manifest_path.read_text(encoding="utf-8")) == manifest):
            raise
        shutil.rmtree(partial)  # another process published the same dataset first: use it
    return root


def _remove_abandoned_partials(root: Path) -> None:
    """Delete the unfinished folders of interrupted runs next to `root`: ``<root>.partial`` of
    earlier versions and ``<root>.partial-<pid>-<id>`` whose process is no longer running here.
    A folder without make_shapes_dataset's marker is someone else's: it stops with a message."""
    for folder in root.parent.glob(root.name + ".partial*"):
        suffix = folder.name[len(root.name) + len(".partial"):]
        if suffix and not re.fullmatch(r"-\d+-[0-9a-f]{8}", suffix):
            continue  # another name that merely starts the same
        if not (folder / "GENERATING").is_file():
            raise ValueError(f"{folder} exists but was not made by make_shapes_dataset; move or delete it.")
        if suffix and _process_running(int(suffix.split("-")[1])):
            continue  # being written right now by another process
        shutil.rmtree(folder, ignore_errors=True)


def _process_running(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process is not writing it now (make_shapes_dataset is not re-entrant)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _five_captions(attrs: dict, rng: np.random.Generator) -> list[str]:
    """Five captions, different from each other when the wording allows it."""
    captions: list[str] = []
    for _ in range(50):
        caption = make_caption(attrs, rng)
        if caption not in captions:
            captions.append(caption)
        if len(captions) == 5:
            return captions
    while len(captions) < 5:  # practically unreachable: > 1,000 wordings per image
        captions.append(make_caption(attrs, rng))
    return captions


def _write_text(path: Path, text: str) -> None:
    # newline="\n": the same bytes on every operating system
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def read_attributes(root) -> pd.DataFrame:
    """The true attributes of every image: columns image, shape, colour, position, background."""
    path = Path(root) / "attributes.csv"
    if not path.is_file():
        raise FileNotFoundError(
            f"No attributes.csv in {root}: only the built-in shapes dataset has one. "
            "Create it with t2ilib.data.shapes.make_shapes_dataset(root)."
        )
    return pd.read_csv(path, dtype=str, keep_default_na=False)
