"""Metric learning: triplet/contrastive losses, class-balanced batches, an L2-normalised embedding head,
and classifiers on the embedding (nearest centroid, a small MLP).

As in the plankton notebook: the network ends in a Dense(64) layer whose output is
L2-normalised (``add_embedding_head``), it is trained with the semi-hard triplet loss
(``make_loss("triplet", 0.2)``) on batches holding ``per_class`` images of each of
``classes_per_batch`` classes (``class_balanced_batches``), and classes are then read
off the embedding with a nearest-centroid or MLP classifier.

The losses use only ``keras.ops`` (backend-agnostic, traceable inside a compiled
train step) and are ``keras.losses.Loss`` subclasses registered as serialisable,
so a compiled model saves and loads (``model.save`` / ``keras.models.load_model``)
without ``custom_objects``, as ``cnn.train``'s checkpoints need.

Keras quirks handled here: ``Loss.__call__`` casts ``y_true`` to the loss dtype
(float32), so integer labels arrive as floats (cast back to int32 here; exact below
2**24); labels of shape (B,) or (B, 1) are both accepted. The losses return one
scalar per batch, so ``sample_weight`` / ``class_weight`` are not meaningful.

Minimal use::

    import keras
    from imagespace.nets import metric

    inp = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(8, 3, activation="relu")(inp)
    x = keras.layers.Flatten()(x)
    emb = metric.add_embedding_head(x, 64)           # layer "penultimate", unit norm
    model = keras.Model(inp, emb)
    model.compile(optimizer="adam", loss=metric.make_loss("triplet", 0.2))
    rows = metric.class_balanced_batches(y, 8, 4, seed=0)   # (n_batches, 32)
    model.fit(x[rows.ravel()], y[rows.ravel()], batch_size=rows.shape[1], shuffle=False)
"""

from __future__ import annotations

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # as cnn.configure_tensorflow: no C++ chatter

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

# --------------------------------------------------------------------------- distances


def _labels_1d(labels):
    """int32 labels of shape (B,) from (B,) or (B, 1), whatever their dtype (Keras hands floats)."""
    labels = ops.reshape(ops.convert_to_tensor(labels), (-1,))
    if "int" not in str(labels.dtype):
        labels = ops.round(labels)
    return ops.cast(labels, "int32")


def pairwise_distances(embeddings, squared: bool = False):
    """Euclidean (or squared Euclidean) distances between the rows of a batch; the diagonal is exactly 0.

    The square root is taken safely: where the squared distance is 0 (the diagonal,
    duplicated images in a batch drawn with replacement) the gradient is 0, not NaN.

    Parameters
    ----------
    embeddings : tensor
        (B, d) embeddings.
    squared : bool
        Squared distances.

    Returns
    -------
    tensor
        (B, B) float32 distances.
    """
    e = ops.cast(embeddings, "float32")
    sq = ops.sum(ops.square(e), axis=1)
    d2 = ops.expand_dims(sq, 1) - 2.0 * ops.matmul(e, ops.transpose(e)) + ops.expand_dims(sq, 0)
    d2 = ops.maximum(d2, 0.0)
    n = ops.shape(e)[0]
    off_diag = 1.0 - ops.eye(n, dtype="float32")
    d2 = d2 * off_diag
    if squared:
        return d2
    positive = d2 > 0.0
    safe = ops.where(positive, d2, ops.ones_like(d2))
    return ops.where(positive, ops.sqrt(safe), ops.zeros_like(d2))


# --------------------------------------------------------------------------- losses


