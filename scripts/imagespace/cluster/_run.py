"""What a clustering rule runs: the method table, each method's steps (scan, fit, figures) and the job itself.

The rule ``cluster_<name>`` (workflow/rules/cluster.smk) is made from the entry ``<name>`` of :data:`METHODS`;
its script (scripts/cluster.py) calls :func:`run` with plain paths, and :func:`run` calls the entry's ``run``
function (``_run_<name>`` below), which calls the family's fit (``fit_kmeans`` in ``_kmeans.py`` ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from imagespace.io import load_features, own_image_mask, write_json, write_table
from imagespace.report import plots
from imagespace.sampling import stratified_sample

from ._base import NOISE_LABEL, log
from ._density import fit_dbscan_auto, fit_hdbscan, fit_hdbscan_large
from ._figures import (
    plot_dbscan_scan,
    plot_dendrogram,
    plot_gmm_scan,
    plot_kdistance,
    plot_kmeans_scan,
    plot_silhouette_diagram,
    plot_silhouette_grid,
    plot_silhouette_scan,
)
from ._gallery import gallery, plot_cluster_sizes, plot_medoids
from ._hierarchical import agglomerative_scan, build_tree, cut_tree, fit_agglomerative_large
from ._kmeans import fit_kmeans, kmeans_scan_models
from ._mixture import fit_gmm, gmm_samples, gmm_scan_models
from ._scaling import scale_features, scaling_record, unscale_features
from ._scoring import SELECT_CRITERIA, k_range, resolve_k, score_clustering

if TYPE_CHECKING:  # the rule files read the method table at parse time: pandas and scikit-learn load on use
    import pandas as pd


def load_rows(features_path, manifest: pd.DataFrame, split: str):
    """(X, rows of the manifest) for the clustered split, in the feature set's row order.

    Parameters
    ----------
    features_path : str or Path
        A feature set (``results/<dataset>/features/<fs>.npz``).
    manifest : pandas.DataFrame
        The dataset's manifest.
    split : str
        ``all`` or a split name.

    Returns
    -------
    X : numpy.ndarray of float64, shape (n, d)
        The features of the dataset's own images of the split (no augmented copies).
    rows : pandas.DataFrame
        Their manifest rows, in the same order.
    """
    fs = load_features(features_path)
    m = manifest.set_index("id").loc[fs.ids]
    keep = own_image_mask(m)  # augmented copies (balance) are training material, not part of the collection
    keep &= True if split == "all" else (m["split"] == split).to_numpy()
    if keep.sum() < 3:
        raise ValueError(f"clustering.split {split!r} selects {int(keep.sum())} rows of {features_path}")
    return fs.X[keep].astype(np.float64), m[keep].reset_index()


def finish(
    method: str, labels_pred, rows: pd.DataFrame, *, paths: dict, extra: dict, images, X=None, seed: int = 0
) -> dict:
    """Write assignments, scores, the cluster-size chart, the gallery and the medoids; return the result dict.

    Parameters
    ----------
    method : str
        The method's name (result.json's ``method``).
    labels_pred : array-like, shape (n,)
        The cluster of every row of *rows*.
    rows : pandas.DataFrame
        The clustered rows of the manifest.
    paths : dict
        ``assignments``, ``result``, ``sizes``, ``gallery`` and optionally ``medoids`` (drawn only with *X*).
    extra : dict
        The method's own result fields.
    images : array-like
        The dataset's images.
    X : array-like, optional
        The clustered features (for the medoids).
    seed : int
        Seed of the medoids' sample.

    Returns
    -------
    dict
        What result.json holds.
    """
    labels_pred = np.asarray(labels_pred)
    assign = rows[["id", "split", "label", "subtype"]].copy()
    assign["cluster"] = labels_pred
    write_table(paths["assignments"], assign)
    scores = score_clustering(labels_pred, rows["label"].to_numpy(), rows["subtype"].to_numpy())
    result = {"method": method, "n": int(len(rows)), **extra, **scores}
    plot_cluster_sizes(labels_pred, rows["label"].to_numpy(), paths["sizes"])
    gallery(labels_pred, rows, images, path=paths["gallery"])
    if X is not None and paths.get("medoids"):
        result["medoids"] = plot_medoids(labels_pred, X, rows, images=images, path=paths["medoids"], seed=seed or 0)
    write_json(paths["result"], result)
    log.info(
        "%s: k=%s accuracy %.4f (majority %.4f) ARI %.3f NMI %.3f",
        method,
        scores["k"],
        scores["accuracy"],
        scores["majority_accuracy"],
        scores["ari"],
        scores["nmi"],
    )
    return result


def nearest_rows(X, points) -> np.ndarray:
    """Index of the row of *X* nearest to each point (Euclidean): the real image shown for a sample.

    Parameters
    ----------
    X : array-like, shape (n, d)
        The rows.
    points : array-like, shape (m, d)
        The points.

    Returns
    -------
    numpy.ndarray of int, shape (m,)
        Row indices.
    """
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=1).fit(X).kneighbors(points, return_distance=False)[:, 0]


@dataclass(frozen=True)
class Method:
    """One clustering method: what it reads and draws, and how it runs.

    Adding a method: its ``run`` function and a ``Method`` entry in :data:`METHODS`
    here, its parameter block (with defaults) and enum entries in the config schema,
    and a test. The rule ``cluster_<name>`` is made from this entry
    (workflow/rules/cluster.smk); its figures are ``<figure>.png`` next to the
    assignments, with the caption ``workflow/report/cluster_<figure>.rst`` where
    one exists.

    ``run(X, rows, opts, ctx)`` returns (labels, extra result fields); *X* is
    already scaled as ``clustering.scale`` says (:func:`scale_features`); *ctx* is a
    :class:`Context`: ``paths`` (one path per figure, ``table`` for a scan table),
    ``seed``, ``large_n``, ``images``, ``pca_model`` (or None), ``scaling``
    (the info of :func:`scale_features`, to map points back to feature units) and
    ``threads`` (the job's cores).
    """

    name: str
    title: str
    run: Callable
    figures: tuple[str, ...] = ()
    table: bool = False  # writes its scan (over k; over eps and min_samples) as scan.tsv
    settings: tuple[str, ...] = ()  # shared clustering keys it reads besides its own block and split: seed, large_n
    decode_pca: bool = False  # reads the PCA model when it clusters the pca feature set
    threads: str = "config"  # "config" (the config's threads) or "one"
    memory_factor: int = 4  # memory estimate: this many times the feature file
    runtime: int = 30  # minutes


@dataclass
class Context:
    """What a method's ``run`` gets besides the rows and its options (see :class:`Method`)."""

    paths: dict
    seed: int | None = None
    large_n: int | None = None
    images: object = None
    pca_model: str | None = None
    scaling: dict | None = None
    threads: int = 1


def _run_kmeans(X, rows, o, ctx):
    # silhouettes are O(n^2): above clustering.large_n they are computed on a seeded sample of that size
    sample = ctx.large_n if ctx.large_n is not None and len(X) > ctx.large_n else None
    # the scan's own fits for the chosen k and the silhouette grid's k = 2..5: the fits a refit would give
    ks = k_range(o, len(X))
    scan, fits = kmeans_scan_models(X, ks, ctx.seed, n_init=o["n_init"], silhouette_sample_size=sample, keep=ks)
    write_table(ctx.paths["table"], scan)
    k = resolve_k(o["k"], rows, scan)
    plot_kmeans_scan(scan, ctx.paths["scan"], chosen_k=k)
    fit = fits.get(k) or fit_kmeans(X, k, ctx.seed, n_init=o["n_init"])
    plot_silhouette_diagram(
        X, fit.labels, ctx.paths["silhouette"], title=f"K-Means, k={k}", sample_size=sample, seed=ctx.seed
    )
    grid = plot_silhouette_grid(
        X, range(2, 6), ctx.seed, path=ctx.paths["silhouettes"], n_init=o["n_init"], sample_size=sample, fits=fits
    )
    strategy = (
        {"name": "exact", "n_points": len(X)}
        if sample is None
        else {"name": "sampled silhouettes", "n_points": len(X), "silhouette_sample": sample}
    )
    return fit.labels, {
        "params": dict(o),
        "seed": ctx.seed,
        "inertia": float(fit.model.inertia_),
        "strategy": strategy,
        "silhouettes_k2_5": grid,
    }


def _run_gmm(X, rows, o, ctx):
    from imagespace import pca

    fit_kw = dict(
        covariance_type=o["covariance_type"], n_init=o["n_init"], reg_covar=o["reg_covar"], max_iter=o["max_iter"]
    )
    # a k fixed in advance (an integer, n_classes) is kept from the scan: the same fit as a refit
    known = None if o["k"] in SELECT_CRITERIA else resolve_k(o["k"], rows)
    scan, fits = gmm_scan_models(
        X, k_range(o, len(X)), ctx.seed, **fit_kw, n_jobs=ctx.threads, keep=() if known is None else (known,)
    )
    write_table(ctx.paths["table"], scan)
    k = resolve_k(o["k"], rows, scan)
    plot_gmm_scan(scan, ctx.paths["scan"], chosen_k=k)
    fit = fits[k] if k in fits else fit_gmm(X, k, ctx.seed, **fit_kw)
    gmm = fit.model
    samples = gmm_samples(gmm, int(o["n_samples"]), ctx.seed)
    if ctx.pca_model:
        # samples live in (scaled) PCA-score space: map them back to scores, then to pixels through the PCA
        res, shape = pca.load_model(ctx.pca_model)
        scores = unscale_features(samples, ctx.scaling or {"name": "none"})
        shown = pca.to_pixels(res, pca.reconstruct(res, scores)).reshape((len(samples),) + shape)
        how = "decoded through the PCA"
    else:
        # no inverse map: show the real image nearest to each sample
        shown = ctx.images[rows["index"].to_numpy()[nearest_rows(X, samples)]]
        how = "nearest real image to each sample"
    plots.image_grid(np.asarray(shown), ctx.paths["samples"], titles=[f"sample {i + 1}" for i in range(len(samples))])
    log.info("GMM: %d samples drawn (%s)", len(samples), how)
    return fit.labels, {
        "params": dict(o),
        "seed": ctx.seed,
        "converged": bool(gmm.converged_),
        "samples": how,
        "bic": float(gmm.bic(X)),
        "aic": float(gmm.aic(X)),
    }


def _run_dbscan(X, rows, o, ctx):
    seed = 0 if ctx.seed is None else ctx.seed
    fit = fit_dbscan_auto(
        X,
        o["eps"],
        o["min_samples"],
        scan_min_samples=o["scan_min_samples"],
        max_noise=o["max_noise"],
        criterion=o["criterion"],
        scan_n=o["scan_n"],
        seed=seed,
    )
    info, curve = fit.extra["info"], fit.extra["curve"]
    write_table(ctx.paths["table"], fit.scan)
    sel = info["selection"]
    if sel["mode"] == "scan":
        note = (
            f"{sel['n_candidates']} candidates on {sel['scan_rows']} "
            f"{'sampled ' if sel['scan_sampled'] else ''}rows, {sel['n_admissible']} admissible; "
            + (sel["fallback"] or f"chosen: min_samples {curve['min_samples']}, eps at quantile {sel['quantile']:.2f}")
        )
    else:
        note = f"no scan (eps {'from the k-distance knee' if sel['mode'] == 'knee' else 'fixed in the config'})"
    plot_dbscan_scan(fit.scan, ctx.paths["eps_scan"], criterion=o["criterion"], note=note)
    what = curve["what"]
    plot_kdistance(
        curve["distances"],
        ctx.paths["kdistance"],
        eps=curve["eps"],
        min_samples=curve["min_samples"],
        ylabel=what,
        title="k-distance curve" if what.startswith("distance") else "core distances",
    )
    return fit.labels, {"params": dict(o), **info}


def _run_hdbscan(X, rows, o, ctx):
    kw = dict(
        min_cluster_size=o["min_cluster_size"],
        min_samples=o["min_samples"],
        cluster_selection_method=o["cluster_selection_method"],
    )
    if ctx.large_n is not None and len(X) > ctx.large_n:  # Prim's tree is O(n^2): fitted on large_n stratified rows
        fit = fit_hdbscan_large(X, ctx.large_n, ctx.seed, strata=rows["label"].to_numpy(), **kw)
        strategy = fit.extra["strategy"]
    else:
        fit, strategy = fit_hdbscan(X, **kw), {"name": "exact", "n_points": len(X)}
    pred = fit.labels
    return pred, {"params": dict(o), "noise_fraction": float(np.mean(pred == NOISE_LABEL)), "strategy": strategy}


def _run_agglomerative(X, rows, o, ctx):
    labels = rows["label"].to_numpy()
    large = ctx.large_n is not None and len(X) > ctx.large_n
    # one tree (on large_n stratified rows above large_n), cut at every k of the scan: the silhouette of each cut
    idx = stratified_sample(len(X), int(ctx.large_n), ctx.seed, labels) if large else np.arange(len(X))
    Z = build_tree(X[idx], o["linkage"])
    scan = agglomerative_scan(X[idx], Z, k_range(o, len(idx)), seed=ctx.seed)
    write_table(ctx.paths["table"], scan)
    k = resolve_k(o["k"], rows, scan)
    plot_silhouette_scan(scan, ctx.paths["scan"], chosen_k=k)
    if large:  # the tree is O(n^2) in memory: built on a stratified subsample, the rest to the nearest centroid
        fit = fit_agglomerative_large(
            X, k, linkage=o["linkage"], n_sub=ctx.large_n, seed=ctx.seed, strata=labels, tree=(idx, Z)
        )
        pred, strategy = fit.labels, fit.extra["strategy"]
        plot_dendrogram(fit.model, labels[fit.extra["rows"]], ctx.paths["dendrogram"])
    else:  # the cut fit_agglomerative makes, of the same tree
        pred = cut_tree(Z, k)
        strategy = {"name": "exact", "n_points": len(X)}
        plot_dendrogram(Z, labels, ctx.paths["dendrogram"])
    return pred, {"params": dict(o), "strategy": strategy}


WORKING_MEMORY_MB = 128  # K-Means on 8,000 Fashion-MNIST PCA rows: 12.3 s and 419 MB at 1024, 10.3 s and 354 MB at 128

METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "kmeans",
            "K-Means",
            _run_kmeans,
            figures=("scan", "silhouette", "silhouettes"),
            table=True,
            settings=("seed", "large_n"),
        ),
        Method(
            "gmm",
            "Gaussian mixture (EM)",
            _run_gmm,
            figures=("scan", "samples"),
            table=True,
            settings=("seed",),
            decode_pca=True,
            runtime=60,
        ),
        Method(
            "dbscan",
            "DBSCAN",
            _run_dbscan,
            figures=("eps_scan", "kdistance"),
            table=True,
            settings=("seed",),
            threads="one",
        ),
        Method(
            "agglomerative",
            "agglomerative",
            _run_agglomerative,
            figures=("dendrogram", "scan"),
            table=True,
            settings=("seed", "large_n"),
            threads="one",
            memory_factor=8,
        ),
        Method("hdbscan", "HDBSCAN", _run_hdbscan, settings=("seed", "large_n"), threads="one"),
    )
}


