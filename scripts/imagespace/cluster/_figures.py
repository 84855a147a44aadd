"""The figures of model selection and cluster quality: scans, silhouettes, the k-distance curve, dendrograms.

What the clusters hold (sizes by class, example images, medoids) is drawn by ``_gallery.py``.

Drawn on :class:`matplotlib.figure.Figure` objects (the object-oriented API, rendered by Agg for PNG) and
written atomically with :func:`imagespace.io.save_figure`; pyplot's global state and the session's backend
are never touched, so the functions are also safe in notebooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from imagespace.io import save_figure
from imagespace.report import plots

from ._base import _as_matrix, _labels, _noise_mask, _py
from ._kmeans import fit_kmeans


def _new_figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def _integer_xaxis(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_kmeans_scan(df: pd.DataFrame, path, *, chosen_k=None) -> None:
    """Two panels: inertia against k (elbow) and mean silhouette against k.

    Parameters
    ----------
    df : pandas.DataFrame
        The scan (:func:`~imagespace.cluster.kmeans_scan`).
    path : str or Path
        The PNG written.
    chosen_k : int, optional
        Marked with a dashed line.
    """
    fig = _new_figure((10, 4))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(df["k"], df["inertia"], "o-")
    ax1.set(xlabel="k", ylabel="inertia (within-cluster SS)", title="k-means elbow")
    ax2.plot(df["k"], df["silhouette"], "o-", color="C1")
    ax2.set(xlabel="k", ylabel="mean silhouette", title="silhouette")
    for ax in (ax1, ax2):
        if chosen_k is not None:
            ax.axvline(chosen_k, color="grey", ls="--", label=f"chosen k={chosen_k}")
            ax.legend()
        ax.grid(alpha=0.3)
        _integer_xaxis(ax)
    save_figure(fig, path)


def plot_silhouette_diagram(X, labels, path, *, title: str = "", sample_size: int | None = None, seed: int = 0) -> None:
    """Classic silhouette diagram: per-cluster sorted silhouette bars and the mean.

    Noise points (label -1) are left out. With fewer than two clusters the
    silhouette is undefined and the figure says so. With *sample_size* below the
    number of rows, a seeded random sample of rows is drawn (O(sample²) instead of O(n²)).

    Parameters
    ----------
    X : array-like, shape (n, d)
        The clustered rows.
    labels : array-like, shape (n,)
        Their clusters.
    path : str or Path
        The PNG written.
    title : str
        The title.
    sample_size : int or None
        Draw a seeded sample of this many rows.
    seed : int
        Seed of the sample.
    """
    from sklearn.metrics import silhouette_samples

    X = _as_matrix(X)
    labels = _labels(labels, "labels")
    if sample_size is not None and sample_size < len(labels):
        pick = np.sort(np.random.default_rng(seed).choice(len(labels), size=int(sample_size), replace=False))
        X, labels = X[pick], labels[pick]
        title = f"{title} (sample of {sample_size})"
    keep = ~_noise_mask(labels)
    Xk = X if keep.all() else X[keep]
    lk = labels[keep]
    clusters = np.unique(lk)
    fig = _new_figure((7, 5))
    ax = fig.subplots()
    ax.set_title(title or "silhouette diagram")
    if len(clusters) < 2 or len(clusters) >= len(lk):
        ax.text(
            0.5,
            0.5,
            f"silhouette undefined for {len(clusters)} cluster(s) on {len(lk)} points",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        ax.set_axis_off()
        save_figure(fig, path)
        return
    s = silhouette_samples(Xk, lk)
    colors = plots.class_colors(len(clusters))
    gap = max(2, len(lk) // 100)
    y0 = gap
    for i, c in enumerate(clusters):
        vals = np.sort(s[lk == c])
        ax.fill_betweenx(np.arange(y0, y0 + len(vals)), 0, vals, color=colors[i], alpha=0.8, lw=0)
        ax.text(-0.02, y0 + len(vals) / 2, str(_py(c)), ha="right", va="center", fontsize=8)
        y0 += len(vals) + gap
    mean = float(s.mean())
    ax.axvline(mean, color="red", ls="--", label=f"mean {mean:.3f}")
    ax.set(
        xlabel="silhouette coefficient",
        ylabel="points, grouped by cluster",
        xlim=(min(-0.1, s.min() - 0.05), 1),
        ylim=(0, y0),
    )
    ax.set_yticks([])
    ax.legend(loc="lower right")
    save_figure(fig, path)


def plot_gmm_scan(df: pd.DataFrame, path, *, chosen_k=None) -> None:
    """BIC and AIC against the number of components (lower is better).

    Parameters
    ----------
    df : pandas.DataFrame
        The scan (:func:`~imagespace.cluster.gmm_scan`).
    path : str or Path
        The PNG written.
    chosen_k : int, optional
        Marked with a dashed line.
    """
    fig = _new_figure((6, 4))
    ax = fig.subplots()
    ax.plot(df["k"], df["bic"], "o-", label="BIC")
    ax.plot(df["k"], df["aic"], "s-", label="AIC")
    if "converged" in df and not df["converged"].astype(bool).all():
        bad = df[~df["converged"].astype(bool)]
        ax.plot(bad["k"], bad["bic"], "x", color="red", ms=10, label="not converged")
    if chosen_k is not None:
        ax.axvline(chosen_k, color="grey", ls="--", label=f"chosen k={chosen_k}")
    ax.set(xlabel="number of components k", ylabel="information criterion", title="Gaussian mixture model selection")
    _integer_xaxis(ax)
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)


def plot_kdistance(
    kdist, path, *, eps: float, min_samples: int, ylabel: str | None = None, title: str = "k-distance curve"
) -> None:
    """Sorted k-distance (or core-distance) curve with the chosen eps marked.

    Parameters
    ----------
    kdist : array-like
        The distances (``extra["curve"]["distances"]`` of :func:`~imagespace.cluster.fit_dbscan_auto`).
    path : str or Path
        The PNG written.
    eps : float
        The chosen eps (a horizontal line).
    min_samples : int
        DBSCAN's min_samples (in the title and the default y label).
    ylabel, title : str
        What the distances are; the title.
    """
    kdist = np.sort(np.asarray(kdist))
    fig = _new_figure((6, 4))
    ax = fig.subplots()
    ax.plot(np.arange(len(kdist)), kdist, lw=1.5)
    share = float(np.mean(kdist <= eps))
    ax.axhline(eps, color="red", ls="--", label=f"eps = {eps:.4g} ({share:.0%} of the points below)")
    ax.set(
        xlabel="points sorted by distance",
        ylabel=ylabel or f"distance to {min_samples}-th nearest neighbour",
        title=f"{title} (min_samples = {min_samples})",
    )
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)


def plot_dbscan_scan(scan: pd.DataFrame, path, *, criterion: str = "silhouette_coverage", note: str = "") -> None:
    """The DBSCAN scan: score, clusters and noise share against the eps quantile, one line per min_samples.

    Admissible candidates are filled markers, the others crosses (their score is
    undefined); the chosen candidate is a star. A scan of one fixed candidate is
    drawn as a single point per panel.

    Parameters
    ----------
    scan : pandas.DataFrame
        The candidates (:func:`~imagespace.cluster.dbscan_scan`).
    path : str or Path
        The PNG written.
    criterion : str
        The score's name (the first panel's label).
    note : str
        A line above the panels.
    """
    fig = _new_figure((13, 4))
    axes = fig.subplots(1, 3)
    x_col = "quantile" if scan["quantile"].notna().any() else "eps"
    colors = plots.class_colors(scan["min_samples"].nunique())
    for i, (ms, g) in enumerate(scan.groupby("min_samples", sort=True)):
        c = colors[i]
        x = g[x_col].astype(float).to_numpy()
        ok = g["admissible"].astype(bool).to_numpy()
        for ax, col in zip(axes, ("score", "k", "noise_fraction")):
            y = g[col].astype(float).to_numpy()
            ax.plot(x, y, "-", color=c, alpha=0.5, lw=1)
            ax.plot(x[ok], y[ok], "o", color=c, ms=4, label=f"min_samples = {ms}" if col == "score" else None)
            ax.plot(x[~ok], y[~ok], "x", color=c, ms=4)
    chosen = scan[scan["chosen"].astype(bool)]
    for ax, col in zip(axes, ("score", "k", "noise_fraction")):
        if not chosen.empty:
            ax.plot(
                chosen[x_col].astype(float),
                chosen[col].astype(float),
                "*",
                color="black",
                ms=14,
                zorder=5,
                label="chosen" if col == "score" else None,
            )
        ax.set_xlabel("eps: quantile of the core distances" if x_col == "quantile" else "eps")
        ax.grid(alpha=0.3)
    axes[0].set(ylabel=criterion.replace("_", " "), title="score (admissible candidates)")
    if not np.isfinite(scan["score"].astype(float)).any():
        axes[0].text(0.5, 0.5, "no admissible candidate", ha="center", va="center", transform=axes[0].transAxes)
    axes[1].set(ylabel="clusters (noise excluded)", title="number of clusters")
    axes[1].yaxis.get_major_locator().set_params(integer=True)
    axes[2].set(ylabel="noise share", title="noise", ylim=(-0.02, 1.02))
    axes[0].legend(fontsize=8)
    if note:
        fig.suptitle(note, fontsize=9)
    save_figure(fig, path)


def _leaf_members(Z: np.ndarray, node: int, n: int) -> list[int]:
    """Original observation indices under tree node *node* (iterative)."""
    stack, out = [node], []
    while stack:
        i = stack.pop()
        if i < n:
            out.append(i)
        else:
            row = Z[i - n]
            stack.extend((int(row[0]), int(row[1])))
    return out


def plot_dendrogram(linkage_matrix, labels, path, *, truncate_p: int = 30) -> None:
    """Dendrogram of a SciPy linkage matrix, leaves annotated with their classes.

    With more than *truncate_p* observations the tree is cut to its last
    *truncate_p* merges (``truncate_mode="lastp"``). Each leaf is labelled
    ``majority-class count/size`` and coloured by its majority class; *labels*
    may be None (leaves then show their size only).

    Parameters
    ----------
    linkage_matrix : numpy.ndarray, shape (n - 1, 4)
        SciPy's linkage matrix.
    labels : array-like, shape (n,), or None
        The class of every leaf.
    path : str or Path
        The PNG written.
    truncate_p : int
        The most leaves drawn.
    """
    from scipy.cluster import hierarchy

    Z = np.asarray(linkage_matrix, dtype=np.float64)
    n = Z.shape[0] + 1
    labels = None if labels is None else _labels(labels, "labels")
    if labels is not None and len(labels) != n:
        raise ValueError(f"linkage matrix is for {n} points but {len(labels)} labels were given")
    classes = [] if labels is None else np.unique(labels).tolist()
    colors = dict(zip(classes, plots.class_colors(len(classes))))
    truncate = n > truncate_p
    kw = {"truncate_mode": "lastp", "p": truncate_p} if truncate else {}
    leaves = hierarchy.dendrogram(Z, no_plot=True, **kw)["leaves"]

    text, leaf_color = {}, {}
    for leaf in leaves:
        members = _leaf_members(Z, leaf, n)
        if labels is None:
            text[leaf] = f"({len(members)})"
            continue
        vals, counts = np.unique(labels[members], return_counts=True)
        top = vals[int(np.argmax(counts))]
        leaf_color[leaf] = colors[_py(top)]
        text[leaf] = str(_py(top)) if len(members) == 1 else f"{_py(top)} {counts.max()}/{len(members)}"

    fig = _new_figure((8, max(4, 0.28 * len(leaves) + 1)))
    ax = fig.subplots()
    hierarchy.dendrogram(
        Z,
        ax=ax,
        orientation="left",
        leaf_label_func=lambda i: text[i],
        color_threshold=0,
        above_threshold_color="0.3",
        **kw,
    )
    if leaf_color:
        # Tick labels run bottom-to-top in the order of the leaves.
        for tick, leaf in zip(ax.get_yticklabels(), leaves):
            tick.set_color(leaf_color[leaf])
    ax.set_xlabel("merge distance")
    ax.set_title(f"dendrogram ({n} points" + (f", last {truncate_p} merges)" if truncate else ")"))
    ax.tick_params(axis="y", labelsize=8)
    save_figure(fig, path)


def plot_silhouette_scan(
    df: pd.DataFrame, path, *, chosen_k=None, title: str = "agglomerative: silhouette of each cut"
) -> None:
    """Mean silhouette against k, with the chosen k marked.

    Parameters
    ----------
    df : pandas.DataFrame
        The scan (:func:`~imagespace.cluster.agglomerative_scan`).
    path : str or Path
        The PNG written.
    chosen_k : int, optional
        Marked with a dashed line.
    title : str
        The title.
    """
    fig = _new_figure((6, 4))
    ax = fig.subplots()
    ax.plot(df["k"], df["silhouette"], "o-", color="C1")
    ax.set(xlabel="k", ylabel="mean silhouette", title=title)
    if chosen_k is not None:
        ax.axvline(chosen_k, color="grey", ls="--", label=f"chosen k={chosen_k}")
        ax.legend()
    ax.grid(alpha=0.3)
    _integer_xaxis(ax)
    save_figure(fig, path)


def plot_silhouette_grid(X, ks, seed: int, *, path, n_init=10, sample_size: int | None = None, fits=None) -> dict:
    """Silhouette diagrams of K-Means for every k in *ks*, side by side (each with its mean as a dashed line):
    how well each k's clusters hold together.

    Parameters
    ----------
    X : array-like, shape (n, d)
        The clustered rows.
    ks : iterable of int
        The k drawn (those from 2 to below the number of rows).
    seed : int
        ``random_state`` of the fits and seed of the row sample.
    path : str or Path
        The PNG written.
    n_init : int
        K-Means initialisations.
    sample_size : int or None
        Draw a seeded sample of this many rows (None: all).
    fits : dict or None
        ``{k: ClusterResult}`` already fitted with the same seed and n_init (:func:`kmeans_scan_models`),
        used instead of refitting.

    Returns
    -------
    dict
        ``{k: mean silhouette}`` (None where K-Means found one distinct cluster).
    """
    from matplotlib.figure import Figure
    from sklearn.metrics import silhouette_samples

    X = _as_matrix(X)
    rows = np.arange(len(X))
    if sample_size is not None and len(X) > sample_size:
        rows = np.sort(np.random.default_rng(seed).choice(len(X), sample_size, replace=False))
    ks = [k for k in ks if 2 <= k < len(rows)]
    cols = min(len(ks), 4) or 1
    nrows = max(1, -(-len(ks) // cols))
    fig = Figure(figsize=(4.2 * cols, 3.6 * nrows))
    axes = np.atleast_1d(fig.subplots(nrows, cols, squeeze=False)).ravel()
    means = {}
    for ax, k in zip(axes, ks):
        pred = ((fits or {}).get(k) or fit_kmeans(X, k, seed, n_init=n_init)).labels[rows]
        if len(set(pred.tolist())) < 2:  # identical points: K-Means found one cluster, the silhouette is undefined
            means[k] = None
            ax.text(0.5, 0.5, f"k={k}: one distinct cluster\n(silhouette undefined)", ha="center", va="center")
            ax.axis("off")
            continue
        coef = silhouette_samples(X[rows], pred)
        means[k] = float(coef.mean())
        pad, pos, ticks = max(1, len(rows) // 30), 0, []
        colours = plots.class_colors(k)  # as plot_silhouette_diagram colours its clusters
        for c in range(k):
            v = np.sort(coef[pred == c])
            ax.fill_betweenx(np.arange(pos, pos + len(v)), 0, v, facecolor=colours[c], edgecolor=colours[c], alpha=0.7)
            ticks.append(pos + len(v) / 2)
            pos += len(v) + pad
        ax.axvline(means[k], color="red", linestyle="--")
        ax.set_yticks(ticks, [str(c) for c in range(k)])
        ax.set_xlim(-0.2, 1)
        ax.set_title(f"k={k}: mean silhouette {means[k]:.3f}", fontsize=9)
        ax.set_xlabel("silhouette coefficient", fontsize=8)
    for ax in axes[len(ks) :]:
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, path)
    return means
