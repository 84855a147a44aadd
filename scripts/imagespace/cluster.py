"""Clustering of feature matrices: fits, model-selection scans, scoring and plots.

Plain library code (no Snakemake). Every function takes a float feature matrix
``X`` of shape ``(n, d)`` (float32 or float64 are used as given; any other dtype
is converted to float64 once) and returns plain Python, numpy or pandas
objects. Everything that involves randomness takes an explicit ``seed``, so a
given seed always gives identical results.

Conventions
-----------
* Cluster labels are whatever the algorithm returns; the noise label ``-1`` of
  DBSCAN and HDBSCAN is never treated as a cluster when matching clusters to
  classes (noise points always count as wrongly labelled).
* Labels are never used to choose anything: scans (k, DBSCAN's eps and
  min_samples) are scored by unsupervised criteria only.
* Plots are drawn on :class:`matplotlib.figure.Figure` objects (the
  object-oriented API, rendered by Agg for PNG) and written atomically with
  :func:`imagespace.util.save_figure`; pyplot's global state and the session's
  backend are never touched, so the functions are also safe in notebooks.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from scipy.cluster import hierarchy
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import DBSCAN, HDBSCAN, KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, pairwise_distances, silhouette_samples, silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors

from imagespace import plots
from imagespace.util import (Progress, load_features, own_images, process_map, save_figure, to_jsonable, write_json,
                             write_table)

log = logging.getLogger("imagespace.cluster")


NOISE = -1
SELECT_CRITERIA = {"silhouette": "max", "bic": "min", "aic": "min"}


# --------------------------------------------------------------------------- helpers
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
        return y_pred == NOISE
    if y_pred.dtype.kind == "O":
        return np.fromiter(
            (
                isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and v == NOISE
                for v in y_pred
            ),
            dtype=bool,
            count=len(y_pred),
        )
    return np.zeros(len(y_pred), dtype=bool)


def _contingency(y_true, y_pred):
    """Contingency table of non-noise clusters (rows) against classes (columns).

    Returns ``(table, clusters, classes, n)`` where *n* counts all points,
    noise included.
    """
    y_true = _labels(y_true, "y_true")
    y_pred = _labels(y_pred, "y_pred")
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}")
    if len(y_true) == 0:
        raise ValueError("no labels given")
    keep = ~_noise_mask(y_pred)
    classes, t_idx = np.unique(y_true, return_inverse=True)
    clusters, p_idx = np.unique(y_pred[keep], return_inverse=True)
    table = np.zeros((len(clusters), len(classes)), dtype=np.int64)
    np.add.at(table, (p_idx, t_idx[keep]), 1)
    return table, clusters, classes, len(y_true)


def _silhouette(X, labels, seed=None, sample_size=None) -> float:
    """Mean silhouette, NaN where it is undefined (fewer than 2 or n clusters)."""
    n_labels = len(np.unique(labels))
    if n_labels < 2 or n_labels >= len(labels):
        return float("nan")
    if sample_size is not None and sample_size < len(labels):
        return float(silhouette_score(X, labels, sample_size=sample_size, random_state=seed))
    return float(silhouette_score(X, labels))


def _new_figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def _integer_xaxis(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


# --------------------------------------------------------------------------- scoring
def hungarian_accuracy(y_true, y_pred) -> tuple[float, dict]:
    """Accuracy after the optimal one-to-one matching of clusters to classes.

    The matching maximises the number of correctly labelled points
    (:func:`scipy.optimize.linear_sum_assignment` on the cluster-by-class
    contingency table). With more clusters than classes the surplus clusters
    stay unmatched and all their points count as wrong; with more classes than
    clusters some classes get no cluster. Noise points (label ``-1``) are never
    matched and always count as wrong. The denominator is all points.

    Returns ``(accuracy, {cluster: class})``; the mapping holds only matched
    pairs that share at least one point, with Python-native keys and values.
    """
    table, clusters, classes, n = _contingency(y_true, y_pred)
    if table.size == 0:
        return 0.0, {}
    rows, cols = linear_sum_assignment(table, maximize=True)
    correct = int(table[rows, cols].sum())
    mapping = {_py(clusters[r]): _py(classes[c]) for r, c in zip(rows, cols) if table[r, c] > 0}
    return correct / n, mapping


def majority_mapping(y_true, y_pred) -> dict:
    """Map each (non-noise) cluster to its most frequent class (many-to-one).

    Ties go to the class that sorts first.
    """
    table, clusters, classes, _ = _contingency(y_true, y_pred)
    # np.unique sorts the classes and argmax returns the first maximum.
    return {_py(clusters[i]): _py(classes[j]) for i, j in enumerate(table.argmax(axis=1))}


def majority_accuracy(y_true, y_pred) -> float:
    """Accuracy when each cluster is labelled by its majority class.

    This many-to-one mapping is what many notebooks report; it rewards
    over-segmentation (with one cluster per point it is 1.0), so it is shown
    next to :func:`hungarian_accuracy`, never instead of it. Noise points count
    as wrong; ties between classes go to the class that sorts first.
    """
    table, _, _, n = _contingency(y_true, y_pred)
    if table.size == 0:
        return 0.0
    return float(table.max(axis=1).sum()) / n


def score_clustering(y_pred, labels, subtypes=None) -> dict:
    """Score a clustering against class labels (and optionally finer subtypes).

    Keys: ``k`` (clusters excluding noise), ``n_noise``, ``accuracy``
    (Hungarian), ``majority_accuracy``, ``ari``, ``nmi`` (against *labels*),
    ``ari_subtype``, ``nmi_subtype`` (None without *subtypes*), ``sizes``
    (cluster -> count, string keys, noise as ``"-1"``) and ``mapping``
    (Hungarian cluster -> class, string keys). For ARI/NMI the noise points
    form one group of their own. The result is JSON-ready.
    """
    y_pred = _labels(y_pred, "y_pred")
    labels = _labels(labels, "labels")
    noise = _noise_mask(y_pred)
    acc, mapping = hungarian_accuracy(labels, y_pred)
    clusters, counts = np.unique(y_pred, return_counts=True)
    result = {
        "k": int(len(np.unique(y_pred[~noise]))),
        "n_noise": int(noise.sum()),
        "accuracy": acc,
        "majority_accuracy": majority_accuracy(labels, y_pred),
        "ari": float(adjusted_rand_score(labels, y_pred)),
        "nmi": float(normalized_mutual_info_score(labels, y_pred)),
        "ari_subtype": None,
        "nmi_subtype": None,
        "sizes": {str(_py(c)): int(n) for c, n in zip(clusters, counts)},
        "mapping": mapping,
    }
    if subtypes is not None and np.array_equal(np.asarray(subtypes).astype(str), np.asarray(labels).astype(str)):
        subtypes = None  # no subtypes (each image's subtype is its label): no second, identical pair of scores
    if subtypes is not None:
        subtypes = _labels(subtypes, "subtypes")
        if len(subtypes) != len(y_pred):
            raise ValueError(f"subtypes has {len(subtypes)} labels but y_pred has {len(y_pred)}")
        result["ari_subtype"] = float(adjusted_rand_score(subtypes, y_pred))
        result["nmi_subtype"] = float(normalized_mutual_info_score(subtypes, y_pred))
    return to_jsonable(result)


# --------------------------------------------------------------------------- fits
def fit_kmeans(X, k: int, seed: int, n_init: int = 10) -> KMeans:
    """Fit ``KMeans(n_clusters=k, random_state=seed, n_init=n_init)``."""
    X = _as_matrix(X)
    model = KMeans(n_clusters=int(k), random_state=seed, n_init=n_init).fit(X)
    log.info("k-means k=%d: inertia %.6g after %d iterations", k, model.inertia_, model.n_iter_)
    return model


def fit_gmm(
    X,
    k: int,
    seed: int,
    covariance_type: str = "full",
    n_init: int = 1,
    reg_covar: float = 1e-6,
    max_iter: int = 100,
) -> GaussianMixture:
    """Fit a :class:`~sklearn.mixture.GaussianMixture` with *k* components."""
    X = _as_matrix(X)
    model = GaussianMixture(
        n_components=int(k),
        covariance_type=covariance_type,
        n_init=n_init,
        reg_covar=reg_covar,
        max_iter=max_iter,
        random_state=seed,
    ).fit(X)
    if not model.converged_:
        log.warning("GMM k=%d (%s) did not converge in %d iterations", k, covariance_type, max_iter)
    return model


def fit_agglomerative(X, k: int, linkage: str = "ward") -> tuple[np.ndarray, np.ndarray]:
    """Hierarchical clustering with SciPy; returns ``(labels, linkage_matrix)``.

    The linkage matrix is ``scipy.cluster.hierarchy.linkage(X, method=linkage)``
    (euclidean metric) and the labels cut that same tree into at most *k*
    clusters (``fcluster(..., criterion="maxclust")``), numbered from 0, so the
    labels and the dendrogram always agree. SciPy computes all pairwise
    distances, i.e. memory grows as n²/2 doubles: subsample large collections.
    """
    Z = build_tree(X, linkage)
    labels = cut_tree(Z, k)
    log.info("agglomerative (%s) k=%d: %d clusters", linkage, k, len(np.unique(labels)))
    return labels, Z


def build_tree(X, linkage: str = "ward") -> np.ndarray:
    """``scipy.cluster.hierarchy.linkage(X, method=linkage)`` (euclidean), with a warning where it needs much memory."""
    X = _as_matrix(X)
    n = X.shape[0]
    if n < 2:
        raise ValueError("agglomerative clustering needs at least 2 points")
    if n > 20000:
        log.warning("linkage on %d points needs ~%.1f GB for pairwise distances", n, n * (n - 1) / 2 * 8 / 1e9)
    return hierarchy.linkage(X, method=linkage)


def cut_tree(Z: np.ndarray, k: int) -> np.ndarray:
    """The tree *Z* cut into at most *k* clusters (``fcluster(..., criterion="maxclust")``), numbered from 0."""
    return hierarchy.fcluster(Z, t=int(k), criterion="maxclust").astype(np.int64) - 1


def agglomerative_scan(X, Z, k_values, seed: int | None = None, sample_size: int | None = None) -> pd.DataFrame:
    """Cut one tree (linkage matrix *Z* of the rows of *X*) at every k: columns ``k``, ``n_clusters``, ``silhouette``.

    The tree is built once; each cut is ``fcluster(Z, k, "maxclust")`` (the labels
    :func:`fit_agglomerative` gives at that k). ``sample_size`` scores a seeded sample.
    """
    X = _as_matrix(X)
    rows = []
    for k in k_values:
        labels = cut_tree(Z, k)
        rows.append({"k": int(k), "n_clusters": int(len(np.unique(labels))),
                     "silhouette": _silhouette(X, labels, seed, sample_size)})
    return pd.DataFrame(rows, columns=["k", "n_clusters", "silhouette"])


def plot_silhouette_scan(df: pd.DataFrame, path, chosen_k=None, title: str = "agglomerative: silhouette of each cut") -> None:
    """Mean silhouette against k, with the chosen k marked."""
    fig = _new_figure((6, 4))
    ax = fig.subplots()
    ax.plot(df["k"], df["silhouette"], "o-", color="C1")
    ax.set(xlabel="k", ylabel="mean silhouette", title=title)
    if chosen_k is not None:
        ax.axvline(chosen_k, color="grey", ls="--", label=f"chosen k={chosen_k}")
        ax.legend()
    ax.grid(alpha=0.3)
    _integer_xaxis(ax)
    save_figure(fig, path)


def fit_agglomerative_large(X, k: int, linkage: str, n_sub: int, seed: int, strata=None, tree=None):
    """Agglomerative clustering for many rows: the tree on *n_sub* (stratified) rows, the rest to the nearest centroid.

    *tree*: ``(subsample indices, linkage matrix)`` already built (as :func:`stratified_sample` and
    ``hierarchy.linkage`` give them for these arguments). Returns ``(labels, linkage_matrix of the
    subsample, subsample indices, strategy)``.
    """
    from imagespace.util import stratified_sample

    X = _as_matrix(X)
    if tree is None:
        idx = stratified_sample(len(X), int(n_sub), seed, strata)
        sub_labels, Z = fit_agglomerative(X[idx], k, linkage)
    else:
        idx, Z = tree
        sub_labels = cut_tree(Z, k)
    centroids = np.stack([X[idx][sub_labels == c].mean(axis=0) for c in range(sub_labels.max() + 1)])
    labels = np.empty(len(X), dtype=np.int64)
    sq = (centroids**2).sum(1)
    for a in range(0, len(X), 8192):
        block = X[a:a + 8192]
        labels[a:a + 8192] = np.argmin(sq[None, :] - 2 * block @ centroids.T, axis=1)
    labels[idx] = sub_labels
    strategy = {"name": "subsample", "n_tree": len(idx), "n_assigned": len(X) - len(idx),
                "assignment": "nearest cluster centroid", "stratified": strata is not None}
    log.info("agglomerative on %d rows: tree on %d stratified rows, %d assigned to the nearest centroid", len(X), len(idx), len(X) - len(idx))
    return labels, Z, idx, strategy


def fit_dbscan(X, eps: float, min_samples: int) -> np.ndarray:
    """DBSCAN labels (noise is ``-1``). Deterministic; no seed needed."""
    X = _as_matrix(X)
    labels = DBSCAN(eps=float(eps), min_samples=int(min_samples)).fit_predict(X)
    k = len(set(labels.tolist()) - {NOISE})
    n_noise = int((labels == NOISE).sum())
    log.info("DBSCAN eps=%.6g min_samples=%d: %d clusters, %d noise points", eps, min_samples, k, n_noise)
    return labels


def fit_hdbscan(X, min_cluster_size: int = 5, min_samples: int | None = None,
                cluster_selection_method: str = "eom") -> np.ndarray:
    """:class:`sklearn.cluster.HDBSCAN` labels; every noise point is labelled ``-1``.

    Deterministic (no seed). ``min_cluster_size`` is capped at the number of
    rows and ``min_samples`` (None = ``min_cluster_size``) below it. scikit-learn's
    special labels for infinite (-2) and missing (-3) values, impossible for
    finite features, would also become ``-1``.
    """
    X = _as_matrix(X)
    n = X.shape[0]
    if n < 2:
        raise ValueError("HDBSCAN needs at least 2 points")
    mcs = max(2, min(int(min_cluster_size), n))
    ms = None if min_samples is None else max(1, min(int(min_samples), n - 1))
    labels = HDBSCAN(min_cluster_size=mcs, min_samples=ms, cluster_selection_method=cluster_selection_method,
                     copy=True).fit_predict(X)
    labels = np.where(labels < 0, NOISE, labels).astype(np.int64)
    k = len(set(labels.tolist()) - {NOISE})
    log.info("HDBSCAN min_cluster_size=%d min_samples=%s (%s): %d clusters, %d noise points", mcs, ms,
             cluster_selection_method, k, int((labels == NOISE).sum()))
    return labels


def fit_hdbscan_large(X, n_sub: int, seed: int, strata=None, min_cluster_size: int = 5, min_samples: int | None = None,
                      cluster_selection_method: str = "eom"):
    """HDBSCAN for many rows: fitted on *n_sub* (label-stratified) rows, every other row labelled as its nearest
    fitted row in mutual-reachability distance, the distance HDBSCAN's tree is built on (noise stays noise).

    scikit-learn's HDBSCAN builds its minimum spanning tree with Prim's algorithm on the data matrix, O(n^2)
    distances. The assignment is the rule of the hdbscan package's ``approximate_predict``: a new point's core
    distance is its distance to its min_samples-th nearest fitted row (itself counted first, as scikit-learn
    counts a fitted point), and it joins the fitted row that minimises max(distance, both core distances) among
    its 2 x min_samples nearest. The settings apply to the fitted rows as given (a cluster needs
    min_cluster_size of them). Returns ``(labels, subsample indices, strategy)``.
    """
    from sklearn.neighbors import NearestNeighbors

    from imagespace.util import stratified_sample

    X = _as_matrix(X)
    idx = stratified_sample(len(X), int(n_sub), seed, strata)
    sub = fit_hdbscan(X[idx], min_cluster_size, min_samples, cluster_selection_method)
    ms = max(1, min(int(min_cluster_size if min_samples is None else min_samples), len(idx) - 1))
    nn = NearestNeighbors(n_neighbors=min(2 * ms, len(idx))).fit(X[idx])
    core_fit = nn.kneighbors(X[idx], n_neighbors=ms)[0][:, -1]  # the row itself is its first neighbour
    rest = np.setdiff1d(np.arange(len(X)), idx)
    labels = np.empty(len(X), dtype=np.int64)
    labels[idx] = sub
    for a in range(0, len(rest), 8192):
        rows = rest[a:a + 8192]
        d, j = nn.kneighbors(X[rows])
        core_new = d[:, ms - 2] if ms >= 2 else np.zeros(len(rows))
        mrd = np.maximum(np.maximum(d, core_fit[j]), core_new[:, None])
        labels[rows] = sub[j[np.arange(len(rows)), mrd.argmin(axis=1)]]
    strategy = {"name": "subsample", "n_fit": len(idx), "n_assigned": len(rest),
                "assignment": "nearest fitted row in mutual-reachability distance", "stratified": strata is not None}
    log.info("HDBSCAN on %d rows: fitted on %d stratified rows, %d assigned by mutual reachability (%d to noise)", len(X),
             len(idx), len(rest), int((labels[rest] == NOISE).sum()))
    return labels, idx, strategy


# --------------------------------------------------------------------------- scaling
SCALINGS = ("none", "standardize")


def scale_features(X, how: str = "none") -> tuple[np.ndarray, dict]:
    """The matrix that is clustered: *X* as given (``none``) or z-scored per column (``standardize``).

    ``standardize`` subtracts each column's mean and divides by its (population)
    standard deviation, so every column has mean 0 and standard deviation 1 and
    counts equally in Euclidean distances; a constant column (standard deviation
    0) becomes all zeros. Returns ``(X, info)``: *info* holds ``name`` and, for
    ``standardize``, ``mean`` and ``std`` (the divisor, 1 for constant columns;
    for :func:`unscale_features`) and ``constant_columns``. ``none`` returns *X*
    itself, unchanged and uncopied (the numbers of unscaled runs stay bit for bit).
    """
    X = _as_matrix(X)
    if how == "none":
        return X, {"name": "none"}
    if how != "standardize":
        raise ValueError(f"unknown scaling {how!r}; choose one of {list(SCALINGS)}")
    X = X.astype(np.float64)
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    constant = ~(std > 1e-12 * np.maximum(1.0, np.abs(mean)))
    std = np.where(constant, 1.0, std)
    Z = (X - mean) / std
    Z[:, constant] = 0.0
    log.info("standardized %d columns (%d constant ones set to 0)", X.shape[1], int(constant.sum()))
    return Z, {"name": "standardize", "mean": mean, "std": std, "constant_columns": int(constant.sum())}


def unscale_features(Z, info: dict) -> np.ndarray:
    """Map points of the clustered (scaled) space back to the feature set's units (inverse of :func:`scale_features`)."""
    Z = np.asarray(Z, dtype=np.float64)
    return Z if info["name"] == "none" else Z * info["std"] + info["mean"]


