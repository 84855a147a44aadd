"""The one Procrustes of the library: the reduction of a feature matrix to the human space's dimensions and the
Procrustes disparity of a matrix against a reference (the human space).

Convention on constant input (one behaviour everywhere):

* the **compared** matrix (features, a prediction) with every row the same has nothing to align: its disparity is
  exactly 1 (:data:`CONSTANT_DISPARITY`), the limit where the best translation, scale and rotation explain none
  of the reference;
* the **reference** ``H`` with every row the same is an error (``ValueError`` naming it): there is nothing to
  explain, and every disparity against it is undefined.

:func:`disparity` is ``scipy.spatial.procrustes(H, F)[2]`` with that convention; :func:`fast_disparity` the closed
form used by the permutation tests (equal to rounding); :func:`procrustes_disparity` the full analysis with the
aligned matrices. Plain library code: no Snakemake.
"""

from __future__ import annotations

import logging

import numpy as np

from imagespace.io import rows_all_equal

log = logging.getLogger("imagespace.human.procrustes")

#: the disparity of a compared matrix whose rows are all the same (nothing of the reference explained)
CONSTANT_DISPARITY = 1.0


def as_finite_matrix(X, name: str) -> np.ndarray:
    """*X* as a float64 matrix of at least 3 rows and 1 column (a vector becomes one column), every value finite;
    ``ValueError`` naming *name* otherwise."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {X.shape}")
    if X.shape[0] < 3 or X.shape[1] < 1:
        raise ValueError(f"{name} needs at least 3 rows and 1 column, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return X


def check_pair(H, F) -> tuple[np.ndarray, np.ndarray]:
    """*H* and *F* as finite matrices (:func:`as_finite_matrix`) with the same number of rows."""
    H = as_finite_matrix(H, "human space H")
    F = as_finite_matrix(F, "feature matrix F")
    if H.shape[0] != F.shape[0]:
        raise ValueError(f"H has {H.shape[0]} rows but F has {F.shape[0]}: rows must be aligned one image per row")
    return H, F


def standardise(X: np.ndarray, name: str) -> np.ndarray:
    """Centre columns and scale to unit Frobenius norm (as scipy's procrustes does)."""
    Xc = X - X.mean(axis=0)
    norm = np.linalg.norm(Xc)
    if norm == 0 or rows_all_equal(X):
        raise ValueError(f"{name} has all rows identical (zero variance); Procrustes is undefined")
    return Xc / norm


def is_constant(X: np.ndarray) -> bool:
    """True when every row of *X* is the same: the rows are equal, or (scipy's "> 1 unique points" test) the centred
    matrix is 0. (Equal rows can leave a centred norm of ~1e-16 from the rounding of the mean.)"""
    X = np.asarray(X, dtype=np.float64)
    return rows_all_equal(X) or bool(np.linalg.norm(X - X.mean(axis=0)) == 0)


def disparity(H, F) -> float:
    """Procrustes disparity of the same-shaped matrix *F* against the reference *H*: ``scipy.spatial.procrustes(H,
    F)[2]``, in [0, 1], lower is better.

    Parameters
    ----------
    H : array (n, k)
        The reference (the human space); every row the same raises ``ValueError``.
    F : array (n, k)
        The compared matrix (a prediction, reduced features); every row the same gives exactly
        :data:`CONSTANT_DISPARITY` (1).

    Returns
    -------
    float
    """
    from scipy.spatial import procrustes as _scipy_procrustes

    H = np.asarray(H, dtype=np.float64)
    F = np.asarray(F, dtype=np.float64)
    if is_constant(H):
        raise ValueError("human space H has all rows identical (zero variance); Procrustes is undefined")
    if is_constant(F):
        return CONSTANT_DISPARITY
    return float(_scipy_procrustes(H, F)[2])


def thin_svd(X):
    """``scipy.linalg.svd(X, full_matrices=False)``; when LAPACK's divide-and-conquer driver (gesdd) does not
    converge, which happens on some matrices with repeated rows (bootstrap resamples), the slower QR-based
    gesvd, which does."""
    import scipy.linalg

    try:
        return scipy.linalg.svd(X, full_matrices=False, check_finite=False)
    except np.linalg.LinAlgError:
        log.info("gesdd did not converge on a %d x %d matrix; using gesvd", *X.shape)
        return scipy.linalg.svd(X, full_matrices=False, check_finite=False, lapack_driver="gesvd")


def reduce_to(F, k: int) -> tuple[np.ndarray, str]:
    """Bring the feature matrix ``F`` (n x d) to ``k`` columns.

    * ``d > k``: the first ``k`` principal-component scores of ``F``. PCA is
      fitted on these ``n`` rows (columns centred, SVD); each component's sign
      is fixed so that its loading of largest magnitude is positive, so the
      result is deterministic. If ``F`` has fewer than ``k`` non-trivial
      components (``n <= k``) the remaining columns are zero.
    * ``d == k``: returned unchanged (as float64).
    * ``d < k``: zero columns are appended. This is what Procrustes analysis
      standardly does with matrices of unequal width; the zero columns carry no
      variance and do not change the disparity's meaning.

    Returns ``(F_k, note)`` where *note* says briefly what happened.
    """
    F = as_finite_matrix(F, "feature matrix F")
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n, d = F.shape
    if d == k:
        return F.copy(), f"used as is ({d} dims)"
    if d < k:
        out = np.zeros((n, k))
        out[:, :d] = F
        return out, f"zero-padded from {d} to {k} dims (standard Procrustes padding)"
    Fc = F - F.mean(axis=0)
    U, S, Vt = thin_svd(Fc)
    m = min(k, S.size)
    U, S, Vt = U[:, :m], S[:m], Vt[:m]
    signs = np.sign(Vt[np.arange(m), np.argmax(np.abs(Vt), axis=1)])
    signs[signs == 0] = 1.0
    scores = U * (S * signs)
    total = float(np.sum(Fc**2))
    explained = float(np.sum(S**2) / total) if total > 0 else float("nan")
    out = np.zeros((n, k))
    out[:, :m] = scores
    note = f"PCA from {d} to {k} dims ({explained:.1%} of variance kept)"
    if m < k:
        note += f"; only {m} components exist, {k - m} zero columns added"
    return out, note


def fast_disparity(H, F) -> float:
    """Procrustes disparity of same-shaped ``H`` and ``F`` without forming the alignment.

    Equal (to rounding) to :func:`disparity` (``scipy.spatial.procrustes(H, F)[2]``), with its convention on
    constant input: a constant *F* gives exactly 1, a constant *H* raises ``ValueError``.
    """
    H, F = check_pair(H, F)
    if H.shape != F.shape:
        raise ValueError(f"H {H.shape} and F {F.shape} must have the same shape; use reduce_to first")
    Hs = standardise(H, "H")
    if is_constant(F):
        return CONSTANT_DISPARITY
    Fs = standardise(F, "F")
    s = np.linalg.svd(Hs.T @ Fs, compute_uv=False).sum()
    return float(1.0 - s**2)


def _column_r(A: np.ndarray, B: np.ndarray) -> list[float]:
    Ac = A - A.mean(axis=0)
    Bc = B - B.mean(axis=0)
    den = np.sqrt((Ac**2).sum(axis=0) * (Bc**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (Ac * Bc).sum(axis=0) / den
    r[den == 0] = np.nan
    return [float(v) for v in r]


def procrustes_disparity(H, F) -> dict:
    """Procrustes analysis of the feature space ``F`` onto the human space ``H``.

    ``F`` is first brought to ``k = H.shape[1]`` columns with :func:`reduce_to`.
    ``scipy.spatial.procrustes(H, F_k)`` is called with the human space first,
    so the disparity is the residual sum of squares after optimally
    translating, scaling and rotating/reflecting the feature space onto the
    standardised (centred, unit-norm) human space; it lies in [0, 1].

    Returns a dict with ``disparity``, ``H_aligned`` (standardised human
    space), ``F_aligned`` (feature space after alignment), ``per_dim_r`` (list
    of ``k`` Pearson correlations between corresponding aligned columns; NaN
    where a column is constant), ``mean_r`` (mean of the finite ones),
    ``reduction`` and ``feature_dims``.

    A constant *F* (every row the same) gives disparity exactly 1 (:data:`CONSTANT_DISPARITY`), ``F_aligned`` all
    zeros and NaN correlations; a constant *H* raises ``ValueError``.
    """
    from scipy.spatial import procrustes as _scipy_procrustes

    H, F = check_pair(H, F)
    k = H.shape[1]
    F_k, note = reduce_to(F, k)
    H_std = standardise(H, "human space H")
    if is_constant(F_k):
        H_al, F_al, disparity = H_std, np.zeros_like(H_std), CONSTANT_DISPARITY
    else:
        H_al, F_al, disparity = _scipy_procrustes(H, F_k)
    per_dim = _column_r(H_al, F_al)
    finite = [r for r in per_dim if np.isfinite(r)]
    return {
        "disparity": float(disparity),
        "H_aligned": H_al,
        "F_aligned": F_al,
        "per_dim_r": per_dim,
        "mean_r": float(np.mean(finite)) if finite else float("nan"),
        "reduction": note,
        "feature_dims": int(F.shape[1]),
    }
