"""StackGAN Stage-I and DF-GAN (`model.family`): train into a run directory, resume, sample, measure.

(`model.family = "attngan"` has its own plan, `t2ilib.training.attngan`; `train_stage1`,
`load_generator` and `generate` send it there, so the CLI, sweeps and evaluation treat it alike.)
Both train through `t2ilib.training.gan.train_gan` (run folder, data stream, callbacks,
checkpoints, step-exact resume, metrics.json; the files of a run directory are listed there);
this module says what is theirs: the train section of the config, `build_gan`, and the shapes
fidelity of `evaluate_stage1` with its verdict (`summarize`). Then loading a trained run
(`load_generator`) and drawing images for new captions (`generate`).

The run directory can live on Google Drive: re-running the same call after a runtime reset
continues from the last checkpoint (same epoch counter, optimizer state and learning-rate
schedule, which reads the optimizer's step counter).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from t2ilib.acceleration import make_strategy
from t2ilib.config import ATTNGAN_FAMILY, ConfigError, RunConfig
from t2ilib.data.pipeline import make_gan_dataset
from t2ilib.data.prepare import prepare_data
from t2ilib.models.dfgan import build_dfgan
from t2ilib.models.sampling import sample_grid, seeded_noise
from t2ilib.models.stackgan import build_stage1
from t2ilib.training.checkpoints import RunCheckpoint, gan_checkpoint_parts
from t2ilib.training.gan import (GANPlan, agreement_line, embed_all_captions, evaluate_stage1,  # noqa: F401 re-exports
                                 evaluation_rows_and_noise, load_run_config, mismatched_attributes, resolved_paths,
                                 train_gan)

GAN_BUILDERS = {"stackgan": build_stage1, "dfgan": build_dfgan}  # by `model.family`
FAMILY_NAMES = {"stackgan": "Stage-I", "dfgan": "DF-GAN"}


def build_gan(config: RunConfig, embedding_dim: int, steps_per_epoch: int, strategy=None):
    """The compiled GAN of `config.model.family` (StackGAN Stage-I or DF-GAN), every weight and
    optimizer slot created. Both have `generator`, `discriminator`, `d_optimizer`, `g_optimizer`
    and `sampler` (the generator to draw from), so everything below treats them alike."""
    family = config.model.family
    if family == ATTNGAN_FAMILY:
        raise ConfigError("model.family = 'attngan' is built on its pretrained DAMSM: "
                          "t2ilib.training.attngan.build_attngan(config, damsm, steps_per_epoch) (train_stage1 and "
                          "load_generator do it for you).")
    if family not in GAN_BUILDERS:
        raise ValueError(f"Unknown model.family {family!r}; choose one of {', '.join(GAN_BUILDERS)} "
                         "(e.g. --set model.family=dfgan).")
    return GAN_BUILDERS[family](config, embedding_dim, steps_per_epoch, strategy=strategy)


def stage1_plan(config: RunConfig) -> GANPlan:
    """What a Stage-I (or DF-GAN) run gives `train_gan`: the train section's batch and epochs at
    the data section's image size, `build_gan` under the configured strategy, `evaluate_stage1`."""
    def build(embedding_dim, steps_per_epoch, base, verbose):
        return build_gan(config, embedding_dim, steps_per_epoch, strategy=make_strategy(config.train.strategy))

    return GANPlan(name=FAMILY_NAMES.get(config.model.family, config.model.family), run_type="stage1",
                   image_size=config.data.image_size, batch_size=config.train.batch_size,
                   batch_setting="train.batch_size", epochs=config.train.epochs,
                   steps_per_epoch=config.train.steps_per_epoch, build=build, evaluate=evaluate_stage1,
                   make_dataset=make_gan_dataset)  # this module's name: tests replace it (a poisoned stream)


def train_stage1(config: RunConfig, run_dir, verbose: int = 1, allow_config_change: bool = False,
                 extra_callbacks=()) -> dict:
    """Prepare data, embed captions, train (or resume) Stage-I with `fit`, and evaluate.

    Returns the metrics dictionary that is also written to `run_dir/metrics.json`.
    """
    if config.model.family == ATTNGAN_FAMILY:  # its own plan, on the same path
        from t2ilib.training.attngan import train_attngan

        return train_attngan(config, run_dir, verbose, allow_config_change, extra_callbacks)
    config = resolved_paths(config.validate())  # every setting checked before anything is written
    return train_gan(config, run_dir, stage1_plan(config), verbose, allow_config_change, extra_callbacks)


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


def load_generator(run_dir, checkpoint_dir: str = "checkpoints"):
    """The generator of a run directory (its `sampler`: Stage-I's, DF-GAN's weight average when
    kept, or AttnGAN's, word ids in, the run's DAMSM text encoder in front) at its latest
    checkpoint, with its caption encoder and its config.
    `checkpoint_dir="best"`: the best epoch kept by `train.best_metric` instead."""
    run_dir = Path(run_dir)
    config = load_run_config(run_dir, checkpoint_dir)
    prepared = prepare_data(config.data, progress=False)
    encoder, embeddings = embed_all_captions(config, prepared)
    if config.model.family == ATTNGAN_FAMILY:  # the sampler has the run's DAMSM text encoder in front
        from t2ilib.training.attngan import load_attngan

        return load_attngan(config, len(encoder.vocabulary) + 2, run_dir / checkpoint_dir).sampler, encoder, config
    gan = build_gan(config, embeddings.shape[1], steps_per_epoch=1)
    checkpoint = RunCheckpoint(run_dir / checkpoint_dir, gan_checkpoint_parts(gan))
    checkpoint.restore_or_initialize()
    if checkpoint.latest is None:
        raise FileNotFoundError(f"No checkpoint in {run_dir / checkpoint_dir}: train first.")
    return gan.sampler, encoder, config


def generate(run_dir, captions: list[str], num_per_caption: int = 1, seed: int = 0) -> np.ndarray:
    """uint8 images (len(captions), num_per_caption, S, S, 3) from a trained run directory."""
    generator, encoder, config = load_generator(run_dir)
    embeddings = encoder.encode(list(captions))
    return sample_grid(generator, embeddings, seeded_noise(seed, (num_per_caption, config.model.noise_dim)))
