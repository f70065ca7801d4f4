"""DAMSM R-precision (`t2ilib.training.damsm.damsm_r_precision`, `evaluate --metrics
damsm_r_precision`): the field's protocol (1 true + 99 mismatched captions, cosine of global
image and sentence features, top-1, 10 folds) scored by a DAMSM, for images of any generator.

A hand case with known codes; then one tiny DAMSM (random frozen InceptionV3 at 75 px, 4 epochs on
100 shapes images, as in test_damsm_pretraining.py) trained once for the module and shared by the
real-vs-shuffled check, `evaluate_run` on a 1-epoch Stage-I run and the CLI.
"""

import json
import logging

import numpy as np
import pytest

from t2ilib.metrics.rprecision import chance_p_value
from t2ilib.training.damsm import DAMSMSettings, damsm_for, damsm_r_precision, damsm_settings_from
from test_damsm_pretraining import TINY

SETTINGS = DAMSMSettings(epochs=4, **TINY)


class _TableTokenizer:
    """Caption "c<k>" -> word ids [[k]]."""

    def encode(self, captions):
        return np.array([[int(caption[1:])] for caption in captions])


class _CodeTable:
    """A DAMSM-shaped pair whose features are looked up: image k (every pixel k) -> image_codes[k],
    caption "c<k>" -> text_codes[k]. Checks the glue: rows, tokenizer, groups, cosine, folds."""

    def __init__(self, image_codes, text_codes):
        self.image_codes, self.text_codes, self.tokenizer = image_codes, text_codes, _TableTokenizer()

    def encode_images(self, images):
        return self.image_codes[images[:, 0, 0, 0].astype(int)]

    def encode_texts(self, ids):
        return self.text_codes[ids[:, 0]]


def _hand_case():
    """20 captions of 10 images (two each, groups 0,0,1,1,...). Image rows 0..7 carry their own
    caption's code (hits); rows 8..13 carry the code of caption (row + 8) % 20, of another image
    (misses). Rows 14..19 carry the code of their image's other caption, scaled, with their own
    caption's code nearby: the nearest caption is a caption of the same image (not a candidate),
    the next one their own. Hand count: 8 + 6 = 14 hits of 20."""
    rng = np.random.default_rng(11)
    texts = rng.standard_normal((20, 16))
    images = texts.copy()
    for row in range(8, 14):
        images[row] = texts[(row + 8) % 20]
    for first in (14, 16, 18):  # the two captions of one image nearly agree
        base = texts[first].copy()
        texts[first], texts[first + 1] = base + 0.05 * rng.standard_normal((2, 16))
        images[first], images[first + 1] = 3.0 * texts[first + 1], 3.0 * texts[first]  # length does not matter: cosine
    return images, texts, np.repeat(np.arange(10), 2)


def test_the_score_is_the_hand_counted_fraction_and_a_caption_of_the_same_image_is_never_a_candidate():
    images, texts, groups = _hand_case()
    pixels = np.repeat(np.arange(20, dtype=np.uint8), 8 * 8 * 3).reshape(20, 8, 8, 3)
    captions = [f"c{k}" for k in range(20)]
    result = damsm_r_precision(_CodeTable(images, texts), pixels, captions, groups)
    # 2 images per fold, 10 folds: the mean of the folds is the fraction of hits.
    assert (result.details["hits"], result.value) == (14, pytest.approx(14 / 20))
    assert result.details["candidates"] == 19 and result.details["folds"] == 10  # 18 captions of 9 other images + 1
    assert result.details["chance"] == pytest.approx(1 / 19) and result.n == 20 and result.image_size == 8
    # Groups ignored, rows 14..19 lose to their image's other caption: 8 hits.
    assert damsm_r_precision(_CodeTable(images, texts), pixels, captions, None).details["hits"] == 8
    # Captions are matched to images row by row: reversing one of them breaks the pairs.
    assert damsm_r_precision(_CodeTable(images, texts), pixels, captions[::-1], groups).details["hits"] < 14
    with pytest.raises(ValueError, match="one caption per image"):
        damsm_r_precision(_CodeTable(images, texts), pixels, captions[:-1], groups)
    with pytest.raises(ValueError, match="uint8"):
        damsm_r_precision(_CodeTable(images, texts), pixels.astype(np.float32), captions, groups)


def test_damsm_settings_from_checks_each_key_and_type():
    settings = damsm_settings_from(["epochs=4", "backbone_weights=null", "learning_rate=1", "lemmatize=true"])
    assert (settings.epochs, settings.backbone_weights, settings.learning_rate, settings.lemmatize) == (4, None, 1.0, True)
    assert damsm_settings_from(["backbone_weights=imagenet"]).backbone_weights == "imagenet"
    with pytest.raises(ValueError, match="--damsm-set 'epoch=4'.*KEY one of embedding_dim"):
        damsm_settings_from(["epoch=4"])
    with pytest.raises(ValueError, match="epochs takes a value like 600"):
        damsm_settings_from(["epochs=four"])


@pytest.fixture(scope="module")
def shapes_config(tmp_path_factory):
    """The tiny preset on 100 shapes images (500 captions, 90 in validation), 32 px."""
    from t2ilib.config import preset

    folder = tmp_path_factory.mktemp("damsm_rp")
    return preset("tiny").replace(**{"data.data_dir": str(folder / "data"), "data.shapes_num_images": 100})


