"""AttnGAN on the kit's one GAN path (`train_gan`): a tiny run on the built-in shapes dataset
with a tiny pretrained DAMSM trains, writes metrics.json, resumes step-exactly on the cached
DAMSM, and refuses other AttnGAN settings or a text encoder that gives no word ids."""

import json
import logging

import pytest

from t2ilib.config import ConfigError
from t2ilib.training.attngan import AttnGANSettings, train_attngan
from t2ilib.training.damsm import DAMSMSettings

TINY_DAMSM = DAMSMSettings(embedding_dim=16, word_dim=8, backbone_size=75, backbone_weights=None, epochs=1,
                           batch_size=16)


@pytest.fixture
def attngan_config(tiny_config):
    """The tiny preset (32 px, 40 shapes images, batch 8, 3 steps an epoch) as an AttnGAN run on word ids."""
    return tiny_config.replace(**{"model.family": "attngan", "text.encoder": "tokenizer", "text.tokenizer_length": 8,
                                  "model.kl_weight": 1.0, "train.epochs": 1})


def test_attngan_trains_resumes_and_refuses_other_settings(attngan_config, tmp_path, caplog):
    settings = AttnGANSettings(damsm=TINY_DAMSM, stages=2)  # 16 and 32 px
    run_dir = tmp_path / "run"
    metrics = train_attngan(attngan_config, run_dir, settings, verbose=0)
    assert metrics["epochs_trained"] == 1 and metrics["optimizer_steps"] == 3
    assert metrics["fidelity"] is not None and "recall@1" in metrics["damsm_retrieval"]
    assert json.loads((run_dir / "attngan.json").read_text())["stages"] == 2
    assert (run_dir / "samples" / "epoch_0001.png").is_file()

    with caplog.at_level(logging.INFO, logger="t2ilib"):  # one more epoch: resumed, the DAMSM loaded from its cache
        metrics = train_attngan(attngan_config.replace(**{"train.epochs": 2}), run_dir, settings, verbose=0)
    assert metrics["epochs_trained"] == 2 and metrics["optimizer_steps"] == 6
    assert "Pretraining the DAMSM" not in caplog.text

    with pytest.raises(ValueError, match="attngan.json was written by a run with other AttnGAN settings"):
        train_attngan(attngan_config, run_dir, AttnGANSettings(damsm=TINY_DAMSM, stages=2, damsm_weight=50.0),
                      verbose=0)
    assert json.loads((run_dir / "attngan.json").read_text())["damsm_weight"] == 5.0


def test_attngan_needs_word_ids_and_a_first_stage_of_8_to_64_px(attngan_config, tmp_path):
    with pytest.raises(ConfigError, match="text.encoder = 'word2vec'"):
        train_attngan(attngan_config.replace(**{"text.encoder": "word2vec"}), tmp_path / "a",
                      AttnGANSettings(damsm=TINY_DAMSM, stages=2))
    with pytest.raises(ConfigError, match="data.image_size = 32 with 4 stages"):  # a first stage of 4 px
        train_attngan(attngan_config, tmp_path / "b", AttnGANSettings(damsm=TINY_DAMSM, stages=4), verbose=0)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_stage1_trainer_sends_attngan_to_its_own_trainer(attngan_config, tmp_path):
    from t2ilib.training.stage1 import build_gan, train_stage1

    with pytest.raises(ConfigError, match="trains with t2ilib.training.attngan.train_attngan"):
        train_stage1(attngan_config, tmp_path / "run", verbose=0)
    with pytest.raises(ConfigError, match="train_attngan"):
        build_gan(attngan_config, 8, steps_per_epoch=1)
    assert not (tmp_path / "run").exists()
