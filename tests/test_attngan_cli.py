"""AttnGAN through the command line like every family: `train --set model.family=attngan` trains
through train_attngan, `evaluate` and `sample` read the run, and `attention` draws each stage's
image beside one attention map per word (the maps: a softmax over the caption's words).

One module fixture trains the tiny run (3 stages: 8, 16 and 32 px; a tiny DAMSM) that the tests read.
"""

import json

import numpy as np
import pytest

from t2ilib.cli import main

pytestmark = pytest.mark.xdist_group("attngan_cli")

CAPTION = "a red circle at the top on a black background"
ATTNGAN = ["--preset", "tiny", "--set", "model.family=attngan", "--set", "text.encoder=tokenizer",
           "--set", "text.tokenizer_length=12", "--set", "attngan.stages=3", "--set", "damsm.embedding_dim=16",
           "--set", "damsm.word_dim=8", "--set", "damsm.backbone_size=75", "--set", "damsm.backbone_weights=null",
           "--set", "damsm.epochs=1", "--set", "damsm.batch_size=16"]


@pytest.fixture(scope="module")
def attngan_run(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("attngan_cli")
    run = workspace / "run"
    assert main(["train", *ATTNGAN, "--data-dir", str(workspace / "data"), "--run-dir", str(run), "--epochs", "1",
                 "--verbose", "0"]) == 0
    return run


def test_train_runs_attngan_with_its_sections_in_config_json(attngan_run, capsys):
    metrics = json.loads((attngan_run / "metrics.json").read_text())
    assert (metrics["epochs_trained"], metrics["optimizer_steps"]) == (1, 3)
    assert "recall@1" in metrics["damsm_retrieval"] and metrics["fidelity"] is not None
    config = json.loads((attngan_run / "config.json").read_text())
    assert config["model"]["family"] == "attngan" and config["attngan"]["stages"] == 3
    assert config["damsm"]["backbone_weights"] is None
    # a resume with another AttnGAN setting is refused by the one resume check, exit 2, nothing changed
    assert main(["train", *ATTNGAN, "--set", "attngan.damsm_weight=50.0", "--data-dir", config["data"]["data_dir"],
                 "--run-dir", str(attngan_run), "--epochs", "1", "--verbose", "0"]) == 2
    assert "attngan.damsm_weight: saved 5.0, now 50.0" in capsys.readouterr().err
    assert json.loads((attngan_run / "config.json").read_text()) == config


def test_evaluate_and_sample_read_an_attngan_run(attngan_run, tmp_path, capsys):
    assert main(["evaluate", "--run-dir", str(attngan_run), "--weights", "none", "--split", "validation",
                 "--num-images", "6", "--metrics", "fidelity,diversity"]) == 0
    results = json.loads((attngan_run / "evaluation.json").read_text())["results"]
    assert set(results) == {"fidelity", "ms_ssim"} and results["fidelity"]["n"] == 6
    assert results["fidelity"]["image_size"] == 32
    assert main(["sample", "--run-dir", str(attngan_run), "--caption", CAPTION, "--num", "2",
                 "--out", str(tmp_path / "sample.png")]) == 0
    assert (tmp_path / "sample.png").stat().st_size > 0


def test_attention_maps_sum_to_one_over_the_words_and_the_figure_has_a_panel_per_word(attngan_run, tmp_path,
                                                                                        capsys):
    from t2ilib.evaluation import attention_maps
    from t2ilib.viz import save_attention_figure

    attention = attention_maps(attngan_run, CAPTION, seed=1)
    assert attention["sizes"] == [8, 16, 32]
    assert [image.shape for image in attention["images"]] == [(8, 8, 3), (16, 16, 3), (32, 32, 3)]
    words = attention["words"]
    assert words == ["red", "circle", "top", "black", "background"]  # as the model reads it: stopwords cleaned out
    assert [maps.shape for maps in attention["maps"]] == [(len(words), 8, 8), (len(words), 16, 16)]
    for maps in attention["maps"]:  # each region's weights over the real words: a softmax, padding masked out
        assert (maps >= 0).all()
        np.testing.assert_allclose(maps.sum(axis=0), 1.0, atol=1e-4)
    titles = save_attention_figure(attention, tmp_path / "figure.png")
    assert [len(row) for row in titles] == [2 + len(words)] * 2
    assert [title.split(" (")[0] for title in titles[0][2:]] == words

    out = tmp_path / "attention.png"
    assert main(["attention", "--run-dir", str(attngan_run), "--caption", CAPTION, "--seed", "1",
                 "--out", str(out)]) == 0
    assert out.is_file() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"2 attention stage(s) x {len(words)} words" in capsys.readouterr().out


def test_attention_refuses_a_run_of_another_family(attngan_run, tmp_path, capsys):
    import shutil

    other = tmp_path / "stage1"
    shutil.copytree(attngan_run, other)
    config = json.loads((other / "config.json").read_text())
    config["model"]["family"] = "stackgan"
    (other / "config.json").write_text(json.dumps(config))
    assert main(["attention", "--run-dir", str(other), "--caption", CAPTION]) == 2
    assert "only AttnGAN runs" in capsys.readouterr().err
