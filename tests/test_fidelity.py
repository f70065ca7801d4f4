"""Shapes fidelity: right on real images, robust to blur, at chance on junk."""

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFilter

from t2ilib.data.shapes import ATTRIBUTES, make_shapes_dataset, read_attributes, render_shape
from t2ilib.metrics.fidelity import chance_fidelity, compare_fidelity, predict_attributes, shapes_fidelity

N = 300
CHANCE = chance_fidelity()


def jpeg_round_trip(image: Image.Image, quality=75) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """N dataset images (96x96 JPEGs) resized to 64x64 like generator output, + their truth."""
    root = make_shapes_dataset(tmp_path_factory.mktemp("fidelity") / "shapes", num_images=N, seed=0)
    attributes = read_attributes(root)
    images = [
        Image.open(root / "images" / name).convert("RGB").resize((64, 64), Image.Resampling.BILINEAR)
        for name in attributes["image"]
    ]
    return images, attributes


def stack(images):
    return np.stack([np.asarray(image) for image in images])


def assert_near_chance(scores, tolerance=0.1):
    assert abs(scores["mean"] - CHANCE["mean"]) <= tolerance, scores


def test_chance_values():
    assert CHANCE == pytest.approx(
        {"shape": 1 / 3, "colour": 1 / 4, "position": 1 / 3, "background": 1 / 3, "mean": 0.3125}
    )


def test_real_images_score_high(real):
    images, attributes = real
    for batch in (stack(images), stack(jpeg_round_trip(image) for image in images)):
        scores = shapes_fidelity(batch, attributes)
        assert scores["n"] == N
        for name in ATTRIBUTES:
            assert scores[name] >= 0.97, scores
        assert all(type(scores[k]) is float for k in (*ATTRIBUTES, "mean"))


def test_rendered_images_of_every_combination_are_recognised():
    rng = np.random.default_rng(1)
    truth = [
        {"shape": s, "colour": c, "position": p, "background": b}
        for s in ATTRIBUTES["shape"] for c in ATTRIBUTES["colour"]
        for p in ATTRIBUTES["position"] for b in ATTRIBUTES["background"]
    ]
    images = np.stack([render_shape(attrs, 64, rng) for attrs in truth])
    predicted = predict_attributes(images)
    assert predicted.to_dict("records") == truth


def test_blurred_images_still_score_high(real):
    images, attributes = real
    blurred = stack(image.filter(ImageFilter.GaussianBlur(1.5)) for image in images)
    assert shapes_fidelity(blurred, attributes)["mean"] >= 0.9


def test_noise_images_score_at_chance(real):
    _, attributes = real
    noise = np.random.default_rng(0).integers(0, 256, size=(N, 64, 64, 3), dtype=np.uint8)
    assert_near_chance(shapes_fidelity(noise, attributes))


def test_flat_images_score_no_better_than_chance(real):
    """A generator that collapsed to flat single-colour images must not look good."""
    _, attributes = real
    colours = np.random.default_rng(0).integers(0, 256, size=(N, 1, 1, 3), dtype=np.uint8)
    flat = np.broadcast_to(colours, (N, 64, 64, 3)).copy()
    scores = shapes_fidelity(flat, attributes)
    assert scores["mean"] <= CHANCE["mean"] + 0.1, scores
    assert (predict_attributes(flat[:5])["shape"] == "none").all()


def test_shuffled_captions_score_at_chance(real):
    images, attributes = real
    shuffled = attributes.sample(frac=1.0, random_state=0).reset_index(drop=True)
    assert_near_chance(shapes_fidelity(stack(images), shuffled))


def test_input_checks(real):
    images, attributes = real
    batch = stack(images[:4])
    with pytest.raises(ValueError, match="uint8"):
        shapes_fidelity(batch.astype(np.float32) / 127.5 - 1, attributes[:4])
    with pytest.raises(ValueError, match="one row per image"):
        shapes_fidelity(batch, attributes[:3])
    with pytest.raises(ValueError, match="image\\[None\\]"):
        predict_attributes(batch[0])
    as_dicts = attributes[:4].drop(columns="image").to_dict("records")
    assert shapes_fidelity(batch, as_dicts) == shapes_fidelity(batch, attributes[:4])
    assert isinstance(predict_attributes(batch), pd.DataFrame)


