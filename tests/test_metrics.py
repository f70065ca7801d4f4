"""Image metrics against known values and reference formulas (no pretrained weights needed)."""

import warnings

import numpy as np
import pytest
from scipy import linalg

from t2ilib.metrics.diversity import diversity, ms_ssim, power_factors_for
from t2ilib.metrics.fid import fid, fid_from_features, frechet_distance, trace_sqrt_product_from_features
from t2ilib.metrics.inception_score import inception_score, inception_score_from_probabilities
from t2ilib.metrics.rprecision import r_precision_from_codes


def reference_fid(mu1, sigma1, mu2, sigma2):
    """The textbook formula, written independently: Tr of the symmetric form S1^1/2 S2 S1^1/2."""
    root1 = linalg.sqrtm(sigma1).real
    middle = linalg.sqrtm(root1 @ sigma2 @ root1).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(middle))


def random_covariance(rng, dim):
    a = rng.standard_normal((dim, dim))
    return a @ a.T / dim + 0.1 * np.eye(dim)


# --- FID --------------------------------------------------------------------------------
def test_fid_with_equal_covariances_is_the_squared_mean_distance():
    rng = np.random.default_rng(0)
    sigma = random_covariance(rng, 32)
    mu1, mu2 = rng.standard_normal(32), rng.standard_normal(32)
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(np.sum((mu1 - mu2) ** 2), rel=1e-6, abs=1e-8)


def test_fid_of_a_set_with_itself_is_zero():
    features = np.random.default_rng(1).standard_normal((300, 64))
    value, method = fid_from_features(features, features, method="sqrtm")
    assert abs(value) < 1e-6 and method == "sqrtm"


def test_fid_matches_an_independent_scipy_oracle_on_512x256_data():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((512, 256))
    b = rng.standard_normal((512, 256)) * 1.3 + 0.2
    value, _ = fid_from_features(a, b, method="sqrtm")
    oracle = reference_fid(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert value == pytest.approx(oracle, rel=1e-4)


def test_the_small_sample_shortcut_equals_sqrtm():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((20, 64)), rng.standard_normal((30, 64)) + 0.5
    exact, method = fid_from_features(a, b)  # auto: fewer rows than dimensions -> svd
    assert method == "svd"
    assert exact == pytest.approx(fid_from_features(a, b, method="sqrtm")[0], rel=1e-4)
    # and the trace identity on full-rank data
    c, d = rng.standard_normal((200, 16)), rng.standard_normal((150, 16))
    s1, s2 = np.cov(c, rowvar=False), np.cov(d, rowvar=False)
    assert trace_sqrt_product_from_features(c, d) == pytest.approx(np.trace(linalg.sqrtm(s1 @ s2).real), rel=1e-8)


def test_singular_covariances_take_the_offset_and_give_the_expected_value():
    # S1 = S2 = diag(1, 0, ..., 0) (8-d): S1 S2 is singular, scipy warns, the kit adds eps * I.
    # ||mu1 - mu2||^2 = 8, Tr S1 + Tr S2 = 2, Tr sqrt((S1 + eps)(S2 + eps)) = (1 + eps) + 7 eps.
    mu = np.zeros(8)
    singular = np.zeros((8, 8))
    singular[0, 0] = 1.0
    assert frechet_distance(mu, singular, mu + 1, singular) == pytest.approx(8.0, abs=1e-4)
    # a large eps makes the offset visible: 8 + 2 - 2 * (1.01 + 0.07) = 7.84 (8.0 without it)
    assert frechet_distance(mu, singular, mu + 1, singular, eps=1e-2) == pytest.approx(7.84, rel=1e-9)


def test_a_large_imaginary_part_of_the_square_root_is_an_error_and_a_tiny_one_is_dropped(monkeypatch):
    # Not covariances (S2 has a negative eigenvalue), so sqrtm(S1 S2) = diag(1j, 1): imaginary part 1.
    with pytest.raises(ValueError, match="imaginary part of 1"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.diag([-1.0, 1.0]))
    # Rounding noise of 1e-8j on the diagonal is dropped: FID(N(0, I), N(0, 4I)) in 2-d = 2 + 8 - 2 * 4 = 2.
    from scipy import linalg as scipy_linalg

    real_sqrtm = scipy_linalg.sqrtm
    monkeypatch.setattr(scipy_linalg, "sqrtm", lambda matrix: real_sqrtm(matrix) + 1e-8j * np.eye(len(matrix)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)  # dropped on purpose, not by float()
        value = frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), 4 * np.eye(2))
    assert isinstance(value, float) and value == pytest.approx(2.0)


