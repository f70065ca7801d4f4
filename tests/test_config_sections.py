"""One config mechanism for every run type (t2ilib.config): named sections with the same
unknown-key error and the same validation, and one resume check driven by `RUN_TYPES`."""

import json

import numpy as np
import pytest

from t2ilib.config import RUN_TYPES, ConfigError, MapperConfig, VAEConfig, preset, resume_changes


def test_the_resume_check_reports_what_the_run_type_reads_and_may_not_change(tmp_path):
    path = tmp_path / "config.json"
    saved = preset("tiny").to_dict()
    current = preset("tiny").replace(**{"train.epochs": 9, "stage2.batch_size": 3, "model.noise_dim": 5}).to_dict()
    # Stage-I reads no stage2 section, and may train longer: only model.noise_dim counts
    with pytest.raises(ValueError) as error:
        resume_changes("stage1", path, saved, current)
    message = str(error.value)
    assert str(path) in message and "model.noise_dim: saved 8, now 5" in message
    assert "allow_config_change=True" in message
    assert "stage2" not in message and "train.epochs" not in message
    assert resume_changes("stage1", path, saved, current, allow_change=True) == ["model.noise_dim: saved 8, now 5"]
    # Stage-II reads its own section too
    assert resume_changes("stage2", path, saved, current, allow_change=True) == [
        "model.noise_dim: saved 8, now 5", "stage2.batch_size: saved 4, now 3"]
    assert resume_changes("stage2", path, saved, preset("tiny").replace(**{"stage2.epochs": 7}).to_dict()) == []
    assert "stage2.epochs" in RUN_TYPES["stage2"].may_change and "stage2.epochs" not in RUN_TYPES["stage1"].may_change



def test_attngan_runs_compare_their_own_sections_on_resume(tmp_path):
    path = tmp_path / "config.json"
    saved = preset("tiny").to_dict()  # an older config.json without the sections loads with their defaults
    assert "attngan" in saved and "damsm" in saved
    del saved["attngan"], saved["damsm"]
    from t2ilib.config import RunConfig

    assert RunConfig.from_dict(saved).attngan.stages == 3
    saved = preset("tiny").to_dict()
    current = preset("tiny").replace(**{"train.epochs": 9, "attngan.damsm_weight": 50.0, "damsm.epochs": 3}).to_dict()
    assert resume_changes("attngan", path, saved, current, allow_change=True) == [
        "attngan.damsm_weight: saved 5.0, now 50.0", "damsm.epochs: saved 600, now 3"]
    assert resume_changes("stage1", path, saved, current) == []  # Stage-I and DF-GAN read neither section
    with pytest.raises(ValueError, match="attngan.damsm_weight: saved 5.0, now 50.0"):
        resume_changes("attngan", path, saved, current)

def test_run_types_without_an_override_say_what_to_do_instead(tmp_path):
    saved = {"vae": {"model": "report2", "epochs": 3, "learning_rate": None}}
    assert resume_changes("vae", tmp_path / "vae_config.json", saved,
                          {"vae": {"model": "report2", "epochs": 30, "learning_rate": None}}, allow_change=None) == []
    with pytest.raises(ValueError, match=r"vae.learning_rate: saved None, now 0.001\). Resuming would mix two "
                                         r"experiments: choose a new run directory for a new experiment\."):
        resume_changes("vae", tmp_path / "vae_config.json", saved,
                       {"vae": {"model": "report2", "epochs": 3, "learning_rate": 1e-3}}, allow_change=None)
    with pytest.raises(ValueError, match="mapper.epochs: saved 40, now 1.*choose another mapper_dir"):
        resume_changes("mapper", tmp_path / "mapper.json", {"mapper": {"epochs": 40}}, {"mapper": {"epochs": 1}},
                       allow_change=None, advice="choose another mapper_dir, or delete that one")


@pytest.mark.parametrize("section, name", [(VAEConfig, "vae"), (MapperConfig, "mapper")])
def test_every_section_refuses_unknown_keys_with_the_same_error(section, name):
    with pytest.raises(ConfigError, match=rf"Unknown keys \['epoch'\] in config section '{name}'"):
        section.from_dict({"epoch": 3})
    assert section.from_dict({"epochs": 3}).epochs == 3


