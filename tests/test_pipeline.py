"""Image cache and tf.data batches: shapes, ranges, augmentation, memory per image not per caption."""

import numpy as np
import pytest
from PIL import Image

from t2ilib.data.cache import build_image_cache, load_size_for
from t2ilib.data.pipeline import center_crop, make_gan_dataset, random_crop_and_flip
from t2ilib.data.prepare import prepare_data


def test_load_size_follows_stackgan():
    assert load_size_for(64) == 76
    assert load_size_for(256) == 304


def test_image_cache_has_one_row_per_image_and_is_reused(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for index, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        Image.new("RGB", (50, 30), colour).save(images / f"{index}.jpg")
    Image.new("L", (20, 20), 128).save(images / "gray.png")  # grayscale PNG: converted to RGB
    (images / "empty.jpg").write_bytes(b"")  # unreadable: counted skip
    names = ["0.jpg", "1.jpg", "0.jpg", "2.jpg", "gray.png", "empty.jpg", "0.jpg"]  # captions repeat images
    cache = build_image_cache(images, names, 12, tmp_path / "cache.npy", progress=False)
    assert cache.names == ["0.jpg", "1.jpg", "2.jpg", "gray.png"]
    assert cache.array.shape == (4, 12, 12, 3) and cache.array.dtype == np.uint8
    assert cache.array[1, 6, 6].tolist()[1] > 200  # green
    assert cache.array[3, 0, 0].tolist() == [128, 128, 128]
    np.testing.assert_array_equal(cache.rows(["2.jpg", "0.jpg"]), [2, 0])
    again = build_image_cache(images, names, 12, tmp_path / "cache.npy", progress=False)
    assert isinstance(again.array, np.memmap)  # read back, not rebuilt
    with pytest.raises(KeyError, match="not in the cache"):
        cache.rows(["missing.jpg"])


def test_random_crop_and_flip_are_exact_crops():
    side, crop = 10, 6
    base = np.arange(side * side * 3, dtype=np.uint8).reshape(1, side, side, 3)
    images = np.repeat(base, 16, axis=0)
    out = random_crop_and_flip(images, crop, seed=np.array([1, 2], np.int32), flip=True).numpy()
    assert out.shape == (16, crop, crop, 3)
    flips = 0
    for sample in out:
        found = False
        for y in range(side - crop + 1):
            for x in range(side - crop + 1):
                window = base[0, y:y + crop, x:x + crop]
                if np.array_equal(sample, window):
                    found = True
                elif np.array_equal(sample, window[:, ::-1]):
                    found, flips = True, flips + 1
        assert found, "every output must be an exact (possibly mirrored) window of its input"
    assert 0 < flips < 16
    np.testing.assert_array_equal(center_crop(base, crop), base[:, 2:8, 2:8])


def test_gan_batches_shapes_ranges_and_wrong_images(tiny_config):
    prepared = prepare_data(tiny_config.data, progress=False)
    train = prepared.split("train")
    embeddings = np.random.default_rng(0).standard_normal((len(train), 16)).astype(np.float32)
    dataset = make_gan_dataset(prepared.cache.array, train["row"].to_numpy(), embeddings, batch_size=8,
                               image_size=32, seed=0)
    batches = list(dataset)
    assert len(batches) == len(train) // 8
    real, emb, wrong = batches[0]
    assert real.shape == (8, 32, 32, 3) and wrong.shape == (8, 32, 32, 3) and emb.shape == (8, 16)
    assert real.dtype.name == "float32"
    assert -1.0 <= float(np.min(real)) and float(np.max(real)) <= 1.0
    assert float(np.max(real)) - float(np.min(real)) > 1.0  # real pictures, not blank
    # The embedding of each sample is one of the training embeddings, and the wrong image differs.
    assert all(np.any(np.all(np.isclose(embeddings, row), axis=1)) for row in emb.numpy())
    assert not np.allclose(real.numpy(), wrong.numpy())


def test_gan_batches_pair_each_embedding_with_its_own_image(tiny_config):
    prepared = prepare_data(tiny_config.data, progress=False)
    train = prepared.split("train")
    rows = train["row"].to_numpy()
    # Encode the image row itself in the "embedding" to check pairing after shuffling.
    embeddings = np.repeat(rows[:, None].astype(np.float32), 4, axis=1)
    dataset = make_gan_dataset(prepared.cache.array, rows, embeddings, batch_size=8, image_size=32,
                               augment=False, seed=3)
    for real, emb, wrong in dataset.take(3):
        for image, code, wrong_image in zip(real.numpy(), emb.numpy(), wrong.numpy()):
            row = int(code[0])
            expected = center_crop(prepared.cache.array[row:row + 1], 32)[0].astype(np.float32) / 127.5 - 1
            np.testing.assert_allclose(image, expected, atol=1e-6)
            assert not np.allclose(wrong_image, expected)


def test_pipeline_rejects_misaligned_inputs(tiny_config):
    prepared = prepare_data(tiny_config.data, progress=False)
    with pytest.raises(ValueError, match="aligned"):
        make_gan_dataset(prepared.cache.array, np.arange(10), np.zeros((9, 4), np.float32), 4, 32)
    with pytest.raises(ValueError, match="lower batch_size"):
        make_gan_dataset(prepared.cache.array, np.arange(3), np.zeros((3, 4), np.float32), 4, 32)


def test_prepare_data_counts_and_split_files(tiny_config):
    prepared = prepare_data(tiny_config.data, progress=False)
    captions = prepared.captions
    assert len(captions) == 5 * 40
    assert captions["split"].value_counts()["train"] == 4 * 40
    assert prepared.cache.array.shape == (40, 38, 38, 3)  # one row per image, 38 = 32 * 76/64
    for name in ("captions", "train", "validation", "test"):
        assert (prepared.work_dir / "splits" / f"{name}.csv").exists()
    assert list(prepared.attributes.columns) == ["image", "shape", "colour", "position", "background"]
    assert (prepared.attributes["image"] == captions["image"]).all()
