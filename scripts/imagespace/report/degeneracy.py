"""Degenerate maps and embeddings: collapsed axes, points piled onto one spot, points far outside the bulk.

Trustworthiness cannot see these: a map that orders its points along one line keeps many nearest
neighbours (standard LLE on the digits, 5 neighbours: 1,770 of 1,797 points on one line and 27 on one far
spot, trustworthiness 0.92). :func:`check` measures a map's (or a k-D embedding's) geometry; the summary
turns the numbers into warnings with :func:`problems`, against the thresholds of
``embeddings.degeneracy``.

Pure numpy (scipy for the neighbour graph of :func:`neighbour_components` only).
"""

from __future__ import annotations

import numpy as np

#: the central box: each axis between these quantiles
BOX = (0.10, 0.90)
#: the bulk's radius: this quantile of the distances to the median point; a point is far beyond far_factor times
#: it, as the map figures frame the bulk (imagespace.report.plots.robust_limits: coverage 0.95, far_factor 2)
BULK_QUANTILE = 0.95


def central_box(Y, *, quantiles: tuple[float, float] = BOX) -> np.ndarray:
    """The rows of *Y* inside the central box: on every axis between the *quantiles* of that axis.

    Parameters
    ----------
    Y : array (n, k)
        The map or embedding.
    quantiles : (low, high)
        The box's quantiles per axis (default the 10 % and 90 % quantiles).

    Returns
    -------
    numpy.ndarray of bool (n,)
        True for the rows inside the box (ends included).
    """
    Y = np.asarray(Y, dtype=np.float64)
    lo, hi = np.quantile(Y, quantiles[0], axis=0), np.quantile(Y, quantiles[1], axis=0)
    return np.all((Y >= lo) & (Y <= hi), axis=1)


def spread_ratios(Y, *, quantiles: tuple[float, float] = BOX, min_rows: int = 10) -> np.ndarray:
    """The spread (standard deviation) of each principal axis of the central box's points over the first's.

    Parameters
    ----------
    Y : array (n, k)
        The map or embedding, k >= 2.
    quantiles : (low, high)
        The central box (:func:`central_box`); with fewer than *min_rows* rows inside it (a k-D embedding's
        box can hold few), all rows are used.
    min_rows : int
        The fewest rows the box must hold.

    Returns
    -------
    numpy.ndarray (k,)
        1 for the first axis, then the others' ratios, descending; all 0 when the points coincide. The second
        value is the map's spread ratio: 0 for points on a line, about 1 for a round cloud.
    """
    Y = np.asarray(Y, dtype=np.float64)
    inside = central_box(Y, quantiles=quantiles)
    Z = Y[inside] if inside.sum() >= min_rows else Y
    Z = Z - Z.mean(axis=0)
    sd = np.sqrt(np.clip(np.linalg.eigvalsh(Z.T @ Z / max(1, len(Z) - 1))[::-1], 0.0, None))
    if sd[0] <= 0 or not np.isfinite(sd[0]):
        return np.zeros(len(sd))
    return sd / sd[0]


def _spots(Y, tol: float, min_size: int) -> tuple[int, int, int]:
    """(spots, points in them, largest): groups of at least *min_size* rows in one grid cell of side *tol*."""
    if tol <= 0:  # every point on one spot
        return (1, len(Y), len(Y)) if len(Y) >= min_size else (0, 0, 0)
    # far points of a map at a tiny scale would overflow the cell index: they share the last cell of their axis
    cells = np.floor(np.minimum((Y - Y.min(axis=0)) / tol, 2.0**62)).astype(np.int64)
    _, counts = np.unique(cells, axis=0, return_counts=True)
    big = counts[counts >= min_size]
    return len(big), int(big.sum()), int(big.max()) if len(big) else 0


def settings() -> dict:
    """The schema's defaults of ``embeddings.degeneracy`` (the check's settings and the warning thresholds)."""
    from imagespace.config import defaults, load_schema

    return defaults(load_schema(), "embeddings")["degeneracy"]


