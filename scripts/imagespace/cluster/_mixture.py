"""Gaussian mixtures (EM): one fit, the scan over the number of components, and samples drawn from a fit."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np

from imagespace.io import Progress, process_map

from ._base import ClusterResult, _as_matrix, log

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.mixture import GaussianMixture


def _gmm_model(
    X, k: int, seed: int, covariance_type: str = "full", n_init: int = 1, reg_covar: float = 1e-6, max_iter: int = 100
) -> GaussianMixture:
    """The fitted mixture (no labels: a scan needs only its criteria)."""
    from sklearn.mixture import GaussianMixture

    model = GaussianMixture(
        n_components=int(k),
        covariance_type=covariance_type,
        n_init=n_init,
        reg_covar=reg_covar,
        max_iter=max_iter,
        random_state=seed,
    ).fit(X)
    if not model.converged_:
        log.warning("GMM k=%d (%s) did not converge in %d iterations", k, covariance_type, max_iter)
    return model


def fit_gmm(
    X,
    k: int,
    seed: int,
    *,
    covariance_type: str = "full",
    n_init: int = 1,
    reg_covar: float = 1e-6,
    max_iter: int = 100,
) -> ClusterResult:
    """Fit a :class:`~sklearn.mixture.GaussianMixture` with *k* components.

    Parameters
    ----------
    X : array-like, shape (n, d)
        The rows to cluster.
    k : int
        Number of components.
    seed : int
        ``random_state`` of the initialisation.
    covariance_type, n_init, reg_covar, max_iter
        As :class:`~sklearn.mixture.GaussianMixture`.

    Returns
    -------
    ClusterResult
        ``labels`` (``model.predict(X)``: the most probable component of each row) and ``model``.
    """
    X = _as_matrix(X)
    model = _gmm_model(X, k, seed, covariance_type, n_init, reg_covar, max_iter)
    return ClusterResult(model.predict(X), model)


def _gmm_row(model: GaussianMixture, X, k: int) -> dict:
    return {
        "k": int(k),
        "bic": float(model.bic(X)),
        "aic": float(model.aic(X)),
        "converged": bool(model.converged_),
        "log_likelihood": float(model.score(X) * X.shape[0]),
    }


def gmm_scan_row(X, k: int, seed: int, **fit_kw) -> dict:
    """One row of :func:`gmm_scan`: ``{k, bic, aic, converged, log_likelihood}``.

    ``log_likelihood`` is the total log-likelihood of *X* (sum over points). *fit_kw*: the keywords of
    :func:`fit_gmm` (covariance_type, n_init, reg_covar, max_iter).

    Parameters
    ----------
    X : array-like, shape (n, d)
        The rows.
    k : int
        Number of components.
    seed : int
        ``random_state`` of the fit.
    **fit_kw
        As :func:`fit_gmm` (covariance_type, n_init, reg_covar, max_iter).

    Returns
    -------
    dict
        ``{k, bic, aic, converged, log_likelihood}``.
    """
    X = _as_matrix(X)
    row = _gmm_row(_gmm_model(X, k, seed, **fit_kw), X, k)
    log.info("GMM scan k=%d: BIC %.6g AIC %.6g", k, row["bic"], row["aic"])
    return row


def _gmm_scan_task(task):
    X, k, seed, fit_kw, keep = task
    model = _gmm_model(X, k, seed, **fit_kw)
    return _gmm_row(model, X, k), (model if keep else None)


def gmm_scan_models(
    X,
    k_values,
    seed: int,
    *,
    covariance_type: str = "full",
    n_init: int = 1,
    reg_covar: float = 1e-6,
    max_iter: int = 100,
    n_jobs: int = 1,
    keep=(),
) -> tuple[pd.DataFrame, dict]:
    """The scan of :func:`gmm_scan` and the fits of the k in *keep*.

    Every k is fitted independently with ``random_state=seed`` (exactly the mixture that
    :func:`fit_gmm` gives for that k), so the k run in *n_jobs* processes, the largest first;
    a kept fit is the one a refit at that k would give. Progress (weighted by k, the cost
    of an EM step) is logged every 30 s with an ETA.

    Parameters
    ----------
    X : array-like, shape (n, d)
        The rows to cluster.
    k_values : iterable of int
        The numbers of components to fit.
    seed : int
        ``random_state`` of every fit.
    covariance_type, n_init, reg_covar, max_iter
        As :func:`fit_gmm`.
    n_jobs : int
        Processes.
    keep : iterable of int
        The k whose fits are returned.

    Returns
    -------
    scan : pandas.DataFrame
        Columns ``k, bic, aic, converged, log_likelihood``.
    fits : dict
        ``{k: ClusterResult}`` for the k in *keep*.
    """
    import pandas as pd

    X = _as_matrix(X)
    ks = [int(k) for k in k_values]
    keep = {int(k) for k in keep}
    fit_kw = dict(covariance_type=covariance_type, n_init=n_init, reg_covar=reg_covar, max_iter=max_iter)
    with Progress(
        f"GMM scan k={ks[0]}..{ks[-1]} (n_init={n_init}, {n_jobs} process{'es' if n_jobs > 1 else ''})", sum(ks)
    ) as prog:
        results = process_map(
            _gmm_scan_task, [(X, k, seed, fit_kw, k in keep) for k in ks], n_jobs, costs=ks, progress=prog
        )
    for row, _ in results:
        log.info(
            "GMM scan k=%d: BIC %.6g AIC %.6g%s",
            row["k"],
            row["bic"],
            row["aic"],
            "" if row["converged"] else " (not converged)",
        )
    df = pd.DataFrame([r for r, _ in results], columns=["k", "bic", "aic", "converged", "log_likelihood"])
    return df, {r["k"]: ClusterResult(m.predict(X), m) for r, m in results if m is not None}


def gmm_scan(X, k_values, seed: int, **kw) -> pd.DataFrame:
    """One mixture per k; columns ``k, bic, aic, converged, log_likelihood`` (:func:`gmm_scan_row` for every k).
    Keywords as :func:`gmm_scan_models` (covariance_type, n_init, reg_covar, max_iter, n_jobs).

    Parameters
    ----------
    X, k_values, seed
        As :func:`gmm_scan_models`.
    **kw
        As :func:`gmm_scan_models`.

    Returns
    -------
    pandas.DataFrame
        Columns ``k, bic, aic, converged, log_likelihood``.
    """
    return gmm_scan_models(X, k_values, seed, **kw)[0]


def gmm_samples(gmm: GaussianMixture, n: int, seed: int) -> np.ndarray:
    """Draw *n* samples from a fitted GaussianMixture, reproducibly for *seed*.

    ``GaussianMixture.sample`` draws with the model's own ``random_state``; we
    sample from a shallow copy whose ``random_state`` is *seed*, so the caller's
    model is not modified and the same seed always gives the same samples.
    sklearn returns the samples grouped by component; they are shuffled (with
    the same seed) so that any prefix is an i.i.d. draw from the mixture.

    Parameters
    ----------
    gmm : sklearn.mixture.GaussianMixture
        A fitted mixture (``ClusterResult.model`` of :func:`fit_gmm`).
    n : int
        Number of samples (at least 1).
    seed : int
        Seed of the draw and of the shuffle.

    Returns
    -------
    numpy.ndarray, shape (n, d)
        The samples, in random order.
    """

    n = int(n)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    model = copy.copy(gmm)
    model.random_state = seed
    samples, _ = model.sample(n)
    return samples[np.random.default_rng(seed).permutation(n)]