def semihard_triplet_loss(labels, embeddings, margin: float = 0.2, *, squared: bool = False):
    """Triplet loss with online semi-hard negative mining (as tensorflow_addons' TripletSemiHardLoss).

    Every ordered anchor-positive pair (a, p), a != p with the same label, is one
    triplet. Its negative n (another label) is the closest one farther from the
    anchor than the positive (semi-hard: d(a,n) > d(a,p), smallest such d(a,n));
    when there is none, the farthest negative. Loss = mean over those pairs of
    max(d(a,p) - d(a,n) + margin, 0). Distances are Euclidean (``squared=False``,
    tfa's default "L2") or squared Euclidean.

    Pairs whose anchor has no negative in the batch (a batch of one class) are left
    out (tfa would compare against 0 there); a batch without any valid pair gives 0.

    Parameters
    ----------
    labels : tensor
        (B,) or (B, 1) labels (floats are rounded).
    embeddings : tensor
        (B, d) embeddings.
    margin : float
        The margin.
    squared : bool
        Squared Euclidean distances.

    Returns
    -------
    tensor
        The scalar loss.
    """
    y = _labels_1d(labels)
    d = pairwise_distances(embeddings, squared=squared)  # (B, B) float32
    n = ops.shape(d)[0]
    same = ops.equal(ops.expand_dims(y, 1), ops.expand_dims(y, 0))  # (B, B)
    negative = ops.logical_not(same)
    not_self = ops.logical_not(ops.cast(ops.eye(n), "bool"))
    positive = ops.logical_and(same, not_self)  # (a, p)

    # [a, p, n]: is n a semi-hard negative of the pair (a, p)?
    d_ap = ops.expand_dims(d, 2)  # (B, B, 1)
    d_an = ops.expand_dims(d, 1)  # (B, 1, B)
    neg3 = ops.expand_dims(negative, 1)  # (B, 1, B)
    semihard = ops.logical_and(neg3, ops.greater(d_an, d_ap))  # (B, B, B)
    big = ops.max(d) + 1.0
    semihard_min = ops.min(ops.where(semihard, d_an, big), axis=2)  # (B, B)
    has_semihard = ops.any(semihard, axis=2)  # (B, B)
    # hardest fallback: the farthest negative of the anchor (distances are >= 0)
    farthest = ops.max(ops.where(negative, d, -1.0), axis=1)  # (B,)
    has_negative = ops.any(negative, axis=1)  # (B,)
    d_neg = ops.where(has_semihard, semihard_min, ops.expand_dims(farthest, 1))

    valid = ops.logical_and(positive, ops.expand_dims(has_negative, 1))
    validf = ops.cast(valid, "float32")
    per_pair = ops.maximum(d - d_neg + float(margin), 0.0) * validf
    return ops.divide_no_nan(ops.sum(per_pair), ops.sum(validf))


def contrastive_loss(labels, embeddings, margin: float = 0.5):
    """Pairwise contrastive loss, averaged over all unordered pairs i < j of the batch.

    Same label: d(i,j)^2 (pulled together); other labels: max(margin - d(i,j), 0)^2
    (pushed at least ``margin`` apart). d is Euclidean.

    Parameters
    ----------
    labels : tensor
        (B,) or (B, 1) labels.
    embeddings : tensor
        (B, d) embeddings.
    margin : float
        The least distance between images of different labels.

    Returns
    -------
    tensor
        The scalar loss.
    """
    y = _labels_1d(labels)
    d = pairwise_distances(embeddings, squared=False)
    n = ops.shape(d)[0]
    samef = ops.cast(ops.equal(ops.expand_dims(y, 1), ops.expand_dims(y, 0)), "float32")
    pull = samef * ops.square(d)
    push = (1.0 - samef) * ops.square(ops.maximum(float(margin) - d, 0.0))
    offf = 1.0 - ops.eye(n, dtype="float32")  # every unordered pair appears twice off the diagonal
    return ops.divide_no_nan(ops.sum((pull + push) * offf), ops.sum(offf))


@keras.saving.register_keras_serializable(package="imagespace")
class TripletSemiHardLoss(keras.losses.Loss):
    """``semihard_triplet_loss`` as a Keras loss: ``loss(y_true=labels, y_pred=embeddings)``."""

    def __init__(self, margin: float = 0.2, squared: bool = False, name: str = "triplet_semihard_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = float(margin)
        self.squared = bool(squared)

    def call(self, y_true, y_pred):
        return semihard_triplet_loss(y_true, y_pred, margin=self.margin, squared=self.squared)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin, "squared": self.squared}


@keras.saving.register_keras_serializable(package="imagespace")
class ContrastiveLoss(keras.losses.Loss):
    """``contrastive_loss`` as a Keras loss: ``loss(y_true=labels, y_pred=embeddings)``."""

    def __init__(self, margin: float = 0.5, name: str = "contrastive_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = float(margin)

    def call(self, y_true, y_pred):
        return contrastive_loss(y_true, y_pred, margin=self.margin)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}


LOSSES = {"triplet": TripletSemiHardLoss, "contrastive": ContrastiveLoss}


def make_loss(kind: str, margin: float) -> keras.losses.Loss:
    """A Keras loss ``(y_true, y_pred) -> scalar``.

    Parameters
    ----------
    kind : str
        "triplet" (semi-hard) or "contrastive".
    margin : float
        The loss's margin.

    Returns
    -------
    keras.losses.Loss
        The loss (serialisable: saved models load without custom_objects).
    """
    if kind not in LOSSES:
        raise ValueError(f"unknown metric-learning loss {kind!r} (choose from {', '.join(sorted(LOSSES))})")
    return LOSSES[kind](margin=float(margin))


