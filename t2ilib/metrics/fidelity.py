"""Shapes fidelity: does a generated image show what its caption says?

For the built-in shapes dataset the truth is known (shape, colour, position, background of
every caption), so we can check a generated image attribute by attribute. The check is a
few lines of plain image analysis, not a learned model, so you can read exactly why an
image was judged right or wrong:

1. background: median colour of a frame of width side/16 around the image, snapped to the
   nearest background colour of the palette (black, white, gray).
2. foreground mask: pixels whose RGB distance from the *measured* background colour is
   more than `max(MIN_CONTRAST, half the contrast of the strongest pixels)`, cleaned with a
   3x3 median filter. An empty mask means "no shape": shape, colour and position are then
   "none" (always wrong).
3. colour: median colour of the inner part of the mask, snapped to the nearest shape colour.
4. position: vertical centre of mass of the mask, in thirds (top / middle / bottom).
5. shape: two numbers from the mask. fill = area / bounding-box area (square 1.0, circle
   0.785, triangle 0.5) and drop = where the centre of mass sits between the top and the
   bottom of the box (0.5 for circle and square, 0.67 for an upward triangle).

Use::

    scores = shapes_fidelity(generated_uint8, attributes_table)   # {"shape": 0.93, ...}
    chance_fidelity()                                             # random guessing
    compare_fidelity(stage2_uint8, stage1_uint8, attributes_table) # paired: difference +- stderr
    partners = mismatched_rows(rows, groups=images_of_rows, seed=0) # another image's caption for each row
    follows_captions(generated_uint8, truth, truth.loc[partners])   # beats the mismatched baseline?
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from PIL import Image, ImageFilter

from t2ilib.data.shapes import ATTRIBUTES, BACKGROUNDS, COLOURS

NONE = "none"  # predicted value when no shape is found
FRAME_FRACTION = 1 / 16  # width of the border frame used for the background
MIN_CONTRAST = 60.0  # RGB distance a pixel needs from the background to be "shape"
# Decision thresholds for the shape (see module docstring, step 5).
TRIANGLE_MAX_FILL = 0.64  # between triangle 0.5 and circle 0.785
SQUARE_MIN_FILL = 0.89  # between circle 0.785 and square 1.0
TRIANGLE_MIN_DROP = 0.58  # between 0.5 and 0.67

_BACKGROUND_NAMES = list(BACKGROUNDS)
_BACKGROUND_RGB = np.array(list(BACKGROUNDS.values()), dtype=np.float64)
_COLOUR_NAMES = list(COLOURS)
_COLOUR_RGB = np.array(list(COLOURS.values()), dtype=np.float64)


def _nearest(rgb: np.ndarray, names: list[str], palette: np.ndarray) -> str:
    return names[int(np.argmin(np.linalg.norm(palette - rgb, axis=1)))]


def _check_images(images) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(
            f"images must be uint8 (0..255), got dtype {images.dtype}: convert to uint8 "
            "(0..255) first, e.g. from [-1, 1] with ((x + 1) * 127.5).round().astype('uint8')."
        )
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"images must have shape (N, H, W, 3), got {images.shape}; for one image use "
            "image[None]."
        )
    if min(images.shape[1:3]) < 8:
        raise ValueError(f"images are too small to judge ({images.shape[1]}x{images.shape[2]}).")
    return images


def _predict_one(image: np.ndarray) -> dict:
    """The four attributes of one uint8 (H, W, 3) image."""
    height, width = image.shape[:2]
    pixels = image.astype(np.float64)

    # 1. background from a frame around the border
    b = max(1, round(min(height, width) * FRAME_FRACTION))
    frame = np.concatenate(
        [pixels[:b].reshape(-1, 3), pixels[-b:].reshape(-1, 3),
         pixels[b:-b, :b].reshape(-1, 3), pixels[b:-b, -b:].reshape(-1, 3)]
    )
    background_rgb = np.median(frame, axis=0)
    result = {"background": _nearest(background_rgb, _BACKGROUND_NAMES, _BACKGROUND_RGB)}

    # 2. foreground mask
    distance = np.linalg.norm(pixels - background_rgb, axis=-1)  # (H, W)
    threshold = max(MIN_CONTRAST, 0.5 * np.percentile(distance, 99))
    mask_image = Image.fromarray((distance > threshold).astype(np.uint8) * 255)
    mask = np.asarray(mask_image.filter(ImageFilter.MedianFilter(3))) > 0
    if not mask.any():
        return {"shape": NONE, "colour": NONE, "position": NONE, **result}

    # 3. colour from the inner part of the shape (blurred edges mix in the background)
    inner = np.asarray(mask_image.filter(ImageFilter.MinFilter(3))) > 0
    inner &= mask
    core = pixels[inner] if inner.sum() >= 4 else pixels[mask]
    result["colour"] = _nearest(np.median(core, axis=0), _COLOUR_NAMES, _COLOUR_RGB)

    # 4. position from the vertical centre of mass
    rows, cols = np.nonzero(mask)
    centre_y = (rows.mean() + 0.5) / height
    result["position"] = "top" if centre_y < 1 / 3 else "middle" if centre_y < 2 / 3 else "bottom"

    # 5. shape from fill ratio and vertical drop of the centre of mass
    top, bottom = rows.min(), rows.max() + 1
    box_area = (bottom - top) * (cols.max() + 1 - cols.min())
    fill = mask.sum() / box_area
    drop = (rows.mean() + 0.5 - top) / (bottom - top)
    if fill < TRIANGLE_MAX_FILL or drop > TRIANGLE_MIN_DROP:
        result["shape"] = "triangle"
    elif fill > SQUARE_MIN_FILL:
        result["shape"] = "square"
    else:
        result["shape"] = "circle"
    return result


def predict_attributes(images) -> pd.DataFrame:
    """Judge the attributes shown by each image.

    `images`: uint8 array (N, H, W, 3), any size (64x64 generator output is typical).
    Returns a DataFrame with columns shape, colour, position, background, one row per
    image; "none" where no shape was found.
    """
    images = _check_images(images)
    rows = [_predict_one(image) for image in images]
    return pd.DataFrame(rows, columns=list(ATTRIBUTES))


def _truth_table(attributes) -> pd.DataFrame:
    """The true attributes as a DataFrame with the four attribute columns (or a clear error)."""
    truth = pd.DataFrame(list(attributes)) if isinstance(attributes, (list, tuple)) else attributes
    if not isinstance(truth, pd.DataFrame):
        raise ValueError("attributes must be a DataFrame or a list of dicts.")
    missing = [name for name in ATTRIBUTES if name not in truth.columns]
    if missing:
        raise ValueError(
            f"attributes has no column(s) {missing}; it needs {list(ATTRIBUTES)} "
            "(read_attributes(root) gives such a table)."
        )
    return truth


def _hits(images: np.ndarray, truth: pd.DataFrame) -> dict:
    """{attribute: (N,) bool array}: does each image show the attribute of its truth row?"""
    predicted = predict_attributes(images)
    return {name: predicted[name].to_numpy() == truth[name].astype(str).to_numpy() for name in ATTRIBUTES}


def shapes_fidelity(images, attributes) -> dict:
    """Accuracy of each attribute of `images` against the true `attributes`.

    `attributes`: a DataFrame (e.g. from `t2ilib.data.shapes.read_attributes`, rows in the
    same order as the images) or a list of dicts, with columns shape, colour, position,
    background. Returns {"shape", "colour", "position", "background", "mean": floats,
    "n": int}. Compare with `chance_fidelity()`.
    """
    images = _check_images(images)
    truth = _truth_table(attributes)
    if len(truth) != len(images):
        raise ValueError(
            f"{len(images)} images but {len(truth)} attribute rows: give one row per image, "
            "in the same order."
        )
    if len(images) == 0:
        raise ValueError("No images to score.")
    scores = {name: float(np.mean(hits)) for name, hits in _hits(images, truth).items()}
    scores["mean"] = float(np.mean([scores[name] for name in ATTRIBUTES]))
    scores["n"] = int(len(images))
    return scores


def compare_fidelity(images, reference_images, attributes) -> dict:
    """Paired comparison of two sets of images drawn for the same captions and noise, e.g.
    Stage-II refinements (`images`) and the Stage-I images they refine (`reference_images`).

    Each pair is scored on its own caption, so the noise of which captions were drawn cancels:
    returns {"difference": mean of (score - reference score) per pair, "stderr": its standard
    error, "low"/"high": the 95% interval (difference +- 1.96 stderr), "n": pairs,
    "verdict": "better" | "same within noise" | "worse"}: "better" when the whole interval is
    above 0, "worse" when it is all below 0.
    """
    images, reference_images = _check_images(images), _check_images(reference_images)
    truth = _truth_table(attributes)
    if not (len(images) == len(reference_images) == len(truth)):
        raise ValueError(f"compare_fidelity needs one image of each set per attribute row; got {len(images)}, "
                         f"{len(reference_images)} and {len(truth)} rows.")
    if len(images) < 2:
        raise ValueError("compare_fidelity needs at least 2 pairs for a standard error.")

    differences = _per_image(_hits(images, truth)) - _per_image(_hits(reference_images, truth))
    mean, stderr = _mean_and_stderr(differences)
    low, high = mean - 1.96 * stderr, mean + 1.96 * stderr
    verdict = "better" if low > 0 else "worse" if high < 0 else "same within noise"
    return {"difference": mean, "stderr": stderr, "low": low, "high": high, "n": int(len(differences)),
            "verdict": verdict}


def _per_image(hits: dict) -> np.ndarray:
    """Fraction of the four attributes right, per image."""
    return np.mean(list(hits.values()), axis=0)


def _mean_and_stderr(differences: np.ndarray) -> tuple[float, float]:
    return float(differences.mean()), float(differences.std(ddof=1) / np.sqrt(len(differences)))


SIGNIFICANCE = 0.001  # follows_captions: one-sided false-pass rate for a generator that ignores its captions


def follows_captions(images, attributes, mismatched_attributes, min_margin: float = 0.0,
                     alpha: float = SIGNIFICANCE) -> dict:
    """Does a generator follow its captions? The same images scored against their own captions'
    attributes and against other captions' (`mismatched_attributes`, e.g. from `mismatched_rows`).

    Paired per image: d = (attributes right for its own caption - right for the other caption) / 4.
    A generator that ignores its captions has E[d] = 0 (the two captions are exchangeable for its
    image), so the one-sided z-test "mean(d) > min_margin" passes such a generator with
    probability `alpha` at most (normal approximation; fine from a few dozen images).
    Returns {"fidelity", "mismatched", "margin": mean d, "stderr", "z", "p_value", "low":
    the one-sided lower bound (margin - z_alpha * stderr), "alpha", "n", "follows": low > min_margin}.
    A generator that learned a true margin delta (per-image spread sigma) fails with probability
    about Phi(z_alpha - (delta - min_margin) * sqrt(n) / sigma): state it with the sample size.
    """
    images = _check_images(images)
    truth, other = _truth_table(attributes), _truth_table(mismatched_attributes)
    if not (len(images) == len(truth) == len(other)):
        raise ValueError(f"follows_captions needs one row of attributes and of mismatched attributes per image; got "
                         f"{len(images)} images, {len(truth)} and {len(other)} rows.")
    if len(images) < 2:
        raise ValueError("follows_captions needs at least 2 images for a standard error.")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be between 0 and 0.5 (a one-sided test), got {alpha}.")
    own = _per_image(_hits(images, truth.reset_index(drop=True)))
    mismatched = _per_image(_hits(images, other.reset_index(drop=True)))
    margin, stderr = _mean_and_stderr(own - mismatched)
    z_alpha = normal_quantile(1 - alpha)
    z = (margin - min_margin) / stderr if stderr > 0 else (math.inf if margin > min_margin else -math.inf)
    low = margin - z_alpha * stderr
    return {"fidelity": float(own.mean()), "mismatched": float(mismatched.mean()), "margin": margin,
            "stderr": stderr, "z": float(z), "p_value": 0.5 * math.erfc(z / math.sqrt(2)), "low": float(low),
            "min_margin": float(min_margin), "alpha": float(alpha), "n": int(len(images)),
            "follows": bool(low > min_margin)}


def normal_quantile(p: float) -> float:
    """The standard normal's p-quantile (bisection on erf; no scipy needed)."""
    low, high = -10.0, 10.0
    for _ in range(100):
        middle = 0.5 * (low + high)
        if 0.5 * (1 + math.erf(middle / math.sqrt(2))) < p:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def mismatched_rows(rows, groups=None, seed: int = 0) -> np.ndarray:
    """For each of `rows` (e.g. caption row numbers), a row of another group: the baseline
    "same images, wrong captions". `groups` (one per row, e.g. each caption's image): rows of one
    group are never paired with each other (default: each distinct row is its own group).

    The distinct groups are shuffled into one cycle and each group is paired with the next, so
    no row is ever paired with its own group, also when `rows` repeats rows; the partner is the
    first row of that group in `rows`. Returns an array like `rows`.
    """
    rows = np.asarray(rows)
    groups = rows if groups is None else np.asarray(groups)
    if len(groups) != len(rows):
        raise ValueError(f"one group per row: got {len(rows)} rows and {len(groups)} groups.")
    distinct, first = np.unique(groups, return_index=True)
    if len(distinct) < 2:
        raise ValueError("a mismatched baseline needs captions of at least 2 different images.")
    order = np.random.default_rng(seed + 778).permutation(len(distinct))
    partner_group = np.empty(len(distinct), dtype=np.int64)
    partner_group[order] = np.roll(order, -1)  # each group -> the next one in the cycle
    group_index = np.searchsorted(distinct, groups)
    partners = rows[first[partner_group[group_index]]]
    assert (groups[first[partner_group[group_index]]] != groups).all()  # never its own group (a derangement)
    return partners


def chance_fidelity() -> dict:
    """Expected accuracy of guessing each attribute at random (1/3, 1/4, 1/3, 1/3)."""
    scores = {name: 1.0 / len(values) for name, values in ATTRIBUTES.items()}
    scores["mean"] = float(np.mean(list(scores.values())))
    return scores
