"""AttnGAN on the kit's one GAN path (`train_gan`): a tiny run on the built-in shapes dataset
with a tiny pretrained DAMSM trains, writes metrics.json, resumes step-exactly on the cached
DAMSM, and refuses other AttnGAN settings (config.json's attngan and damsm sections, one resume
check) or a text encoder that gives no word ids; `train_stage1` and `load_generator` treat it like
every family."""

import json
import logging

import numpy as np
import pytest

from t2ilib.config import ConfigError
from t2ilib.training.attngan import train_attngan

# A DAMSM small enough for seconds of CPU (random, frozen 75 px backbone), and 2 stages (16 and 32 px).
TINY_ATTNGAN = {"damsm.embedding_dim": 16, "damsm.word_dim": 8, "damsm.backbone_size": 75,
                "damsm.backbone_weights": None, "damsm.epochs": 1, "damsm.batch_size": 16, "attngan.stages": 2}


@pytest.fixture
def attngan_config(tiny_config):
    """The tiny preset (32 px, 40 shapes images, batch 8, 3 steps an epoch) as an AttnGAN run on word ids."""
    return tiny_config.replace(**{"model.family": "attngan", "text.encoder": "tokenizer", "text.tokenizer_length": 8,
                                  "model.kl_weight": 1.0, "train.epochs": 1, **TINY_ATTNGAN})


def test_attngan_trains_resumes_and_refuses_other_settings(attngan_config, tmp_path, caplog):
    from t2ilib.training.stage1 import generate, load_generator, train_stage1

    run_dir = tmp_path / "run"
    metrics = train_stage1(attngan_config, run_dir, verbose=0)  # sent to train_attngan
    assert metrics["epochs_trained"] == 1 and metrics["optimizer_steps"] == 3
    assert metrics["fidelity"] is not None and "recall@1" in metrics["damsm_retrieval"]
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["attngan"]["stages"] == 2 and saved["damsm"]["embedding_dim"] == 16
    assert not (run_dir / "attngan.json").exists()
    assert (run_dir / "samples" / "epoch_0001.png").is_file()

    sampler, encoder, config = load_generator(run_dir)  # from the checkpoint alone: the DAMSM pair is in it
    assert config.attngan.stages == 2 and sampler.image_size == 32
    images = generate(run_dir, ["a red circle at the top on a black background"], num_per_caption=2)
    assert images.shape == (1, 2, 32, 32, 3) and images.dtype == np.uint8

    with caplog.at_level(logging.INFO, logger="t2ilib"):  # one more epoch: resumed, the DAMSM loaded from its cache
        metrics = train_attngan(attngan_config.replace(**{"train.epochs": 2}), run_dir, verbose=0)
    assert metrics["epochs_trained"] == 2 and metrics["optimizer_steps"] == 6
    assert "Pretraining the DAMSM" not in caplog.text

    for change in ({"attngan.damsm_weight": 50.0}, {"damsm.learning_rate": 1e-3}):
        with pytest.raises(ValueError, match=f"config.json was written by a run with other settings \\({list(change)[0]}"):
            train_attngan(attngan_config.replace(**{"train.epochs": 2, **change}), run_dir, verbose=0)
    assert json.loads((run_dir / "config.json").read_text())["attngan"]["damsm_weight"] == 5.0


def test_attngan_needs_word_ids_and_a_first_stage_of_8_to_64_px(attngan_config, tmp_path):
    with pytest.raises(ConfigError, match="text.encoder = 'word2vec'"):
        train_attngan(attngan_config.replace(**{"text.encoder": "word2vec"}), tmp_path / "a")
    with pytest.raises(ConfigError, match="data.image_size = 32 with attngan.stages = 4"):  # a first stage of 4 px
        train_attngan(attngan_config.replace(**{"attngan.stages": 4}), tmp_path / "b", verbose=0)
    with pytest.raises(ConfigError, match="attngan.stages = 0 \\(expected an integer >= 1\\)"):
        attngan_config.replace(**{"attngan.stages": 0}).validate()
    with pytest.raises(ConfigError, match="Unknown keys \\['stagez'\\] in config section 'attngan'"):
        type(attngan_config).from_dict({**attngan_config.to_dict(), "attngan": {"stagez": 2}})
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_run_of_the_first_version_with_attngan_json_is_refused(attngan_config, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "attngan.json").write_text("{}")
    with pytest.raises(ValueError, match="attngan.json was written by an earlier version"):
        train_attngan(attngan_config, tmp_path / "run", verbose=0)


def test_build_gan_points_attngan_at_its_builder(attngan_config):
    from t2ilib.training.stage1 import build_gan

    with pytest.raises(ConfigError, match="build_attngan"):
        build_gan(attngan_config, 8, steps_per_epoch=1)
