"""R-precision (AttnGAN / DM-GAN protocol) with a small DAMSM-like image/text encoder pair.

Does a generated image match its own caption better than 99 others? For every generated image,
its true caption and 99 mismatched captions (of other images) are ranked by the cosine
similarity of an image code and caption codes; a hit is the true caption ranked first. The
score is the hit rate (mean +- std over folds); chance is 1/100.

The codes must come from an encoder pair trained on *real* image-caption pairs, and not from
the text encoder the generator was trained against (a generator can learn to please its own
encoder without drawing the right thing). AttnGAN used its DAMSM; the kit trains a small one:

- image tower: three stride-2 conv blocks -> global average pool -> Dense(code_dim)
- text tower: an MLP over caption embeddings (by default Word2Vec vectors trained on the
  training captions, whatever encoder the generator used, so runs with different encoders are
  scored by the same judge)
- loss: symmetric contrastive cross-entropy over the batch (each image against every caption of
  the batch and back), cosine similarity / temperature.

    dual = dual_encoder_for(config)                 # trains once (seconds to minutes), then loads
    r_precision(dual, generated_uint8, caption_embeddings, groups=image_names)
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from t2ilib.metrics.inception import check_uint8_images
from t2ilib.metrics.result import MetricResult
from t2ilib.training.checkpoints import refuse_non_finite

logger = logging.getLogger("t2ilib")

NUM_CANDIDATES = 100  # 1 true + 99 mismatched captions


def _normalise(codes):
    codes = np.asarray(codes, dtype=np.float64)
    return codes / np.maximum(np.linalg.norm(codes, axis=-1, keepdims=True), 1e-12)


def r_precision_from_codes(image_codes, text_codes, groups=None, num_candidates: int = NUM_CANDIDATES,
                           folds: int = 10, seed: int = 0) -> dict:
    """R-precision of image codes (N, d) against their true caption codes (N, d), row by row.

    Mismatched captions for image i are other rows of `text_codes` whose `groups` value differs
    from row i's (pass image names so that another caption of the same image is never counted
    as "mismatched"; default: every other row). Returns {"mean", "std", "candidates", "folds",
    "hits"}; with too few rows, fewer candidates are used and "candidates" says how many.
    """
    images, texts = _normalise(image_codes), _normalise(text_codes)
    if images.shape != texts.shape or images.ndim != 2:
        raise ValueError(f"image_codes {images.shape} and text_codes {texts.shape} must both be (N, d), row-aligned.")
    groups = np.arange(len(texts)) if groups is None else np.asarray(groups)
    if len(groups) != len(texts):
        raise ValueError(f"{len(groups)} groups for {len(texts)} captions.")
    rng = np.random.default_rng(seed)
    hits, used = np.zeros(len(images), bool), []
    for i in range(len(images)):
        others = np.flatnonzero(groups != groups[i])
        if len(others) == 0:
            raise ValueError("R-precision needs captions of at least two different images.")
        chosen = rng.choice(others, size=min(num_candidates - 1, len(others)), replace=False)
        true_similarity = images[i] @ texts[i]
        hits[i] = true_similarity > np.max(texts[chosen] @ images[i])  # a tie is not a hit
        used.append(len(chosen) + 1)
    folds = max(1, min(folds, len(hits)))
    fold_means = [part.mean() for part in np.array_split(hits[rng.permutation(len(hits))], folds)]
    return {"mean": float(np.mean(fold_means)), "std": float(np.std(fold_means)), "candidates": int(min(used)),
            "folds": folds, "hits": int(hits.sum())}


@keras.saving.register_keras_serializable(package="t2ilib")
class DualEncoder(keras.Model):
    """Image tower and text tower mapping into one `code_dim` space (see module docstring).

    `fit` takes batches of (images in [-1, 1], caption embeddings), as made by
    `make_gan_dataset` without its third element.
    """

    def __init__(self, text_dim: int, image_size: int, code_dim: int = 64, width: int = 16,
                 temperature: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.text_dim, self.image_size, self.code_dim = text_dim, image_size, code_dim
        self.width, self.temperature = width, temperature
        self.image_tower = keras.Sequential(
            [layers.Conv2D(width * 2 ** i, 3, strides=2, padding="same", activation="relu") for i in range(3)]
            + [layers.GlobalAveragePooling2D(), layers.Dense(code_dim)], name="image_tower")
        self.text_tower = keras.Sequential(
            [layers.Dense(2 * code_dim, activation="relu"), layers.Dense(code_dim)], name="text_tower")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name="match_accuracy")  # image -> own caption, in the batch

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker]

    def call(self, images, embeddings):
        image_codes = ops.normalize(self.image_tower(images), axis=-1)
        text_codes = ops.normalize(self.text_tower(embeddings), axis=-1)
        return image_codes, text_codes

    def build_for(self):
        self(ops.zeros((1, self.image_size, self.image_size, 3)), ops.zeros((1, self.text_dim)))
        return self

    def train_step(self, data):
        import tensorflow as tf

        images, embeddings = data[0], data[1]
        with tf.GradientTape() as tape:
            image_codes, text_codes = self(images, embeddings)
            logits = ops.matmul(image_codes, ops.transpose(text_codes)) / self.temperature  # (B, B)
            labels = ops.arange(ops.shape(logits)[0])
            loss = 0.5 * (ops.mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
                          + ops.mean(keras.losses.sparse_categorical_crossentropy(labels, ops.transpose(logits),
                                                                                  from_logits=True)))
        variables = self.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        self.loss_tracker.update_state(loss)
        self.accuracy_tracker.update_state(ops.mean(ops.cast(ops.argmax(logits, axis=1) == labels, "float32")))
        return {metric.name: metric.result() for metric in self.metrics}

    def encode_images(self, images, batch_size: int = 256) -> np.ndarray:
        """Unit-length codes (N, code_dim) of uint8 images, resized to the tower's size if needed."""
        import tensorflow as tf

        images = check_uint8_images(images)
        codes = []
        for start in range(0, len(images), batch_size):
            batch = tf.cast(images[start:start + batch_size], tf.float32) / 127.5 - 1.0
            if batch.shape[1] != self.image_size:
                batch = tf.image.resize(batch, (self.image_size, self.image_size), antialias=True)
            codes.append(ops.convert_to_numpy(ops.normalize(self.image_tower(batch, training=False), axis=-1)))
        return np.concatenate(codes)

    def encode_texts(self, embeddings) -> np.ndarray:
        """Unit-length codes (N, code_dim) of caption embeddings (N, text_dim)."""
        embeddings = np.asarray(embeddings, dtype=np.float32)
        return ops.convert_to_numpy(ops.normalize(self.text_tower(embeddings, training=False), axis=-1))

    def settings(self) -> dict:
        return {"text_dim": self.text_dim, "image_size": self.image_size, "code_dim": self.code_dim,
                "width": self.width, "temperature": self.temperature}


