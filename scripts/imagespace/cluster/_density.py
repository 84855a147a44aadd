"""Density-based clustering: DBSCAN (its eps given, at the knee, or chosen by a label-free scan) and HDBSCAN.

How eps is chosen is in ``_dbscan_eps.py``; :func:`fit_dbscan_auto` applies the choice to all rows.
"""

from __future__ import annotations

import numpy as np

from imagespace.constants import DOMINANT_SHARE
from imagespace.sampling import stratified_sample

from ._base import NOISE_LABEL, ClusterResult, _as_matrix, log
from ._dbscan_eps import (
    DBSCAN_MIN_SAMPLES,
    EPS_QUANTILES,
    SCAN_COLUMNS,
    _core_label,
    choose_eps,
    core_distances,
    dbscan_candidate,
    dbscan_scan,
    kdistance,
    min_samples_grid,
    null_scan_score,
)


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
    from sklearn.cluster import DBSCAN

    X = _as_matrix(X)
    model = DBSCAN(eps=float(eps), min_samples=int(min_samples))
    labels = model.fit_predict(X)
    k = len(set(labels.tolist()) - {NOISE_LABEL})
    n_noise = int((labels == NOISE_LABEL).sum())
    log.info("DBSCAN eps=%.6g min_samples=%d: %d clusters, %d noise points", eps, min_samples, k, n_noise)
    return ClusterResult(labels, model)


def fit_hdbscan(
    X, *, min_cluster_size: int = 5, min_samples: int | None = None, cluster_selection_method: str = "eom"
) -> ClusterResult:
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
    from sklearn.cluster import HDBSCAN

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
    log.info(
        "HDBSCAN min_cluster_size=%d min_samples=%s (%s): %d clusters, %d noise points",
        mcs,
        ms,
        cluster_selection_method,
        k,
        int((labels == NOISE_LABEL).sum()),
    )
    return ClusterResult(labels, model)


def fit_hdbscan_large(
    X,
    n_sub: int,
    seed: int,
    *,
    strata=None,
    min_cluster_size: int = 5,
    min_samples: int | None = None,
    cluster_selection_method: str = "eom",
) -> ClusterResult:
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
    from sklearn.neighbors import NearestNeighbors

    X = _as_matrix(X)
    idx = stratified_sample(len(X), int(n_sub), seed, strata)
    fit = fit_hdbscan(
        X[idx],
        min_cluster_size=min_cluster_size,
        min_samples=min_samples,
        cluster_selection_method=cluster_selection_method,
    )
    sub = fit.labels
    ms = max(1, min(int(min_cluster_size if min_samples is None else min_samples), len(idx) - 1))
    nn = NearestNeighbors(n_neighbors=min(2 * ms, len(idx))).fit(X[idx])
    core_fit = nn.kneighbors(X[idx], n_neighbors=ms)[0][:, -1]  # the row itself is its first neighbour
    rest = np.setdiff1d(np.arange(len(X)), idx)
    labels = np.empty(len(X), dtype=np.int64)
    labels[idx] = sub
    for a in range(0, len(rest), 8192):
        rows = rest[a : a + 8192]
        d, j = nn.kneighbors(X[rows])
        core_new = d[:, ms - 2] if ms >= 2 else np.zeros(len(rows))
        mrd = np.maximum(np.maximum(d, core_fit[j]), core_new[:, None])
        labels[rows] = sub[j[np.arange(len(rows)), mrd.argmin(axis=1)]]
    strategy = {
        "name": "subsample",
        "n_fit": len(idx),
        "n_assigned": len(rest),
        "assignment": "nearest fitted row in mutual-reachability distance",
        "stratified": strata is not None,
    }
    log.info(
        "HDBSCAN on %d rows: fitted on %d stratified rows, %d assigned by mutual reachability (%d to noise)",
        len(X),
        len(idx),
        len(rest),
        int((labels[rest] == NOISE_LABEL).sum()),
    )
    return ClusterResult(labels, fit.model, extra={"rows": idx, "strategy": strategy})


def _kdistance_curve(distances, eps: float, min_samples: int, what: str) -> dict:
    """What :func:`~imagespace.cluster.plot_kdistance` draws: sorted distances and the chosen eps."""
    return {"distances": np.sort(distances), "eps": eps, "min_samples": min_samples, "what": what}


