"""One config mechanism for every run type: every knob in one place, saved beside the run.

Sections are dataclasses, each read by name: `RunConfig` holds data, text, condition, model,
train, stage2, attngan and damsm (a GAN run's `config.json`: Stage-I and DF-GAN read the first
five, Stage-II those and stage2, AttnGAN (`model.family` "attngan") those and attngan and damsm;
`condition.source` says what the networks are conditioned on, the caption's embedding by
the `text` section's encoder or the image's Xception feature);
`VAEConfig` is the section a GloVe VAE run reads (its `vae_config.json`), `MapperConfig` the
text-to-feature mapper's (inside its `mapper.json`). For all of them alike: `section_from_dict`
refuses an unknown key with a `ConfigError`, `setting_problems` checks every field against its
type and its rule (RunConfig's in the `ALLOWED` table below, the VAE's and the mapper's on their
fields, as the attngan and damsm sections': `allowed(...)`), and `resume_changes` is the one resume check, driven by one
declaration per run type in `RUN_TYPES` (the sections it reads, the settings that may change
when it resumes).

Presets:
- `tiny`: CPU tests, seconds. Tiny widths, 32x32 images.
- `quickstart`: DF-GAN on the built-in shapes dataset, a 2-core CPU in about 10 minutes, 32x32 images.
- `quickstart-stackgan`: StackGAN Stage-I in the same budget (the quickstart before DF-GAN).
- `quickstart-attngan`: AttnGAN with a small DAMSM, one attention stage (32 -> 64 px), on a 2-core CPU.
- `colab`: the StackGAN+BERT report's best setting (seed 000): BERT sentence embeddings,
  batch 128, Adam 2e-4, LeakyReLU in the generator's last hidden layer, official widths.
- `official`: the StackGAN paper (Zhang et al. 2017): batch 64, Adam 2e-4 for both networks,
  lr halved every 50 epochs (official TF code), 600 epochs.

Each preset also has Stage-II settings (`stage2`: 4x the Stage-I size; 128 for tiny and
quickstart, 256 for colab and official).

A config is plain data: `RunConfig.to_dict()` / `RunConfig.from_dict()` round-trip through JSON
(a config.json written before a section or key existed loads with the defaults for it; one
written before the condition section, with text.encoder "xception-features" and text.feature_*,
loads with those settings in the condition section).

Validation (`RunConfig.validate()`, run by every trainer and the CLI before anything is written):
every field's type is checked from its annotation (a new field gets this for free); its range or
allowed values come from `ALLOWED` below, or from the field itself:
`new_knob: int = field(default=3, metadata=allowed(at_least(1)))`. Rules that need several
fields are in `RunConfig.validate`; `check_batch_fits` needs the prepared data. Errors are
`ConfigError` (a ValueError) naming the setting, the value given and what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from t2ilib.files import write_text_atomically


@dataclass
class DataConfig:
    dataset: str = "shapes"  # "shapes" (built-in, generated) or a path to a Flickr8k-format folder
    data_dir: str = "t2ilib_data"  # where generated datasets, splits, caches and embeddings go
    # Rebuildable caches (data_dir/prepared/: image caches, caption embeddings, Word2Vec, features, splits) go to
    # cache_dir/prepared/ instead when set, e.g. the Colab VM's local disk while data_dir is on Drive
    # ("": inside data_dir). Everything there is rebuilt, identically, when it is missing.
    cache_dir: str = ""
    split_rule: str = "reports"  # "reports": captions #1-#4 train, #0 -> 90% validation / 10% test; "official": image lists
    image_size: int = 64  # size the generator produces (Stage-I: 64)
    shapes_num_images: int = 600  # size of the built-in dataset
    shapes_seed: int = 0
    augment: bool = True  # resize to 76/64 of image_size, random crop, random horizontal flip
    flip: bool = True


@dataclass
class TextConfig:
    encoder: str = "word2vec"  # "word2vec" (trained here, offline) or "sentence-transformers"
    model_name: str = "bert-base-nli-mean-tokens"  # sentence-transformers model name or local path
    word2vec_dim: int = 128
    word2vec_epochs: int = 50
    batch_size: int = 64  # encoding batch size
    device: str | None = "cpu"  # sentence-transformers' torch device: "cpu", "cuda", or None (its own choice)
    # Further encoders (t2ilib.text.ENCODERS): tokenizer, onehot, tfhub, tfhub-bert, glove, char-cnn-rnn.
    tokenizer_length: int = 20  # "tokenizer": word ids per caption, left-padded with 0
    vocabulary_min_count: int = 1  # "tokenizer"/"onehot": training words seen fewer times count as unknown
    lemmatize: bool = True  # "tokenizer"/"onehot": WordNet lemmas when NLTK's wordnet corpus is installed
    hub_handle: str = "https://tfhub.dev/google/universal-sentence-encoder/4"  # "tfhub": URL or SavedModel folder
    hub_preprocess_handle: str = "https://tfhub.dev/tensorflow/bert_en_uncased_preprocess/3"  # "tfhub-bert"
    hub_bert_handle: str = "https://tfhub.dev/tensorflow/bert_en_uncased_L-12_H-768_A-12/4"  # "tfhub-bert"
    glove_path: str = "t2ilib_data/glove.6B.50d.txt"  # "glove": data_prep/glove.py puts it in the data folder
    glove_pooling: str = "sum"  # "glove": sum (the VAE report) or mean
    char_cnn_rnn_dir: str = ""  # "char-cnn-rnn": StackGAN split folder with char-CNN-RNN-embeddings.pickle


@dataclass
class ConditionConfig:
    """What a GAN's generator and discriminator are conditioned on, one vector per caption row.

    "text": the caption's embedding by the encoder of the `text` section (every run but one).
    "xception-features": the caption's *image*, as its Xception feature vector (the Xception
    baseline, t2ilib.features and t2ilib.training.feature_baseline); such a run reads no
    setting of the `text` section, only the two `feature_*` settings here.
    """

    source: str = "text"  # "text" or "xception-features"
    # source "xception-features" only:
    feature_weights: str | None = "imagenet"  # "imagenet" (Colab), None (random weights: offline checks) or a file
    feature_input_size: int = 299  # Xception's input side (native 299; its minimum, 71, for quick checks)


@dataclass
class ModelConfig:
    condition_dim: int = 128  # Ng, size of the conditioning-augmentation code
    noise_dim: int = 100  # Nz
    generator_width: int = 128  # gf
    discriminator_width: int = 64  # df
    last_activation: str = "relu"  # activation of the generator's last hidden (64x64) block: relu | leaky_relu | selu
    joint_kernel_size: int = 3  # discriminator's image+text conv: 3 (PyTorch port) or 1 (official TF)
    kl_weight: float = 2.0  # weight of KL(N(mu, sigma) || N(0, I)) in the generator loss
    # Which GAN `train_stage1` trains: "stackgan" (Stage-I) or "dfgan" (t2ilib.models.dfgan, one stage).
    # DF-GAN reads noise_dim, generator_width (nf) and discriminator_width (nf); the fields below are its own.
    family: str = "stackgan"
    text_in_seed: bool = False  # dfgan: the 4x4 seed from concat(noise, sentence), not the noise only (official)
    gradient_penalty_weight: float = 2.0  # dfgan: MA-GP weight (official 2)
    gradient_penalty_power: float = 6.0  # dfgan: MA-GP power p of the gradient norm (official 6)
    # dfgan: MA-GP on the first this many real images of each (per-replica) batch, the mean over
    # them standing for the batch's (0 = every image, as the official code): its double backward
    # is a large share of a step. Not in the official DF-GAN.
    gradient_penalty_rows: int = 0
    # stackgan and dfgan: the mismatched term is the hardest of this many other captions of the batch on the real
    # images (hardest-negative mining), not one random wrong image (0: the official loss).
    hard_negatives: int = 0
    # stackgan: "separate" passes real, wrong and fake images through the discriminator one batch
    # each (official code), so its BatchNorm normalises each on its own; "joint": one batch of all
    # three (t2ilib.models.stackgan.StackGANStage1.joint_logits; docs/diagnosis.md (h)).
    discriminator_batch: str = "separate"
    # dfgan: add the projection discriminator's <mean image features, W sentence> to the conditional
    # logit (Miyato & Koyama 2018; not in the official DF-GAN; docs/diagnosis.md (g)).
    projection_head: bool = False
    # dfgan: weight of an image-sentence contrastive term (XMC-GAN; not in the official DF-GAN) in both
    # losses: each real (for D) or generated (for G) image must pick its own caption among the batch's,
    # by the cosine of D's pooled features and the sentence, each mapped to contrastive_dim (0: off).
    contrastive_weight: float = 0.0
    contrastive_dim: int = 64
    contrastive_temperature: float = 0.1


@dataclass
class TrainConfig:
    batch_size: int = 64
    epochs: int = 600
    optimizer: str = "adam"  # adam | rmsprop | adadelta
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    lr_decay_epochs: int = 50  # halve the learning rate every this many epochs (0 = constant)
    seed: int = 0
    checkpoint_every_epochs: int = 1
    max_to_keep: int = 3
    num_sample_captions: int = 8  # rows of the fixed sample grid
    num_sample_noise: int = 6  # columns of the fixed sample grid
    steps_per_epoch: int | None = None  # None = one pass over the training captions
    fidelity_samples: int = 240  # generated images scored by the shapes fidelity metric at the end
    checkpoint_every_steps: int = 0  # also save every this many steps (0 = at epoch ends only); resume is step-exact
    mixed_precision: str = "off"  # off | auto (mixed_float16 on a GPU) | mixed_float16 | mixed_bfloat16
    # XLA for the train step: true, false, or "auto" (StackGAN stages on one device: on; DF-GAN and
    # multi-replica strategies: off). Figures: benchmarks/RESULTS.md; rules: t2ilib.acceleration.
    jit_compile: bool | str = "auto"
    strategy: str = "default"  # default (one device) | mirrored (all local GPUs) | tpu; batch_size is the global batch
    collapse_guard: bool = True  # warn when outputs collapse (t2ilib.training.guards.CollapseGuard)
    stop_on_collapse: bool = False  # ... and stop training when they do
    # Keep run_dir/best/ at the best epoch by this log entry ("" = off). "auto": "fidelity" on the built-in
    # shapes dataset, "r_precision" on any other (t2ilib.training.guards.resolved_best_metric).
    best_metric: str = "auto"
    # Image-text agreement while training (t2ilib.training.agreement): R-precision of generated images for
    # agreement_samples fixed validation captions, judged by the dataset's cached judge, every this many
    # epochs (0 = off) -> history.csv column r_precision.
    agreement_every_epochs: int = 1
    agreement_samples: int = 250
    # model.family "dfgan" only (StackGAN keeps Adam's default beta_2 and one learning rate):
    beta_2: float = 0.999  # Adam beta_2 (DF-GAN: 0.9)
    d_learning_rate: float | None = None  # discriminator's learning rate (None = learning_rate; DF-GAN paper: 4e-4)
    ema_decay: float = 0.0  # sample from an exponential moving average of the generator's weights (0 = off)


@dataclass
class Stage2Config:
    """StackGAN Stage-II (t2ilib.training.stage2): a 4x refiner trained on top of a frozen Stage-I
    run. The data, text and model sections of the run must be those of its Stage-I run (same
    captions, same encoder, same condition size); these are Stage-II's own settings."""

    stage1_run_dir: str = ""  # the Stage-I run it refines; recorded by train_stage2
    image_size: int = 256  # 4x the Stage-I size (64 -> 256; 32 -> 128 in the small presets)
    generator_width: int = 128  # gf of the Stage-II generator
    discriminator_width: int = 64  # df of the Stage-II discriminator
    num_residual: int = 4  # residual blocks between the joint image-text code and the up-blocks (paper: 4)
    batch_size: int = 64  # official; a 15 GB Colab GPU takes 48 with mixed_float16 (preset colab; see stage2.memory_estimate)
    epochs: int = 600
    learning_rate: float = 2e-4  # Adam, beta_1 from the train section
    lr_decay_epochs: int = 50  # halve every this many epochs (0 = constant)
    steps_per_epoch: int | None = None  # None = one pass over the training captions


