"""The R-precision judge (t2ilib.models.judge.DualEncoder): trained once per dataset and image
size on the real training split, cached with a manifest, checked on the real validation images.

    dual = dual_encoder_for(config)                 # trains once (seconds to minutes), then loads
    codes = dual.encode_texts(judge_embeddings(config, captions))

Where it lives: `{data.data_dir}/prepared/<dataset folder>/judge/<size>px-e<epochs>-v<version>/`
with `judge.weights.h5`, the judge's own Word2Vec (`encoders/`) and `manifest.json`, written
last. The folder is under the data folder, not `data.cache_dir`: on Colab the cache folder is
the VM's disk, lost at every reset, and a judge trained again in another session is another
judge (GPU training is not bit-exact), so R-precision figures of runs scored days apart, and
the best epoch of a resumed run (`train.best_metric`), would not be comparable.

When it is trained again (logged): no manifest yet; the dataset changed (the manifest's
fingerprint of the captions, their splits and the cached pixels differs from the data now); the
cache is damaged (a manifest that does not parse, a missing or unreadable weights file, NaN/Inf
weights). A judge never depends on the generator's settings: it reads its own Word2Vec
(`JUDGE_TEXT`) and its own fixed seed, so every run on a dataset is judged by the same pair.

Its manifest also says whether it can tell: its R-precision on the real validation images and
their own captions, against the same images with other images' captions and against chance.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from pathlib import Path

import keras
import numpy as np

from t2ilib.acceleration import precision_policy
from t2ilib.data.prepare import real_images
from t2ilib.files import partial_file, write_text_atomically
from t2ilib.models.judge import DualEncoder
from t2ilib.training.checkpoints import refuse_non_finite

logger = logging.getLogger("t2ilib")

JUDGE_VERSION = 2  # bump when training, architecture or caption encoding of the judge changes
JUDGE_SEED = 0  # one judge per dataset, whatever the run's train.seed
JUDGE_EPOCHS = 20
VALIDATION_CAPTIONS = 1000  # at most this many real validation captions in the manifest's check
WEIGHTS_NAME = "judge.weights.h5"
MANIFEST_NAME = "manifest.json"


def dual_encoder_text_config(config=None):
    """The text encoder the judge reads: Word2Vec on the training captions with fixed settings,
    whatever the generator used (so every run on a dataset is judged by the same encoder pair)."""
    from t2ilib.config import TextConfig

    return TextConfig(encoder="word2vec", word2vec_dim=64, word2vec_epochs=30)


def judge_groups(prepared, rows) -> np.ndarray:
    """What makes two captions "the same" for R-precision's mismatched candidates: on the built-in
    shapes dataset its four attributes (two images of a red circle at the top on white are the
    same picture: another one's caption is not a wrong caption; ~5 images share each of the 108
    combinations), elsewhere the image (`docs/reference.md#r-precision`)."""
    if prepared.attributes is not None:
        columns = [column for column in ("shape", "colour", "position", "background") if column in prepared.attributes]
        return prepared.attributes.loc[rows, columns].astype(str).agg("-".join, axis=1).to_numpy()
    return prepared.captions.loc[rows, "image"].to_numpy()


def dataset_fingerprint(prepared) -> dict:
    """Digests of what a judge was trained on: the captions with their images and splits, and the
    cached pixels. A judge whose manifest holds other digests is trained again."""
    captions = prepared.captions
    text = "\n".join(f"{image}\t{split}\t{caption}" for image, split, caption
                     in zip(captions["image"], captions["split"], captions["caption"]))
    pixels = hashlib.sha256(str(prepared.cache.array.shape).encode())
    for start in range(0, len(prepared.cache.array), 512):
        pixels.update(np.ascontiguousarray(prepared.cache.array[start:start + 512]).tobytes())
    return {"captions": hashlib.sha256(text.encode("utf-8")).hexdigest()[:16], "pixels": pixels.hexdigest()[:16],
            "num_captions": int(len(captions)), "num_images": int(len(prepared.cache.array))}


def judge_dir(config, epochs: int = JUDGE_EPOCHS) -> Path:
    """The judge's folder for this dataset and `data.image_size` (see module docstring)."""
    from t2ilib.data.prepare import dataset_root

    root = dataset_root(config.data)
    return (Path(config.data.data_dir) / "prepared" / root.name / "judge"
            / f"{config.data.image_size}px-e{epochs}-v{JUDGE_VERSION}")


