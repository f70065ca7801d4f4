"""One training path for every text-conditioned GAN of the kit: `train_gan`.

StackGAN Stage-I, DF-GAN and StackGAN Stage-II (and the next family) train the same way; a run
type says only what is its own, in a `GANPlan`: the section of the config it reads (image size,
batch, epochs), how to build its compiled GAN, its sample grid and its end-of-run evaluation.
Everything else is here, written once:

- the run folder (`RunFolder`: a start that fails leaves it as it was) and the refusal to resume
  with other settings (`check_run_config`);
- the data stream, positioned at any global step (`make_gan_dataset`), so a resume is step-exact;
- checkpoints of both networks and both optimizers (`gan_checkpoint_parts`), restored on resume;
- the callbacks, assembled in one place (`gan_callbacks`): sample grid, shapes fidelity, guards,
  history.csv, TensorBoard, loss curves, the checkpoint saver that also stops on NaN/Inf;
- metrics.json at the end (the plan's evaluation, fidelity by epoch, epochs and steps trained).

A run directory holds:
    config.json            the RunConfig (a resume with other settings is refused)
    checkpoints/           RunCheckpoint files (both networks, both optimizers, epoch, step)
    samples/epoch_XXXX.png fixed captions x fixed noise, after every epoch
    history.csv            one row of losses per epoch (appended across resumes)
    loss_curves.png        drawn from history.csv
    logs/                  TensorBoard summaries
    best/                  the best epoch by `train.best_metric`
    metrics.json           written at the end of training

The helpers below them (caption embeddings, the fixed evaluation captions and noise, loading a
run's config) are shared by every GAN run type and by evaluation.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from t2ilib.acceleration import allow_gpu_memory_growth
from t2ilib.config import ConfigError, RunConfig, check_batch_fits, resume_changes
from t2ilib.data.pipeline import make_gan_dataset
from t2ilib.data.prepare import PreparedData, fixed_sample_rows, prepare_data
from t2ilib.features.xception import FEATURE_SOURCE, feature_conditions
from t2ilib.text import embed_captions, make_encoder
from t2ilib.training.callbacks import (HistoryCSV, LossCurves, SampleGrid, SaveCheckpoint, ShapesFidelity,
                                      TensorBoardLog)
from t2ilib.training.checkpoints import CheckpointUnreadable, RunFolder, checkpoints_on_disk, gan_checkpoint_parts
from t2ilib.training.agreement import agreement_callbacks
from t2ilib.training.guards import guard_callbacks
from t2ilib.training.resume import fit_resumable, restore_start_step

@dataclasses.dataclass(frozen=True)
class GANPlan:
    """What one GAN run type supplies to `train_gan` (see `stage1.stage1_plan`, `stage2.stage2_plan`).

    name: what is trained ("Stage-I", "DF-GAN", "Stage-II"), in the loss-curve title.
    run_type: its entry in `t2ilib.config.RUN_TYPES`: the sections it reads and what may change on
        resume ("stage1", "stage2").
    image_size, batch_size, epochs, steps_per_epoch: from the config section the run type reads
        (`steps_per_epoch` None: one pass over the training captions); `batch_setting` names the
        batch size in errors ("train.batch_size").
    build(embedding_dim, steps_per_epoch, base, verbose): the compiled GAN, every weight and
        optimizer slot created, with `generator`, `discriminator`, `d_optimizer`, `g_optimizer`
        and `sampler` (`t2ilib.models.blocks.ConditionalGAN`).
    evaluate(sampler, config, prepared, embeddings): the metrics of the trained generator.
    load_base(): what the networks are built on, loaded before the seed is set (Stage-II: the
        frozen Stage-I generator); None: nothing.
    sample_grid: the `SampleGrid` class of the run's per-epoch grid.
    make_dataset: the training stream (`make_gan_dataset`'s signature), positioned by step.
    extra_metrics: written into metrics.json as they are.
    """

    name: str
    run_type: str
    image_size: int
    batch_size: int
    batch_setting: str
    epochs: int
    steps_per_epoch: int | None
    build: Callable
    evaluate: Callable
    load_base: Callable | None = None
    sample_grid: type = SampleGrid
    make_dataset: Callable = make_gan_dataset
    extra_metrics: dict = dataclasses.field(default_factory=dict)


def train_gan(config: RunConfig, run_dir, plan: GANPlan, verbose: int = 1, allow_config_change: bool = False,
              extra_callbacks=()) -> dict:
    """Train (or resume) the GAN of `plan` in `run_dir` with `fit`, then evaluate it.

    `config` is validated and its paths resolved by the caller (the run type's `train_*`).
    Returns the metrics dictionary that is also written to `run_dir/metrics.json`.
    """
    run_dir = Path(run_dir)
    folder = RunFolder(run_dir)  # refuses a file or a read-only folder
    changes = check_run_config(run_dir, config, allow_config_change, write=False, run_type=plan.run_type)
    allow_gpu_memory_growth()
    base = plan.load_base() if plan.load_base is not None else None
    keras.utils.set_random_seed(config.train.seed)
    prepared = prepare_data(config.data, image_size=plan.image_size, progress=verbose > 0)
    check_settings_against_data(config, prepared, plan.batch_size, plan.batch_setting)
    with folder.undo_on_failure():  # a start that fails leaves the run folder as it was
        return _train_gan(config, plan, folder, changes, prepared, base, verbose, extra_callbacks)


def _train_gan(config: RunConfig, plan: GANPlan, folder: RunFolder, changes: list[str], prepared: PreparedData,
               base, verbose: int, extra_callbacks) -> dict:
    run_dir = folder.path
    _, embeddings = embed_all_captions(config, prepared)
    train = prepared.split("train")
    steps_per_epoch = plan.steps_per_epoch or len(train) // plan.batch_size

    def dataset_from(step: int):
        return plan.make_dataset(prepared.cache.array, train["row"].to_numpy(), embeddings[train.index],
                                 batch_size=plan.batch_size, image_size=plan.image_size, augment=config.data.augment,
                                 flip=config.data.flip, seed=config.train.seed, repeat=True, start_step=step,
                                 noise_dims=(config.model.noise_dim, config.model.condition_dim))

    gan = plan.build(embeddings.shape[1], steps_per_epoch, base, verbose)
    checkpoint = folder.run_checkpoint(gan_checkpoint_parts(gan), max_to_keep=config.train.max_to_keep,
                                       write_config=lambda: config.save(run_dir / "config.json"))
    start_step = restore_run(checkpoint, steps_per_epoch, changes, verbose)
    if checkpoint.latest is not None:  # restored: record the settings it continues with, drop unsaved epochs
        config.save(run_dir / "config.json")
        folder.trim_history(start_step // steps_per_epoch)

    saver = SaveCheckpoint(checkpoint, config.train.checkpoint_every_epochs, config.train.checkpoint_every_steps,
                           initial_step=start_step)  # also stops the run on NaN/Inf
    callbacks = gan_callbacks(config, plan, gan, prepared, embeddings, run_dir, saver, start_step, steps_per_epoch,
                              extra_callbacks)
    fit_resumable(gan, dataset_from, start_step, plan.epochs, steps_per_epoch, callbacks, verbose)
    saver.raise_if_diverged()  # TrainingDiverged: names the epoch/step and the checkpoint kept
    if checkpoint.latest is None:  # a 0-epoch run keeps its initial weights (sweeps compare "epoch 0")
        checkpoint.save(0, step=start_step)
    metrics = plan.evaluate(gan.sampler, config, prepared, embeddings)
    metrics.update(fidelity_history(run_dir))
    metrics.update(plan.extra_metrics)
    metrics["epochs_trained"] = int(checkpoint.epoch.numpy())
    metrics["optimizer_steps"] = int(gan.g_optimizer.iterations.numpy())
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def gan_callbacks(config: RunConfig, plan: GANPlan, gan, prepared: PreparedData, embeddings: np.ndarray, run_dir: Path,
                  saver: SaveCheckpoint, start_step: int, steps_per_epoch: int, extra_callbacks=()) -> list:
    """Every callback of a GAN run, in the order they must run at an epoch's end.

    Measures that add a column to the epoch's logs (fidelity, the guards' spreads, and any
    per-epoch score a later change adds) go before `HistoryCSV` and `TensorBoardLog`, which write
    the logs; the saver goes last but one, so a checkpoint follows the epoch's files.
    """
    sample_rows = fixed_sample_rows(prepared.captions, config.train.num_sample_captions)
    callbacks = [plan.sample_grid(gan.sampler, prepared.captions.loc[sample_rows, "caption"].tolist(),
                                  embeddings[sample_rows], sample_noise(config), run_dir / "samples")]
    if prepared.attributes is not None:
        rows, noise = evaluation_rows_and_noise(config, prepared)
        callbacks.append(ShapesFidelity(gan.sampler, embeddings[rows], prepared.attributes.loc[rows], noise))
    # Image-text agreement (r_precision) of the sampler's images on any dataset; the collapse guard reads it.
    agreement = agreement_callbacks(config, prepared, embeddings, gan.sampler, run_dir)
    callbacks += agreement
    callbacks += guard_callbacks(config, gan, run_dir, embeddings[sample_rows], sample_noise(config), agreement)
    callbacks += [
        HistoryCSV(run_dir / "history.csv"),
        TensorBoardLog(run_dir, start_step, steps_per_epoch),  # run_dir/logs: scalars + sample grid, global step
        LossCurves(run_dir / "history.csv", run_dir / "loss_curves.png",
                   title=f"{plan.name} losses (and agreement scores)"),
        saver,
        keras.callbacks.TerminateOnNaN(),
        *extra_callbacks,
    ]
    return callbacks


def evaluate_stage1(generator, config: RunConfig, prepared: PreparedData, embeddings: np.ndarray) -> dict:
    """Every GAN family's end-of-run evaluation (Stage-I, DF-GAN, AttnGAN; `t2ilib.training.stage1`
    re-exports it). Shapes fidelity of images generated from test captions, against a mismatched baseline.

    The baseline scores the *same* images against the attributes of other captions: what a
    generator that ignores its caption would get. Real data has no ground truth attributes, so
    on Flickr8k this reports only what it can (see the evaluation notebook for FID/IS).
    """
    from t2ilib.models.sampling import sample_images

    metrics = {"dataset": str(prepared.root), "image_size": config.data.image_size}
    if prepared.attributes is None:
        metrics["fidelity"] = None
        return metrics
    from t2ilib.metrics.fidelity import chance_fidelity, follows_captions, shapes_fidelity

    rows, noise = evaluation_rows_and_noise(config, prepared)
    images = sample_images(generator, embeddings[rows], noise)
    truth = prepared.attributes.loc[rows].reset_index(drop=True)
    mismatched = mismatched_attributes(prepared, rows, config.train.seed)
    metrics["fidelity"] = shapes_fidelity(images, truth)
    metrics["fidelity_mismatched_captions"] = shapes_fidelity(images, mismatched)
    metrics["fidelity_chance"] = chance_fidelity()
    metrics["fidelity_samples"] = int(len(rows))
    metrics["follows_captions"] = follows_captions(images, truth, mismatched)  # margin and its significance
    return metrics


# ---------------------------------------------------------------------------------------
# Before training: the config, the data, the resume
# ---------------------------------------------------------------------------------------
def check_run_config(run_dir: Path, config: RunConfig, allow_config_change: bool = False, write: bool = True,
                     run_type: str = "stage1") -> list[str]:
    """Refuse to resume a run that was started with other settings (in the sections `run_type`
    reads, beyond what it may change: `t2ilib.config.RUN_TYPES`) unless `allow_config_change`;
    with `write`, then save config.json. Returns the changed settings that were allowed
    ("section.key: saved A, now B"), [] for a new or same run. Paths are compared resolved.

    The trainers call it with `write=False` before anything is written, and save config.json
    only with their first checkpoint, or after the checkpoints restored (`RunFolder`).
    """
    path = run_dir / "config.json"
    changes = []
    if path.is_file():
        saved = resolved_paths(RunConfig.load(path)).to_dict()  # relative paths: as an older run read them
        changes = resume_changes(run_type, path, saved, resolved_paths(config).to_dict(), allow_config_change)
    elif path.exists():
        raise NotADirectoryError(f"{path} is a folder, not a run's config file; move it away.")
    if write:
        run_dir.mkdir(parents=True, exist_ok=True)
        config.save(path)
    return changes


def restore_run(checkpoint, steps_per_epoch: int, changes: list[str], verbose: int = 1) -> int:
    """`restore_start_step`, saying so plainly when the checkpoints cannot take settings changed
    with allow_config_change (nothing in the run folder was changed then)."""
    try:
        return restore_start_step(checkpoint, steps_per_epoch, verbose)
    except CheckpointUnreadable as error:
        if not changes:
            raise
        raise ValueError(
            f"The checkpoints in {checkpoint.directory} cannot take the changed settings ({'; '.join(changes[:5])}): "
            f"{error.problems[0]}. Nothing in {checkpoint.directory.parent} was changed: train these settings in a "
            "new run directory (or change back the settings that size the networks).") from error


def check_settings_against_data(config: RunConfig, prepared: PreparedData, batch_size: int | None = None,
                                batch_name: str = "train.batch_size") -> None:
    """The rules that need the prepared data, checked before the run folder is touched: a batch
    no larger than the training split, and (for the collapse guard) 2 distinct test images."""
    train = prepared.split("train")
    check_batch_fits(batch_name, config.train.batch_size if batch_size is None else batch_size, len(train),
                     f"training captions of {prepared.root}")
    distinct = len(fixed_sample_rows(prepared.captions, config.train.num_sample_captions))
    if config.train.collapse_guard and distinct < 2:
        raise ConfigError(f"{prepared.root} has {distinct} image(s) to draw the sample grid from; the collapse guard "
                          "(train.collapse_guard) needs 2. Use a larger dataset (data.shapes_num_images on shapes) or "
                          "set train.collapse_guard=false.")


def resolved_paths(config: RunConfig) -> RunConfig:
    """`config` with its file and folder settings made absolute (those that name something on
    disk), so that the config.json of a run works from any working directory."""
    overrides = {f"data.{item.name}": str(Path(getattr(config.data, item.name)).resolve())
                 for item in dataclasses.fields(config.data)
                 if item.name.endswith("_dir") and getattr(config.data, item.name)}  # data_dir, cache_dir, ...
    if config.data.dataset not in ("shapes", "flickr8k"):
        overrides["data.dataset"] = str(Path(config.data.dataset).resolve())
    for section, key in (("text", "glove_path"), ("text", "char_cnn_rnn_dir"), ("text", "model_name"),
                         ("text", "hub_handle"), ("text", "hub_preprocess_handle"), ("text", "hub_bert_handle"),
                         ("condition", "feature_weights")):
        value = getattr(getattr(config, section), key)
        if value and (key in ("glove_path", "char_cnn_rnn_dir") or Path(value).exists()):
            overrides[f"{section}.{key}"] = str(Path(value).resolve())
    if config.stage2.stage1_run_dir:
        overrides["stage2.stage1_run_dir"] = str(Path(config.stage2.stage1_run_dir).resolve())
    return config.replace(**overrides)


def embed_all_captions(config: RunConfig, prepared: PreparedData):
    """The run's condition source and one condition per row of `prepared.captions`, cached under
    the prepared data folder: the text encoder of `config.text` (Word2Vec is trained on the
    training captions only) and its caption embeddings, or, for `condition.source`
    "xception-features", an `ImageFeatureCondition` and each caption's image feature."""
    if config.condition.source == FEATURE_SOURCE:  # image features as the condition, one per caption row
        return feature_conditions(config.condition, prepared)
    training_captions = prepared.split("train")["caption"].tolist()
    encoder = make_encoder(config.text, training_captions=training_captions, work_dir=prepared.work_dir)
    embeddings = embed_captions(encoder, prepared.captions["caption"].tolist(), prepared.work_dir / "embeddings")
    return encoder, embeddings