def test_fid_rejects_mismatched_statistics_and_float_images():
    with pytest.raises(ValueError, match="do not match"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="uint8"):
        fid(np.zeros((2, 8, 8, 3), np.float32), np.zeros((2, 8, 8, 3), np.uint8), weights=None)


# --- Inception Score ----------------------------------------------------------------------
def test_inception_score_of_uniform_predictions_is_one():
    mean, std = inception_score_from_probabilities(np.full((100, 1000), 1e-3))
    assert mean == pytest.approx(1.0) and std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_of_k_equally_frequent_one_hot_classes_is_k():
    k = 7
    probabilities = np.eye(k)[np.repeat(np.arange(k), 10)]  # 70 images, 10 per class
    mean, _ = inception_score_from_probabilities(probabilities, splits=1)
    assert mean == pytest.approx(k)
    mean10, std10 = inception_score_from_probabilities(probabilities, splits=10)
    assert 1.0 < mean10 <= k and std10 >= 0  # splits of 7 random images see fewer distinct classes


def test_inception_score_is_the_exponential_of_the_mean_kl_not_the_mean_of_exponentials():
    # p(y) = (0.75, 0.25); KL_1 = log(4/3) = 0.28768, KL_2 = 0.5 log(2/3) + 0.5 log 2 = 0.14384.
    # exp(mean KL) = exp(0.21576) = 1.2408; mean(exp KL) would be (4/3 + 1.1547) / 2 = 1.2440.
    mean, std = inception_score_from_probabilities(np.array([[1.0, 0.0], [0.5, 0.5]]), splits=1)
    assert mean == pytest.approx(1.2408, abs=1e-4) and std == 0.0


def test_inception_score_needs_enough_images_for_its_splits():
    with pytest.raises(ValueError, match="splits"):
        inception_score_from_probabilities(np.full((5, 10), 0.1), splits=10)


# --- R-precision --------------------------------------------------------------------------
def test_r_precision_is_one_for_a_perfect_encoder_pair():
    codes = np.random.default_rng(4).standard_normal((150, 32))
    scores = r_precision_from_codes(codes, codes.copy())
    assert scores["mean"] == 1.0 and scores["candidates"] == 100 and scores["folds"] == 10


def test_r_precision_is_chance_for_unrelated_codes():
    rng = np.random.default_rng(5)
    scores = r_precision_from_codes(rng.standard_normal((2000, 16)), rng.standard_normal((2000, 16)))
    assert 0.002 < scores["mean"] < 0.02  # chance 1/100 (std of 2,000 trials ~0.002)


def test_r_precision_never_counts_a_caption_of_the_same_image_as_mismatched():
    rng = np.random.default_rng(6)
    text = rng.standard_normal((40, 8))
    text[0] = text[1] + 0.05 * rng.standard_normal(8)  # captions 0 and 1 describe the same image (group 0)
    images = text.copy()
    images[1] = text[0]  # image 1 is closest to caption 0, its image's other caption, then to its own
    groups = np.repeat(np.arange(20), 2)
    grouped = r_precision_from_codes(images, text, groups=groups)
    assert grouped["hits"] == 40 and grouped["candidates"] == 39  # caption 0 is not a candidate for image 1
    assert r_precision_from_codes(images, text)["hits"] == 39  # without groups image 1 loses to caption 0
    assert r_precision_from_codes(images, text, groups=groups, num_candidates=3)["candidates"] == 3


def test_r_precision_ranks_by_cosine_similarity_not_by_dot_product():
    # Image 0's own caption points its way (cosine 0.995) but is short; image 1's caption is long
    # (dot product 10 with image 0, cosine 0.707). By cosine both images hit; by dot product only image 1.
    images = np.array([[1.0, 0.0], [0.0, 1.0]])
    texts = np.array([[1.0, 0.1], [10.0, 10.0]])
    scores = r_precision_from_codes(images, texts, num_candidates=2, folds=1)
    assert scores["hits"] == 2 and scores["mean"] == 1.0
    scaled = r_precision_from_codes(images * [[3.0], [0.2]], texts * [[0.5], [7.0]], num_candidates=2, folds=1)
    assert scaled["hits"] == 2  # lengths of the codes do not matter


