"""AttnGAN runs (`model.family = "attngan"`, `t2ilib.models.attngan`) on the kit's one GAN path.

    settings = AttnGANSettings(damsm=DAMSMSettings(...), stages=3)
    metrics = train_attngan(config, run_dir, settings)        # again: resumes from the last checkpoint

Like StackGAN Stage-I and DF-GAN it trains through `t2ilib.training.gan.train_gan` (run folder,
data stream, callbacks, checkpoints, step-exact resume, metrics.json); what is AttnGAN's own is
here, in `attngan_plan`:

- the captions are word ids: `text.encoder` must be "tokenizer" (`text.tokenizer_length` words a
  caption), and the pretrained DAMSM (`t2ilib.training.damsm.damsm_for`, cached per dataset) is
  fitted with the same vocabulary settings, so its ids are the run's (checked before building);
- the DAMSM is loaded (or pretrained) before the seed is set, as Stage-II loads its Stage-I;
  its text encoder sits, frozen, in front of the generator (`AttnGANSampler`), its image encoder
  in the DAMSM loss; both are in the run's checkpoints, so a run keeps its own encoders;
- `data.image_size` is the last stage's size; `settings.stages` stages halve it back to the
  first (official: 3 stages, 64 -> 256 px); widths, noise and condition sizes and the KL weight
  come from the model section (official gf 32, df 64, noise 100, condition 100, KL 1), Adam's
  settings from the train section (official 2e-4, betas 0.5 and 0.999, for G and every D).

AttnGAN's own settings are written to `run_dir/attngan.json`; a resume with others is refused
(as `config.json`), unless `allow_config_change`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import keras
import tensorflow as tf

from t2ilib.acceleration import make_strategy, precision_policy, resolve_jit_compile, wrap_optimizer
from t2ilib.config import ATTNGAN_FAMILY, ConfigError, RunConfig
from t2ilib.models.attngan import AttnGAN, AttnGANDiscriminator, AttnGANDiscriminators, AttnGANGenerator, AttnGANSampler
from t2ilib.models.stackgan import learning_rate_schedule
from t2ilib.training.damsm import DAMSMSettings, damsm_for, make_tokenizer
from t2ilib.training.gan import GANPlan, resolved_paths, train_gan
from t2ilib.training.stage1 import evaluate_stage1

SETTINGS_NAME = "attngan.json"


@dataclasses.dataclass(frozen=True)
class AttnGANSettings:
    """AttnGAN's own settings (the rest are the run config's, see the module docstring)."""

    damsm: DAMSMSettings = DAMSMSettings()  # its vocabulary settings are taken from the text section
    stages: int = 3  # images at data.image_size / 2^(stages - 1), ..., data.image_size
    residual_blocks: int = 2  # in every later stage (official R_NUM 2)
    damsm_weight: float = 5.0  # lambda: 5 on CUB, 50 on COCO (official)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "AttnGANSettings":
        values = dict(values)
        return cls(damsm=DAMSMSettings(**values.pop("damsm")), **values)


def damsm_settings_for(config: RunConfig, settings: AttnGANSettings) -> DAMSMSettings:
    """The DAMSM settings of a run: the vocabulary ones from the text section (the run's word ids)."""
    return dataclasses.replace(settings.damsm, words_per_caption=config.text.tokenizer_length,
                               min_count=config.text.vocabulary_min_count, lemmatize=config.text.lemmatize)


def base_size(config: RunConfig, settings: AttnGANSettings) -> int:
    """The first stage's image side: data.image_size / 2^(stages - 1)."""
    return config.data.image_size // 2 ** (settings.stages - 1)


def check_attngan_config(config: RunConfig, settings: AttnGANSettings) -> None:
    """The rules between the run config and AttnGAN's settings, before anything is written."""
    problems = []
    if config.model.family != ATTNGAN_FAMILY:
        problems.append(f"model.family = {config.model.family!r} (expected {ATTNGAN_FAMILY!r} for train_attngan)")
    if config.text.encoder != "tokenizer":
        problems.append(f"text.encoder = {config.text.encoder!r} (expected 'tokenizer': AttnGAN reads word ids, "
                        "through its pretrained DAMSM text encoder)")
    if not isinstance(settings.stages, int) or settings.stages < 1:
        problems.append(f"stages = {settings.stages!r} in AttnGANSettings (expected an integer >= 1; official 3)")
    else:
        first = config.data.image_size / 2 ** (settings.stages - 1)
        if first < 8 or first > 64 or first != int(first) or math.log2(first) != int(math.log2(first)):
            problems.append(f"data.image_size = {config.data.image_size} with {settings.stages} stages (expected a "
                            "first stage of 8 to 64 px: image_size / 2^(stages - 1); official 256 px, 3 stages)")
    if settings.damsm_weight < 0 or settings.residual_blocks < 0:
        problems.append(f"damsm_weight = {settings.damsm_weight}, residual_blocks = {settings.residual_blocks} in "
                        "AttnGANSettings (expected >= 0)")
    if problems:
        head = "This setting is not allowed" if len(problems) == 1 else f"{len(problems)} settings are not allowed"
        raise ConfigError(f"{head}: {'; '.join(problems)}. Nothing was written.")


def build_attngan(config: RunConfig, settings: AttnGANSettings, damsm, steps_per_epoch: int, strategy=None) -> AttnGAN:
    """The compiled AttnGAN on a pretrained `damsm` (`t2ilib.training.damsm.load_damsm`), every
    weight and optimizer slot created, in the configured precision and strategy."""
    model, train = config.model, config.train
    with (strategy or tf.distribute.get_strategy()).scope(), precision_policy(train.mixed_precision):
        generator = AttnGANGenerator(damsm.text_encoder.embedding_dim, base_size=base_size(config, settings),
                                     stages=settings.stages, generator_width=model.generator_width,
                                     noise_dim=model.noise_dim, condition_dim=model.condition_dim,
                                     residual_blocks=settings.residual_blocks, seed=train.seed + 2, name="generator")
        sampler = AttnGANSampler(damsm.text_encoder, generator, words=config.text.tokenizer_length, name="sampler")
        discriminators = AttnGANDiscriminators(
            [AttnGANDiscriminator(damsm.text_encoder.embedding_dim, image_size=size, base_size=generator.base_size,
                                  discriminator_width=model.discriminator_width, name=f"discriminator_{size}")
             for size in generator.image_sizes], name="discriminators")
        gan = AttnGAN(sampler, discriminators, damsm.image_encoder, damsm_weight=settings.damsm_weight,
                      kl_weight=model.kl_weight, seed=train.seed + 1, name="attngan")

        def optimizer():
            schedule = learning_rate_schedule(train.learning_rate, steps_per_epoch, train.lr_decay_epochs)
            return wrap_optimizer(keras.optimizers.Adam(learning_rate=schedule, beta_1=train.beta_1,
                                                        beta_2=train.beta_2), train.mixed_precision)

        gan.compile(d_optimizer=optimizer(), g_optimizer=optimizer(),
                    jit_compile=resolve_jit_compile(train.jit_compile, ATTNGAN_FAMILY))
        return gan.build_all()


def attngan_plan(config: RunConfig, settings: AttnGANSettings, verbose: int = 1) -> GANPlan:
    """What an AttnGAN run gives `train_gan`: the DAMSM as its base (pretrained when not cached,
    its vocabulary checked against the run's tokenizer), `build_attngan`, `evaluate_stage1`, and
    the DAMSM's retrieval check in metrics.json."""
    damsm_settings = damsm_settings_for(config, settings)
    extra_metrics: dict = {}

    def load_base():
        from t2ilib.data.prepare import prepare_data

        damsm = damsm_for(config, damsm_settings, verbose=verbose)  # Keras' progress bar while pretraining
        prepared = prepare_data(config.data, progress=False)
        expected = make_tokenizer(damsm_settings, captions=prepared.split("train")["caption"].tolist())
        if expected.cache_key() != damsm.tokenizer.cache_key():
            raise ValueError(f"The DAMSM in {damsm.meta.get('dataset')} has another vocabulary "
                             f"({damsm.tokenizer.cache_key()}) than this run's tokenizer ({expected.cache_key()}): "
                             "its word ids would mean other words. Delete its damsm/ folder to pretrain it again.")
        extra_metrics["damsm_retrieval"] = damsm.retrieval
        return damsm

    def build(embedding_dim, steps_per_epoch, damsm, verbose):
        if embedding_dim != config.text.tokenizer_length:
            raise ValueError(f"AttnGAN reads {config.text.tokenizer_length} word ids a caption, got {embedding_dim}-d "
                             "caption embeddings: set text.encoder=tokenizer.")
        return build_attngan(config, settings, damsm, steps_per_epoch, strategy=make_strategy(config.train.strategy))

    return GANPlan(name="AttnGAN", run_type="stage1", image_size=config.data.image_size,
                   batch_size=config.train.batch_size, batch_setting="train.batch_size", epochs=config.train.epochs,
                   steps_per_epoch=config.train.steps_per_epoch, build=build, evaluate=evaluate_stage1,
                   load_base=load_base, extra_metrics=extra_metrics)


def check_attngan_settings(run_dir: Path, settings: AttnGANSettings, allow_config_change: bool = False) -> bool:
    """Refuse to resume a run whose `attngan.json` holds other settings (unless
    `allow_config_change`). Returns whether the file is new (to be written)."""
    path = Path(run_dir) / SETTINGS_NAME
    if not path.is_file():
        return True
    saved = json.loads(path.read_text())
    if saved != settings.to_dict():
        changes = [f"{key}: saved {saved.get(key)!r}, now {value!r}" for key, value in settings.to_dict().items()
                   if saved.get(key) != value]
        if not allow_config_change:
            raise ValueError(f"{path} was written by a run with other AttnGAN settings ({'; '.join(changes)}). "
                             "Resuming would mix two experiments: choose a new run directory, or pass "
                             "allow_config_change=True if you mean it.")
        return True
    return False


def train_attngan(config: RunConfig, run_dir, settings: AttnGANSettings = AttnGANSettings(), verbose: int = 1,
                  allow_config_change: bool = False, extra_callbacks=()) -> dict:
    """Pretrain (or load) the DAMSM, then train (or resume) AttnGAN with `fit`, and evaluate.
    Returns the metrics dictionary that is also written to `run_dir/metrics.json`."""
    config = resolved_paths(config.validate())
    check_attngan_config(config, settings)
    run_dir = Path(run_dir)
    existed = run_dir.exists()
    write = check_attngan_settings(run_dir, settings, allow_config_change)
    path = run_dir / SETTINGS_NAME
    previous = path.read_text() if path.is_file() else None
    if write:
        run_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings.to_dict(), indent=2) + "\n")
    try:
        return train_gan(config, run_dir, attngan_plan(config, settings, verbose), verbose, allow_config_change,
                         extra_callbacks)
    except BaseException:
        if write and not (run_dir / "checkpoints").exists():  # a start that fails leaves the folder as it was
            if previous is not None:
                path.write_text(previous)
            else:
                path.unlink(missing_ok=True)
            if not existed and run_dir.is_dir() and not any(run_dir.iterdir()):
                run_dir.rmdir()
        raise
