"""The built-in shapes dataset: layout, determinism, reuse, captions."""

import json

import numpy as np
import pytest
from PIL import Image

from t2ilib.data.flickr8k import assign_splits, find_dataset_files, read_captions
from t2ilib.data.shapes import (
    ATTRIBUTES,
    BACKGROUNDS,
    COLOURS,
    make_caption,
    make_shapes_dataset,
    parse_caption,
    read_attributes,
    render_shape,
)

N = 40


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_shapes_dataset(tmp_path_factory.mktemp("shapes") / "data", num_images=N, image_size=64, seed=7)


def pixels(root, name):
    return np.asarray(Image.open(root / "images" / name).convert("RGB"))


def test_layout_is_flickr8k_and_readable_by_the_flickr8k_reader(dataset):
    files = find_dataset_files(dataset)
    assert files.images_dir == dataset / "images"
    captions = read_captions(files.token_file, files.images_dir)  # every image exists
    assert len(captions) == 5 * N
    assert captions["caption_index"].value_counts().to_dict() == {k: N for k in range(5)}
    assert captions.loc[0, "image"] == "shape_00000.jpg"
    official = assign_splits(captions, files, rule="official")
    assert official.groupby("split")["image"].nunique().to_dict() == {
        "train": 32, "validation": 4, "test": 4,
    }
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["num_images"] == N and manifest["image_size"] == 64 and manifest["seed"] == 7
    assert "generator_version" in manifest
    assert not list(dataset.parent.glob("data.partial*"))  # the unfinished copy became the dataset
    assert pixels(dataset, "shape_00003.jpg").shape == (64, 64, 3)


def test_attributes_table_matches_vocabulary(dataset):
    attributes = read_attributes(dataset)
    assert list(attributes.columns) == ["image", "shape", "colour", "position", "background"]
    assert len(attributes) == N
    for name, values in ATTRIBUTES.items():
        assert set(attributes[name]) <= set(values)
    assert list(ATTRIBUTES) == ["shape", "colour", "position", "background"]
    assert set(COLOURS) == set(ATTRIBUTES["colour"]) and set(BACKGROUNDS) == set(ATTRIBUTES["background"])


def test_five_captions_per_image_name_every_attribute(dataset):
    captions = read_captions(dataset / "Flickr8k.token.txt")
    attributes = read_attributes(dataset).set_index("image")
    for image, group in captions.groupby("image"):
        assert len(group) == 5
        assert group["caption"].nunique() == 5  # varied wording
        truth = attributes.loc[image].to_dict()
        for caption in group["caption"]:
            assert parse_caption(caption) == truth, caption


def test_every_wording_is_unambiguous():
    rng = np.random.default_rng(0)
    for _ in range(500):
        attrs = {name: values[rng.integers(len(values))] for name, values in ATTRIBUTES.items()}
        caption = make_caption(attrs, rng)
        assert parse_caption(caption) == attrs, caption
    assert parse_caption("a red and blue circle")["colour"] is None  # two colours: no answer


def test_same_seed_same_bytes_and_pixels_other_seed_differs(tmp_path, dataset):
    again = make_shapes_dataset(tmp_path / "again", num_images=N, image_size=64, seed=7)
    other = make_shapes_dataset(tmp_path / "other", num_images=N, image_size=64, seed=8)
    token = (dataset / "Flickr8k.token.txt").read_bytes()
    assert (again / "Flickr8k.token.txt").read_bytes() == token
    assert (again / "attributes.csv").read_bytes() == (dataset / "attributes.csv").read_bytes()
    for i in (0, 17, N - 1):
        name = f"shape_{i:05d}.jpg"
        assert np.array_equal(pixels(again, name), pixels(dataset, name))
    assert (other / "Flickr8k.token.txt").read_bytes() != token
    assert not all(
        np.array_equal(pixels(other, f"shape_{i:05d}.jpg"), pixels(dataset, f"shape_{i:05d}.jpg"))
        for i in range(5)
    )
    # image i does not depend on how many images were asked for
    fewer = make_shapes_dataset(tmp_path / "fewer", num_images=10, image_size=64, seed=7)
    assert np.array_equal(pixels(fewer, "shape_00009.jpg"), pixels(dataset, "shape_00009.jpg"))