def dual_encoder_text_config(config):
    """The text encoder the R-precision judge reads: Word2Vec on the training captions, fixed
    settings, whatever the generator used (so every run is judged by the same encoder pair)."""
    from t2ilib.config import TextConfig

    return TextConfig(encoder="word2vec", word2vec_dim=64, word2vec_epochs=max(5, config.text.word2vec_epochs))


def train_dual_encoder(config, path, epochs: int = 20, batch_size: int = 64, learning_rate: float = 1e-3,
                       verbose: int = 0) -> DualEncoder:
    """Train the encoder pair on the real training split of `config.data`; save it to `path`
    (`*.weights.h5`, with its settings in a `.json` beside it)."""
    from t2ilib.data.pipeline import make_gan_dataset
    from t2ilib.data.prepare import prepare_data
    from t2ilib.training.stage1 import embed_all_captions

    judge_config = config.replace(**{f"text.{key}": value
                                     for key, value in vars(dual_encoder_text_config(config)).items()})
    prepared = prepare_data(judge_config.data, progress=verbose > 0)
    _, embeddings = embed_all_captions(judge_config, prepared)
    train = prepared.split("train")
    batch_size = min(batch_size, len(train))
    dataset = make_gan_dataset(prepared.cache.array, train["row"].to_numpy(), embeddings[train.index], batch_size,
                               config.data.image_size, augment=True, seed=config.train.seed, repeat=True)
    dataset = dataset.map(lambda real, embedding, wrong: (real, embedding))
    keras.utils.set_random_seed(config.train.seed + 31)
    dual = DualEncoder(embeddings.shape[1], config.data.image_size).build_for()
    dual.compile(optimizer=keras.optimizers.Adam(learning_rate))
    steps = max(1, len(train) // batch_size)
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")  # our tf.data shuffles itself
        history = dual.fit(dataset, epochs=epochs, steps_per_epoch=steps, verbose=verbose).history
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    refuse_non_finite(dual.variables, f"The R-precision encoder pair {path}")
    dual.save_weights(path)
    meta = {**dual.settings(), "epochs": epochs, "steps_per_epoch": steps, "training_captions": len(train),
            "text_encoder": judge_config.to_dict()["text"], "final_loss": float(history["loss"][-1]),
            "final_match_accuracy": float(history["match_accuracy"][-1]), "batch_size": batch_size}
    Path(str(path) + ".json").write_text(json.dumps(meta, indent=2) + "\n")
    return dual


def load_dual_encoder(path) -> DualEncoder:
    """A `DualEncoder` saved by `train_dual_encoder`."""
    path = Path(path)
    meta_path = Path(str(path) + ".json")
    if not path.exists() or not meta_path.exists():
        raise FileNotFoundError(f"No trained encoder pair at {path} (and {meta_path.name}): train_dual_encoder first.")
    meta = json.loads(meta_path.read_text())
    dual = DualEncoder(**{key: meta[key] for key in ("text_dim", "image_size", "code_dim", "width", "temperature")})
    dual.build_for().load_weights(path)
    refuse_non_finite(dual.variables, f"The R-precision encoder pair {path}")
    dual.meta, dual.weights_path = meta, str(path)
    return dual


def dual_encoder_path(config, epochs: int) -> Path:
    from t2ilib.data.prepare import dataset_root

    root = dataset_root(config.data)
    return (Path(config.data.data_dir) / "prepared" / root.name / "dual_encoder"
            / f"dual-{config.data.image_size}px-e{epochs}-s{config.train.seed}.weights.h5")


def dual_encoder_for(config, epochs: int = 20, verbose: int = 0) -> DualEncoder:
    """The R-precision encoder pair for this dataset and image size: loaded when already trained
    (under the prepared data folder), trained on the real training split otherwise."""
    path = dual_encoder_path(config, epochs)
    if path.exists() and Path(str(path) + ".json").exists():
        return load_dual_encoder(path)
    logger.info("Training the R-precision encoder pair (%d epochs) into %s.", epochs, path)
    train_dual_encoder(config, path, epochs=epochs, verbose=verbose)
    return load_dual_encoder(path)


def judge_embeddings(config, captions: list[str]) -> np.ndarray:
    """Caption embeddings for the encoder pair's text tower (its own Word2Vec)."""
    from t2ilib.data.prepare import prepare_data
    from t2ilib.text import make_encoder

    judge_text = dual_encoder_text_config(config)
    prepared = prepare_data(config.data, progress=False)
    encoder = make_encoder(judge_text, training_captions=prepared.split("train")["caption"].tolist(),
                           work_dir=prepared.work_dir)
    return encoder.encode(list(captions))


def r_precision(dual: DualEncoder, images, caption_embeddings, groups=None, folds: int = 10,
                seed: int = 0) -> MetricResult:
    """R-precision of uint8 generated images (N, H, W, 3), image i generated from caption i
    (`caption_embeddings`: the judge's embeddings, see `judge_embeddings`)."""
    images = check_uint8_images(images)
    scores = r_precision_from_codes(dual.encode_images(images), dual.encode_texts(caption_embeddings), groups,
                                    folds=folds, seed=seed)
    return MetricResult("r_precision", scores["mean"], std=scores["std"], n=len(images),
                        image_size=int(images.shape[1]), weights=getattr(dual, "weights_path", "untrained or unsaved"),
                        details={"candidates": scores["candidates"], "chance": 1.0 / scores["candidates"],
                                 "folds": scores["folds"], "encoder_pair": "t2ilib DualEncoder trained on real pairs"})
