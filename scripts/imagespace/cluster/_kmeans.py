"""K-Means: one fit, and the scan over k that chooses among them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagespace.io import Progress

from ._base import ClusterResult, _as_matrix, _silhouette, log, scan_distances

if TYPE_CHECKING:
    import pandas as pd


def fit_kmeans(X, k: int, seed: int, *, n_init: int = 10) -> ClusterResult:
    """Fit ``KMeans(n_clusters=k, random_state=seed, n_init=n_init)``.

    Parameters
    ----------
    X : array-like, shape (n, d)
        The rows to cluster (float32/float64 used as given, other dtypes converted once).
    k : int
        Number of clusters.
    seed : int
        ``random_state`` of the initialisations: the same seed gives the same clusters.
    n_init : int
        Initialisations; the one with the least inertia is kept.

    Returns
    -------
    ClusterResult
        ``labels`` (``model.labels_``) and ``model`` (the fitted ``KMeans``).
    """
    from sklearn.cluster import KMeans

    X = _as_matrix(X)
    model = KMeans(n_clusters=int(k), random_state=seed, n_init=n_init).fit(X)
    log.info("k-means k=%d: inertia %.6g after %d iterations", k, model.inertia_, model.n_iter_)
    return ClusterResult(model.labels_, model)


def kmeans_scan_models(
    X, k_values, seed: int, *, n_init: int = 10, silhouette_sample_size: int | None = None, keep=()
) -> tuple[pd.DataFrame, dict]:
    """The scan of :func:`kmeans_scan` and the fits of the k in *keep*.

    Every k is fitted with ``random_state=seed`` (exactly what :func:`fit_kmeans` gives for that
    k), so a kept fit is the one a refit would give.

    Parameters
    ----------
    X : array-like, shape (n, d)
        The rows to cluster.
    k_values : iterable of int
        The k to fit.
    seed : int
        ``random_state`` of every fit and of the silhouette sample.
    n_init : int
        Initialisations per fit.
    silhouette_sample_size : int or None
        Score silhouettes on a seeded sample of this many rows (None: all rows, O(n²)).
    keep : iterable of int
        The k whose fits are returned.

    Returns
    -------
    scan : pandas.DataFrame
        Columns ``k``, ``inertia``, ``silhouette`` (NaN for k=1).
    fits : dict
        ``{k: ClusterResult}`` for the k in *keep*.
    """
    import pandas as pd

    X = _as_matrix(X)
    ks = [int(k) for k in k_values]
    keep = {int(k) for k in keep}
    rows, fits = [], {}
    distances = scan_distances(X, silhouette_sample_size)
    with Progress(f"k-means scan k={ks[0]}..{ks[-1]}" if ks else "k-means scan", sum(ks)) as prog:
        for k in ks:
            fit = fit_kmeans(X, k, seed, n_init=n_init)
            sil = _silhouette(X, fit.labels, seed, silhouette_sample_size, distances)
            rows.append({"k": k, "inertia": float(fit.model.inertia_), "silhouette": sil})
            if k in keep:
                fits[k] = fit
            log.info("k-means scan k=%d: silhouette %.4f", k, sil)
            prog.add(k)
    return pd.DataFrame(rows, columns=["k", "inertia", "silhouette"]), fits


def kmeans_scan(X, k_values, seed: int, *, n_init: int = 10, silhouette_sample_size: int | None = None) -> pd.DataFrame:
    """Fit one k-means per k; the table of :func:`kmeans_scan_models` (columns ``k``, ``inertia``, ``silhouette``).

    The silhouette is NaN for k=1 (undefined). By default it uses all points
    (O(n²) time); ``silhouette_sample_size`` scores a seeded random subsample
    instead.

    Parameters
    ----------
    X, k_values, seed, n_init, silhouette_sample_size
        As :func:`kmeans_scan_models`.

    Returns
    -------
    pandas.DataFrame
        Columns ``k``, ``inertia``, ``silhouette``.
    """
    return kmeans_scan_models(X, k_values, seed, n_init=n_init, silhouette_sample_size=silhouette_sample_size)[0]
