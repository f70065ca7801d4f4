"""DAMSM (Xu et al., AttnGAN, CVPR 2018): a text encoder and an image encoder trained together so
that words match image regions and captions match images. AttnGAN's generator is pushed towards
its captions by this loss, and the field's R-precision is computed with these two encoders.

Read top to bottom: the text encoder (word ids -> word features and a sentence feature), the
image encoder (a frozen CNN -> region features and a global feature), the word attention, the
two matching losses, then `DAMSM`, the `keras.Model` whose `train_step` trains the pair with
`fit`. Facts and counts: docs/reference.md#attngan-and-damsm.

Shapes (D = `embedding_dim`, 256 in the official code; T words; R regions, 17 x 17 = 289 at 299 px):

    word ids (B, T), left-padded with 0      -> words (B, T, D), mask (B, T), sentence (B, D)
    images (B, S, S, 3) in [-1, 1]           -> regions (B, R, D), image feature (B, D)

Word ids are those of `t2ilib.text.TokenizerEncoder` (0 padding, 1 unknown word, 2... the
vocabulary): left-padded there, moved to the front here (`words_first`), so that the LSTM reads
the words as one right-padded sequence, the layout the cuDNN kernel accepts with a mask.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

GAMMA1, GAMMA2, GAMMA3 = 4.0, 5.0, 10.0  # attention sharpness, word-relevance and batch scaling (official)
BACKBONE_LOCAL_LAYER = "mixed7"  # Keras' name for Inception-v3's Mixed_6e: 17x17x768 at 299 px
MIN_BACKBONE_SIZE = 75  # the smallest input Keras' InceptionV3 accepts (mixed7 is then 3x3)
_NEGATIVE = -1e9  # "minus infinity" for masked logits that stays finite (a softmax of a full mask is uniform)


def _uniform(limit: float = 0.1):
    return keras.initializers.RandomUniform(-limit, limit)  # the official init of DAMSM's own weights


def words_first(ids):
    """Move each row's word ids to the front: [0 0 5 7] -> [5 7 0 0] (`TokenizerEncoder` pads on the left)."""
    ids = ops.cast(ids, "int32")
    length = ops.shape(ids)[1]
    pads = length - ops.sum(ops.cast(ids != 0, "int32"), axis=1, keepdims=True)  # (B, 1)
    positions = (ops.arange(length, dtype="int32")[None, :] + pads) % length  # (B, T)
    return ops.take_along_axis(ids, positions, axis=1)


@keras.saving.register_keras_serializable(package="t2ilib")
class DAMSMTextEncoder(keras.Model):
    """word ids (B, T) -> (words (B, T, D), mask (B, T), sentence (B, D)).

    Embedding (`vocabulary_size` x 300, uniform +-0.1) -> dropout 0.5 -> bidirectional LSTM with
    D/2 units per direction. A word's feature is the two directions' outputs at that word; the
    sentence feature is both directions' last hidden states (the forward one after the last
    word, the backward one after the first). Padding rows of `words` are 0, `mask` marks words.

    Trainable weights: 300 x vocabulary_size + 439,296 at D 256. The official PyTorch LSTM has
    440,320: it keeps two bias vectors per gate (input and hidden) where Keras keeps one, the same
    function with 2 x 4 x 128 = 1,024 redundant numbers (tests/test_damsm.py reconciles them).
    """

    def __init__(self, vocabulary_size: int, embedding_dim: int = 256, word_dim: int = 300, dropout: float = 0.5,
                 **kwargs):
        super().__init__(**kwargs)
        if embedding_dim % 2:
            raise ValueError(f"embedding_dim must be even (two LSTM directions of embedding_dim / 2), got {embedding_dim}.")
        if vocabulary_size < 3:
            raise ValueError(f"vocabulary_size counts padding (0), unknown (1) and the words (2...): got {vocabulary_size}.")
        self.vocabulary_size, self.embedding_dim, self.word_dim, self.dropout_rate = (
            vocabulary_size, embedding_dim, word_dim, dropout)
        self.embedding = layers.Embedding(vocabulary_size, word_dim, embeddings_initializer=_uniform(), name="embedding")
        self.dropout = layers.Dropout(dropout)
        self.lstm = layers.Bidirectional(layers.LSTM(embedding_dim // 2, return_sequences=True, return_state=True),
                                         name="lstm")

    def call(self, ids, training=False):
        ids = words_first(ids)
        mask = ids != 0  # (B, T)
        x = self.dropout(self.embedding(ids), training=training)  # (B, T, 300)
        outputs, forward_h, _, backward_h, _ = self.lstm(x, mask=mask, training=training)
        words = outputs * ops.cast(mask, outputs.dtype)[:, :, None]  # (B, T, D), 0 at padding
        sentence = ops.concatenate([forward_h, backward_h], axis=-1)  # (B, D)
        return words, mask, sentence

    def build_for(self, words: int = 18):
        self(ops.ones((2, words), dtype="int32"))
        return self

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size, "embedding_dim": self.embedding_dim,
                "word_dim": self.word_dim, "dropout": self.dropout_rate}