# ---------------------------------------------------------------------------------------
# What each setting may be. Types come from the annotations above; ranges and choices from here.
# ---------------------------------------------------------------------------------------
class ConfigError(ValueError):
    """A setting that is not allowed: the message names it, the value given and what is allowed."""


@dataclass(frozen=True)
class Allowed:
    """A range (`low`/`high`, inclusive unless `*_open`), a set of `choices`, or powers of two."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple | None = None
    power_of_two: bool = False

    def accepts(self, value) -> bool:
        if self.choices is not None:
            return value in self.choices
        if value is None or isinstance(value, (str, bool)):
            return True  # None and strings are judged by their type alone
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return False
        return not self.power_of_two or (value > 0 and int(value) & (int(value) - 1) == 0)

    def describe(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(json.dumps(choice) for choice in self.choices)
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        text = " and ".join(parts)
        return f"a power of two {text}".strip() if self.power_of_two else text


def at_least(low) -> Allowed:
    return Allowed(low=low)


def above(low) -> Allowed:
    return Allowed(low=low, low_open=True)


def between(low, high, high_open: bool = False) -> Allowed:
    return Allowed(low=low, high=high, high_open=high_open)


def one_of(*choices) -> Allowed:
    return Allowed(choices=tuple(choices))


def power_of_two(low) -> Allowed:
    return Allowed(low=low, power_of_two=True)


def allowed(rule: Allowed) -> dict:
    """`field(default=..., metadata=allowed(at_least(1)))`: a rule declared on the field itself."""
    return {"allowed": rule}


# Names the rest of the kit defines (t2ilib.text.ENCODERS, t2ilib.features.xception.FEATURE_SOURCE,
# t2ilib.acceleration); tests/test_bad_input_cli.py checks that these lists agree.
TEXT_ENCODERS = ("word2vec", "sentence-transformers", "tokenizer", "onehot", "tfhub", "tfhub-bert", "glove",
                 "char-cnn-rnn")
# Each condition source and the settings it reads besides `condition.source` (dotted prefixes): a
# run reads none of another source's settings, so those may differ when it resumes (resume_changes).
CONDITION_SOURCES = {"text": ("text.",), "xception-features": ("condition.feature_",)}
MIXED_PRECISIONS = ("off", "auto", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "tpu")
JIT_COMPILE = (True, False, "auto")

ALLOWED = {
    "data.split_rule": one_of("reports", "official"),
    "data.image_size": power_of_two(8),
    "data.shapes_num_images": at_least(3),  # one image per split
    "data.shapes_seed": at_least(0),
    "text.encoder": one_of(*TEXT_ENCODERS),
    "text.word2vec_dim": at_least(1),
    "text.word2vec_epochs": at_least(1),
    "text.batch_size": at_least(1),
    "text.tokenizer_length": at_least(1),
    "text.vocabulary_min_count": at_least(1),
    "text.glove_pooling": one_of("sum", "mean"),
    "condition.source": one_of(*CONDITION_SOURCES),
    "condition.feature_input_size": at_least(71),
    "model.condition_dim": at_least(1),
    "model.noise_dim": at_least(1),
    "model.generator_width": at_least(1),
    "model.discriminator_width": at_least(1),
    "model.last_activation": one_of("relu", "leaky_relu", "selu"),
    "model.joint_kernel_size": one_of(1, 3),
    "model.kl_weight": at_least(0),
    "model.family": one_of("stackgan", "dfgan"),
    "model.discriminator_batch": one_of("separate", "joint"),
    "model.gradient_penalty_weight": at_least(0),
    "model.gradient_penalty_power": above(0),
    "model.gradient_penalty_rows": at_least(0),
    "model.hard_negatives": at_least(0),
    "model.contrastive_weight": at_least(0),
    "model.contrastive_dim": at_least(1),
    "model.contrastive_temperature": above(0),
    "train.batch_size": at_least(1),
    "train.epochs": at_least(0),
    "train.optimizer": one_of("adam", "rmsprop", "adadelta"),
    "train.learning_rate": above(0),
    "train.beta_1": between(0, 1, high_open=True),
    "train.beta_2": between(0, 1, high_open=True),
    "train.d_learning_rate": above(0),
    "train.ema_decay": between(0, 1, high_open=True),
    "train.lr_decay_epochs": at_least(0),
    "train.seed": at_least(0),
    "train.checkpoint_every_epochs": at_least(1),
    "train.max_to_keep": at_least(1),
    "train.num_sample_captions": at_least(1),
    "train.num_sample_noise": at_least(1),
    "train.steps_per_epoch": at_least(1),
    "train.fidelity_samples": at_least(1),
    "train.agreement_every_epochs": at_least(0),
    "train.agreement_samples": at_least(2),
    "train.checkpoint_every_steps": at_least(0),
    "train.mixed_precision": one_of(*MIXED_PRECISIONS),
    "train.jit_compile": one_of(*JIT_COMPILE),
    "train.strategy": one_of(*STRATEGIES),
    "stage2.image_size": power_of_two(8),
    "stage2.generator_width": at_least(1),
    "stage2.discriminator_width": at_least(1),
    "stage2.num_residual": at_least(0),
    "stage2.batch_size": at_least(1),
    "stage2.epochs": at_least(0),
    "stage2.learning_rate": above(0),
    "stage2.lr_decay_epochs": at_least(0),
    "stage2.steps_per_epoch": at_least(1),
}

ATTNGAN_FAMILY = "attngan"  # model.family of AttnGAN runs (t2ilib.training.attngan); their own sections below
ALLOWED["model.family"] = one_of(*ALLOWED["model.family"].choices, ATTNGAN_FAMILY)

_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string",
               type(None): "null (None)", list: "a list", dict: "a mapping"}


def _options(annotation) -> tuple:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _has_type(value, kind) -> bool:
    if kind is type(None):
        return value is None
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    origin = typing.get_origin(kind) or kind
    return isinstance(value, origin) if isinstance(origin, type) else True


def _type_name(kind) -> str:
    return _TYPE_NAMES.get(typing.get_origin(kind) or kind, getattr(kind, "__name__", str(kind)))


def setting_problems(settings, rules: dict | None = None, prefix: str = "") -> list[str]:
    """'name = value (expected ...)' for every field of the dataclass `settings` (and of the
    dataclasses inside it) whose value has the wrong type or is outside its `Allowed` rule
    (from the field's metadata, else `rules["prefix.name"]`). [] when all is well."""
    rules = ALLOWED if rules is None else rules
    hints = typing.get_type_hints(type(settings))
    problems = []
    for item in dataclasses.fields(settings):
        name, value = f"{prefix}{item.name}", getattr(settings, item.name)
        if dataclasses.is_dataclass(value):
            problems += setting_problems(value, rules, f"{name}.")
            continue
        options = _options(hints[item.name])
        if not any(_has_type(value, kind) for kind in options):
            problems.append(f"{name} = {value!r} (expected {' or '.join(_type_name(kind) for kind in options)})")
            continue
        rule = item.metadata.get("allowed") or rules.get(name)
        if rule is not None and value is not None and not rule.accepts(value):
            declared = [kind for kind in options if kind is not type(None)][0]
            kind = "" if rule.choices is not None or rule.power_of_two else _type_name(declared) + " "
            problems.append(f"{name} = {value!r} (expected {kind}{rule.describe()})")
    return problems


def raise_setting_problems(problems: list[str], how: str = "change it in the config or, on the command line, "
                           "with --set SECTION.KEY=VALUE") -> None:
    """One `ConfigError` listing every problem, or nothing."""
    if problems:
        head = "This setting is not allowed" if len(problems) == 1 else f"{len(problems)} settings are not allowed"
        raise ConfigError(f"{head}: {'; '.join(problems)}. Nothing was written; {how}.")


def check_batch_fits(name: str, batch_size: int, available: int, what: str) -> None:
    """Refuse a batch larger than the `available` items (training captions) it is drawn from."""
    if batch_size > available:
        raise ConfigError(f"This setting is not allowed: {name} = {batch_size} (expected at most {available}, the "
                          f"number of {what}). Nothing was written; lower {name} or use a larger dataset.")


# ---------------------------------------------------------------------------------------
# AttnGAN's sections (in RunConfig; rules on their fields)
# ---------------------------------------------------------------------------------------

@dataclass
class AttnGANConfig:
    """AttnGAN's own settings (`model.family = "attngan"`, t2ilib.training.attngan): the rest are
    the run's other sections (widths, noise and condition sizes and the KL weight from `model`,
    Adam's settings from `train`, the last stage's size from `data.image_size`), its pretrained
    text and image encoders the `damsm` section's. Official: 3 stages, R_NUM 2, lambda 5 (CUB)."""

    stages: int = field(default=3, metadata=allowed(at_least(1)))  # images at data.image_size / 2^(stages - 1), ...
    residual_blocks: int = field(default=2, metadata=allowed(at_least(0)))  # in every later stage (R_NUM)
    damsm_weight: float = field(default=5.0, metadata=allowed(at_least(0)))  # lambda: 5 on CUB, 50 on COCO


@dataclass
class DAMSMConfig:
    """The DAMSM text and image encoders (t2ilib.training.damsm), pretrained once per dataset and
    these settings, and cached; read by AttnGAN runs. Its vocabulary settings (word ids a caption,
    minimum count, lemmas) are the text section's `tokenizer_length`, `vocabulary_min_count` and
    `lemmatize`, so its word ids are the run's. Defaults: the official CUB settings
    (docs/reference.md#attngan-and-damsm)."""

    embedding_dim: int = field(default=256, metadata=allowed(at_least(1)))  # D: word, sentence, region, image
    word_dim: int = field(default=300, metadata=allowed(at_least(1)))  # the word embedding before the LSTM
    backbone_size: int = field(default=299, metadata=allowed(at_least(75)))  # InceptionV3's input side
    backbone_weights: str | None = "imagenet"  # None: random and frozen (offline checks only)
    epochs: int = field(default=600, metadata=allowed(at_least(1)))
    batch_size: int = field(default=48, metadata=allowed(at_least(1)))
    learning_rate: float = field(default=0.002, metadata=allowed(above(0)))
    beta_1: float = field(default=0.5, metadata=allowed(between(0, 1, high_open=True)))
    beta_2: float = field(default=0.999, metadata=allowed(between(0, 1, high_open=True)))
    text_clip_norm: float = field(default=0.25, metadata=allowed(above(0)))  # the text encoder's gradient norm
    dropout: float = field(default=0.5, metadata=allowed(between(0, 1, high_open=True)))
    seed: int = field(default=0, metadata=allowed(at_least(0)))


# ---------------------------------------------------------------------------------------
# The sections of the other run types (rules on the fields themselves: they are not RunConfig's)
# ---------------------------------------------------------------------------------------
@dataclass
class VAEConfig:
    """Every setting of a GloVe VAE run (t2ilib.training.vae), saved as the run's vae_config.json.
    Defaults: the report's training on the built-in shapes data."""

    dataset: str = "shapes"  # "shapes" (built in), "flickr8k" or a Flickr8k-format folder
    data_dir: str = "t2ilib_data"  # datasets, splits, caches, embeddings
    cache_dir: str = ""  # rebuildable caches there instead when set (DataConfig.cache_dir), e.g. local disk on Colab
    shapes_num_images: int = field(default=600, metadata=allowed(at_least(3)))
    shapes_seed: int = field(default=0, metadata=allowed(at_least(0)))
    # see t2ilib.data.flickr8k.assign_splits
    split_rule: str = field(default="reports", metadata=allowed(one_of("reports", "official")))
    glove_path: str | None = None  # glove.6B.50d.txt; None: Word2Vec stand-in (shapes only)
    pooling: str = field(default="sum", metadata=allowed(one_of("sum", "mean")))  # the report summed the word vectors
    # train up to this epoch; raise and re-run to continue
    epochs: int = field(default=10, metadata=allowed(at_least(0)))
    # the report used 1 (a hard-coded reshape); any size works here
    batch_size: int = field(default=32, metadata=allowed(at_least(1)))
    # None: the model's own (report: RMSprop 1e-2 / 1e-3; improved: Adam 1e-3)
    learning_rate: float | None = field(default=None, metadata=allowed(above(0)))
    # None: the model's own (1.0 for every model)
    kl_weight: float | None = field(default=None, metadata=allowed(at_least(0)))
    latent_dim: int = field(default=16, metadata=allowed(at_least(1)))  # improved model only
    seed: int = field(default=0, metadata=allowed(at_least(0)))
    max_to_keep: int = field(default=2, metadata=allowed(at_least(1)))
    # held-out (test split) pairs that the metrics use
    eval_samples: int = field(default=200, metadata=allowed(at_least(1)))

    def data_config(self) -> DataConfig:
        return DataConfig(dataset=self.dataset, data_dir=self.data_dir, cache_dir=self.cache_dir,
                          split_rule=self.split_rule,
                          shapes_num_images=self.shapes_num_images, shapes_seed=self.shapes_seed)

    def validate(self) -> "VAEConfig":
        """`ConfigError` naming every setting that is not allowed (`ALLOWED`'s `vae.*` rules)."""
        problems = setting_problems(self, prefix="vae.")
        if not problems and self.dataset not in ("shapes", "flickr8k") and not Path(self.dataset).is_dir():
            problems.append(f"vae.dataset = {self.dataset!r} (expected 'shapes', 'flickr8k' or a Flickr8k-format "
                            "folder)")
        raise_setting_problems(problems, how="change it in the VAEConfig or the vae-train options")
        return self

    def resolved(self) -> "VAEConfig":
        """Paths made absolute, so vae_config.json works from any working directory."""
        values = dataclasses.asdict(self)
        values["data_dir"] = str(Path(self.data_dir).resolve())
        for key in ("glove_path",) + (("dataset",) if self.dataset not in ("shapes", "flickr8k") else ()):
            if values[key]:
                values[key] = str(Path(values[key]).resolve())
        return VAEConfig(**values)

    @classmethod
    def from_dict(cls, values: dict) -> "VAEConfig":
        """The section from a mapping; an unknown key is a `ConfigError`, as in every section."""
        return section_from_dict(cls, values, "vae")


@dataclass
class MapperConfig:
    """Settings of a text-to-feature mapper (t2ilib.features.mapper), saved in its mapper.json."""

    hidden_units: int = field(default=512, metadata=allowed(at_least(1)))
    hidden_layers: int = field(default=2, metadata=allowed(at_least(0)))
    dropout: float = field(default=0.1, metadata=allowed(between(0, 1, high_open=True)))
    epochs: int = field(default=40, metadata=allowed(at_least(0)))
    batch_size: int = field(default=64, metadata=allowed(at_least(1)))
    learning_rate: float = field(default=1e-3, metadata=allowed(above(0)))
    cosine_weight: float = field(default=1.0, metadata=allowed(at_least(0)))
    mse_weight: float = field(default=1.0, metadata=allowed(at_least(0)))
    seed: int = field(default=0, metadata=allowed(at_least(0)))

    def validate(self) -> "MapperConfig":
        """`ConfigError` naming every setting that is not allowed (`ALLOWED`'s `mapper.*` rules)."""
        raise_setting_problems(setting_problems(self, prefix="mapper."),
                               how="change it in the MapperConfig or the feature-baseline options")
        return self

    @classmethod
    def from_dict(cls, values: dict) -> "MapperConfig":
        return section_from_dict(cls, values, "mapper")


# ---------------------------------------------------------------------------------------
# Resuming: one check for every run type, driven by one declaration per run type
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunType:
    """What a run type reads and what may change when it resumes.

    sections: the config sections its saved settings are compared over (a run's file holds
    these; a GAN run's config.json holds every RunConfig section, but Stage-I reads no stage2).
    may_change: dotted settings that may differ between a run and its resume without changing
    what is trained (more epochs, another data folder, other checkpoint intervals, ...).
    """

    sections: tuple[str, ...]
    may_change: frozenset = frozenset()


_GAN_MAY_CHANGE = frozenset({
    "data.data_dir", "data.cache_dir", "train.epochs", "train.checkpoint_every_epochs", "train.checkpoint_every_steps",
    "train.max_to_keep", "train.fidelity_samples", "train.jit_compile", "train.collapse_guard",
    "train.stop_on_collapse", "train.best_metric", "train.agreement_every_epochs", "train.agreement_samples"})

RUN_TYPES = {
    "stage1": RunType(("data", "text", "condition", "model", "train"), _GAN_MAY_CHANGE),  # StackGAN Stage-I, DF-GAN
    "stage2": RunType(("data", "text", "condition", "model", "train", "stage2"), _GAN_MAY_CHANGE | {"stage2.epochs"}),
    # AttnGAN: the DAMSM's settings too (another DAMSM is another experiment, though its weights are in the checkpoints)
    "attngan": RunType(("data", "text", "condition", "model", "train", "attngan", "damsm"), _GAN_MAY_CHANGE),
    "vae": RunType(("vae",), frozenset({"vae.epochs", "vae.data_dir", "vae.cache_dir", "vae.eval_samples"})),
    # a mapper directory is reused only for exactly its settings (it trains in one go, nothing resumes)
    "mapper": RunType(("mapper", "text", "features", "data")),
}


def _dotted(values: dict, sections) -> dict:
    return {f"{section}.{key}": value for section in sections
            for key, value in (values.get(section) or {}).items()}


def condition_reads(setting: str, source: str) -> bool:
    """Whether a run conditioned on `source` (`condition.source`) reads the dotted `setting`:
    everything but the settings of the other condition sources (`CONDITION_SOURCES`); a
    feature-conditioned run reads no `text.*`, a text-conditioned one no `condition.feature_*`."""
    own = CONDITION_SOURCES.get(source, ())
    others = [prefix for prefixes in CONDITION_SOURCES.values() for prefix in prefixes if prefix not in own]
    return not any(setting.startswith(prefix) for prefix in others)


def _source(values: dict) -> str:
    return (values.get("condition") or {}).get("source", "text")


def resume_changes(run_type: str, path, saved: dict, current: dict, allow_change: bool | None = False,
                   advice: str | None = None) -> list[str]:
    """The one resume check: every setting of `current` in the sections `RUN_TYPES[run_type]`
    reads that differs from `saved` (the run's file at `path`), other than those it declares
    `may_change`, as "section.key: saved A, now B". Raises a ValueError naming `path` unless
    `allow_change` (None: the run type has no such option, and the message offers none; `advice`
    replaces what the message tells to do); a setting the file lacks (an older version wrote
    it) counts as saved None. Of a GAN run (sections with `condition`) only the settings its
    condition source reads are compared (`condition_reads`)."""
    declaration = RUN_TYPES[run_type]
    before, now = _dotted(saved, declaration.sections), _dotted(current, declaration.sections)
    if "condition" in declaration.sections and _source(saved) == _source(current):  # what that source reads
        now = {name: value for name, value in now.items() if condition_reads(name, _source(current))}
    changes = [f"{name}: saved {before.get(name)!r}, now {value!r}" for name, value in now.items()
               if before.get(name) != value and name not in declaration.may_change]
    if changes and not allow_change:
        advice = advice or ("choose a new run directory, or pass allow_config_change=True (CLI: --allow-config-change)"
                            " if you mean it" if allow_change is not None else
                            "choose a new run directory for a new experiment")
        raise ValueError(f"{path} was written by a run with other settings ({'; '.join(changes[:5])}). Resuming "
                         f"would mix two experiments: {advice}.")
    return changes


@dataclass
class RunConfig:
    name: str = "stage1"
    data: DataConfig = field(default_factory=DataConfig)
    text: TextConfig = field(default_factory=TextConfig)
    condition: ConditionConfig = field(default_factory=ConditionConfig)  # text embeddings or image features
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    stage2: Stage2Config = field(default_factory=Stage2Config)  # used by Stage-II runs only
    attngan: AttnGANConfig = field(default_factory=AttnGANConfig)  # used by AttnGAN runs only
    damsm: DAMSMConfig = field(default_factory=DAMSMConfig)  # used by AttnGAN runs only

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        if not isinstance(values, dict):
            raise ConfigError(f"A run config is a mapping of sections; got {type(values).__name__}.")
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"Unknown config sections {sorted(unknown)}; expected name, data, text, condition, model, "
                              "train, stage2, attngan, damsm.")
        values = _condition_from_text_section(values)
        sections = {"data": DataConfig, "text": TextConfig, "condition": ConditionConfig, "model": ModelConfig,
                    "train": TrainConfig, "stage2": Stage2Config, "attngan": AttnGANConfig, "damsm": DAMSMConfig}
        kwargs = {}
        for key, value in values.items():
            if key in sections:
                kwargs[key] = section_from_dict(sections[key], value, key)
            else:
                kwargs[key] = value
        return cls(**kwargs)

    def save(self, path) -> None:
        """Write config.json atomically (a temporary file renamed over it): never half a file."""
        path = Path(path)
        write_text_atomically(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path) -> "RunConfig":
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError, ValueError) as error:
            raise ConfigError(f"{path}: not a valid t2ilib run config ({error}).") from error
        except IsADirectoryError as error:
            raise ConfigError(f"{path} is a folder; expected a run's config.json file.") from error

    def replace(self, **overrides) -> "RunConfig":
        """A copy with dotted overrides, e.g. `config.replace(**{"train.epochs": 5})`."""
        values = self.to_dict()
        for dotted, value in overrides.items():
            if dotted == "text.encoder" and value == FEATURES_AS_TEXT_ENCODER:
                raise ConfigError(f"text.encoder = {value!r}: image features are a condition source, not a text "
                                  f"encoder; set condition.source = {value!r} instead (CLI: --set condition.source={value}).")
            if dotted in _MOVED_TO_CONDITION:
                raise ConfigError(f"Unknown config key {dotted!r}: the image-feature settings are in the condition "
                                  f"section; set {_MOVED_TO_CONDITION[dotted]} instead.")
            section, _, key = dotted.rpartition(".")
            if section and not isinstance(values.get(section), dict):
                raise ConfigError(f"Unknown config key {dotted!r}: there is no section {section!r} (sections: "
                                  f"{', '.join(name for name, item in values.items() if isinstance(item, dict))}).")
            target = values[section] if section else values
            if key not in target:
                raise ConfigError(f"Unknown config key {dotted!r}; the keys of {section or 'the top level'} are: "
                                  f"{', '.join(sorted(target))}.")
            if isinstance(target[key], dict):
                raise ConfigError(f"{dotted!r} is a whole config section; set one of its keys, e.g. {dotted}.epochs.")
            target[key] = value
        return RunConfig.from_dict(values)

    def validate(self, check_paths: bool = True) -> "RunConfig":
        """Raise `ConfigError` naming every setting that is not allowed (type, range, choices and
        the rules between settings); `check_paths`: a dataset folder must exist, a data folder
        must not be a file. Returns the config, so `config.validate()` can be chained."""
        problems = setting_problems(self)
        if not problems:  # rules between settings, once each setting is of the right kind
            if self.train.collapse_guard and self.train.num_sample_captions < 2:
                problems.append(f"train.num_sample_captions = {self.train.num_sample_captions} (expected >= 2 while "
                                "train.collapse_guard is true: the guard compares captions)")
            if self.model.hard_negatives >= self.train.batch_size:
                problems.append(f"model.hard_negatives = {self.model.hard_negatives} (expected < train.batch_size = "
                                f"{self.train.batch_size}: the other captions come from the same batch)")
            if self.train.best_metric in ("r_precision", "real_r_precision") and not self.train.agreement_every_epochs:
                problems.append(f"train.best_metric = {self.train.best_metric!r} (expected another log entry while "
                                "train.agreement_every_epochs = 0: nothing measures it; set it to 1)")
            if self.model.family == ATTNGAN_FAMILY:
                problems += attngan_problems(self)
        if check_paths and isinstance(self.data.dataset, str) and self.data.dataset not in ("shapes", "flickr8k"):
            folder = Path(self.data.dataset)
            if not folder.is_dir():
                state = "is a file" if folder.exists() else "does not exist"
                problems.append(f"data.dataset = {self.data.dataset!r} (expected 'shapes', 'flickr8k' or a "
                                f"Flickr8k-format folder; that path {state})")
        if check_paths and isinstance(self.data.data_dir, str) and Path(self.data.data_dir).is_file():
            problems.append(f"data.data_dir = {self.data.data_dir!r} (expected a folder; that path is a file)")
        raise_setting_problems(problems)
        return self

    def parse_setting(self, item: str) -> tuple[str, object]:
        """'section.key=value' (the CLI's --set) -> (key, value): text for string settings, JSON
        (numbers, true/false, null, lists) for the others; what does not parse is kept as text
        and then judged by `validate`."""
        dotted, equals, text = item.partition("=")
        if not equals or not dotted.strip():
            raise ConfigError(f"--set {item!r}: write SECTION.KEY=VALUE, e.g. --set train.batch_size=32.")
        dotted = dotted.strip()
        self.replace(**{dotted: None})  # ConfigError for an unknown key
        section_name, _, key = dotted.rpartition(".")
        section = getattr(self, section_name) if section_name else self
        kinds = _options(typing.get_type_hints(type(section))[key])
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            return dotted, text
        # A string setting keeps the text ("1e-4" stays a name), unless the JSON value is another
        # type the setting allows: null for `str | None`, true/false for jit_compile's `bool | str`.
        if str in kinds and not any(kind is not str and _has_type(parsed, kind) for kind in kinds):
            return dotted, text
        return dotted, parsed


