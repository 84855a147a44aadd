"""Manifold embeddings (t-SNE, LLE, metric MDS, Isomap, UMAP, openTSNE) with every parameter pinned.

scikit-learn changes defaults between releases (1.9: MDS n_init 4 -> 1, new
``init``, tolerance); every parameter used here is therefore set explicitly from
the config, and the effective parameters are written next to each embedding.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from imagespace.io import Progress
from imagespace.sampling import stratified_sample

log = logging.getLogger("imagespace.embed")


@dataclass(frozen=True)
class Method:
    """One embedding method: its estimator and what it can do.

    Adding a method: a ``Method`` entry in :data:`METHODS` here, its parameter block
    (with defaults) and enum entry in the config schema, and a test. Every rule,
    map, comparison, clustering and the leaderboard pick it up from this table.
    """

    name: str
    title: str
    build: Callable[[int, dict, int, int], object]  # (n_components, params, seed, n_jobs) -> estimator
    transform: bool = False  # out-of-sample transform: rows outside the fit split are embedded too
    quadratic: Callable[[int], bool] = lambda k: False  # cost quadratic in n at k dimensions: landmarks above large_n
    extension: str = "knn"  # how rows beyond the landmarks are placed: transform, stress or knn
    adjust: Callable[[dict, int, int | None], dict] = lambda p, n, large_n: p  # parameters for n fitted rows
    max_components: int | None = None  # the most dimensions the method embeds into (None: any)
    # the method's own parameter that, when set, is both a threshold and a landmark count: more fitted rows than
    # its value are fitted on that many landmarks and the others placed by the extension (cost superlinear in n)
    landmarks_param: str | None = None

    def __post_init__(self):
        if self.extension not in EXTENSIONS:
            raise ValueError(
                f"embedding method {self.name!r}: extension {self.extension!r} is not one of {sorted(EXTENSIONS)}"
            )
        if self.extension == "transform" and not self.transform:
            raise ValueError(f"embedding method {self.name!r}: extension 'transform' needs transform=True")


EXTENSIONS = {
    "transform": "{title} transform",
    "stress": "stress minimisation against the landmarks",
    "knn": "10-nearest-landmark interpolation",
}


def _tsne(k, p, seed, n_jobs):
    from sklearn.manifold import TSNE

    p = {key: v for key, v in p.items() if key != "fft_above"}
    return TSNE(n_components=k, random_state=seed, n_jobs=n_jobs, method="barnes_hut" if k <= 3 else "exact", **p)


def _tsne_adjust(p, n, large_n):
    if p["perplexity"] >= n:
        p["perplexity"] = max(2.0, (n - 1) / 3.0)
        log.warning("t-SNE perplexity lowered to %.1f for %d points", p["perplexity"], n)
    return p


def _lle(k, p, seed, n_jobs):
    from sklearn.manifold import LocallyLinearEmbedding

    p = {key: v for key, v in p.items() if key != "landmarks_above"}
    return LocallyLinearEmbedding(n_components=k, random_state=seed, n_jobs=n_jobs, **p)


def _lle_adjust(p, n, large_n):
    p = _fewer_neighbours(p, n, large_n)
    if p.get("eigen_solver") == "auto" and large_n is not None and n > int(large_n):
        # scikit-learn's "auto" picks the dense solver (n x n, O(n^3)) for 9+ dimensions
        p["eigen_solver"] = "arpack"
        log.info("lle: %d > large_n %d: sparse eigen-solver (arpack)", n, large_n)
    return p


def check_lle(p: dict, n_components: int) -> None:
    """One clear line for LLE variants that cannot embed into *n_components* dimensions with these neighbours:
    modified LLE needs n_neighbors >= n_components, Hessian LLE n_neighbors > n_components (n_components + 3) / 2."""
    k, d, variant = int(p["n_neighbors"]), int(n_components), p["method"]
    need = {"modified": d, "hessian": d * (d + 3) // 2 + 1}.get(variant)
    if need is not None and k < need:
        raise ValueError(
            f"embeddings.lle: method {variant!r} into {d} dimensions needs n_neighbors >= {need}, not {k} "
            "(raise embeddings.lle.n_neighbors, or set embeddings.n_components)"
        )


def _fewer_neighbours(p, n, large_n):
    if p["n_neighbors"] >= n:
        p["n_neighbors"] = n - 1
    return p


def _mds(k, p, seed, n_jobs):
    from sklearn.manifold import MDS

    return MDS(n_components=k, random_state=seed, n_jobs=n_jobs, metric="euclidean", **p)


def _isomap(k, p, seed, n_jobs):
    from sklearn.manifold import Isomap

    return Isomap(n_components=k, n_jobs=n_jobs, **p)


def _umap(k, p, seed, n_jobs):
    # numba compiles UMAP's and pynndescent's kernels on first use; those marked cache=True are kept on disk
    # (beside the installed package, or in NUMBA_CACHE_DIR), so an environment pays that once, not in every job
    import umap

    return umap.UMAP(n_components=k, random_state=seed, n_jobs=1, **p)


class OpenTSNE:
    """openTSNE behind scikit-learn's fit_transform / transform: FFT-accelerated interpolation in 1-2 dimensions
    (linear in n), Barnes-Hut in 3; ``transform`` places new rows in the fitted embedding."""

    progress = None  # a Progress while fitting (_fit_progress)

    def __init__(self, n_components, seed, n_jobs, **p):
        self.n_components, self.seed, self.n_jobs, self.p = n_components, seed, n_jobs, p
        self.method = "fft" if n_components <= 2 else "bh"
        self.embedding_ = None

    def fit_transform(self, X):
        import openTSNE

        ee, seen = int(self.p["early_exaggeration_iter"]), {"phase": 0, "last": 0}

        def report(iteration, error, embedding):  # iterations across both phases, into the progress while one is set
            if iteration < seen["last"]:  # the second phase counts from 0 again
                seen["phase"] = ee
            seen["last"] = iteration
            if self.progress is not None:
                self.progress.add(seen["phase"] + iteration - self.progress.done)
            return False  # never stop the optimisation

        self.embedding_ = openTSNE.TSNE(
            n_components=self.n_components,
            random_state=self.seed,
            n_jobs=self.n_jobs,
            negative_gradient_method=self.method,
            verbose=False,
            callbacks=report,
            callbacks_every_iters=50,
            **self.p,
        ).fit(X)
        self.kl_divergence_ = float(self.embedding_.kl_divergence)
        return np.asarray(self.embedding_)

    def transform(self, X):
        return np.asarray(self.embedding_.transform(np.asarray(X, dtype=np.float64)))


def _opentsne(k, p, seed, n_jobs):
    return OpenTSNE(k, seed, n_jobs, **p)


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("tsne", "t-SNE", _tsne, quadratic=lambda k: k > 3, extension="knn", adjust=_tsne_adjust),
        Method(
            "lle",
            "LLE",
            _lle,
            transform=True,
            extension="transform",
            adjust=_lle_adjust,
            landmarks_param="landmarks_above",
        ),
        Method("mds", "metric MDS", _mds, quadratic=lambda k: True, extension="stress"),
        Method(
            "isomap",
            "Isomap",
            _isomap,
            transform=True,
            quadratic=lambda k: True,
            extension="transform",
            adjust=_fewer_neighbours,
        ),
        Method("umap", "UMAP", _umap, transform=True, adjust=_fewer_neighbours),
        Method("opentsne", "openTSNE", _opentsne, transform=True, adjust=_tsne_adjust, max_components=3),
    )
}
# methods that solve on a nearest-neighbour graph (a disconnected graph leaves them degenerate)
NEIGHBOUR_GRAPH = {"lle", "isomap"}
# methods with an out-of-sample transform (rows outside the fit set can be embedded)
TRANSFORMS = {name for name, m in METHODS.items() if m.transform}


def method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"unknown embedding method {name!r} (one of {sorted(METHODS)})")
    return METHODS[name]


def params_for(name: str, overrides: dict | None) -> dict:
    """The method's parameters: the schema's defaults, overridden by *overrides* (unknown keys are errors)."""
    from imagespace.config import defaults, load_schema

    method(name)
    p = defaults(load_schema(), "embeddings")[name]
    unknown = sorted(set(overrides or {}) - set(p))
    if unknown:
        raise ValueError(f"embeddings.{name}: unknown parameter(s) {unknown} (valid: {sorted(p)})")
    p.update(overrides or {})
    return p


def make_model(name: str, n_components: int, params: dict, seed: int, n_jobs: int = 1):
    return method(name).build(n_components, params, seed, n_jobs)


def _distances(Xn: np.ndarray, X_land: np.ndarray, sq_land: np.ndarray) -> np.ndarray:
    """Euclidean distances of a block of rows to the landmarks (``sq_land``: the landmarks' squared norms)."""
    Xn = np.asarray(Xn, dtype=np.float64)
    return np.sqrt(np.maximum((Xn**2).sum(1)[:, None] + sq_land[None, :] - 2 * Xn @ X_land.T, 0.0))


def smacof_extend(X_land, Y_land, X_new, n_iter: int = 50, chunk: int = 2048) -> np.ndarray:
    """Place new points in a metric-MDS map of landmarks: per point, minimise the raw stress to the landmarks.

    Each point starts at the inverse-distance weighted mean of its 5 nearest
    landmarks and takes *n_iter* Guttman-transform steps with the landmarks fixed:
    x <- mean_j [y_j + d_j (x - y_j) / |x - y_j|], computed as
    mean(y) + (x * sum_j w_j - sum_j w_j y_j) / m with w_j = d_j / |x - y_j|, so a step
    needs arrays of n x m, not n x m x dims.
    """
    X_land = np.asarray(X_land, dtype=np.float64)
    Y_land = np.asarray(Y_land, dtype=np.float64)
    m = len(Y_land)
    out = np.empty((len(X_new), Y_land.shape[1]))
    sq_land = (X_land**2).sum(1)
    y_mean = Y_land.mean(0)
    for a in range(0, len(X_new), chunk):
        D = _distances(X_new[a : a + chunk], X_land, sq_land)
        nn = np.argsort(D, axis=1)[:, :5]
        w = 1.0 / (np.take_along_axis(D, nn, 1) + 1e-12)
        Y = (w[:, :, None] * Y_land[nn]).sum(1) / w.sum(1, keepdims=True)
        for _ in range(n_iter):
            dist = np.zeros_like(D)
            for c in range(Y.shape[1]):  # |x - y_j| one coordinate at a time: no n x m x dims array
                dist += (Y[:, c : c + 1] - Y_land[None, :, c]) ** 2
            W = D / (np.sqrt(dist) + 1e-12)
            Y = y_mean + (Y * W.sum(1, keepdims=True) - W @ Y_land) / m
        out[a : a + chunk] = Y
    return out


def knn_extend(X_land, Y_land, X_new, k: int = 10, chunk: int = 4096) -> np.ndarray:
    """Inverse-distance weighted mean of the k nearest landmarks' embedding coordinates."""
    X_land = np.asarray(X_land, dtype=np.float64)
    sq_land = (X_land**2).sum(1)
    k = min(int(k), len(X_land))
    out = np.empty((len(X_new), Y_land.shape[1]))
    for a in range(0, len(X_new), chunk):
        D = _distances(X_new[a : a + chunk], X_land, sq_land)
        nn = np.argpartition(D, k - 1, axis=1)[:, :k]
        w = 1.0 / (np.take_along_axis(D, nn, 1) + 1e-12)
        out[a : a + chunk] = (w[:, :, None] * Y_land[nn]).sum(1) / w.sum(1, keepdims=True)
    return out


def _transform(model, X, chunk: int = 4096) -> np.ndarray:
    """A fitted model's out-of-sample transform, a block of rows at a time (bounded memory)."""
    return np.vstack([model.transform(np.asarray(X[a : a + chunk], dtype=np.float64)) for a in range(0, len(X), chunk)])


def embed(
    method_name: str,
    X_fit: np.ndarray,
    n_components: int,
    params: dict,
    seed: int,
    X_other: np.ndarray | None = None,
    n_jobs: int = 1,
    large_n: int | None = None,
    landmarks: int = 2000,
    strata=None,
):
    """Fit *method* on X_fit; return (Y_fit, Y_other or None, info).

    Rows in X_other are embedded with the model's out-of-sample transform when it
    has one (LLE, Isomap); otherwise Y_other is None.

    Above *large_n* rows, methods whose cost is quadratic in n (metric MDS,
    Isomap, exact t-SNE for k > 3) are fitted on *landmarks* seeded rows
    (stratified by *strata*) and the other rows are placed by an out-of-sample
    extension (MDS: stress minimisation against the landmarks; Isomap: its
    transform; t-SNE: k-nearest-landmark interpolation). A method with its own
    landmark parameter (LLE's ``landmarks_above``) does the same above that many
    rows, on that many landmarks (LLE: placed by its transform). ``info["strategy"]``
    says which strategy ran and on how many points.
    """
    n = X_fit.shape[0]
    m = method(method_name)
    if m.max_components is not None and n_components > m.max_components:
        raise ValueError(
            f"embedding method {m.name!r} embeds into at most {m.max_components} dimensions, not "
            f"{n_components} (embeddings.n_components); use it for the 2-D maps only, or set n_components"
        )
    if m.name == "lle":
        check_lle(params, n_components)
    own = params.get(m.landmarks_param) if m.landmarks_param else None
    if large_n is not None and m.quadratic(n_components) and n > int(large_n) and int(landmarks) < n:
        n_land, why, fit_large_n = int(landmarks), {"large_n": int(large_n)}, None
    elif own is not None and n > int(own):
        # the method's own threshold (LLE's landmarks_above): fitted on that many landmarks, as large_n says
        n_land, why, fit_large_n = int(own), {m.landmarks_param: int(own)}, large_n
    else:
        n_land = None
    if n_land is not None:
        idx = stratified_sample(n, n_land, seed, strata)
        rest = np.setdiff1d(np.arange(n), idx)
        X_rest = X_fit[rest]
        model, Y_land, info = _fit(m, X_fit[idx], n_components, params, seed, n_jobs, fit_large_n)
        if m.extension == "transform":
            Y_rest = _transform(model, X_rest)
        elif m.extension == "stress":
            Y_rest = smacof_extend(X_fit[idx], Y_land, X_rest)
        else:
            Y_rest = knn_extend(X_fit[idx], Y_land, X_rest)
        how = EXTENSIONS[m.extension].format(title=m.title)
        Y = np.empty((n, n_components))
        Y[idx], Y[rest] = Y_land, Y_rest
        info.update(
            {
                "n_fit": n,
                "strategy": {
                    "name": "landmarks",
                    "n_landmarks": len(idx),
                    "n_extended": len(rest),
                    "extension": how,
                    **why,
                    "stratified": strata is not None,
                },
            }
        )
        log.info(
            "%s: %d rows > %s %d: fitted on %d landmarks, %d rows placed by %s",
            m.name,
            n,
            *next(iter(why.items())),
            len(idx),
            len(rest),
            how,
        )
    else:
        model, Y, info = _fit(m, X_fit, n_components, params, seed, n_jobs, large_n)
    Y_other = None
    if X_other is not None and len(X_other):
        if m.transform:  # with landmarks: the landmarks' model
            Y_other = _transform(model, X_other)
            info["n_transformed"] = len(X_other)
        else:
            info["n_transformed"] = 0
    log.info(
        "%s %d-D on %d points: %s", m.name, n_components, n, {k: v for k, v in info.items() if k not in ("params",)}
    )
    return Y, Y_other, info


SKLEARN_EXPLORATION_ITER = 250  # scikit-learn's t-SNE runs its first 250 iterations with early exaggeration


def tsne_as_opentsne(p: dict, n: int) -> dict:
    """The ``embeddings.tsne`` block (scikit-learn's names) for *n* rows as openTSNE parameters: the same perplexity,
    early exaggeration, total iterations and initialisation, and scikit-learn's learning rate. scikit-learn's
    "auto" is max(n / early_exaggeration / 4, 50) in both phases, on a gradient 4 times openTSNE's: openTSNE's
    n / early_exaggeration. (openTSNE's own "auto" steps n / 1 after the exaggeration: on 20,000 Fashion-MNIST
    rows the map then spreads wider, its FFT grid grows, and it took 93 s instead of 65 s, with the same
    trustworthiness.)"""
    total = int(p["max_iter"])
    ee = min(SKLEARN_EXPLORATION_ITER, total)
    lr = p["learning_rate"]
    if lr == "auto":
        lr = max(n / float(p["early_exaggeration"]), 200.0)
    else:
        lr = 4.0 * float(lr)
    return {
        "perplexity": float(p["perplexity"]),
        "early_exaggeration": float(p["early_exaggeration"]),
        "early_exaggeration_iter": ee,
        "n_iter": total - ee,
        "learning_rate": lr,
        "initialization": p["init"],
    }


def _fit(m: Method, X, n_components: int, params: dict, seed: int, n_jobs: int, large_n):
    """Fit one method exactly on X: (model, Y, info)."""
    n = X.shape[0]
    p = m.adjust(dict(params), n, large_n)
    build, how = m.build, None
    fft_above = p.get("fft_above") if m.name == "tsne" else None
    if fft_above is not None and n_components <= 2 and n > int(fft_above):
        # Barnes-Hut grows as n log n with a large constant: above fft_above rows, openTSNE's FFT gradients
        build, how = (lambda k, _p, s, j: OpenTSNE(k, s, j, **tsne_as_opentsne(_p, n))), "openTSNE FFT"
        log.info("t-SNE on %d > fft_above %d rows: openTSNE's FFT-accelerated gradients", n, int(fft_above))
    model = build(n_components, p, seed, n_jobs)
    with _fit_progress(m.name, model, n):
        Y = model.fit_transform(np.asarray(X, dtype=np.float64))
    solver = (how or model.method) if m.name in ("tsne", "opentsne") else None
    info = {
        "method": m.name,
        "n_components": n_components,
        "n_fit": n,
        "params": p,
        "seed": seed,
        "strategy": {"name": "exact", "n_points": n, **({"solver": solver} if solver else {})},
    }
    for attr in ("stress_", "kl_divergence_", "reconstruction_error_", "n_iter_"):
        if hasattr(model, attr):
            info[attr.rstrip("_")] = float(getattr(model, attr))
    return model, Y, info


# iteration lines of scikit-learn's verbose t-SNE ("[t-SNE] Iteration 50: ...", every 50) and MDS ("Iteration 3, stress
# ...")
_ITERATION_LINES = {
    "tsne": re.compile(r"\[t-SNE\] Iteration (\d+):"),
    "mds": re.compile(r"^Iteration (\d+), stress", re.M),
}


class _IterationCounter(io.TextIOBase):
    """A stdout that turns an estimator's verbose iteration lines into progress (restarts add up)."""

    def __init__(self, pattern, prog: Progress):
        self.pattern, self.prog, self.base, self.last = pattern, prog, 0, 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        for match in self.pattern.finditer(text):
            it = int(match.group(1))
            if it < self.last:  # the next restart (MDS n_init)
                self.base += self.last
                self.last = 0
            self.prog.add(self.base + it - self.prog.done)
            self.last = it
        return len(text)


@contextlib.contextmanager
def _fit_progress(name: str, model, n: int):
    """Percent done and ETA every 30 s while *model* fits: from its iteration lines (scikit-learn t-SNE and MDS; the
    ETA assumes every iteration runs, so it is an upper bound), openTSNE's callbacks, or, for methods that report
    nothing (LLE, Isomap, UMAP), the elapsed time alone."""
    what = f"{name} on {n} points"
    # MDS restarts in worker processes (n_init > 1, n_jobs > 1) print where this process cannot count them
    parallel_restarts = (
        name == "mds" and (getattr(model, "n_init", 1) or 1) > 1 and getattr(model, "n_jobs", 1) not in (None, 1)
    )
    if name in _ITERATION_LINES and hasattr(model, "verbose") and not parallel_restarts:
        total = int(model.max_iter or 1000) * (int(getattr(model, "n_init", 1) or 1) if name == "mds" else 1)
        with Progress(f"{what} (at most {total} iterations)", total) as prog:
            model.set_params(verbose=2)
            try:
                with contextlib.redirect_stdout(_IterationCounter(_ITERATION_LINES[name], prog)):
                    yield
            finally:
                model.set_params(verbose=0)
        return
    if isinstance(model, OpenTSNE):
        total = int(model.p["n_iter"]) + int(model.p["early_exaggeration_iter"])
        with Progress(f"{what} ({total} iterations)", total) as prog:
            model.progress = prog
            try:
                yield
            finally:
                model.progress = None
        return
    with Progress(f"{what} (no progress reported by the method: elapsed time only)", float("inf")):
        yield


def trustworthiness(X, Y, n_neighbors: int, max_rows: int, seed: int, strata=None, space: str = "") -> dict:
    """:func:`sklearn.manifold.trustworthiness` of the embedding *Y* of the rows of *X*.

    It is 1 when every image's *n_neighbors* nearest neighbours in *Y* are also among its nearest in *X*
    and falls as neighbours intrude that are far apart in *X* (about 0.5 for a random layout). It needs
    all pairwise distances, so above *max_rows* rows it is computed on a seeded sample (label-stratified
    with *strata*) of *max_rows* rows, which the result records.
    """
    from sklearn.manifold import trustworthiness as tw

    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    n = len(X)
    rows = stratified_sample(n, int(max_rows), seed, strata) if n > max_rows else np.arange(n)
    k = int(min(n_neighbors, max(1, len(rows) // 2 - 1)))
    value = float(tw(X[rows], Y[rows], n_neighbors=k))
    return {"value": round(value, 4), "n_neighbors": k, "n_rows": int(len(rows)), "of": int(n), "space": space}


def plot_feature_maps(
    X,
    labels,
    clusters,
    path,
    seed: int,
    tsne: dict,
    title: str = "",
    trust: dict | None = None,
    n_jobs: int = 1,
    degeneracy: dict | None = None,
) -> dict:
    """2-D PCA and t-SNE maps of a network's features, coloured by label and by K-Means cluster.

    t-SNE runs through :func:`embed` with the configured
    ``embeddings.tsne`` parameters on *n_jobs* cores; *clusters* is aligned with the rows of *X*
    (NaN: a row that was not clustered). Returns ``{map: trustworthiness}`` (:func:`trustworthiness`
    with the settings *trust*: n_neighbors, max_rows) of both maps against the features. With *degeneracy* (a dict),
    :func:`imagespace.report.degeneracy.check` of both maps is added to it ({map: numbers}); each panel frames the map's
    bulk
    (:func:`imagespace.report.plots.frame_bulk`).
    """
    import pandas as pd
    from matplotlib.figure import Figure
    from sklearn.decomposition import PCA

    from imagespace.io import save_figure
    from imagespace.report import plots

    X = np.asarray(X, dtype=np.float64)
    Y_tsne, _, _ = embed("tsne", X, 2, params_for("tsne", tsne), int(seed), n_jobs=n_jobs)
    proj = {"PCA": PCA(n_components=2, random_state=seed).fit_transform(X), "t-SNE": Y_tsne}
    by_cluster = pd.Series(clusters).fillna(-2).astype(int).astype(str).replace("-2", "not clustered").to_numpy()
    fig = Figure(figsize=(12, 10))
    axes = fig.subplots(2, 2)
    for r, (name, Y) in enumerate(proj.items()):
        for col, (what, groups) in enumerate((("label", np.asarray(labels)), ("K-Means cluster", by_cluster))):
            ax = axes[r, col]
            plots.scatter_groups(ax, Y, groups, s=10)
            ax.set_title(plots.titled(f"{name}, coloured by {what}", plots.frame_bulk(ax, Y), len(Y)))
    fig.suptitle(title)
    save_figure(fig, path)
    trust = trust or {"n_neighbors": 5, "max_rows": 2000}
    if degeneracy is not None:
        from imagespace.report.degeneracy import check

        degeneracy.update(
            {
                name.lower().replace("-", ""): {"method": name.lower().replace("-", ""), **check(Y)}
                for name, Y in proj.items()
            }
        )
    return {
        name.lower().replace("-", ""): trustworthiness(
            X,
            Y,
            trust["n_neighbors"],
            trust["max_rows"],
            int(seed),
            strata=np.asarray(labels),
            space="the network's features",
        )
        for name, Y in proj.items()
    }
