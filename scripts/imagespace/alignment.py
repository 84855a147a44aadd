"""Supervised maps from a feature set into the human space.

* :func:`cross_val_map` — a linear map (ridge with its penalty chosen by inner
  cross-validation, or PLS) from a feature set to the human coordinates. Rows of
  the training split get *out-of-fold* predictions (never in-sample); other rows
  get the predictions of a model fitted on the whole training split.

The statistics of a (features, human space) pair are in :mod:`imagespace.compare`
(:func:`imagespace.compare.statistics`).
"""

from __future__ import annotations

import logging

import numpy as np


log = logging.getLogger("imagespace.alignment")

DEFAULT_ALPHAS = tuple(np.logspace(-3, 5, 17))


def make_model(method: str = "ridge", alphas=DEFAULT_ALPHAS, max_pls: int = 20, inner_folds: int = 5, seed: int = 0):
    """Standardise features, then ridge (alpha by inner CV) or PLS (components by inner CV).

    The scaler is part of the pipeline the inner CV refits on each inner training
    fold, so the rows that judge a penalty never shape the standardisation.
    """
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    inner = KFold(inner_folds, shuffle=True, random_state=seed)
    if method == "ridge":
        grid = {"ridge__alpha": [float(a) for a in alphas]}
        return GridSearchCV(make_pipeline(StandardScaler(), Ridge()), grid, cv=inner)
    if method == "pls":
        grid = {"plsregression__n_components": list(range(1, max_pls + 1))}
        return GridSearchCV(make_pipeline(StandardScaler(), PLSRegression(scale=False)), grid, cv=inner)
    raise ValueError(f"unknown mapping method {method!r} (ridge or pls)")


def _penalty(model) -> dict:
    """The penalty the inner CV chose; a warning when it lies on the edge of the grid searched."""
    (key, values), = model.param_grid.items()
    chosen = model.best_params_[key]
    if len(values) > 1 and chosen in (values[0], values[-1]):
        log.warning("%s chosen at the edge of the grid searched (%s..%s): widen the grid", key, values[0], values[-1])
    name = key.split("__", 1)[1]
    return {name: float(chosen) if name == "alpha" else int(chosen)}


def cross_val_map(X_train, H_train, X_other=None, method: str = "ridge", folds: int = 5, seed: int = 0, **kw):
    """(out-of-fold predictions for the training rows, predictions for X_other, info).

    The outer folds give every training row a prediction from a model that never
    saw it; the penalty is chosen inside each outer fold by inner CV.
    ``info["affine"]`` is ``(W, b)`` of the model fitted on all training rows:
    new images get ``X @ W + b`` (:func:`apply_map`).
    """
    from sklearn.model_selection import KFold

    X_train = np.asarray(X_train, dtype=np.float64)
    H_train = np.asarray(H_train, dtype=np.float64)
    n = len(X_train)
    folds = max(2, min(int(folds), n))
    oof = np.empty_like(H_train)
    chosen = []
    for tr, te in KFold(folds, shuffle=True, random_state=seed).split(X_train):
        m = make_model(method, seed=seed, max_pls=min(kw.get("max_pls", 20), X_train.shape[1], len(tr) - 2), **{k: v for k, v in kw.items() if k != "max_pls"})
        m.fit(X_train[tr], H_train[tr])
        oof[te] = m.predict(X_train[te])
        chosen.append(_penalty(m))
    full = make_model(method, seed=seed, max_pls=min(kw.get("max_pls", 20), X_train.shape[1], n - 2), **{k: v for k, v in kw.items() if k != "max_pls"})
    full.fit(X_train, H_train)
    other = full.predict(np.asarray(X_other, dtype=np.float64)) if X_other is not None and len(X_other) else None
    W, b = affine_form(full, X_train.shape[1])
    info = {"method": method, "outer_folds": folds, "seed": seed, "fold_penalties": chosen, "final_penalty": _penalty(full),
            "affine": (W, b)}
    log.info("%s map: out-of-fold on %d rows, penalties %s, final %s", method, n, chosen, info["final_penalty"])
    return oof, other, info


def affine_form(model, n_features: int, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """(W, b) with ``model.predict(X) == X @ W + b`` for an affine model (standardise + ridge/PLS).

    Read off the model itself (its prediction at 0 and at each unit vector), so it
    holds for any affine pipeline; used to store a fitted map as plain arrays.
    """
    b = np.asarray(model.predict(np.zeros((1, n_features))), dtype=np.float64)[0]
    W = np.empty((n_features, len(b)))
    for start in range(0, n_features, block):
        stop = min(n_features, start + block)
        E = np.zeros((stop - start, n_features))
        E[np.arange(stop - start), np.arange(start, stop)] = 1.0
        W[start:stop] = np.asarray(model.predict(E), dtype=np.float64) - b
    return W, b


def apply_map(X, W, b) -> np.ndarray:
    """Predictions of a stored map for new rows."""
    X = np.asarray(X, dtype=np.float64)
    if X.shape[1] != W.shape[0]:
        raise ValueError(f"the map expects {W.shape[0]} features, got {X.shape[1]}")
    return X @ W + b


def principal_axes(X, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(scores on the first *k* principal axes, each axis's share of the variance) of a predicted space.

    Its map: the predicted space is already in human-space coordinates, so it is
    only rotated onto its own main axes, not re-embedded.
    """
    Xc = np.asarray(X, dtype=np.float64) - np.asarray(X, dtype=np.float64).mean(axis=0)
    _, s, vt = np.linalg.svd(Xc, full_matrices=False)
    return Xc @ vt[:k].T, s[:k] ** 2 / max((s**2).sum(), 1e-12)
