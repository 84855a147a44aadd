"""A human space (coordinates) from any kind of human data, so every coordinate-based stage works unchanged.

* dissimilarity/similarity matrices and ratings: metric or non-metric MDS (scikit-learn's SMACOF on the
  precomputed dissimilarities, the mean over subjects for ratings). Pairs without data are filled with the
  shortest path through pairs with data (noted). The dimension is ``dims`` or, with ``dims: auto``, the
  smallest whose Kruskal stress-1 is at most ``stress_target`` on the stress curve (1..``max_dims``);
* triplets: an ordinal embedding, soft ordinal embedding (SOE, cblearn), with its accuracy on held-out triplets
  (``holdout`` of them, drawn with ``seed``, left out of the fit).

:func:`join_data` reads the split's data (:mod:`imagespace.human.kinds`), builds the space and returns the table
the coordinate route writes (id, name, dim_1..dim_k) with a record (stress curve, Shepard data, accuracy).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy.spatial.distance import pdist, squareform

from imagespace.io import InputError

from . import kinds

log = logging.getLogger("imagespace.human.spaces")


def declared_dims(spec: dict) -> int | None:
    """The dimension of a split's human space known before it is built (at DAG time): ``dims`` of a kind other
    than coordinates when it is a number; None when it is ``auto`` (chosen from the stress curve when the space is
    built). (A coordinate file's width is read from the file instead.)

    Parameters
    ----------
    spec : the split's human spec.

    Returns
    -------
    int or None
    """
    dims = spec.get("dims")
    return int(dims) if isinstance(dims, int) and not isinstance(dims, bool) else None


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


def soe(T: np.ndarray, n: int, dims: int, *, holdout: float = 0.1, seed: int = 0) -> tuple[np.ndarray, dict]:
    """Soft ordinal embedding (cblearn) of triplets *T* (i closer to j than to k) of *n* items.

    Parameters
    ----------
    T : (m, 3) triplets.
    n : number of items.
    dims : the dimension.
    holdout : share of triplets left out of the fit to measure its accuracy on them.
    seed : the split of held-out triplets and the embedding's random state.

    Returns
    -------
    (X, record): coordinates (n, dims) and ``train_accuracy``, ``heldout_accuracy``, ``n_train``, ``n_heldout``.
    """
    from cblearn.embedding import SOE

    rng = np.random.default_rng(seed)
    test = rng.random(len(T)) < holdout
    X = SOE(int(dims), random_state=seed, n_init=1).fit_transform(T[~test], n_objects=n)
    return X, {
        "train_accuracy": triplet_accuracy(T[~test], X),
        "heldout_accuracy": triplet_accuracy(T[test], X) if test.any() else None,
        "n_train": int((~test).sum()),
        "n_heldout": int(test.sum()),
    }


def triplet_accuracy(T: np.ndarray, X: np.ndarray) -> float:
    """Triplet accuracy: the share of triplets (i, j, k) whose choice the coordinates reproduce.

    Parameters
    ----------
    T : (m, 3) triplets: item i is closer to j than to k.
    X : (n, d) coordinates (a feature set, a human space).

    Returns
    -------
    float: the share where X puts i closer to j than to k (a tie counts one half); NaN without triplets.
    """
    X = np.asarray(X, dtype=np.float64)
    dj = ((X[T[:, 0]] - X[T[:, 1]]) ** 2).sum(axis=1)
    dk = ((X[T[:, 0]] - X[T[:, 2]]) ** 2).sum(axis=1)
    return float(np.mean((dj < dk) + 0.5 * (dj == dk))) if len(T) else float("nan")


def split_names(split: str, manifest: pd.DataFrame, skipped: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(every image file name of *split*, kept or skipped at ingest; those kept), each sorted."""
    from .coordinates import own_images

    kept = own_images(manifest[manifest["split"] == split])
    sk = skipped.loc[skipped["split"] == split, "name"].astype(str)
    return sorted(set(kept["name"]) | set(sk)), sorted(kept["name"])


def join_data(spec: dict, split: str, manifest: pd.DataFrame, *, skipped: pd.DataFrame):
    """The coordinate table (id, name, dim_1..dim_k) of a split given as any kind, with notes and a record.

    Parameters
    ----------
    spec : the split's human spec, defaults filled (``kind``, ``path``, ``dims``, ``mds``, ...).
    split : the split.
    manifest, skipped : the ingest tables (images kept, images skipped).

    Returns
    -------
    (table, notes, record)
    """
    from imagespace.config import with_defaults

    spec = {**with_defaults(spec, "human_spec"), "key": f"human.{split}"}  # key: for messages
    names, kept = split_names(split, manifest, skipped)
    kind, path = spec["kind"], spec["path"]
    record: dict = {"kind": kind}
    if kind == "triplets":
        T, subjects, notes = kinds.read_triplets(path, spec, names)
        keep = np.isin(np.array(names)[T], kept).all(axis=1)
        T = _reindex(T[keep], names, kept)
        _all_present(np.unique(T), kept, path)
        dims = 2 if spec["dims"] == "auto" else int(spec["dims"])
        X, rec = soe(T, len(kept), dims, holdout=spec["holdout"], seed=spec["seed"])
        record.update(rec, dims=dims)
    else:
        if kind == "ratings":
            R, subjects, notes = kinds.read_ratings(path, spec, names)
            D = kinds.nan_mean(R)
        else:
            D, notes = kinds.read_square(path, spec, names)
        D = D[np.ix_(*[[names.index(x) for x in kept]] * 2)]
        _all_present(np.flatnonzero(np.isfinite(D).any(axis=1)), kept, path)
        X, rec = _mds_space(D, spec)
        record.update(rec)
        if rec["filled_pairs"]:
            notes.append(f"{rec['filled_pairs']} pairs without data filled by shortest paths before MDS")
    by_name = dict(zip(manifest["name"], manifest["id"]))
    table = pd.DataFrame(X, columns=[f"dim_{i + 1}" for i in range(X.shape[1])])
    table.insert(0, "name", kept)
    table.insert(0, "id", [by_name[x] for x in kept])
    return table, notes, record


def _reindex(T: np.ndarray, names: list[str], kept: list[str]) -> np.ndarray:
    pos = {x: i for i, x in enumerate(kept)}
    return np.vectorize(lambda i: pos[names[i]])(T).astype(np.int64).reshape(-1, 3)


def _all_present(have, kept: list[str], path) -> None:
    missing = sorted(set(range(len(kept))) - set(np.asarray(have).tolist()))
    if missing:
        example = [kept[i] for i in missing[:3]]
        raise InputError(f"{path}: {len(missing)} images of the split have no data (e.g. {example})")


def _mds_space(D: np.ndarray, spec: dict) -> tuple[np.ndarray, dict]:
    full, filled = fill_missing(D)
    metric = spec["mds"] == "metric"
    curve = None
    if spec["dims"] == "auto":
        curve = stress_curve(full, int(spec["max_dims"]), metric=metric, seed=spec["seed"])
        dims = choose_dims(curve, float(spec["stress_target"]))
    else:
        dims = int(spec["dims"])
    X = mds(full, dims, metric=metric, seed=spec["seed"])
    obs = np.isfinite(D) & np.triu(np.ones_like(D, dtype=bool), 1)
    E = squareform(pdist(X))
    shepard = {"dissimilarity": D[obs].tolist(), "distance": E[obs].tolist()}
    return X, {
        "dims": dims,
        "mds": spec["mds"],
        "stress1": stress1(full, X),
        "stress_curve": curve,
        "filled_pairs": filled,
        "shepard": shepard,
    }


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
