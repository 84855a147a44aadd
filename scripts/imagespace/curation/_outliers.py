"""Outliers: each image's mean distance to its k nearest neighbours, relative to the typical distance.

The score is cleanlab's :class:`cleanlab.outlier.OutOfDistribution` feature score on the log scale: cleanlab
scores an image ``exp(-d / m)``, where d is its mean Euclidean distance to its k nearest training images (itself
left out) and m the median of d over the training images; the outlier score here is ``d / m`` (1 is typical,
larger is further out), averaged over the chosen feature sets. Distances are taken on the features as they are
(PCA scores and network features keep their geometry); descriptor sets (mixed units) are standardised on the
training rows first. An image is flagged when its score is above the training scores' upper extreme fence,
Q3 + 3 IQR (Tukey).
"""

from __future__ import annotations

import numpy as np

#: the Tukey fence multiplier above which a score is an extreme outlier
FENCE_IQR = 3.0


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
