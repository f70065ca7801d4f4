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

import dataclasses
import json
import logging
from pathlib import Path

import keras
import numpy as np

from t2ilib.acceleration import allow_gpu_memory_growth, make_strategy
from t2ilib.config import ConfigError, RunConfig, check_batch_fits
from t2ilib.data.pipeline import make_gan_dataset
from t2ilib.data.prepare import PreparedData, fixed_sample_rows, prepare_data
from t2ilib.features.xception import FEATURE_ENCODER, feature_conditions
from t2ilib.models.dfgan import build_dfgan
from t2ilib.models.stackgan import build_stage1
from t2ilib.text import embed_captions, make_encoder
from t2ilib.training.callbacks import (HistoryCSV, LossCurves, SampleGrid, SaveCheckpoint, ShapesFidelity,
                                      TensorBoardLog, generate_grid)
from t2ilib.training.checkpoints import CheckpointUnreadable, RunCheckpoint, RunFolder, checkpoints_on_disk
from t2ilib.training.resume import fit_resumable, restore_start_step
from t2ilib.training.agreement import agreement_callbacks
from t2ilib.training.guards import guard_callbacks

logger = logging.getLogger("t2ilib")

# Settings that may change between a run and its resume without changing what is trained.
RESUMABLE_CHANGES = {("train", "epochs"), ("train", "checkpoint_every_epochs"), ("train", "max_to_keep"),
                     ("train", "fidelity_samples"), ("data", "data_dir"), ("train", "checkpoint_every_steps"),
                     ("train", "jit_compile"), ("train", "collapse_guard"), ("train", "stop_on_collapse"),
                     ("train", "best_metric"), ("data", "cache_dir"), ("train", "agreement_every_epochs"),
                     ("train", "agreement_samples")}


def embed_all_captions(config: RunConfig, prepared: PreparedData):
    """The configured encoder (Word2Vec is trained on the training captions only) and one
    embedding per row of `prepared.captions`, cached under the prepared data folder."""
    if config.text.encoder == FEATURE_ENCODER:  # image features as the condition, one per caption row
        return feature_conditions(config.text, prepared)
    training_captions = prepared.split("train")["caption"].tolist()
    encoder = make_encoder(config.text, training_captions=training_captions, work_dir=prepared.work_dir)
    embeddings = embed_captions(encoder, prepared.captions["caption"].tolist(), prepared.work_dir / "embeddings")
    return encoder, embeddings


def check_run_config(run_dir: Path, config: RunConfig, allow_config_change: bool = False,
                     write: bool = True) -> list[str]:
    """Refuse to resume a run that was started with other settings (beyond `RESUMABLE_CHANGES`)
    unless `allow_config_change`; with `write`, then save config.json. Returns the changed
    settings that were allowed ("section.key: saved A, now B"), [] for a new or same run.

    The trainers call it with `write=False` before anything is written, and save config.json
    only with their first checkpoint, or after the checkpoints restored (`RunFolder`).
    """
    path = run_dir / "config.json"
    changes = []
    if path.is_file():
        saved = resolved_paths(RunConfig.load(path)).to_dict()  # relative paths: as an older run read them
        current = resolved_paths(config).to_dict()
        differences = [(section, key, saved[section].get(key), current[section][key])
                       for section in ("data", "text", "model", "train")
                       for key in current[section]
                       if saved[section].get(key) != current[section][key] and (section, key) not in RESUMABLE_CHANGES]
        changes = [f"{s}.{k}: saved {a!r}, now {b!r}" for s, k, a, b in differences]
        if differences and not allow_config_change:
            raise ValueError(
                f"{path} was written by a run with other settings ({'; '.join(changes[:5])}). Resuming would mix "
                "two experiments: choose a new run directory, or pass allow_config_change=True (CLI: "
                "--allow-config-change) if you mean it.")
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
    for key in ("glove_path", "char_cnn_rnn_dir", "model_name", "hub_handle", "hub_preprocess_handle",
                "hub_bert_handle", "feature_weights"):
        value = getattr(config.text, key)
        if value and (key in ("glove_path", "char_cnn_rnn_dir") or Path(value).exists()):
            overrides[f"text.{key}"] = str(Path(value).resolve())
    if config.stage2.stage1_run_dir:
        overrides["stage2.stage1_run_dir"] = str(Path(config.stage2.stage1_run_dir).resolve())
    return config.replace(**overrides)


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
    config = resolved_paths(config.validate())  # every setting checked before anything is written
    folder = RunFolder(run_dir)  # refuses a file or a read-only folder
    changes = check_run_config(run_dir, config, allow_config_change, write=False)
    allow_gpu_memory_growth()
    keras.utils.set_random_seed(config.train.seed)
    prepared = prepare_data(config.data, progress=verbose > 0)
    check_settings_against_data(config, prepared)
    with folder.undo_on_failure():  # a start that fails leaves the run folder as it was
        return _train_stage1(config, folder, changes, prepared, verbose, extra_callbacks)