def dual_encoder_path(config, epochs: int = JUDGE_EPOCHS) -> Path:
    """The judge's weights file (`judge_dir(...) / judge.weights.h5`)."""
    return judge_dir(config, epochs) / WEIGHTS_NAME


def _judge_text_encoder(prepared, folder: Path):
    from t2ilib.text import make_encoder

    return make_encoder(dual_encoder_text_config(), training_captions=prepared.split("train")["caption"].tolist(),
                        work_dir=folder)


def validation_check(dual, encoder, prepared, image_size: int, max_captions: int = VALIDATION_CAPTIONS) -> dict:
    """The judge on real validation images: their own captions, other images' captions (the
    images in another order, never with a caption of their group) and chance."""
    from t2ilib.data.prepare import fixed_sample_rows
    from t2ilib.metrics.fidelity import mismatched_rows
    from t2ilib.metrics.rprecision import r_precision_from_codes

    rows = fixed_sample_rows(prepared.captions, max_captions, split="validation")
    groups = judge_groups(prepared, rows)
    image_codes = dual.encode_images(real_images(prepared, rows, image_size))
    text_codes = dual.encode_texts(encoder.encode(prepared.captions.loc[rows, "caption"].tolist()))
    real = r_precision_from_codes(image_codes, text_codes, groups)
    position = {row: index for index, row in enumerate(rows)}
    other = np.array([position[row] for row in mismatched_rows(rows, groups, seed=JUDGE_SEED)])
    shuffled = r_precision_from_codes(image_codes[other], text_codes, groups)
    return {"split": "validation", "captions": int(len(rows)), "real": real["mean"], "real_hits": real["hits"],
            "shuffled": shuffled["mean"], "shuffled_hits": shuffled["hits"], "candidates": real["candidates"],
            "chance": 1.0 / real["candidates"]}


