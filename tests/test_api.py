"""Public functions users call directly: the quickstart's verdict (`summarize`), the learning-rate
schedule (also after a resume), the `official` preset, and the WordNet lemmatiser path."""

import json
import logging
import warnings

import numpy as np
import pytest

from t2ilib.config import RunConfig, preset
from t2ilib.models import build_stage1
from t2ilib.models.stackgan import learning_rate_schedule
from t2ilib.training.checkpoints import RunCheckpoint
from t2ilib.training.stage1 import summarize


# --- summarize: the lines the quickstart prints ---------------------------------------------
def shapes_metrics(mean, baseline, by_epoch=(0.3, 0.5)):
    fidelity = {"shape": 0.5, "colour": 0.25, "position": 1.0, "background": 0.75, "mean": mean}
    return {"epochs_trained": 2, "optimizer_steps": 6, "fidelity": fidelity,
            "fidelity_mismatched_captions": {"mean": baseline}, "fidelity_chance": {"mean": 0.3125},
            "fidelity_samples": 16, "fidelity_by_epoch": list(by_epoch)}


@pytest.mark.parametrize("mean, baseline, verdict", [
    (0.75, 0.5, "The generator follows its captions: +0.25 over the mismatched baseline."),
    (0.625, 0.5, "The generator follows its captions a little (+0.12); train longer."),
    (0.5625, 0.5, "The generator follows its captions a little (+0.06); train longer."),
    (0.53125, 0.5, "The generator does NOT follow its captions yet (+0.03); train longer or check the setup."),
    (0.5, 0.5, "The generator does NOT follow its captions yet (+0.00); train longer or check the setup."),
    (0.25, 0.5, "The generator does NOT follow its captions yet (-0.25); train longer or check the setup."),
])
def test_summarize_gives_the_verdict_of_the_margin_over_mismatched_captions(mean, baseline, verdict):
    lines = summarize(shapes_metrics(mean, baseline)).splitlines()
    assert lines[0] == "Trained 2 epochs (6 steps)."
    assert lines[1] == (f"Shapes fidelity of 16 images for test captions: {mean:.2f} "
                        "(shape 0.50, colour 0.25, position 1.00, background 0.75).")
    assert lines[2] == f"Same images scored against mismatched captions: {baseline:.2f} (chance 0.31)."
    assert lines[3].startswith("Fidelity by epoch: 0.30 after epoch 1 -> 0.50 after epoch 2")
    assert lines[-1] == verdict and len(lines) == 5


def test_summarize_without_attribute_truth_points_to_the_grids_and_the_evaluation():
    lines = summarize({"epochs_trained": 3, "optimizer_steps": 30, "fidelity": None}).splitlines()
    assert lines == ["Trained 3 epochs (30 steps).",
                     "No attribute ground truth for this dataset: judge the sample grids, and use the evaluation "
                     "notebook (FID / IS) for numbers."]


# --- the learning-rate schedule ---------------------------------------------------------------
def test_learning_rate_halves_every_decay_epochs_and_zero_means_constant():
    schedule = learning_rate_schedule(2e-4, steps_per_epoch=10, decay_epochs=2)
    rates = [float(schedule(step)) for step in (0, 19, 20, 39, 40, 65)]
    np.testing.assert_allclose(rates, [2e-4, 2e-4, 1e-4, 1e-4, 5e-5, 2.5e-5], rtol=1e-6)
    assert learning_rate_schedule(2e-4, steps_per_epoch=10, decay_epochs=0) == 2e-4


def test_a_resumed_run_continues_the_schedule_where_it_stopped(tiny_config, tmp_path):
    config = tiny_config.replace(**{"train.lr_decay_epochs": 1})  # halve every epoch of 3 steps
    gan = build_stage1(config, embedding_dim=16, steps_per_epoch=3)
    for optimizer in (gan.g_optimizer, gan.d_optimizer):
        assert float(optimizer.learning_rate) == pytest.approx(2e-4)
        optimizer.iterations.assign(7)  # 7 steps trained: floor(7 / 3) = 2 halvings
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(5e-5)
    parts = {"model": gan, "g_optimizer": gan.g_optimizer, "d_optimizer": gan.d_optimizer}
    RunCheckpoint(tmp_path / "checkpoints", parts).save(2)

    resumed = build_stage1(config, embedding_dim=16, steps_per_epoch=3)
    parts = {"model": resumed, "g_optimizer": resumed.g_optimizer, "d_optimizer": resumed.d_optimizer}
    assert RunCheckpoint(tmp_path / "checkpoints", parts).restore_or_initialize() == 2
    for optimizer in (resumed.g_optimizer, resumed.d_optimizer):
        assert int(optimizer.iterations) == 7
        assert float(optimizer.learning_rate) == pytest.approx(5e-5)
    resumed.g_optimizer.iterations.assign(9)  # the next epoch: one more halving
    assert float(resumed.g_optimizer.learning_rate) == pytest.approx(2.5e-5)


