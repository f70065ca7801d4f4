"""One config object per run: every knob in one place, saved as `config.json` beside the run.

Presets:
- `tiny`: CPU tests, seconds. Tiny widths, 32x32 images.
- `quickstart`: DF-GAN on the built-in shapes dataset, a 2-core CPU in about 10 minutes, 32x32 images.
- `quickstart-stackgan`: StackGAN Stage-I in the same budget (the quickstart before DF-GAN).
- `colab`: the StackGAN+BERT report's best setting (seed 000): BERT sentence embeddings,
  batch 128, Adam 2e-4, LeakyReLU in the generator's last hidden layer, official widths.
- `official`: the StackGAN paper (Zhang et al. 2017): batch 64, Adam 2e-4 for both networks,
  lr halved every 50 epochs (official TF code), 600 epochs.

Each preset also has Stage-II settings (`stage2`: 4x the Stage-I size; 128 for tiny and
quickstart, 256 for colab and official).

A config is plain data: `RunConfig.to_dict()` / `RunConfig.from_dict()` round-trip through JSON.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class DataConfig:
    dataset: str = "shapes"  # "shapes" (built-in, generated) or a path to a Flickr8k-format folder
    data_dir: str = "t2ilib_data"  # where generated datasets, splits, caches and embeddings go
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
    # encoder "xception-features": the condition is the image's Xception feature (t2ilib.features)
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
    jit_compile: bool = False  # compile the train step with XLA
    strategy: str = "default"  # default (one device) | mirrored (all local GPUs) | tpu; batch_size is the global batch
    collapse_guard: bool = True  # warn when outputs collapse (t2ilib.training.guards.CollapseGuard)
    stop_on_collapse: bool = False  # ... and stop training when they do
    best_metric: str = "fidelity"  # keep run_dir/best/ at the best epoch by this log entry ("" = off)
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


@dataclass
class RunConfig:
    name: str = "stage1"
    data: DataConfig = field(default_factory=DataConfig)
    text: TextConfig = field(default_factory=TextConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    stage2: Stage2Config = field(default_factory=Stage2Config)  # used by Stage-II runs only

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"Unknown config sections {sorted(unknown)}; expected name, data, text, model, train, stage2.")
        sections = {"data": DataConfig, "text": TextConfig, "model": ModelConfig, "train": TrainConfig,
                    "stage2": Stage2Config}
        kwargs = {}
        for key, value in values.items():
            if key in sections:
                kwargs[key] = _build_section(sections[key], value, key)
            else:
                kwargs[key] = value
        return cls(**kwargs)

    def save(self, path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path) -> "RunConfig":
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: not a valid t2ilib run config ({error}).") from error

    def replace(self, **overrides) -> "RunConfig":
        """A copy with dotted overrides, e.g. `config.replace(**{"train.epochs": 5})`."""
        values = self.to_dict()
        for dotted, value in overrides.items():
            section, _, key = dotted.rpartition(".")
            target = values[section] if section else values
            if key not in target:
                raise ValueError(f"Unknown config key {dotted!r}.")
            target[key] = value
        return RunConfig.from_dict(values)


def _build_section(section_cls, values: dict, section_name: str):
    known = {f.name for f in dataclasses.fields(section_cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"Unknown keys {sorted(unknown)} in config section {section_name!r}; known keys: {sorted(known)}.")
    return section_cls(**values)


def preset(name: str) -> RunConfig:
    """Return a fresh RunConfig for a named preset (one of PRESETS)."""
    if name == "tiny":
        return RunConfig(
            name="tiny",
            data=DataConfig(image_size=32, shapes_num_images=40),
            text=TextConfig(word2vec_dim=16, word2vec_epochs=5),
            model=ModelConfig(condition_dim=8, noise_dim=8, generator_width=8, discriminator_width=8),
            train=TrainConfig(batch_size=8, epochs=2, steps_per_epoch=3, lr_decay_epochs=0,
                              num_sample_captions=4, num_sample_noise=3, fidelity_samples=16),
            stage2=Stage2Config(image_size=128, generator_width=8, discriminator_width=8, batch_size=4, epochs=2,
                                steps_per_epoch=2, lr_decay_epochs=0),
        )
    if name == "quickstart":
        # DF-GAN (model.family "dfgan") sized for a 2-core CPU in about 10 minutes: 32x32 images,
        # the sentence in the 4x4 seed as well as in every fusion block, Adam (0, 0.9) at 2e-4 for
        # both networks, batch 32, samples from the generator's weight average (EMA 0.995).
        # Measured figures: benchmarks/RESULTS.md, "Learning: DF-GAN".
        return RunConfig(
            name="quickstart",
            data=DataConfig(image_size=32, shapes_num_images=600),
            text=TextConfig(encoder="onehot"),
            model=ModelConfig(family="dfgan", condition_dim=32, noise_dim=32, generator_width=16, discriminator_width=8,
                              text_in_seed=True),
            train=TrainConfig(batch_size=32, epochs=35, learning_rate=2e-4, beta_1=0.0, beta_2=0.9, lr_decay_epochs=0,
                              ema_decay=0.995),
            stage2=Stage2Config(image_size=128, generator_width=32, discriminator_width=16, batch_size=16, epochs=10,
                                lr_decay_epochs=0),
        )
    if name == "quickstart-stackgan":
        # Sized for a 2-core CPU in about 10 minutes: 32x32 images (Stage-I proper is 64x64, see
        # `colab`/`official`), narrow networks, ~3,000 steps. Enough to learn backgrounds and
        # rough blobs that follow the text; shapes need the longer runs.
        return RunConfig(
            name="quickstart-stackgan",
            data=DataConfig(image_size=32, shapes_num_images=600),
            text=TextConfig(word2vec_dim=64, word2vec_epochs=30),
            model=ModelConfig(condition_dim=32, noise_dim=16, generator_width=16, discriminator_width=16),
            train=TrainConfig(batch_size=32, epochs=40, learning_rate=2e-4, lr_decay_epochs=0),
            # Stage-II gf 32, not 16: at gf 16 its last up-block has 4 channels and one run died to flat
            # gray within an epoch (fidelity 0.07, D winning); at gf 32 it reached 0.42 after 3 epochs.
            stage2=Stage2Config(image_size=128, generator_width=32, discriminator_width=16, batch_size=16, epochs=10,
                                lr_decay_epochs=0),
        )
    if name == "colab":
        return RunConfig(
            name="colab",
            data=DataConfig(dataset="flickr8k", image_size=64),
            text=TextConfig(encoder="sentence-transformers", model_name="bert-base-nli-mean-tokens", device=None),
            model=ModelConfig(last_activation="leaky_relu"),
            # mixed_float16 on Colab's GPU (auto), a step-exact checkpoint every 500 batches as well as
            # at each epoch end, so a runtime reset loses minutes, not an epoch.
            train=TrainConfig(batch_size=128, epochs=600, learning_rate=2e-4, lr_decay_epochs=50,
                              mixed_precision="auto", checkpoint_every_steps=500),
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


PRESETS = ("tiny", "quickstart", "quickstart-stackgan", "colab", "official")
