"""Agglomerative (hierarchical) clustering with SciPy: one tree, cut at k; the scan over the cuts; many rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from imagespace.sampling import stratified_sample

from ._base import ClusterResult, _as_matrix, _silhouette, log, scan_distances


def fit_agglomerative(X, k: int, linkage: str = "ward") -> ClusterResult:
    """Hierarchical clustering with SciPy: the tree of *X*, cut into at most *k* clusters.

    The linkage matrix is ``scipy.cluster.hierarchy.linkage(X, method=linkage)``
    (euclidean metric) and the labels cut that same tree into at most *k*
    clusters (``fcluster(..., criterion="maxclust")``), numbered from 0, so the
    labels and the dendrogram always agree. SciPy computes all pairwise
    distances, i.e. memory grows as n²/2 doubles: subsample large collections.

    Parameters
    ----------
    X : array-like, shape (n, d)
        The rows to cluster (at least 2).
    k : int
        The most clusters of the cut.
    linkage : str
        SciPy's linkage method (``ward``, ``average``, ``complete``, ``single``).

    Returns
    -------
    ClusterResult
        ``labels`` and ``model`` (the linkage matrix, shape (n - 1, 4)).
    """
    Z = build_tree(X, linkage)
    labels = cut_tree(Z, k)
    log.info("agglomerative (%s) k=%d: %d clusters", linkage, k, len(np.unique(labels)))
    return ClusterResult(labels, Z)


def build_tree(X, linkage: str = "ward") -> np.ndarray:
    """``scipy.cluster.hierarchy.linkage(X, method=linkage)`` (euclidean), with a warning where it needs much memory.

    Parameters
    ----------
    X : array-like, shape (n, d)
        The rows.
    linkage : str
        SciPy's linkage method.

    Returns
    -------
    numpy.ndarray, shape (n - 1, 4)
        The linkage matrix.
    """
    from scipy.cluster import hierarchy

    X = _as_matrix(X)
    n = X.shape[0]
    if n < 2:
        raise ValueError("agglomerative clustering needs at least 2 points")
    if n > 20000:
        log.warning("linkage on %d points needs ~%.1f GB for pairwise distances", n, n * (n - 1) / 2 * 8 / 1e9)
    return hierarchy.linkage(X, method=linkage)


def cut_tree(Z: np.ndarray, k: int) -> np.ndarray:
    """The tree *Z* cut into at most *k* clusters (``fcluster(..., criterion="maxclust")``), numbered from 0.

    Parameters
    ----------
    Z : numpy.ndarray
        A linkage matrix.
    k : int
        The most clusters.

    Returns
    -------
    numpy.ndarray of int64
        The cluster of every leaf.
    """
    from scipy.cluster import hierarchy

    return hierarchy.fcluster(Z, t=int(k), criterion="maxclust").astype(np.int64) - 1


def agglomerative_scan(X, Z, k_values, *, seed: int | None = None, sample_size: int | None = None) -> pd.DataFrame:
    """Cut one tree (linkage matrix *Z* of the rows of *X*) at every k: columns ``k``, ``n_clusters``, ``silhouette``.

    The tree is built once; each cut is ``fcluster(Z, k, "maxclust")`` (the labels
    :func:`fit_agglomerative` gives at that k). ``sample_size`` scores a seeded sample.

    Parameters
    ----------
    X : array-like, shape (n, d)
        The rows the tree was built on.
    Z : numpy.ndarray
        Their linkage matrix (:func:`build_tree`).
    k_values : iterable of int
        The cuts.
    seed : int or None
        Seed of the silhouette sample.
    sample_size : int or None
        Score silhouettes on a seeded sample of this many rows.

    Returns
    -------
    pandas.DataFrame
        Columns ``k``, ``n_clusters``, ``silhouette``.
    """
    import pandas as pd

    X = _as_matrix(X)
    rows = []
    distances = scan_distances(X, sample_size)
    for k in k_values:
        labels = cut_tree(Z, k)
        rows.append(
            {
                "k": int(k),
                "n_clusters": int(len(np.unique(labels))),
                "silhouette": _silhouette(X, labels, seed, sample_size, distances),
            }
        )
    return pd.DataFrame(rows, columns=["k", "n_clusters", "silhouette"])


def fit_agglomerative_large(X, k: int, *, linkage: str, n_sub: int, seed: int, strata=None, tree=None) -> ClusterResult:
    """Agglomerative clustering for many rows: the tree on *n_sub* (stratified) rows, the rest to the nearest centroid.

    Parameters
    ----------
    X : array-like, shape (n, d)
        The rows to cluster.
    k : int
        The most clusters of the cut.
    linkage : str
        SciPy's linkage method.
    n_sub : int
        Rows the tree is built on.
    seed : int
        Seed of the subsample.
    strata : array-like or None
        One label per row: the subsample keeps their shares (:func:`imagespace.sampling.stratified_sample`).
    tree : tuple or None
        ``(subsample indices, linkage matrix)`` already built (as :func:`stratified_sample` and
        :func:`build_tree` give them for these arguments).

    Returns
    -------
    ClusterResult
        ``labels`` of all rows, ``model`` (the linkage matrix of the subsample) and ``extra`` with ``rows``
        (the subsample's indices) and ``strategy`` (what result.json records).
    """
    X = _as_matrix(X)
    if tree is None:
        idx = stratified_sample(len(X), int(n_sub), seed, strata)
        sub = fit_agglomerative(X[idx], k, linkage)
        sub_labels, Z = sub.labels, sub.model
    else:
        idx, Z = tree
        sub_labels = cut_tree(Z, k)
    centroids = np.stack([X[idx][sub_labels == c].mean(axis=0) for c in range(sub_labels.max() + 1)])
    labels = np.empty(len(X), dtype=np.int64)
    sq = (centroids**2).sum(1)
    for a in range(0, len(X), 8192):
        block = X[a : a + 8192]
        labels[a : a + 8192] = np.argmin(sq[None, :] - 2 * block @ centroids.T, axis=1)
    labels[idx] = sub_labels
    strategy = {
        "name": "subsample",
        "n_tree": len(idx),
        "n_assigned": len(X) - len(idx),
        "assignment": "nearest cluster centroid",
        "stratified": strata is not None,
    }
    log.info(
        "agglomerative on %d rows: tree on %d stratified rows, %d assigned to the nearest centroid",
        len(X),
        len(idx),
        len(X) - len(idx),
    )
    return ClusterResult(labels, Z, extra={"rows": idx, "strategy": strategy})