def attngan_problems(config: "RunConfig") -> list[str]:
    """The rules between settings of an AttnGAN run (`model.family = "attngan"`)."""
    problems = []
    if config.condition.source != "text":
        problems.append(f"condition.source = {config.condition.source!r} (expected 'text' with model.family = "
                        "'attngan': it attends over the caption's words)")
    elif config.text.encoder != "tokenizer":
        problems.append(f"text.encoder = {config.text.encoder!r} (expected 'tokenizer' with model.family = 'attngan': "
                        "it reads word ids, through its pretrained DAMSM text encoder)")
    first = config.data.image_size / 2 ** (config.attngan.stages - 1)
    if first < 8 or first > 64 or first != int(first):  # data.image_size is a power of two
        problems.append(f"data.image_size = {config.data.image_size} with attngan.stages = {config.attngan.stages} "
                        "(expected a first stage of 8 to 64 px: data.image_size / 2^(attngan.stages - 1); official "
                        "256 px and 3 stages)")
    return problems


# Before the condition section existed, image features were configured as a text encoder
# (text.encoder "xception-features", text.feature_weights, text.feature_input_size).
FEATURES_AS_TEXT_ENCODER = "xception-features"
_MOVED_TO_CONDITION = {"text.feature_weights": "condition.feature_weights",
                       "text.feature_input_size": "condition.feature_input_size"}


