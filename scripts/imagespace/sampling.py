"""Seeded stratified samples: the held-out splits ingest draws, the CNN's validation split, and the subsamples
that clustering, embeddings and probes fit on (the same share of every class, reproducible by seed).

Plain NumPy: every stage may import it without pulling in the rest of the library.
"""

from __future__ import annotations

import numpy as np


def stratified_holdout(labels, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of a held-out share *fraction* of every label's items, reproducible by *seed*.

    Labels are visited in sorted order; within each, the items (in their given
    order) are shuffled and the first round(fraction * n) are held out.

    Parameters
    ----------
    labels
        One label per item.
    fraction
        The share of every label's items held out.
    seed
        The seed of ``numpy.random.default_rng``.

    Returns
    -------
    numpy.ndarray
        One bool per item: True where held out.
    """
    labels = np.asarray(labels).astype(str)
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), bool)
    for lab in sorted(set(labels.tolist())):
        idx = np.flatnonzero(labels == lab)
        rng.shuffle(idx)
        mask[idx[: int(round(fraction * len(idx)))]] = True
    return mask


def stratified_sample(n: int, m: int, seed: int, strata=None) -> np.ndarray:
    """About m of n row indices (sorted), seeded; with *strata* (labels) the same fraction of every class.

    Parameters
    ----------
    n
        The number of rows.
    m
        The number of rows wanted (with *strata*: about that many, ``m / n`` of every class).
    seed
        The seed of ``numpy.random.default_rng``.
    strata
        One label per row, or None (a plain sample of exactly m rows).

    Returns
    -------
    numpy.ndarray
        Sorted row indices.
    """
    if strata is None:
        return np.sort(np.random.default_rng(seed).choice(n, size=m, replace=False))
    return np.flatnonzero(stratified_holdout(strata, m / n, seed))