@keras.saving.register_keras_serializable(package="t2ilib")
class DAMSMImageEncoder(keras.Model):
    """images (B, S, S, 3) in [-1, 1] -> (regions (B, R, D), image feature (B, D)).

    The images are resized (bilinear) to `backbone_size` and run through a frozen Keras
    InceptionV3 (`backbone_weights` "imagenet" as the official code, or None offline: random and
    frozen); its `local_layer` map (`mixed7`, 17x17x768 at 299 px, 3x3 at the minimum 75 px) goes
    through a bias-free 1x1 conv to D (the regions), its last map, average-pooled to 2,048,
    through a Dense to D (the image feature). Only those two projections train: 196,608 + 524,544
    = 721,152 weights at D 256, as the official CNN_ENCODER.
    """

    def __init__(self, embedding_dim: int = 256, backbone_size: int = 299, backbone_weights: str | None = "imagenet",
                 local_layer: str = BACKBONE_LOCAL_LAYER, **kwargs):
        super().__init__(**kwargs)
        if backbone_size < MIN_BACKBONE_SIZE:
            raise ValueError(f"backbone_size must be at least {MIN_BACKBONE_SIZE} (InceptionV3's smallest input), "
                             f"got {backbone_size}.")
        self.embedding_dim, self.backbone_size = embedding_dim, backbone_size
        self.backbone_weights, self.local_layer = backbone_weights, local_layer
        inception = keras.applications.InceptionV3(include_top=False, weights=backbone_weights,
                                                   input_shape=(backbone_size, backbone_size, 3))
        try:
            local = inception.get_layer(local_layer).output
        except ValueError as error:
            raise ValueError(f"InceptionV3 has no layer {local_layer!r}; the official local map is "
                             f"{BACKBONE_LOCAL_LAYER!r} (Mixed_6e).") from error
        self.backbone = keras.Model(inception.input, [local, inception.output], name="backbone")
        self.backbone.trainable = False
        self.local_projection = layers.Conv2D(embedding_dim, 1, use_bias=False, kernel_initializer=_uniform(),
                                              name="local_projection")
        self.global_projection = layers.Dense(embedding_dim, kernel_initializer=_uniform(), name="global_projection")

    def backbone_features(self, images, input_gradients: bool = False):
        """(local map (B, h, w, 768), pooled (B, 2048)) of images in [-1, 1]: the frozen part.

        `input_gradients=True` lets gradients flow back through the backbone to the images (the
        AttnGAN generator's DAMSM loss needs them); pretraining needs none."""
        images = ops.cast(images, "float32")
        if images.shape[1] != self.backbone_size or images.shape[2] != self.backbone_size:
            images = ops.image.resize(images, (self.backbone_size, self.backbone_size), interpolation="bilinear")
        local, top = self.backbone(images, training=False)  # BatchNorm in inference mode: frozen
        pooled = ops.mean(top, axis=(1, 2))
        if input_gradients:
            return local, pooled
        # Otherwise no gradient into the frozen backbone: a tape watches its (Keras-frozen) variables
        # all the same, and differentiated through all of InceptionV3 at every step for nothing.
        return ops.stop_gradient(local), ops.stop_gradient(pooled)

    def call(self, images, training=False, input_gradients: bool = False):
        local, pooled = self.backbone_features(images, input_gradients)
        regions = self.local_projection(local)  # (B, h, w, D)
        regions = ops.reshape(regions, (-1, regions.shape[1] * regions.shape[2], self.embedding_dim))  # (B, R, D)
        return regions, self.global_projection(pooled)

    def build_for(self):
        self(ops.zeros((1, self.backbone_size, self.backbone_size, 3)))
        return self

    @property
    def region_grid(self) -> tuple[int, int]:
        """(h, w) of the region map, e.g. (17, 17) at 299 px: the attention maps' shape."""
        shape = self.backbone.outputs[0].shape
        return int(shape[1]), int(shape[2])

    def get_config(self):
        return {**super().get_config(), "embedding_dim": self.embedding_dim, "backbone_size": self.backbone_size,
                "backbone_weights": self.backbone_weights, "local_layer": self.local_layer}