# --------------------------------------------------------------------------- batches


def class_balanced_batches(
    labels, classes_per_batch: int, per_class: int, *, seed: int, n_batches: int | None = None
) -> np.ndarray:
    """Row indices of class-balanced batches, shape (n_batches, k * per_class), k = min(classes_per_batch, n_classes).

    Each batch holds ``per_class`` rows of each of k distinct classes (class blocks in
    random order). The k classes are those used least so far (ties broken at random),
    so every class appears in the same number of batches, give or take one. Within a
    class, rows are dealt from a reshuffled deck: no repeats within a batch while the
    class has at least ``per_class`` images, and every image is used before any is
    reused; smaller classes are drawn with replacement (every image once, then again).
    Deterministic for a seed.

    Parameters
    ----------
    labels : array-like
        The rows' labels.
    classes_per_batch : int
        Classes in a batch (at most the number of classes).
    per_class : int
        Rows of each class in a batch.
    seed : int
        Seeds the order of classes and rows.
    n_batches : int, optional
        Default: ceil(N / batch size), about one pass over the data.

    Returns
    -------
    ndarray
        int64 row indices, shape (n_batches, k * per_class).
    """
    labels = np.asarray(labels)
    if labels.ndim > 1:
        labels = labels.reshape(len(labels), -1)[:, 0]
    if len(labels) == 0:
        raise ValueError("class_balanced_batches: no labels")
    classes_per_batch, per_class = int(classes_per_batch), int(per_class)
    if classes_per_batch < 1 or per_class < 1:
        raise ValueError(f"classes_per_batch ({classes_per_batch}) and per_class ({per_class}) must be >= 1")
    _, inv = np.unique(labels, return_inverse=True)
    inv = inv.reshape(-1)
    n_classes = int(inv.max()) + 1
    members = [np.flatnonzero(inv == c) for c in range(n_classes)]
    k = min(classes_per_batch, n_classes)
    width = k * per_class
    if n_batches is None:
        n_batches = math.ceil(len(labels) / width)
    n_batches = int(n_batches)
    rng = np.random.default_rng(int(seed))
    decks: list[list[int]] = [[] for _ in range(n_classes)]
    used = np.zeros(n_classes, dtype=np.int64)
    out = np.empty((n_batches, width), dtype=np.int64)

    def deal(c: int) -> np.ndarray:
        rows = members[c]
        if len(rows) < per_class:  # with replacement: whole shuffled passes, truncated
            reps = math.ceil(per_class / len(rows))
            return np.concatenate([rng.permutation(rows) for _ in range(reps)])[:per_class]
        deck = decks[c]
        take = deck[:per_class]
        del deck[:per_class]
        if len(take) < per_class:  # deck exhausted: a new shuffled pass, without the rows already taken
            leftover = set(take)
            fresh = [int(r) for r in rng.permutation(rows) if int(r) not in leftover]
            need = per_class - len(take)
            deck.extend(fresh[need:] + take)  # the leftovers end the new pass: each row once per pass
            take = take + fresh[:need]
        return np.asarray(take, dtype=np.int64)

    for b in range(n_batches):
        order = np.lexsort((rng.random(n_classes), used))
        chosen = rng.permutation(order[:k])
        used[chosen] += 1
        out[b] = np.concatenate([deal(int(c)) for c in chosen])
    return out


# --------------------------------------------------------------------------- embedding head


@keras.saving.register_keras_serializable(package="imagespace")
class L2Normalize(keras.layers.Layer):
    """x / max(||x||, epsilon) along ``axis``: unit-norm embeddings."""

    def __init__(self, axis: int = -1, epsilon: float = 1e-12, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)
        self.epsilon = float(epsilon)

    def call(self, inputs):
        sq = ops.sum(ops.square(inputs), axis=self.axis, keepdims=True)
        return inputs * ops.rsqrt(ops.maximum(sq, self.epsilon**2))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}


def add_embedding_head(x, dims: int, *, name: str = "penultimate", seed: int | None = None):
    """Dense(dims, linear, named ``{name}_linear``) then L2Normalize named ``name``.

    Parameters
    ----------
    x : tensor
        The layer below.
    dims : int
        Dimensions of the embedding.
    name : str
        The embedding layer's name.
    seed : int, optional
        Seeds the Dense layer's initialisation.

    Returns
    -------
    tensor
        The unit-length embedding.
    """
    init = keras.initializers.GlorotUniform(seed=seed) if seed is not None else "glorot_uniform"
    x = keras.layers.Dense(int(dims), kernel_initializer=init, name=f"{name}_linear")(x)
    return L2Normalize(name=name)(x)


