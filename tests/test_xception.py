"""The Xception feature baseline: features per image, a feature-conditioned Stage-I, the mapper.

Offline, Xception has random weights (`condition.feature_weights=None`) at its minimum input, 71 px:
these tests check the pipeline and the maths, not whether ImageNet features are good.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from t2ilib.data.prepare import prepare_data
from t2ilib.features import (
    FEATURE_SOURCE,
    CosineMSELoss,
    MapperConfig,
    build_xception,
    extract_features,
    image_features,
    mapped_retrieval,
)
from t2ilib.features.mapper import build_mapper
from t2ilib.training import feature_baseline, stage1

# One pytest-xdist worker runs this whole file, so its module fixture is built once.
pytestmark = pytest.mark.xdist_group("xception")

INPUT_SIZE = 71  # Xception's minimum: seconds on a CPU


@pytest.fixture(scope="module")
def xception():
    return build_xception(weights=None, input_size=INPUT_SIZE)


def test_features_do_not_depend_on_the_batch(xception):
    images = np.random.default_rng(0).integers(0, 256, (5, 40, 40, 3), dtype=np.uint8)  # resized to 71 inside
    one_by_one = extract_features(xception, images, batch_size=1)
    together = extract_features(xception, images, batch_size=5)
    assert one_by_one.shape == (5, 2048) and one_by_one.dtype == np.float32
    np.testing.assert_allclose(one_by_one, together, rtol=1e-4, atol=1e-6 * np.abs(together).max())
    assert np.abs(together[0] - together[1]).max() > 0  # different images, different vectors


def test_random_weights_are_reproducible_and_leave_the_callers_randomness_alone(xception):
    import random

    random.seed(5)
    expected_next = random.random()
    random.seed(5)
    again = build_xception(weights=None, input_size=INPUT_SIZE)
    assert random.random() == expected_next
    np.testing.assert_array_equal(again.weights[0].numpy(), xception.weights[0].numpy())


def test_bad_settings_are_refused(xception, tmp_path):
    with pytest.raises(ValueError, match="at least 71"):
        build_xception(weights=None, input_size=32)
    with pytest.raises(FileNotFoundError, match="weights file"):
        build_xception(weights=str(tmp_path / "missing.h5"), input_size=INPUT_SIZE)
    with pytest.raises(ValueError, match="uint8"):
        extract_features(xception, np.zeros((2, 71, 71, 3), np.float32))


def test_features_are_computed_once_per_image_and_cached(tiny_config, monkeypatch):
    config = tiny_config.replace(**{"condition.source": FEATURE_SOURCE, "condition.feature_weights": None,
                                    "condition.feature_input_size": INPUT_SIZE})
    prepared = prepare_data(config.data, progress=False)
    features = image_features(config.condition, prepared)
    assert features.shape == (len(prepared.cache.names), 2048)  # 40 images, not 200 captions
    cached = list((prepared.work_dir / "features").glob("xception-random-*-71px-*.npy"))
    assert len(cached) == 1

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the cached features should have been read")

    monkeypatch.setattr("t2ilib.features.xception.build_xception", no_rebuild)
    condition, conditions = stage1.embed_all_captions(config, prepared)  # the hook in train_stage1's path
    assert conditions.shape == (len(prepared.captions), 2048)
    rows = prepared.captions["row"].to_numpy()
    np.testing.assert_array_equal(conditions, condition.standardize(features[rows]))
    first, second = np.flatnonzero(rows == rows[0])[:2]  # two captions of one image share its vector
    np.testing.assert_array_equal(conditions[first], conditions[second])
    train = conditions[prepared.split("train").drop_duplicates("row").index]
    np.testing.assert_allclose(train.mean(axis=0), 0, atol=1e-3)  # standardised on the training images
    with pytest.raises(ValueError, match="generate_from_text"):
        condition.encode(["a red circle"])
    from t2ilib.features.xception import features_path  # other input size or other images: another file

    assert features_path(prepared.work_dir, None, 72, prepared.cache.names) != cached[0]
    assert features_path(prepared.work_dir, None, 71, prepared.cache.names[:-1]) != cached[0]


def test_mapped_retrieval_counts_ranks_ties_and_groups():
    features = np.eye(4)
    queries = np.array([[1.0, 0.1, 0, 0],   # nearest: 0 (own: 0) -> rank 1
                        [0.9, 0.5, 0, 0],   # own 1 is second -> rank 2
                        [0, 0, 0.2, 1.0],   # own 2 is second -> rank 2
                        [0, 0, 0, 1.0]])    # own 3 -> rank 1
    result = mapped_retrieval(queries, features, np.array([0, 1, 2, 3]), ks=(1, 2))
    assert result["recall@1"] == 0.5 and result["recall@2"] == 1.0
    assert result["chance@1"] == 0.25 and result["chance@2"] == 0.5
    assert result["median_rank"] == 1.5
    # A mapper that outputs one vector for everything ties with every image: counted against it.
    constant = mapped_retrieval(np.zeros((4, 4)), features, np.array([0, 1, 2, 3]), ks=(1, 2))
    assert constant["recall@2"] == 0.0 and constant["median_rank"] == 4
    # Groups: images 0/1 and 2/3 look alike to the text; any image of the group is a hit.
    grouped = mapped_retrieval(queries, features, np.array([0, 1, 2, 3]), ks=(1, 2), groups=["a", "a", "b", "b"])
    assert grouped["recall@1"] == 1.0
    assert grouped["chance@1"] == 0.5 and grouped["chance@2"] == pytest.approx(1 - (2 / 4) * (1 / 3))
    with pytest.raises(ValueError, match="do not fit"):
        mapped_retrieval(queries, features, np.array([0, 1]))


def test_cosine_mse_loss_values():
    target = np.array([[1.0, 0.0], [0.0, 2.0]], np.float32)
    loss = CosineMSELoss(cosine_weight=1.0, mse_weight=1.0)
    assert float(loss(target, target)) == pytest.approx(0.0, abs=1e-6)
    opposite = -target  # per sample: cosine -1 -> 2, plus the mean of the squared differences
    expected = np.mean([2 + (4 + 0) / 2, 2 + (0 + 16) / 2])
    assert float(loss(target, opposite)) == pytest.approx(expected, rel=1e-5)


def test_mapper_learns_a_linear_text_to_feature_map():
    """On data where text determines the feature, retrieval of held-out pairs is far above chance."""
    import keras

    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    projection = rng.standard_normal((16, 64)).astype(np.float32)
    text = rng.standard_normal((400, 16)).astype(np.float32)
    features = text @ projection / 4 + 0.05 * rng.standard_normal((400, 64)).astype(np.float32)
    mapper = build_mapper(16, 64, MapperConfig(hidden_units=64, epochs=0))
    mapper.fit(text[:300], features[:300], epochs=25, batch_size=50, verbose=0)
    mapped = mapper.predict(text[300:], verbose=0)
    result = mapped_retrieval(mapped, features[300:], np.arange(100))
    assert result["recall@1"] > 0.5 > 10 * result["chance@1"]


@pytest.fixture(scope="module")
def feature_run(tmp_path_factory):
    """A feature-conditioned tiny Stage-I (1 epoch of 2 steps) and its mapper (2 epochs)."""
    from t2ilib.config import preset

    root = tmp_path_factory.mktemp("xception")
    text_config = preset("tiny").replace(**{"data.data_dir": str(root / "data"), "train.epochs": 1,
                                            "train.steps_per_epoch": 2})
    config = feature_baseline.feature_run_config(text_config, weights=None, input_size=INPUT_SIZE)
    metrics = stage1.train_stage1(config, root / "run", verbose=0)
    mapper_metrics = feature_baseline.train_mapper(root / "run", root / "mapper", text_config.text,
                                                   MapperConfig(hidden_units=16, epochs=2, batch_size=32))
    return root, config, metrics, mapper_metrics


def test_feature_conditioned_stage1_is_the_same_model_and_training(feature_run):
    root, config, metrics, _ = feature_run
    saved = json.loads((root / "run" / "config.json").read_text())
    assert saved["condition"]["source"] == FEATURE_SOURCE and saved["text"]["encoder"] == config.text.encoder
    assert metrics["epochs_trained"] == 1 and metrics["optimizer_steps"] == 2
    # reconstruction fidelity was measured on the configured number of images (tiny: 16)
    assert metrics["fidelity"]["n"] == metrics["fidelity_samples"] == config.train.fidelity_samples == 16
    generator, condition, _ = stage1.load_generator(root / "run")
    assert type(generator).__name__ == "StageIGenerator" and generator.embedding_dim == 2048
    with pytest.raises(ValueError, match="conditioned on Xception image features"):
        stage1.generate(root / "run", ["a red circle"])
    path = feature_baseline.reconstruction_grid(root / "run")
    assert path.is_file() and path.stat().st_size > 1000


def test_a_feature_run_written_before_the_condition_section_loads_and_resumes(feature_run, tmp_path):
    """Its config.json said text.encoder "xception-features" with text.feature_*: it loads with
    those in the condition section and resumes, also under a text section it never read."""
    import shutil

    from t2ilib.config import RunConfig

    root, config, _, _ = feature_run
    run = tmp_path / "old_run"
    shutil.copytree(root / "run", run)
    old = json.loads((run / "config.json").read_text())
    condition = old.pop("condition")
    old["text"].update(encoder="xception-features", feature_weights=condition["feature_weights"],
                       feature_input_size=condition["feature_input_size"])
    (run / "config.json").write_text(json.dumps(old))
    loaded = RunConfig.load(run / "config.json")
    assert loaded.condition == config.condition and loaded.text.encoder == "word2vec"
    with pytest.raises(ValueError, match="condition.feature_input_size: saved 71, now 72"):
        stage1.train_stage1(config.replace(**{"condition.feature_input_size": 72, "train.epochs": 2}), run, verbose=0)
    # the preset of the text run it is compared with may have another encoder: not read, not refused
    resumed = config.replace(**{"text.encoder": "onehot", "train.epochs": 2})
    metrics = stage1.train_stage1(resumed, run, verbose=0)
    assert metrics["epochs_trained"] == 2 and metrics["optimizer_steps"] == 4
    assert RunConfig.load(run / "config.json").condition.source == FEATURE_SOURCE


def test_mapper_metrics_and_generate_from_text(feature_run):
    root, config, _, mapper_metrics = feature_run
    assert mapper_metrics["held_out_split"] == "validation"
    assert mapper_metrics["candidates"] == mapper_metrics["queries"] == 36  # tiny: caption #0 of 36 images
    assert mapper_metrics["chance@1"] == pytest.approx(1 / 36)
    # recall@k recomputed here: rank each validation caption's own image by cosine of mapped vs true feature
    mapper, encoder, _ = feature_baseline.load_mapper(root / "mapper", root / "run")
    prepared = prepare_data(config.data, progress=False)
    validation = prepared.split("validation")
    _, features = stage1.embed_all_captions(config, prepared)
    mapped = mapper.predict(encoder.encode(validation["caption"].tolist()), verbose=0)
    images = validation.drop_duplicates("row")
    candidates = features[images.index]
    similarity = (mapped / np.linalg.norm(mapped, axis=1, keepdims=True)) @ (
        candidates / np.linalg.norm(candidates, axis=1, keepdims=True)).T
    own = np.array([list(images["row"]).index(row) for row in validation["row"]])
    ranks = 1 + (similarity > similarity[np.arange(len(own)), own][:, None]).sum(axis=1)
    assert mapper_metrics["recall@1"] == pytest.approx(np.mean(ranks <= 1), abs=1e-6)
    assert mapper_metrics["recall@5"] == pytest.approx(np.mean(ranks <= 5), abs=1e-6)
    assert mapper_metrics["median_rank"] == pytest.approx(np.median(ranks))
    assert mapper_metrics["attributes_chance@1"] > mapper_metrics["chance@1"]  # several images share attributes
    captions = ["A red circle at the top on a black background .", "A blue square on a white background ."]
    images = feature_baseline.generate_from_text(root / "run", root / "mapper", captions, num_per_caption=2, seed=3)
    assert images.shape == (2, 2, 32, 32, 3) and images.dtype == np.uint8
    again = feature_baseline.generate_from_text(root / "run", root / "mapper", captions, num_per_caption=2, seed=3)
    np.testing.assert_array_equal(images, again)
    # Same settings again: the saved mapper is reused, not retrained; other settings are refused.
    from t2ilib.config import preset

    reused = feature_baseline.train_mapper(root / "run", root / "mapper", preset("tiny").text,
                                           MapperConfig(hidden_units=16, epochs=2, batch_size=32))
    assert reused == mapper_metrics
    with pytest.raises(ValueError, match="other settings"):
        feature_baseline.train_mapper(root / "run", root / "mapper", preset("tiny").text, MapperConfig(hidden_units=8))
    text_run = root / "text_run"  # a text-conditioned run is not a feature run
    text_run.mkdir(exist_ok=True)
    preset("tiny").save(text_run / "config.json")
    with pytest.raises(ValueError, match="condition.source is 'text', not 'xception-features'"):
        feature_baseline.train_mapper(text_run, root / "mapper2", config.text)
    assert not (root / "mapper2").exists()


def test_feature_baseline_command_has_help():
    from t2ilib.cli import build_parser

    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["feature-baseline", "--help"])
    assert stop.value.code == 0


def test_weights_from_a_file_are_used(xception, tmp_path):
    """Colab-less users can bring their own weights file (e.g. ImageNet weights downloaded elsewhere)."""
    path = tmp_path / "xception_notop.weights.h5"
    images = np.random.default_rng(1).integers(0, 256, (2, 71, 71, 3), dtype=np.uint8)
    seeded = extract_features(xception, images)
    first_kernel = xception.weights[0]
    original = first_kernel.numpy()
    try:
        first_kernel.assign(original[..., ::-1] * 3)  # "other" weights than the seeded random ones
        xception.save_weights(path)
        expected = extract_features(xception, images)
    finally:
        first_kernel.assign(original)  # the module's shared extractor stays as it was
    from_file = build_xception(weights=str(path), input_size=INPUT_SIZE)
    np.testing.assert_allclose(extract_features(from_file, images), expected, rtol=1e-5, atol=1e-12)
    assert not np.allclose(seeded, expected)
    from t2ilib.features.xception import weights_label

    assert weights_label(str(path)).startswith("file-xception_notop.weights.h5-")
