"""Human alignment beyond Procrustes: supervised maps into the human space and their statistics.

* :func:`cross_val_map` — a linear map (ridge with its penalty chosen by inner
  cross-validation, or PLS) from a feature set to the human coordinates. Rows of
  the training split get *out-of-fold* predictions (never in-sample); other rows
  get the predictions of a model fitted on the whole training split.
* :func:`statistics` — for one (features, human space) pair: Procrustes disparity
  with a bootstrap 95% CI over images, per-dimension r and R² after alignment,
  RDM comparison (Spearman and Pearson over pairwise distances, with a Mantel
  permutation p-value) and linear CKA.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.spatial.distance import pdist, squareform
from scipy.stats import rankdata

from imagespace import compare

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


def bootstrap_disparity(H, F, n_boot: int = 1000, seed: int = 0) -> dict:
    """Uncertainty of the Procrustes disparity over images, by resampling images with replacement.

    Resampled sets contain repeated images (about 63% distinct), which lets the
    rotation fit them better: the bootstrap distribution sits below the observed
    disparity (``bootstrap_bias``), and its percentile interval can miss the
    observed value. ``ci95`` is therefore the normal interval observed ± 1.96
    bootstrap sd (clipped to [0, 1]); the percentile interval is reported too.
    """
    H = np.asarray(H, dtype=np.float64)
    F, _ = compare.reduce_to(np.asarray(F, dtype=np.float64), H.shape[1])
    obs = compare.fast_disparity(H, F)
    rng = np.random.default_rng(seed)
    vals = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, len(H), len(H))
        vals[b] = compare.fast_disparity(H[idx], F[idx])
    sd = float(vals.std(ddof=1))
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return {
        "bootstrap_sd": sd,
        "bootstrap_bias": float(vals.mean() - obs),
        "ci95": [max(0.0, obs - 1.96 * sd), min(1.0, obs + 1.96 * sd)],
        "ci95_percentile": [float(lo), float(hi)],
        "n_boot": n_boot,
    }


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def rdm_compare(H, F, n_perm: int = 1000, seed: int = 0) -> dict:
    """Correlation of the two representational dissimilarity matrices (Euclidean) with a Mantel test.

    The null permutes the images of one RDM (rows and columns together), the
    same row-shuffling scheme as the Procrustes baseline. p = (1 + #null >= observed) / (1 + n_perm).
    A permutation of the images only reorders the pairwise distances, so their mean
    and spread stay those of the observed ones: each null correlation is one dot
    product, computed for a block of permutations at a time.
    """
    dh = pdist(np.asarray(H, dtype=np.float64))
    df = pdist(np.asarray(F, dtype=np.float64))
    n = len(H)
    out = {"n_pairs": int(len(dh))}
    rng = np.random.default_rng(seed)
    perms = np.array([rng.permutation(n) for _ in range(n_perm)]).reshape(n_perm, n)
    iu, ju = np.triu_indices(n, 1)
    for name, a, b in (("pearson", dh, df), ("spearman", rankdata(dh), rankdata(df))):
        obs = _corr(a, b)
        ac, bc = a - a.mean(), squareform(b - b.mean()).ravel()
        scale = np.sqrt((ac @ ac) * (bc @ bc) / 2)  # bc holds every pair twice
        null = np.empty(n_perm)
        for sl in compare._chunks(n_perm, len(a)):
            P = perms[sl]
            null[sl] = bc[P[:, iu] * n + P[:, ju]] @ ac / scale  # row p: the RDM of F with images permuted by p
        out[name] = obs
        out[f"{name}_p"] = float((1 + np.sum(null >= obs)) / (1 + n_perm))
        out[f"{name}_null_mean"] = float(null.mean())
        out[f"{name}_null_sd"] = float(null.std(ddof=1))
    return out


def category_rdm(F, groups) -> float:
    """Spearman correlation of a representation's RDM with a category RDM (0 = same group, 1 = different).

    How much of the representation's geometry is "same category close, different
    far"; computed for the human space too, as the reference.
    """
    d = rankdata(pdist(np.asarray(F, dtype=np.float64)))
    g = np.asarray(groups).astype(str)
    codes = np.unique(g, return_inverse=True)[1].astype(np.float64)[:, None]
    cat = rankdata((pdist(codes, "hamming") > 0).astype(np.float64))
    if np.ptp(cat) == 0:
        return float("nan")
    return _corr(d, cat)


def category_rdms(H, F, labels=None, subtypes=None) -> dict:
    """{label|subtype: {features: rho, human: rho}} for the groupings that are given."""
    out = {}
    for name, groups in (("label", labels), ("subtype", subtypes)):
        if groups is not None and len(set(map(str, groups))) > 1:
            out[name] = {"features": category_rdm(F, groups), "human": category_rdm(H, groups)}
    return out


def linear_cka(H, F) -> float:
    """Linear centred kernel alignment (Kornblith et al. 2019): 1 = same geometry up to rotation and scale."""
    H = np.asarray(H, dtype=np.float64)
    F = np.asarray(F, dtype=np.float64)
    H = H - H.mean(axis=0)
    F = F - F.mean(axis=0)
    num = np.linalg.norm(F.T @ H, "fro") ** 2
    den = np.linalg.norm(H.T @ H, "fro") * np.linalg.norm(F.T @ F, "fro")
    return float(num / den) if den > 0 else float("nan")


def statistics(H, F, n_perm: int = 1000, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05, labels=None,
               subtypes=None) -> dict:
    """Everything for one (feature set, split, human space): Procrustes + permutation + bootstrap, r, R², RDM, CKA,
    and (given labels/subtypes) both spaces' RDM correlation with the category RDMs."""
    res = compare.compare(H, F, n_perm=n_perm, seed=seed, alpha=alpha)
    Ha, Fa = res["H_aligned"], res["F_aligned"]
    ss = ((Ha - Ha.mean(axis=0)) ** 2).sum(axis=0)
    r2 = 1 - ((Ha - Fa) ** 2).sum(axis=0) / np.where(ss > 0, ss, np.nan)
    out = compare.summary(res)
    out.update({
        "per_dim_r2": [float(v) for v in r2],
        **bootstrap_disparity(H, F, n_boot, seed),
        "rdm": rdm_compare(H, F, n_perm, seed),
        "cka": linear_cka(H, F),
        "category_rdm": category_rdms(H, F, labels, subtypes),
    })
    out["_arrays"] = {k: res[k] for k in compare.ARRAY_KEYS}
    return out
