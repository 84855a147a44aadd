"""DBSCAN's eps (and min_samples) chosen without labels: the k-distance knee, and the scan over core-distance quantiles.

The knee of the k-distance curve (:func:`choose_eps`) often merges everything into one cluster, so by default
eps and min_samples are scanned (:func:`dbscan_scan`) and scored by silhouettes of the clustered points, never
by class labels; :func:`~imagespace.cluster.fit_dbscan_auto` applies the choice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from imagespace.constants import DOMINANT_SHARE

from ._base import NOISE_LABEL, _as_matrix, _silhouette, log


def kdistance(X, min_samples: int) -> np.ndarray:
    """Distance of every point to its *min_samples*-th nearest neighbour, sorted ascending.

    The point itself is excluded (duplicates of it are not). Note that
    scikit-learn's DBSCAN counts the point itself in ``min_samples``, so this
    curve is the conservative (slightly larger) of the two usual conventions.

    Parameters
    ----------
    X : array-like, shape (n, d)
        The rows.
    min_samples : int
        Which neighbour (1 to n - 1).

    Returns
    -------
    numpy.ndarray, shape (n,)
        The distances, ascending.
    """
    from sklearn.neighbors import NearestNeighbors

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

    Parameters
    ----------
    kdist : array-like
        A k-distance curve (:func:`kdistance`), in any order.

    Returns
    -------
    float
        eps.
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


SCAN_COLUMNS = [
    "min_samples",
    "quantile",
    "eps",
    "k",
    "noise_fraction",
    "largest_share",
    "silhouette",
    "silhouette_coverage",
    "score",
    "admissible",
    "reason",
    "chosen",
]


def core_distances(X, min_samples: int) -> np.ndarray:
    """Each point's core distance for DBSCAN(min_samples), in row order (not sorted).

    scikit-learn counts a point itself among its *min_samples* neighbours, so a
    point is a core point at ``eps`` exactly when the distance to its
    ``(min_samples - 1)``-th nearest other point is at most ``eps``: the
    ``q``-quantile of these distances as eps makes a share ``q`` of the points
    core points (ties aside). ``min_samples = 1`` makes every point a core point
    (all distances 0).

    Parameters
    ----------
    X : array-like, shape (n, d)
        The rows.
    min_samples : int
        DBSCAN's min_samples (1 to n).

    Returns
    -------
    numpy.ndarray, shape (n,)
        The core distances.
    """
    from sklearn.neighbors import NearestNeighbors

    X = _as_matrix(X)
    m = int(min_samples) - 1
    if m < 0 or m >= X.shape[0]:
        raise ValueError(f"min_samples must be in [1, n] = [1, {X.shape[0]}], got {min_samples}")
    if m == 0:
        return np.zeros(X.shape[0])
    dist, _ = NearestNeighbors(n_neighbors=m).fit(X).kneighbors()  # no X: each point's own entry is left out
    return dist[:, -1]


def dbscan_candidate(
    X,
    labels,
    *,
    max_noise: float,
    criterion: str,
    min_samples=None,
    quantile=None,
    eps=None,
    silhouette_sample: int | None = None,
    seed: int = 0,
    D=None,
) -> dict:
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

    Parameters
    ----------
    X : array-like, shape (n, d)
        The rows (unused with *D*).
    labels : array-like, shape (n,)
        A DBSCAN fit's labels.
    max_noise : float
        Largest admissible noise share.
    criterion : str
        One of :data:`DBSCAN_CRITERIA`.
    min_samples, quantile, eps
        The candidate's parameters, recorded in the row.
    silhouette_sample : int or None
        Score silhouettes on a seeded sample of this many clustered points.
    seed : int
        Seed of that sample.
    D : numpy.ndarray, optional
        Pairwise distances of the rows.

    Returns
    -------
    dict
        One row of :data:`SCAN_COLUMNS`.
    """
    from sklearn.metrics import silhouette_score

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
    row = {
        "min_samples": min_samples,
        "quantile": quantile,
        "eps": eps,
        "k": int(k),
        "noise_fraction": float(noise),
        "largest_share": float(largest),
        "silhouette": sil,
        "silhouette_coverage": sil * (1.0 - noise),
        "admissible": not reason,
        "reason": reason,
        "chosen": False,
    }
    row["score"] = row[criterion]
    return row


def dbscan_scan(
    X, min_samples_values, *, max_noise: float = 0.5, criterion: str = "silhouette_coverage", quantiles=EPS_QUANTILES
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """DBSCAN over a grid of min_samples and eps, scored without labels; returns ``(table, labels of the best)``.

    For each min_samples the eps candidates are the *quantiles* of the core
    distances (:func:`core_distances`): with eps at quantile ``q`` a share ``q``
    of the points are core points, so the grid adapts to the data's scale and
    dimension. Each fit is a row of :func:`dbscan_candidate`; the chosen row
    (``chosen`` True) is the admissible one with the highest score, the first
    in grid order on ties. Without any admissible candidate nothing is chosen
    and the labels are None. Deterministic. Up to :data:`PRECOMPUTE_MAX` rows the
    pairwise distances are computed once and shared by all fits and silhouettes.

    Parameters
    ----------
    X : array-like, shape (n, d)
        The rows.
    min_samples_values : iterable of int
        The min_samples scanned (1 to n).
    max_noise : float
        Largest admissible noise share.
    criterion : str
        One of :data:`DBSCAN_CRITERIA`.
    quantiles : sequence of float
        The eps candidates, as quantiles of the core distances.

    Returns
    -------
    scan : pandas.DataFrame
        One row per candidate (:data:`SCAN_COLUMNS`).
    labels : numpy.ndarray or None
        The chosen candidate's labels (None without an admissible candidate).
    """
    import pandas as pd
    from sklearn.cluster import DBSCAN
    from sklearn.metrics import pairwise_distances

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
            row = dbscan_candidate(
                X, labels, max_noise=max_noise, criterion=criterion, min_samples=ms, quantile=float(q), eps=eps, D=D
            )
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
    points, so larger values leave room for at most 3 clusters), at least 2; sorted, no duplicates.

    Parameters
    ----------
    values : iterable of int
        The configured candidates.
    n : int
        Rows scanned.

    Returns
    -------
    list of int
        The usable values (at least one).
    """
    cap = max(2, n // 4)
    grid = sorted({int(v) for v in values if 2 <= int(v) <= cap})
    return grid or [min(cap, n - 1)]


def null_scan_score(X, min_samples_values, *, max_noise: float, criterion: str, seed: int) -> float:
    """The best admissible scan score on structureless data like *X*: a seeded Gaussian sample with *X*'s
    mean and covariance, as many rows, scanned on the same grid (NaN when no candidate is admissible).

    A Gaussian cloud has no clusters, yet its thinning tails let the scan find "clusters" scoring about
    0.1-0.25; a score on the data that does not beat this says nothing about structure.

    Parameters
    ----------
    X : array-like, shape (n, d)
        The rows.
    min_samples_values : iterable of int
        The scan's min_samples grid.
    max_noise, criterion
        As :func:`dbscan_scan`.
    seed : int
        Seed of the Gaussian sample.

    Returns
    -------
    float
        The best admissible score on the Gaussian sample (NaN: none admissible).
    """
    X = _as_matrix(X)
    rng = np.random.default_rng(seed)
    G = rng.multivariate_normal(X.mean(axis=0), np.cov(X, rowvar=False), size=len(X), method="eigh")
    df, _ = dbscan_scan(G, min_samples_values, max_noise=max_noise, criterion=criterion)
    ok = df[df["admissible"]]
    return float(ok["score"].max()) if len(ok) else float("nan")