def test_every_section_is_validated_by_the_one_table():
    with pytest.raises(ConfigError, match=r"vae.batch_size = 0 \(expected an integer >= 1\)"):
        VAEConfig(batch_size=0).validate()
    with pytest.raises(ConfigError, match=r"mapper.dropout = 1.5 \(expected a finite number >= 0 and < 1\)"):
        MapperConfig(dropout=1.5).validate()
    with pytest.raises(ConfigError, match=r"mapper.epochs = 'many' \(expected an integer\)"):
        MapperConfig(epochs="many").validate()
    assert VAEConfig().validate() == VAEConfig() and MapperConfig().validate() == MapperConfig()


def test_a_vae_run_file_with_an_unknown_setting_names_the_file_and_what_to_do(tmp_path):
    from t2ilib.training.vae import load_vae

    (tmp_path / "vae_config.json").write_text(json.dumps({"model": "report2", **VAEConfig().__dict__, "colour": 1}))
    with pytest.raises(ConfigError) as error:
        load_vae(tmp_path)
    assert str(tmp_path / "vae_config.json") in str(error.value) and "['colour']" in str(error.value)
    assert "Correct the file, or train into a new run directory" in str(error.value)


def test_stage2_reads_its_widths_and_learning_rate_from_its_own_section(tiny_config):
    from t2ilib.models.stackgan import StageIGenerator
    from t2ilib.models.stackgan2 import build_stage2

    config = tiny_config.replace(**{"stage2.generator_width": 4, "stage2.discriminator_width": 2,
                                    "stage2.learning_rate": 1e-3, "stage2.lr_decay_epochs": 5,
                                    "model.generator_width": 8, "train.learning_rate": 2e-4})
    stage1 = StageIGenerator(16, image_size=32, generator_width=8, condition_dim=8, noise_dim=8, seed=0).build_for()
    gan = build_stage2(config, stage1, embedding_dim=16, steps_per_epoch=2, image_size=128)
    assert gan.generator.generator_width == 4 and gan.discriminator.discriminator_width == 2
    schedule = gan.g_optimizer.learning_rate
    assert np.isclose(float(schedule), 1e-3)
    assert config.model.generator_width == 8  # nothing written into the model section


def test_the_condition_source_is_its_own_section_and_old_config_files_migrate_into_it():
    from t2ilib.config import RunConfig

    config = preset("tiny")
    assert config.condition.source == "text" and not hasattr(config.text, "feature_weights")
    # a config.json of a feature-conditioned run written before the condition section existed
    old = config.to_dict()
    del old["condition"]
    old["text"].update(encoder="xception-features", feature_weights=None, feature_input_size=71)
    migrated = RunConfig.from_dict(old)
    assert (migrated.condition.source, migrated.condition.feature_weights, migrated.condition.feature_input_size) == (
        "xception-features", None, 71)
    assert migrated.text.encoder == "word2vec" and "feature_weights" in old["text"]  # the caller's dict unchanged
    migrated.validate(check_paths=False)
    # ... and of a text run: its feature_* keys move, the encoder stays
    old_text = config.to_dict()
    del old_text["condition"]
    old_text["text"].update(encoder="onehot", feature_weights="imagenet", feature_input_size=299)
    text_run = RunConfig.from_dict(old_text)
    assert text_run.text.encoder == "onehot" and text_run.condition == config.condition
    with pytest.raises(ConfigError, match="has a condition section and the settings that moved into it"):
        RunConfig.from_dict({**old, "condition": {"source": "xception-features"}})
    with pytest.raises(ConfigError, match=r"Unknown keys \['weights'\] in config section 'condition'"):
        RunConfig.from_dict({"condition": {"weights": None}})  # the same unknown-key error as every section
    with pytest.raises(ConfigError, match="not a text encoder; set condition.source = 'xception-features'"):
        config.replace(**{"text.encoder": "xception-features"})
    with pytest.raises(ConfigError, match="set condition.feature_input_size instead"):
        config.replace(**{"text.feature_input_size": 71})
    with pytest.raises(ConfigError, match=r"condition.source = 'pixels' \(expected one of \"text\", \"xception-features\"\)"):
        config.replace(**{"condition.source": "pixels"}).validate(check_paths=False)
    with pytest.raises(ConfigError, match=r"condition.feature_input_size = 32 \(expected an integer >= 71\)"):
        config.replace(**{"condition.feature_input_size": 32}).validate(check_paths=False)
    assert config.parse_setting("condition.source=xception-features") == ("condition.source", "xception-features")


