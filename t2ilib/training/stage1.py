"""Train StackGAN Stage-I into a run directory, resume it, sample from it, measure it.

A run directory holds:
    config.json            the RunConfig (a resume with a different config is refused)
    checkpoints/           RunCheckpoint files (both networks, both optimizers, epoch)
    samples/epoch_XXXX.png fixed captions x fixed noise, after every epoch
    history.csv            one row of losses per epoch (appended across resumes)
    loss_curves.png        drawn from history.csv
    metrics.json           written at the end of training (shapes fidelity on the test captions)

The run directory can live on Google Drive: re-running the same call after a runtime reset
continues from the last checkpoint (same epoch counter, optimizer state and learning-rate
schedule, which reads the optimizer's step counter).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras
import numpy as np

from t2ilib.acceleration import make_strategy
from t2ilib.config import RunConfig
from t2ilib.data.pipeline import make_gan_dataset
from t2ilib.data.prepare import PreparedData, fixed_sample_rows, prepare_data
from t2ilib.features.xception import FEATURE_ENCODER, feature_conditions
from t2ilib.models.dfgan import build_dfgan
from t2ilib.models.stackgan import build_stage1
from t2ilib.text import embed_captions, make_encoder
from t2ilib.training.callbacks import HistoryCSV, LossCurves, SampleGrid, SaveCheckpoint, ShapesFidelity, generate_grid
from t2ilib.training.checkpoints import RunCheckpoint
from t2ilib.training.resume import fit_resumable, restore_start_step
from t2ilib.training.guards import guard_callbacks

logger = logging.getLogger("t2ilib")

# Settings that may change between a run and its resume without changing what is trained.
RESUMABLE_CHANGES = {("train", "epochs"), ("train", "checkpoint_every_epochs"), ("train", "max_to_keep"),
                     ("train", "fidelity_samples"), ("data", "data_dir"), ("train", "checkpoint_every_steps"),
                     ("train", "jit_compile"), ("train", "collapse_guard"), ("train", "stop_on_collapse"),
                     ("train", "best_metric")}


def allow_gpu_memory_growth() -> None:
    """Let TensorFlow take GPU memory as it needs it instead of all of it at start-up, so that a
    torch text encoder (BERT) can share the GPU in the same Colab process. No effect on a CPU,
    and none once TensorFlow has already initialised the GPU."""
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # the GPU is already initialised: too late, and harmless
            pass


def embed_all_captions(config: RunConfig, prepared: PreparedData):
    """The configured encoder (Word2Vec is trained on the training captions only) and one
    embedding per row of `prepared.captions`, cached under the prepared data folder."""
    if config.text.encoder == FEATURE_ENCODER:  # image features as the condition, one per caption row
        return feature_conditions(config.text, prepared)
    training_captions = prepared.split("train")["caption"].tolist()
    encoder = make_encoder(config.text, training_captions=training_captions, work_dir=prepared.work_dir)
    embeddings = embed_captions(encoder, prepared.captions["caption"].tolist(), prepared.work_dir / "embeddings")
    return encoder, embeddings


def check_run_config(run_dir: Path, config: RunConfig, allow_config_change: bool = False) -> None:
    """Write config.json for a new run; refuse to resume a run that was started differently."""
    path = run_dir / "config.json"
    if not path.exists():
        run_dir.mkdir(parents=True, exist_ok=True)
        config.save(path)
        return
    saved = RunConfig.load(path).to_dict()
    current = config.to_dict()
    differences = [(section, key, saved[section][key], current[section][key])
                   for section in ("data", "text", "model", "train")
                   for key in current[section]
                   if saved[section].get(key) != current[section][key] and (section, key) not in RESUMABLE_CHANGES]
    if differences and not allow_config_change:
        listed = "; ".join(f"{s}.{k}: saved {a!r}, now {b!r}" for s, k, a, b in differences[:5])
        raise ValueError(
            f"{path} was written by a run with other settings ({listed}). Resuming would mix two "
            "experiments: choose a new run directory, or pass allow_config_change=True (CLI: "
            "--allow-config-change) if you mean it.")
    config.save(path)


GAN_BUILDERS = {"stackgan": build_stage1, "dfgan": build_dfgan}  # by `model.family`


def build_gan(config: RunConfig, embedding_dim: int, steps_per_epoch: int, strategy=None):
    """The compiled GAN of `config.model.family` (StackGAN Stage-I or DF-GAN), every weight and
    optimizer slot created. Both have `generator`, `discriminator`, `d_optimizer`, `g_optimizer`
    and `sampler` (the generator to draw from), so everything below treats them alike."""
    family = config.model.family
    if family not in GAN_BUILDERS:
        raise ValueError(f"Unknown model.family {family!r}; choose one of {', '.join(GAN_BUILDERS)} "
                         "(e.g. --set model.family=dfgan).")
    return GAN_BUILDERS[family](config, embedding_dim, steps_per_epoch, strategy=strategy)


def sample_noise(config: RunConfig) -> np.ndarray:
    """The run's fixed noise vectors for sample grids (same seed -> same noise, run after run)."""
    rng = np.random.default_rng(config.train.seed + 12345)
    return rng.standard_normal((config.train.num_sample_noise, config.model.noise_dim)).astype(np.float32)


