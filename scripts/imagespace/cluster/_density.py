"""Density-based clustering: DBSCAN (with its eps chosen by a label-free scan) and HDBSCAN.

DBSCAN's eps: the knee of the k-distance curve (:func:`choose_eps`) often merges everything into one
cluster, so by default eps and min_samples are scanned (:func:`dbscan_scan`) and scored by silhouettes
of the clustered points, never by class labels (:func:`fit_dbscan_auto`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.cluster import DBSCAN, HDBSCAN
from sklearn.metrics import pairwise_distances, silhouette_score
from sklearn.neighbors import NearestNeighbors

from imagespace.constants import DOMINANT_SHARE
from imagespace.util import stratified_sample

from ._base import NOISE_LABEL, ClusterResult, _as_matrix, _silhouette, log


def fit_dbscan(X, eps: float, min_samples: int) -> ClusterResult:
    """DBSCAN with these parameters. Deterministic; no seed needed.

    Parameters
    ----------
    X : array-like, shape (n, d)
        The rows to cluster.
    eps : float
        Neighbourhood radius.
    min_samples : int
        Points within *eps* (the point itself counted) that make a core point.

    Returns
    -------
    ClusterResult
        ``labels`` (noise is :data:`NOISE_LABEL`) and ``model`` (the fitted ``DBSCAN``).
    """
    X = _as_matrix(X)
    model = DBSCAN(eps=float(eps), min_samples=int(min_samples))
    labels = model.fit_predict(X)
    k = len(set(labels.tolist()) - {NOISE_LABEL})
    n_noise = int((labels == NOISE_LABEL).sum())
    log.info("DBSCAN eps=%.6g min_samples=%d: %d clusters, %d noise points", eps, min_samples, k, n_noise)
    return ClusterResult(labels, model)


def fit_hdbscan(X, *, min_cluster_size: int = 5, min_samples: int | None = None,
                cluster_selection_method: str = "eom") -> ClusterResult:
    """:class:`sklearn.cluster.HDBSCAN`; every noise point is labelled :data:`NOISE_LABEL`.

    Deterministic (no seed). ``min_cluster_size`` is capped at the number of
    rows and ``min_samples`` (None = ``min_cluster_size``) below it. scikit-learn's
    special labels for infinite (-2) and missing (-3) values, impossible for
    finite features, would also become ``-1``.

    Parameters
    ----------
    X : array-like, shape (n, d)
        The rows to cluster (at least 2).
    min_cluster_size, min_samples, cluster_selection_method
        As :class:`sklearn.cluster.HDBSCAN`.

    Returns
    -------
    ClusterResult
        ``labels`` and ``model`` (the fitted ``HDBSCAN``).
    """
    X = _as_matrix(X)
    n = X.shape[0]
    if n < 2:
        raise ValueError("HDBSCAN needs at least 2 points")
    mcs = max(2, min(int(min_cluster_size), n))
    ms = None if min_samples is None else max(1, min(int(min_samples), n - 1))
    model = HDBSCAN(min_cluster_size=mcs, min_samples=ms, cluster_selection_method=cluster_selection_method, copy=True)
    labels = model.fit_predict(X)
    labels = np.where(labels < 0, NOISE_LABEL, labels).astype(np.int64)
    k = len(set(labels.tolist()) - {NOISE_LABEL})
    log.info("HDBSCAN min_cluster_size=%d min_samples=%s (%s): %d clusters, %d noise points", mcs, ms,
             cluster_selection_method, k, int((labels == NOISE_LABEL).sum()))
    return ClusterResult(labels, model)


def fit_hdbscan_large(X, n_sub: int, seed: int, *, strata=None, min_cluster_size: int = 5,
                      min_samples: int | None = None, cluster_selection_method: str = "eom") -> ClusterResult:
    """HDBSCAN for many rows: fitted on *n_sub* (label-stratified) rows, every other row labelled as its nearest
    fitted row in mutual-reachability distance, the distance HDBSCAN's tree is built on (noise stays noise).

    scikit-learn's HDBSCAN builds its minimum spanning tree with Prim's algorithm on the data matrix, O(n^2)
    distances. The assignment is the rule of the hdbscan package's ``approximate_predict``: a new point's core
    distance is its distance to its min_samples-th nearest fitted row (itself counted first, as scikit-learn
    counts a fitted point), and it joins the fitted row that minimises max(distance, both core distances) among
    its 2 x min_samples nearest. The settings apply to the fitted rows as given (a cluster needs
    min_cluster_size of them).

    Parameters
    ----------
    X : array-like, shape (n, d)
        The rows to cluster.
    n_sub : int
        Rows HDBSCAN is fitted on.
    seed : int
        Seed of the subsample.
    strata : array-like or None
        One label per row: the subsample keeps their shares.
    min_cluster_size, min_samples, cluster_selection_method
        As :func:`fit_hdbscan`.

    Returns
    -------
    ClusterResult
        ``labels`` of all rows, ``model`` (the subsample's ``HDBSCAN``) and ``extra`` with ``rows`` (the
        subsample's indices) and ``strategy``.
    """
    X = _as_matrix(X)
    idx = stratified_sample(len(X), int(n_sub), seed, strata)
    fit = fit_hdbscan(X[idx], min_cluster_size=min_cluster_size, min_samples=min_samples,
                      cluster_selection_method=cluster_selection_method)
    sub = fit.labels
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
    log.info("HDBSCAN on %d rows: fitted on %d stratified rows, %d assigned by mutual reachability (%d to noise)",
             len(X), len(idx), len(rest), int((labels[rest] == NOISE_LABEL).sum()))
    return ClusterResult(labels, fit.model, extra={"rows": idx, "strategy": strategy})


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


# eps candidates of the scan: these quantiles of the core distances, i.e. the share of core points
EPS_QUANTILES = tuple(round(q, 2) for q in np.arange(0.10, 0.951, 0.05))


# min_samples when it is auto but not scanned (a fixed eps, or eps: knee): the earlier default
DBSCAN_MIN_SAMPLES = 5


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


def dbscan_candidate(X, labels, *, max_noise: float, criterion: str, min_samples=None, quantile=None, eps=None,
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
    keep = labels != NOISE_LABEL
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


def dbscan_scan(X, min_samples_values, *, max_noise: float = 0.5, criterion: str = "silhouette_coverage",
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
            row = dbscan_candidate(X, labels, max_noise=max_noise, criterion=criterion, min_samples=ms,
                                   quantile=float(q), eps=eps, D=D)
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


def null_scan_score(X, min_samples_values, *, max_noise: float, criterion: str, seed: int) -> float:
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




def _kdistance_curve(distances, eps: float, min_samples: int, what: str) -> dict:
    """What :func:`~imagespace.cluster.plot_kdistance` draws: sorted distances and the chosen eps."""
    return {"distances": np.sort(distances), "eps": eps, "min_samples": min_samples, "what": what}


def _fit_scanned(X, fixed_ms, sel: dict, *, scan_min_samples, max_noise, criterion, scan_n, seed):
    """eps (and min_samples) by :func:`dbscan_scan`: ``(scan, fit or None, curve or None)``; None where no
    candidate is admissible (*sel* then records the fallback to the knee)."""
    n = X.shape[0]
    pick = np.sort(np.random.default_rng(seed).choice(n, size=int(scan_n), replace=False)) \
        if scan_n is not None and n > int(scan_n) else None
    Xs = X if pick is None else X[pick]
    grid = [fixed_ms] if fixed_ms is not None else min_samples_grid(scan_min_samples, len(Xs))
    scan, best_labels = dbscan_scan(Xs, grid, max_noise=max_noise, criterion=criterion)
    sel.update({"mode": "scan", "criterion": criterion, "max_noise": float(max_noise),
                "max_largest_share": DOMINANT_SHARE, "scan_rows": len(Xs), "scan_sampled": pick is not None,
                "scan_seed": seed if pick is not None else None, "min_samples_scanned": grid,
                "quantiles_scanned": list(EPS_QUANTILES), "n_candidates": len(scan),
                "n_admissible": int(scan["admissible"].sum()), "fallback": None})
    if best_labels is None:
        sel["fallback"] = (f"none of the {len(scan)} candidates has >= 2 clusters, <= {max_noise:.0%} noise and no "
                           f"cluster over {DOMINANT_SHARE:.0%}: eps at the k-distance knee instead")
        log.warning("DBSCAN scan: %s", sel["fallback"])
        return scan, None, None
    best = scan[scan["chosen"]].iloc[0]
    ms, q = int(best["min_samples"]), float(best["quantile"])
    sel.update({"quantile": q, "score": float(best["score"]), "eps_on_scan_rows": float(best["eps"])})
    null = null_scan_score(Xs, grid, max_noise=max_noise, criterion=criterion, seed=seed)
    sel.update({"null_score": null, "beats_null": bool(not np.isfinite(null) or best["score"] > null)})
    log.info("DBSCAN scan: best %s %.4f; structureless Gaussian data of the same covariance: %.4f", criterion,
             best["score"], null)
    cd = core_distances(X, ms)
    if pick is None:  # the scan ran on all rows: its labels are the fit's
        fit, eps_value = ClusterResult(best_labels), float(best["eps"])
    else:  # the same share of core points on all rows
        eps_value = float(np.quantile(cd, q))
        eps_value = eps_value if eps_value > 0 else float(best["eps"])
        fit = fit_dbscan(X, eps_value, ms)
    log.info("DBSCAN scan chose min_samples=%d, eps=%.6g (quantile %.2f, %s %.4f)", ms, eps_value, q,
             criterion, best["score"])
    return scan, fit, _kdistance_curve(cd, eps_value, ms, _core_label(ms))


def fit_dbscan_auto(X, eps="auto", min_samples="auto", *, scan_min_samples=(5, 10, 20, 40), max_noise: float = 0.5,
                    criterion: str = "silhouette_coverage", scan_n: int | None = 2000, seed: int = 0) -> ClusterResult:
    """DBSCAN with eps and min_samples given or chosen.

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
    The scan never sees class labels.

    Parameters
    ----------
    X : array-like, shape (n, d)
        The rows to cluster.
    eps : "auto", "knee" or float
        How eps is chosen, or its value.
    min_samples : "auto" or int
        Scanned (with eps auto), :data:`DBSCAN_MIN_SAMPLES` (otherwise), or this value.
    scan_min_samples : sequence of int
        The min_samples the scan may try.
    max_noise : float
        Largest noise share of an admissible candidate.
    criterion : str
        The score of the scan, one of :data:`DBSCAN_CRITERIA`.
    scan_n : int or None
        Rows the scan runs on (a seeded sample; None: all rows).
    seed : int
        Seed of the sample and of the structureless comparison.

    Returns
    -------
    ClusterResult
        ``labels``, ``model`` (the final ``DBSCAN``; None where the scan on all rows gave the labels),
        ``scan`` (the candidates; one row for fixed parameters) and ``extra`` with ``info`` (eps, min_samples,
        noise_fraction and the selection, for result.json) and ``curve`` (for :func:`plot_kdistance`:
        ``distances``, ``eps``, ``min_samples`` and ``what`` the distances are).
    """
    X = _as_matrix(X)
    n = X.shape[0]
    fixed_ms = None if min_samples == "auto" else int(min_samples)
    sel, scan, fit = {}, None, None
    if eps == "auto":
        scan, fit, curve = _fit_scanned(X, fixed_ms, sel, scan_min_samples=scan_min_samples, max_noise=max_noise,
                                        criterion=criterion, scan_n=scan_n, seed=seed)
        if fit is None:
            eps = "knee"
        else:
            eps_value, ms = curve["eps"], curve["min_samples"]
    if eps == "knee":
        ms = min(fixed_ms if fixed_ms is not None else DBSCAN_MIN_SAMPLES, n - 1)
        kd = kdistance(X, ms)
        eps_value = choose_eps(kd)
        curve = _kdistance_curve(kd, eps_value, ms, f"distance to the {ms}-th nearest neighbour")
        sel.setdefault("mode", "knee")
        fit = fit_dbscan(X, eps_value, ms)
    elif eps != "auto":
        ms = fixed_ms if fixed_ms is not None else DBSCAN_MIN_SAMPLES
        eps_value = float(eps)
        curve = _kdistance_curve(core_distances(X, min(ms, n)), eps_value, ms, _core_label(min(ms, n)))
        sel["mode"] = "config"
        fit = fit_dbscan(X, eps_value, ms)
    labels = fit.labels
    info = {"selection": sel, "eps": float(eps_value), "min_samples": int(ms),
            "noise_fraction": float(np.mean(labels == NOISE_LABEL))}
    if scan is None:  # one row: what the fixed parameters gave (silhouette on a sample of at most scan_n rows)
        row = dbscan_candidate(X, labels, max_noise=max_noise, criterion=criterion, min_samples=ms,
                               quantile=float("nan"), eps=eps_value, silhouette_sample=scan_n, seed=seed)
        scan = pd.DataFrame([{**row, "chosen": True}], columns=SCAN_COLUMNS)
    return ClusterResult(labels, fit.model, scan, extra={"info": info, "curve": curve})
