"""The report's other caption representations: tokenizer, one-hot, TF-Hub (tiny SavedModels made
here, loaded with hub.load), char-CNN-RNN pickles, selection by name, the cache, the GloVe download."""

import importlib.util
import logging
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from t2ilib.config import TextConfig
from t2ilib.text import ENCODERS, OneHotEncoder, TokenizerEncoder, build_vocabulary, embed_captions, make_encoder
from t2ilib.text import vocabulary as vocabulary_module
from t2ilib.text.char_cnn_rnn import CharCnnRnnEncoder, load_char_cnn_rnn
from t2ilib.text.vocabulary import caption_words, left_pad

TRAINING = ["A dog runs on the beach .", "Two dogs run on the grass .", "A dog jumps over a log .",
            "A child plays on the beach ."]


@pytest.fixture
def no_wordnet(monkeypatch):
    """Lemmatisation off, as on a machine without NLTK's wordnet corpus."""
    monkeypatch.setattr(vocabulary_module, "_lemmatizer", False)


def test_vocabulary_is_cleaned_ordered_by_frequency_and_min_count(no_wordnet):
    assert caption_words("Two dogs can't run on the beach!") == ["two", "dogs", "run", "beach"]
    assert build_vocabulary(TRAINING) == ["beach", "dog", "child", "dogs", "grass", "jumps", "log", "plays", "run",
                                          "runs", "two"]
    assert build_vocabulary(TRAINING, min_count=2) == ["beach", "dog"]
    with pytest.raises(ValueError, match="min_count"):
        build_vocabulary(TRAINING, min_count=0)


def test_missing_wordnet_gives_one_notice_and_plain_words(monkeypatch, caplog):
    import nltk.stem

    class Missing:
        def lemmatize(self, word):
            raise LookupError("Resource wordnet not found.")

    monkeypatch.setattr(vocabulary_module, "_lemmatizer", None)
    monkeypatch.setattr(nltk.stem, "WordNetLemmatizer", Missing)
    with caplog.at_level(logging.WARNING, logger="t2ilib"):
        assert caption_words("Two dogs") == ["two", "dogs"]
        assert caption_words("Three cats") == ["three", "cats"]
    assert sum("wordnet" in record.getMessage() for record in caplog.records) == 1


def test_lemmas_are_used_when_wordnet_is_there(monkeypatch):
    class Lemmas:
        def lemmatize(self, word):
            return {"dogs": "dog", "children": "child"}.get(word, word)

    monkeypatch.setattr(vocabulary_module, "_lemmatizer", Lemmas())
    assert caption_words("Two dogs and children") == ["two", "dog", "child"]
    encoder = OneHotEncoder().fit(TRAINING)
    assert encoder.lemmatised and "dogs" not in encoder.vocabulary
    assert encoder.cache_key().startswith("onehot-lemmas-")


def test_left_pad_moves_ids_to_the_end():
    np.testing.assert_array_equal(left_pad(np.array([[5, 7, 0, 0], [1, 2, 3, 4], [0, 0, 0, 0]])),
                                  [[0, 0, 5, 7], [1, 2, 3, 4], [0, 0, 0, 0]])


def test_tokenizer_gives_left_padded_ids_of_the_training_vocabulary(no_wordnet):
    encoder = TokenizerEncoder(length=5).fit(TRAINING)
    vocabulary = encoder.vocabulary
    ids = encoder.encode(["A dog runs on the beach .", "A cat runs", "dog dog dog beach beach beach child"])
    assert ids.dtype == np.float32 and ids.shape == (3, 5) and encoder.dim == 5
    word_id = {word: index + 2 for index, word in enumerate(vocabulary)}  # 0 padding, 1 unknown
    np.testing.assert_array_equal(ids[0], [0, 0, word_id["dog"], word_id["runs"], word_id["beach"]])
    np.testing.assert_array_equal(ids[1], [0, 0, 0, 1, word_id["runs"]])  # "cat" is unknown
    assert ids[2].tolist() == [word_id["dog"]] * 3 + [word_id["beach"]] * 2  # first 5 words kept
    assert encoder.last_unknown_words == 1
    assert encoder.cache_key() != TokenizerEncoder(length=6).fit(TRAINING).cache_key()
    assert encoder.cache_key() != TokenizerEncoder(length=5).fit(TRAINING[:2]).cache_key()
    with pytest.raises(ValueError, match="fit"):
        TokenizerEncoder().encode(["a dog"])


