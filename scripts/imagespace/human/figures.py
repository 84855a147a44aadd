"""Figures of a comparison with the human space: the permutation null and the aligned spaces."""

from __future__ import annotations

import numpy as np

from imagespace.io import save_figure

from ._resampling import _p_value


def _panels(n: int, width: float, height: float):
    """A figure with *n* axes side by side."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * max(1, n), height))
    return fig, np.atleast_1d(fig.subplots(1, max(1, n), squeeze=False)).ravel()


def plot_permutation(panels, path, *, title: str = "Procrustes disparity vs shuffled rows") -> None:
    """Histograms of the null disparities with a vertical line at the observed one, one panel per split.

    Parameters
    ----------
    panels : mapping
        {split: (null disparities, observed disparity)}; each panel's title gives its p.
    path
        The figure.
    title
        The figure's title.
    """
    fig, axes = _panels(len(panels), 6, 4.3)
    for ax, (name, (null, observed)) in zip(axes, panels.items()):
        null, observed = np.asarray(null, dtype=float), float(observed)
        p = _p_value(null, observed)
        ax.hist(null, bins=min(50, max(10, null.size // 20)), color="0.6", edgecolor="0.3", label="shuffled rows")
        ax.axvline(observed, color="crimson", lw=2, label=f"observed {observed:.3f}")
        lo, hi = min(float(null.min()), observed), max(float(null.max()), observed)
        pad = 0.05 * (hi - lo) if hi > lo else 0.01
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_xlabel("Procrustes disparity")
        ax.set_ylabel("permutations")
        ax.set_title(f"{name}: p = {p:.3g} ({null.size} permutations)", fontsize=10)
        ax.legend(frameon=False)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)


def plot_aligned(panels, path, *, title: str = "Human vs aligned feature space") -> None:
    """First two aligned dimensions, one panel per split: human points (o) and feature points (x) coloured by label.

    A thin grey line joins each image's human point to its feature point.

    Parameters
    ----------
    panels : mapping
        {split: (aligned human coordinates, aligned features, labels or None)}, rows in the same order.
    path
        The figure.
    title
        The figure's title.
    """
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    from imagespace.report.plots import class_legend, label_colors

    fig, axes = _panels(len(panels), 6.5, 6)
    for ax, (name, (H_aligned, F_aligned, labels)) in zip(axes, panels.items()):
        A, B = (_two_columns(X) for X in (H_aligned, F_aligned))
        labels = np.asarray(labels).astype(str) if labels is not None else np.full(len(A), "all")
        colors = label_colors(np.unique(labels))
        ax.add_collection(LineCollection(np.stack([A, B], axis=1), colors="0.6", linewidths=0.4, alpha=0.6))
        for lab, col in colors.items():
            m = labels == lab
            ax.scatter(A[m, 0], A[m, 1], s=18, marker="o", color=col, alpha=0.8)
            ax.scatter(B[m, 0], B[m, 1], s=18, marker="x", color=col, alpha=0.8)
        kinds = [
            Line2D([], [], ls="", marker="o", color="k", label="human"),
            Line2D([], [], ls="", marker="x", color="k", label="features (aligned)"),
        ]
        ax.autoscale()
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("aligned dim 1")
        ax.set_ylabel("aligned dim 2")
        ax.set_title(name, fontsize=10)
        class_legend(
            ax,
            labels,
            colors,
            extra_handles=kinds,
            outside=True,
            frameon=False,
            handle=lambda c, lab: Line2D([], [], ls="", marker="s", color=c, label=lab),
        )
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)


def _two_columns(X):
    """The first two columns of *X* (a zero column added to a 1-D space)."""
    X = np.asarray(X, dtype=float)
    X = X[:, None] if X.ndim == 1 else X
    return (np.column_stack([X, np.zeros(len(X))]) if X.shape[1] == 1 else X)[:, :2]
