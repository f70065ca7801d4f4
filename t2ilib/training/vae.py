"""Train the GloVe text-to-image VAEs (the report's models 1-3 and the improved conditional VAE)
into run directories, and compare them honestly: same captions, same seeds, one figure, one table.

A run directory holds:
    vae_config.json   the VAEConfig (a resume with other settings is refused)
    checkpoints/      RunCheckpoint files (model, optimizer, epoch)
    history.csv       loss / reconstruction / kl per epoch (appended across resumes)
    metrics.json      held-out numbers (see `evaluate_vae`), written at the end of training

Data, for every model the same (docs/reference.md#glove-vae):
    captions -> GloVe-format word vectors, summed (`GloveEncoder`)          (B, 50)
    image    -> `letterbox` (256x256 black square, resized to 64x64, / 255) (B, 64, 64, 3)
one target per image; training pairs are the training split's (caption, its image).

No GloVe file? On the built-in shapes dataset `glove_path=None` writes a small GloVe-format file
of Word2Vec vectors trained on the shapes *training* captions (the real glove.6B.50d.txt has
never seen these captions' world either; it is a stand-in so that everything runs offline).

Use::

    metrics = train_vae("improved", "runs/vae_improved", VAEConfig(epochs=30))
    table = compare_vaes({"report 2": "runs/vae_report2", "improved": "runs/vae_improved"}, "runs/vae_compare")
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from t2ilib.config import ConfigError, VAEConfig, check_batch_fits, resume_changes
from t2ilib.data.cache import to_rgb
from t2ilib.data.flickr8k import find_dataset_files
from t2ilib.data.prepare import PreparedData, prepare_data
from t2ilib.files import write_text_atomically
from t2ilib.metrics.reconstruction import is_collapsed, mean_image_baseline, output_spread, reconstruction_report
from t2ilib.models.blocks import kl_divergence
from t2ilib.models.cvae import ConditionalVAE, improved_model
from t2ilib.models.vae import letterbox, report_model
from t2ilib.text.cache import embed_captions
from t2ilib.text.encoders import TextEncoder, Word2VecEncoder
from t2ilib.text.glove import GloveEncoder
from t2ilib.training.callbacks import HistoryCSV, SaveCheckpoint, TensorBoardLog
from t2ilib.training.checkpoints import RunCheckpoint, RunFolder

logger = logging.getLogger("t2ilib")

MODEL_NAMES = ("report1", "report2", "report3", "improved")
TABLE_COLUMNS = ["model", "parameters", "mse", "psnr", "ssim", "kl", "output_spread", "collapsed",
                 "fidelity", "fidelity_mismatched"]


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------
@dataclass
class VAEData:
    prepared: PreparedData
    encoder: TextEncoder
    embeddings: np.ndarray  # (num_captions, 50): one per row of prepared.captions
    targets: np.ndarray  # (num_images, 64, 64, 3) float32 in [0, 1]: one per image
    target_rows: np.ndarray  # (num_captions,): each caption's row in `targets`

    def pairs(self, split: str, limit: int | None = None):
        """(caption rows, embeddings, target images) of a split."""
        rows = self.prepared.split(split).index.to_numpy()[:limit]
        return rows, self.embeddings[rows], self.targets[self.target_rows[rows]]


def shapes_glove_file(prepared: PreparedData, dim: int = 50, seed: int = 0) -> Path:
    """A GloVe-format text file of Word2Vec vectors trained on the training captions (offline stand-in)."""
    training_captions = prepared.split("train")["caption"].tolist()
    path = prepared.work_dir / "encoders" / f"word2vec-as-glove-{dim}d-s{seed}.txt"
    if not path.exists():
        vectors = Word2VecEncoder(dim=dim, seed=seed).fit(training_captions).vectors
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        with open(temporary, "w", encoding="utf-8") as file:
            for word in vectors.index_to_key:
                file.write(word + " " + " ".join(f"{value:.6f}" for value in vectors[word]) + "\n")
        temporary.replace(path)
    return path


def letterboxed_targets(prepared: PreparedData, size: int = 64) -> tuple[np.ndarray, list[str]]:
    """One letterboxed target per image (cached as letterbox_{size}.npy next to the image cache)."""
    names = sorted(prepared.captions["image"].unique())
    path = prepared.work_dir / f"letterbox_{size}.npy"
    names_path = path.with_suffix(".json")
    if path.exists() and names_path.exists() and json.loads(names_path.read_text()) == names:
        return np.load(path), names
    from PIL import Image

    images_dir = find_dataset_files(prepared.root).images_dir
    targets = np.empty((len(names), size, size, 3), dtype=np.float32)
    for row, name in enumerate(names):
        with Image.open(images_dir / name) as image:
            targets[row] = letterbox(np.asarray(to_rgb(image)), size=size)
    np.save(path, targets)
    names_path.write_text(json.dumps(names))
    return targets, names


def prepare_vae_data(config: VAEConfig, encoder: TextEncoder | None = None, progress: bool = False) -> VAEData:
    """Splits, letterboxed targets and caption embeddings (cached) for `config`."""
    prepared = prepare_data(config.data_config(), progress=progress)
    if encoder is None:
        if config.glove_path:
            glove_path = config.glove_path
        elif config.dataset == "shapes":
            glove_path = shapes_glove_file(prepared, seed=config.seed)
        else:
            raise ValueError("Set glove_path to glove.6B.50d.txt (see t2ilib.text.glove) or pass an encoder; "
                             "only the built-in shapes dataset has an offline stand-in.")
        encoder = GloveEncoder(glove_path, pooling=config.pooling)
    embeddings = embed_captions(encoder, prepared.captions["caption"].tolist(), prepared.work_dir / "embeddings")
    targets, names = letterboxed_targets(prepared)
    index = {name: row for row, name in enumerate(names)}
    target_rows = np.array([index[name] for name in prepared.captions["image"]], dtype=np.int64)
    return VAEData(prepared, encoder, embeddings, targets, target_rows)


# ---------------------------------------------------------------------------------------
# Models and runs
# ---------------------------------------------------------------------------------------
def build_vae(model_name: str, config: VAEConfig, embedding_dim: int):
    """(compiled model, optimizer) for "report1" | "report2" | "report3" | "improved", optimizer built."""
    if model_name not in MODEL_NAMES:
        raise ValueError(f"Unknown VAE {model_name!r}; choose one of {', '.join(MODEL_NAMES)}.")
    if model_name == "improved":
        settings = {"latent_dim": config.latent_dim}
        if config.kl_weight is not None:
            settings["kl_weight"] = config.kl_weight
        model, optimizer = improved_model(embedding_dim, learning_rate=config.learning_rate or 1e-3,
                                          seed=config.seed, **settings)
    else:
        model, optimizer = report_model(int(model_name[-1]), embedding_dim=embedding_dim, seed=config.seed)
        if config.learning_rate is not None:
            optimizer.learning_rate = config.learning_rate
        if config.kl_weight is not None:
            model.kl_weight = config.kl_weight
    optimizer.build(model.trainable_variables)  # its slots must exist before a checkpoint can hold them
    return model, optimizer


def _check_run_config(run_dir: Path, model_name: str, config: VAEConfig, write: bool = True) -> dict:
    """Refuse to resume a run written with other settings; with `write`, save vae_config.json.
    Returns what the file holds for this run (train_vae writes it with the first checkpoint)."""
    path = run_dir / "vae_config.json"
    current = {"model": model_name, **asdict(config)}
    if path.exists():
        saved = json.loads(path.read_text())
        for key in ("data_dir", "dataset", "glove_path"):  # relative paths of older runs, as they were read
            if saved.get(key) and not (key == "dataset" and saved[key] in ("shapes", "flickr8k")):
                saved[key] = str(Path(saved[key]).resolve())
        resume_changes("vae", path, {"vae": saved}, {"vae": current}, allow_change=None)  # t2ilib.config.RUN_TYPES
    if write:
        _write_vae_config(path, current)
    return current


def _write_vae_config(path: Path, values: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path, json.dumps(values, indent=2) + "\n")


def train_vae(model_name: str, run_dir, config: VAEConfig | None = None, encoder: TextEncoder | None = None,
              verbose: int = 1) -> dict:
    """Prepare data, train (or resume) one VAE with `fit`, evaluate it on held-out pairs.

    `model_name`: "report1" | "report2" | "report3" | "improved". Re-running the same call
    resumes from run_dir/checkpoints (same epoch counter and optimizer state); raise
    `config.epochs` to train longer. Returns the metrics also written to run_dir/metrics.json.
    Settings are checked before anything is written; a start that fails leaves run_dir as it was.
    """
    if model_name not in MODEL_NAMES:
        raise ValueError(f"Unknown VAE {model_name!r}; choose one of {', '.join(MODEL_NAMES)}.")
    config = (config or VAEConfig()).validate().resolved()
    run_dir = Path(run_dir)
    folder = RunFolder(run_dir)  # refuses a file or a read-only folder
    saved = _check_run_config(run_dir, model_name, config, write=False)
    keras.utils.set_random_seed(config.seed)
    data = prepare_vae_data(config, encoder, progress=verbose > 0)
    rows, embeddings, targets = data.pairs("train")
    check_batch_fits("vae.batch_size", config.batch_size, len(rows), f"training pairs of {data.prepared.root}")
    with folder.undo_on_failure():  # a start that fails leaves the run folder as it was
        model, optimizer = build_vae(model_name, config, data.embeddings.shape[1])
        if isinstance(model, ConditionalVAE):
            model.adapt_text(embeddings)
        config_path = run_dir / "vae_config.json"
        checkpoint = folder.run_checkpoint({"model": model, "optimizer": optimizer}, max_to_keep=config.max_to_keep,
                                           write_config=lambda: _write_vae_config(config_path, saved))
        initial_epoch = checkpoint.restore_or_initialize()
        if initial_epoch:  # restored: record the settings it continues with, drop unsaved epochs
            _write_vae_config(config_path, saved)
            folder.trim_history(initial_epoch)
        if verbose and initial_epoch:
            print(f"Resuming {run_dir} at epoch {initial_epoch} (optimizer step {int(optimizer.iterations.numpy())}).")
        if initial_epoch < config.epochs:
            saver = SaveCheckpoint(checkpoint)  # also stops on NaN/Inf
            callbacks = [HistoryCSV(run_dir / "history.csv"), saver, keras.callbacks.TerminateOnNaN(),
                         TensorBoardLog(run_dir, int(optimizer.iterations.numpy()))]  # run_dir/logs, optimizer steps
            model.fit(embeddings, targets, batch_size=config.batch_size, epochs=config.epochs,
                      initial_epoch=initial_epoch, shuffle=True, callbacks=callbacks, verbose=verbose)
            saver.raise_if_diverged()  # TrainingDiverged: names the epoch/step and the checkpoint kept
    metrics = {"model": model_name, "parameters": model.count_trainable_parameters(),
               **evaluate_vae(model, data, limit=config.eval_samples, seed=config.seed)}
    metrics["epochs_trained"] = int(checkpoint.epoch.numpy())
    metrics["optimizer_steps"] = int(optimizer.iterations.numpy())
    metrics["training_pairs"] = int(len(rows))
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def load_vae(run_dir, encoder: TextEncoder | None = None):
    """(model at its latest checkpoint, VAEData, model name) of a trained run directory."""
    run_dir = Path(run_dir)
    if not (run_dir / "vae_config.json").is_file():
        raise FileNotFoundError(f"{run_dir} is not a VAE run directory (no vae_config.json): train into it first "
                                "(train_vae, `t2ilib vae-train`).")
    path = run_dir / "vae_config.json"
    saved = json.loads(path.read_text())
    try:
        config = VAEConfig.from_dict({key: value for key, value in saved.items() if key != "model"})
    except ValueError as error:
        raise ConfigError(f"{path}: not a valid VAE run config ({error}). Correct the file, or train into a new run "
                          "directory.") from error
    data = prepare_vae_data(config, encoder)
    model, optimizer = build_vae(saved["model"], config, data.embeddings.shape[1])
    checkpoint = RunCheckpoint(run_dir / "checkpoints", {"model": model, "optimizer": optimizer})
    if checkpoint.restore_or_initialize() == 0:
        raise FileNotFoundError(f"No checkpoint in {run_dir / 'checkpoints'}: train first (train_vae).")
    return model, data, saved["model"]


# ---------------------------------------------------------------------------------------
# Honest numbers
# ---------------------------------------------------------------------------------------
def prior_noise(model, count: int, seed: int = 0) -> np.ndarray | None:
    """The fixed prior samples the improved model decodes (None for the report's models)."""
    if not isinstance(model, ConditionalVAE):
        return None
    return np.random.default_rng(seed + 4242).standard_normal((count, model.latent_dim)).astype(np.float32)


def generate_images(model, embeddings: np.ndarray, seed: int = 0, batch_size: int = 64) -> np.ndarray:
    """Images (N, 64, 64, 3) in [0, 1] from captions alone: what each model does at test time.

    The report's models decode z_mean (one image per caption); the improved model decodes the
    caption with a prior sample fixed by `seed` (same seed -> same images)."""
    noise = prior_noise(model, len(embeddings), seed)
    outputs = []
    for start in range(0, len(embeddings), batch_size):
        batch = embeddings[start:start + batch_size]
        if noise is None:
            images = model(batch, training=False)
        else:
            images = model.generate(batch, noise[start:start + batch_size])
        outputs.append(keras.ops.convert_to_numpy(images))
    return np.concatenate(outputs).astype(np.float32)


def held_out_kl(model, embeddings: np.ndarray, images: np.ndarray) -> float:
    """The KL term on held-out pairs: of q(z | caption) (report) or q(z | image, caption) (improved)."""
    if isinstance(model, ConditionalVAE):
        z_mean, z_log_var = model.encode(images, embeddings)
    else:
        z_mean, z_log_var = model.encode(embeddings)
    return float(kl_divergence(z_mean, z_log_var))


def _fidelity(images: np.ndarray, data: VAEData, rows: np.ndarray, seed: int) -> dict:
    if data.prepared.attributes is None:
        return {"fidelity": None, "fidelity_mismatched": None, "follows_captions": None}
    from t2ilib.metrics.fidelity import follows_captions, mismatched_rows, shapes_fidelity

    as_uint8 = np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)
    truth = data.prepared.attributes.loc[rows].reset_index(drop=True)
    # The same images scored against the attributes of another image's caption: what ignoring the
    # caption gets (never the caption itself, nor another caption of the same image).
    partners = mismatched_rows(rows, data.prepared.captions.loc[rows, "image"].to_numpy(), seed)
    mismatched = data.prepared.attributes.loc[partners].reset_index(drop=True)
    return {"fidelity": shapes_fidelity(as_uint8, truth)["mean"],
            "fidelity_mismatched": shapes_fidelity(as_uint8, mismatched)["mean"],
            "follows_captions": follows_captions(as_uint8, truth, mismatched)}  # is the margin significant?


