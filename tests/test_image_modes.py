"""Every image mode Pillow opens is decoded to the right 8-bit RGB pixels (t2ilib.data.cache.to_rgb).

Each case writes a small file in one mode, decodes it with `load_rgb` at its own size (no
resampling) and checks pixel values: 16-bit scaled, not clipped to white; transparency
composited onto the stated white background, not onto whatever colour hides under alpha 0.
"""

import numpy as np
import pytest
from PIL import Image

from t2ilib.data.cache import ALPHA_BACKGROUND, load_rgb

SIZE = 8


def halves(left, right, dtype=np.uint8):
    """(SIZE, SIZE, ...) array: `left` in the left half, `right` in the right half."""
    left, right = np.asarray(left, dtype=dtype), np.asarray(right, dtype=dtype)
    array = np.empty((SIZE, SIZE) + left.shape, dtype=dtype)
    array[:, : SIZE // 2], array[:, SIZE // 2:] = left, right
    return array


def decoded(tmp_path, image, name):
    path = tmp_path / name
    image.save(path)
    with Image.open(path) as reopened:
        mode = reopened.mode
    pixels = load_rgb(path, SIZE)
    assert pixels.dtype == np.uint8 and pixels.shape == (SIZE, SIZE, 3)
    return mode, pixels[0, 0].tolist(), pixels[0, -1].tolist()


def test_16_bit_greyscale_png_is_scaled_not_clipped_to_white(tmp_path):
    image = Image.fromarray(halves(25700, 65535, np.uint16))  # mode I;16
    assert decoded(tmp_path, image, "grey16.png") == ("I;16", [100] * 3, [255] * 3)
    dark = Image.fromarray(halves(0, 32896, np.uint16))  # 32896 / 257 = 128
    assert decoded(tmp_path, dark, "dark16.png") == ("I;16", [0] * 3, [128] * 3)


def test_16_bit_big_endian_tiff(tmp_path):
    values = halves(12850, 51400, np.uint16)  # 50 and 200 in 8 bits
    image = Image.frombytes("I;16B", (SIZE, SIZE), values.astype(">u2").tobytes())
    assert decoded(tmp_path, image, "grey16b.tif") == ("I;16B", [50] * 3, [200] * 3)


def test_32_bit_integer_images_as_16_bit_or_8_bit_values(tmp_path):
    sixteen = Image.fromarray(halves(0, 40092, np.int32), "I")  # 40092 / 257 = 156
    assert decoded(tmp_path, sixteen, "int32.tif") == ("I", [0] * 3, [156] * 3)
    eight = Image.fromarray(halves(7, 200, np.int32), "I")  # no value above 255: 8-bit values
    assert decoded(tmp_path, eight, "int32_small.tif") == ("I", [7] * 3, [200] * 3)


def test_float_images_in_0_1_are_scaled_and_others_clipped(tmp_path):
    unit = Image.fromarray(halves(0.2, 1.0, np.float32), "F")
    assert decoded(tmp_path, unit, "float.tif") == ("F", [51] * 3, [255] * 3)
    wide = Image.fromarray(halves(-5.0, 300.0, np.float32), "F")
    assert decoded(tmp_path, wide, "float_wide.tif") == ("F", [0] * 3, [255] * 3)


def test_rgba_is_composited_onto_the_stated_background(tmp_path):
    assert ALPHA_BACKGROUND == (255, 255, 255)
    image = Image.fromarray(halves((0, 0, 255, 255), (255, 0, 0, 0)), "RGBA")  # blue | transparent red
    assert decoded(tmp_path, image, "rgba.png") == ("RGBA", [0, 0, 255], [255, 255, 255])
    half = Image.fromarray(halves((0, 0, 0, 128), (0, 0, 0, 255)), "RGBA")  # half-transparent black | black
    mode, left, right = decoded(tmp_path, half, "rgba_half.png")
    assert left == [127] * 3 and right == [0] * 3  # 255 * (1 - 128/255)


def test_greyscale_with_alpha(tmp_path):
    image = Image.fromarray(halves((30, 255), (0, 0)), "LA")  # opaque dark grey | transparent black
    assert decoded(tmp_path, image, "la.png") == ("LA", [30] * 3, [255] * 3)


def test_palette_images_with_and_without_a_transparent_colour(tmp_path):
    indices = halves(0, 1)
    palette = [255, 0, 0, 0, 200, 0] + [0] * (256 - 2) * 3  # 0: red, 1: green
    plain = Image.fromarray(indices, "P")
    plain.putpalette(palette)
    assert decoded(tmp_path, plain, "palette.png") == ("P", [255, 0, 0], [0, 200, 0])
    transparent = plain.copy()
    transparent.info["transparency"] = 0  # index 0 (red) is transparent
    path_gif = tmp_path / "palette.gif"
    transparent.save(path_gif, transparency=0)
    pixels = load_rgb(path_gif, SIZE)
    assert pixels[0, 0].tolist() == [255, 255, 255] and pixels[0, -1].tolist() == [0, 200, 0]


def test_palette_with_alpha(tmp_path):
    image = Image.fromarray(halves((0, 0, 255, 255), (255, 0, 0, 0)), "RGBA").convert("PA")
    assert decoded(tmp_path, image, "pa.tif") == ("PA", [0, 0, 255], [255, 255, 255])


def test_cmyk_ycbcr_and_lab(tmp_path):
    cmyk = Image.fromarray(halves((0, 255, 255, 0), (0, 0, 0, 255)), "CMYK")  # red | black
    assert decoded(tmp_path, cmyk, "cmyk.tif") == ("CMYK", [255, 0, 0], [0, 0, 0])
    ycbcr = Image.fromarray(halves((0, 0, 255), (0, 255, 0)), "RGB").convert("YCbCr")  # blue | green
    mode, left, right = decoded(tmp_path, ycbcr, "ycbcr.tif")
    assert mode == "YCbCr" and np.abs(np.subtract(left, [0, 0, 255])).max() <= 2
    assert np.abs(np.subtract(right, [0, 255, 0])).max() <= 2
    lab = Image.new("LAB", (SIZE, SIZE), (255, 128, 128))  # white | black
    lab.paste(Image.new("LAB", (SIZE // 2, SIZE), (0, 128, 128)), (SIZE // 2, 0))
    mode, left, right = decoded(tmp_path, lab, "lab.tif")
    assert mode == "LAB" and min(left) >= 253 and max(right) <= 2


@pytest.mark.parametrize("mode, left, right, expected", [
    ("1", 1, 0, ([255] * 3, [0] * 3)),
    ("L", 77, 200, ([77] * 3, [200] * 3)),
    ("RGB", (10, 20, 30), (200, 100, 0), ([10, 20, 30], [200, 100, 0])),
])
def test_bilevel_greyscale_and_rgb_keep_their_values(tmp_path, mode, left, right, expected):
    image = Image.fromarray(halves(left, right, bool if mode == "1" else np.uint8), None if mode == "1" else mode)
    assert decoded(tmp_path, image, f"plain_{mode}.png") == (mode, *expected)