# ---------------------------------------------------------------------------------------
# Attention of words over regions, and the two matching losses
# ---------------------------------------------------------------------------------------
def word_attention(words, mask, regions, gamma1: float = GAMMA1):
    """Every caption's words attending over every image's regions.

    words (C, T, D), mask (C, T), regions (I, R, D) -> context (C, I, T, D), attention (C, I, T, R).
    As the official code: the word-region products are first normalised over the caption's words
    (softmax over T, padding left out), then each word's row is sharpened by gamma1 and normalised
    over the regions; a word's context is the attention-weighted sum of the regions.
    """
    words, regions = ops.cast(words, "float32"), ops.cast(regions, "float32")
    scores = ops.einsum("ctd,ird->citr", words, regions)  # (C, I, T, R)
    word_mask = ops.cast(mask, "bool")[:, None, :, None]  # (C, 1, T, 1)
    scores = ops.where(word_mask, scores, _NEGATIVE)
    over_words = ops.softmax(scores, axis=2)
    attention = ops.softmax(gamma1 * over_words, axis=3)  # (C, I, T, R)
    context = ops.einsum("citr,ird->citd", attention, regions)  # (C, I, T, D)
    return context, attention


def _cosine(a, b, axis=-1, eps: float = 1e-8):
    return ops.sum(a * b, axis=axis) / ops.maximum(ops.norm(a, axis=axis) * ops.norm(b, axis=axis), eps)


def word_relevance(words, mask, regions, gamma1: float = GAMMA1, gamma2: float = GAMMA2):
    """R(caption c, image i) = log(sum over c's words of exp(gamma2 * cos(word, its context))), (C, I).

    (The paper raises the sum to 1/gamma2; the official code, and so this one, does not.) A caption
    without a word (everything cleaned away) gets log(1e-8) with every image: no preference.
    """
    context, _ = word_attention(words, mask, regions, gamma1)
    cosines = _cosine(ops.cast(words, "float32")[:, None, :, :], context)  # (C, I, T)
    weights = ops.cast(mask, "float32")[:, None, :]
    return ops.log(ops.maximum(ops.sum(weights * ops.exp(gamma2 * cosines), axis=2), 1e-8))


def _matching_losses(image_text_logits, groups=None):
    """Cross-entropy of the true pairs (the diagonal) over the batch in both directions, as the
    official code: (images -> their caption among the batch's, captions -> their image).

    `groups` (B,): pairs of different samples in the same group (another caption of the same
    image, or of the same class) are left out of each other's softmax, as the official masks.
    """
    logits = ops.cast(image_text_logits, "float32")  # (B images, B captions)
    batch = ops.shape(logits)[0]
    if groups is not None:
        groups = ops.reshape(groups, (-1,))
        same = ops.logical_and(groups[:, None] == groups[None, :], ops.logical_not(ops.eye(batch, dtype="bool")))
        logits = ops.where(same, _NEGATIVE, logits)
    labels = ops.arange(batch)
    image_to_text = ops.mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
    text_to_image = ops.mean(keras.losses.sparse_categorical_crossentropy(labels, ops.transpose(logits),
                                                                          from_logits=True))
    return image_to_text, text_to_image


def words_loss(words, mask, regions, groups=None, gamma1: float = GAMMA1, gamma2: float = GAMMA2,
               gamma3: float = GAMMA3):
    """The DAMSM word loss (image -> text, text -> image): gamma3 * R(caption, image) as logits."""
    relevance = word_relevance(words, mask, regions, gamma1, gamma2)  # (C, I)
    return _matching_losses(gamma3 * ops.transpose(relevance), groups)


def sentence_loss(image_features, sentences, groups=None, gamma3: float = GAMMA3):
    """The DAMSM sentence loss (image -> text, text -> image): gamma3 * cos(image, sentence) as logits."""
    image_features, sentences = ops.cast(image_features, "float32"), ops.cast(sentences, "float32")
    cosines = _cosine(image_features[:, None, :], sentences[None, :, :])  # (B images, B captions)
    return _matching_losses(gamma3 * cosines, groups)


def damsm_loss(regions, image_features, words, mask, sentences, groups=None):
    """word loss + sentence loss, both directions each (the official total)."""
    return sum(words_loss(words, mask, regions, groups)) + sum(sentence_loss(image_features, sentences, groups))


