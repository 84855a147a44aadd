"""Manifold embeddings (t-SNE, LLE, metric MDS, Isomap) with every parameter pinned.

scikit-learn changes defaults between releases (1.9: MDS n_init 4 -> 1, new
``init``, tolerance); every parameter used here is therefore set explicitly from
the config, and the effective parameters are written next to each embedding.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger("imagespace.embed")

METHODS = ("tsne", "lle", "mds", "isomap")
# methods with an out-of-sample transform (rows outside the fit set can be embedded)
TRANSFORMS = {"lle", "isomap"}

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


def embed(method: str, X_fit: np.ndarray, n_components: int, params: dict, seed: int, X_other: np.ndarray | None = None, n_jobs: int = 1):
    """Fit *method* on X_fit; return (Y_fit, Y_other or None, info).

    Rows in X_other are embedded with the model's out-of-sample transform when it
    has one (LLE, Isomap); otherwise Y_other is None.
    """
    n = X_fit.shape[0]
    p = dict(params)
    if method == "tsne" and p["perplexity"] >= n:
        p["perplexity"] = max(2.0, (n - 1) / 3.0)
        log.warning("t-SNE perplexity lowered to %.1f for %d points", p["perplexity"], n)
    if method in ("lle", "isomap") and p["n_neighbors"] >= n:
        p["n_neighbors"] = n - 1
    model = make_model(method, n_components, p, seed, n_jobs)
    Y = model.fit_transform(np.asarray(X_fit, dtype=np.float64))
    info = {"method": method, "n_components": n_components, "n_fit": n, "params": p, "seed": seed}
    for attr in ("stress_", "kl_divergence_", "reconstruction_error_", "n_iter_"):
        if hasattr(model, attr):
            info[attr.rstrip("_")] = float(getattr(model, attr))
    Y_other = None
    if X_other is not None and len(X_other):
        if method in TRANSFORMS:
            Y_other = model.transform(np.asarray(X_other, dtype=np.float64))
            info["n_transformed"] = len(X_other)
        else:
            info["n_transformed"] = 0
    log.info("%s %d-D on %d points: %s", method, n_components, n, {k: v for k, v in info.items() if k not in ("params",)})
    return Y, Y_other, info