def train_dual_encoder(config, path, epochs: int = JUDGE_EPOCHS, batch_size: int = 64, learning_rate: float = 1e-3,
                       verbose: int = 0) -> DualEncoder:
    """Train the encoder pair on the real training split of `config.data` into the folder of
    `path` (the weights file): weights, the judge's Word2Vec and `manifest.json` (last)."""
    from t2ilib.data.pipeline import make_gan_dataset
    from t2ilib.data.prepare import prepare_data

    started = time.process_time()
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    prepared = prepare_data(config.data, progress=verbose > 0)
    encoder = _judge_text_encoder(prepared, folder)
    embeddings = encoder.encode(prepared.captions["caption"].tolist())
    train = prepared.split("train")
    batch_size = min(batch_size, len(train))
    dataset = make_gan_dataset(prepared.cache.array, train["row"].to_numpy(), embeddings[train.index], batch_size,
                               config.data.image_size, augment=True, seed=JUDGE_SEED, repeat=True)
    dataset = dataset.map(lambda real, embedding, wrong: (real, embedding))
    keras.utils.set_random_seed(JUDGE_SEED + 31)
    with precision_policy("off"):  # float32 always: the same judge whatever the run's train.mixed_precision
        dual = DualEncoder(embeddings.shape[1], config.data.image_size).build_for()
    dual.compile(optimizer=keras.optimizers.Adam(learning_rate))
    steps = max(1, len(train) // batch_size)
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")  # our tf.data shuffles itself
        history = dual.fit(dataset, epochs=epochs, steps_per_epoch=steps, verbose=verbose).history
    refuse_non_finite(dual.variables, f"The R-precision encoder pair {path}")
    with partial_file(path) as temporary:  # a second run training the same judge at once keeps its own file
        dual.save_weights(temporary)
    check = validation_check(dual, encoder, prepared, config.data.image_size)
    meta = {**dual.settings(), "version": JUDGE_VERSION, "dataset": str(prepared.root),
            "fingerprint": dataset_fingerprint(prepared), "epochs": epochs, "steps_per_epoch": steps,
            "batch_size": batch_size, "seed": JUDGE_SEED, "training_captions": len(train),
            "text_encoder": vars(dual_encoder_text_config()), "final_loss": float(history["loss"][-1]),
            "final_match_accuracy": float(history["match_accuracy"][-1]), "validation": check,
            "cpu_seconds": round(time.process_time() - started, 1)}
    write_text_atomically(folder / MANIFEST_NAME, json.dumps(meta, indent=2) + "\n")
    logger.info("%s", describe_judge(meta))
    return dual


def describe_judge(meta: dict) -> str:
    """One line: can the judge tell? (its validation check from the manifest)"""
    check = meta["validation"]
    return (f"R-precision judge ({meta['image_size']} px, {meta['dataset']}): real validation images with their own "
            f"captions {check['real']:.3f}, with other images' captions {check['shuffled']:.3f}, chance "
            f"{check['chance']:.3f} ({check['captions']} captions, {check['candidates']} candidates each).")


def load_dual_encoder(path) -> DualEncoder:
    """A `DualEncoder` saved by `train_dual_encoder` (the path of its weights file), with
    `meta` (its manifest), `weights_path` and `text_encoder` (its own Word2Vec)."""
    from t2ilib.text import Word2VecEncoder

    path = Path(path)
    manifest = path.parent / MANIFEST_NAME
    if not path.exists() or not manifest.exists():
        raise FileNotFoundError(f"No trained encoder pair at {path} (and {manifest.name}): train_dual_encoder first.")
    meta = json.loads(manifest.read_text())
    with precision_policy("off"):
        dual = DualEncoder(**{key: meta[key] for key in ("text_dim", "image_size", "code_dim", "width", "temperature")})
        dual.build_for()
    dual.load_weights(path)
    refuse_non_finite(dual.variables, f"The R-precision encoder pair {path}")
    vectors = sorted((path.parent / "encoders").glob("word2vec-*.kv"))
    if len(vectors) != 1:
        raise FileNotFoundError(f"{path.parent / 'encoders'} holds {len(vectors)} Word2Vec files; expected the judge's one.")
    text = meta["text_encoder"]
    dual.text_encoder = Word2VecEncoder.load(vectors[0], dim=text["word2vec_dim"], epochs=text["word2vec_epochs"])
    dual.meta, dual.weights_path = meta, str(path)
    return dual


def _stale_reason(path: Path, epochs: int, fingerprint: dict) -> str | None:
    """Why the judge at `path` cannot be used (None: it can)."""
    manifest = path.parent / MANIFEST_NAME
    if not manifest.exists():
        return "no judge trained yet" if not path.parent.exists() else f"no {MANIFEST_NAME} (training was interrupted)"
    try:
        meta = json.loads(manifest.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return f"damaged cache: {manifest} does not parse ({error})"
    if not isinstance(meta, dict) or meta.get("version") != JUDGE_VERSION or meta.get("epochs") != epochs:
        return f"damaged cache: {manifest} is not a version-{JUDGE_VERSION} judge manifest"
    if meta.get("fingerprint") != fingerprint:
        changed = [key for key in fingerprint if (meta.get("fingerprint") or {}).get(key) != fingerprint[key]]
        return f"the dataset changed since the judge was trained ({', '.join(changed)} differ)"
    return None


def dual_encoder_for(config, epochs: int = JUDGE_EPOCHS, verbose: int = 0) -> DualEncoder:
    """The R-precision judge for this dataset and `data.image_size`: loaded from its folder when
    its manifest matches the data, trained on the real training split otherwise (logged, with
    the reason: new, dataset changed, or damaged cache)."""
    from t2ilib.data.prepare import prepare_data

    path = dual_encoder_path(config, epochs)
    prepared = prepare_data(config.data, progress=False)
    reason = _stale_reason(path, epochs, dataset_fingerprint(prepared))
    if reason is None:
        try:
            return load_dual_encoder(path)
        except (OSError, ValueError, KeyError, TypeError, FileNotFoundError) as error:
            reason = f"damaged cache: {path.parent} cannot be loaded ({type(error).__name__}: {error})"
    (logger.warning if reason.startswith("damaged") or "changed" in reason else logger.info)(
        "Training the R-precision judge (%d epochs) into %s: %s.", epochs, path.parent, reason)
    if path.parent.exists():
        shutil.rmtree(path.parent)
    train_dual_encoder(config, path, epochs=epochs, verbose=verbose)
    return load_dual_encoder(path)


def judge_embeddings(config, captions: list[str], dual: DualEncoder | None = None) -> np.ndarray:
    """Caption embeddings for the judge's text tower (its own Word2Vec)."""
    dual = dual_encoder_for(config) if dual is None else dual
    return dual.text_encoder.encode(list(captions))
