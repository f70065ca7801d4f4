"""The kit's BatchNorm runs on TensorFlow's fused kernel (issue 19) and must compute what
keras.layers.BatchNormalization computes: outputs, gradients and the moving statistics."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from t2ilib.models.blocks import FusedBatchNormalization


@pytest.mark.parametrize("shape", [(8, 5, 6, 4), (8, 7)])  # conv feature maps and Dense outputs
def test_fused_batch_norm_matches_keras_batch_norm(shape):
    x = tf.random.stateless_normal(shape, seed=(1, 2)) * 3.0 + 1.0
    reference = keras.layers.BatchNormalization(gamma_initializer="random_normal", beta_initializer="random_normal")
    reference.build(shape)
    fused = FusedBatchNormalization()
    fused.build(shape)
    fused.set_weights(reference.get_weights())
    for training in (True, False, True):  # the inference call reads the moving statistics the training call wrote
        results = []
        for layer in (reference, fused):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x, training=training)
                loss = tf.reduce_sum(y * tf.sin(y))
            gradients = tape.gradient(loss, [x, *layer.trainable_variables])
            results.append([y, *gradients, *layer.non_trainable_variables])
        for ours, theirs in zip(results[1], results[0]):
            np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-4, atol=1e-5)
