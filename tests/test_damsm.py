"""DAMSM (AttnGAN's text and image encoders): the official trainable counts, the word ids read
as one sequence whatever the padding, and both matching losses pinned to hand-computed cases
(docs/reference.md#attngan-and-damsm)."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from t2ilib.models.damsm import (
    DAMSM,
    DAMSMImageEncoder,
    DAMSMTextEncoder,
    sentence_loss,
    word_attention,
    word_relevance,
    words_first,
    words_loss,
)


def trainable_count(owner):
    return sum(int(np.prod(variable.shape)) for variable in owner.trainable_weights)


def softplus(x):
    return math.log1p(math.exp(x))


# taoxugit/AttnGAN RNN_ENCODER (300-d embedding, bidirectional LSTM 128 per direction): 300 x n_words + 440,320.
OFFICIAL_LSTM = 440_320
PYTORCH_SECOND_BIASES = 2 * 4 * 128  # b_hh next to b_ih, per gate and direction; Keras keeps one bias
CUB_WORDS = 5_450


def test_text_encoder_has_the_official_trainable_count():
    encoder = DAMSMTextEncoder(CUB_WORDS).build_for()
    assert trainable_count(encoder) + PYTORCH_SECOND_BIASES == 300 * CUB_WORDS + OFFICIAL_LSTM == 2_075_320
    small = DAMSMTextEncoder(40).build_for()
    assert trainable_count(small) == 300 * 40 + OFFICIAL_LSTM - PYTORCH_SECOND_BIASES


def test_image_encoder_trains_only_its_two_projections_as_the_official_cnn_encoder():
    encoder = DAMSMImageEncoder(backbone_size=75, backbone_weights=None).build_for()
    assert trainable_count(encoder) == 768 * 256 + (2048 * 256 + 256) == 721_152
    assert encoder.region_grid == (3, 3)  # mixed7 at the minimum input
    regions, image_features = encoder(np.zeros((2, 32, 32, 3), "float32"))  # any size: resized to 75
    assert tuple(regions.shape) == (2, 9, 256) and tuple(image_features.shape) == (2, 256)
    official = DAMSMImageEncoder(backbone_size=299, backbone_weights=None)
    assert official.region_grid == (17, 17) and official.backbone.outputs[0].shape[-1] == 768
    with pytest.raises(ValueError, match="at least 75"):
        DAMSMImageEncoder(backbone_size=64, backbone_weights=None)


def test_word_ids_are_read_as_one_sequence_whatever_the_left_padding():
    np.testing.assert_array_equal(ops.convert_to_numpy(words_first(np.array([[0, 0, 5, 7], [3, 4, 2, 9], [0, 0, 0, 0]]))),
                                  [[5, 7, 0, 0], [3, 4, 2, 9], [0, 0, 0, 0]])
    keras.utils.set_random_seed(0)
    encoder = DAMSMTextEncoder(12, embedding_dim=8, word_dim=6).build_for()
    words, mask, sentence = encoder(np.array([[0, 0, 5, 7], [0, 0, 0, 5]]))
    short_words, short_mask, short_sentence = encoder(np.array([[5, 7], [0, 5]]))
    np.testing.assert_allclose(ops.convert_to_numpy(sentence), ops.convert_to_numpy(short_sentence), atol=1e-6)
    np.testing.assert_array_equal(ops.convert_to_numpy(mask), [[1, 1, 0, 0], [1, 0, 0, 0]])
    np.testing.assert_allclose(ops.convert_to_numpy(words)[:, :2], ops.convert_to_numpy(short_words), atol=1e-6)
    assert not ops.convert_to_numpy(words)[0, 2:].any() and not ops.convert_to_numpy(words)[1, 1:].any()
    # the sentence is the last forward state and the first backward one: another word order changes it
    _, _, swapped = encoder(np.array([[0, 0, 7, 5]]))
    assert np.abs(ops.convert_to_numpy(swapped)[0] - ops.convert_to_numpy(sentence)[0]).max() > 1e-4


def test_word_relevance_hand_computed_two_words_two_regions_and_padding_left_out():
    # words (1, 0), (0, 1) and a padding word; regions (2, 0), (0, 1).
    words = np.array([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]], "float32")
    mask = np.array([[True, True, False]])
    regions = np.array([[[2.0, 0.0], [0.0, 1.0]]], "float32")
    # products word x region [[2, 0], [0, 1]]; softmax over the two words within each region:
    region_1 = [math.exp(2) / (math.exp(2) + 1), 1 / (math.exp(2) + 1)]
    region_2 = [1 / (1 + math.e), math.e / (1 + math.e)]
    expected_attention, cosines = [], []
    for word, vector in enumerate([(1.0, 0.0), (0.0, 1.0)]):  # then softmax over regions of 4 x that
        a, b = math.exp(4 * region_1[word]), math.exp(4 * region_2[word])
        attention = (a / (a + b), b / (a + b))
        expected_attention.append(attention)
        context = (2 * attention[0], attention[1])
        cosines.append((vector[0] * context[0] + vector[1] * context[1]) / math.hypot(*context))
    _, attention = word_attention(words, mask, regions)
    np.testing.assert_allclose(ops.convert_to_numpy(attention)[0, 0, :2], expected_attention, rtol=1e-5)
    expected = math.log(sum(math.exp(5 * cosine) for cosine in cosines))  # no 1/gamma2 power (official)
    assert expected == pytest.approx(5.6548, abs=1e-4)
    np.testing.assert_allclose(ops.convert_to_numpy(word_relevance(words, mask, regions)), [[expected]], rtol=1e-5)


def test_both_losses_hand_computed_on_a_batch_of_two():
    # Caption 0 is the word (1, 0), caption 1 the word (0, 1); image 0 one region (1, 0), image 1 one
    # region (1, 1). One word and one region: the attention is 1, R = gamma2 * cos, logits gamma3 * R.
    words = np.array([[[1.0, 0.0]], [[0.0, 1.0]]], "float32")
    mask = np.ones((2, 1), bool)
    regions = np.array([[[1.0, 0.0]], [[1.0, 1.0]]], "float32")
    c = math.sqrt(0.5)  # cos of the 45-degree pairs; logits (images x captions) 50 * [[1, 0], [c, c]]
    image_to_text = (softplus(-50) + math.log(2)) / 2
    text_to_image = (softplus(-(50 - 50 * c)) + softplus(-50 * c)) / 2
    got = [float(loss) for loss in words_loss(words, mask, regions)]
    assert got == pytest.approx([image_to_text, text_to_image], rel=1e-5, abs=1e-7)  # float32 near 0
    assert got == pytest.approx([0.346574, 2.18e-7], abs=1e-6)
    # Sentence loss on the same vectors as global features: logits 10 * [[1, 0], [c, c]].
    image_to_text = (softplus(-10) + math.log(2)) / 2
    text_to_image = (softplus(-(10 - 10 * c)) + softplus(-10 * c)) / 2
    got = [float(loss) for loss in sentence_loss(regions[:, 0], words[:, 0])]
    assert got == pytest.approx([image_to_text, text_to_image], rel=1e-5)
    assert got == pytest.approx([0.346596, 0.026462], abs=1e-5)
    # Two samples of one group (two captions of the same image) are not each other's negatives.
    same = [float(loss) for loss in sentence_loss(regions[:, 0], words[:, 0], groups=np.array([3, 3]))]
    assert same == pytest.approx([0.0, 0.0], abs=1e-6)


def test_a_few_fit_steps_lower_the_damsm_loss_on_a_fixed_batch():
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (6, 32, 32, 3)).astype("float32")
    ids = np.array([[0, 0, 2 + i, 8 + (i % 3)] for i in range(6)], "int32")
    groups = np.arange(6, dtype="int32")
    model = DAMSM(DAMSMTextEncoder(12, embedding_dim=16, word_dim=8, dropout=0.0),
                  DAMSMImageEncoder(16, backbone_size=75, backbone_weights=None)).build_for(words=4)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    batches = tf.data.Dataset.from_tensors((images, ids, groups)).repeat()
    history = model.fit(batches, epochs=15, steps_per_epoch=1, verbose=0).history
    assert history["loss"][-1] < 0.7 * history["loss"][0]
    assert np.isfinite(history["word_loss"]).all() and np.isfinite(history["sentence_loss"]).all()