def test_onehot_marks_the_words_present_and_counts_unknown_ones(no_wordnet):
    encoder = OneHotEncoder().fit(TRAINING)
    vectors = encoder.encode(["A dog and a dog on the beach .", "A purple cat"])
    assert vectors.shape == (2, len(encoder.vocabulary)) == (2, encoder.dim) and vectors.dtype == np.float32
    present = [encoder.vocabulary[i] for i in np.flatnonzero(vectors[0])]
    assert sorted(present) == ["beach", "dog"] and vectors[0].max() == 1.0  # multi-hot, not counts
    assert not vectors[1].any() and encoder.last_unknown_words == 2  # purple, cat


def test_every_encoder_name_is_buildable_from_the_config(tmp_path, no_wordnet):
    glove = tmp_path / "glove.tiny.3d.txt"
    glove.write_text("dog 1 0 0\nbeach 0 1 0\n")
    folder = write_char_cnn_rnn(tmp_path / "birds" / "train")
    built = {
        "tokenizer": make_encoder(TextConfig(encoder="tokenizer", tokenizer_length=7), TRAINING),
        "onehot": make_encoder(TextConfig(encoder="onehot", vocabulary_min_count=2), TRAINING),
        "glove": make_encoder(TextConfig(encoder="glove", glove_path=str(glove), glove_pooling="mean")),
        "char-cnn-rnn": make_encoder(TextConfig(encoder="char-cnn-rnn", char_cnn_rnn_dir=str(folder))),
    }
    assert built["tokenizer"].dim == 7 and built["onehot"].vocabulary == ["beach", "dog"]
    np.testing.assert_allclose(built["glove"].encode(["a dog on the beach"]), [[0.5, 0.5, 0]])
    assert built["char-cnn-rnn"].dim == 16
    assert set(ENCODERS) >= {"word2vec", "sentence-transformers", "tokenizer", "onehot", "tfhub", "tfhub-bert",
                             "glove", "char-cnn-rnn"}
    with pytest.raises(ValueError, match="training_captions"):
        make_encoder(TextConfig(encoder="onehot"))
    with pytest.raises(ValueError, match="char_cnn_rnn_dir"):
        make_encoder(TextConfig(encoder="char-cnn-rnn"))


def test_cache_follows_encoder_settings(tmp_path, no_wordnet):
    # tests/test_text.py checks reuse and new captions; here: other settings must not reuse a file.
    short, long = TokenizerEncoder(length=4).fit(TRAINING), TokenizerEncoder(length=6).fit(TRAINING)
    assert embed_captions(short, TRAINING, tmp_path).shape == (4, 4)
    assert embed_captions(long, TRAINING, tmp_path).shape == (4, 6)
    calls = []
    encode = short.encode
    short.encode = lambda captions: calls.append(len(captions)) or encode(captions)
    embed_captions(short, TRAINING, tmp_path)
    assert calls == [] and len(list(tmp_path.glob("tokenizer-*.npy"))) == 2
    refitted = TokenizerEncoder(length=4).fit(TRAINING[:3])  # another vocabulary: other ids
    assert refitted.cache_key() != short.cache_key()


# ---------------------------------------------------------------------------------------
# TF-Hub: tiny SavedModels built with a tensorflow-text tokenizer, loaded through hub.load
# ---------------------------------------------------------------------------------------
WORDS = ["dog", "runs", "beach", "cat", "sleeps"]


