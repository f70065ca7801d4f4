"""Linear probes: how much of each attribute can a straight line read out of a set of vectors?

A probe answers "is the information there?" before a generator is asked to use it. Fit a
linear classifier from vectors (caption embeddings, the conditioning code c, a layer's
activations) to a label (the caption's colour, say) on training rows, and score it on held-out
rows. Near 1.0: the vectors separate the values linearly; near chance: they do not, and no
generator fed only these vectors can draw that attribute reliably.

The classifier is ridge regression onto one-hot targets (closed form, no iterations, no
randomness): standardise each dimension on the training rows, solve
(X'X + alpha I) W = X'Y, predict the value with the largest score. Pure numpy, so a notebook
can call it on any arrays::

    scores = linear_probe(train_vectors, train_labels, test_vectors, test_labels)
    # {"accuracy": 0.97, "chance": 0.25, "majority": 0.27, "classes": 4, "n_train": ..., "n_test": ...}
    table = probe_attributes(train_vectors, train_attributes, test_vectors, test_attributes)
    # {"shape": {...}, "colour": {...}, ...}   (attributes: DataFrames with one column per attribute)
    variance_share(vectors, labels)   # 0.02: the label moves the vectors little, however separable

A probe standardises its inputs, so it finds a label however quietly the vectors carry it;
`variance_share` says how loud it is (the share of the vectors' variance that the label's
class means explain): a network that is not told to standardise hears the loud ones first.
"""

from __future__ import annotations

import numpy as np

DEFAULT_ALPHA = 1.0  # ridge penalty on standardised inputs: small against the hundreds of rows a probe uses


def _as_matrix(vectors, name: str) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.ndim == 1:
        vectors = vectors[:, None]
    if vectors.ndim != 2:
        raise ValueError(f"{name} must be a (N, D) array of vectors, got shape {vectors.shape}; "
                         "flatten each example's features to one row first.")
    if not np.isfinite(vectors).all():
        raise ValueError(f"{name} contains NaN or Inf: probe only finite vectors.")
    return vectors


def linear_probe(train_vectors, train_labels, test_vectors, test_labels, alpha: float = DEFAULT_ALPHA) -> dict:
    """Fit a ridge-regression classifier on (train_vectors, train_labels), score it on the test rows.

    Labels may be strings or integers. Returns {"accuracy": test accuracy, "train_accuracy",
    "chance": 1 / number of classes, "majority": the test accuracy of always guessing the most
    frequent training value, "classes", "n_train", "n_test"}. Test labels never seen in training
    count as wrong.
    """
    train_x, test_x = _as_matrix(train_vectors, "train_vectors"), _as_matrix(test_vectors, "test_vectors")
    train_labels, test_labels = np.asarray(train_labels).astype(str), np.asarray(test_labels).astype(str)
    if len(train_x) != len(train_labels) or len(test_x) != len(test_labels):
        raise ValueError(f"one label per vector: got {len(train_x)} train vectors / {len(train_labels)} labels and "
                         f"{len(test_x)} test vectors / {len(test_labels)} labels.")
    if train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"train and test vectors differ in size ({train_x.shape[1]} vs {test_x.shape[1]}).")
    classes, train_index = np.unique(train_labels, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"the training labels have one value only ({classes[0]!r}): nothing to probe.")
    if len(test_x) == 0:
        raise ValueError("no test vectors to score the probe on.")

    mean, scale = train_x.mean(axis=0), train_x.std(axis=0)
    scale[scale < 1e-12] = 1.0  # constant dimensions carry nothing; leave them at 0 after centring

    def features(x):  # standardised, with a constant column for the intercept
        return np.hstack([(x - mean) / scale, np.ones((len(x), 1))])

    design = features(train_x)
    targets = np.eye(len(classes))[train_index]  # (N, K) one-hot
    penalty = alpha * np.eye(design.shape[1])
    penalty[-1, -1] = 0.0  # the intercept is not shrunk
    weights = np.linalg.solve(design.T @ design + penalty, design.T @ targets)  # (D + 1, K)

    def accuracy(x, labels):
        predicted = classes[np.argmax(features(x) @ weights, axis=1)]
        return float(np.mean(predicted == labels))

    majority = classes[np.argmax(np.bincount(train_index))]
    return {"accuracy": accuracy(test_x, test_labels), "train_accuracy": accuracy(train_x, train_labels),
            "chance": 1.0 / len(classes), "majority": float(np.mean(test_labels == majority)),
            "classes": int(len(classes)), "n_train": int(len(train_x)), "n_test": int(len(test_x))}


def probe_attributes(train_vectors, train_attributes, test_vectors, test_attributes, attributes=None,
                     alpha: float = DEFAULT_ALPHA) -> dict:
    """`linear_probe` for each attribute column: {attribute: probe result}.

    `train_attributes` / `test_attributes`: DataFrames (or dicts of arrays) with one row per
    vector, e.g. `prepared.attributes.loc[rows]` of the shapes dataset. `attributes`: the
    columns to probe (default: every column of the test table).
    """
    names = list(attributes) if attributes is not None else list(test_attributes.keys())
    missing = [name for name in names if name not in train_attributes or name not in test_attributes]
    if missing:
        raise ValueError(f"attribute column(s) {missing} missing from the train or test table.")
    return {name: linear_probe(train_vectors, np.asarray(train_attributes[name]), test_vectors,
                               np.asarray(test_attributes[name]), alpha=alpha)
            for name in names}


def variance_share(vectors, labels) -> float:
    """Share of the total variance of `vectors` explained by the class means of `labels`
    (between-class sum of squares / total sum of squares, summed over dimensions): 1.0 when the
    label is all the vectors vary with, 0.0 when the class means coincide."""
    vectors = _as_matrix(vectors, "vectors")
    labels = np.asarray(labels).astype(str)
    if len(labels) != len(vectors):
        raise ValueError(f"one label per vector: got {len(vectors)} vectors and {len(labels)} labels.")
    centred = vectors - vectors.mean(axis=0)
    total = float(np.sum(centred ** 2))
    if total == 0.0:
        return 0.0
    between = 0.0
    for value in np.unique(labels):
        members = centred[labels == value]
        between += len(members) * float(np.sum(members.mean(axis=0) ** 2))
    return between / total