# ---------------------------------------------------------------------------------------
# The fixed captions and noise a run is watched and measured with
# ---------------------------------------------------------------------------------------
def sample_noise(config: RunConfig) -> np.ndarray:
    """The run's fixed noise vectors for sample grids (same seed -> same noise, run after run)."""
    rng = np.random.default_rng(config.train.seed + 12345)
    return rng.standard_normal((config.train.num_sample_noise, config.model.noise_dim)).astype(np.float32)


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
    """The attributes of a test caption of another image for each of `rows` (the baseline "same
    images, wrong captions", `t2ilib.metrics.fidelity.mismatched_rows`): no caption is paired with
    itself or with a caption of its own image, also when `rows` repeats captions
    (`evaluation_rows_and_noise`)."""
    from t2ilib.metrics.fidelity import mismatched_rows

    captions = prepared.captions
    groups = captions.loc[rows, "image"].to_numpy() if "image" in captions else None
    return prepared.attributes.loc[mismatched_rows(rows, groups, seed)].reset_index(drop=True)


def fidelity_history(run_dir) -> dict:
    """{"fidelity_by_epoch": [...]} from the run's history.csv (when it has that column), and the
    agreement score's {"r_precision_by_epoch": {epoch: value}, "real_r_precision", "r_precision_chance"}
    (measured epochs only, 1-based; `t2ilib.training.agreement`); {} without a history."""
    history_path = Path(run_dir) / "history.csv"
    if not history_path.exists():
        return {}
    import pandas as pd

    history = pd.read_csv(history_path)
    found = {}
    if "fidelity" in history:
        found["fidelity_by_epoch"] = [round(float(value), 4) for value in history["fidelity"]]
    if "r_precision" in history and history["r_precision"].notna().any():
        measured = history[["epoch", "r_precision"]].dropna()
        found["r_precision_by_epoch"] = {int(epoch) + 1: round(float(value), 4)
                                         for epoch, value in zip(measured["epoch"], measured["r_precision"])}
        recorded = Path(run_dir) / "agreement.json"
        if recorded.is_file():
            agreement = json.loads(recorded.read_text())
            found["real_r_precision"], found["r_precision_chance"] = agreement["real"], agreement["chance"]
    return found