def train_stage1(config: RunConfig, run_dir, verbose: int = 1, allow_config_change: bool = False,
                 extra_callbacks=()) -> dict:
    """Prepare data, embed captions, train (or resume) Stage-I with `fit`, and evaluate.

    Returns the metrics dictionary that is also written to `run_dir/metrics.json`.
    """
    run_dir = Path(run_dir)
    allow_gpu_memory_growth()
    check_run_config(run_dir, config, allow_config_change)
    keras.utils.set_random_seed(config.train.seed)
    prepared = prepare_data(config.data, progress=verbose > 0)
    _, embeddings = embed_all_captions(config, prepared)

    train = prepared.split("train")
    steps_per_epoch = config.train.steps_per_epoch or len(train) // config.train.batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"{len(train)} training captions cannot fill one batch of {config.train.batch_size}.")

    def dataset_from(step: int):
        return make_gan_dataset(prepared.cache.array, train["row"].to_numpy(), embeddings[train.index],
                                batch_size=config.train.batch_size, image_size=config.data.image_size,
                                augment=config.data.augment, flip=config.data.flip, seed=config.train.seed,
                                repeat=True, start_step=step,
                                noise_dims=(config.model.noise_dim, config.model.condition_dim))

    gan = build_gan(config, embeddings.shape[1], steps_per_epoch, strategy=make_strategy(config.train.strategy))
    checkpoint = RunCheckpoint(run_dir / "checkpoints",
                               {"model": gan, "g_optimizer": gan.g_optimizer, "d_optimizer": gan.d_optimizer},
                               max_to_keep=config.train.max_to_keep)
    start_step = restore_start_step(checkpoint, steps_per_epoch, verbose)

    sample_rows = fixed_sample_rows(prepared.captions, config.train.num_sample_captions)
    callbacks = [
        SampleGrid(gan.sampler, prepared.captions.loc[sample_rows, "caption"].tolist(), embeddings[sample_rows],
                   sample_noise(config), run_dir / "samples"),
    ]
    if prepared.attributes is not None:
        rows, noise = evaluation_rows_and_noise(config, prepared)
        callbacks.append(ShapesFidelity(gan.sampler, embeddings[rows], prepared.attributes.loc[rows], noise))
    callbacks += guard_callbacks(config, gan, run_dir, embeddings[sample_rows], sample_noise(config))
    saver = SaveCheckpoint(checkpoint, config.train.checkpoint_every_epochs, config.train.checkpoint_every_steps,
                           initial_step=start_step)  # also stops the run on NaN/Inf
    callbacks += [
        HistoryCSV(run_dir / "history.csv"),
        LossCurves(run_dir / "history.csv", run_dir / "loss_curves.png"),
        saver,
        keras.callbacks.TerminateOnNaN(),
        *extra_callbacks,
    ]
    fit_resumable(gan, dataset_from, start_step, config.train.epochs, steps_per_epoch, callbacks, verbose)
    saver.raise_if_diverged()  # TrainingDiverged: names the epoch/step and the checkpoint kept
    if checkpoint.latest is None:  # a 0-epoch run keeps its initial weights (sweeps compare "epoch 0")
        checkpoint.save(0, step=start_step)
    metrics = evaluate_stage1(gan.sampler, config, prepared, embeddings)
    metrics.update(fidelity_history(run_dir))
    metrics["epochs_trained"] = int(checkpoint.epoch.numpy())
    metrics["optimizer_steps"] = int(gan.g_optimizer.iterations.numpy())
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def fidelity_history(run_dir) -> dict:
    """{"fidelity_by_epoch": [...]} from the run's history.csv, or {} when it has no fidelity column."""
    history_path = Path(run_dir) / "history.csv"
    if not history_path.exists():
        return {}
    import pandas as pd

    history = pd.read_csv(history_path)
    if "fidelity" not in history:
        return {}
    return {"fidelity_by_epoch": [round(float(value), 4) for value in history["fidelity"]]}