def scaling_record(info: dict, n_columns: int) -> dict:
    """What result.json says about the scaling (no per-column arrays)."""
    out = {"name": info["name"], "n_columns": int(n_columns)}
    if info["name"] == "standardize":
        out["constant_columns"] = int(info["constant_columns"])
    return out


# --------------------------------------------------------------------------- scans
def kmeans_scan_models(X, k_values, seed: int, n_init: int = 10, *, silhouette_sample_size: int | None = None,
                       keep=()) -> tuple[pd.DataFrame, dict]:
    """The scan of :func:`kmeans_scan` and the fitted models of the k in *keep* ({k: model}).

    Every k is fitted with ``random_state=seed`` (exactly the model :func:`fit_kmeans` gives for that
    k), so a kept model is the one a refit would give.
    """
    X = _as_matrix(X)
    ks = [int(k) for k in k_values]
    keep = {int(k) for k in keep}
    rows, models = [], {}
    with Progress(f"k-means scan k={ks[0]}..{ks[-1]}" if ks else "k-means scan", sum(ks)) as prog:
        for k in ks:
            model = fit_kmeans(X, k, seed, n_init)
            sil = _silhouette(X, model.labels_, seed, silhouette_sample_size)
            rows.append({"k": k, "inertia": float(model.inertia_), "silhouette": sil})
            if k in keep:
                models[k] = model
            log.info("k-means scan k=%d: silhouette %.4f", k, sil)
            prog.add(k)
    return pd.DataFrame(rows, columns=["k", "inertia", "silhouette"]), models


