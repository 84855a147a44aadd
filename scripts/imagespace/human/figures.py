"""Figures of a comparison with the human space: the permutation null and the aligned spaces."""

from __future__ import annotations

import numpy as np

from imagespace.io import save_figure

from ._resampling import _p_value


def plot_permutation(null, observed: float, path, title: str = "Procrustes disparity vs shuffled rows") -> None:
    """Histogram of the null disparities with a vertical line at *observed*; p in the title."""
    from matplotlib.figure import Figure

    null = np.asarray(null, dtype=float)
    p = _p_value(null, float(observed))
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.hist(null, bins=min(50, max(10, null.size // 20)), color="0.6", edgecolor="0.3", label="shuffled rows")
    ax.axvline(observed, color="crimson", lw=2, label=f"observed {observed:.3f}")
    lo, hi = min(float(null.min()), observed), max(float(null.max()), observed)
    pad = 0.05 * (hi - lo) if hi > lo else 0.01
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_xlabel("Procrustes disparity")
    ax.set_ylabel("permutations")
    ax.set_title(f"{title}\np = {p:.3g} ({null.size} permutations)")
    ax.legend(frameon=False)
    save_figure(fig, path)


def plot_aligned(H_aligned, F_aligned, labels, path, title: str = "Human vs aligned feature space") -> None:
    """First two aligned dimensions: human points (o) and feature points (x) coloured by label.

    A thin grey line joins each image's human point to its feature point.
    """
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from imagespace.report.plots import class_legend, label_colors

    A = np.asarray(H_aligned, dtype=float)
    B = np.asarray(F_aligned, dtype=float)
    if A.ndim == 1:
        A = A[:, None]
    if B.ndim == 1:
        B = B[:, None]
    if A.shape[1] == 1:
        A = np.column_stack([A, np.zeros(len(A))])
    if B.shape[1] == 1:
        B = np.column_stack([B, np.zeros(len(B))])
    A, B = A[:, :2], B[:, :2]
    labels = np.asarray(labels).astype(str) if labels is not None else np.full(len(A), "all")
    uniq = np.unique(labels)
    colors = label_colors(uniq)
    fig = Figure(figsize=(6, 6))
    ax = fig.subplots()
    ax.add_collection(LineCollection(np.stack([A, B], axis=1), colors="0.6", linewidths=0.4, alpha=0.6))
    for i, lab in enumerate(uniq):
        m = labels == lab
        col = colors[str(lab)]
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
    ax.set_title(title)
    class_legend(
        ax,
        labels,
        colors,
        extra_handles=kinds,
        outside=True,
        frameon=False,
        handle=lambda c, lab: Line2D([], [], ls="", marker="s", color=c, label=lab),
    )
    save_figure(fig, path)
