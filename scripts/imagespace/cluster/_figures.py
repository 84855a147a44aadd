"""The clustering figures: scans, silhouettes, the k-distance curve, dendrograms, cluster sizes, galleries, medoids.

Drawn on :class:`matplotlib.figure.Figure` objects (the object-oriented API, rendered by Agg for PNG) and
written atomically with :func:`imagespace.util.save_figure`; pyplot's global state and the session's backend
are never touched, so the functions are also safe in notebooks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.cluster import hierarchy
from sklearn.metrics import pairwise_distances, silhouette_samples

from imagespace import plots
from imagespace.util import save_figure

from ._base import NOISE_LABEL, _as_matrix, _labels, _noise_mask, _py
from ._kmeans import fit_kmeans


def _new_figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def _integer_xaxis(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_kmeans_scan(df: pd.DataFrame, path, *, chosen_k=None) -> None:
    """Two panels: inertia against k (elbow) and mean silhouette against k."""
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
    """
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
        ax.text(0.5, 0.5, f"silhouette undefined for {len(clusters)} cluster(s) on {len(lk)} points",
                ha="center", va="center", transform=ax.transAxes)
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
    ax.set(xlabel="silhouette coefficient", ylabel="points, grouped by cluster",
           xlim=(min(-0.1, s.min() - 0.05), 1), ylim=(0, y0))
    ax.set_yticks([])
    ax.legend(loc="lower right")
    save_figure(fig, path)


def plot_gmm_scan(df: pd.DataFrame, path, *, chosen_k=None) -> None:
    """BIC and AIC against the number of components (lower is better)."""
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


def plot_kdistance(kdist, path, *, eps: float, min_samples: int, ylabel: str | None = None,
                   title: str = "k-distance curve") -> None:
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
    ax.set(xlabel="points sorted by distance", ylabel=ylabel or f"distance to {min_samples}-th nearest neighbour",
           title=f"{title} (min_samples = {min_samples})")
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)


def plot_dbscan_scan(scan: pd.DataFrame, path, *, criterion: str = "silhouette_coverage", note: str = "") -> None:
    """The DBSCAN scan: score, clusters and noise share against the eps quantile, one line per min_samples.

    Admissible candidates are filled markers, the others crosses (their score is
    undefined); the chosen candidate is a star. A scan of one fixed candidate is
    drawn as a single point per panel.
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
            ax.plot(chosen[x_col].astype(float), chosen[col].astype(float), "*", color="black", ms=14, zorder=5,
                    label="chosen" if col == "score" else None)
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
    """
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
    hierarchy.dendrogram(Z, ax=ax, orientation="left", leaf_label_func=lambda i: text[i],
                         color_threshold=0, above_threshold_color="0.3", **kw)
    if leaf_color:
        # Tick labels run bottom-to-top in the order of the leaves.
        for tick, leaf in zip(ax.get_yticklabels(), leaves):
            tick.set_color(leaf_color[leaf])
    ax.set_xlabel("merge distance")
    ax.set_title(f"dendrogram ({n} points" + (f", last {truncate_p} merges)" if truncate else ")"))
    ax.tick_params(axis="y", labelsize=8)
    save_figure(fig, path)