def test_paired_comparison_of_two_image_sets(real):
    """Stage-II against Stage-I: the paired difference is the difference of the two fidelities,
    and the verdict follows its 95% interval."""
    images, attributes = real
    good = stack(images)
    noise = np.random.default_rng(1).integers(0, 256, size=good.shape, dtype=np.uint8)

    better = compare_fidelity(good, noise, attributes)
    assert better["difference"] == pytest.approx(
        shapes_fidelity(good, attributes)["mean"] - shapes_fidelity(noise, attributes)["mean"])
    assert better["verdict"] == "better" and better["low"] > 0.4 and better["n"] == N
    assert compare_fidelity(noise, good, attributes)["verdict"] == "worse"

    same = compare_fidelity(good, good, attributes)
    assert same["difference"] == same["stderr"] == 0.0 and same["verdict"] == "same within noise"
    # Ruin 3 of 300 images: a real but tiny loss, inside the interval.
    slightly = good.copy()
    slightly[:3] = noise[:3]
    close = compare_fidelity(slightly, good, attributes)
    assert close["difference"] < 0 and close["low"] < 0 < close["high"] and close["verdict"] == "same within noise"

    with pytest.raises(ValueError, match="one image of each set"):
        compare_fidelity(good[:10], good[:9], attributes.iloc[:10])


def test_mismatched_rows_never_pair_a_caption_with_its_own_image():
    """A derangement over images: repeats of a row and other captions of the same image are
    never partners, for every seed; one image alone is refused."""
    from t2ilib.metrics.fidelity import mismatched_rows

    rows = np.array([5, 6, 7, 8, 9, 10, 11] * 3)[:20]  # a short split cycled, as evaluation_rows_and_noise does
    for seed in range(50):
        partners = mismatched_rows(rows, seed=seed)
        assert (partners != rows).all() and set(partners) <= set(rows)
        assert len({(r, p) for r, p in zip(rows, partners)}) == 7  # one partner per distinct row
    images = np.array(["a", "a", "b", "b", "c", "c", "d", "d"])  # two captions per image
    for seed in range(50):
        partners = mismatched_rows(np.arange(8), images, seed=seed)
        assert (images[partners] != images).all()
    with pytest.raises(ValueError, match="at least 2 different images"):
        mismatched_rows(np.array([3, 3, 3]))


def test_follows_captions_passes_images_that_show_their_captions_and_fails_caption_ignoring_ones(real):
    """Real dataset images follow their captions; the same images shuffled against their captions
    (a generator that ignores the text) do not, and neither does junk."""
    from t2ilib.metrics.fidelity import follows_captions, mismatched_rows

    images, attributes = real
    good = stack(images)
    rows = np.arange(N)
    other = attributes.loc[mismatched_rows(rows, seed=0)]
    passed = follows_captions(good, attributes, other)
    assert passed["follows"] and passed["margin"] > 0.5 and passed["p_value"] < 1e-10 and passed["n"] == N
    assert passed["fidelity"] == pytest.approx(shapes_fidelity(good, attributes)["mean"])
    assert passed["mismatched"] == pytest.approx(shapes_fidelity(good, other)["mean"])
    assert not follows_captions(good, attributes, other, min_margin=0.9)["follows"]  # a margin it cannot reach

    shuffled = good[np.random.default_rng(3).permutation(N)]  # images unrelated to their captions
    ignored = follows_captions(shuffled, attributes, other)
    assert not ignored["follows"] and abs(ignored["margin"]) < 3 * ignored["stderr"]
    chance_wins = []  # caption-ignoring sets that beat the baseline by luck: not significant, so no pass
    for seed in range(10):
        result = follows_captions(good[np.random.default_rng(seed).permutation(N)], attributes, other)
        assert not result["follows"], result
        chance_wins += [result["margin"]] if result["margin"] > 0 else []
    assert chance_wins  # some did beat it by luck (the check needs significance, not a positive margin)
    same_image = np.repeat(good[:1], N, axis=0)  # one image for every caption
    assert not follows_captions(same_image, attributes, other)["follows"]
    with pytest.raises(ValueError, match="one row of attributes"):
        follows_captions(good[:10], attributes.iloc[:10], other.iloc[:9])
