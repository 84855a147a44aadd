"""What the clusters hold: their sizes by class, example images of each, and each one's medoid image.

Drawn on :class:`matplotlib.figure.Figure` objects and written atomically with :func:`imagespace.io.save_figure`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from imagespace.io import save_figure
from imagespace.report import plots

from ._base import NOISE_LABEL, _as_matrix, _labels, _noise_mask
from ._figures import _new_figure


def plot_cluster_sizes(y_pred, labels, path) -> None:
    """Stacked bars: for each cluster (noise last), the count of each true class.

    Parameters
    ----------
    y_pred : array-like, shape (n,)
        The clusters (-1: noise).
    labels : array-like, shape (n,)
        The classes.
    path : str or Path
        The PNG written.
    """
    import pandas as pd

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
        out.append(
            (
                f"{name}\nn={len(members)}, {top.index[0]} {top.iloc[0] / len(members):.0%}",
                [images[i] for i in rows["index"].to_numpy()[pick]],
            )
        )
    note = (
        f"showing the {len(shown)} largest of {len(ids)} clusters ({len(ids) - len(shown)} not shown)"
        if len(shown) < len(ids)
        else ""
    )
    return plots.image_rows(out, path, suptitle=note)


# a medoid is the member with the least summed distance to the others; above this many members, to a seeded
# sample of this many of them (the medoid itself is still chosen among all members)
MEDOID_SAMPLE = 1000


def medoid_rows(X, labels_pred, seed: int = 0) -> dict:
    """{cluster: row of its medoid}: the member with the least summed Euclidean distance to the cluster's members
    (to a seeded sample of MEDOID_SAMPLE of them in larger clusters). Noise (-1) has no medoid.

    Parameters
    ----------
    X : array-like, shape (n, d)
        The clustered features.
    labels_pred : numpy.ndarray, shape (n,)
        The clusters.
    seed : int
        Seed of the sample in large clusters.

    Returns
    -------
    dict
        ``{cluster: row index of its medoid}``.
    """
    from sklearn.metrics import pairwise_distances

    X = _as_matrix(X)
    rng = np.random.default_rng(seed)
    out = {}
    for c in sorted(set(labels_pred.tolist()) - {NOISE_LABEL}):
        members = np.flatnonzero(labels_pred == c)
        ref = members if len(members) <= MEDOID_SAMPLE else np.sort(rng.choice(members, MEDOID_SAMPLE, replace=False))
        total = np.zeros(len(members))
        for a in range(0, len(members), 2048):
            total[a : a + 2048] = pairwise_distances(X[members[a : a + 2048]], X[ref]).sum(axis=1)
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

    from imagespace.report.plots import display_image as _display

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
        info[c] = {
            "id": str(rows["id"].iloc[med[c]]),
            "n": int(len(members)),
            "labels": {str(k): round(float(v), 4) for k, v in mix.items()},
        }
        img, cmap = _display(np.asarray(images[rows["index"].to_numpy()[med[c]]]))
        ax.imshow(img, cmap=cmap)
        ax.set_title(
            f"cluster {c} (n={len(members)})\n" + "\n".join(f"{k} {v:.0%}" for k, v in mix.iloc[:3].items()), fontsize=7
        )
    left = len(med) - len(clusters)
    fig.suptitle(
        "medoid of each cluster (the member nearest all others) and its label mix"
        + (f"; the {len(clusters)} largest of {len(med)} clusters" if left else ""),
        fontsize=9,
    )
    fig.tight_layout()
    save_figure(fig, path)
    return info
