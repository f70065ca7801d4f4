"""AttnGAN runs (`model.family = "attngan"`, `t2ilib.models.attngan`) on the kit's one GAN path.

    config = preset("tiny").replace(**{"model.family": "attngan", "text.encoder": "tokenizer",
                                       "attngan.stages": 2, "damsm.epochs": 1})
    metrics = train_attngan(config, run_dir)        # again: resumes from the last checkpoint

(`train_stage1` and `python -m t2ilib train --set model.family=attngan ...` send such a config
here.) Like StackGAN Stage-I and DF-GAN it trains through `t2ilib.training.gan.train_gan` (run
folder, data stream, callbacks, checkpoints, step-exact resume, metrics.json); what is AttnGAN's
own is here, in `attngan_plan`:

- its settings are the run config's `attngan` and `damsm` sections (in config.json, compared on
  resume by `t2ilib.config.resume_changes` for run type "attngan"); the rules between them and
  the other sections (word ids, the first stage's size) are in `RunConfig.validate`;
- the captions are word ids: `text.encoder` "tokenizer" (`text.tokenizer_length` words a
  caption), and the pretrained DAMSM (`t2ilib.training.damsm.damsm_for`, cached per dataset) is
  fitted with the same vocabulary settings, so its ids are the run's (checked before building);
- the DAMSM is loaded (or pretrained) before the seed is set, as Stage-II loads its Stage-I;
  its text encoder sits, frozen, in front of the generator (`AttnGANSampler`), its image encoder
  in the DAMSM loss; both are in the run's checkpoints, so a run keeps its own encoders (and
  `load_attngan` needs no DAMSM cache, nor its ImageNet weights, to load a run);
- `data.image_size` is the last stage's size; `attngan.stages` stages halve it back to the
  first (official: 3 stages, 64 -> 256 px); widths, noise and condition sizes and the KL weight
  come from the model section (official gf 32, df 64, noise 100, condition 100, KL 1), Adam's
  settings from the train section (official 2e-4, betas 0.5 and 0.999, for G and every D).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import tensorflow as tf

from t2ilib.acceleration import make_strategy, precision_policy, resolve_jit_compile, wrap_optimizer
from t2ilib.config import ATTNGAN_FAMILY, ConfigError, RunConfig
from t2ilib.models.attngan import AttnGAN, AttnGANDiscriminator, AttnGANDiscriminators, AttnGANGenerator, AttnGANSampler
from t2ilib.models.stackgan import learning_rate_schedule
from t2ilib.training.checkpoints import RunCheckpoint, gan_checkpoint_parts
from t2ilib.training.damsm import DAMSMSettings, build_damsm, damsm_for, make_tokenizer
from t2ilib.training.gan import GANPlan, evaluate_stage1, resolved_paths, train_gan

OLD_SETTINGS_NAME = "attngan.json"  # where a first version kept the attngan section; refused, with advice


def damsm_settings_for(config: RunConfig) -> DAMSMSettings:
    """The DAMSM settings of a run: its damsm section, with the vocabulary settings of the text
    section (the run's word ids)."""
    return DAMSMSettings(**dataclasses.asdict(config.damsm), words_per_caption=config.text.tokenizer_length,
                         min_count=config.text.vocabulary_min_count, lemmatize=config.text.lemmatize)


def base_size(config: RunConfig) -> int:
    """The first stage's image side: data.image_size / 2^(attngan.stages - 1)."""
    return config.data.image_size // 2 ** (config.attngan.stages - 1)


def build_attngan(config: RunConfig, damsm, steps_per_epoch: int, strategy=None) -> AttnGAN:
    """The compiled AttnGAN on a pretrained `damsm` (`t2ilib.training.damsm.load_damsm`), every
    weight and optimizer slot created, in the configured precision and strategy."""
    model, train = config.model, config.train
    with (strategy or tf.distribute.get_strategy()).scope(), precision_policy(train.mixed_precision):
        generator = AttnGANGenerator(damsm.text_encoder.embedding_dim, base_size=base_size(config),
                                     stages=config.attngan.stages, generator_width=model.generator_width,
                                     noise_dim=model.noise_dim, condition_dim=model.condition_dim,
                                     residual_blocks=config.attngan.residual_blocks, seed=train.seed + 2, name="generator")
        sampler = AttnGANSampler(damsm.text_encoder, generator, words=config.text.tokenizer_length, name="sampler")
        discriminators = AttnGANDiscriminators(
            [AttnGANDiscriminator(damsm.text_encoder.embedding_dim, image_size=size, base_size=generator.base_size,
                                  discriminator_width=model.discriminator_width, name=f"discriminator_{size}")
             for size in generator.image_sizes], name="discriminators")
        gan = AttnGAN(sampler, discriminators, damsm.image_encoder, damsm_weight=config.attngan.damsm_weight,
                      kl_weight=model.kl_weight, seed=train.seed + 1, name="attngan")

        def optimizer():
            schedule = learning_rate_schedule(train.learning_rate, steps_per_epoch, train.lr_decay_epochs)
            return wrap_optimizer(keras.optimizers.Adam(learning_rate=schedule, beta_1=train.beta_1,
                                                        beta_2=train.beta_2), train.mixed_precision)

        gan.compile(d_optimizer=optimizer(), g_optimizer=optimizer(),
                    jit_compile=resolve_jit_compile(train.jit_compile, ATTNGAN_FAMILY))
        return gan.build_all()


def attngan_plan(config: RunConfig, verbose: int = 1) -> GANPlan:
    """What an AttnGAN run gives `train_gan`: the DAMSM as its base (pretrained when not cached,
    its vocabulary checked against the run's tokenizer), `build_attngan`, `evaluate_stage1`, and
    the DAMSM's retrieval check in metrics.json."""
    damsm_settings = damsm_settings_for(config)
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
        return build_attngan(config, damsm, steps_per_epoch, strategy=make_strategy(config.train.strategy))

    return GANPlan(name="AttnGAN", run_type="attngan", image_size=config.data.image_size,
                   batch_size=config.train.batch_size, batch_setting="train.batch_size", epochs=config.train.epochs,
                   steps_per_epoch=config.train.steps_per_epoch, build=build, evaluate=evaluate_stage1,
                   load_base=load_base, extra_metrics=extra_metrics)


def train_attngan(config: RunConfig, run_dir, verbose: int = 1, allow_config_change: bool = False,
                  extra_callbacks=()) -> dict:
    """Pretrain (or load) the DAMSM, then train (or resume) AttnGAN with `fit`, and evaluate.
    Returns the metrics dictionary that is also written to `run_dir/metrics.json`."""
    config = resolved_paths(config.validate())  # the attngan rules too (RunConfig.validate)
    if config.model.family != ATTNGAN_FAMILY:
        raise ConfigError(f"model.family = {config.model.family!r} (expected {ATTNGAN_FAMILY!r} for train_attngan; "
                          "train_stage1 trains every family). Nothing was written.")
    old = Path(run_dir) / OLD_SETTINGS_NAME
    if old.is_file():
        raise ValueError(f"{old} was written by an earlier version of the kit, which kept AttnGAN's settings there; "
                         "they are now the attngan and damsm sections of config.json. Start a new run directory "
                         "(that run's checkpoints were made with those settings).")
    return train_gan(config, run_dir, attngan_plan(config, verbose), verbose, allow_config_change, extra_callbacks)


def load_attngan(config: RunConfig, vocabulary_size: int, checkpoint_dir) -> AttnGAN:
    """The AttnGAN of a run at its checkpoint in `checkpoint_dir`: every network, the DAMSM pair
    included, comes from the checkpoint, so it is built on an untrained DAMSM of the run's
    settings (random backbone: no download, no DAMSM cache) of `vocabulary_size` word ids."""
    settings = dataclasses.replace(damsm_settings_for(config), backbone_weights=None)
    gan = build_attngan(config, build_damsm(settings, vocabulary_size), steps_per_epoch=1)
    checkpoint = RunCheckpoint(Path(checkpoint_dir), gan_checkpoint_parts(gan))
    checkpoint.restore_or_initialize()
    if checkpoint.latest is None:
        raise FileNotFoundError(f"No checkpoint in {checkpoint_dir}: train first.")
    return gan