# --------------------------------------------------------------------------- classifiers on the embedding


def nearest_centroid_fit(E, y):
    """Class centroids with sklearn's NearestCentroid (Euclidean class means).

    Parameters
    ----------
    E : array-like
        (n, d) embeddings.
    y : array-like
        Their classes.

    Returns
    -------
    tuple
        (centroids (n_classes, d), classes).
    """
    from sklearn.neighbors import NearestCentroid

    nc = NearestCentroid().fit(np.asarray(E, dtype=np.float64), np.asarray(y))
    return nc.centroids_, nc.classes_


def nearest_centroid_predict(E, centroids, classes, *, metric: str = "euclidean") -> np.ndarray:
    """The class of the nearest centroid.

    Parameters
    ----------
    E : array-like
        (n, d) embeddings.
    centroids : array-like
        (n_classes, d) centroids.
    classes : array-like
        The centroids' classes.
    metric : str
        "euclidean" or "cosine" (largest cosine similarity).

    Returns
    -------
    ndarray
        The predicted classes.
    """
    E = np.asarray(E, dtype=np.float64)
    C = np.asarray(centroids, dtype=np.float64)
    if metric == "euclidean":
        d = (E**2).sum(1)[:, None] - 2.0 * E @ C.T + (C**2).sum(1)[None, :]
        idx = np.argmin(d, axis=1)
    elif metric == "cosine":
        En = E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)
        Cn = C / np.maximum(np.linalg.norm(C, axis=1, keepdims=True), 1e-12)
        idx = np.argmax(En @ Cn.T, axis=1)
    else:
        raise ValueError(f"unknown nearest-centroid metric {metric!r} (euclidean or cosine)")
    return np.asarray(classes)[idx]


def nearest_centroid_with_confidence(E_train, y_train, E) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-centroid predictions for *E* (centroids of the training embeddings, Euclidean) and a confidence.

    Parameters
    ----------
    E_train, y_train : array-like
        Training embeddings and their classes.
    E : array-like
        The embeddings classified.

    Returns
    -------
    tuple
        (classes, confidence in [0, 1]: 1 - distance to the nearest / distance to the second-nearest centroid).
    """
    C, classes = nearest_centroid_fit(E_train, y_train)
    E = np.asarray(E, dtype=np.float64)
    d = np.sqrt(np.maximum((E**2).sum(1)[:, None] - 2.0 * E @ C.T + (C**2).sum(1)[None, :], 0.0))
    order = np.argsort(d, axis=1)
    rows = np.arange(len(d))
    second = d[rows, order[:, 1]] if d.shape[1] > 1 else np.full(len(d), np.inf)
    return np.asarray(classes)[order[:, 0]], 1.0 - d[rows, order[:, 0]] / np.maximum(second, 1e-12)


def nearest_centroid_accuracy(E_train, y_train, E_eval, *, y_eval, metric: str = "euclidean") -> float:
    """Accuracy on (E_eval, y_eval) of nearest centroids fitted on (E_train, y_train).

    Parameters
    ----------
    E_train, y_train : array-like
        Training embeddings and their classes.
    E_eval : array-like
        The embeddings scored.
    y_eval : array-like
        Their classes.
    metric : str
        "euclidean" or "cosine".

    Returns
    -------
    float
        The share classified correctly.
    """
    centroids, classes = nearest_centroid_fit(E_train, y_train)
    pred = nearest_centroid_predict(E_eval, centroids, classes, metric=metric)
    return float(np.mean(pred == np.asarray(y_eval).reshape(-1)))


def mlp_classifier(seed: int, *, hidden=(256, 256), max_iter: int = 300, n_train: int | None = None):
    """A small MLP for the embedding (sklearn).

    Parameters
    ----------
    seed : int
        Its random_state.
    hidden : tuple of int
        Units of the hidden layers.
    max_iter : int
        The most epochs.
    n_train : int, optional
        Training rows: early stopping on a 10% stratified holdout only with at least 1000 (on a few hundred, a
        10% holdout is too small to stop on); None: early stopping.

    Returns
    -------
    sklearn.neural_network.MLPClassifier
        The unfitted classifier.
    """
    from sklearn.neural_network import MLPClassifier

    early = n_train is None or n_train >= 1000
    return MLPClassifier(
        hidden_layer_sizes=tuple(int(h) for h in hidden),
        early_stopping=early,
        max_iter=int(max_iter),
        random_state=int(seed),
    )