def test_a_gan_resume_compares_only_what_its_condition_source_reads(tmp_path):
    path = tmp_path / "config.json"
    text_run = preset("tiny")
    feature_run = text_run.replace(**{"condition.source": "xception-features", "condition.feature_weights": None})
    # a text run reads no condition.feature_*; a feature run no text.*
    assert resume_changes("stage1", path, text_run.to_dict(),
                          text_run.replace(**{"condition.feature_input_size": 71}).to_dict()) == []
    assert resume_changes("stage2", path, feature_run.to_dict(),
                          feature_run.replace(**{"text.encoder": "onehot"}).to_dict()) == []
    with pytest.raises(ValueError, match="condition.feature_input_size: saved 299, now 71"):
        resume_changes("stage1", path, feature_run.to_dict(),
                       feature_run.replace(**{"condition.feature_input_size": 71}).to_dict())
    with pytest.raises(ValueError, match="text.encoder: saved 'word2vec', now 'onehot'"):
        resume_changes("stage1", path, text_run.to_dict(), text_run.replace(**{"text.encoder": "onehot"}).to_dict())
    # another source is another experiment, and then every setting counts
    assert resume_changes("stage1", path, text_run.to_dict(), feature_run.to_dict(), allow_change=True) == [
        "condition.source: saved 'text', now 'xception-features'", "condition.feature_weights: saved 'imagenet', now None"]


def test_stage2_takes_the_condition_of_its_stage1_run(tmp_path):
    from t2ilib.training.stage2 import memory_estimate, stage2_run_config

    features = preset("tiny").replace(**{"condition.source": "xception-features", "condition.feature_weights": None,
                                         "condition.feature_input_size": 71})
    (tmp_path / "stage1").mkdir()
    features.save(tmp_path / "stage1" / "config.json")
    # the text section is not read by a feature-conditioned Stage-I: another one is no contradiction
    config = stage2_run_config(features.replace(**{"text.encoder": "onehot"}), tmp_path / "stage1")
    assert config.condition == features.condition and config.text.encoder == "word2vec"  # the Stage-I run's
    with pytest.raises(ValueError, match="condition.feature_input_size: Stage-I 71, here 299"):
        stage2_run_config(features.replace(**{"condition.feature_input_size": 299}), tmp_path / "stage1")
    with pytest.raises(ValueError, match="condition.source: Stage-I 'xception-features', here 'text'"):
        stage2_run_config(preset("tiny"), tmp_path / "stage1")
    # its memory estimate counts the 2,048-d feature as the condition's input
    estimate = memory_estimate(config, batch_sizes=(1,))[0]["trainable_parameters"]
    assert estimate == memory_estimate(preset("tiny"), batch_sizes=(1,), embedding_dim=2048)[0]["trainable_parameters"]
    assert estimate > memory_estimate(preset("tiny"), batch_sizes=(1,))[0]["trainable_parameters"]  # 16-d Word2Vec


def test_set_parses_each_setting_as_one_of_the_types_it_allows():
    config = preset("quickstart")
    # jit_compile is `bool | str`: the CLI's "true" must be the boolean its check expects, not the text
    assert config.parse_setting("train.jit_compile=true") == ("train.jit_compile", True)
    assert config.parse_setting("train.jit_compile=auto") == ("train.jit_compile", "auto")
    key, value = config.parse_setting("train.jit_compile=false")
    config.replace(**{key: value}).validate(check_paths=False)
    assert value is False
    # a `str | None` setting: null is None, anything else stays text (a number-looking name too)
    assert config.parse_setting("condition.feature_weights=null") == ("condition.feature_weights", None)
    assert config.parse_setting("text.model_name=123") == ("text.model_name", "123")
    assert config.parse_setting("train.batch_size=16") == ("train.batch_size", 16)
