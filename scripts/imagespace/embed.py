"""Manifold embeddings (t-SNE, LLE, metric MDS, Isomap) with every parameter pinned.

scikit-learn changes defaults between releases (1.9: MDS n_init 4 -> 1, new
``init``, tolerance); every parameter used here is therefore set explicitly from
the config, and the effective parameters are written next to each embedding.
"""

from __future__ import annotations

import logging

import numpy as np

from imagespace.util import stratified_sample

log = logging.getLogger("imagespace.embed")

METHODS = ("tsne", "lle", "mds", "isomap")
# methods with an out-of-sample transform (rows outside the fit set can be embedded)
TRANSFORMS = {"lle", "isomap"}
# cost quadratic (or worse) in n: above embeddings.large_n they are fitted on landmarks
QUADRATIC = {"mds", "isomap"}

DEFAULTS = {
    "tsne": {"perplexity": 30.0, "early_exaggeration": 12.0, "learning_rate": "auto", "max_iter": 1000, "init": "pca", "angle": 0.5},
    "lle": {"n_neighbors": 5, "reg": 1e-3, "method": "standard", "eigen_solver": "auto", "tol": 1e-6, "max_iter": 100},
    "mds": {"n_init": 4, "init": "random", "max_iter": 300, "eps": 1e-6, "metric_mds": True, "normalized_stress": "auto"},
    "isomap": {"n_neighbors": 5},
}


def params_for(method: str, overrides: dict | None) -> dict:
    if method not in DEFAULTS:
        raise ValueError(f"unknown embedding method {method!r} (one of {METHODS})")
    p = dict(DEFAULTS[method])
    p.update({k: v for k, v in (overrides or {}).items() if k in DEFAULTS[method]})
    return p


def make_model(method: str, n_components: int, params: dict, seed: int, n_jobs: int = 1):
    from sklearn import manifold

    if method == "tsne":
        return manifold.TSNE(
            n_components=n_components,
            random_state=seed,
            n_jobs=n_jobs,
            method="barnes_hut" if n_components <= 3 else "exact",
            **params,
        )
    if method == "lle":
        return manifold.LocallyLinearEmbedding(n_components=n_components, random_state=seed, n_jobs=n_jobs, **params)
    if method == "mds":
        return manifold.MDS(n_components=n_components, random_state=seed, n_jobs=n_jobs, metric="euclidean", **params)
    if method == "isomap":
        return manifold.Isomap(n_components=n_components, n_jobs=n_jobs, **params)
    raise ValueError(method)


def _distances(Xn: np.ndarray, X_land: np.ndarray, sq_land: np.ndarray) -> np.ndarray:
    """Euclidean distances of a block of rows to the landmarks (``sq_land``: the landmarks' squared norms)."""
    Xn = np.asarray(Xn, dtype=np.float64)
    return np.sqrt(np.maximum((Xn**2).sum(1)[:, None] + sq_land[None, :] - 2 * Xn @ X_land.T, 0.0))


def smacof_extend(X_land, Y_land, X_new, n_iter: int = 50, chunk: int = 2048) -> np.ndarray:
    """Place new points in a metric-MDS map of landmarks: per point, minimise the raw stress to the landmarks.

    Each point starts at the inverse-distance weighted mean of its 5 nearest
    landmarks and takes *n_iter* Guttman-transform steps with the landmarks fixed
    (the majorisation update x <- mean_j [y_j + d_j (x - y_j) / |x - y_j|]).
    """
    X_land = np.asarray(X_land, dtype=np.float64)
    Y_land = np.asarray(Y_land, dtype=np.float64)
    out = np.empty((len(X_new), Y_land.shape[1]))
    sq_land = (X_land**2).sum(1)
    for a in range(0, len(X_new), chunk):
        D = _distances(X_new[a:a + chunk], X_land, sq_land)
        nn = np.argsort(D, axis=1)[:, :5]
        w = 1.0 / (np.take_along_axis(D, nn, 1) + 1e-12)
        Y = (w[:, :, None] * Y_land[nn]).sum(1) / w.sum(1, keepdims=True)
        for _ in range(n_iter):
            diff = Y[:, None, :] - Y_land[None, :, :]
            dist = np.sqrt((diff**2).sum(-1)) + 1e-12
            Y = (Y_land[None, :, :] + (D / dist)[:, :, None] * diff).mean(1)
        out[a:a + chunk] = Y
    return out


def knn_extend(X_land, Y_land, X_new, k: int = 10, chunk: int = 4096) -> np.ndarray:
    """Inverse-distance weighted mean of the k nearest landmarks' embedding coordinates."""
    X_land = np.asarray(X_land, dtype=np.float64)
    sq_land = (X_land**2).sum(1)
    k = min(int(k), len(X_land))
    out = np.empty((len(X_new), Y_land.shape[1]))
    for a in range(0, len(X_new), chunk):
        D = _distances(X_new[a:a + chunk], X_land, sq_land)
        nn = np.argpartition(D, k - 1, axis=1)[:, :k]
        w = 1.0 / (np.take_along_axis(D, nn, 1) + 1e-12)
        out[a:a + chunk] = (w[:, :, None] * Y_land[nn]).sum(1) / w.sum(1, keepdims=True)
    return out


