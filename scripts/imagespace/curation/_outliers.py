"""Outliers: each image's mean distance to its k nearest neighbours, relative to the typical distance.

cleanlab's :class:`cleanlab.outlier.OutOfDistribution` scores each image as ``exp(-d / m)``, where d is its mean
distance to its k nearest training images (itself left out) and m the median of d over the training images;
the outlier score here is ``d / m`` (``-log`` of cleanlab's score: 1 is typical, larger is further out),
averaged over the chosen feature sets (each standardised on the training rows). An image is flagged when its
score is above the training scores' upper extreme fence, Q3 + 3 IQR (Tukey).
"""

from __future__ import annotations

import warnings

import numpy as np

#: the Tukey fence multiplier above which a score is an extreme outlier
FENCE_IQR = 3.0


def relative_knn_distance(X, train, *, k: int = 10) -> np.ndarray:
    """One feature set's outlier score of every row (mean k-NN distance over the training median).

    Parameters
    ----------
    X : numpy.ndarray, shape (n, d)
        The features.
    train : numpy.ndarray of bool, shape (n,)
        The rows the neighbours are searched among (a training row leaves itself out).
    k : int
        Neighbours (at most the training rows - 1).

    Returns
    -------
    numpy.ndarray, shape (n,)
    """
    from cleanlab.outlier import OutOfDistribution
    from sklearn.preprocessing import StandardScaler

    X = np.asarray(X, dtype=np.float64)
    train = np.asarray(train, bool)
    if train.sum() < 3:
        raise ValueError(f"outliers need at least 3 training images, got {int(train.sum())}")
    Z = StandardScaler().fit(X[train]).transform(X)
    k = int(max(1, min(k, train.sum() - 1)))
    ood = OutOfDistribution(params={"k": k})
    out = np.zeros(len(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out[train] = ood.fit_score(features=Z[train], verbose=False)
        if (~train).any():
            out[~train] = ood.score(features=Z[~train])
    return -np.log(np.clip(out, 1e-300, None))


def outlier_scores(features: dict, train, *, k: int = 10) -> tuple[np.ndarray, np.ndarray, dict]:
    """The outlier score of every image over several feature sets, and which are flagged.

    Parameters
    ----------
    features : dict
        ``{feature set: X (n x d)}``, rows in the same order.
    train : numpy.ndarray of bool, shape (n,)
        The training rows.
    k : int
        Neighbours.

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
    per_set = {f: relative_knn_distance(X, train, k=k) for f, X in features.items()}
    score = np.mean(list(per_set.values()), axis=0)
    q1, q3 = np.percentile(score[np.asarray(train, bool)], [25, 75])
    return score, score > q3 + FENCE_IQR * (q3 - q1), per_set
