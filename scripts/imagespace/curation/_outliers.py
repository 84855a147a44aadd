"""Outliers: each image's mean distance to its k nearest neighbours, relative to the typical distance.

The score is cleanlab's :class:`cleanlab.outlier.OutOfDistribution` feature score on the log scale: cleanlab
scores an image ``exp(-d / m)``, where d is its mean Euclidean distance to its k nearest training images (itself
left out) and m the median of d over the training images; the outlier score here is ``d / m`` (1 is typical,
larger is further out), averaged over the views. Distances are taken on the features as they are (PCA scores and
network features keep their geometry); descriptor sets (mixed units) are standardised on the training rows first.
An image is flagged when its score is above the training scores' upper extreme fence, Q3 + 3 IQR (Tukey).

The views are every candidate feature set (pixels, descriptors, backbones: how well a set separates the classes
does not matter here) and, where none of them is a descriptor, the image-statistics descriptor of the whole images
(:func:`appearance_features`, the ``stats`` feature set's groups): images from another collection often differ
less in their pixels than in their grey levels and texture (Fashion-MNIST items at 8 x 8 are near the thick digits
in pixel space, and a network pretrained on photos sees little difference either). k is larger than the
usual 10 (``curation.k``, default 50) because foreign images rarely come alone: a batch of k or more alike
vouch for each other when each one's k nearest neighbours are the others.
"""

from __future__ import annotations

import numpy as np

#: the Tukey fence multiplier above which a score is an extreme outlier
FENCE_IQR = 3.0
#: the name of the images' appearance view (:func:`appearance_features`) in curation.json
APPEARANCE = "appearance"


def relative_knn_distance(X, train, *, k: int = 10, standardize: bool = False) -> np.ndarray:
    """One feature set's outlier score of every row (mean k-NN distance over the training median).

    Parameters
    ----------
    X : numpy.ndarray, shape (n, d)
        The features.
    train : numpy.ndarray of bool, shape (n,)
        The rows the neighbours are searched among (a training row leaves itself out).
    k : int
        Neighbours (at most the training rows - 1).
    standardize : bool
        z-score every column on the training rows first (features in mixed units).

    Returns
    -------
    numpy.ndarray, shape (n,)
    """
    from sklearn.neighbors import NearestNeighbors

    X = np.asarray(X, dtype=np.float64)
    train = np.asarray(train, bool)
    if train.sum() < 3:
        raise ValueError(f"outliers need at least 3 training images, got {int(train.sum())}")
    if standardize:
        sd = X[train].std(axis=0)
        X = (X - X[train].mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    k = int(max(1, min(k, train.sum() - 1)))
    knn = NearestNeighbors(n_neighbors=k).fit(X[train])
    d = np.zeros(len(X))
    d[train] = knn.kneighbors()[0].mean(axis=1)  # no query: each training row leaves itself out
    if (~train).any():
        d[~train] = knn.kneighbors(X[~train])[0].mean(axis=1)
    return d / max(float(np.median(d[train])), 100 * np.finfo(np.float64).eps)


def appearance_features(images, *, rows=None, groups=None) -> np.ndarray:
    """The image-statistics descriptor of some images, taken over the whole image (no object mask).

    The ``stats`` feature set describes the object, masked against the padding colour (``images.background``);
    that colour is not the background of every collection (white on black digits, Fashion-MNIST), and where
    a batch of images comes from elsewhere their background is part of what is foreign. So here every statistic
    is over the whole image, and the silhouette group (``shape``, meaningless without a mask) is left out.

    Parameters
    ----------
    images : array-like, shape (n, H, W, C)
        The ingested images (uint8).
    rows : array-like of int, optional
        The images described, in this order (default: all).
    groups : sequence of str, optional
        :data:`imagespace.image_stats.GROUPS` to compute (default: the stats stage's default groups); ``shape``
        is dropped.

    Returns
    -------
    numpy.ndarray, shape (len(rows), d)
        Non-finite values (a degenerate image) are replaced by the column's median.
    """
    from imagespace import image_stats

    rows = np.arange(len(images)) if rows is None else np.asarray(rows, np.int64)
    groups = tuple(g for g in (groups or image_stats.DEFAULT_GROUPS) if g != "shape")
    X = image_stats.describe_all([np.asarray(images[r]) for r in rows], None, groups)
    bad = ~np.isfinite(X)
    if bad.any():
        med = np.nanmedian(np.where(bad, np.nan, X), axis=0)
        X[bad] = np.take(np.nan_to_num(med), np.nonzero(bad)[1])
    return X


def outlier_scores(features: dict, train, *, k: int = 10, standardize=()) -> tuple[np.ndarray, np.ndarray, dict]:
    """The outlier score of every image over several feature sets, and which are flagged.

    Parameters
    ----------
    features : dict
        ``{feature set: X (n x d)}``, rows in the same order.
    train : numpy.ndarray of bool, shape (n,)
        The training rows.
    k : int
        Neighbours.
    standardize : collection of str
        The sets standardised first (descriptors).

    Returns
    -------
    score : numpy.ndarray, shape (n,)
        Mean over the sets of :func:`relative_knn_distance`.
    flagged : numpy.ndarray of bool, shape (n,)
        Score above Q3 + 3 IQR of the training scores.
    per_set : dict
        ``{feature set: its scores}``.
    """
    if not features:
        raise ValueError("no feature set to score outliers on")
    per_set = {f: relative_knn_distance(X, train, k=k, standardize=f in standardize) for f, X in features.items()}
    score = np.mean(list(per_set.values()), axis=0)
    q1, q3 = np.percentile(score[np.asarray(train, bool)], [25, 75])
    return score, score > q3 + FENCE_IQR * (q3 - q1), per_set
