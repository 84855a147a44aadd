"""Feature files: one row per image, rows keyed by the manifest's ``id`` (``results/<dataset>/features/<name>.npz``).

The registry of which feature sets exist is :mod:`imagespace.featuresets`; this module only reads and writes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from ._atomic import save_npz, to_jsonable


@dataclass
class FeatureFile:
    """The content of one feature file: a matrix, the image id of each row, and metadata."""

    X: np.ndarray
    ids: np.ndarray
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.ids = np.asarray(self.ids).astype(str)
        if self.X.ndim != 2 or self.X.shape[0] != len(self.ids):
            raise ValueError(f"feature matrix {self.X.shape} does not match {len(self.ids)} ids")
        if len(set(self.ids.tolist())) != len(self.ids):
            raise ValueError("feature set has duplicate ids")

    def rows(self, ids) -> np.ndarray:
        """Rows for *ids*, in that order. Missing ids are an error, never silently dropped."""
        index = {k: i for i, k in enumerate(self.ids.tolist())}
        ids = [str(i) for i in ids]
        missing = [i for i in ids if i not in index]
        if missing:
            raise KeyError(f"{len(missing)} ids not in feature set (first: {missing[:3]})")
        return self.X[[index[i] for i in ids]]


def save_features(path, X, ids, **meta) -> None:
    """Write a feature file atomically (the matrix as float32).

    Parameters
    ----------
    path
        The ``.npz`` file.
    X
        The matrix, one row per id.
    ids
        The image id of each row (unique).
    **meta
        Metadata, stored as JSON.
    """
    fs = FeatureFile(np.asarray(X, dtype=np.float32), ids, meta)
    save_npz(path, X=fs.X, ids=fs.ids, meta=np.array(json.dumps(to_jsonable(meta))))


def load_features(path) -> FeatureFile:
    """Read a feature file written by :func:`save_features`.

    Parameters
    ----------
    path
        The ``.npz`` file.

    Returns
    -------
    FeatureFile
        Its matrix, ids and metadata.
    """
    with np.load(path, allow_pickle=False) as z:
        return FeatureFile(z["X"], z["ids"], json.loads(str(z["meta"])))


def rows_all_equal(X) -> bool:
    """True when every row of *X* is the same (a collapsed network, constant features).

    Such a set carries no information, and Procrustes, probes and paired comparisons are undefined on it.

    Parameters
    ----------
    X
        A matrix (rows are images).

    Returns
    -------
    bool
        Whether it has rows and they are all equal.
    """
    X = np.asarray(X)
    return len(X) > 0 and not (X != X[0]).any()