def _transform(model, X, chunk: int = 4096) -> np.ndarray:
    """A fitted model's out-of-sample transform, a block of rows at a time (bounded memory)."""
    return np.vstack([model.transform(np.asarray(X[a:a + chunk], dtype=np.float64)) for a in range(0, len(X), chunk)])


def embed(method: str, X_fit: np.ndarray, n_components: int, params: dict, seed: int, X_other: np.ndarray | None = None, n_jobs: int = 1,
          large_n: int | None = None, landmarks: int = 2000, strata=None):
    """Fit *method* on X_fit; return (Y_fit, Y_other or None, info).

    Rows in X_other are embedded with the model's out-of-sample transform when it
    has one (LLE, Isomap); otherwise Y_other is None.

    Above *large_n* rows, methods whose cost is quadratic in n (metric MDS,
    Isomap, exact t-SNE for k > 3) are fitted on *landmarks* seeded rows
    (stratified by *strata*) and the other rows are placed by an out-of-sample
    extension (MDS: stress minimisation against the landmarks; Isomap: its
    transform; t-SNE: k-nearest-landmark interpolation). ``info["strategy"]`` says
    which strategy ran and on how many points.
    """
    n = X_fit.shape[0]
    p = dict(params)
    quadratic = method in QUADRATIC or (method == "tsne" and n_components > 3)
    if large_n is not None and quadratic and n > int(large_n) and int(landmarks) < n:
        idx = stratified_sample(n, int(landmarks), seed, strata)
        rest = np.setdiff1d(np.arange(n), idx)
        X_rest = X_fit[rest]
        if method == "isomap":  # the landmarks' fit has its own out-of-sample transform
            model = make_model(method, n_components, p, seed, n_jobs).fit(np.asarray(X_fit[idx], dtype=np.float64))
            Y_land, info = model.embedding_, {"method": method, "n_components": n_components, "params": p, "seed": seed}
            Y_rest, how = _transform(model, X_rest), "Isomap transform"
        else:
            Y_land, _, info = embed(method, X_fit[idx], n_components, params, seed, n_jobs=n_jobs)
        if method == "mds":
            Y_rest, how = smacof_extend(X_fit[idx], Y_land, X_rest), "stress minimisation against the landmarks"
        elif method == "tsne":
            Y_rest, how = knn_extend(X_fit[idx], Y_land, X_rest), "10-nearest-landmark interpolation"
        Y = np.empty((n, n_components))
        Y[idx], Y[rest] = Y_land, Y_rest
        info.update({"n_fit": n, "strategy": {"name": "landmarks", "n_landmarks": len(idx), "n_extended": len(rest),
                                              "extension": how, "large_n": int(large_n), "stratified": strata is not None}})
        log.info("%s: %d > large_n %d: fitted on %d landmarks, %d rows placed by %s", method, n, large_n, len(idx), len(rest), how)
        Y_other = None
        if X_other is not None and len(X_other) and method in TRANSFORMS:  # Isomap: the landmarks' transform
            Y_other = _transform(model, X_other)
            info["n_transformed"] = len(X_other)
        return Y, Y_other, info
    if method == "tsne" and p["perplexity"] >= n:
        p["perplexity"] = max(2.0, (n - 1) / 3.0)
        log.warning("t-SNE perplexity lowered to %.1f for %d points", p["perplexity"], n)
    if method in ("lle", "isomap") and p["n_neighbors"] >= n:
        p["n_neighbors"] = n - 1
    if method == "lle" and p.get("eigen_solver") == "auto" and large_n is not None and n > int(large_n):
        # scikit-learn's "auto" picks the dense solver (n x n, O(n^3)) for 9+ dimensions
        p["eigen_solver"] = "arpack"
        log.info("lle: %d > large_n %d: sparse eigen-solver (arpack)", n, large_n)
    model = make_model(method, n_components, p, seed, n_jobs)
    Y = model.fit_transform(np.asarray(X_fit, dtype=np.float64))
    info = {"method": method, "n_components": n_components, "n_fit": n, "params": p, "seed": seed,
            "strategy": {"name": "exact", "n_points": n, **({"solver": model.method} if method == "tsne" else {})}}
    for attr in ("stress_", "kl_divergence_", "reconstruction_error_", "n_iter_"):
        if hasattr(model, attr):
            info[attr.rstrip("_")] = float(getattr(model, attr))
    Y_other = None
    if X_other is not None and len(X_other):
        if method in TRANSFORMS:
            Y_other = _transform(model, X_other)
            info["n_transformed"] = len(X_other)
        else:
            info["n_transformed"] = 0
    log.info("%s %d-D on %d points: %s", method, n_components, n, {k: v for k, v in info.items() if k not in ("params",)})
    return Y, Y_other, info
