"""Figures for the PCA and the 2-D maps (matplotlib Figure objects; PNG written atomically)."""

from __future__ import annotations

import math

import numpy as np

from imagespace.io import natural_key, save_figure


def display_image(img: np.ndarray) -> tuple[np.ndarray, str | None]:
    """An image ready for ``imshow``: scaled to [0, 1] by its own range, one channel squeezed.

    Parameters
    ----------
    img : numpy.ndarray
        An image of shape ``(h, w)``, ``(h, w, 1)`` or ``(h, w, 3)``, any numeric dtype.

    Returns
    -------
    tuple of (numpy.ndarray, str or None)
        The float64 image (all zeros when it is constant) and the colour map to draw it with ("gray" for one
        channel, None for colour).
    """
    img = np.asarray(img, dtype=np.float64)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    lo, hi = img.min(), img.max()
    img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    return img, ("gray" if img.ndim == 2 else None)


def class_colors(n: int) -> list:
    """*n* distinct colours, the same everywhere a class or cluster is drawn (RGBA tuples).

    Up to 10: matplotlib's tab10 (the figures' colours since the start). Above 10: colorcet's Glasbey palette
    ``glasbey_category10``, whose first 10 colours are tab10 and whose later ones were each chosen to be as far as
    possible, perceptually (CAM02-UCS), from all before it, so that any number of classes gets colours that stay
    apart (tab20 had near-twins and repeated itself after 20). The palette has 256 colours; beyond that they repeat.
    """
    from matplotlib import colormaps

    if n <= 10:
        cmap = colormaps["tab10"]
        return [cmap(i) for i in range(n)]
    import colorcet

    palette = colorcet.glasbey_category10
    return [(*map(float, palette[i % len(palette)]), 1.0) for i in range(n)]


def label_colors(labels) -> dict:
    """{label: colour} over the distinct labels (as strings) in natural order (2 before 10)."""
    uniq = sorted(set(map(str, labels)), key=natural_key)
    return dict(zip(uniq, class_colors(len(uniq))))


def variance_curve(ratio: np.ndarray, threshold: float, d: int, path, *, title: str = "") -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    x = np.arange(1, len(ratio) + 1)
    ax.plot(x, np.cumsum(ratio), label="cumulative")
    ax.bar(x, ratio, color="0.6", label="per component")
    ax.axhline(threshold, color="r", ls="--", lw=1)
    ax.axvline(d, color="r", ls=":", lw=1)
    ax.annotate(
        f"{d} components > {threshold:.0%}", (d, threshold), textcoords="offset points", xytext=(8, -14), color="r"
    )
    ax.set_xlabel("number of components")
    ax.set_ylabel("explained variance ratio")
    ax.set_title(title or f"PC1 {ratio[0]:.3f}, PC2 {ratio[1] if len(ratio) > 1 else float('nan'):.3f}")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="center right")
    save_figure(fig, path)


def image_rows(rows: list[tuple[str, np.ndarray]], path, *, titles=None, suptitle: str = ""):
    """A grid with one row per (row_title, images) pair, e.g. originals vs reconstructions."""
    from matplotlib.figure import Figure

    ncol = max(len(imgs) for _, imgs in rows)
    height = 1.8 * len(rows)
    fig = Figure(figsize=(1.6 * ncol, height))
    # matplotlib's margins are shares of the height: capped in inches, so that a tall grid (a gallery of 30
    # clusters) has no hand's breadth of blank between its title and its first row
    fig.subplots_adjust(top=1 - min(0.12 * height, 0.7) / height, bottom=min(0.11 * height, 1.0) / height)
    axes = np.atleast_2d(fig.subplots(len(rows), ncol, squeeze=False))
    for r, (name, imgs) in enumerate(rows):
        for c in range(ncol):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(imgs):
                img, cmap = display_image(imgs[c])
                ax.imshow(img, cmap=cmap)
                if titles is not None and r == 0:
                    ax.set_title(str(titles[c]), fontsize=7)
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(name, fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, y=1 - min(0.02 * height, 0.15) / height)
    save_figure(fig, path)
    return fig


# a legend has at most this many entries: the largest classes, one entry saying how many are not listed, and
# the extra entries (the split's markers)
MAX_LEGEND = 20


