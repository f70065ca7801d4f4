"""The GloVe "VAE" of the second report: parameter counts, training, shapes, honest metrics."""

import numpy as np
import pytest

from t2ilib.metrics.reconstruction import (
    is_collapsed,
    mean_image_baseline,
    output_spread,
    reconstruction_report,
)
from t2ilib.models.vae import TextToImageVAE, letterbox, report_model


@pytest.mark.parametrize("number, parameters, learning_rate", [
    (1, 7_646_388, 1e-2),
    (2, 7_646_388, 1e-3),
    (3, 7_588_638, 1e-3),
])
def test_report_parameter_counts_and_optimizers(number, parameters, learning_rate):
    model, optimizer = report_model(number)
    assert model.count_trainable_parameters() == parameters
    assert type(optimizer).__name__ == "RMSprop"
    assert float(optimizer.learning_rate) == pytest.approx(learning_rate)
    assert model.optimizer is optimizer
    assert (model.dropout > 0) == (number == 3)


@pytest.mark.parametrize("number, hidden, latent", [(1, 100, 150), (3, 50, 50)])
def test_each_layer_of_the_report_models_has_the_reports_shape(number, hidden, latent):
    # encoder Dense(hidden) on the 50-d GloVe sum, z_mean and z_log_var Dense(latent), decoder
    # 300 (relu) -> 600 (sigmoid) -> 12,288 = 64x64x3 (sigmoid); weights + biases per layer.
    model, _ = report_model(number)
    dense = {layer.name: layer for layer in model._flatten_layers(include_self=False)
             if type(layer).__name__ == "Dense"}
    assert {name: layer.count_params() for name, layer in dense.items()} == {
        "encoder_hidden": 50 * hidden + hidden, "z_mean": hidden * latent + latent, "z_log_var": hidden * latent + latent,
        "decoder_hidden_1": latent * 300 + 300, "decoder_hidden_2": 300 * 600 + 600, "to_pixels": 600 * 12288 + 12288}
    activations = {name: layer.activation.__name__ for name, layer in dense.items()}
    assert activations == {"encoder_hidden": "relu", "z_mean": "linear", "z_log_var": "linear",
                           "decoder_hidden_1": "relu", "decoder_hidden_2": "sigmoid", "to_pixels": "sigmoid"}


@pytest.mark.parametrize("batch_size", [1, 5])
def test_any_batch_size_gives_images_in_unit_range(batch_size):
    model = TextToImageVAE(encoder_units=8, latent_dim=4, decoder_units=(8, 8), image_size=16, seed=0).build_for()
    images = np.asarray(model(np.random.default_rng(0).normal(size=(batch_size, 50)).astype("float32")))
    assert images.shape == (batch_size, 16, 16, 3)
    assert images.min() >= 0.0 and images.max() <= 1.0


def test_inference_decodes_z_mean_training_samples():
    model = TextToImageVAE(encoder_units=8, latent_dim=4, decoder_units=(8, 8), image_size=16, seed=0).build_for()
    embeddings = np.random.default_rng(1).normal(size=(3, 50)).astype("float32")
    np.testing.assert_array_equal(np.asarray(model(embeddings)), np.asarray(model(embeddings)))
    assert not np.allclose(np.asarray(model(embeddings, training=True)), np.asarray(model(embeddings, training=True)))


def test_a_few_train_steps_at_batch_8():
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(16, 50)).astype("float32")
    images = rng.uniform(size=(16, 64, 64, 3)).astype("float32")
    model, _ = report_model(3, seed=0)
    weights_before = [np.array(w) for w in model.trainable_weights]
    before = model.evaluate(embeddings, images, batch_size=8, verbose=0, return_dict=True)
    history = model.fit(embeddings, images, batch_size=8, epochs=3, shuffle=False, verbose=0)
    after = model.evaluate(embeddings, images, batch_size=8, verbose=0, return_dict=True)

    assert set(history.history) == {"loss", "reconstruction", "kl"}  # no "accuracy"
    assert all(np.isfinite(value) for values in history.history.values() for value in values)
    assert set(after) == {"loss", "reconstruction", "kl"}
    assert after["loss"] == pytest.approx(after["reconstruction"] + after["kl"], rel=1e-4)
    assert after["reconstruction"] < before["reconstruction"]
    assert any(not np.array_equal(w0, np.array(w1)) for w0, w1 in zip(weights_before, model.trainable_weights))


def test_kl_is_the_reports_formula():
    model = TextToImageVAE(encoder_units=4, latent_dim=3, decoder_units=(4, 4), image_size=8).build_for()
    mu = np.array([[0.5, -1.0, 0.0], [1.0, 0.0, 2.0]], "float32")
    log_var = np.array([[0.0, 0.3, -0.2], [0.1, 0.0, 0.5]], "float32")
    images = np.zeros((2, 8, 8, 3), "float32")
    predicted = np.full((2, 8, 8, 3), 0.5, "float32")
    loss, reconstruction, kl = model.compute_losses(images, predicted, mu, log_var)
    expected_kl = -0.5 * np.mean(1 + log_var - mu ** 2 - np.exp(log_var))
    assert float(reconstruction) == pytest.approx(0.25)
    assert float(kl) == pytest.approx(expected_kl, rel=1e-5)
    assert float(loss) == pytest.approx(0.25 + expected_kl, rel=1e-5)


def test_letterbox_pads_with_black_and_scales():
    wide = np.full((30, 60, 3), 255, np.uint8)
    target = letterbox(wide)
    assert target.shape == (64, 64, 3) and target.dtype == np.float32
    assert target[0, 32].max() == 0.0 and target[63, 32].max() == 0.0  # black bands above and below
    assert target[32, 32].min() == pytest.approx(1.0)  # the image, scaled to [0, 1]
    assert target[32, 0].min() == pytest.approx(1.0)  # full width
    with pytest.raises(ValueError, match="uint8"):
        letterbox(wide.astype(np.float32))


def test_reconstruction_report_known_values():
    target = np.full((2, 16, 16, 3), 0.5, "float32")
    perfect = reconstruction_report(target, target)
    assert perfect["mse"] == 0.0 and perfect["psnr"] == float("inf") and perfect["ssim"] == pytest.approx(1.0)
    off = reconstruction_report(target + 0.1, target)
    assert off["mse"] == pytest.approx(0.01, rel=1e-5) and off["psnr"] == pytest.approx(20.0, rel=1e-4)


def test_collapse_detector():
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(6, 50)).astype("float32")
    model = TextToImageVAE(encoder_units=8, latent_dim=4, decoder_units=(8, 8), image_size=16, seed=0).build_for()
    kernel, bias = model.to_pixels.get_weights()
    model.to_pixels.set_weights([np.zeros_like(kernel), rng.normal(size=bias.shape).astype("float32")])
    constant = np.asarray(model(embeddings))  # the pixels ignore the caption: one image for all
    assert output_spread(constant) < 1e-6 and is_collapsed(constant)

    varied = rng.uniform(size=(6, 16, 16, 3)).astype("float32")  # six different images
    assert output_spread(varied) > 0.2 and not is_collapsed(varied)
    baseline = mean_image_baseline(varied)
    assert is_collapsed(baseline)
    with pytest.raises(ValueError, match="at least 2"):
        output_spread(varied[:1])