def kmeans_scan(X, k_values, seed: int, n_init: int = 10, *, silhouette_sample_size: int | None = None) -> pd.DataFrame:
    """Fit one k-means per k; columns ``k``, ``inertia``, ``silhouette``.

    The silhouette is NaN for k=1 (undefined). By default it uses all points
    (O(n²) time); ``silhouette_sample_size`` scores a seeded random subsample
    instead.
    """
    return kmeans_scan_models(X, k_values, seed, n_init, silhouette_sample_size=silhouette_sample_size)[0]


def _gmm_row(model: GaussianMixture, X, k: int) -> dict:
    return {
        "k": int(k),
        "bic": float(model.bic(X)),
        "aic": float(model.aic(X)),
        "converged": bool(model.converged_),
        "log_likelihood": float(model.score(X) * X.shape[0]),
    }


def fit_gmm_k(
    X,
    k: int,
    seed: int,
    covariance_type: str = "full",
    n_init: int = 1,
    reg_covar: float = 1e-6,
    max_iter: int = 100,
) -> dict:
    """One row of :func:`gmm_scan`: ``{k, bic, aic, converged, log_likelihood}``.

    ``log_likelihood`` is the total log-likelihood of *X* (sum over points).
    """
    X = _as_matrix(X)
    row = _gmm_row(fit_gmm(X, k, seed, covariance_type, n_init, reg_covar, max_iter), X, k)
    log.info("GMM scan k=%d: BIC %.6g AIC %.6g", k, row["bic"], row["aic"])
    return row


def _gmm_scan_task(task):
    X, k, seed, fit_kw, keep = task
    model = fit_gmm(X, k, seed, **fit_kw)
    return _gmm_row(model, X, k), (model if keep else None)


def gmm_scan_models(
    X,
    k_values,
    seed: int,
    covariance_type: str = "full",
    n_init: int = 1,
    reg_covar: float = 1e-6,
    max_iter: int = 100,
    *,
    n_jobs: int = 1,
    keep=(),
) -> tuple[pd.DataFrame, dict]:
    """The scan of :func:`gmm_scan` and the fitted mixtures of the k in *keep* ({k: model}).

    Every k is fitted independently with ``random_state=seed`` (exactly the mixture that
    :func:`fit_gmm` gives for that k), so the k run in *n_jobs* processes, the largest first;
    a kept mixture is the one a refit at that k would give. Progress (weighted by k, the cost
    of an EM step) is logged every 30 s with an ETA.
    """
    X = _as_matrix(X)
    ks = [int(k) for k in k_values]
    keep = {int(k) for k in keep}
    fit_kw = dict(covariance_type=covariance_type, n_init=n_init, reg_covar=reg_covar, max_iter=max_iter)
    with Progress(f"GMM scan k={ks[0]}..{ks[-1]} (n_init={n_init}, {n_jobs} process{'es' if n_jobs > 1 else ''})",
                  sum(ks)) as prog:
        results = process_map(_gmm_scan_task, [(X, k, seed, fit_kw, k in keep) for k in ks], n_jobs, costs=ks,
                              progress=prog)
    for row, _ in results:
        log.info("GMM scan k=%d: BIC %.6g AIC %.6g%s", row["k"], row["bic"], row["aic"],
                 "" if row["converged"] else " (not converged)")
    df = pd.DataFrame([r for r, _ in results], columns=["k", "bic", "aic", "converged", "log_likelihood"])
    return df, {r["k"]: m for r, m in results if m is not None}


def gmm_scan(X, k_values, seed: int, **kw) -> pd.DataFrame:
    """One mixture per k; columns ``k, bic, aic, converged, log_likelihood`` (:func:`fit_gmm_k` for every k).
    Keywords as :func:`gmm_scan_models` (covariance_type, n_init, reg_covar, max_iter, n_jobs)."""
    return gmm_scan_models(X, k_values, seed, **kw)[0]


def select_k(scan_df: pd.DataFrame, criterion: str) -> int:
    """Best k of a scan: max ``silhouette``, min ``bic`` or min ``aic``.

    NaN rows are ignored; ties go to the smallest k.
    """
    if criterion not in SELECT_CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; choose one of {sorted(SELECT_CRITERIA)}")
    if criterion not in scan_df.columns:
        raise ValueError(f"scan table has no column {criterion!r} (columns: {list(scan_df.columns)})")
    df = scan_df.dropna(subset=[criterion]).sort_values("k", kind="stable")
    if df.empty:
        raise ValueError(f"no finite {criterion} values to select k from")
    values = df[criterion].to_numpy(dtype=float)
    i = int(np.argmax(values) if SELECT_CRITERIA[criterion] == "max" else np.argmin(values))
    return int(df["k"].iloc[i])


# --------------------------------------------------------------------------- DBSCAN eps
def kdistance(X, min_samples: int) -> np.ndarray:
    """Distance of every point to its *min_samples*-th nearest neighbour, sorted ascending.

    The point itself is excluded (duplicates of it are not). Note that
    scikit-learn's DBSCAN counts the point itself in ``min_samples``, so this
    curve is the conservative (slightly larger) of the two usual conventions.
    """
    X = _as_matrix(X)
    min_samples = int(min_samples)
    if not 1 <= min_samples < X.shape[0]:
        raise ValueError(f"min_samples must be in [1, n-1] = [1, {X.shape[0] - 1}], got {min_samples}")
    nn = NearestNeighbors(n_neighbors=min_samples).fit(X)
    dist, _ = nn.kneighbors()  # no X: each point's own entry is left out
    return np.sort(dist[:, -1])


def choose_eps(kdist) -> float:
    """Knee of the sorted k-distance curve (the Kneedle idea), used as DBSCAN's eps.

    Both axes are scaled to [0, 1] (rank ``i/(n-1)`` and
    ``(d - d_min)/(d_max - d_min)``); the chord then runs from (0, 0) to (1, 1)
    and the knee is the point furthest *below* it, i.e. the maximum of
    ``x - y``. For a typical k-distance curve (flat for points inside clusters,
    rising steeply for outliers) that is where the steep rise begins. A flat
    curve returns its single value.
    """
    d = np.sort(np.asarray(kdist, dtype=np.float64).ravel())
    if d.size == 0:
        raise ValueError("empty k-distance curve")
    span = d[-1] - d[0]
    if d.size < 3 or span <= 0:
        return float(np.median(d))
    x = np.linspace(0.0, 1.0, d.size)
    y = (d - d[0]) / span
    return float(d[int(np.argmax(x - y))])