@pytest.fixture(scope="module")
def hub_models(tmp_path_factory):
    tf = pytest.importorskip("tensorflow")
    tf_text = pytest.importorskip("tensorflow_text", reason="tensorflow-text is in requirements-dev.txt")
    folder = tmp_path_factory.mktemp("hub")
    table_values = np.random.default_rng(0).normal(size=(len(WORDS) + 1, 4)).astype(np.float32)
    table_values[0] = 0  # unknown words

    def lookup_table():
        init = tf.lookup.KeyValueTensorInitializer(tf.constant(WORDS), tf.range(1, len(WORDS) + 1, dtype=tf.int64))
        return tf.lookup.StaticHashTable(init, default_value=0)

    class SentenceModel(tf.Module):  # strings -> mean of word vectors, like a sentence encoder
        def __init__(self):
            self.tokenizer = tf_text.WhitespaceTokenizer()
            self.table = lookup_table()
            self.vectors = tf.Variable(table_values)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, sentences):
            tokens = self.tokenizer.tokenize(tf.strings.lower(sentences))
            ids = tokens.with_flat_values(self.table.lookup(tokens.flat_values))
            vectors = tf.gather(self.vectors, ids)
            count = tf.cast(tf.maximum(ids.row_lengths(), 1), tf.float32)[:, None]
            return tf.reduce_sum(vectors, axis=1) / count

    length = 6

    class Preprocess(tf.Module):  # strings -> BERT-style inputs: [CLS]=6 then word ids, padded
        def __init__(self):
            self.tokenizer = tf_text.WhitespaceTokenizer()
            self.table = lookup_table()

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, sentences):
            tokens = self.tokenizer.tokenize(tf.strings.lower(sentences))
            ids = tokens.with_flat_values(tf.cast(self.table.lookup(tokens.flat_values), tf.int32))
            ids = tf.concat([tf.fill([tf.shape(sentences)[0], 1], len(WORDS) + 1), ids], axis=1)
            word_ids = ids.to_tensor(default_value=0, shape=[None, length])
            return {"input_word_ids": word_ids, "input_mask": tf.cast(word_ids > 0, tf.int32),
                    "input_type_ids": tf.zeros_like(word_ids)}

    spec = tf.TensorSpec([None, length], tf.int32)

    class Encoder(tf.Module):  # BERT-style inputs -> pooled_output: masked mean of id embeddings
        def __init__(self):
            self.vectors = tf.Variable(np.vstack([table_values, np.ones((1, 4), np.float32)]))

        @tf.function(input_signature=[{"input_word_ids": spec, "input_mask": spec, "input_type_ids": spec}])
        def __call__(self, inputs):
            mask = tf.cast(inputs["input_mask"], tf.float32)[..., None]
            summed = tf.reduce_sum(tf.gather(self.vectors, inputs["input_word_ids"]) * mask, axis=1)
            pooled = summed / tf.reduce_sum(mask, axis=1)
            return {"pooled_output": pooled, "sequence_output": tf.gather(self.vectors, inputs["input_word_ids"])}

    paths = {}
    for name, module in (("sentence", SentenceModel()), ("preprocess", Preprocess()), ("encoder", Encoder())):
        paths[name] = str(folder / name)
        tf.saved_model.save(module, paths[name])
    return paths, table_values


def test_tfhub_sentence_encoder_loads_a_local_savedmodel(hub_models):
    from t2ilib.text.hub import HubSentenceEncoder

    paths, table_values = hub_models
    encoder = make_encoder(TextConfig(encoder="tfhub", hub_handle=paths["sentence"], batch_size=2))
    assert isinstance(encoder, HubSentenceEncoder)
    vectors = encoder.encode(["Dog runs", "cat sleeps on beach", "zebra", "dog"])  # 2 batches
    assert vectors.shape == (4, 4) and vectors.dtype == np.float32 and encoder.dim == 4
    row = {word: table_values[i + 1] for i, word in enumerate(WORDS)}
    np.testing.assert_allclose(vectors[0], (row["dog"] + row["runs"]) / 2, rtol=1e-5)
    np.testing.assert_allclose(vectors[1], (row["cat"] + row["sleeps"] + table_values[0] + row["beach"]) / 4,
                               rtol=1e-5)  # "on" is unknown: a zero vector, counted in the mean
    assert encoder.cache_key().startswith("tfhub-sentence-")
    with pytest.raises(FileNotFoundError, match="SavedModel"):
        HubSentenceEncoder(str(Path(paths["sentence"]).parent / "missing")).encode(["a"])


def test_tfhub_bert_runs_preprocess_then_encoder_pooled_output(hub_models, tmp_path):
    paths, table_values = hub_models
    config = TextConfig(encoder="tfhub-bert", hub_preprocess_handle=paths["preprocess"], hub_bert_handle=paths["encoder"])
    encoder = make_encoder(config)
    vectors = embed_captions(encoder, ["dog runs", "beach"], tmp_path)
    cls = np.ones(4, np.float32)
    np.testing.assert_allclose(vectors[0], (cls + table_values[1] + table_values[2]) / 3, rtol=1e-5)
    np.testing.assert_allclose(vectors[1], (cls + table_values[3]) / 2, rtol=1e-5)
    assert "preprocess" in encoder.cache_key() and encoder.cache_key().endswith("pooled_output")