def _condition_from_text_section(values: dict) -> dict:
    """A run config written before the `condition` section (its `text` section holds feature_*
    keys, and text.encoder "xception-features" for a feature-conditioned run) in today's form:
    those settings moved to `condition`, and the text encoder of a feature-conditioned run (which
    it never read) set to the default. `values` itself is not changed."""
    text = values.get("text")
    moved = [key for key in _MOVED_TO_CONDITION if isinstance(text, dict) and key.split(".")[1] in text]
    features = isinstance(text, dict) and text.get("encoder") == FEATURES_AS_TEXT_ENCODER
    if not (moved or features):
        return values
    if "condition" in values:
        raise ConfigError(f"This config has a condition section and the settings that moved into it "
                          f"({', '.join(moved + ['text.encoder'] * features)}); keep only the condition section's "
                          f"(condition.source, condition.feature_weights, condition.feature_input_size).")
    text = dict(text)
    condition = {_MOVED_TO_CONDITION[key].split(".")[1]: text.pop(key.split(".")[1]) for key in moved}
    if features:
        condition["source"] = FEATURES_AS_TEXT_ENCODER
        text["encoder"] = TextConfig.encoder  # never read by a feature-conditioned run
    return {**values, "text": text, "condition": condition}


def section_from_dict(section_cls, values: dict, section_name: str):
    """A config section (`DataConfig`, ..., `VAEConfig`, `MapperConfig`) from a mapping read from a
    file: a `ConfigError` for a value that is not a mapping and for an unknown key."""
    if not isinstance(values, dict):
        raise ConfigError(f"Config section {section_name!r} must be a mapping of keys to values; got {values!r}.")
    known = {f.name for f in dataclasses.fields(section_cls)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"Unknown keys {sorted(unknown)} in config section {section_name!r}; known keys: {sorted(known)}.")
    return section_cls(**values)


