"""The matrix that is clustered: features as given or standardized, and the way back to feature units."""

from __future__ import annotations

import numpy as np

from ._base import _as_matrix, log

# the values of clustering.scale
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

    Parameters
    ----------
    X : array-like, shape (n, d)
        The feature matrix.
    how : str
        One of :data:`SCALINGS`.

    Returns
    -------
    X : numpy.ndarray, shape (n, d)
        The matrix to cluster.
    info : dict
        How it was scaled (for :func:`unscale_features` and :func:`scaling_record`).
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
    """Map points of the clustered (scaled) space back to the feature set's units (:func:`scale_features` undone).

    Parameters
    ----------
    Z : array-like, shape (m, d)
        Points of the clustered space.
    info : dict
        The *info* of :func:`scale_features`.

    Returns
    -------
    numpy.ndarray, shape (m, d)
        The points in feature units.
    """
    Z = np.asarray(Z, dtype=np.float64)
    return Z if info["name"] == "none" else Z * info["std"] + info["mean"]


def scaling_record(info: dict, n_columns: int) -> dict:
    """What result.json says about the scaling (no per-column arrays).

    Parameters
    ----------
    info : dict
        The *info* of :func:`scale_features`.
    n_columns : int
        Columns clustered.

    Returns
    -------
    dict
        ``name``, ``n_columns`` and, for ``standardize``, ``constant_columns``.
    """
    out = {"name": info["name"], "n_columns": int(n_columns)}
    if info["name"] == "standardize":
        out["constant_columns"] = int(info["constant_columns"])
    return out