def agreement_line(metrics: dict) -> str | None:
    """One line of the agreement score by epoch (summaries), or None when the run has none."""
    by_epoch = metrics.get("r_precision_by_epoch")
    if not by_epoch:
        return None
    (first, start), (last, end) = min(by_epoch.items(), key=lambda item: int(item[0])), \
        max(by_epoch.items(), key=lambda item: int(item[0]))
    ceiling = (f"real images {metrics['real_r_precision']:.3f}, chance {metrics['r_precision_chance']:.3f}"
               if "real_r_precision" in metrics else "")
    return (f"Image-text agreement (r_precision of validation captions{', ' + ceiling if ceiling else ''}): "
            f"{start:.3f} after epoch {first} -> {end:.3f} after epoch {last}.")


# ---------------------------------------------------------------------------------------
# After training: a run directory read back
# ---------------------------------------------------------------------------------------
def load_run_config(run_dir: Path, checkpoint_dir: str = "checkpoints") -> RunConfig:
    """The config of a trained run directory, checked before anything is built: a folder with a
    config.json and a checkpoint, whose data folder exists (a config.json with relative paths,
    written by an older version, is read from the working directory; rather than silently
    building the data again somewhere else, say so)."""
    if not run_dir.is_dir():
        state = "is a file" if run_dir.exists() else "does not exist"
        raise FileNotFoundError(f"The run directory {run_dir} {state}; give the folder a training run wrote.")
    if not (run_dir / "config.json").is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no config.json): train into it first.")
    config = RunConfig.load(run_dir / "config.json")
    if not checkpoints_on_disk(run_dir / checkpoint_dir):
        raise FileNotFoundError(f"No checkpoint in {run_dir / checkpoint_dir}: train first.")
    if not Path(config.data.data_dir).is_dir():
        raise FileNotFoundError(
            f"The data folder of {run_dir}, {config.data.data_dir!r} (data.data_dir in its config.json), is not there "
            f"(relative paths are read from the working directory, now {Path.cwd()}). Run from the folder the run was "
            "trained in, or write the data folder's full path into config.json.")
    return config