def preset(name: str) -> RunConfig:
    """Return a fresh RunConfig for a named preset (one of PRESETS)."""
    if name == "tiny":
        return RunConfig(
            name="tiny",
            data=DataConfig(image_size=32, shapes_num_images=40),
            text=TextConfig(word2vec_dim=16, word2vec_epochs=5),
            model=ModelConfig(condition_dim=8, noise_dim=8, generator_width=8, discriminator_width=8),
            # XLA off: the tests build many tiny models, and compiling each would cost more than it trains.
            # No agreement score (train.agreement_every_epochs 0): a judge per test's data folder would cost
            # seconds in every test that trains; the tests of t2ilib.training.agreement turn it on.
            train=TrainConfig(batch_size=8, epochs=2, steps_per_epoch=3, lr_decay_epochs=0, jit_compile=False,
                              num_sample_captions=4, num_sample_noise=3, fidelity_samples=16,
                              agreement_every_epochs=0),
            stage2=Stage2Config(image_size=128, generator_width=8, discriminator_width=8, batch_size=4, epochs=2,
                                steps_per_epoch=2, lr_decay_epochs=0),
        )
    if name == "quickstart":
        # DF-GAN (model.family "dfgan") sized for a 2-core CPU in about 10 minutes: 32x32 images,
        # the sentence in the 4x4 seed as well as in every fusion block, nf 16 for both networks,
        # Adam (0, 0.9) at 8e-4 for both, samples from the generator's weight average (EMA 0.995).
        # Against the first recipe (D nf 8, 2e-4) the wider D and the higher rate bring colour and
        # position; the shape words need more: the mismatched term is the hardest of 4 other
        # captions of the batch (hard_negatives), and batch 8 (26 epochs, 7,800 steps): shape
        # arrived after ~20 epochs at batch 8, ~26 at 16, ~38 at 32. MA-GP on 2 of the 8 real
        # images (its double backward is a large share of a step), XLA (train.jit_compile auto).
        # Measured figures: benchmarks/RESULTS.md, "Learning: DF-GAN" and "Shape within the budget".
        return RunConfig(
            name="quickstart",
            data=DataConfig(image_size=32, shapes_num_images=600),
            text=TextConfig(encoder="onehot"),
            model=ModelConfig(family="dfgan", condition_dim=32, noise_dim=32, generator_width=16, discriminator_width=16,
                              text_in_seed=True, hard_negatives=4, gradient_penalty_rows=2),
            train=TrainConfig(batch_size=8, epochs=26, learning_rate=8e-4, beta_1=0.0, beta_2=0.9, lr_decay_epochs=0,
                              ema_decay=0.995),
            stage2=Stage2Config(image_size=128, generator_width=32, discriminator_width=16, batch_size=16, epochs=10,
                                lr_decay_epochs=0),
        )
    if name == "quickstart-stackgan":
        # StackGAN Stage-I (architecture unchanged) sized for a 2-core CPU in about 10 minutes: 32x32
        # images (Stage-I proper is 64x64, see `colab`/`official`), narrow networks, 3,750 steps.
        # The recipe (issue 14, benchmarks/RESULTS.md "StackGAN: one discriminator batch"): one-hot
        # captions, a small KL weight, Adam 4e-4, and real, wrong and fake images through the
        # discriminator as one batch, so its BatchNorm does not hide the text (docs/diagnosis.md (h)).
        return RunConfig(
            name="quickstart-stackgan",
            data=DataConfig(image_size=32, shapes_num_images=600),
            text=TextConfig(encoder="onehot"),
            model=ModelConfig(condition_dim=32, noise_dim=16, generator_width=16, discriminator_width=16,
                              kl_weight=0.02, discriminator_batch="joint"),
            train=TrainConfig(batch_size=32, epochs=50, learning_rate=4e-4, lr_decay_epochs=0),
            # Stage-II gf 32, not 16: at gf 16 its last up-block has 4 channels and one run died to flat
            # gray within an epoch (fidelity 0.07, D winning); at gf 32 it reached 0.42 after 3 epochs.
            stage2=Stage2Config(image_size=128, generator_width=32, discriminator_width=16, batch_size=16, epochs=10,
                                lr_decay_epochs=0),
        )
    if name == "quickstart-attngan":
        # AttnGAN (model.family "attngan") on the built-in shapes dataset, sized for a 2-core CPU: one
        # attention stage (a 32 px first stage, 64 px images), gf 16 / df 16, noise and condition 32,
        # KL 1, Adam 2e-4 (0.5, 0.999) as the official code; a small DAMSM (D 64, words 64) on a
        # random, frozen 75 px InceptionV3 (no download; --set damsm.backbone_weights=imagenet for
        # the paper's, 90 MB). Not tuned on the shapes data. Measured: benchmarks/RESULTS.md.
        return RunConfig(
            name="quickstart-attngan",
            data=DataConfig(image_size=64, shapes_num_images=600),
            text=TextConfig(encoder="tokenizer", tokenizer_length=12),
            model=ModelConfig(family="attngan", condition_dim=32, noise_dim=32, generator_width=16,
                              discriminator_width=16, kl_weight=1.0),
            # 8 epochs (600 steps, ~80 CPU s each: every step runs the 75 px backbone forward and
            # backward for the DAMSM loss) and 10 DAMSM epochs (~6 s each): about the other quickstarts'
            # 10 CPU minutes; no per-epoch agreement score (a judge to train).
            train=TrainConfig(batch_size=32, epochs=8, learning_rate=2e-4, lr_decay_epochs=0, agreement_every_epochs=0),
            attngan=AttnGANConfig(stages=2),
            damsm=DAMSMConfig(embedding_dim=64, word_dim=64, backbone_size=75, backbone_weights=None, epochs=10,
                              batch_size=48),
        )
    if name == "colab":
        return RunConfig(
            name="colab",
            data=DataConfig(dataset="flickr8k", image_size=64),
            text=TextConfig(encoder="sentence-transformers", model_name="bert-base-nli-mean-tokens", device=None),
            model=ModelConfig(last_activation="leaky_relu"),
            # mixed_float16 on Colab's GPU (auto), a step-exact checkpoint every 500 batches as well as
            # at each epoch end, so a runtime reset loses minutes, not an epoch. One checkpoint kept
            # (plus best/): each is written completely before the older one is removed, and Drive's
            # space is small (a Stage-II checkpoint is 1.2 GB; see benchmarks/RESULTS.md, Drive budget).
            train=TrainConfig(batch_size=128, epochs=600, learning_rate=2e-4, lr_decay_epochs=50,
                              mixed_precision="auto", checkpoint_every_steps=500, max_to_keep=1),
            # Stage-II at 256x256, official widths, mixed_float16: batch 48 is ~9.3 GiB by
            # stage2.memory_estimate, inside the 11.25 GiB budget of a 15 GB T4 with room for cuDNN
            # workspaces (float32 would fit only batch 24, ~9.2 GiB; batch 56 mixed is 10.6 GiB).
            stage2=Stage2Config(batch_size=48, epochs=600, learning_rate=2e-4, lr_decay_epochs=50),
        )
    if name == "official":
        return RunConfig(
            name="official",
            data=DataConfig(dataset="flickr8k", image_size=64),
            text=TextConfig(encoder="sentence-transformers", model_name="bert-base-nli-mean-tokens", device=None),
            model=ModelConfig(),
            train=TrainConfig(batch_size=64, epochs=600, learning_rate=2e-4, lr_decay_epochs=50),
            stage2=Stage2Config(batch_size=64, epochs=600, learning_rate=2e-4, lr_decay_epochs=50),
        )
    raise ValueError(f"Unknown preset {name!r}; choose one of: {', '.join(PRESETS)}.")


PRESETS = ("tiny", "quickstart", "quickstart-stackgan", "quickstart-attngan", "colab", "official")
