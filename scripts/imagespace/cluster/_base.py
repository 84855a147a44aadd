"""What every clustering module shares: the noise label, the result type, input checks and the silhouette."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the Snakefile reads the method table through this module: pandas only where a scan is built
    import pandas as pd

log = logging.getLogger("imagespace.cluster")

# the label of noise points (DBSCAN, HDBSCAN): never a cluster, never matched to a class
NOISE_LABEL = -1


@dataclass
class ClusterResult:
    """What every ``fit_*`` function returns, whatever the method.

    Attributes
    ----------
    labels : numpy.ndarray of int, shape (n,)
        The cluster of every row; :data:`NOISE_LABEL` (-1) marks noise (DBSCAN, HDBSCAN).
    model : object or None
        What was fitted: the scikit-learn estimator (``KMeans``, ``GaussianMixture``, ``DBSCAN``,
        ``HDBSCAN``) or, for agglomerative clustering, SciPy's linkage matrix (of the subsample the
        tree was built on, for :func:`~imagespace.cluster.fit_agglomerative_large`). None where the
        labels come from a scan (:func:`~imagespace.cluster.fit_dbscan_auto` on all rows).
    scan : pandas.DataFrame or None
        The model-selection table the parameters were chosen from, where the fit ran one.
    extra : dict
        Method-specific details, e.g. ``strategy`` and ``rows`` (the fitted subsample) of the
        ``*_large`` fits, ``info`` and ``curve`` of :func:`~imagespace.cluster.fit_dbscan_auto`.
    """

    labels: np.ndarray
    model: object = None
    scan: pd.DataFrame | None = None
    extra: dict = field(default_factory=dict)

    def __getattr__(self, name):
        # Transitional: an attribute the result lacks is read from the fitted model, so callers written for the
        # earlier return value (a fitted estimator: clustermaps.py's fit_kmeans(...).predict and
        # fit_gmm(...).means_) keep working until they read result.model. Private names are never forwarded.
        model = self.__dict__.get("model")
        if name.startswith("_") or model is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(model, name)


def _as_matrix(X) -> np.ndarray:
    """Return *X* as a 2-D float array without copying float32/float64 input.

    Other dtypes (ints, uint8 pixels) are converted to float64 exactly once.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"feature matrix must be 2-D (n, d), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError("feature matrix has no rows")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return X


def _py(v):
    """numpy scalar -> Python scalar (leave everything else alone)."""
    return v.item() if isinstance(v, np.generic) else v


def _labels(y, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {y.shape}")
    return y


def _noise_mask(y_pred: np.ndarray) -> np.ndarray:
    """Boolean mask of DBSCAN noise points (numeric label -1)."""
    if y_pred.dtype.kind in "iuf":
        return y_pred == NOISE_LABEL
    if y_pred.dtype.kind == "O":
        return np.fromiter(
            (
                isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and v == NOISE_LABEL
                for v in y_pred
            ),
            dtype=bool,
            count=len(y_pred),
        )
    return np.zeros(len(y_pred), dtype=bool)


# a scan over k scores every cut on the same rows: up to this many, their pairwise distances are computed once
# (float64: 200 MB at 5,000 rows) and every silhouette reads them, with the same scores as computed per cut
SCAN_DISTANCES_MAX = 5000


def scan_distances(X, sample_size=None):
    """The pairwise distances a silhouette scan over k reuses, or None where each score computes its own.

    None where the silhouettes are scored on a sample (``sample_size`` below the number of rows) or above
    :data:`SCAN_DISTANCES_MAX` rows. Otherwise ``sklearn.metrics.pairwise_distances(X)``, the distances
    ``silhouette_score`` computes itself, so the scores are the same, bit for bit.
    """
    n = len(X)
    if (sample_size is not None and sample_size < n) or n > SCAN_DISTANCES_MAX:
        return None
    from sklearn.metrics import pairwise_distances

    return pairwise_distances(X)


def _silhouette(X, labels, seed=None, sample_size=None, distances=None) -> float:
    """Mean silhouette, NaN where it is undefined (fewer than 2 or n clusters); *distances*: those of
    :func:`scan_distances` for these rows, or None."""
    from sklearn.metrics import silhouette_score

    n_labels = len(np.unique(labels))
    if n_labels < 2 or n_labels >= len(labels):
        return float("nan")
    if sample_size is not None and sample_size < len(labels):
        return float(silhouette_score(X, labels, sample_size=sample_size, random_state=seed))
    if distances is not None:
        return float(silhouette_score(distances, labels, metric="precomputed"))
    return float(silhouette_score(X, labels))
