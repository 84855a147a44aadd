"""Multidimensional scaling of human dissimilarities: missing pairs filled by shortest paths, metric or non-metric MDS
(scikit-learn, precomputed) started from a Torgerson solution, the stress curve that chooses the dimension, and the
figures of a fit (the stress curve, the Shepard diagram)."""

from __future__ import annotations

import numpy as np

from imagespace.io import InputError

from . import kinds


def fill_missing(D: np.ndarray) -> tuple[np.ndarray, int]:
    """*D* (NaN = no data, diagonal ignored) with every missing pair set to the shortest path through observed
    pairs; returns (full matrix, number of pairs filled). A pair that no path joins is an error."""
    from scipy.sparse.csgraph import shortest_path

    n = len(D)
    miss = ~np.isfinite(D) & ~np.eye(n, dtype=bool)
    W = np.where(np.isfinite(D), D, 0.0)
    np.fill_diagonal(W, 0.0)
    full = W.copy()
    if miss.any():
        G = np.where(miss, 0.0, np.maximum(W, 1e-12))  # 0 = no edge for csgraph
        P = shortest_path(G, directed=False)
        if not np.isfinite(P[miss]).all():
            raise InputError("the pairs with data do not connect every item: some items cannot be placed")
        full[miss] = P[miss]
    return full, int(miss.sum() // 2)


def stress1(D: np.ndarray, X: np.ndarray) -> float:
    """Kruskal's stress-1 of configuration *X* against dissimilarities *D*: sqrt(sum (d - dist)^2 / sum d^2)."""
    from scipy.spatial.distance import pdist, squareform

    d = squareform(D, checks=False)
    e = pdist(X)
    return float(np.sqrt(((d - e) ** 2).sum() / (d**2).sum()))


def mds(D: np.ndarray, dims: int, *, metric: bool = True, seed: int = 0) -> np.ndarray:
    """Metric or non-metric MDS of the full dissimilarity matrix *D* into *dims* dimensions.

    Parameters
    ----------
    D : (n, n) symmetric dissimilarities (diagonal ignored).
    dims : the dimension.
    metric : metric MDS (distances match the dissimilarities) or non-metric (their order).
    seed : random state of the SMACOF starts.

    Returns
    -------
    (n, dims) coordinates.
    """
    from sklearn.manifold import MDS

    D = D.copy()
    np.fill_diagonal(D, 0.0)
    m = MDS(
        int(dims),
        metric_mds=bool(metric),
        metric="precomputed",
        init="random",
        n_init=1 if metric else 4,
        random_state=seed,
        max_iter=1000,
        eps=1e-9,
        normalized_stress=not metric,
    )
    if not metric:
        return m.fit_transform(D)
    return m.fit_transform(D, init=torgerson(D, int(dims)))  # a deterministic start: classical scaling


def torgerson(D: np.ndarray, dims: int) -> np.ndarray:
    """Classical (Torgerson) scaling of *D*: the top eigenvectors of the double-centred -D^2/2, negative
    eigenvalues (a non-Euclidean D, or more dimensions than it has) clipped to 0."""
    n = len(D)
    J = np.eye(n) - 1.0 / n
    w, V = np.linalg.eigh(-0.5 * J @ (D**2) @ J)
    top = np.argsort(w)[::-1][:dims]
    return V[:, top] * np.sqrt(np.maximum(w[top], 0.0))


def stress_curve(D: np.ndarray, max_dims: int, *, metric: bool = True, seed: int = 0) -> list[dict]:
    """The stress curve: Kruskal stress-1 of the MDS solution in 1..max_dims dimensions.

    Parameters
    ----------
    D : (n, n) full symmetric dissimilarities.
    max_dims : the largest dimension tried.
    metric, seed : as :func:`mds`.

    Returns
    -------
    [{"dims", "stress1"}], the figure's data and what ``dims: auto`` chooses from.
    """
    return [{"dims": k, "stress1": stress1(D, mds(D, k, metric=metric, seed=seed))} for k in range(1, max_dims + 1)]


def choose_dims(curve: list[dict], target: float) -> int:
    """The smallest dimension whose stress-1 is at most *target*, else the largest tried."""
    ok = [c["dims"] for c in curve if c["stress1"] <= target]
    return ok[0] if ok else curve[-1]["dims"]


def plot_stress_curve(curve: list[dict], dims: int, path) -> None:
    """Stress-1 against the dimension, the chosen one marked."""
    from matplotlib.figure import Figure

    from imagespace.io import save_figure

    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    ax.plot([c["dims"] for c in curve], [c["stress1"] for c in curve], "o-", color="0.3")
    ax.axvline(dims, color="crimson", lw=1, label=f"chosen: {dims}")
    ax.set_xlabel("dimensions")
    ax.set_ylabel("Kruskal stress-1")
    ax.legend(frameon=False)
    save_figure(fig, path)


def plot_shepard(shepard: dict, path) -> None:
    """Shepard diagram: the space's distances against the observed dissimilarities."""
    from matplotlib.figure import Figure

    from imagespace.io import save_figure

    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.subplots()
    ax.scatter(shepard["dissimilarity"], shepard["distance"], s=3, alpha=0.3, color="0.2")
    ax.set_xlabel("observed dissimilarity")
    ax.set_ylabel("distance in the human space")
    ax.set_title("Shepard diagram")
    save_figure(fig, path)


def figures_of_fit(obs: dict, H: np.ndarray, built: dict, *, stress, shepard) -> None:
    """The stress curve and the Shepard diagram of the space *H* built from the data *obs*
    (:func:`imagespace.human.scores.observed`); for triplets the curve of held-out accuracy is not drawn (one point:
    the accuracy in the title) and the Shepard diagram is the histogram of the choices' margins."""
    from matplotlib.figure import Figure
    from scipy.spatial.distance import pdist, squareform

    from imagespace.io import save_figure

    if obs["kind"] == "triplets":
        T = obs["T"]
        margin = np.linalg.norm(H[T[:, 0]] - H[T[:, 2]], axis=1) - np.linalg.norm(H[T[:, 0]] - H[T[:, 1]], axis=1)
        for path, title in ((stress, f"held-out triplet accuracy {built.get('heldout_accuracy')}"), (shepard, None)):
            fig = Figure(figsize=(5, 3.5))
            ax = fig.subplots()
            ax.hist(margin, bins=60, color="0.4")
            ax.axvline(0, color="crimson", lw=1)
            ax.set_xlabel("d(anchor, other) - d(anchor, chosen) in the human space (> 0: choice reproduced)")
            ax.set_title(title or f"{np.mean(margin > 0):.1%} of the human choices reproduced")
            save_figure(fig, path)
        return
    D = squareform(kinds.nan_mean(obs["R"]), checks=False)  # NaN where no one rated a pair
    np.fill_diagonal(D, np.nan)
    curve = built.get("stress_curve")
    if not curve:
        full = fill_missing(D)[0]
        curve = stress_curve(full, max(built.get("dims", 2), min(10, len(H) - 1)), seed=0)
    plot_stress_curve(curve, int(built.get("dims", H.shape[1])), stress)
    obs_pairs = np.isfinite(D) & np.triu(np.ones_like(D, dtype=bool), 1)
    E = squareform(pdist(H))
    plot_shepard({"dissimilarity": D[obs_pairs], "distance": E[obs_pairs]}, shepard)