def class_legend(ax, labels, colors: dict, *, extra_handles=(), handle=None, outside: bool = False, **kw) -> None:
    """A legend by class, at most MAX_LEGEND entries in all (*extra_handles* included): when the classes do not
    fit, the largest ones and a last entry saying how many are not listed.

    *handle(colour, label)* draws one class's entry (default: a dot of the class colour). With *outside* (a figure
    of one map), the two-column legend of more than 10 classes goes to the right of the axes, not over the points."""
    from matplotlib.lines import Line2D

    if handle is None:

        def handle(color, label):
            return Line2D([], [], ls="", marker="o", color=color, label=label)

    room = max(2, MAX_LEGEND - len(extra_handles))
    counts = _label_counts(labels)
    shown = (
        sorted(colors, key=natural_key)
        if len(colors) <= room
        else sorted(sorted(counts, key=lambda c: -counts[c])[: room - 1], key=natural_key)
    )
    handles = [handle(colors[c], c) for c in shown]
    if len(shown) < len(colors):
        handles.append(Line2D([], [], ls="", label=f"... {len(colors) - len(shown)} more classes not listed"))
    where = {"loc": "best"}
    if outside and len(handles) > 10:  # two columns: more than 10 classes
        where = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0}
    ax.legend(
        handles=handles + list(extra_handles),
        fontsize=7,
        markerscale=1.2,
        ncol=1 if len(handles) <= 10 else 2,
        **{**where, **kw},
    )


def _label_counts(labels) -> dict:
    values, counts = np.unique(np.asarray(labels).astype(str), return_counts=True)
    return dict(zip(values.tolist(), counts.tolist()))


#: far points drawn at the frame's edge: this marker, in black
EDGE_MARKER = "X"


def robust_limits(xy, *, coverage: float = 0.95, far_factor: float = 2.0, pad: float = 0.05):
    """Display limits that frame a map's bulk: ((x0, x1), (y0, y1), inside).

    The bulk is every point no farther from the median point than *far_factor* times the radius holding
    *coverage* of the points: the limits always frame at least *coverage* of them (padded by *pad* of the
    range), and leave out only small far groups, such as the few images a degenerate embedding puts on one
    distant spot, which would otherwise squeeze the rest into a corner.

    Parameters
    ----------
    xy : array (n, >= 2)
        The map (its first two columns are used).
    coverage : float
        The share of points the radius holds.
    far_factor : float
        Points beyond this many radii are outside the frame.
    pad : float
        The margin, a share of each axis' range.

    Returns
    -------
    (x0, x1), (y0, y1), inside
        The limits, and a boolean mask of the points inside them.
    """
    Y = np.asarray(xy, dtype=np.float64)[:, :2]
    finite = np.isfinite(Y).all(axis=1)
    if not finite.any():
        return (-1.0, 1.0), (-1.0, 1.0), finite
    centre = np.median(Y[finite], axis=0)
    r = np.linalg.norm(Y - centre, axis=1)
    radius = float(np.quantile(r[finite], coverage))
    bulk = finite & (r <= far_factor * radius)
    lo, hi = Y[bulk].min(axis=0), Y[bulk].max(axis=0)
    span = hi - lo
    span = np.where(span > 0, span, np.maximum(np.abs(hi), 1.0) * 1e-3)  # a coincident bulk: a small window
    lo, hi = lo - pad * span, hi + pad * span
    inside = finite & np.all((Y >= lo) & (Y <= hi), axis=1)
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1])), inside


def frame_bulk(ax, Y, *, coverage: float = 0.95, s: float = 30) -> int:
    """Limits *ax* to the bulk of the map *Y* (:func:`robust_limits`); the points outside are drawn at the frame's
    edge (clipped onto it) with :data:`EDGE_MARKER` in black. Returns how many are outside (0: the full extent)."""
    (x0, x1), (y0, y1), inside = robust_limits(Y, coverage=coverage)
    Y = np.asarray(Y, dtype=np.float64)[:, :2]
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    out = ~inside & np.isfinite(Y).all(axis=1)
    if out.any():
        inset = 0.01
        cx = np.clip(Y[out, 0], x0 + inset * (x1 - x0), x1 - inset * (x1 - x0))
        cy = np.clip(Y[out, 1], y0 + inset * (y1 - y0), y1 - inset * (y1 - y0))
        ax.scatter(cx, cy, s=s, marker=EDGE_MARKER, color="k", linewidths=0.5, zorder=20, clip_on=False)
    return int(out.sum())