def check(
    Y,
    *,
    held_out=None,
    far_factor: float | None = None,
    spot_tol: float | None = None,
    min_spot_size: int | None = None,
) -> dict:
    """The geometry of a map or embedding *Y*: its spread ratio, its spots and its far points.

    Parameters
    ----------
    Y : array (n, k)
        The fitted rows' coordinates (k >= 2).
    held_out : array (m, k), optional
        Rows placed afterwards by the method's out-of-sample transform: counted as far when they land
        farther from the fitted rows' median point than the fitted rows' far radius.
    far_factor, spot_tol, min_spot_size : optional
        None: the schema's defaults (``embeddings.degeneracy``, :func:`settings`).
    far_factor : float
        A point is far when its distance to the median point exceeds *far_factor* times the bulk radius
        (the 95 % quantile of those distances): the points the map figures leave out of their frame.
    spot_tol : float
        Points share a spot when they fall in one grid cell of side *spot_tol* times the median of those
        distances.
    min_spot_size : int
        The fewest points a spot holds.

    Returns
    -------
    dict
        ``spread_ratio`` (second principal axis over the first in the central box, :func:`spread_ratios`),
        ``spread_ratios`` (all axes), ``n``, ``bulk_radius``, ``median_radius``, ``n_far``, ``far_share``,
        ``max_distance_ratio``
        (the farthest point's distance over the bulk radius), ``n_spots``, ``n_in_spots``, ``spot_share``,
        ``largest_spot``, and with *held_out* ``held_out`` = {``n``, ``n_far``, ``far_share``}.
    """
    if far_factor is None or spot_tol is None or min_spot_size is None:
        d = settings()
        far_factor = d["far_factor"] if far_factor is None else far_factor
        spot_tol = d["spot_tol"] if spot_tol is None else spot_tol
        min_spot_size = d["min_spot_size"] if min_spot_size is None else min_spot_size
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim != 2 or Y.shape[1] < 2 or len(Y) < 3:
        raise ValueError(f"degeneracy check: needs at least 3 rows of at least 2 columns, not shape {Y.shape}")
    ratios = spread_ratios(Y)
    centre = np.median(Y, axis=0)
    r = np.linalg.norm(Y - centre, axis=1)
    radius, median = float(np.quantile(r, BULK_QUANTILE)), float(np.median(r))
    far = r > far_factor * radius if radius > 0 else r > 0
    # spots at the scale of the median radius: a pile holding more than 5 % of the points must not set it
    n_spots, n_in_spots, largest = _spots(Y, spot_tol * median, int(min_spot_size))
    n = len(Y)
    out = {
        "spread_ratio": round(float(ratios[1]), 4),
        "spread_ratios": [round(float(v), 4) for v in ratios],
        "n": n,
        "bulk_radius": float(radius),
        "median_radius": median,
        "far_factor": float(far_factor),
        "n_far": int(far.sum()),
        "far_share": round(float(far.mean()), 5),
        "max_distance_ratio": round(float(r.max() / radius), 2) if radius > 0 else None,
        "spot_tol": float(spot_tol),
        "min_spot_size": int(min_spot_size),
        "n_spots": n_spots,
        "n_in_spots": n_in_spots,
        "spot_share": round(n_in_spots / n, 5),
        "largest_spot": largest,
    }
    if held_out is not None and len(held_out):
        H = np.asarray(held_out, dtype=np.float64)
        rh = np.linalg.norm(H - centre, axis=1)
        far_h = rh > far_factor * radius if radius > 0 else rh > 0
        out["held_out"] = {"n": len(H), "n_far": int(far_h.sum()), "far_share": round(float(far_h.mean()), 5)}
    return out