def evaluate_stage1(generator, config: RunConfig, prepared: PreparedData, embeddings: np.ndarray) -> dict:
    """Shapes fidelity of images generated from test captions, against a mismatched baseline.

    The baseline scores the *same* images against the attributes of other captions: what a
    generator that ignores its caption would get. Real data has no ground truth attributes, so
    on Flickr8k this reports only what it can (see the evaluation notebook for FID/IS).
    """
    metrics = {"dataset": str(prepared.root), "image_size": config.data.image_size}
    if prepared.attributes is None:
        metrics["fidelity"] = None
        return metrics
    from t2ilib.metrics.fidelity import chance_fidelity, shapes_fidelity
    from t2ilib.viz import to_uint8

    rows, noise = evaluation_rows_and_noise(config, prepared)
    images = []
    for start in range(0, len(rows), 64):
        batch, _, _ = generator(embeddings[rows[start:start + 64]], noise[start:start + 64], training=False)
        images.append(to_uint8(keras.ops.convert_to_numpy(batch)))
    images = np.concatenate(images)
    truth = prepared.attributes.loc[rows].reset_index(drop=True)
    mismatched = mismatched_attributes(prepared, rows, config.train.seed)
    metrics["fidelity"] = shapes_fidelity(images, truth)
    metrics["fidelity_mismatched_captions"] = shapes_fidelity(images, mismatched)
    metrics["fidelity_chance"] = chance_fidelity()
    metrics["fidelity_samples"] = int(len(rows))
    return metrics


def evaluation_rows_and_noise(config: RunConfig, prepared: PreparedData):
    """The fixed test captions (rows of prepared.captions) and noise used to measure a run:
    `config.train.fidelity_samples` pairs. When the test split has fewer captions than that
    (the quickstart's 60), its captions are taken again in the same order, each time with new
    noise, so the score always rests on `fidelity_samples` images (its standard error shrinks
    as 1/sqrt(samples)), and a Stage-I and a Stage-II score are on the same pairs."""
    test = prepared.split("test") if (prepared.captions["split"] == "test").any() else prepared.captions
    rows = np.resize(test.index.to_numpy(), config.train.fidelity_samples)  # cycles through short splits
    rng = np.random.default_rng(config.train.seed + 777)
    return rows, rng.standard_normal((len(rows), config.model.noise_dim)).astype(np.float32)