def test_manifest_reuse_and_parameter_mismatch(dataset):
    image = dataset / "images" / "shape_00000.jpg"
    before = image.stat().st_mtime_ns
    assert make_shapes_dataset(dataset, num_images=N, image_size=64, seed=7) == dataset
    assert image.stat().st_mtime_ns == before  # not regenerated
    with pytest.raises(ValueError, match="another folder"):
        make_shapes_dataset(dataset, num_images=N, image_size=64, seed=8)


def test_refuses_a_non_empty_folder_and_recovers_from_an_interrupted_run(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="empty or new folder"):
        make_shapes_dataset(mine, num_images=5)
    assert (mine / "notes.txt").read_text() == "keep me"

    # An interrupted run leaves "<root>.partial" with its marker, never a finished root.
    partial = tmp_path / "data.partial"
    (partial / "images").mkdir(parents=True)
    (partial / "GENERATING").write_text("")
    (partial / "Flickr8k.token.txt").write_text("half a file")
    root = make_shapes_dataset(tmp_path / "data", num_images=5, image_size=32)
    assert (root / "manifest.json").is_file() and not partial.exists()
    assert len(read_captions(root / "Flickr8k.token.txt")) == 25


def test_two_processes_making_the_same_dataset_at_once_both_end_with_it(tmp_path, monkeypatch):
    """Two notebooks (or a sweep's runs) on one data folder: while this process is writing, another
    makes the same dataset from start to end. Neither may delete the other's unfinished files."""
    import subprocess
    import sys
    from pathlib import Path

    import t2ilib.data.shapes as shapes

    root, repository = tmp_path / "data", Path(__file__).resolve().parents[1]
    other = ("from t2ilib.data.shapes import make_shapes_dataset; "
             f"make_shapes_dataset({str(root)!r}, num_images=6, image_size=32)")
    original, started = shapes.render_shape, []

    def render_while_another_process_makes_it_all(attrs, size, rng):
        if not started:  # this process has begun its copy; now the other one runs to the end
            started.append(True)
            subprocess.run([sys.executable, "-c", other], check=True, cwd=repository,
                           env={**__import__("os").environ, "PYTHONPATH": str(repository)})
            assert (root / "manifest.json").is_file()
        return original(attrs, size, rng)

    monkeypatch.setattr(shapes, "render_shape", render_while_another_process_makes_it_all)
    assert shapes.make_shapes_dataset(root, num_images=6, image_size=32) == root
    assert started and len(read_captions(root / "Flickr8k.token.txt")) == 30
    assert len(list((root / "images").iterdir())) == 6
    assert not list(tmp_path.glob("data.partial*"))  # this process's copy was dropped, not left behind


def test_render_shape_draws_the_requested_attributes():
    rng = np.random.default_rng(0)
    for shape in ATTRIBUTES["shape"]:
        for position in ATTRIBUTES["position"]:
            attrs = {"shape": shape, "colour": "blue", "position": position, "background": "white"}
            image = render_shape(attrs, 96, rng)
            assert image.dtype == np.uint8 and image.shape == (96, 96, 3)
            corners = image[[0, 0, -1, -1], [0, -1, 0, -1]]
            assert (corners == BACKGROUNDS["white"]).all()
            blue = np.all(image == COLOURS["blue"], axis=-1)
            rows, cols = np.nonzero(blue)
            area = blue.mean()
            assert 0.03 < area < 0.2  # radius 0.15..0.2 of the side
            centre = rows.mean() / 96
            expected = {"top": 0.25, "middle": 0.5, "bottom": 0.75}[position]
            assert abs(centre - expected) < 0.06
            # left/right symmetric (a horizontal flip keeps the shape): every row of the
            # shape is centred on the same column
            row_centres = [(np.flatnonzero(row).min() + np.flatnonzero(row).max()) / 2
                           for row in blue if row.any()]
            assert np.ptp(row_centres) <= 1.0
    with pytest.raises(ValueError, match="colour"):
        render_shape({"shape": "circle", "colour": "purple", "position": "top", "background": "black"}, 64, rng)