def neighbour_components(X, n_neighbors: int) -> dict:
    """Connected components of the *n_neighbors*-nearest-neighbour graph of the rows of *X* (edges undirected),
    the graph LLE and Isomap are built on: more than one component leaves their eigenproblem degenerate.

    Parameters
    ----------
    X : array (n, d)
        The rows the method was fitted on.
    n_neighbors : int
        The method's neighbours.

    Returns
    -------
    dict
        ``n_neighbors``, ``n_components`` and ``sizes`` (the 10 largest components' sizes, descending).
    """
    from scipy.sparse.csgraph import connected_components
    from sklearn.neighbors import kneighbors_graph

    X = np.asarray(X, dtype=np.float64)
    k = int(min(n_neighbors, len(X) - 1))
    graph = kneighbors_graph(X, k, mode="connectivity", include_self=False)
    n_comp, comp = connected_components(graph, directed=False)
    sizes = np.sort(np.bincount(comp))[::-1]
    return {"n_neighbors": k, "n_components": int(n_comp), "sizes": sizes[:10].tolist()}


def problems(stats: dict, *, min_spread_ratio: float, max_far_share: float, max_spot_share: float) -> list[str]:
    """What is degenerate about a map, from its :func:`check` numbers: phrases for a warning (empty: nothing).

    Parameters
    ----------
    stats : dict
        :func:`check`'s result, optionally with ``neighbour_graph`` (:func:`neighbour_components`) and
        ``method``.
    min_spread_ratio : float
        A spread ratio under this is a collapsed map.
    max_far_share : float
        More than this share of points far outside the bulk (fitted rows, or held-out rows placed by the
        transform) is a map dominated by a few far points.
    max_spot_share : float
        More than this share of points piled onto spots is a warning.

    Returns
    -------
    list of str
        One phrase per problem, then the likely cause when one is known; empty when the map looks fine.
    """
    out = []
    if stats["spread_ratio"] < min_spread_ratio:
        out.append(
            f"collapsed: its second principal axis spreads {stats['spread_ratio']:.3f} of the first in the central "
            f"box (embeddings.degeneracy.min_spread_ratio {min_spread_ratio:g}), the points lie on a line"
        )
    if stats["far_share"] > max_far_share:
        out.append(
            f"{stats['n_far']} of {stats['n']} points ({stats['far_share']:.1%}) lie far outside the bulk "
            f"(beyond {stats['far_factor']:g}x the radius holding 95 % of them, farthest "
            f"{stats['max_distance_ratio']:g}x) and set "
            f"its extent (embeddings.degeneracy.max_far_share {max_far_share:g})"
        )
    held = stats.get("held_out") or {}
    if held.get("n_far") and held["far_share"] > max_far_share:
        out.append(
            f"{held['n_far']} of {held['n']} held-out points placed by the transform ({held['far_share']:.1%}) land "
            "far outside the training points' range"
        )
    if stats["spot_share"] > max_spot_share:
        out.append(
            f"{stats['n_in_spots']} points ({stats['spot_share']:.1%}) are piled onto {stats['n_spots']} spot(s) "
            f"(largest {stats['largest_spot']}; embeddings.degeneracy.max_spot_share {max_spot_share:g})"
        )
    if out:
        out.append(likely_cause(stats))
    return out


def likely_cause(stats: dict) -> str:
    """The likely cause of a degenerate map, from what its numbers record."""
    g = stats.get("neighbour_graph") or {}
    if g.get("n_components", 1) > 1:
        sizes = ", ".join(str(s) for s in g["sizes"][:5])
        return (
            f"likely cause: the {g['n_neighbors']}-nearest-neighbour graph is disconnected: {g['n_components']} "
            f"components (sizes {sizes}{', ...' if g['n_components'] > 5 else ''}); the method solves each apart; "
            "try more n_neighbors" + (" or method: modified" if stats.get("method") == "lle" else "")
        )
    if stats.get("method") == "lle":
        return (
            "likely cause: LLE's eigenproblem is ill-conditioned at these settings; try method: modified or more "
            "n_neighbors"
        )
    return "likely cause: the method's settings or outlying images; the static figures frame the bulk"
