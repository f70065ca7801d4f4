"""DAMSM pretraining (`t2ilib.models.damsm`): the text and image encoders trained together on the
real training split of any Flickr8k-format dataset, cached per dataset like the R-precision
judge (`t2ilib.training.judge`), checked by text-to-image retrieval on the validation split.

    damsm = damsm_for(config, DAMSMSettings(...))     # trains once, then loads
    damsm.retrieval                                   # {"recall@1": ..., "chance@1": ..., ...}
    ids = damsm.tokenizer.encode(captions)            # word ids for damsm.text_encoder

Where it lives: `{data.data_dir}/prepared/<dataset folder>/damsm/<settings>/` with
`damsm.weights.h5`, `vocabulary.json` (the word ids) and `manifest.json`, written last. It is
trained again (logged, with the reason) when there is no manifest, when the dataset changed
(the fingerprint of captions, splits and cached pixels, as the judge's), or when the cache is
damaged. Settings are part of the folder's name: other settings, another folder.

Word ids come from the kit's tokenizer (`t2ilib.text.TokenizerEncoder`: the training captions'
vocabulary, 0 padding, 1 unknown word), `words_per_caption` of them (18 on CUB, the official
setting). Mismatched pairs in a batch leave out captions of the same picture (`judge_groups`:
the image, or on the built-in shapes dataset the four attributes), as the official code leaves
out birds of the same class.

`damsm_r_precision(damsm, images, captions, groups)` scores uint8 images of any model family
against their caption strings with a DAMSM: the field's R-precision
(docs/reference.md#r-precision), beside the kit's own judge.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import shutil
import time
from pathlib import Path

import keras
import numpy as np

from t2ilib.acceleration import precision_policy
from t2ilib.data.prepare import PreparedData, fixed_sample_rows, real_images
from t2ilib.files import partial_file, write_text_atomically
from t2ilib.models.damsm import DAMSM, DAMSMImageEncoder, DAMSMTextEncoder
from t2ilib.training.checkpoints import refuse_non_finite
from t2ilib.training.judge import dataset_fingerprint, judge_groups

logger = logging.getLogger("t2ilib")

DAMSM_VERSION = 1  # bump when training, architecture or the word ids change
WEIGHTS_NAME = "damsm.weights.h5"
VOCABULARY_NAME = "vocabulary.json"
MANIFEST_NAME = "manifest.json"
RETRIEVAL_CAPTIONS = 1000  # at most this many validation captions in the retrieval check


@dataclasses.dataclass(frozen=True)
class DAMSMSettings:
    """How a DAMSM is built and pretrained (defaults: the official CUB settings,
    docs/reference.md#attngan-and-damsm; a CPU smoke test shrinks them)."""

    embedding_dim: int = 256  # D: word, sentence, region and image features
    word_dim: int = 300  # the word embedding before the LSTM
    words_per_caption: int = 18  # word ids per caption (longer captions keep their first words)
    backbone_size: int = 299  # InceptionV3's input side (75 at least)
    backbone_weights: str | None = "imagenet"  # None: random and frozen (offline tests only)
    epochs: int = 600
    batch_size: int = 48
    learning_rate: float = 0.002
    beta_1: float = 0.5
    beta_2: float = 0.999
    text_clip_norm: float = 0.25  # the text encoder's gradients, global norm
    dropout: float = 0.5
    min_count: int = 1  # words seen fewer times in the training captions are "unknown"
    lemmatize: bool = False  # WordNet lemmas (when NLTK's corpus is installed), as text.lemmatize
    seed: int = 0

    def folder_name(self, image_size: int) -> str:
        digest = hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode()).hexdigest()[:8]
        weights = self.backbone_weights or "random"
        return (f"{image_size}px-{weights}{self.backbone_size}-d{self.embedding_dim}-e{self.epochs}"
                f"-v{DAMSM_VERSION}-{digest}")