# --- MS-SSIM / diversity ------------------------------------------------------------------
def test_power_factors_follow_the_image_size():
    assert len(power_factors_for(256)) == 5 and len(power_factors_for(64)) == 3 and len(power_factors_for(32)) == 2
    assert sum(power_factors_for(64)) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        power_factors_for(8)


@pytest.mark.parametrize("size", [32, 64])
def test_ms_ssim_of_identical_images_is_one_and_of_noise_is_low(size):
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, (3, size, size, 3), dtype=np.uint8)
    np.testing.assert_allclose(ms_ssim(images, images), 1.0, atol=1e-5)
    other = rng.integers(0, 256, (3, size, size, 3), dtype=np.uint8)
    assert (ms_ssim(images, other) < 0.2).all()


def test_ms_ssim_weights_its_scales_with_the_rescaled_standard_factors():
    """MS-SSIM = prod_j term_j ** w_j. With power factors (1, 0) and (0, 1) tf gives each term
    alone; the kit's 32 px value must be their product with w = (0.0448, 0.2856) / 0.3304."""
    import tensorflow as tf

    rng = np.random.default_rng(11)
    smooth = np.kron(rng.integers(0, 256, (2, 8, 8, 3)), np.ones((1, 4, 4, 1))).astype(np.uint8)  # 32x32 blocks
    noisy = np.clip(smooth + rng.normal(0, 40, smooth.shape), 0, 255).astype(np.uint8)  # fine-scale damage
    terms = [np.asarray(tf.image.ssim_multiscale(smooth, noisy, 255, power_factors=factors, filter_size=11))
             for factors in ((1.0, 0.0), (0.0, 1.0))]
    assert np.all(np.abs(terms[0] - terms[1]) > 0.05)  # the scales disagree, so the weights matter
    weights = np.array([0.0448, 0.2856]) / 0.3304
    np.testing.assert_allclose(ms_ssim(smooth, noisy), terms[0] ** weights[0] * terms[1] ** weights[1], rtol=1e-3)
    # (equal weights would give 0.89 and 0.85, the unrescaled factors 0.98: both far outside 1e-3)


def test_diversity_of_a_generator_that_ignores_its_noise_is_one():
    rng = np.random.default_rng(8)
    one_per_caption = rng.integers(0, 256, (2, 1, 32, 32, 3), dtype=np.uint8)
    result = diversity(np.repeat(one_per_caption, 3, axis=1))
    assert result.value == pytest.approx(1.0, abs=1e-5)
    assert result.n == 6 and result.image_size == 32 and len(result.details["power_factors"]) == 2
    varied = diversity(rng.integers(0, 256, (2, 3, 32, 32, 3), dtype=np.uint8))
    assert varied.value < 0.2
    with pytest.raises(ValueError, match="num_per_caption"):
        diversity(one_per_caption)


# --- The InceptionV3 pipeline (random weights, offline) -------------------------------------
@pytest.fixture(scope="module")
def scorer():
    from t2ilib.metrics.inception import InceptionScorer

    return InceptionScorer(weights=None, batch_size=2)


def test_inception_pipeline_runs_on_small_images_with_random_weights(scorer):
    rng = np.random.default_rng(9)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    features, probabilities = scorer.features_and_probabilities(images)
    assert features.shape == (3, 2048) and features.dtype == np.float64 and np.isfinite(features).all()
    assert probabilities.shape == (3, 1000)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    # independent of the batch it was computed in (inference mode): image 1 alone, padded
    np.testing.assert_allclose(scorer.features(images[1:2])[0], features[1], rtol=1e-4, atol=1e-5)


def test_fid_and_inception_score_report_what_they_used(scorer):
    rng = np.random.default_rng(10)
    real = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    generated = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    result = fid(real, generated, scorer=scorer)
    assert np.isfinite(result.value) and result.value > 0
    assert (result.n, result.image_size, result.weights, result.details["num_real"]) == (3, 16, None, 2)
    assert result.details["sqrt_method"] == "svd"
    score = inception_score(generated, scorer=scorer)
    assert score.details["splits"] == 3 and score.value >= 1.0 - 1e-9
    assert "N=3" in str(score) and "weights=None" in str(score)


# evaluate_run on a whole run directory (and the R-precision judge's save/load) is checked by
# tests/test_notebooks.py::test_08_evaluation_runs, which runs it through notebook 08.