def score_images(images: np.ndarray, data: VAEData, rows: np.ndarray, seed: int = 0) -> dict:
    """MSE / PSNR / SSIM against the true images, spread across captions, collapse flag, fidelity."""
    targets = data.targets[data.target_rows[rows]]
    return {**reconstruction_report(images, targets), "output_spread": output_spread(images),
            "collapsed": bool(is_collapsed(images)), **_fidelity(images, data, rows, seed)}


def evaluate_vae(model, data: VAEData, limit: int = 200, seed: int = 0) -> dict:
    """Held-out numbers for one model (test-split pairs; no "accuracy": it means nothing here).

    With the report's split rule the test captions are new but their images were seen in
    training with other captions; `split_rule="official"` holds out whole images."""
    rows, embeddings, targets = data.pairs("test", limit)
    images = generate_images(model, embeddings, seed)
    return {**score_images(images, data, rows, seed), "kl": held_out_kl(model, embeddings, targets),
            "held_out_pairs": int(len(rows))}


def compare_vaes(run_dirs: dict, output_dir, num_captions: int = 6, seed: int = 0, limit: int = 200,
                 encoder: TextEncoder | None = None) -> pd.DataFrame:
    """One table and one figure for several trained runs: {label: run_dir}.

    Every model gets the same held-out captions and the same seed. The table (also
    output_dir/comparison.csv) has one row per model plus "mean training image", the constant
    answer a collapsed model converges to; columns `TABLE_COLUMNS`. The figure
    (output_dir/comparison.png) has one row per caption: the true image, then each model.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    rows_out, columns, data = [], {}, None
    for label, run_dir in run_dirs.items():
        model, run_data, _ = load_vae(run_dir, encoder)
        if data is not None and (run_data.prepared.root != data.prepared.root
                                 or run_data.embeddings.shape != data.embeddings.shape):
            raise ValueError(f"{run_dir} was trained on other data ({run_data.prepared.root}) than the first run "
                             f"({data.prepared.root}): compare runs of one dataset and one word-vector file.")
        data = run_data
        rows, embeddings, targets = data.pairs("test", limit)
        images = generate_images(model, embeddings, seed)
        rows_out.append({"model": label, "parameters": model.count_trainable_parameters(),
                         **score_images(images, data, rows, seed), "kl": held_out_kl(model, embeddings, targets)})
        columns[label] = images
    if data is None:
        raise ValueError("compare_vaes needs at least one run directory.")
    _, _, train_targets = data.pairs("train")
    mean_image = mean_image_baseline(train_targets)[:1].repeat(len(rows), axis=0)
    rows_out.append({"model": "mean training image", "parameters": 0,
                     **score_images(mean_image, data, rows, seed), "kl": float("nan")})
    table = pd.DataFrame(rows_out, columns=TABLE_COLUMNS)
    table.to_csv(output_dir / "comparison.csv", index=False)

    shown = data.prepared.captions.loc[rows].drop_duplicates("image").index.to_numpy()[:num_captions]
    positions = [int(np.flatnonzero(rows == row)[0]) for row in shown]
    _comparison_figure(data.prepared.captions.loc[shown, "caption"].tolist(), targets[positions],
                       {label: images[positions] for label, images in columns.items()},
                       output_dir / "comparison.png")
    return table


def _comparison_figure(captions: list[str], truth: np.ndarray, columns: dict, path: Path) -> Path:
    from t2ilib.viz import _pyplot, caption_label

    plt = _pyplot()
    names = ["true image", *columns]
    figure, axes = plt.subplots(len(captions), len(names) + 1, squeeze=False,
                                figsize=(1.4 * len(names) + 2.8, 1.45 * len(captions) + 0.4),
                                gridspec_kw={"width_ratios": [2.2] + [1] * len(names)})
    for r, caption in enumerate(captions):
        axes[r, 0].axis("off")
        axes[r, 0].text(1.0, 0.5, caption_label(caption, 30), ha="right", va="center", fontsize=7,
                        transform=axes[r, 0].transAxes)
        for c, name in enumerate(names):
            image = truth[r] if name == "true image" else columns[name][r]
            axes[r, c + 1].imshow(np.clip(image, 0, 1), interpolation="nearest")
            axes[r, c + 1].axis("off")
            if r == 0:
                axes[r, c + 1].set_title(name, fontsize=8)
    figure.tight_layout(pad=0.3)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