# ---------------------------------------------------------------------------------------
# The pair, trained with fit
# ---------------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="t2ilib")
class DAMSM(keras.Model):
    """The DAMSM text and image encoders: `compile(optimizer=...)`, then `fit` on batches of
    (images in [-1, 1], word ids, groups) (`t2ilib.training.damsm` makes them).

    One step: both encoders, `damsm_loss`, the text encoder's gradients clipped to a global norm
    of `text_clip_norm` (0.25 official; None: no clip), one optimizer over the text encoder and
    the image encoder's two projections (the backbone is frozen).
    Tracks the total, word and sentence losses and `match_accuracy` (a caption's own image
    ranked first among the batch's by the sentence cosine, other captions of its group aside).
    """

    def __init__(self, text_encoder: DAMSMTextEncoder, image_encoder: DAMSMImageEncoder,
                 text_clip_norm: float | None = 0.25, **kwargs):
        super().__init__(**kwargs)
        if text_encoder.embedding_dim != image_encoder.embedding_dim:
            raise ValueError(f"The text encoder's features are {text_encoder.embedding_dim}-d and the image encoder's "
                             f"{image_encoder.embedding_dim}-d: they must be the same size.")
        self.text_encoder, self.image_encoder, self.text_clip_norm = text_encoder, image_encoder, text_clip_norm
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.word_loss_tracker = keras.metrics.Mean(name="word_loss")
        self.sentence_loss_tracker = keras.metrics.Mean(name="sentence_loss")
        self.accuracy_tracker = keras.metrics.Mean(name="match_accuracy")

    @property
    def metrics(self):
        return [self.loss_tracker, self.word_loss_tracker, self.sentence_loss_tracker, self.accuracy_tracker]

    def call(self, images, ids, training=False):
        regions, image_features = self.image_encoder(images, training=training)
        words, mask, sentences = self.text_encoder(ids, training=training)
        return regions, image_features, words, mask, sentences

    def build_for(self, words: int = 18):
        self.text_encoder.build_for(words)
        self.image_encoder.build_for()
        self.built = True  # both parts are built: weights can be loaded into the pair
        return self

    def train_step(self, data):
        import tensorflow as tf

        images, ids, groups = data
        with tf.GradientTape() as tape:
            regions, image_features, words, mask, sentences = self(images, ids, training=True)
            word_loss = sum(words_loss(words, mask, regions, groups))
            sent_loss = sum(sentence_loss(image_features, sentences, groups))
            loss = word_loss + sent_loss
        text_variables = self.text_encoder.trainable_variables
        image_variables = self.image_encoder.trainable_variables
        gradients = tape.gradient(loss, text_variables + image_variables)
        text_gradients = gradients[:len(text_variables)]
        if self.text_clip_norm:
            text_gradients, _ = tf.clip_by_global_norm(text_gradients, self.text_clip_norm)
        self.optimizer.apply(list(text_gradients) + gradients[len(text_variables):], text_variables + image_variables)
        cosines = _cosine(image_features[:, None, :], sentences[None, :, :])  # (B images, B captions)
        groups = ops.reshape(groups, (-1,))
        other = groups[:, None] != groups[None, :]  # (image, caption) pairs of different groups
        own = ops.diagonal(cosines)
        beaten = ops.any(ops.logical_and(other, cosines > own[None, :]), axis=0)  # another image beats the caption's own
        self.loss_tracker.update_state(loss)
        self.word_loss_tracker.update_state(word_loss)
        self.sentence_loss_tracker.update_state(sent_loss)
        self.accuracy_tracker.update_state(ops.mean(1.0 - ops.cast(beaten, "float32")))
        return {metric.name: metric.result() for metric in self.metrics}

    def encode_texts(self, ids, batch_size: int = 256) -> np.ndarray:
        """Sentence features (N, D) of word ids (N, T), not normalised."""
        ids = np.asarray(ids)
        return np.concatenate([ops.convert_to_numpy(self.text_encoder(ids[start:start + batch_size])[2])
                               for start in range(0, len(ids), batch_size)])

    def encode_images(self, images, batch_size: int = 64) -> np.ndarray:
        """Global image features (N, D) of uint8 images (N, S, S, 3), not normalised."""
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, S, S, 3), got {images.dtype} {images.shape}.")
        return np.concatenate([
            ops.convert_to_numpy(self.image_encoder(images[start:start + batch_size].astype("float32") / 127.5 - 1.0)[1])
            for start in range(0, len(images), batch_size)])
