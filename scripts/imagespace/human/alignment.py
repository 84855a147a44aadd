"""Supervised maps from a feature set into the human space.

* :func:`cross_val_map` — a linear map (ridge with its penalty chosen by inner
  cross-validation, PLS with its components chosen so, or ``auto``: the inner CV
  chooses between the two as well) from a feature set to the human coordinates. Rows of
  the training split get *out-of-fold* predictions (never in-sample); other rows
  get the predictions of a model fitted on the whole training split.

The statistics of a (features, human space) pair are in :mod:`imagespace.human.comparison`
(:func:`imagespace.human.comparison.statistics`).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger("imagespace.human.alignment")

DEFAULT_ALPHAS = tuple(np.logspace(-3, 5, 17))
METHODS = ("ridge", "pls", "auto")  # alignment.method; auto: the inner CV chooses between ridge and PLS


#: a feature's standard deviation is floored at this share of the median feature's before standardising
SCALE_FLOOR = 0.01


def floor_scaler(rel_floor: float = SCALE_FLOOR):
    """scikit-learn's StandardScaler whose scales are floored at *rel_floor* x the median scale of the fitted rows.

    A feature (almost) constant on the training rows, e.g. a channel of a network that is ~0 on every training
    image, gets a standard deviation near 0; a new image where it is slightly active then gets a standardised
    value of thousands, and one such image can dominate a whole split's predictions (seen on the rocks: one
    validation photo, z = 5912 on the pooled head of EfficientNet-Lite0, its predicted coordinates 23x the
    median distance from the centre, the split's disparity 0.86 instead of ~0.5). The floor leaves every
    feature with a usable spread as it is.
    """
    from sklearn.preprocessing import StandardScaler

    class FloorScaler(StandardScaler):
        def fit(self, X, y=None, sample_weight=None):
            super().fit(X, y, sample_weight)
            if self.scale_ is not None and len(self.scale_):
                self.scale_ = np.maximum(self.scale_, rel_floor * float(np.median(self.scale_)))
            return self

    return FloorScaler()


def make_model(method: str = "ridge", alphas=DEFAULT_ALPHAS, max_pls: int = 20, inner_folds: int = 5, seed: int = 0):
    """Standardise features (:func:`floor_scaler`), then ridge (alpha by inner CV), PLS (components by inner CV) or
    ``auto`` (one inner CV over both: every ridge alpha and every PLS component count compete).

    The scaler is part of the pipeline the inner CV refits on each inner training
    fold, so the rows that judge a penalty never shape the standardisation. With
    ``auto`` the pipeline's last step ``reg`` is itself a searched parameter
    (a grid of two dicts), so the choice of method is made like that of a penalty.
    """
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.pipeline import Pipeline, make_pipeline

    inner = KFold(inner_folds, shuffle=True, random_state=seed)
    alphas = [float(a) for a in alphas]
    components = list(range(1, max(1, int(max_pls)) + 1))
    if method == "ridge":
        return GridSearchCV(make_pipeline(floor_scaler(), Ridge()), {"ridge__alpha": alphas}, cv=inner)
    if method == "pls":
        return GridSearchCV(
            make_pipeline(floor_scaler(), PLSRegression(scale=False)),
            {"plsregression__n_components": components},
            cv=inner,
        )
    if method == "auto":
        grid = [
            {"reg": [Ridge()], "reg__alpha": alphas},
            {"reg": [PLSRegression(scale=False)], "reg__n_components": components},
        ]
        return GridSearchCV(Pipeline([("scale", floor_scaler()), ("reg", Ridge())]), grid, cv=inner)
    raise ValueError(f"unknown mapping method {method!r} ({', '.join(METHODS)})")


def _method_of(estimator) -> str:
    from sklearn.cross_decomposition import PLSRegression

    return "pls" if isinstance(estimator, PLSRegression) else "ridge"


def _penalty(model) -> dict:
    """The method and penalty the inner CV chose (``{"method": "ridge", "alpha": a}`` or
    ``{"method": "pls", "n_components": c}``); a warning when the penalty lies on the edge of that
    method's grid."""
    grids = model.param_grid if isinstance(model.param_grid, list) else [model.param_grid]
    best = model.best_params_
    if "reg" in best:  # auto: the grid whose estimator won
        method = _method_of(best["reg"])
        grid = next(g for g in grids if _method_of(g["reg"][0]) == method)
        key = "reg__alpha" if method == "ridge" else "reg__n_components"
    else:
        (grid,) = grids
        (key,) = grid
        method = "ridge" if key.startswith("ridge__") else "pls"
    values, chosen = grid[key], best[key]
    if len(values) > 1 and chosen in (values[0], values[-1]):
        log.warning(
            "%s: %s chosen at the edge of the grid searched (%s..%s): widen the grid",
            method,
            key.split("__", 1)[1],
            values[0],
            values[-1],
        )
    name = key.split("__", 1)[1]
    return {"method": method, name: float(chosen) if name == "alpha" else int(chosen)}


def cross_val_map(X_train, H_train, X_other=None, method: str = "ridge", folds: int = 5, seed: int = 0, **kw):
    """(out-of-fold predictions for the training rows, predictions for X_other, info).

    The outer folds give every training row a prediction from a model that never
    saw it; the penalty (and with ``method="auto"`` the method) is chosen inside each
    outer fold by inner CV, so the choice never sees the rows it predicts; the final
    model's choice comes from inner CV on all training rows.
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
        m = make_model(
            method,
            seed=seed,
            max_pls=min(kw.get("max_pls", 20), X_train.shape[1], len(tr) - 2),
            **{k: v for k, v in kw.items() if k != "max_pls"},
        )
        m.fit(X_train[tr], H_train[tr])
        oof[te] = m.predict(X_train[te])
        chosen.append(_penalty(m))
    full = make_model(
        method,
        seed=seed,
        max_pls=min(kw.get("max_pls", 20), X_train.shape[1], n - 2),
        **{k: v for k, v in kw.items() if k != "max_pls"},
    )
    full.fit(X_train, H_train)
    other = full.predict(np.asarray(X_other, dtype=np.float64)) if X_other is not None and len(X_other) else None
    W, b = affine_form(full, X_train.shape[1])
    info = {
        "method": method,
        "outer_folds": folds,
        "seed": seed,
        "fold_penalties": chosen,
        "final_penalty": _penalty(full),
        "affine": (W, b),
    }
    log.info("%s map: out-of-fold on %d rows, penalties %s, final %s", method, n, chosen, info["final_penalty"])
    return oof, other, info


#: a predicted row this many times the median distance of the training rows' predictions from their centre is flagged
EXTREME_FACTOR = 10.0


def extreme_rows(reference, Y, ids, factor: float = EXTREME_FACTOR) -> list[dict]:
    """Rows of predictions *Y* (ids *ids*) lying at least *factor* x the median distance of the *reference*
    predictions from their centre: ``[{"id", "ratio"}]``, farthest first. One such row dominates a Procrustes
    disparity (its squared distance outweighs the rest), so the split's score describes that image, not the map."""
    R, Y = np.asarray(reference, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    centre = R.mean(axis=0)
    scale = float(np.median(np.linalg.norm(R - centre, axis=1)))
    if not len(Y) or scale <= 0:
        return []
    ratio = np.linalg.norm(Y - centre, axis=1) / scale
    out = [{"id": str(ids[i]), "ratio": round(float(ratio[i]), 1)} for i in np.argsort(-ratio) if ratio[i] >= factor]
    return out


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
