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

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: pandas loads in the functions that use it
    import pandas as pd

import logging

import numpy as np

from imagespace.io import InputError

from . import kinds
from .kinds import split_names
from .ordinal import soe, triplet_accuracy  # noqa: F401 (re-exported)
from .scaling import (  # noqa: F401 (re-exported)
    choose_dims,
    figures_of_fit,
    fill_missing,
    mds,
    plot_shepard,
    plot_stress_curve,
    stress1,
    stress_curve,
    torgerson,
)

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
    import pandas as pd

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
    from scipy.spatial.distance import pdist, squareform

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
