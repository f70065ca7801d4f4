"""Every training and evaluation command of the CLI, run for real (in this process, so TensorFlow
starts once) on the tiny preset with a few steps: embed, train, train-stage2, evaluate,
feature-baseline, vae-train and vae-compare. Each test checks what the command wrote and printed.

One module fixture holds the data folder and the Stage-I run that the later commands read.
"""

import json

import numpy as np
import pandas as pd
import pytest

from t2ilib.cli import main

# One pytest-xdist worker runs this whole file, so the module fixture is built once.
pytestmark = pytest.mark.xdist_group("cli_commands")

TINY = ["--preset", "tiny"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def stage1_run(workspace):
    """`train --epochs 1` on the tiny preset: 1 epoch of 3 steps."""
    run = workspace / "stage1"
    assert main(["train", *TINY, "--data-dir", str(workspace / "data"), "--run-dir", str(run),
                 "--epochs", "1", "--verbose", "0"]) == 0
    return run


def test_embed_caches_one_vector_per_caption(workspace, capsys):
    from t2ilib.config import preset
    from t2ilib.data.prepare import prepare_data

    data_dir = workspace / "data"
    assert main(["embed", *TINY, "--data-dir", str(data_dir)]) == 0
    printed = capsys.readouterr().out
    prepared = prepare_data(preset("tiny").replace(**{"data.data_dir": str(data_dir)}).data, progress=False)
    assert len(prepared.captions) == 200  # 40 images x 5 captions
    assert printed.startswith("Embedded 200 captions with word2vec") and ": 16 dimensions" in printed
    assert list((prepared.work_dir / "embeddings").iterdir())  # the cache the training commands read


def test_train_writes_the_run_and_prints_the_verdict(stage1_run, capsys):
    metrics = json.loads((stage1_run / "metrics.json").read_text())
    assert (metrics["epochs_trained"], metrics["optimizer_steps"]) == (1, 3)
    history = pd.read_csv(stage1_run / "history.csv")
    assert len(history) == 1 and np.isfinite(history[["d_loss", "g_loss"]].to_numpy()).all()
    assert (stage1_run / "samples" / "epoch_0001.png").is_file()
    assert json.loads((stage1_run / "config.json").read_text())["name"] == "tiny"
    # Asking again for the same epochs trains nothing and prints the same verdict from the checkpoint.
    assert main(["train", *TINY, "--data-dir", str(stage1_run.parent / "data"), "--run-dir", str(stage1_run),
                 "--epochs", "1", "--verbose", "0"]) == 0
    printed = capsys.readouterr().out
    from t2ilib.training.stage1 import summarize

    assert summarize(json.loads((stage1_run / "metrics.json").read_text())) in printed
    assert "Trained 1 epochs (3 steps)." in printed and "mismatched captions" in printed


def test_train_stage2_refines_the_stage1_run(workspace, stage1_run, capsys):
    run = workspace / "stage2"
    assert main(["train-stage2", *TINY, "--data-dir", str(workspace / "data"), "--stage1-run-dir", str(stage1_run),
                 "--run-dir", str(run), "--set", "stage2.epochs=1", "--set", "stage2.steps_per_epoch=1",
                 "--verbose", "0"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["epochs_trained"], metrics["optimizer_steps"]) == (1, 1)
    assert metrics["stage1_run_dir"] == str(stage1_run.resolve())
    assert (run / "samples" / "epoch_0001.png").is_file()
    printed = capsys.readouterr().out
    assert f"Run directory: {run}" in printed and "Stage-II" in printed


def test_evaluate_writes_the_metrics_it_prints(stage1_run, capsys):
    assert main(["evaluate", "--run-dir", str(stage1_run), "--weights", "none", "--split", "validation",
                 "--num-images", "6", "--metrics", "fid,fidelity,diversity"]) == 0
    printed = capsys.readouterr().out
    saved = json.loads((stage1_run / "evaluation.json").read_text())
    assert (saved["split"], saved["num_captions"], saved["checkpoint_dir"]) == ("validation", 6, "checkpoints")
    results = saved["results"]
    assert set(results) == {"fid", "fidelity", "ms_ssim"}
    assert results["fid"]["n"] == 6 and np.isfinite(results["fid"]["value"])
    assert results["ms_ssim"]["n"] == 6 and 0 < results["ms_ssim"]["value"] <= 1  # 6 captions x 1 pair
    assert "random Inception weights" in printed
    for name, result in results.items():
        assert name in printed and f"{result['value']:.6f}"[:5] in printed  # the printed table has the value


def test_evaluate_run_values_are_those_of_the_images_it_generates(stage1_run):
    """`evaluate_run` scores the first sample of each of the split's first captions (tiny's test
    split has only 4 captions, so the validation split's 36 are used): recompute fidelity,
    MS-SSIM and FID from those images and compare."""
    from t2ilib.data.prepare import prepare_data
    from t2ilib.metrics.diversity import diversity
    from t2ilib.data.prepare import real_images as real_images_for
    from t2ilib.evaluation import evaluate_run, generate_for_captions
    from t2ilib.metrics.fid import fid
    from t2ilib.metrics.inception import InceptionScorer
    from t2ilib.metrics.fidelity import shapes_fidelity
    from t2ilib.training.stage1 import embed_all_captions, load_generator

    results = evaluate_run(stage1_run, split="validation", num_images=8, weights=None,
                           metrics=("fid", "fidelity", "diversity"), seed=3, write=False)
    generator, _, config = load_generator(stage1_run)
    prepared = prepare_data(config.data, progress=False)
    _, embeddings = embed_all_captions(config, prepared)
    rows = prepared.split("validation").index.to_numpy()[:8]
    images = generate_for_captions(generator, embeddings[rows], config.model.noise_dim, num_per_caption=2, seed=3)
    expected = shapes_fidelity(images[:, 0], prepared.attributes.loc[rows])
    assert results["fidelity"].value == pytest.approx(expected["mean"])
    assert results["fidelity"].details["shape"] == pytest.approx(expected["shape"])
    assert results["fidelity"].n == 8 and results["fidelity"].details["chance"] == pytest.approx(0.3125)
    assert results["ms_ssim"].value == pytest.approx(diversity(images).value, rel=1e-6)
    # FID of exactly those first samples against the 8 real images (one random InceptionV3 per process)
    real = real_images_for(prepared, rows, config.data.image_size)
    assert results["fid"].value == pytest.approx(fid(real, images[:, 0], scorer=InceptionScorer(None)).value, rel=1e-6)
    other_seed = evaluate_run(stage1_run, split="validation", num_images=8, weights=None, metrics=("diversity",),
                              seed=4, write=False)
    assert other_seed["ms_ssim"].value != pytest.approx(results["ms_ssim"].value)  # the seed picks the noise


def test_feature_baseline_trains_both_runs_and_compares(workspace, stage1_run, capsys):
    out = workspace / "baseline"
    assert main(["feature-baseline", *TINY, "--data-dir", str(workspace / "data"), "--text-run-dir", str(stage1_run),
                 "--feature-run-dir", str(workspace / "features"), "--output-dir", str(out), "--feature-weights",
                 "none", "--feature-input-size", "71", "--mapper-epochs", "1", "--epochs", "1"]) == 0
    printed = capsys.readouterr().out
    feature_metrics = json.loads((workspace / "features" / "metrics.json").read_text())
    assert feature_metrics["epochs_trained"] == 1
    saved = json.loads((workspace / "features" / "config.json").read_text())
    assert saved["condition"] == {"source": "xception-features", "feature_weights": None, "feature_input_size": 71}
    assert saved["text"]["encoder"] == "word2vec"  # the tiny preset's, unread by the feature run
    table = pd.read_csv(out / "comparison.csv")
    assert "chance" in set(table["condition"]) and len(table) >= 3
    mapper = json.loads((out / "mapper" / "metrics.json").read_text())
    assert mapper["queries"] == 36 and f"{mapper['recall@1']:.2f}" in printed
    for name in ("comparison.png", "comparison.json"):
        assert (out / name).is_file(), name


def small_glove_file(path, dataset):
    """A GloVe-format file (word, then 50 numbers) for every word of the dataset's captions, as a
    user brings glove.6B.50d.txt; seeded random vectors."""
    words = sorted({word for line in (dataset / "Flickr8k.token.txt").read_text().splitlines()
                    for word in line.split("\t")[1].lower().split()})
    vectors = np.random.default_rng(0).standard_normal((len(words), 50))
    path.write_text("".join(word + " " + " ".join(f"{value:.4f}" for value in vector) + "\n"
                            for word, vector in zip(words, vectors)))
    return path


def test_vae_train_and_compare(workspace, stage1_run, capsys):
    """On the tiny preset's 40 shapes images as a Flickr8k-format folder, with a GloVe-format file."""
    dataset = workspace / "data" / "shapes-n40-s0"
    glove = small_glove_file(workspace / "glove.50d.txt", dataset)
    runs = {}
    for model in ("report2", "improved"):
        runs[model] = workspace / f"vae_{model}"
        assert main(["vae-train", model, "--run-dir", str(runs[model]), "--dataset", str(dataset), "--data-dir",
                     str(workspace / "vae_data"), "--glove-path", str(glove), "--epochs", "1", "--batch-size", "64",
                     "--verbose", "0"]) == 0
        printed = json.loads(capsys.readouterr().out)
        saved = json.loads((runs[model] / "metrics.json").read_text())
        assert printed["epochs_trained"] == saved["epochs_trained"] == 1
        assert printed["optimizer_steps"] == 3  # 160 training captions (#1-#4 of 40 images) in batches of 64
        assert printed["model"] == model and printed["parameters"] == saved["parameters"]
    assert json.loads((runs["report2"] / "metrics.json").read_text())["parameters"] == 7_646_388
    out = workspace / "vae_comparison"
    assert main(["vae-compare", f"two={runs['report2']}", f"better={runs['improved']}", "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(out / "comparison.csv")
    assert table["model"].tolist() == ["two", "better", "mean training image"]
    assert table["parameters"].tolist() == [7_646_388, saved["parameters"], 0]
    assert (out / "comparison.png").is_file() and "mean training image" in printed
    assert main(["vae-compare", f"{runs['report2']}", "--output-dir", str(out)]) == 2  # LABEL=RUN_DIR required
    assert "LABEL=RUN_DIR" in capsys.readouterr().err