# --- the `official` preset ----------------------------------------------------------------------
def test_official_preset_is_the_stackgan_paper(tmp_path):
    """docs/reference.md#stackgan: batch 64, Adam 2e-4 / beta_1 0.5, halve every 50 epochs, 600
    epochs per stage, Ng 128, Nz 100, gf 128, df 64, KL weight 2, 64 px then 256 px."""
    config = preset("official")
    assert (config.data.dataset, config.data.image_size, config.data.split_rule) == ("flickr8k", 64, "reports")
    assert (config.model.condition_dim, config.model.noise_dim, config.model.generator_width,
            config.model.discriminator_width, config.model.kl_weight, config.model.last_activation) == \
        (128, 100, 128, 64, 2.0, "relu")
    train = config.train
    assert (train.batch_size, train.epochs, train.optimizer, train.learning_rate, train.beta_1, train.lr_decay_epochs) \
        == (64, 600, "adam", 2e-4, 0.5, 50)
    stage2 = config.stage2
    assert (stage2.image_size, stage2.batch_size, stage2.epochs, stage2.learning_rate, stage2.lr_decay_epochs) == \
        (256, 64, 600, 2e-4, 50)
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    # the preset's networks are the paper's: 10,301,248 generator parameters for a 1,024-d embedding
    gan = build_stage1(config, embedding_dim=1024, steps_per_epoch=1)
    assert sum(int(np.prod(variable.shape)) for variable in gan.generator.trainable_variables) == 10_301_248


# --- the WordNet lemmatiser, with a made-up corpus in NLTK's own format --------------------------
def fake_wordnet(root):
    """The few files NLTK's WordNetCorpusReader opens: three nouns and one irregular plural."""
    folder = root / "corpora" / "wordnet"
    folder.mkdir(parents=True)
    (folder / "lexnames").write_text("00 noun.Tops 1\n")
    (folder / "data.adj").write_text("  1 A made-up WordNet 3.0 Copyright 2006 by Princeton University.\n")
    (folder / "index.noun").write_text("".join(f"{word} n 1 0 1 0 {offset:08d}\n"
                                               for offset, word in enumerate(["beach", "child", "dog"], 1)))
    (folder / "noun.exc").write_text("children child\n")
    for name in ("data.noun", "data.verb", "data.adv", "index.verb", "index.adj", "index.adv", "index.sense",
                 "verb.exc", "adj.exc", "adv.exc"):
        (folder / name).write_text("")


def test_wordnet_lemmas_when_the_corpus_is_installed(tmp_path, monkeypatch, caplog):
    import nltk
    import nltk.corpus
    from nltk.corpus.reader import WordNetCorpusReader
    from nltk.corpus.util import LazyCorpusLoader

    from t2ilib.text import vocabulary
    from t2ilib.text.vocabulary import OneHotEncoder, caption_words, wordnet_lemmatizer

    fake_wordnet(tmp_path)
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)] + list(nltk.data.path))
    monkeypatch.setattr(nltk.corpus, "wordnet", LazyCorpusLoader("wordnet", WordNetCorpusReader, None))
    monkeypatch.setattr(vocabulary, "_lemmatizer", None)  # not looked for yet
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING, logger="t2ilib"):
        warnings.simplefilter("ignore")  # "multilingual functions are not available" (no omw corpus)
        lemmatizer = wordnet_lemmatizer()
        assert type(lemmatizer).__name__ == "WordNetLemmatizer"  # NLTK's own, reading the corpus
        assert caption_words("Two dogs and the children on beaches") == ["two", "dog", "child", "beach"]
        encoder = OneHotEncoder().fit(["A dog on the beach .", "Dogs and children ."])
    assert not [record for record in caplog.records if "wordnet" in record.getMessage()]  # no "not installed" notice
    assert encoder.lemmatised and encoder.vocabulary == ["dog", "beach", "child"]
    assert wordnet_lemmatizer() is lemmatizer  # looked for once
