"""Train StackGAN Stage-II on top of a finished Stage-I run, resume it, sample from both stages.

A Stage-II run directory holds the same files as a Stage-I run (see `t2ilib.training.gan`, which
trains both):
    config.json            the RunConfig; `stage2.stage1_run_dir` names the Stage-I run it refines
    checkpoints/           RunCheckpoint files (Stage-II networks and optimizers, the frozen
                           Stage-I weights it was trained against, the epoch)
    samples/epoch_XXXX.png fixed captions x fixed noise; each cell the Stage-I image (upscaled)
                           beside its Stage-II refinement
    history.csv, loss_curves.png, metrics.json

The data, text, condition and model sections of a Stage-II run are those of its Stage-I run:
the same captions and splits, the same caption embeddings (read from the Stage-I run's cache), the
same condition and noise sizes. Stage-II's own settings (size, widths, batch, epochs, learning rate)
are in the `stage2` section. Real images come through the same cache and augmentation as
Stage-I, at the Stage-II size: cached at 76/64 of it (304 for 256), random crop, random flip.

Memory (`memory_estimate`): at the official widths (gf 128, df 64), 256x256 and BERT (768-d)
the two Stage-II networks have 97,592,098 trainable parameters (+ 10,270,402 frozen Stage-I).
Estimated training memory, float32 / mixed_float16: batch 16 -> 6.6 / 4.2 GiB, 24 -> 9.2 / 5.5,
32 -> 11.7 / 6.8, 48 -> 16.8 / 9.3, 64 -> 21.9 / 11.9 GiB. Against 75% of a 15 GB Colab T4
(11.25 GiB) float32 fits batch 24 only; the `colab` preset trains with mixed precision
(`train.mixed_precision="auto"`, float16 on a GPU) at batch 48. The `official` preset keeps the
paper's 64 in float32 (a 40 GB+ GPU).

Judging a run: at the end `evaluate_stage2` scores the Stage-II images and the Stage-I images
they refine on the same test captions and noise, and `summarize` says whether Stage-II kept
the caption's attributes (a paired difference with its 95% interval). The collapse guard and
the best checkpoint of the train section (`collapse_guard`, `best_metric`) watch Stage-II too.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from t2ilib.config import RunConfig, condition_reads
from t2ilib.features.xception import FEATURE_DIM, FEATURE_SOURCE
from t2ilib.models.sampling import sample_image_pairs, sample_pair_grid, seeded_noise
from t2ilib.models.stackgan import StageIGenerator
from t2ilib.models.stackgan2 import StageIIDiscriminator, StageIIGenerator, build_stage2
from t2ilib.training import stage1
from t2ilib.training.callbacks import StackedSampleGrid
from t2ilib.training.checkpoints import RunCheckpoint, gan_checkpoint_parts
from t2ilib.training.gan import (GANPlan, check_run_config, evaluation_rows_and_noise, load_run_config,
                                 mismatched_attributes, resolved_paths, train_gan)

GIB = 1024 ** 3
COLAB_GPU_BYTES = 15 * GIB  # a Colab T4 shows 15 GB
USABLE_FRACTION = 0.75  # leave a quarter for the CUDA context, cuDNN workspaces and fragmentation


# ---------------------------------------------------------------------------------------
# Configuration: a Stage-II run inherits data, text, condition and model from its Stage-I run
# ---------------------------------------------------------------------------------------
def stage2_run_config(config: RunConfig, stage1_run_dir) -> RunConfig:
    """The config a Stage-II run is trained with: `config`'s train and stage2 sections, the
    Stage-I run's data, text, condition and model sections (refusing a config that contradicts
    them in a setting the Stage-I run read: `t2ilib.config.condition_reads`),
    and the Stage-I run directory recorded in `stage2.stage1_run_dir`."""
    stage1_run_dir = Path(stage1_run_dir)
    path = stage1_run_dir / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"No Stage-I run in {stage1_run_dir} (no config.json): train Stage-I first "
                                "(train_stage1, notebook 03, or `t2ilib train`).")
    stage1_config = resolved_paths(RunConfig.load(path))
    mine, theirs = resolved_paths(config).to_dict(), stage1_config.to_dict()
    differences = [(section, key, theirs[section][key], mine[section][key])
                   for section in ("text", "condition", "model") for key in mine[section]
                   if mine[section][key] != theirs[section][key]
                   and condition_reads(f"{section}.{key}", stage1_config.condition.source)]
    if mine["data"]["dataset"] != theirs["data"]["dataset"]:
        differences.append(("data", "dataset", theirs["data"]["dataset"], mine["data"]["dataset"]))
    if differences:
        listed = "; ".join(f"{s}.{k}: Stage-I {a!r}, here {b!r}" for s, k, a, b in differences[:5])
        raise ValueError(f"This config does not match the Stage-I run {stage1_run_dir} ({listed}). Stage-II reuses "
                         "the Stage-I run's dataset, condition (caption encoder or image features) and model sizes: start from the same preset "
                         "(or RunConfig.load of its config.json) and change only the train and stage2 sections.")
    if config.stage2.image_size != 4 * stage1_config.data.image_size:
        raise ValueError(f"stage2.image_size must be 4x the Stage-I size {stage1_config.data.image_size} "
                         f"(got {config.stage2.image_size}).")
    stage2 = dataclasses.replace(config.stage2, stage1_run_dir=str(stage1_run_dir.resolve()))
    return dataclasses.replace(config, data=stage1_config.data, text=stage1_config.text,
                               condition=stage1_config.condition, model=stage1_config.model, stage2=stage2)


def check_stage2_config(run_dir: Path, config: RunConfig, allow_config_change: bool = False,
                        write: bool = True) -> list[str]:
    """`check_run_config` for a Stage-II run: the stage2 section is compared as well (only
    `stage2.epochs` may change; `t2ilib.config.RUN_TYPES["stage2"]`)."""
    return check_run_config(run_dir, config, allow_config_change, write=write, run_type="stage2")


# ---------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------
def _stage2_networks(config: RunConfig, embedding_dim: int):
    stage1_generator = StageIGenerator(embedding_dim, image_size=config.stage2.image_size // 4,
                                       generator_width=config.model.generator_width,
                                       condition_dim=config.model.condition_dim, noise_dim=config.model.noise_dim)
    generator = StageIIGenerator(stage1_generator, embedding_dim, image_size=config.stage2.image_size,
                                 generator_width=config.stage2.generator_width,
                                 condition_dim=config.model.condition_dim,
                                 num_residual=config.stage2.num_residual).build_for(batch_size=1)
    discriminator = StageIIDiscriminator(embedding_dim, image_size=config.stage2.image_size,
                                         discriminator_width=config.stage2.discriminator_width,
                                         condition_dim=config.model.condition_dim).build_for(batch_size=1)
    return stage1_generator, generator, discriminator


def activation_elements(image_size: int, generator_width: int, discriminator_width: int, condition_dim: int,
                        num_residual: int = 4) -> dict:
    """Per-sample numbers of activation values (layer outputs) one Stage-II pass keeps for backward.

    Counted layer by layer as in `StageIIGenerator` / `StageIIDiscriminator`: every conv,
    BatchNorm, activation, upsampling, concatenation and residual add output. The frozen
    Stage-I generator runs in inference mode and keeps nothing.
    """
    s, gf, df = image_size, generator_width, discriminator_width
    g = (s // 4) ** 2 * gf * 2  # encode_1: conv, ReLU
    g += (s // 8) ** 2 * 2 * gf * 3  # encode_2: conv, BN, ReLU
    g += (s // 16) ** 2 * 4 * gf * 3  # encode_3
    g += (s // 16) ** 2 * (4 * gf + condition_dim)  # image code + tiled condition
    g += (s // 16) ** 2 * 4 * gf * 3  # joint conv, BN, ReLU
    g += num_residual * (s // 16) ** 2 * 4 * gf * 7  # conv, BN, ReLU, conv, BN, add, ReLU
    side, channels = s // 16, 4 * gf
    for width in (2 * gf, gf, max(gf // 2, 1), max(gf // 4, 1)):  # up-blocks: upsample, conv, BN, ReLU
        side *= 2
        g += side ** 2 * (channels + 3 * width)
        channels = width
    g += s * s * 3 * 2  # to_image, tanh
    d, side = s * s * 3, s  # the input image
    num_down = int(np.log2(s // 4))
    for i in range(num_down):  # conv4x4/2, (BN), LeakyReLU
        side //= 2
        d += side ** 2 * df * 2 ** i * (3 if i else 2)
    d += 16 * (16 * df * 3 + 8 * df * 3)  # two 3x3 convs at 4x4, with BN and LeakyReLU
    d += 16 * (8 * df + condition_dim + 8 * df * 3)  # conditional head: concat, conv, BN, LeakyReLU
    return {"generator": int(g), "discriminator": int(d)}


def expected_embedding_dim(text) -> int:
    """The caption-embedding size a text section will give, known without loading the encoder
    where the settings say it: Word2Vec's `word2vec_dim`, the width in a GloVe file name
    (glove.6B.50d -> 50), 384 for MiniLM sentence-transformers models, 1,024 for char-CNN-RNN,
    512 for the Universal Sentence Encoder; otherwise 768 (BERT-base). For `onehot` and
    `tokenizer` the size comes from the data: pass `embedding_dim` to `memory_estimate`. Only
    the first layer of each network depends on it (embedding -> conditioning code)."""
    if text.encoder == "word2vec":
        return int(text.word2vec_dim)
    if text.encoder == "glove":
        match = re.search(r"(\d+)d\b", Path(text.glove_path).name)
        return int(match.group(1)) if match else 50
    if text.encoder == "sentence-transformers" and "minilm" in text.model_name.lower():
        return 384
    if text.encoder == "char-cnn-rnn":
        return 1024
    if text.encoder == "tfhub" and "universal-sentence-encoder" in text.hub_handle:
        return 512
    return 768


def memory_estimate(config: RunConfig, batch_sizes=(16, 32, 64, 128), embedding_dim: int | None = None,
                    gpu_bytes: int = COLAB_GPU_BYTES) -> list[dict]:
    """Parameter counts and an estimate of training memory for each batch size.

    Formula (one training step of `StackGANStage2`):
      parameters  P = trainable generator + discriminator weights; the frozen Stage-I adds P1
      fixed       = 16 bytes x P (float32 weight, gradient, two Adam slots) + 4 bytes x P1
                    (+ 2 bytes x P for the float16 weight copies under mixed precision)
      activations = batch x (A_G + 3 x A_D) x bytes x 2
                    A_G, A_D: per-sample layer outputs of generator and discriminator
                    (`activation_elements`); the step holds the generator's activations
                    while the discriminator runs on real, wrong and fake images; bytes is 4
                    (float32) or 2 (mixed_float16); x 2 for the gradients of the same size
                    that the backward pass creates.
    `fits` compares the total with `USABLE_FRACTION` of `gpu_bytes` (default: a 15 GB Colab
    T4). An estimate, not a measurement: cuDNN workspaces and the allocator add to it.
    `embedding_dim` defaults to `expected_embedding_dim(config.text)` (2,048 for a run
    conditioned on Xception features); `train_stage2` passes the real size of the cached embeddings.
    """
    if embedding_dim is None:
        embedding_dim = FEATURE_DIM if config.condition.source == FEATURE_SOURCE else expected_embedding_dim(config.text)

    def count(variables):
        return sum(int(np.prod(variable.shape)) for variable in variables)

    stage1_generator, generator, discriminator = _stage2_networks(config, embedding_dim)
    trainable = count(generator.trainable_variables) + count(discriminator.trainable_variables)
    frozen = count(stage1_generator.variables)
    elements = activation_elements(config.stage2.image_size, config.stage2.generator_width,
                                   config.stage2.discriminator_width, config.model.condition_dim,
                                   config.stage2.num_residual)
    per_sample = elements["generator"] + 3 * elements["discriminator"]
    rows = []
    for batch_size in batch_sizes:
        row = {"batch_size": int(batch_size), "trainable_parameters": trainable, "stage1_parameters": frozen}
        for name, value_bytes, weight_bytes in (("float32", 4, 16), ("mixed_float16", 2, 18)):
            fixed = weight_bytes * trainable + 4 * frozen
            activations = batch_size * per_sample * value_bytes * 2
            row[f"{name}_gib"] = round((fixed + activations) / GIB, 2)
            row[f"{name}_fits"] = fixed + activations <= USABLE_FRACTION * gpu_bytes
        rows.append(row)
    return rows


def format_memory_estimate(rows: list[dict], gpu_bytes: int = COLAB_GPU_BYTES) -> str:
    """A small table of `memory_estimate` rows."""
    first = rows[0]
    lines = [f"Stage-II trainable parameters: {first['trainable_parameters']:,} "
             f"(+ {first['stage1_parameters']:,} frozen Stage-I)",
             f"estimated training memory (GiB; 'fits' = under {USABLE_FRACTION:.0%} of {gpu_bytes / GIB:.0f} GiB):",
             "  batch   float32        mixed_float16"]
    for row in rows:
        float32_fits = "fits" if row["float32_fits"] else "    "
        mixed_fits = "fits" if row["mixed_float16_fits"] else ""
        lines.append(f"  {row['batch_size']:>5}   {row['float32_gib']:>6.2f} {float32_fits}"
                     f"    {row['mixed_float16_gib']:>6.2f} {mixed_fits}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------
def stage2_plan(config: RunConfig, stage1_run_dir) -> GANPlan:
    """What a Stage-II run gives `train_gan`: the stage2 section's size, batch and epochs, the
    frozen generator of `stage1_run_dir` to build on, the paired grid and `evaluate_stage2`."""
    settings = config.stage2

    def load_stage1_generator():
        return stage1.load_generator(stage1_run_dir)[0]

    def build(embedding_dim, steps_per_epoch, stage1_generator, verbose):
        if verbose:
            print(format_memory_estimate(memory_estimate(config, (settings.batch_size,), embedding_dim)))
        return build_stage2(config, stage1_generator, embedding_dim, steps_per_epoch, image_size=settings.image_size)

    return GANPlan(name="Stage-II", run_type="stage2", image_size=settings.image_size, batch_size=settings.batch_size,
                   batch_setting="stage2.batch_size", epochs=settings.epochs, steps_per_epoch=settings.steps_per_epoch,
                   build=build, evaluate=evaluate_stage2, load_base=load_stage1_generator,
                   sample_grid=StackedSampleGrid,
                   extra_metrics={"stage1_run_dir": settings.stage1_run_dir})


def train_stage2(config: RunConfig, run_dir, stage1_run_dir, verbose: int = 1, allow_config_change: bool = False,
                 extra_callbacks=()) -> dict:
    """Train (or resume) Stage-II in `run_dir` on the frozen generator of `stage1_run_dir`.

    Returns the metrics dictionary that is also written to `run_dir/metrics.json`.
    """
    config = stage2_run_config(config.validate(), stage1_run_dir).validate()  # before anything is written
    return train_gan(config, run_dir, stage2_plan(config, stage1_run_dir), verbose, allow_config_change,
                     extra_callbacks)


def evaluate_stage2(generator, config: RunConfig, prepared, embeddings: np.ndarray) -> dict:
    """Shapes fidelity of Stage-II images and of the Stage-I images they refine (same test
    captions, same noise), each scored at its own full size, plus the mismatched baseline."""
    metrics = {"dataset": str(prepared.root), "image_size": config.stage2.image_size,
               "stage1_image_size": config.data.image_size}
    if prepared.attributes is None:
        metrics["fidelity"] = metrics["stage1_fidelity"] = None
        return metrics
    from t2ilib.metrics.fidelity import chance_fidelity, compare_fidelity, shapes_fidelity

    rows, noise = evaluation_rows_and_noise(config, prepared)
    low, high = sample_image_pairs(generator, embeddings[rows], noise, batch_size=32)
    truth = prepared.attributes.loc[rows].reset_index(drop=True)
    mismatched = mismatched_attributes(prepared, rows, config.train.seed)
    metrics["fidelity"] = shapes_fidelity(high, truth)
    metrics["stage1_fidelity"] = shapes_fidelity(low, truth)
    metrics["stage2_minus_stage1"] = compare_fidelity(high, low, truth)  # paired: same captions, same noise
    metrics["fidelity_mismatched_captions"] = shapes_fidelity(high, mismatched)
    metrics["fidelity_chance"] = chance_fidelity()
    metrics["fidelity_samples"] = int(len(rows))
    return metrics


def summarize(metrics: dict) -> str:
    """Stage-I's summary of the Stage-II images, then how they compare with Stage-I's."""
    text = stage1.summarize(metrics)
    paired = metrics.get("stage2_minus_stage1")
    if metrics.get("fidelity") and metrics.get("stage1_fidelity") and paired:
        high, low = metrics["fidelity"]["mean"], metrics["stage1_fidelity"]["mean"]
        verdict = {"better": "Stage-II is better than Stage-I on the caption's attributes",
                   "same within noise": "Stage-II keeps the caption's attributes as well as Stage-I, within noise",
                   "worse": "Stage-II LOSES attributes that Stage-I had right: train Stage-II longer, or go back to "
                            "its best checkpoint (fidelity by epoch in history.csv)"}[paired["verdict"]]
        text += (f"\nStage-II ({metrics['image_size']}px) {high:.3f} vs Stage-I ({metrics['stage1_image_size']}px) "
                 f"{low:.3f} on the same {paired['n']} captions and noise: difference {paired['difference']:+.3f}, "
                 f"95% interval [{paired['low']:+.3f}, {paired['high']:+.3f}]. {verdict}.")
    return text


# ---------------------------------------------------------------------------------------
# Loading and generating
# ---------------------------------------------------------------------------------------
def load_stage2(run_dir, checkpoint_dir: str = "checkpoints"):
    """The Stage-II generator of a run directory at its latest checkpoint (or `checkpoint_dir=
    "best"`: the best epoch kept), with its frozen Stage-I inside, the caption encoder and the config."""
    run_dir = Path(run_dir)
    config = load_run_config(run_dir, checkpoint_dir)
    stage1_generator, encoder, _ = stage1.load_generator(config.stage2.stage1_run_dir)
    gan = build_stage2(config, stage1_generator, stage1_generator.embedding_dim, steps_per_epoch=1,
                       image_size=config.stage2.image_size)
    checkpoint = RunCheckpoint(run_dir / checkpoint_dir, gan_checkpoint_parts(gan))
    if checkpoint.restore_or_initialize() == 0:
        raise FileNotFoundError(f"No checkpoint in {run_dir / checkpoint_dir}: train Stage-II first.")
    return gan.generator, encoder, config


def is_stage2_run(run_dir) -> bool:
    path = Path(run_dir) / "config.json"
    return path.exists() and bool(RunConfig.load(path).stage2.stage1_run_dir)


def generate(run_dir, captions: list[str], stage: int = 2, num_per_caption: int = 1, seed: int = 0):
    """Images for new captions from a run directory.

    stage=1: uint8 (len(captions), num_per_caption, S1, S1, 3) from a Stage-I run, or from the
    Stage-I generator inside a Stage-II run.
    stage=2 (a Stage-II run): the stacked pair `(stage1_images, stage2_images)`, the 64x64 and
    256x256 images for the same captions and noise.
    """
    if stage not in (1, 2):
        raise ValueError(f"stage must be 1 or 2 (got {stage!r}).")
    if not is_stage2_run(run_dir):
        if stage == 2:
            raise ValueError(f"{run_dir} is a Stage-I run; train Stage-II on it (train_stage2) for stage=2.")
        return stage1.generate(run_dir, captions, num_per_caption=num_per_caption, seed=seed)
    generator, encoder, config = load_stage2(run_dir)
    embeddings = encoder.encode(list(captions))
    noise = seeded_noise(seed, (num_per_caption, config.model.noise_dim))
    first, refined = sample_pair_grid(generator, embeddings, noise)
    return first if stage == 1 else (first, refined)
