"""Ordinal embedding of triplet judgements (cblearn's SOE), and the share of triplets a space reproduces. The only
module of the library that imports cblearn: only the rule that builds a space from triplets needs it."""

from __future__ import annotations

import numpy as np


def soe(T: np.ndarray, n: int, dims: int, *, holdout: float = 0.1, seed: int = 0) -> tuple[np.ndarray, dict]:
    """Soft ordinal embedding (cblearn) of triplets *T* (i closer to j than to k) of *n* items.

    Parameters
    ----------
    T : (m, 3) triplets.
    n : number of items.
    dims : the dimension.
    holdout : share of triplets left out of the fit to measure its accuracy on them.
    seed : the split of held-out triplets and the embedding's random state.

    Returns
    -------
    (X, record): coordinates (n, dims) and ``train_accuracy``, ``heldout_accuracy``, ``n_train``, ``n_heldout``.
    """
    from cblearn.embedding import SOE

    rng = np.random.default_rng(seed)
    test = rng.random(len(T)) < holdout
    X = SOE(int(dims), random_state=seed, n_init=1).fit_transform(T[~test], n_objects=n)
    return X, {
        "train_accuracy": triplet_accuracy(T[~test], X),
        "heldout_accuracy": triplet_accuracy(T[test], X) if test.any() else None,
        "n_train": int((~test).sum()),
        "n_heldout": int(test.sum()),
    }


def triplet_accuracy(T: np.ndarray, X: np.ndarray) -> float:
    """Triplet accuracy: the share of triplets (i, j, k) whose choice the coordinates reproduce.

    Parameters
    ----------
    T : (m, 3) triplets: item i is closer to j than to k.
    X : (n, d) coordinates (a feature set, a human space).

    Returns
    -------
    float: the share where X puts i closer to j than to k (a tie counts one half); NaN without triplets.
    """
    X = np.asarray(X, dtype=np.float64)
    dj = ((X[T[:, 0]] - X[T[:, 1]]) ** 2).sum(axis=1)
    dk = ((X[T[:, 0]] - X[T[:, 2]]) ** 2).sum(axis=1)
    return float(np.mean((dj < dk) + 0.5 * (dj == dk))) if len(T) else float("nan")