def run(
    name: str,
    features_path,
    manifest,
    *,
    opts: dict,
    split: str,
    paths: dict,
    images,
    seed=None,
    large_n=None,
    pca_model=None,
    scale: str = "none",
    threads: int = 1,
) -> dict:
    """One clustering job: rows of *split*, scaled as *scale* says, the method, its figures, then assignments,
    scores, sizes and gallery. The result records the scaling.

    Parameters
    ----------
    name : str
        A method of :data:`METHODS`.
    features_path : str or Path
        The feature set clustered.
    manifest : pandas.DataFrame
        The dataset's manifest.
    opts : dict
        The method's config block.
    split : str
        ``clustering.split``.
    paths : dict
        Where to write: ``assignments``, ``result``, ``sizes``, ``gallery``, ``medoids``, ``table`` (methods with
        a scan) and one path per figure of the method (``Method.figures``).
    images : array-like
        The dataset's images.
    seed, large_n : int or None
        ``clustering.seed`` and ``clustering.large_n``.
    pca_model : str or Path, optional
        The PCA model (GMM samples of the pca feature set are decoded through it).
    scale : str
        ``clustering.scale`` (:func:`scale_features`).
    threads : int
        The job's cores.

    Returns
    -------
    dict
        What result.json holds.
    """
    import sklearn

    m = METHODS[name]
    X, rows = load_rows(features_path, manifest, split)
    X, scaling = scale_features(X, scale)
    ctx = Context(
        paths=paths, seed=seed, large_n=large_n, images=images, pca_model=pca_model, scaling=scaling, threads=threads
    )
    # silhouettes and neighbour searches compute distances in blocks of WORKING_MEMORY_MB (scikit-learn's default 1 GB)
    with sklearn.config_context(working_memory=WORKING_MEMORY_MB):
        labels, extra = m.run(X, rows, opts, ctx)
        return finish(
            name,
            labels,
            rows,
            paths=paths,
            extra={"scale": scaling_record(scaling, X.shape[1]), **extra},
            images=images,
            X=X,
            seed=seed,
        )
