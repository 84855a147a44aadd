"""Simulated human data of every kind from a known space: a dissimilarity matrix, per-participant ratings (noise,
missing pairs) and triplets (a logistic choice rule), as tables in the formats :mod:`imagespace.human.kinds`
reads. For tests, for the example config, and to see what a ceiling looks like when the truth is known.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: pandas loads in the functions that use it
    import pandas as pd

from pathlib import Path

import numpy as np


def ratings_rdms(H, *, n_subjects: int = 20, noise: float = 1.0, missing: float = 0.3, seed: int = 0) -> np.ndarray:
    """Condensed RDMs of *n_subjects* raters: the true distances plus Gaussian noise of *noise* x their sd, each
    pair missing with probability *missing* (NaN).

    Parameters
    ----------
    H : (n, k) the true space.
    n_subjects, noise, missing, seed : the raters.

    Returns
    -------
    (n_subjects, n (n - 1) / 2) array
    """
    from scipy.spatial.distance import pdist

    d = pdist(np.asarray(H, dtype=np.float64))
    rng = np.random.default_rng(seed)
    R = d + noise * d.std() * rng.normal(size=(n_subjects, d.size))
    R[rng.random(R.shape) < missing] = np.nan
    return R


def ratings_table(H, names, **kw) -> pd.DataFrame:
    """:func:`ratings_rdms` as a long table (item_a, item_b, value, subject), dissimilarities, missing pairs absent.

    Parameters
    ----------
    H : (n, k) the true space.
    names : the items' ids.
    kw : as :func:`ratings_rdms`.

    Returns
    -------
    DataFrame
    """
    import pandas as pd

    R = ratings_rdms(H, **kw)
    i, j = np.triu_indices(len(names), 1)
    s, p = np.nonzero(np.isfinite(R))
    names = np.asarray(names)
    return pd.DataFrame({"item_a": names[i[p]], "item_b": names[j[p]], "value": R[s, p], "subject": s})


def triplets(
    H, *, n_triplets: int = 20000, repeats: int = 1, temperature: float = 0.1, task: str = "odd_one_out", seed: int = 0
):
    """Simulated triplet choices with a logistic (softmax) choice rule on the true distances.

    Parameters
    ----------
    H : (n, k) the true space.
    n_triplets : distinct sets of three items; each asked *repeats* times.
    temperature : the choice noise, a share of the mean distance (smaller = more consistent).
    task : ``odd_one_out`` (the odd one is the item opposite the closest pair) or ``anchor_closer`` (the first
        item is the anchor, the chosen one of the other two is closer to it).
    seed : the draws.

    Returns
    -------
    (T, items, choice): triplets (i closer to j than to k) as :func:`imagespace.human.kinds.read_triplets` makes
    them, and the raw choices (items (m, 3), the chosen item's position 0..2).
    """
    from scipy.spatial.distance import pdist

    H = np.asarray(H, dtype=np.float64)
    rng = np.random.default_rng(seed)
    base = np.array([rng.choice(len(H), 3, replace=False) for _ in range(n_triplets)])
    idx = np.repeat(base, repeats, axis=0)
    dist = lambda a, b: np.sqrt(((H[idx[:, a]] - H[idx[:, b]]) ** 2).sum(axis=1))  # noqa: E731
    scale = temperature * pdist(H).mean()
    r = np.arange(len(idx))
    if task == "anchor_closer":
        p1 = 1 / (1 + np.exp(-(dist(0, 2) - dist(0, 1)) / scale))  # the first of the pair chosen
        pos = np.where(rng.random(len(idx)) < p1, 1, 2)
        T = np.column_stack([idx[:, 0], idx[r, pos], idx[r, 3 - pos]])
        return T, idx, pos
    d = np.column_stack([dist(1, 2), dist(0, 2), dist(0, 1)])  # the pair opposite each item
    p = np.exp(-(d - d.min(axis=1, keepdims=True)) / scale)
    p /= p.sum(axis=1, keepdims=True)
    pos = (rng.random(len(idx))[:, None] > np.cumsum(p, axis=1)).sum(axis=1).clip(0, 2)
    rest = np.array([[q for q in (0, 1, 2) if q != o] for o in range(3)])[pos]
    x, y, c = idx[r, rest[:, 0]], idx[r, rest[:, 1]], idx[r, pos]
    T = np.vstack([np.column_stack([x, y, c]), np.column_stack([y, x, c])])
    return T, idx, pos


def write_every_kind(H, names, folder, *, seed: int = 0, n_triplets: int = 20000) -> dict:
    """Write the space *H* of the items *names* as every kind of human data into *folder*.

    Parameters
    ----------
    H : (n, k) the true space.
    names : the items' ids (image file names).
    folder : where the files go.
    seed : the simulation's seed.
    n_triplets : odd-one-out choices written.

    Returns
    -------
    {kind: path}: ``coordinates`` (with an id column), ``dissimilarity`` (a square matrix with ids),
    ``ratings`` (20 raters, noise 1 sd, 30 % of pairs missing), ``triplets`` (odd one out).
    """
    import pandas as pd
    from scipy.spatial.distance import pdist, squareform

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = [str(x) for x in names]
    H = np.asarray(H, dtype=np.float64)
    out = {k: folder / f"{k}.csv" for k in ("coordinates", "dissimilarity", "ratings", "triplets")}
    coords = pd.DataFrame(H, columns=[f"dim_{i + 1}" for i in range(H.shape[1])])
    coords.insert(0, "name", names)
    coords.to_csv(out["coordinates"], index=False)
    pd.DataFrame(squareform(pdist(H)), index=names, columns=names).to_csv(out["dissimilarity"], index_label="id")
    ratings_table(H, names, seed=seed).to_csv(out["ratings"], index=False)
    _, idx, pos = triplets(H, n_triplets=n_triplets, seed=seed)
    nm = np.asarray(names)
    table = pd.DataFrame({f"item_{q + 1}": nm[idx[:, q]] for q in range(3)})
    table["choice"] = nm[idx[np.arange(len(idx)), pos]]
    table.to_csv(out["triplets"], index=False)
    return {k: str(v) for k, v in out.items()}
