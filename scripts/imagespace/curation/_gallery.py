"""The review galleries: suspected mislabels beside examples of both labels, and the top outliers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

#: rows of the label-issue gallery, images of the outlier gallery
GALLERY_ROWS = 12
GALLERY_OUTLIERS = 24
EXAMPLES = 3


def _show(ax, img, title: str = "", color: str = "black") -> None:
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(img, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=6.5, color=color)


def _empty(fig, text: str):
    ax = fig.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, transform=ax.transAxes)


def typical_examples(scores: pd.DataFrame, *, n: int = EXAMPLES) -> dict:
    """{label: up to *n* training rows of that label, most typical first} (highest quality, not flagged).

    Parameters
    ----------
    scores : pandas.DataFrame
        :func:`imagespace.curation.scores_table` with a column ``train`` (bool) and the default index (rows).
    n : int
        Examples per label.

    Returns
    -------
    dict
    """
    ok = scores[scores["train"] & ~scores["label_issue"] & ~scores["outlier"]]
    ok = ok.sort_values(["label_issue_score", "outlier_score"], kind="mergesort")
    return {lab: g.index[:n].tolist() for lab, g in ok.groupby("label", sort=False)}


def plot_label_issues(scores: pd.DataFrame, images, *, image_rows, path, n: int = GALLERY_ROWS) -> int:
    """Gallery of the top suspected mislabels: each row the suspect (given -> suggested label, score), then
    three typical training images of the given label and three of the suggested one.

    Parameters
    ----------
    scores : pandas.DataFrame
        :func:`imagespace.curation.scores_table` plus a column ``train``.
    images : array-like
        The ingested images (N x H x W x C uint8).
    image_rows : numpy.ndarray
        The row of *images* of every row of *scores*.
    path : str or Path
        The PNG written.
    n : int
        Suspects shown (highest score first).

    Returns
    -------
    int
        Suspects drawn.
    """
    from matplotlib.figure import Figure

    from imagespace.io import save_figure

    top = scores[scores["label_issue"]].sort_values("label_issue_score", ascending=False, kind="mergesort")[:n]
    if not len(top):
        fig = Figure(figsize=(4, 1.5))
        _empty(fig, "no suspected mislabels")
        save_figure(fig, path)
        return 0
    ex = typical_examples(scores)
    ncol = 1 + 2 * EXAMPLES
    fig = Figure(figsize=(1.25 * ncol + 0.6, 1.6 * len(top) + 0.5), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(top), ncol, squeeze=False))
    for r, (i, row) in enumerate(top.iterrows()):
        title = f"{str(row['name'])[:22]}\n{row['label']} → {row['suggested']} ({row['label_issue_score']:.2f})"
        _show(axes[r, 0], images[int(image_rows[i])], title, color="crimson")
        for j, (lab, what) in enumerate(((row["label"], "given"), (row["suggested"], "suggested"))):
            rows = ex.get(lab, [])
            for c in range(EXAMPLES):
                ax = axes[r, 1 + j * EXAMPLES + c]
                if c < len(rows):
                    _show(ax, images[int(image_rows[rows[c]])], f"{what}: {lab}" if c == 0 else "")
                else:
                    ax.axis("off")
    fig.suptitle("suspected mislabels (red: given → suggested, score) beside training images of each label", fontsize=9)
    save_figure(fig, path)
    return len(top)


def plot_outliers(scores: pd.DataFrame, images, *, image_rows, path, n: int = GALLERY_OUTLIERS) -> int:
    """Gallery of the images with the highest outlier scores (flagged ones titled in red).

    Parameters
    ----------
    scores : pandas.DataFrame
        :func:`imagespace.curation.scores_table`.
    images : array-like
        The ingested images.
    image_rows : numpy.ndarray
        The row of *images* of every row of *scores*.
    path : str or Path
        The PNG written.
    n : int
        Images shown.

    Returns
    -------
    int
        Images drawn.
    """
    from matplotlib.figure import Figure

    from imagespace.io import save_figure

    top = scores.sort_values("outlier_score", ascending=False, kind="mergesort")[:n]
    if not len(top):
        fig = Figure(figsize=(4, 1.5))
        _empty(fig, "no images")
        save_figure(fig, path)
        return 0
    ncol = min(len(top), 6)
    nrow = math.ceil(len(top) / ncol)
    fig = Figure(figsize=(1.5 * ncol, 1.7 * nrow + 0.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, (i, row) in zip(axes, top.iterrows()):
        ax.axis("on")
        title = f"{str(row['name'])[:20]}\n{row['label']} ({row['outlier_score']:.2f})"
        _show(ax, images[int(image_rows[i])], title, color="crimson" if row["outlier"] else "black")
    flagged = int(scores["outlier"].sum())
    fig.suptitle(f"highest outlier scores (red: flagged, {flagged} in all)", fontsize=9)
    save_figure(fig, path)
    return len(top)