def _fit_scanned(X, fixed_ms, sel: dict, *, scan_min_samples, max_noise, criterion, scan_n, seed):
    """eps (and min_samples) by :func:`dbscan_scan`: ``(scan, fit or None, curve or None)``; None where no
    candidate is admissible (*sel* then records the fallback to the knee)."""
    n = X.shape[0]
    pick = (
        np.sort(np.random.default_rng(seed).choice(n, size=int(scan_n), replace=False))
        if scan_n is not None and n > int(scan_n)
        else None
    )
    Xs = X if pick is None else X[pick]
    grid = [fixed_ms] if fixed_ms is not None else min_samples_grid(scan_min_samples, len(Xs))
    scan, best_labels = dbscan_scan(Xs, grid, max_noise=max_noise, criterion=criterion)
    sel.update(
        {
            "mode": "scan",
            "criterion": criterion,
            "max_noise": float(max_noise),
            "max_largest_share": DOMINANT_SHARE,
            "scan_rows": len(Xs),
            "scan_sampled": pick is not None,
            "scan_seed": seed if pick is not None else None,
            "min_samples_scanned": grid,
            "quantiles_scanned": list(EPS_QUANTILES),
            "n_candidates": len(scan),
            "n_admissible": int(scan["admissible"].sum()),
            "fallback": None,
        }
    )
    if best_labels is None:
        sel["fallback"] = (
            f"none of the {len(scan)} candidates has >= 2 clusters, <= {max_noise:.0%} noise and no "
            f"cluster over {DOMINANT_SHARE:.0%}: eps at the k-distance knee instead"
        )
        log.warning("DBSCAN scan: %s", sel["fallback"])
        return scan, None, None
    best = scan[scan["chosen"]].iloc[0]
    ms, q = int(best["min_samples"]), float(best["quantile"])
    sel.update({"quantile": q, "score": float(best["score"]), "eps_on_scan_rows": float(best["eps"])})
    null = null_scan_score(Xs, grid, max_noise=max_noise, criterion=criterion, seed=seed)
    sel.update({"null_score": null, "beats_null": bool(not np.isfinite(null) or best["score"] > null)})
    log.info(
        "DBSCAN scan: best %s %.4f; structureless Gaussian data of the same covariance: %.4f",
        criterion,
        best["score"],
        null,
    )
    cd = core_distances(X, ms)
    if pick is None:  # the scan ran on all rows: its labels are the fit's
        fit, eps_value = ClusterResult(best_labels), float(best["eps"])
    else:  # the same share of core points on all rows
        eps_value = float(np.quantile(cd, q))
        eps_value = eps_value if eps_value > 0 else float(best["eps"])
        fit = fit_dbscan(X, eps_value, ms)
    log.info(
        "DBSCAN scan chose min_samples=%d, eps=%.6g (quantile %.2f, %s %.4f)",
        ms,
        eps_value,
        q,
        criterion,
        best["score"],
    )
    return scan, fit, _kdistance_curve(cd, eps_value, ms, _core_label(ms))


def fit_dbscan_auto(
    X,
    eps="auto",
    min_samples="auto",
    *,
    scan_min_samples=(5, 10, 20, 40),
    max_noise: float = 0.5,
    criterion: str = "silhouette_coverage",
    scan_n: int | None = 2000,
    seed: int = 0,
) -> ClusterResult:
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
    import pandas as pd

    X = _as_matrix(X)
    n = X.shape[0]
    fixed_ms = None if min_samples == "auto" else int(min_samples)
    sel, scan, fit = {}, None, None
    if eps == "auto":
        scan, fit, curve = _fit_scanned(
            X,
            fixed_ms,
            sel,
            scan_min_samples=scan_min_samples,
            max_noise=max_noise,
            criterion=criterion,
            scan_n=scan_n,
            seed=seed,
        )
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
    info = {
        "selection": sel,
        "eps": float(eps_value),
        "min_samples": int(ms),
        "noise_fraction": float(np.mean(labels == NOISE_LABEL)),
    }
    if scan is None:  # one row: what the fixed parameters gave (silhouette on a sample of at most scan_n rows)
        row = dbscan_candidate(
            X,
            labels,
            max_noise=max_noise,
            criterion=criterion,
            min_samples=ms,
            quantile=float("nan"),
            eps=eps_value,
            silhouette_sample=scan_n,
            seed=seed,
        )
        scan = pd.DataFrame([{**row, "chosen": True}], columns=SCAN_COLUMNS)
    return ClusterResult(labels, fit.model, scan, extra={"info": info, "curve": curve})