# --------------------------------------------------------------------------- DBSCAN scan
# eps candidates of the scan: these quantiles of the core distances, i.e. the share of core points
EPS_QUANTILES = tuple(round(q, 2) for q in np.arange(0.10, 0.951, 0.05))
# min_samples when it is auto but not scanned (a fixed eps, or eps: knee): the earlier default
DBSCAN_MIN_SAMPLES = 5
# a candidate whose largest cluster holds more than this share of the points found no structure
# (the summary's threshold for a degenerate clustering)
DOMINANT_SHARE = 0.9
DBSCAN_CRITERIA = ("silhouette_coverage", "silhouette")
# the scan computes all pairwise distances of its rows once when there are at most this many (n² doubles: 128 MB)
PRECOMPUTE_MAX = 4000
SCAN_COLUMNS = ["min_samples", "quantile", "eps", "k", "noise_fraction", "largest_share", "silhouette",
                "silhouette_coverage", "score", "admissible", "reason", "chosen"]


def core_distances(X, min_samples: int) -> np.ndarray:
    """Each point's core distance for DBSCAN(min_samples), in row order (not sorted).

    scikit-learn counts a point itself among its *min_samples* neighbours, so a
    point is a core point at ``eps`` exactly when the distance to its
    ``(min_samples - 1)``-th nearest other point is at most ``eps``: the
    ``q``-quantile of these distances as eps makes a share ``q`` of the points
    core points (ties aside). ``min_samples = 1`` makes every point a core point
    (all distances 0).
    """
    X = _as_matrix(X)
    m = int(min_samples) - 1
    if m < 0 or m >= X.shape[0]:
        raise ValueError(f"min_samples must be in [1, n] = [1, {X.shape[0]}], got {min_samples}")
    if m == 0:
        return np.zeros(X.shape[0])
    dist, _ = NearestNeighbors(n_neighbors=m).fit(X).kneighbors()  # no X: each point's own entry is left out
    return dist[:, -1]


def dbscan_candidate(X, labels, max_noise: float, criterion: str, min_samples=None, quantile=None, eps=None,
                     silhouette_sample: int | None = None, seed: int = 0, D=None) -> dict:
    """One row of :func:`dbscan_scan`: what the labels of a DBSCAN fit say about structure, without class labels.

    ``silhouette`` is the mean silhouette of the clustered (non-noise) points and
    ``silhouette_coverage`` that times their share, i.e. the mean silhouette over
    all points with every noise point scoring 0 (so noise lowers the score).
    A candidate is ``admissible`` when it has at least 2 clusters, at most
    *max_noise* noise and no cluster holding more than :data:`DOMINANT_SHARE` of
    the points; silhouettes are computed for admissible candidates only (NaN
    otherwise; on a seeded sample of *silhouette_sample* clustered points when
    given) and ``score`` is the *criterion*'s column. *D*: the points' pairwise
    distances, when already computed (then *X* is not used).
    """
    if criterion not in DBSCAN_CRITERIA:
        raise ValueError(f"unknown DBSCAN criterion {criterion!r}; choose one of {list(DBSCAN_CRITERIA)}")
    labels = np.asarray(labels)
    n = len(labels)
    keep = labels != NOISE
    sizes = np.unique(labels[keep], return_counts=True)[1]
    k = len(sizes)
    noise = 1.0 - keep.sum() / n
    largest = sizes.max() / n if k else 0.0
    if k < 2:
        reason = f"{k} cluster{'s' if k != 1 else ''}"
    elif noise > max_noise:
        reason = f"noise {noise:.0%} > {max_noise:.0%}"
    elif largest > DOMINANT_SHARE:
        reason = f"one cluster holds {largest:.0%}"
    else:
        reason = ""
    if reason:
        sil = float("nan")
    elif D is not None:
        sil = float(silhouette_score(D[np.ix_(keep, keep)], labels[keep], metric="precomputed"))
    else:
        sil = _silhouette(X[keep], labels[keep], seed, silhouette_sample)
    if not reason and not np.isfinite(sil):
        reason = "silhouette undefined"
    row = {"min_samples": min_samples, "quantile": quantile, "eps": eps, "k": int(k), "noise_fraction": float(noise),
           "largest_share": float(largest), "silhouette": sil, "silhouette_coverage": sil * (1.0 - noise),
           "admissible": not reason, "reason": reason, "chosen": False}
    row["score"] = row[criterion]
    return row


def dbscan_scan(X, min_samples_values, max_noise: float = 0.5, criterion: str = "silhouette_coverage",
                quantiles=EPS_QUANTILES) -> tuple[pd.DataFrame, np.ndarray | None]:
    """DBSCAN over a grid of min_samples and eps, scored without labels; returns ``(table, labels of the best)``.

    For each min_samples the eps candidates are the *quantiles* of the core
    distances (:func:`core_distances`): with eps at quantile ``q`` a share ``q``
    of the points are core points, so the grid adapts to the data's scale and
    dimension. Each fit is a row of :func:`dbscan_candidate`; the chosen row
    (``chosen`` True) is the admissible one with the highest score, the first
    in grid order on ties. Without any admissible candidate nothing is chosen
    and the labels are None. Deterministic. Up to :data:`PRECOMPUTE_MAX` rows the
    pairwise distances are computed once and shared by all fits and silhouettes.
    """
    X = _as_matrix(X)
    D = pairwise_distances(X) if len(X) <= PRECOMPUTE_MAX else None
    if D is not None:
        np.fill_diagonal(D, 0.0)
        D_sorted = np.sort(D, axis=1)  # column 0 is the point itself
    rows, best, best_labels = [], None, None
    for ms in min_samples_values:
        ms = int(ms)
        if not 1 <= ms <= len(X):
            raise ValueError(f"min_samples must be in [1, n] = [1, {len(X)}], got {ms}")
        cd = D_sorted[:, ms - 1] if D is not None else core_distances(X, ms)
        for q in quantiles:
            eps = float(np.quantile(cd, q))
            if eps <= 0:  # duplicates: eps must be positive
                eps = float(np.min(cd[cd > 0])) if (cd > 0).any() else 1e-12
            if D is not None:
                labels = DBSCAN(eps=eps, min_samples=ms, metric="precomputed").fit_predict(D)
            else:
                labels = DBSCAN(eps=eps, min_samples=ms).fit_predict(X)
            row = dbscan_candidate(X, labels, max_noise, criterion, ms, float(q), eps, D=D)
            rows.append(row)
            if row["admissible"] and (best is None or row["score"] > rows[best]["score"]):
                best, best_labels = len(rows) - 1, labels
    if best is not None:
        rows[best]["chosen"] = True
    df = pd.DataFrame(rows, columns=SCAN_COLUMNS)
    log.info("DBSCAN scan: %d candidates on %d rows, %d admissible", len(df), len(X), int(df["admissible"].sum()))
    return df, best_labels


def _core_label(min_samples: int) -> str:
    m = int(min_samples) - 1
    suffix = "th" if 10 <= m % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(m % 10, "th")
    return f"core distance (to the {m}{suffix} nearest other point)"


