"""Training, saving and loading the R-precision judge (t2ilib.models.judge.DualEncoder), once
per dataset and image size, on the real training split; its caption embeddings.

    dual = dual_encoder_for(config)                 # trains once (seconds to minutes), then loads
    codes = dual.encode_texts(judge_embeddings(config, captions))
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras
import numpy as np

from t2ilib.models.judge import DualEncoder
from t2ilib.training.checkpoints import refuse_non_finite

logger = logging.getLogger("t2ilib")


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