def mismatched_attributes(prepared: PreparedData, rows: np.ndarray, seed: int):
    """The attributes of another test caption for each of `rows` (the baseline "same images,
    wrong captions"): the distinct captions are shuffled in a cycle, so no caption is paired
    with itself, also when `rows` repeats captions (`evaluation_rows_and_noise`)."""
    distinct = np.unique(rows)
    order = np.random.default_rng(seed + 778).permutation(len(distinct))
    partner = dict(zip(distinct[order], distinct[np.roll(order, 1)]))
    return prepared.attributes.loc[[partner[row] for row in rows]].reset_index(drop=True)


def summarize(metrics: dict) -> str:
    """A few lines that say whether the model learned to follow its captions."""
    fidelity = metrics.get("fidelity")
    lines = [f"Trained {metrics.get('epochs_trained')} epochs ({metrics.get('optimizer_steps')} steps)."]
    if not fidelity:
        lines.append("No attribute ground truth for this dataset: judge the sample grids, and use the evaluation "
                     "notebook (FID / IS) for numbers.")
        return "\n".join(lines)
    baseline = metrics["fidelity_mismatched_captions"]
    per_attribute = ", ".join(f"{name} {fidelity[name]:.2f}" for name in ("shape", "colour", "position", "background"))
    margin = fidelity["mean"] - baseline["mean"]
    lines.append(f"Shapes fidelity of {metrics['fidelity_samples']} images for test captions: {fidelity['mean']:.2f} "
                 f"({per_attribute}).")
    lines.append(f"Same images scored against mismatched captions: {baseline['mean']:.2f} "
                 f"(chance {metrics['fidelity_chance']['mean']:.2f}).")
    by_epoch = metrics.get("fidelity_by_epoch") or []
    if len(by_epoch) > 1:
        lines.append(f"Fidelity by epoch: {by_epoch[0]:.2f} after epoch 1 -> {by_epoch[-1]:.2f} after epoch {len(by_epoch)} "
                     "(history.csv, loss_curves.png).")
    if margin > 0.15:
        verdict = f"The generator follows its captions: {margin:+.2f} over the mismatched baseline."
    elif margin > 0.05:
        verdict = f"The generator follows its captions a little ({margin:+.2f}); train longer."
    else:
        verdict = f"The generator does NOT follow its captions yet ({margin:+.2f}); train longer or check the setup."
    lines.append(verdict)
    return "\n".join(lines)


def load_generator(run_dir, checkpoint_dir: str = "checkpoints"):
    """The generator of a run directory (its `sampler`: Stage-I's, or DF-GAN's weight average when
    kept) at its latest checkpoint, with its config.
    `checkpoint_dir="best"`: the best epoch kept by `train.best_metric` instead."""
    run_dir = Path(run_dir)
    config = RunConfig.load(run_dir / "config.json")
    prepared = prepare_data(config.data, progress=False)
    encoder, embeddings = embed_all_captions(config, prepared)
    gan = build_gan(config, embeddings.shape[1], steps_per_epoch=1)
    checkpoint = RunCheckpoint(run_dir / checkpoint_dir,
                               {"model": gan, "g_optimizer": gan.g_optimizer, "d_optimizer": gan.d_optimizer})
    checkpoint.restore_or_initialize()
    if checkpoint.latest is None:
        raise FileNotFoundError(f"No checkpoint in {run_dir / checkpoint_dir}: train first.")
    return gan.sampler, encoder, config


def generate(run_dir, captions: list[str], num_per_caption: int = 1, seed: int = 0) -> np.ndarray:
    """uint8 images (len(captions), num_per_caption, S, S, 3) from a trained run directory."""
    generator, encoder, config = load_generator(run_dir)
    embeddings = encoder.encode(list(captions))
    noise = np.random.default_rng(seed).standard_normal((num_per_caption, config.model.noise_dim)).astype(np.float32)
    return generate_grid(generator, embeddings, noise)