def damsm_settings_from(items, base: DAMSMSettings = DAMSMSettings(), option: str = "--damsm-set") -> DAMSMSettings:
    """`base` with "KEY=VALUE" overrides (VALUE as JSON: 4, 0.002, null, true; else text), each
    checked against the field's type; a ValueError naming `option` and the keys otherwise."""
    fields = {field.name: field for field in dataclasses.fields(DAMSMSettings)}
    changes = {}
    for item in items:
        key, separator, text = str(item).partition("=")
        key = key.strip()
        if not separator or key not in fields:
            raise ValueError(f"{option} {item!r}: write KEY=VALUE with KEY one of {', '.join(fields)} "
                             "(e.g. --damsm-set epochs=4).")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        current = getattr(base, key)
        if isinstance(current, bool) or key == "lemmatize":
            ok = isinstance(value, bool)
        elif isinstance(current, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(current, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value
        else:  # backbone_weights: text or null
            ok = value is None or isinstance(value, str)
        if not ok:
            raise ValueError(f"{option} {item!r}: {key} takes a value like {current!r} (got {value!r}).")
        changes[key] = value
    return dataclasses.replace(base, **changes)


def damsm_dir(config, settings: DAMSMSettings) -> Path:
    """The DAMSM's folder for this dataset, `data.image_size` and `settings` (module docstring)."""
    from t2ilib.data.prepare import dataset_root

    return (Path(config.data.data_dir) / "prepared" / dataset_root(config.data).name / "damsm"
            / settings.folder_name(config.data.image_size))


def make_tokenizer(settings: DAMSMSettings, vocabulary: list[str] | None = None, captions: list[str] | None = None,
                   lemmatised: bool | None = None):
    """The word-id encoder of a DAMSM: fitted on `captions`, or given the saved `vocabulary` (and
    whether its words were lemmatised)."""
    from t2ilib.text import TokenizerEncoder

    tokenizer = TokenizerEncoder(length=settings.words_per_caption, min_count=settings.min_count,
                                 lemmatize=settings.lemmatize)
    if vocabulary is None:
        return tokenizer.fit(captions)
    tokenizer.vocabulary, tokenizer.lemmatised = list(vocabulary), bool(lemmatised)
    return tokenizer


def build_damsm(settings: DAMSMSettings, vocabulary_size: int) -> DAMSM:
    """The (untrained) pair in float32, weights created."""
    with precision_policy("off"):
        return DAMSM(DAMSMTextEncoder(vocabulary_size, settings.embedding_dim, settings.word_dim, settings.dropout),
                     DAMSMImageEncoder(settings.embedding_dim, settings.backbone_size, settings.backbone_weights),
                     text_clip_norm=settings.text_clip_norm).build_for(settings.words_per_caption)


def group_codes(prepared: PreparedData, rows) -> np.ndarray:
    """int32 code of each caption's group (`judge_groups`): same code, same picture."""
    import pandas as pd

    return pd.factorize(pd.Series(judge_groups(prepared, rows)))[0].astype(np.int32)


def damsm_dataset(prepared: PreparedData, ids: np.ndarray, settings: DAMSMSettings, image_size: int,
                  augment: bool = True, flip: bool = True):
    """Batches of (images in [-1, 1], word ids (B, T) int32, groups (B,) int32) of the training
    split, through the kit's GAN stream (`make_gan_dataset`: crops, flips, stateless shuffling)."""
    import tensorflow as tf

    from t2ilib.data.pipeline import make_gan_dataset

    train = prepared.split("train")
    groups = group_codes(prepared, prepared.captions.index)
    columns = np.concatenate([ids, groups[:, None]], axis=1).astype(np.float32)  # ids and group ride as one array
    stream = make_gan_dataset(prepared.cache.array, train["row"].to_numpy(), columns[train.index],
                              min(settings.batch_size, len(train)), image_size, augment=augment, flip=flip,
                              seed=settings.seed, repeat=True)
    return stream.map(lambda real, text, wrong: (real, tf.cast(text[:, :-1], tf.int32), tf.cast(text[:, -1], tf.int32)))


def retrieval_check(damsm: DAMSM, tokenizer, prepared: PreparedData, image_size: int, split: str = "validation",
                    ks=(1, 5), max_captions: int = RETRIEVAL_CAPTIONS) -> dict:
    """Text-to-image retrieval on `split`: each caption ranks the split's distinct images by the
    cosine of its sentence feature and their global image features; a hit at k when an image of
    its group (its own image; on shapes, one with its four attributes) is among the first k.

    Chance at k, per caption with g of the n images in its group: 1 - C(n - g, k) / C(n, k),
    averaged over the captions.
    """
    rows = prepared.split(split).index.to_numpy()[:max_captions]
    image_rows = fixed_sample_rows(prepared.captions, len(prepared.captions), split=split)  # one caption per image
    codes = group_codes(prepared, np.concatenate([rows, image_rows]))
    caption_groups, image_groups = codes[:len(rows)], codes[len(rows):]
    sentences = damsm.encode_texts(tokenizer.encode(prepared.captions.loc[rows, "caption"].tolist()))
    images = damsm.encode_images(real_images(prepared, image_rows, image_size))
    sentences /= np.maximum(np.linalg.norm(sentences, axis=1, keepdims=True), 1e-8)
    images /= np.maximum(np.linalg.norm(images, axis=1, keepdims=True), 1e-8)
    ranking = np.argsort(-(sentences @ images.T), axis=1, kind="stable")  # (captions, images)
    correct = image_groups[ranking] == caption_groups[:, None]
    n = len(image_rows)
    in_group = (image_groups[None, :] == caption_groups[:, None]).sum(axis=1)
    result = {"split": split, "captions": int(len(rows)), "images": int(n)}
    for k in ks:
        k = min(k, n)
        result[f"recall@{k}"] = round(float(correct[:, :k].any(axis=1).mean()), 4)
        result[f"chance@{k}"] = round(float(np.mean([1.0 - math.comb(n - g, k) / math.comb(n, k) for g in in_group])), 4)
    return result


def pretrain_damsm(config, settings: DAMSMSettings, folder, verbose: int = 0) -> DAMSM:
    """Train the pair on the real training split of `config.data` into `folder`: weights,
    vocabulary and `manifest.json` (last, with the retrieval check). Returns the trained pair with
    `tokenizer`, `retrieval` and `meta`."""
    import warnings

    from t2ilib.data.prepare import prepare_data

    started = time.process_time()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    prepared = prepare_data(config.data, progress=verbose > 0)
    train = prepared.split("train")
    tokenizer = make_tokenizer(settings, captions=train["caption"].tolist())
    ids = tokenizer.encode(prepared.captions["caption"].tolist()).astype(np.int32)
    keras.utils.set_random_seed(settings.seed + 53)
    damsm = build_damsm(settings, len(tokenizer.vocabulary) + 2)
    damsm.compile(optimizer=keras.optimizers.Adam(settings.learning_rate, beta_1=settings.beta_1,
                                                  beta_2=settings.beta_2))
    batch_size = min(settings.batch_size, len(train))
    steps = max(1, len(train) // batch_size)
    dataset = damsm_dataset(prepared, ids, settings, config.data.image_size, config.data.augment, config.data.flip)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")  # our tf.data shuffles itself
        history = damsm.fit(dataset, epochs=settings.epochs, steps_per_epoch=steps, verbose=verbose).history
    refuse_non_finite(damsm.variables, f"The DAMSM encoders in {folder}")
    with partial_file(folder / WEIGHTS_NAME) as temporary:  # a second run pretraining at once keeps its own file
        damsm.save_weights(temporary)
    write_text_atomically(folder / VOCABULARY_NAME, json.dumps({"words": tokenizer.vocabulary,
                                                                "lemmatised": tokenizer.lemmatised}) + "\n")
    check = retrieval_check(damsm, tokenizer, prepared, config.data.image_size)
    meta = {"version": DAMSM_VERSION, "settings": dataclasses.asdict(settings), "dataset": str(prepared.root),
            "image_size": config.data.image_size, "fingerprint": dataset_fingerprint(prepared),
            "vocabulary_size": len(tokenizer.vocabulary) + 2, "steps_per_epoch": steps, "batch_size": batch_size,
            "training_captions": int(len(train)), "unknown_words_in_training": int((ids[train.index] == 1).sum()),
            "final_loss": float(history["loss"][-1]), "final_word_loss": float(history["word_loss"][-1]),
            "final_sentence_loss": float(history["sentence_loss"][-1]),
            "loss_by_epoch": [round(float(value), 4) for value in history["loss"]],
            "retrieval": check, "cpu_seconds": round(time.process_time() - started, 1)}
    write_text_atomically(folder / MANIFEST_NAME, json.dumps(meta, indent=2) + "\n")
    logger.info("%s", describe_damsm(meta))
    damsm.tokenizer, damsm.retrieval, damsm.meta, damsm.folder = tokenizer, check, meta, folder
    return damsm


def describe_damsm(meta: dict) -> str:
    """One line: does the DAMSM match captions to images? (its retrieval check from the manifest)"""
    check = meta["retrieval"]
    recalls = ", ".join(f"recall@{key.split('@')[1]} {value:.3f} (chance {check['chance@' + key.split('@')[1]]:.3f})"
                        for key, value in check.items() if key.startswith("recall@"))
    return (f"DAMSM ({meta['settings']['epochs']} epochs, {meta['dataset']}): text-to-image retrieval on "
            f"{check['captions']} {check['split']} captions over {check['images']} images: {recalls}.")


def load_damsm(folder) -> DAMSM:
    """A DAMSM saved by `pretrain_damsm` (its folder), with `tokenizer`, `retrieval` and `meta`."""
    folder = Path(folder)
    manifest, weights, vocabulary = folder / MANIFEST_NAME, folder / WEIGHTS_NAME, folder / VOCABULARY_NAME
    missing = [path.name for path in (manifest, weights, vocabulary) if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} has no {', '.join(missing)}: pretrain_damsm first.")
    meta = json.loads(manifest.read_text())
    settings = DAMSMSettings(**meta["settings"])
    saved = json.loads(vocabulary.read_text())
    tokenizer = make_tokenizer(settings, vocabulary=saved["words"], lemmatised=saved["lemmatised"])
    damsm = build_damsm(settings, len(saved["words"]) + 2)
    damsm.load_weights(weights)
    refuse_non_finite(damsm.variables, f"The DAMSM encoders in {folder}")
    damsm.tokenizer, damsm.retrieval, damsm.meta, damsm.folder = tokenizer, meta["retrieval"], meta, folder
    return damsm


def _stale_reason(folder: Path, fingerprint: dict) -> str | None:
    """Why the DAMSM in `folder` cannot be used (None: it can)."""
    manifest = folder / MANIFEST_NAME
    if not manifest.exists():
        return "no DAMSM trained yet" if not folder.exists() else f"no {MANIFEST_NAME} (training was interrupted)"
    try:
        meta = json.loads(manifest.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return f"damaged cache: {manifest} does not parse ({error})"
    if not isinstance(meta, dict) or meta.get("version") != DAMSM_VERSION:
        return f"damaged cache: {manifest} is not a version-{DAMSM_VERSION} DAMSM manifest"
    if meta.get("fingerprint") != fingerprint:
        changed = [key for key in fingerprint if (meta.get("fingerprint") or {}).get(key) != fingerprint[key]]
        return f"the dataset changed since the DAMSM was trained ({', '.join(changed)} differ)"
    return None


def damsm_for(config, settings: DAMSMSettings = DAMSMSettings(), verbose: int = 0) -> DAMSM:
    """The DAMSM for this dataset, `data.image_size` and `settings`: loaded from its folder when
    its manifest matches the data, pretrained on the real training split otherwise (logged, with
    the reason: new, dataset changed, or damaged cache)."""
    from t2ilib.data.prepare import prepare_data

    folder = damsm_dir(config, settings)
    prepared = prepare_data(config.data, progress=False)
    reason = _stale_reason(folder, dataset_fingerprint(prepared))
    if reason is None:
        try:
            return load_damsm(folder)
        except (OSError, ValueError, KeyError, TypeError) as error:
            reason = f"damaged cache: {folder} cannot be loaded ({type(error).__name__}: {error})"
    (logger.warning if reason.startswith("damaged") or "changed" in reason else logger.info)(
        "Pretraining the DAMSM (%d epochs) into %s: %s.", settings.epochs, folder, reason)
    if folder.exists():
        shutil.rmtree(folder)
    return pretrain_damsm(config, settings, folder, verbose=verbose)


def damsm_r_precision(damsm, images, captions, groups=None, folds: int = 10, seed: int = 0,
                      name: str = "damsm_r_precision"):
    """R-precision of uint8 images (N, H, W, 3), image i drawn for caption string i, scored by a
    pretrained `damsm` (`damsm_for` / `load_damsm`): the cosine of each image's global feature
    (the image encoder resizes to its backbone's input) with the sentence features of its caption
    and 99 mismatched ones, top-1, mean +- std over `folds` (`r_precision_from_codes`,
    docs/reference.md#r-precision). The captions are turned into word ids by the DAMSM's own
    tokenizer, so the images may come from any generator, whatever text encoder it was trained on.
    `groups` (`judge_groups`): captions with the same group are never candidates for each other
    (another caption of the same image is not a mismatched one). A `MetricResult`."""
    from t2ilib.metrics.inception import check_uint8_images
    from t2ilib.metrics.result import MetricResult
    from t2ilib.metrics.rprecision import r_precision_from_codes

    images = check_uint8_images(images)
    captions = list(captions)
    if len(captions) != len(images):
        raise ValueError(f"{len(images)} images for {len(captions)} captions: give one caption per image, in order.")
    scores = r_precision_from_codes(damsm.encode_images(images), damsm.encode_texts(damsm.tokenizer.encode(captions)),
                                    groups, folds=folds, seed=seed)
    meta = getattr(damsm, "meta", None) or {}
    retrieval = getattr(damsm, "retrieval", None) or {}
    return MetricResult(name, scores["mean"], std=scores["std"], n=len(images), image_size=int(images.shape[1]),
                        weights=str(getattr(damsm, "folder", "untrained or unsaved DAMSM")),
                        details={"candidates": scores["candidates"], "chance": 1.0 / scores["candidates"],
                                 "folds": scores["folds"], "hits": scores["hits"],
                                 "encoder_pair": "DAMSM (global image feature, sentence feature)",
                                 "damsm_backbone": (meta.get("settings") or {}).get("backbone_weights"),
                                 "damsm_epochs": (meta.get("settings") or {}).get("epochs"),
                                 "damsm_retrieval_recall@1": retrieval.get("recall@1"),
                                 "damsm_retrieval_chance@1": retrieval.get("chance@1")})