@pytest.fixture(scope="module")
def damsm(shapes_config):
    return damsm_for(shapes_config, SETTINGS)


def test_real_images_with_their_captions_score_well_above_the_same_images_with_shuffled_captions(shapes_config, damsm):
    from t2ilib.data.prepare import prepare_data, real_images
    from t2ilib.training.judge import judge_groups

    prepared = prepare_data(shapes_config.data, progress=False)
    rows = prepared.split("validation").index.to_numpy()
    images = real_images(prepared, rows, 32)
    captions = prepared.captions.loc[rows, "caption"].to_numpy()
    groups = judge_groups(prepared, rows)
    own = damsm_r_precision(damsm, images, captions, groups)
    order = np.random.default_rng(0).permutation(len(rows))
    shuffled = damsm_r_precision(damsm, images, captions[order], groups[order])
    assert own.n == shuffled.n == 90 and own.details["folds"] == 10 and own.details["candidates"] == 88
    # Measured on these 90 held-out images (the DAMSM saw the training split only): 8 hits (0.089)
    # with their own captions, 1 hit (0.011) with shuffled ones (permutations of seeds 0-4: 1, 1,
    # 1, 0, 2 hits); chance 1/88, 1.0 hit expected. 8 or more by chance: p ~ 1e-5.
    chance = 1 / own.details["candidates"]
    assert own.details["hits"] >= 6 and chance_p_value(own.details["hits"], 90, chance) < 1e-3
    assert shuffled.details["hits"] <= 3 and chance_p_value(shuffled.details["hits"], 90, chance) > 0.05
    assert own.value >= shuffled.value + 0.05


def test_evaluate_run_and_the_cli_report_damsm_r_precision_of_a_stage1_run(shapes_config, damsm, tmp_path, capsys,
                                                                            caplog):
    from t2ilib.cli import main
    from t2ilib.data.prepare import prepare_data, real_images
    from t2ilib.evaluation import evaluate_run, generate_for_captions
    from t2ilib.training.judge import judge_groups
    from t2ilib.training.stage1 import embed_all_captions, load_generator, train_stage1

    run = tmp_path / "stage1"
    train_stage1(shapes_config.replace(**{"train.epochs": 1}), run, verbose=0)
    with caplog.at_level(logging.INFO, logger="t2ilib"):
        results = evaluate_run(run, split="validation", weights=None, metrics=["damsm_r_precision"],
                               damsm_settings=SETTINGS, seed=2, write=False)
    assert "Pretraining the DAMSM" not in caplog.text  # the module's DAMSM, found in the data folder
    assert set(results) == {"damsm_r_precision", "real_damsm_r_precision"}
    prepared = prepare_data(shapes_config.data, progress=False)
    rows = prepared.split("validation").index.to_numpy()
    groups = judge_groups(prepared, rows)
    candidates = 1 + min(int((groups != group).sum()) for group in groups)
    for result in results.values():
        assert result.n == 90 and result.details["candidates"] == candidates == 88 and result.details["folds"] == 10
        assert result.details["damsm_epochs"] == 4 and result.weights.endswith(SETTINGS.folder_name(32))
    # exactly the images evaluate_run generates (seed 2) and the real ones, scored by the same DAMSM
    generator, _, config = load_generator(run)
    _, embeddings = embed_all_captions(config, prepared)
    generated = generate_for_captions(generator, embeddings[rows], config.model.noise_dim, 1, seed=2)[:, 0]
    captions = prepared.captions.loc[rows, "caption"].tolist()
    assert results["damsm_r_precision"].value == damsm_r_precision(damsm, generated, captions, groups, seed=2).value
    real = damsm_r_precision(damsm, real_images(prepared, rows, 32), captions, groups, seed=2)
    assert (results["real_damsm_r_precision"].value, results["real_damsm_r_precision"].details["hits"]) == (
        real.value, real.details["hits"])

    settings = [item for key, value in TINY.items() for item in ("--damsm-set", f"{key}={json.dumps(value)}")]
    assert main(["evaluate", "--run-dir", str(run), "--weights", "none", "--split", "validation",
                 "--metrics", "damsm_r_precision", "--damsm-set", "epochs=4", *settings]) == 0
    printed = capsys.readouterr().out
    saved = json.loads((run / "evaluation.json").read_text())["results"]
    assert set(saved) == {"damsm_r_precision", "real_damsm_r_precision"}
    assert saved["real_damsm_r_precision"]["details"]["candidates"] == 88
    real_seed0 = damsm_r_precision(damsm, real_images(prepared, rows, 32), captions, groups, seed=0)
    assert saved["real_damsm_r_precision"]["value"] == pytest.approx(real_seed0.value)  # the CLI's seed is 0
    for name, result in saved.items():
        assert name in printed and f"{result['value']:.6f}"[:5] in printed
    assert "random DAMSM backbone is a pipeline check" in printed
    assert main(["evaluate", "--run-dir", str(run), "--weights", "none", "--metrics", "fid",
                 "--damsm-set", "epochs=4"]) == 2