def plot_cluster_sizes(y_pred, labels, path) -> None:
    """Stacked bars: for each cluster (noise last), the count of each true class."""
    y_pred = _labels(y_pred, "y_pred")
    labels = _labels(labels, "labels")
    noise = _noise_mask(y_pred)
    names = np.where(noise, "noise", y_pred.astype(str)).astype(object)
    ct = pd.crosstab(pd.Series(names, name="cluster"), pd.Series(labels, name="class"))
    order = sorted((c for c in ct.index if c != "noise"), key=lambda c: (len(c), c))  # "2" before "10"
    order += ["noise"] if "noise" in ct.index else []
    ct = ct.loc[order]
    colors = plots.class_colors(ct.shape[1])
    fig = _new_figure((max(6, 0.4 * len(ct) + 2), 4.5))
    ax = fig.subplots()
    bottom = np.zeros(len(ct))
    x = np.arange(len(ct))
    for j, cls in enumerate(ct.columns):
        vals = ct[cls].to_numpy()
        ax.bar(x, vals, bottom=bottom, color=colors[j], label=str(cls), width=0.8)
        bottom += vals
    ax.set_xticks(x, [str(c) for c in ct.index], rotation=90 if len(ct) > 20 else 0)
    ax.set(xlabel="cluster", ylabel="images", title="cluster composition by class")
    ax.legend(title="class", bbox_to_anchor=(1.01, 1), loc="upper left", fontsize=8, ncols=1 + ct.shape[1] // 20)
    save_figure(fig, path)


def plot_silhouette_scan(df: pd.DataFrame, path, *, chosen_k=None,
                         title: str = "agglomerative: silhouette of each cut") -> None:
    """Mean silhouette against k, with the chosen k marked."""
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


# the gallery shows at most this many clusters (the largest) and says how many it leaves out
GALLERY_CLUSTERS = 30


def gallery(labels_pred, rows: pd.DataFrame, images, *, path, per_cluster: int = 8, seed: int = 0):
    """Example images per cluster: one row per cluster, titled with its size and majority class. Above
    GALLERY_CLUSTERS clusters the largest are shown and the title says so.

    Parameters
    ----------
    labels_pred : numpy.ndarray, shape (n,)
        The cluster of every clustered row (-1: noise, shown last).
    rows : pandas.DataFrame
        The clustered rows of the manifest (columns ``label`` and ``index``, the row of each image in *images*).
    images : array-like
        The dataset's images.
    path : str or Path
        The PNG written.
    per_cluster : int
        Images shown per cluster (a seeded sample).
    seed : int
        Seed of the sample.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    rng = np.random.default_rng(seed)
    ids = sorted(set(labels_pred.tolist()), key=lambda v: (v == -1, v))
    shown = ids
    if len(ids) > GALLERY_CLUSTERS:
        sizes = {c: int((labels_pred == c).sum()) for c in ids}
        keep = set(sorted((c for c in ids if c != -1), key=lambda c: -sizes[c])[:GALLERY_CLUSTERS])
        shown = [c for c in ids if c in keep]
    out = []
    for c in shown:
        members = np.flatnonzero(labels_pred == c)
        pick = np.sort(rng.choice(members, size=min(per_cluster, len(members)), replace=False))
        top = rows["label"].iloc[members].value_counts()
        name = "noise" if c == -1 else f"cluster {c}"
        out.append((f"{name}\nn={len(members)}, {top.index[0]} {top.iloc[0] / len(members):.0%}",
                    [images[i] for i in rows["index"].to_numpy()[pick]]))
    note = (f"showing the {len(shown)} largest of {len(ids)} clusters ({len(ids) - len(shown)} not shown)"
            if len(shown) < len(ids) else "")
    return plots.image_rows(out, path, suptitle=note)


# a medoid is the member with the least summed distance to the others; above this many members, to a seeded
# sample of this many of them (the medoid itself is still chosen among all members)
MEDOID_SAMPLE = 1000


def medoid_rows(X, labels_pred, seed: int = 0) -> dict:
    """{cluster: row of its medoid}: the member with the least summed Euclidean distance to the cluster's members
    (to a seeded sample of MEDOID_SAMPLE of them in larger clusters). Noise (-1) has no medoid."""
    X = _as_matrix(X)
    rng = np.random.default_rng(seed)
    out = {}
    for c in sorted(set(labels_pred.tolist()) - {NOISE_LABEL}):
        members = np.flatnonzero(labels_pred == c)
        ref = members if len(members) <= MEDOID_SAMPLE else np.sort(rng.choice(members, MEDOID_SAMPLE, replace=False))
        total = np.zeros(len(members))
        for a in range(0, len(members), 2048):
            total[a:a + 2048] = pairwise_distances(X[members[a:a + 2048]], X[ref]).sum(axis=1)
        out[int(c)] = int(members[int(np.argmin(total))])
    return out


def plot_medoids(labels_pred, X, rows: pd.DataFrame, *, images, path, seed: int = 0, ncols: int = 8) -> dict:
    """The representative (medoid) image of every cluster, titled with the cluster's size and label mix
    (the three largest shares).

    Parameters
    ----------
    labels_pred : numpy.ndarray, shape (n,)
        The cluster of every clustered row.
    X : array-like, shape (n, d)
        The clustered features (the medoids are chosen in them).
    rows : pandas.DataFrame
        The clustered rows of the manifest (``id``, ``label``, ``index``).
    images : array-like
        The dataset's images.
    path : str or Path
        The PNG written.
    seed : int
        Seed of :func:`medoid_rows`'s sample in large clusters.
    ncols : int
        Images per figure row.

    Returns
    -------
    dict
        ``{cluster: {"id", "n", "labels": {label: share}}}``.
    """
    from matplotlib.figure import Figure

    from imagespace.plots import _display

    med = medoid_rows(X, labels_pred, seed)
    clusters = sorted(med, key=lambda c: -int((labels_pred == c).sum()))[:GALLERY_CLUSTERS]
    info = {}
    n = max(1, len(clusters))
    cols = min(ncols, n)
    nrows = -(-n // cols)
    fig = Figure(figsize=(2.0 * cols, 2.5 * nrows + 0.5))
    axes = np.atleast_1d(fig.subplots(nrows, cols, squeeze=False)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, c in zip(axes, clusters):
        members = np.flatnonzero(labels_pred == c)
        mix = rows["label"].iloc[members].value_counts(normalize=True)
        info[c] = {"id": str(rows["id"].iloc[med[c]]), "n": int(len(members)),
                   "labels": {str(k): round(float(v), 4) for k, v in mix.items()}}
        img, cmap = _display(np.asarray(images[rows["index"].to_numpy()[med[c]]]))
        ax.imshow(img, cmap=cmap)
        ax.set_title(f"cluster {c} (n={len(members)})\n" + "\n".join(f"{k} {v:.0%}" for k, v in mix.iloc[:3].items()),
                     fontsize=7)
    left = len(med) - len(clusters)
    fig.suptitle("medoid of each cluster (the member nearest all others) and its label mix"
                 + (f"; the {len(clusters)} largest of {len(med)} clusters" if left else ""), fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
    return info


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
    for ax in axes[len(ks):]:
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, path)
    return means