def min_samples_grid(values, n: int) -> list[int]:
    """The scanned min_samples values usable on *n* rows: at most n // 4 (a cluster holds at least min_samples
    points, so larger values leave room for at most 3 clusters), at least 2; sorted, no duplicates."""
    cap = max(2, n // 4)
    grid = sorted({int(v) for v in values if 2 <= int(v) <= cap})
    return grid or [min(cap, n - 1)]


def null_scan_score(X, min_samples_values, max_noise: float, criterion: str, seed: int) -> float:
    """The best admissible scan score on structureless data like *X*: a seeded Gaussian sample with *X*'s
    mean and covariance, as many rows, scanned on the same grid (NaN when no candidate is admissible).

    A Gaussian cloud has no clusters, yet its thinning tails let the scan find "clusters" scoring about
    0.1-0.25; a score on the data that does not beat this says nothing about structure.
    """
    X = _as_matrix(X)
    rng = np.random.default_rng(seed)
    G = rng.multivariate_normal(X.mean(axis=0), np.cov(X, rowvar=False), size=len(X), method="eigh")
    df, _ = dbscan_scan(G, min_samples_values, max_noise=max_noise, criterion=criterion)
    ok = df[df["admissible"]]
    return float(ok["score"].max()) if len(ok) else float("nan")


def fit_dbscan_auto(X, eps="auto", min_samples="auto", *, scan_min_samples=(5, 10, 20, 40), max_noise: float = 0.5,
                    criterion: str = "silhouette_coverage", scan_n: int | None = 2000, seed: int = 0) -> tuple:
    """DBSCAN with eps and min_samples given or chosen; returns ``(labels, info, scan table, curve)``.

    * ``eps="auto"`` (the default): :func:`dbscan_scan` over eps (quantiles of
      the core distances) and, with ``min_samples="auto"``, over
      *scan_min_samples* (:func:`min_samples_grid`), on a seeded random sample
      of *scan_n* rows (all rows when there are no more; None = all rows). The
      choice is then applied to all rows: the same min_samples and eps at the
      same quantile of all rows' core distances (the same share of core points;
      eps itself shrinks as rows are added). Without an admissible candidate it
      falls back to ``eps="knee"`` and says so (``selection.fallback``). The best score
      is compared with the same scan on structureless data (:func:`null_scan_score`):
      ``selection.beats_null`` is False when the data's clusters score no better.
    * ``eps="knee"``: the knee of the k-distance curve (:func:`choose_eps`), the
      earlier default, which often merges everything into one cluster.
    * a number: that eps, no scan.

    An integer *min_samples* is used as given (with eps auto only eps is
    scanned); ``"auto"`` without an eps scan means :data:`DBSCAN_MIN_SAMPLES`.
    The scan never sees class labels. *curve* is ``(sorted distances, eps,
    min_samples, what the distances are)`` for :func:`plot_kdistance`.
    """
    X = _as_matrix(X)
    n = X.shape[0]
    fixed_ms = None if min_samples == "auto" else int(min_samples)
    info = {"selection": {}}
    sel = info["selection"]
    scan = None
    if eps == "auto":
        if scan_n is not None and n > int(scan_n):
            pick = np.sort(np.random.default_rng(seed).choice(n, size=int(scan_n), replace=False))
        else:
            pick = None
        Xs = X if pick is None else X[pick]
        grid = [fixed_ms] if fixed_ms is not None else min_samples_grid(scan_min_samples, len(Xs))
        scan, best_labels = dbscan_scan(Xs, grid, max_noise=max_noise, criterion=criterion)
        sel.update({"mode": "scan", "criterion": criterion, "max_noise": float(max_noise),
                    "max_largest_share": DOMINANT_SHARE, "scan_rows": len(Xs), "scan_sampled": pick is not None,
                    "scan_seed": seed if pick is not None else None, "min_samples_scanned": grid,
                    "quantiles_scanned": list(EPS_QUANTILES), "n_candidates": len(scan),
                    "n_admissible": int(scan["admissible"].sum()), "fallback": None})
        if best_labels is not None:
            best = scan[scan["chosen"]].iloc[0]
            ms, q = int(best["min_samples"]), float(best["quantile"])
            sel.update({"quantile": q, "score": float(best["score"]), "eps_on_scan_rows": float(best["eps"])})
            null = null_scan_score(Xs, grid, max_noise, criterion, seed)
            sel.update({"null_score": null, "beats_null": bool(not np.isfinite(null) or best["score"] > null)})
            log.info("DBSCAN scan: best %s %.4f; structureless Gaussian data of the same covariance: %.4f", criterion,
                     best["score"], null)
            if pick is None:
                labels, eps_value = best_labels, float(best["eps"])
                cd = core_distances(X, ms)
            else:
                cd = core_distances(X, ms)
                eps_value = float(np.quantile(cd, q))
                eps_value = eps_value if eps_value > 0 else float(best["eps"])
                labels = fit_dbscan(X, eps_value, ms)
            curve = (np.sort(cd), eps_value, ms, _core_label(ms))
            log.info("DBSCAN scan chose min_samples=%d, eps=%.6g (quantile %.2f, %s %.4f)", ms, eps_value, q,
                     criterion, best["score"])
        else:
            sel["fallback"] = (f"none of the {len(scan)} candidates has >= 2 clusters, <= {max_noise:.0%} noise and no "
                               f"cluster over {DOMINANT_SHARE:.0%}: eps at the k-distance knee instead")
            log.warning("DBSCAN scan: %s", sel["fallback"])
            eps = "knee"
    if eps == "knee":
        ms = min(fixed_ms if fixed_ms is not None else DBSCAN_MIN_SAMPLES, n - 1)
        kd = kdistance(X, ms)
        eps_value = choose_eps(kd)
        curve = (kd, eps_value, ms, f"distance to the {ms}-th nearest neighbour")
        sel.setdefault("mode", "knee")
        labels = fit_dbscan(X, eps_value, ms)
    elif eps != "auto":
        ms = fixed_ms if fixed_ms is not None else DBSCAN_MIN_SAMPLES
        eps_value = float(eps)
        cd = core_distances(X, min(ms, n))
        curve = (np.sort(cd), eps_value, ms, _core_label(min(ms, n)))
        sel["mode"] = "config"
        labels = fit_dbscan(X, eps_value, ms)
    info.update({"eps": float(eps_value), "min_samples": int(ms), "noise_fraction": float(np.mean(labels == NOISE))})
    if scan is None:  # one row: what the fixed parameters gave (silhouette on a sample of at most scan_n rows)
        row = dbscan_candidate(X, labels, max_noise, criterion, ms, float("nan"), eps_value, silhouette_sample=scan_n, seed=seed)
        scan = pd.DataFrame([{**row, "chosen": True}], columns=SCAN_COLUMNS)
    return labels, info, scan, curve


# --------------------------------------------------------------------------- sampling
def gmm_samples(gmm: GaussianMixture, n: int, seed: int) -> np.ndarray:
    """Draw *n* samples from a fitted GaussianMixture, reproducibly for *seed*.

    ``GaussianMixture.sample`` draws with the model's own ``random_state``; we
    sample from a shallow copy whose ``random_state`` is *seed*, so the caller's
    model is not modified and the same seed always gives the same samples.
    sklearn returns the samples grouped by component; they are shuffled (with
    the same seed) so that any prefix is an i.i.d. draw from the mixture.
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    model = copy.copy(gmm)
    model.random_state = seed
    samples, _ = model.sample(n)
    return samples[np.random.default_rng(seed).permutation(n)]


# --------------------------------------------------------------------------- plots
def plot_kmeans_scan(df: pd.DataFrame, path, chosen_k=None) -> None:
    """Two panels: inertia against k (elbow) and mean silhouette against k."""
    fig = _new_figure((10, 4))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(df["k"], df["inertia"], "o-")
    ax1.set(xlabel="k", ylabel="inertia (within-cluster SS)", title="k-means elbow")
    ax2.plot(df["k"], df["silhouette"], "o-", color="C1")
    ax2.set(xlabel="k", ylabel="mean silhouette", title="silhouette")
    for ax in (ax1, ax2):
        if chosen_k is not None:
            ax.axvline(chosen_k, color="grey", ls="--", label=f"chosen k={chosen_k}")
            ax.legend()
        ax.grid(alpha=0.3)
        _integer_xaxis(ax)
    save_figure(fig, path)


def plot_silhouette_diagram(X, labels, path, title: str = "", sample_size: int | None = None, seed: int = 0) -> None:
    """Classic silhouette diagram: per-cluster sorted silhouette bars and the mean.

    Noise points (label -1) are left out. With fewer than two clusters the
    silhouette is undefined and the figure says so. With *sample_size* below the
    number of rows, a seeded random sample of rows is drawn (O(sample²) instead of O(n²)).
    """
    X = _as_matrix(X)
    labels = _labels(labels, "labels")
    if sample_size is not None and sample_size < len(labels):
        pick = np.sort(np.random.default_rng(seed).choice(len(labels), size=int(sample_size), replace=False))
        X, labels = X[pick], labels[pick]
        title = f"{title} (sample of {sample_size})"
    keep = ~_noise_mask(labels)
    Xk = X if keep.all() else X[keep]
    lk = labels[keep]
    clusters = np.unique(lk)
    fig = _new_figure((7, 5))
    ax = fig.subplots()
    ax.set_title(title or "silhouette diagram")
    if len(clusters) < 2 or len(clusters) >= len(lk):
        ax.text(0.5, 0.5, f"silhouette undefined for {len(clusters)} cluster(s) on {len(lk)} points",
                ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        save_figure(fig, path)
        return
    s = silhouette_samples(Xk, lk)
    colors = plots.class_colors(len(clusters))
    gap = max(2, len(lk) // 100)
    y0 = gap
    for i, c in enumerate(clusters):
        vals = np.sort(s[lk == c])
        ax.fill_betweenx(np.arange(y0, y0 + len(vals)), 0, vals, color=colors[i], alpha=0.8, lw=0)
        ax.text(-0.02, y0 + len(vals) / 2, str(_py(c)), ha="right", va="center", fontsize=8)
        y0 += len(vals) + gap
    mean = float(s.mean())
    ax.axvline(mean, color="red", ls="--", label=f"mean {mean:.3f}")
    ax.set(xlabel="silhouette coefficient", ylabel="points, grouped by cluster",
           xlim=(min(-0.1, s.min() - 0.05), 1), ylim=(0, y0))
    ax.set_yticks([])
    ax.legend(loc="lower right")
    save_figure(fig, path)


def plot_gmm_scan(df: pd.DataFrame, path, chosen_k=None) -> None:
    """BIC and AIC against the number of components (lower is better)."""
    fig = _new_figure((6, 4))
    ax = fig.subplots()
    ax.plot(df["k"], df["bic"], "o-", label="BIC")
    ax.plot(df["k"], df["aic"], "s-", label="AIC")
    if "converged" in df and not df["converged"].astype(bool).all():
        bad = df[~df["converged"].astype(bool)]
        ax.plot(bad["k"], bad["bic"], "x", color="red", ms=10, label="not converged")
    if chosen_k is not None:
        ax.axvline(chosen_k, color="grey", ls="--", label=f"chosen k={chosen_k}")
    ax.set(xlabel="number of components k", ylabel="information criterion", title="Gaussian mixture model selection")
    _integer_xaxis(ax)
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)


def plot_kdistance(kdist, eps, min_samples, path, ylabel: str | None = None, title: str = "k-distance curve") -> None:
    """Sorted k-distance (or core-distance) curve with the chosen eps marked."""
    kdist = np.sort(np.asarray(kdist))
    fig = _new_figure((6, 4))
    ax = fig.subplots()
    ax.plot(np.arange(len(kdist)), kdist, lw=1.5)
    share = float(np.mean(kdist <= eps))
    ax.axhline(eps, color="red", ls="--", label=f"eps = {eps:.4g} ({share:.0%} of the points below)")
    ax.set(xlabel="points sorted by distance", ylabel=ylabel or f"distance to {min_samples}-th nearest neighbour",
           title=f"{title} (min_samples = {min_samples})")
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)


def plot_dbscan_scan(scan: pd.DataFrame, path, criterion: str = "silhouette_coverage", note: str = "") -> None:
    """The DBSCAN scan: score, clusters and noise share against the eps quantile, one line per min_samples.

    Admissible candidates are filled markers, the others crosses (their score is
    undefined); the chosen candidate is a star. A scan of one fixed candidate is
    drawn as a single point per panel.
    """
    fig = _new_figure((13, 4))
    axes = fig.subplots(1, 3)
    x_col = "quantile" if scan["quantile"].notna().any() else "eps"
    colors = plots.class_colors(scan["min_samples"].nunique())
    for i, (ms, g) in enumerate(scan.groupby("min_samples", sort=True)):
        c = colors[i]
        x = g[x_col].astype(float).to_numpy()
        ok = g["admissible"].astype(bool).to_numpy()
        for ax, col in zip(axes, ("score", "k", "noise_fraction")):
            y = g[col].astype(float).to_numpy()
            ax.plot(x, y, "-", color=c, alpha=0.5, lw=1)
            ax.plot(x[ok], y[ok], "o", color=c, ms=4, label=f"min_samples = {ms}" if col == "score" else None)
            ax.plot(x[~ok], y[~ok], "x", color=c, ms=4)
    chosen = scan[scan["chosen"].astype(bool)]
    for ax, col in zip(axes, ("score", "k", "noise_fraction")):
        if not chosen.empty:
            ax.plot(chosen[x_col].astype(float), chosen[col].astype(float), "*", color="black", ms=14, zorder=5,
                    label="chosen" if col == "score" else None)
        ax.set_xlabel("eps: quantile of the core distances" if x_col == "quantile" else "eps")
        ax.grid(alpha=0.3)
    axes[0].set(ylabel=criterion.replace("_", " "), title="score (admissible candidates)")
    if not np.isfinite(scan["score"].astype(float)).any():
        axes[0].text(0.5, 0.5, "no admissible candidate", ha="center", va="center", transform=axes[0].transAxes)
    axes[1].set(ylabel="clusters (noise excluded)", title="number of clusters")
    axes[1].yaxis.get_major_locator().set_params(integer=True)
    axes[2].set(ylabel="noise share", title="noise", ylim=(-0.02, 1.02))
    axes[0].legend(fontsize=8)
    if note:
        fig.suptitle(note, fontsize=9)
    save_figure(fig, path)


def _leaf_members(Z: np.ndarray, node: int, n: int) -> list[int]:
    """Original observation indices under tree node *node* (iterative)."""
    stack, out = [node], []
    while stack:
        i = stack.pop()
        if i < n:
            out.append(i)
        else:
            row = Z[i - n]
            stack.extend((int(row[0]), int(row[1])))
    return out


def plot_dendrogram(linkage_matrix, labels, path, truncate_p: int = 30) -> None:
    """Dendrogram of a SciPy linkage matrix, leaves annotated with their classes.

    With more than *truncate_p* observations the tree is cut to its last
    *truncate_p* merges (``truncate_mode="lastp"``). Each leaf is labelled
    ``majority-class count/size`` and coloured by its majority class; *labels*
    may be None (leaves then show their size only).
    """
    Z = np.asarray(linkage_matrix, dtype=np.float64)
    n = Z.shape[0] + 1
    labels = None if labels is None else _labels(labels, "labels")
    if labels is not None and len(labels) != n:
        raise ValueError(f"linkage matrix is for {n} points but {len(labels)} labels were given")
    classes = [] if labels is None else np.unique(labels).tolist()
    colors = dict(zip(classes, plots.class_colors(len(classes))))
    truncate = n > truncate_p
    kw = {"truncate_mode": "lastp", "p": truncate_p} if truncate else {}
    leaves = hierarchy.dendrogram(Z, no_plot=True, **kw)["leaves"]

    text, leaf_color = {}, {}
    for leaf in leaves:
        members = _leaf_members(Z, leaf, n)
        if labels is None:
            text[leaf] = f"({len(members)})"
            continue
        vals, counts = np.unique(labels[members], return_counts=True)
        top = vals[int(np.argmax(counts))]
        leaf_color[leaf] = colors[_py(top)]
        text[leaf] = str(_py(top)) if len(members) == 1 else f"{_py(top)} {counts.max()}/{len(members)}"

    fig = _new_figure((8, max(4, 0.28 * len(leaves) + 1)))
    ax = fig.subplots()
    hierarchy.dendrogram(Z, ax=ax, orientation="left", leaf_label_func=lambda i: text[i],
                         color_threshold=0, above_threshold_color="0.3", **kw)
    if leaf_color:
        # Tick labels run bottom-to-top in the order of the leaves.
        for tick, leaf in zip(ax.get_yticklabels(), leaves):
            tick.set_color(leaf_color[leaf])
    ax.set_xlabel("merge distance")
    ax.set_title(f"dendrogram ({n} points" + (f", last {truncate_p} merges)" if truncate else ")"))
    ax.tick_params(axis="y", labelsize=8)
    save_figure(fig, path)


def plot_cluster_sizes(y_pred, labels, path) -> None:
    """Stacked bars: for each cluster (noise last), the count of each true class."""
    y_pred = _labels(y_pred, "y_pred")
    labels = _labels(labels, "labels")
    noise = _noise_mask(y_pred)
    names = np.where(noise, "noise", y_pred.astype(str)).astype(object)
    ct = pd.crosstab(pd.Series(names, name="cluster"), pd.Series(labels, name="class"))
    order = sorted((c for c in ct.index if c != "noise"), key=lambda c: (len(c), c))  # "2" before "10"
    order += ["noise"] if "noise" in ct.index else []
    ct = ct.loc[order]
    colors = plots.class_colors(ct.shape[1])
    fig = _new_figure((max(6, 0.4 * len(ct) + 2), 4.5))
    ax = fig.subplots()
    bottom = np.zeros(len(ct))
    x = np.arange(len(ct))
    for j, cls in enumerate(ct.columns):
        vals = ct[cls].to_numpy()
        ax.bar(x, vals, bottom=bottom, color=colors[j], label=str(cls), width=0.8)
        bottom += vals
    ax.set_xticks(x, [str(c) for c in ct.index], rotation=90 if len(ct) > 20 else 0)
    ax.set(xlabel="cluster", ylabel="images", title="cluster composition by class")
    ax.legend(title="class", bbox_to_anchor=(1.01, 1), loc="upper left", fontsize=8, ncols=1 + ct.shape[1] // 20)
    save_figure(fig, path)


# --------------------------------------------------------------------------- what each clustering rule does
def load_rows(features_path, manifest: pd.DataFrame, split: str):
    """(X, rows of the manifest) for the clustered split, in the feature set's row order."""
    fs = load_features(features_path)
    m = manifest.set_index("id").loc[fs.ids]
    keep = own_images(m)  # augmented copies (balance) are training material, not part of the collection
    keep &= True if split == "all" else (m["split"] == split).to_numpy()
    if keep.sum() < 3:
        raise ValueError(f"clustering.split {split!r} selects {int(keep.sum())} rows of {features_path}")
    return fs.X[keep].astype(np.float64), m[keep].reset_index()


def resolve_k(spec, rows: pd.DataFrame, scan: pd.DataFrame | None = None) -> int:
    """Final k: an integer, 'n_classes', or a criterion of the scan ('silhouette', 'bic', 'aic')."""
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        return int(spec)
    if spec == "n_classes":
        return int(rows["label"].nunique())
    if scan is None:
        raise ValueError(f"k: {spec!r} needs a scan")
    return select_k(scan, spec)


def k_range(opts: dict, n: int) -> list[int]:
    return list(range(int(opts["k_min"]), min(int(opts["k_max"]), n - 1) + 1))


# the gallery shows at most this many clusters (the largest) and says how many it leaves out
GALLERY_CLUSTERS = 30


def gallery(labels_pred, rows: pd.DataFrame, images, path, per_cluster: int = 8, seed: int = 0):
    """Example images per cluster: one row per cluster, titled with its size and majority class. Above
    GALLERY_CLUSTERS clusters the largest are shown and the title says so. Returns the figure."""
    rng = np.random.default_rng(seed)
    ids = sorted(set(labels_pred.tolist()), key=lambda v: (v == -1, v))
    shown = ids
    if len(ids) > GALLERY_CLUSTERS:
        sizes = {c: int((labels_pred == c).sum()) for c in ids}
        keep = set(sorted((c for c in ids if c != -1), key=lambda c: -sizes[c])[:GALLERY_CLUSTERS])
        shown = [c for c in ids if c in keep]
    out = []
    for c in shown:
        members = np.flatnonzero(labels_pred == c)
        pick = np.sort(rng.choice(members, size=min(per_cluster, len(members)), replace=False))
        top = rows["label"].iloc[members].value_counts()
        name = "noise" if c == -1 else f"cluster {c}"
        out.append((f"{name}\nn={len(members)}, {top.index[0]} {top.iloc[0] / len(members):.0%}",
                    [images[i] for i in rows["index"].to_numpy()[pick]]))
    note = (f"showing the {len(shown)} largest of {len(ids)} clusters ({len(ids) - len(shown)} not shown)"
            if len(shown) < len(ids) else "")
    return plots.image_rows(out, path, suptitle=note)


# a medoid is the member with the least summed distance to the others; above this many members, to a seeded
# sample of this many of them (the medoid itself is still chosen among all members)
MEDOID_SAMPLE = 1000


def medoid_rows(X, labels_pred, seed: int = 0) -> dict:
    """{cluster: row of its medoid}: the member with the least summed Euclidean distance to the cluster's members
    (to a seeded sample of MEDOID_SAMPLE of them in larger clusters). Noise (-1) has no medoid."""
    from sklearn.metrics import pairwise_distances

    X = _as_matrix(X)
    rng = np.random.default_rng(seed)
    out = {}
    for c in sorted(set(labels_pred.tolist()) - {NOISE}):
        members = np.flatnonzero(labels_pred == c)
        ref = members if len(members) <= MEDOID_SAMPLE else np.sort(rng.choice(members, MEDOID_SAMPLE, replace=False))
        total = np.zeros(len(members))
        for a in range(0, len(members), 2048):
            total[a:a + 2048] = pairwise_distances(X[members[a:a + 2048]], X[ref]).sum(axis=1)
        out[int(c)] = int(members[int(np.argmin(total))])
    return out


def plot_medoids(labels_pred, X, rows: pd.DataFrame, images, path, seed: int = 0, ncols: int = 8) -> dict:
    """The representative (medoid) image of every cluster, titled with the cluster's size and label mix
    (the three largest shares). Returns {cluster: {"id", "n", "labels": {label: share}}}."""
    from matplotlib.figure import Figure

    from imagespace.plots import _display
    from imagespace.util import save_figure

    med = medoid_rows(X, labels_pred, seed)
    clusters = sorted(med, key=lambda c: -int((labels_pred == c).sum()))[:GALLERY_CLUSTERS]
    info = {}
    n = max(1, len(clusters))
    cols = min(ncols, n)
    nrows = -(-n // cols)
    fig = Figure(figsize=(2.0 * cols, 2.5 * nrows + 0.5))
    axes = np.atleast_1d(fig.subplots(nrows, cols, squeeze=False)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, c in zip(axes, clusters):
        members = np.flatnonzero(labels_pred == c)
        mix = rows["label"].iloc[members].value_counts(normalize=True)
        info[c] = {"id": str(rows["id"].iloc[med[c]]), "n": int(len(members)),
                   "labels": {str(k): round(float(v), 4) for k, v in mix.items()}}
        img, cmap = _display(np.asarray(images[rows["index"].to_numpy()[med[c]]]))
        ax.imshow(img, cmap=cmap)
        ax.set_title(f"cluster {c} (n={len(members)})\n" + "\n".join(f"{k} {v:.0%}" for k, v in mix.iloc[:3].items()),
                     fontsize=7)
    left = len(med) - len(clusters)
    fig.suptitle("medoid of each cluster (the member nearest all others) and its label mix"
                 + (f"; the {len(clusters)} largest of {len(med)} clusters" if left else ""), fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
    return info


def plot_silhouette_grid(X, ks, seed: int, path, n_init=10, sample_size: int | None = None, models=None) -> dict:
    """Silhouette diagrams of K-Means for every k in *ks*, side by side (each with its mean as a dashed line):
    how well each k's clusters hold together. Returns {k: mean silhouette}. *models* ({k: fitted KMeans},
    e.g. from :func:`kmeans_scan_models` with the same seed and n_init) are used instead of refitting."""
    from matplotlib.figure import Figure
    from sklearn.metrics import silhouette_samples

    from imagespace.util import save_figure

    X = _as_matrix(X)
    rows = np.arange(len(X))
    if sample_size is not None and len(X) > sample_size:
        rows = np.sort(np.random.default_rng(seed).choice(len(X), sample_size, replace=False))
    ks = [k for k in ks if 2 <= k < len(rows)]
    cols = min(len(ks), 4) or 1
    nrows = max(1, -(-len(ks) // cols))
    fig = Figure(figsize=(4.2 * cols, 3.6 * nrows))
    axes = np.atleast_1d(fig.subplots(nrows, cols, squeeze=False)).ravel()
    means = {}
    for ax, k in zip(axes, ks):
        pred = ((models or {}).get(k) or fit_kmeans(X, k, seed, n_init=n_init)).labels_[rows]
        if len(set(pred.tolist())) < 2:  # identical points: K-Means found one cluster, the silhouette is undefined
            means[k] = None
            ax.text(0.5, 0.5, f"k={k}: one distinct cluster\n(silhouette undefined)", ha="center", va="center")
            ax.axis("off")
            continue
        coef = silhouette_samples(X[rows], pred)
        means[k] = float(coef.mean())
        pad, pos, ticks = max(1, len(rows) // 30), 0, []
        colours = plots.class_colors(k)  # as plot_silhouette_diagram colours its clusters
        for c in range(k):
            v = np.sort(coef[pred == c])
            ax.fill_betweenx(np.arange(pos, pos + len(v)), 0, v, facecolor=colours[c], edgecolor=colours[c], alpha=0.7)
            ticks.append(pos + len(v) / 2)
            pos += len(v) + pad
        ax.axvline(means[k], color="red", linestyle="--")
        ax.set_yticks(ticks, [str(c) for c in range(k)])
        ax.set_xlim(-0.2, 1)
        ax.set_title(f"k={k}: mean silhouette {means[k]:.3f}", fontsize=9)
        ax.set_xlabel("silhouette coefficient", fontsize=8)
    for ax in axes[len(ks):]:
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, path)
    return means


def finish(method: str, labels_pred, rows: pd.DataFrame, out, extra: dict, images, X=None, seed: int = 0) -> dict:
    """Write assignments, scores, the cluster-size chart, the gallery and the medoids; return the result dict.

    *out* holds the paths ``assignments``, ``result``, ``sizes``, ``gallery`` and ``medoids`` (the medoids need the
    clustered features *X*).
    """
    labels_pred = np.asarray(labels_pred)
    assign = rows[["id", "split", "label", "subtype"]].copy()
    assign["cluster"] = labels_pred
    write_table(out.assignments, assign)
    scores = score_clustering(labels_pred, rows["label"].to_numpy(), rows["subtype"].to_numpy())
    result = {"method": method, "n": int(len(rows)), **extra, **scores}
    plot_cluster_sizes(labels_pred, rows["label"].to_numpy(), out.sizes)
    gallery(labels_pred, rows, images, out.gallery)
    if X is not None and getattr(out, "medoids", None):
        result["medoids"] = plot_medoids(labels_pred, X, rows, images, out.medoids, seed=seed or 0)
    write_json(out.result, result)
    log.info("%s: k=%s accuracy %.4f (majority %.4f) ARI %.3f NMI %.3f", method, scores["k"], scores["accuracy"],
             scores["majority_accuracy"], scores["ari"], scores["nmi"])
    return result


def nearest_rows(X, points) -> np.ndarray:
    """Index of the row of *X* nearest to each point (Euclidean): the real image shown for a sample."""
    return NearestNeighbors(n_neighbors=1).fit(X).kneighbors(points, return_distance=False)[:, 0]


# --------------------------------------------------------------------------- the method table
@dataclass(frozen=True)
class Method:
    """One clustering method: what it reads and draws, and how it runs.

    Adding a method: its ``run`` function and a ``Method`` entry in :data:`METHODS`
    here, its parameter block (with defaults) and enum entries in the config schema,
    and a test. The rule ``cluster_<name>`` is made from this entry
    (workflow/rules/cluster.smk); its figures are ``<figure>.png`` next to the
    assignments, with the caption ``workflow/report/cluster_<figure>.rst`` where
    one exists.

    ``run(X, rows, opts, ctx)`` returns (labels, extra result fields); *X* is
    already scaled as ``clustering.scale`` says (:func:`scale_features`); *ctx* has
    ``out`` (the rule's outputs: one path per figure, ``table`` for a scan table),
    ``seed``, ``large_n``, ``images``, ``pca_model`` (or None), ``scaling``
    (the info of :func:`scale_features`, to map points back to feature units) and
    ``threads`` (the job's cores).
    """

    name: str
    title: str
    run: Callable
    figures: tuple[str, ...] = ()
    table: bool = False  # writes its scan (over k; over eps and min_samples) as scan.tsv
    settings: tuple[str, ...] = ()  # shared clustering keys it reads besides its own block and split: seed, large_n
    decode_pca: bool = False  # reads the PCA model when it clusters the pca feature set
    threads: str = "config"  # "config" (the config's threads) or "one"
    memory_factor: int = 4  # memory estimate: this many times the feature file
    runtime: int = 30  # minutes


@dataclass
class Context:
    out: object
    seed: int | None = None
    large_n: int | None = None
    images: object = None
    pca_model: str | None = None
    scaling: dict | None = None
    threads: int = 1


def _run_kmeans(X, rows, o, ctx):
    # silhouettes are O(n^2): above clustering.large_n they are computed on a seeded sample of that size
    sample = ctx.large_n if ctx.large_n is not None and len(X) > ctx.large_n else None
    # the scan's own models for the chosen k and the silhouette grid's k = 2..5: the fits a refit would give
    ks = k_range(o, len(X))
    scan, models = kmeans_scan_models(X, ks, ctx.seed, n_init=o["n_init"], silhouette_sample_size=sample, keep=ks)
    write_table(ctx.out.table, scan)
    k = resolve_k(o["k"], rows, scan)
    plot_kmeans_scan(scan, ctx.out.scan, chosen_k=k)
    model = models.get(k) or fit_kmeans(X, k, ctx.seed, n_init=o["n_init"])
    plot_silhouette_diagram(X, model.labels_, ctx.out.silhouette, title=f"K-Means, k={k}", sample_size=sample, seed=ctx.seed)
    grid = plot_silhouette_grid(X, range(2, 6), ctx.seed, ctx.out.silhouettes, n_init=o["n_init"], sample_size=sample,
                                models=models)
    strategy = ({"name": "exact", "n_points": len(X)} if sample is None
                else {"name": "sampled silhouettes", "n_points": len(X), "silhouette_sample": sample})
    return model.labels_, {"params": dict(o), "seed": ctx.seed, "inertia": float(model.inertia_), "strategy": strategy,
                           "silhouettes_k2_5": grid}


def _run_gmm(X, rows, o, ctx):
    from imagespace import pca

    fit_kw = dict(covariance_type=o["covariance_type"], n_init=o["n_init"], reg_covar=o["reg_covar"], max_iter=o["max_iter"])
    # a k fixed in advance (an integer, n_classes) is kept from the scan: the same fit as a refit
    known = None if o["k"] in SELECT_CRITERIA else resolve_k(o["k"], rows)
    scan, models = gmm_scan_models(X, k_range(o, len(X)), ctx.seed, **fit_kw, n_jobs=ctx.threads,
                                   keep=() if known is None else (known,))
    write_table(ctx.out.table, scan)
    k = resolve_k(o["k"], rows, scan)
    plot_gmm_scan(scan, ctx.out.scan, chosen_k=k)
    gmm = models[k] if k in models else fit_gmm(X, k, ctx.seed, **fit_kw)
    pred = gmm.predict(X)
    samples = gmm_samples(gmm, int(o["n_samples"]), ctx.seed)
    if ctx.pca_model:
        # samples live in (scaled) PCA-score space: map them back to scores, then to pixels through the PCA
        res, shape = pca.load_model(ctx.pca_model)
        scores = unscale_features(samples, ctx.scaling or {"name": "none"})
        shown = pca.to_pixels(res, pca.reconstruct(res, scores)).reshape((len(samples),) + shape)
        how = "decoded through the PCA"
    else:
        # no inverse map: show the real image nearest to each sample
        shown = ctx.images[rows["index"].to_numpy()[nearest_rows(X, samples)]]
        how = "nearest real image to each sample"
    plots.image_grid(np.asarray(shown), ctx.out.samples, titles=[f"sample {i + 1}" for i in range(len(samples))])
    log.info("GMM: %d samples drawn (%s)", len(samples), how)
    return pred, {"params": dict(o), "seed": ctx.seed, "converged": bool(gmm.converged_), "samples": how,
                  "bic": float(gmm.bic(X)), "aic": float(gmm.aic(X))}


def _run_dbscan(X, rows, o, ctx):
    seed = 0 if ctx.seed is None else ctx.seed
    pred, info, scan, (curve, eps, ms, what) = fit_dbscan_auto(
        X, o["eps"], o["min_samples"], scan_min_samples=o["scan_min_samples"], max_noise=o["max_noise"],
        criterion=o["criterion"], scan_n=o["scan_n"], seed=seed)
    write_table(ctx.out.table, scan)
    sel = info["selection"]
    if sel["mode"] == "scan":
        note = (f"{sel['n_candidates']} candidates on {sel['scan_rows']} "
                f"{'sampled ' if sel['scan_sampled'] else ''}rows, {sel['n_admissible']} admissible; "
                + (sel["fallback"] or f"chosen: min_samples {ms}, eps at quantile {sel['quantile']:.2f}"))
    else:
        note = f"no scan (eps {'from the k-distance knee' if sel['mode'] == 'knee' else 'fixed in the config'})"
    plot_dbscan_scan(scan, ctx.out.eps_scan, o["criterion"], note)
    plot_kdistance(curve, eps, ms, ctx.out.kdistance, ylabel=what,
                   title="k-distance curve" if what.startswith("distance") else "core distances")
    return pred, {"params": dict(o), **info}


def _run_hdbscan(X, rows, o, ctx):
    kw = dict(min_cluster_size=o["min_cluster_size"], min_samples=o["min_samples"],
              cluster_selection_method=o["cluster_selection_method"])
    if ctx.large_n is not None and len(X) > ctx.large_n:  # Prim's tree is O(n^2): fitted on large_n stratified rows
        pred, _, strategy = fit_hdbscan_large(X, ctx.large_n, ctx.seed, strata=rows["label"].to_numpy(), **kw)
    else:
        pred, strategy = fit_hdbscan(X, **kw), {"name": "exact", "n_points": len(X)}
    return pred, {"params": dict(o), "noise_fraction": float(np.mean(pred == NOISE)), "strategy": strategy}


def _run_agglomerative(X, rows, o, ctx):
    labels = rows["label"].to_numpy()
    large = ctx.large_n is not None and len(X) > ctx.large_n
    # one tree (on large_n stratified rows above large_n), cut at every k of the scan: the silhouette of each cut
    from imagespace.util import stratified_sample

    idx = stratified_sample(len(X), int(ctx.large_n), ctx.seed, labels) if large else np.arange(len(X))
    Z = build_tree(X[idx], o["linkage"])
    scan = agglomerative_scan(X[idx], Z, k_range(o, len(idx)), ctx.seed)
    write_table(ctx.out.table, scan)
    k = resolve_k(o["k"], rows, scan)
    plot_silhouette_scan(scan, ctx.out.scan, chosen_k=k)
    if large:  # the tree is O(n^2) in memory: built on a stratified subsample, the rest to the nearest centroid
        pred, Z, idx, strategy = fit_agglomerative_large(X, k, o["linkage"], ctx.large_n, ctx.seed, strata=labels,
                                                         tree=(idx, Z))
        plot_dendrogram(Z, labels[idx], ctx.out.dendrogram)
    else:  # the cut fit_agglomerative makes, of the same tree
        pred = cut_tree(Z, k)
        strategy = {"name": "exact", "n_points": len(X)}
        plot_dendrogram(Z, labels, ctx.out.dendrogram)
    return pred, {"params": dict(o), "strategy": strategy}


WORKING_MEMORY_MB = 128  # K-Means on 8,000 Fashion-MNIST PCA rows: 12.3 s and 419 MB at 1024, 10.3 s and 354 MB at 128

METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("kmeans", "K-Means", _run_kmeans, figures=("scan", "silhouette", "silhouettes"), table=True,
               settings=("seed", "large_n")),
        Method("gmm", "Gaussian mixture (EM)", _run_gmm, figures=("scan", "samples"), table=True, settings=("seed",),
               decode_pca=True, runtime=60),
        Method("dbscan", "DBSCAN", _run_dbscan, figures=("eps_scan", "kdistance"), table=True, settings=("seed",),
               threads="one"),
        Method("agglomerative", "agglomerative", _run_agglomerative, figures=("dendrogram", "scan"), table=True,
               settings=("seed", "large_n"), threads="one", memory_factor=8),
        Method("hdbscan", "HDBSCAN", _run_hdbscan, settings=("seed", "large_n"), threads="one"),
    )
}


def run(name: str, features_path, manifest, opts: dict, split: str, out, images, seed=None, large_n=None, pca_model=None,
        scale: str = "none", threads: int = 1) -> dict:
    """One clustering job: rows of *split*, scaled as *scale* says (:func:`scale_features`), the method, its figures,
    then assignments, scores, sizes and gallery. The result records the scaling."""
    import sklearn

    m = METHODS[name]
    X, rows = load_rows(features_path, manifest, split)
    X, scaling = scale_features(X, scale)
    ctx = Context(out=out, seed=seed, large_n=large_n, images=images, pca_model=pca_model, scaling=scaling, threads=threads)
    # silhouettes and neighbour searches compute distances in blocks of WORKING_MEMORY_MB (scikit-learn's default 1 GB)
    with sklearn.config_context(working_memory=WORKING_MEMORY_MB):
        labels, extra = m.run(X, rows, opts, ctx)
        return finish(name, labels, rows, out, {"scale": scaling_record(scaling, X.shape[1]), **extra}, images, X=X, seed=seed)