# ---------------------------------------------------------------------------------------
# char-CNN-RNN: Python-2-style pickles (protocol 2) as in StackGAN's Data/birds/<split>/
# ---------------------------------------------------------------------------------------
FILENAMES = ["001.Black_footed_Albatross/Black_Footed_Albatross_0001", "002.Laysan_Albatross/Laysan_Albatross_0002"]


def write_char_cnn_rnn(folder: Path, captions: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    embeddings = np.arange(2 * 10 * 16, dtype=np.float32).reshape(2, 10, 16)
    with open(folder / "char-CNN-RNN-embeddings.pickle", "wb") as file:
        pickle.dump(embeddings, file, protocol=2)
    with open(folder / "filenames.pickle", "wb") as file:
        pickle.dump(FILENAMES, file, protocol=2)
    if captions:
        for number, name in enumerate(FILENAMES):
            path = folder.parent / "text_c10" / f"{name}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(f"bird {number} caption {k}\n" for k in range(10)))
    return folder


def test_char_cnn_rnn_pickles_are_read_and_looked_up(tmp_path):
    folder = write_char_cnn_rnn(tmp_path / "birds" / "train")
    data = load_char_cnn_rnn(folder)
    assert data.filenames == FILENAMES and data.embeddings.shape == (2, 10, 16)
    encoder = CharCnnRnnEncoder(folder)
    vectors = encoder.encode([f"{FILENAMES[1]}#3", FILENAMES[0] + ".jpg", "bird 1 caption 9"])
    np.testing.assert_array_equal(vectors[0], data.embeddings[1, 3])
    np.testing.assert_allclose(vectors[1], data.embeddings[0].mean(axis=0))  # a file name: mean of its 10
    np.testing.assert_array_equal(vectors[2], data.embeddings[1, 9])  # a caption of text_c10/
    with pytest.raises(ValueError, match="cannot embed new text"):
        encoder.encode(["a red bird"])


def test_char_cnn_rnn_bad_files_say_what_is_wrong(tmp_path):
    folder = write_char_cnn_rnn(tmp_path / "train", captions=False)
    with open(folder / "filenames.pickle", "wb") as file:
        pickle.dump(FILENAMES[:1], file, protocol=2)
    with pytest.raises(ValueError, match="1 file names .* but 2 images"):
        load_char_cnn_rnn(folder)
    with pytest.raises(FileNotFoundError, match="char-CNN-RNN-embeddings.pickle"):
        load_char_cnn_rnn(tmp_path / "nowhere")


# ---------------------------------------------------------------------------------------
# data_prep/glove.py against a file:// zip laid out like glove.6B.zip
# ---------------------------------------------------------------------------------------
def load_glove_script():
    path = Path(__file__).resolve().parents[1] / "data_prep" / "glove.py"
    spec = importlib.util.spec_from_file_location("data_prep_glove", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_glove_download_extracts_only_the_chosen_dimension(tmp_path, capsys):
    script = load_glove_script()
    release = tmp_path / "release" / "glove.6B.zip"
    release.parent.mkdir()
    with zipfile.ZipFile(release, "w") as archive:
        for dim in (50, 100):
            archive.writestr(f"glove.6B.{dim}d.txt", "".join(f"w{i} " + " ".join(["0.5"] * dim) + "\n" for i in range(3)))
    dest = tmp_path / "data"
    assert script.main(["--dest", str(dest), "--url", release.as_uri(), "--keep-zip"]) == 0
    assert sorted(p.name for p in dest.iterdir()) == ["downloads", "glove.6B.50d.txt"]
    from t2ilib.text import load_glove

    words, vectors = load_glove(dest / "glove.6B.50d.txt")
    assert words == ["w0", "w1", "w2"] and vectors.shape == (3, 50)
    assert "3 words (the real glove.6B files have 400,000)" in capsys.readouterr().out
    release.unlink()  # a second run needs neither the zip's source nor a new download
    assert script.main(["--dest", str(dest), "--url", release.as_uri()]) == 0
    assert "no download needed" in capsys.readouterr().out
    assert script.main(["--dest", str(dest), "--url", release.as_uri(), "--dims", "100", "--keep-zip"]) == 0  # zip kept
    assert (dest / "glove.6B.100d.txt").is_file()
    assert script.main(["--dest", str(dest), "--url", release.as_uri(), "--dims", "200"]) == 1
    assert "no glove.6B.200d.txt" in capsys.readouterr().err