def _train_stage1(config: RunConfig, folder: RunFolder, changes: list[str], prepared: PreparedData, verbose: int,
                  extra_callbacks) -> dict:
    run_dir = folder.path
    _, embeddings = embed_all_captions(config, prepared)

    train = prepared.split("train")
    steps_per_epoch = config.train.steps_per_epoch or len(train) // config.train.batch_size

    def dataset_from(step: int):
        return make_gan_dataset(prepared.cache.array, train["row"].to_numpy(), embeddings[train.index],
                                batch_size=config.train.batch_size, image_size=config.data.image_size,
                                augment=config.data.augment, flip=config.data.flip, seed=config.train.seed,
                                repeat=True, start_step=step,
                                noise_dims=(config.model.noise_dim, config.model.condition_dim))

    gan = build_gan(config, embeddings.shape[1], steps_per_epoch, strategy=make_strategy(config.train.strategy))
    checkpoint = folder.run_checkpoint({"model": gan, "g_optimizer": gan.g_optimizer, "d_optimizer": gan.d_optimizer},
                                       max_to_keep=config.train.max_to_keep,
                                       write_config=lambda: config.save(run_dir / "config.json"))
    start_step = restore_run(checkpoint, steps_per_epoch, changes, verbose)
    if checkpoint.latest is not None:  # restored: record the settings it continues with, drop unsaved epochs
        config.save(run_dir / "config.json")
        folder.trim_history(start_step // steps_per_epoch)

    sample_rows = fixed_sample_rows(prepared.captions, config.train.num_sample_captions)
    callbacks = [
        SampleGrid(gan.sampler, prepared.captions.loc[sample_rows, "caption"].tolist(), embeddings[sample_rows],
                   sample_noise(config), run_dir / "samples"),
    ]
    if prepared.attributes is not None:
        rows, noise = evaluation_rows_and_noise(config, prepared)
        callbacks.append(ShapesFidelity(gan.sampler, embeddings[rows], prepared.attributes.loc[rows], noise))
    # Image-text agreement (r_precision) on any dataset; the collapse guard reads it.
    agreement = agreement_callbacks(config, prepared, embeddings, gan.sampler, run_dir)
    callbacks += agreement
    callbacks += guard_callbacks(config, gan, run_dir, embeddings[sample_rows], sample_noise(config), agreement)
    saver = SaveCheckpoint(checkpoint, config.train.checkpoint_every_epochs, config.train.checkpoint_every_steps,
                           initial_step=start_step)  # also stops the run on NaN/Inf
    callbacks += [
        HistoryCSV(run_dir / "history.csv"),
        TensorBoardLog(run_dir, start_step, steps_per_epoch),  # run_dir/logs: scalars + sample grid, global step
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
    from t2ilib.metrics.fidelity import chance_fidelity, follows_captions, shapes_fidelity
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
    metrics["follows_captions"] = follows_captions(images, truth, mismatched)  # margin and its significance
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
    """The attributes of a test caption of another image for each of `rows` (the baseline "same
    images, wrong captions", `t2ilib.metrics.fidelity.mismatched_rows`): no caption is paired with
    itself or with a caption of its own image, also when `rows` repeats captions
    (`evaluation_rows_and_noise`)."""
    from t2ilib.metrics.fidelity import mismatched_rows

    captions = prepared.captions
    groups = captions.loc[rows, "image"].to_numpy() if "image" in captions else None
    return prepared.attributes.loc[mismatched_rows(rows, groups, seed)].reset_index(drop=True)


def summarize(metrics: dict) -> str:
    """A few lines that say whether the model learned to follow its captions."""
    fidelity = metrics.get("fidelity")
    lines = [f"Trained {metrics.get('epochs_trained')} epochs ({metrics.get('optimizer_steps')} steps)."]
    agreement = agreement_line(metrics)
    if not fidelity:
        lines.append("No attribute ground truth for this dataset: judge the sample grids, and use the evaluation "
                     "notebook (FID / IS) for numbers.")
        return "\n".join(lines + ([agreement] if agreement else []))
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
    test = metrics.get("follows_captions")  # absent in metrics.json files of older runs
    evidence = f"one-sided p = {test['p_value']:.1g} on {test['n']} images" if test else ""
    if test is not None and not test["follows"]:
        verdict = (f"The generator does NOT follow its captions yet ({margin:+.2f} over the mismatched baseline, "
                   f"not significant: {evidence}); train longer or check the setup.")
    elif margin > 0.15:
        verdict = f"The generator follows its captions: {margin:+.2f} over the mismatched baseline" + \
                  (f" ({evidence})." if test else ".")
    elif margin > 0.05:
        verdict = f"The generator follows its captions a little ({margin:+.2f}{', ' + evidence if test else ''}); " \
                  "train longer."
    else:
        verdict = f"The generator does NOT follow its captions yet ({margin:+.2f}); train longer or check the setup."
    if agreement:
        lines.append(agreement)
    lines.append(verdict)
    return "\n".join(lines)


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


def load_generator(run_dir, checkpoint_dir: str = "checkpoints"):
    """The generator of a run directory (its `sampler`: Stage-I's, or DF-GAN's weight average when
    kept) at its latest checkpoint, with its config.
    `checkpoint_dir="best"`: the best epoch kept by `train.best_metric` instead."""
    run_dir = Path(run_dir)
    config = load_run_config(run_dir, checkpoint_dir)
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