def edge_note(n_out: int, n: int) -> str:
    """The caption line for :func:`frame_bulk`'s points outside the frame ("" when none)."""
    if not n_out:
        return ""
    return f"{n_out} of {n} points far outside the frame, drawn at its edge ({EDGE_MARKER})"


def titled(title: str, n_out: int, n: int) -> str:
    """*title* with :func:`edge_note` on a second line."""
    note = edge_note(n_out, n)
    return f"{title}\n{note}" if note and title else (note or title)


def scatter_groups(ax, Y: np.ndarray, labels, *, s: float = 12, outside: bool = False) -> None:
    """The first two columns of *Y* on *ax*, one colour per label, with a class legend (see class_legend)."""
    colors = label_colors(labels)
    labels = np.asarray(labels).astype(str)
    for lab in sorted(colors, key=natural_key):
        m = labels == lab
        ax.scatter(Y[m, 0], Y[m, 1], s=s, color=colors[lab], alpha=0.8)
    class_legend(ax, labels, colors, outside=outside)


def scatter_by_label(Y: np.ndarray, labels, path, *, title: str = "", marker_by=None):
    """A 2-D map coloured by label; with *marker_by* (the split) one marker per group. The legend lists the
    classes (at most MAX_LEGEND) and the markers, not every class x split pair. Returns the figure."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(6.5, 5.5))
    ax = fig.subplots()
    if marker_by is None:
        scatter_groups(ax, Y, labels, outside=True)
    else:
        colors = label_colors(labels)
        labels = np.asarray(labels).astype(str)
        markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
        groups = np.asarray(marker_by).astype(str)
        kinds = sorted(set(groups))
        for lab in sorted(colors, key=natural_key):
            for gi, g in enumerate(kinds):
                mm = (labels == lab) & (groups == g)
                ax.scatter(Y[mm, 0], Y[mm, 1], s=12, color=colors[lab], marker=markers[gi % len(markers)], alpha=0.8)
        split_handles = [
            Line2D([], [], ls="", marker=markers[gi % len(markers)], color="0.3", label=g) for gi, g in enumerate(kinds)
        ]
        class_legend(ax, labels, colors, extra_handles=split_handles, outside=True)
    n_out = frame_bulk(ax, Y)
    ax.set_title(titled(title, n_out, len(Y)), fontsize=10 if n_out else None)
    save_figure(fig, path)
    return fig


def thumbnails(
    Y: np.ndarray, images, labels, path, *, n: int = 150, seed: int = 0, title: str = "", zoom: float | None = None
):
    """The 2-D map with image thumbnails at their coordinates (a random subset of n images), framed in their class
    colour; the legend lists the classes as :func:`class_legend` does. Returns the figure."""
    from matplotlib.figure import Figure
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    fig = Figure(figsize=(10, 9))
    ax = fig.subplots()
    colors = label_colors(labels)
    labels = np.asarray(labels).astype(str)
    ax.scatter(Y[:, 0], Y[:, 1], s=4, c=[colors[lab] for lab in labels], alpha=0.4)
    n_out = frame_bulk(ax, Y)
    inside = robust_limits(Y)[2]
    rng = np.random.default_rng(seed)
    candidates = np.flatnonzero(inside)  # thumbnails of images inside the frame only
    idx = rng.choice(candidates, size=min(n, len(candidates)), replace=False)
    st = max(1, images.shape[1] // 48)  # subsample large images before drawing
    h = len(range(0, images.shape[1], st))
    zoom = zoom if zoom is not None else min(1.0, 36.0 / h)
    for i in idx:
        img, cmap = display_image(np.asarray(images[i][::st, ::st]))
        box = OffsetImage(img, zoom=zoom, cmap=cmap)
        ab = AnnotationBbox(
            box, (Y[i, 0], Y[i, 1]), frameon=True, pad=0.1, bboxprops={"edgecolor": colors[labels[i]], "linewidth": 1.5}
        )
        ax.add_artist(ab)
    from matplotlib.patches import Patch

    class_legend(
        ax,
        labels,
        colors,
        handle=lambda c, lab: Patch(facecolor="none", edgecolor=c, linewidth=1.5, label=lab),
        outside=True,
    )
    ax.set_title(titled(title, n_out, len(Y)))
    save_figure(fig, path, dpi=100)
    return fig


def image_grid(images, path, *, titles=None, ncols: int = 10) -> None:
    """Grid of images (n×H×W or n×H×W×C), each min-max normalised for display.

    Single-channel images are drawn with the gray colormap; C=3/4 as RGB(A).
    """
    from matplotlib.figure import Figure

    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4):
        raise ValueError(f"images must be n×H×W or n×H×W×C, got shape {images.shape}")
    n = images.shape[0]
    if titles is not None and len(titles) != n:
        raise ValueError(f"{len(titles)} titles for {n} images")
    ncols = max(1, min(int(ncols), n))
    nrows = max(1, math.ceil(n / ncols))
    fig = Figure(figsize=(1.2 * ncols, 1.2 * nrows + (0.25 * nrows if titles is not None else 0)))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes:
        ax.set_axis_off()
    if n == 0:
        axes[0].text(0.5, 0.5, "no images", ha="center", va="center")
    for i in range(n):
        img = images[i].astype(np.float64)
        lo, hi = np.nanmin(img), np.nanmax(img)
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
        if img.ndim == 2:
            axes[i].imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        else:
            axes[i].imshow(img, interpolation="nearest")
        if titles is not None:
            axes[i].set_title(str(titles[i]), fontsize=7)
    save_figure(fig, path)


def plot_leaderboard(rows: list[dict], path, *, title: str = "", splits: list[str] = ()) -> None:
    """Horizontal bars of the disparity per feature set and split, with the bootstrap CI; rows the split's top row
    does not significantly beat (paired bootstrap) are marked n.s.

    Parameters
    ----------
    rows : list of dict
        The leaderboard (:func:`imagespace.report.leaderboard`), best first.
    path : str or pathlib.Path
        The PNG to write (atomically).
    title : str
        The figure's title.
    splits : list of str
        The splits to draw, one bar each per row.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 0.45 * max(3, len(rows)) + 1.2))
    ax = fig.subplots()
    y = np.arange(len(rows))
    h = 0.8 / max(1, len(splits))
    for j, sp in enumerate(splits):
        vals = np.array([r.get(f"{sp}_disparity", np.nan) for r in rows])
        lo = vals - np.array([r.get(f"{sp}_ci95_low", np.nan) for r in rows])
        hi = np.array([r.get(f"{sp}_ci95_high", np.nan) for r in rows]) - vals
        ax.barh(y + j * h, vals, height=h, xerr=[lo, hi], label=sp, capsize=2)
        beaten = [r.get(f"{sp}_beaten_by_top") for r in rows]
        marked = any(b is not None for b in beaten)
        for i, b in enumerate(beaten):  # rows the split's top row does not significantly beat (paired bootstrap)
            if marked and b is False and np.isfinite(vals[i]):
                ax.text(
                    min(0.99, vals[i] + (hi[i] if np.isfinite(hi[i]) else 0) + 0.01),
                    y[i] + j * h,
                    "n.s.",
                    va="center",
                    fontsize=7,
                )
    ax.set_yticks(
        y + h * (len(splits) - 1) / 2,
        [f"{r['feature_set']} (chosen)" if r.get("chosen") else r["feature_set"] for r in rows],
    )
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    paired = any(r.get(f"{sp}_beaten_by_top") is not None for r in rows for sp in splits)
    ranked = any(r.get("selection_rank") for r in rows)
    ax.set_xlabel(
        "Procrustes disparity vs human space (lower = closer), 95% bootstrap CI"
        + (
            "\nranked by the out-of-fold disparity on the maps' training split (held-out splits never rank)"
            if ranked
            else ""
        )
        + (
            "\nn.s. = not significantly farther than the chosen (top) row (paired bootstrap, corrected)"
            if paired
            else ""
        )
    )
    ax.set_title(title)
    ax.legend()
    save_figure(fig, path)
