"""Clusters drawn on the 2-D maps.

* :func:`plot_on_maps`: every clustering of the dataset colouring every 2-D map, a row per clustering;
* :func:`plot_kmeans_regions`: K-Means fitted on the 2-D PCA map, its Voronoi regions and centroids, the points
  coloured by label;
* :func:`plot_gmm_density`: a Gaussian mixture fitted on the 2-D PCA map, contours of its negative log-density,
  its decision boundaries and means, the points coloured by label.

The last two are fitted on the map's two coordinates, not on the clustered feature space: they show what a
clustering of that picture would be, as the notebooks drew it. k follows the dataset's ``clustering.kmeans.k``
and ``clustering.gmm.k`` (a number, the number of classes, or the scan's criterion on the 2-D map).
"""

from __future__ import annotations

import numpy as np

RESOLUTION = 300  # grid points per axis of the regions and contours


def _grid(Y, resolution: int = RESOLUTION):
    """A grid over the map's displayed frame (:func:`imagespace.report.plots.robust_limits`: the bulk, not far
    points)."""
    from imagespace.report.plots import robust_limits

    (x0, x1), (y0, y1), _ = robust_limits(Y)
    lo, hi = (x0, y0), (x1, y1)
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    return xx, yy, np.c_[xx.ravel(), yy.ravel()]


def _scatter_labels(ax, Y, labels, s: float = 10) -> int:
    """The points coloured by label, framed on the bulk (:func:`imagespace.report.plots.frame_bulk`); returns how many
    points are outside the frame."""
    from imagespace.report.plots import class_legend, frame_bulk, label_colors

    labels = np.asarray(labels).astype(str)
    colors = label_colors(labels)
    ax.scatter(
        Y[:, 0], Y[:, 1], c=[colors[lab] for lab in labels], s=s, edgecolors="k", linewidths=0.3, alpha=0.8, zorder=5
    )
    class_legend(ax, labels, colors, outside=True)
    return frame_bulk(ax, Y)


def _centroids(ax, C):
    ax.scatter(C[:, 0], C[:, 1], marker="o", s=120, color="w", zorder=10, alpha=0.9)
    ax.scatter(C[:, 0], C[:, 1], marker="x", s=60, linewidths=2.5, color="k", zorder=11)


def choose_k(method: str, Y, opts: dict, *, labels, seed: int) -> tuple[int, str]:
    """k for a 2-D fit: a number, the number of classes, or the criterion of a scan on the map; and how."""
    import pandas as pd

    from imagespace import cluster

    spec = opts["k"]
    rows = pd.DataFrame({"label": np.asarray(labels).astype(str)})
    if isinstance(spec, int) or spec == "n_classes":
        return cluster.resolve_k(spec, rows), "fixed" if isinstance(spec, int) else "number of classes"
    ks = cluster.k_range(opts, len(Y))
    if method == "kmeans":
        scan = cluster.kmeans_scan(Y, ks, seed, n_init=opts["n_init"])
    else:
        scan = cluster.gmm_scan(
            Y,
            ks,
            seed,
            covariance_type=opts["covariance_type"],
            n_init=opts["n_init"],
            reg_covar=opts["reg_covar"],
            max_iter=opts["max_iter"],
        )
    return cluster.resolve_k(spec, rows, scan), f"best {spec} of k = {ks[0]}..{ks[-1]} on the map"


def plot_kmeans_regions(Y, labels, *, k: int, seed: int, path, n_init=10, title: str = "") -> dict:
    """K-Means with *k* clusters on the 2-D map *Y*: Voronoi regions, boundaries and centroids; points by label."""
    from matplotlib.figure import Figure

    from imagespace import cluster
    from imagespace.io import save_figure
    from imagespace.report.plots import titled

    Y = np.asarray(Y, dtype=np.float64)
    model = cluster.fit_kmeans(Y, k, seed, n_init=n_init)
    xx, yy, pts = _grid(Y)
    Z = model.predict(pts).reshape(xx.shape)
    fig = Figure(figsize=(8, 6.5))
    ax = fig.subplots()
    ax.contourf(xx, yy, Z, levels=np.arange(k + 1) - 0.5, cmap="Pastel2", alpha=0.8)
    ax.contour(xx, yy, Z, levels=np.arange(k + 1) - 0.5, colors="k", linewidths=0.8)
    n_out = _scatter_labels(ax, Y, labels)
    _centroids(ax, model.cluster_centers_)
    ax.set_title(titled(title or f"K-Means (k={k}) on the 2-D map: regions and centroids", n_out, len(Y)), fontsize=10)
    save_figure(fig, path)
    return {"k": int(k), "inertia": float(model.inertia_), "centroids": model.cluster_centers_.round(6).tolist()}


def plot_gmm_density(
    Y,
    labels,
    *,
    k: int,
    seed: int,
    path,
    covariance_type: str = "full",
    n_init: int = 1,
    reg_covar: float = 1e-6,
    max_iter: int = 100,
    title: str = "",
) -> dict:
    """A Gaussian mixture with *k* components on the 2-D map: filled contours of -log density (log-spaced),
    the decision boundaries (red) and the means (components under a tenth of the largest weight not marked)."""
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    from imagespace import cluster
    from imagespace.io import save_figure
    from imagespace.report.plots import titled

    Y = np.asarray(Y, dtype=np.float64)
    gmm = cluster.fit_gmm(
        Y, k, seed, covariance_type=covariance_type, n_init=n_init, reg_covar=reg_covar, max_iter=max_iter
    )
    xx, yy, pts = _grid(Y)
    nll = -gmm.score_samples(pts).reshape(xx.shape)
    lo = float(np.quantile(nll, 0.001))
    hi = float(np.quantile(nll, 0.95))
    shift = 1.0 - min(lo, 0.0)  # log-spaced levels need positive values
    levels = np.logspace(np.log10(lo + shift), np.log10(max(hi + shift, lo + shift + 1e-6)), 12)
    fig = Figure(figsize=(8, 6.5))
    ax = fig.subplots()
    ax.contourf(
        xx,
        yy,
        nll + shift,
        levels=levels,
        norm=LogNorm(vmin=levels[0], vmax=levels[-1]),
        cmap="viridis_r",
        alpha=0.6,
        extend="max",
    )
    ax.contour(
        xx, yy, nll + shift, levels=levels, norm=LogNorm(vmin=levels[0], vmax=levels[-1]), colors="k", linewidths=0.4
    )
    Z = gmm.predict(pts).reshape(xx.shape)
    ax.contour(xx, yy, Z, levels=np.arange(k + 1) - 0.5, colors="r", linewidths=1.5, linestyles="dashed")
    n_out = _scatter_labels(ax, Y, labels)
    _centroids(ax, gmm.means_[gmm.weights_ > gmm.weights_.max() / 10])
    ax.set_title(
        titled(
            title or f"Gaussian mixture (k={k}, {covariance_type}) on the 2-D map: density and boundaries",
            n_out,
            len(Y),
        ),
        fontsize=10,
    )
    save_figure(fig, path)
    return {
        "k": int(k),
        "converged": bool(gmm.converged_),
        "bic": float(gmm.bic(Y)),
        "weights": gmm.weights_.round(6).tolist(),
    }


def plot_on_maps(maps: dict, clusterings: dict, path, *, title: str = "") -> dict:
    """Every clustering colouring every 2-D map: one row per clustering (*clusterings*: {name: {id: cluster}}), one
    column per map (*maps*: {name: (ids, Y)}), a legend of its clusters right of each row. Images a map does not
    hold, or the clustering did not assign, are grey. Returns {clustering: {map: points coloured}}."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from imagespace.io import save_figure
    from imagespace.report.explore import NOISE_COLOUR, _categorical
    from imagespace.report.plots import frame_bulk, titled

    names = list(maps)
    nrows, ncols = max(1, len(clusterings)), max(1, len(names))
    # panels shrink with many clusterings (clustering.feature_sets: all), so that the image stays a few thousand
    # pixels tall: panels of 3.4 inches up to 14 rows, no less than 1.2
    panel = max(1.2, min(3.4, 48 / nrows))
    height = panel * nrows + 0.6
    fig = Figure(figsize=(panel * 1.06 * ncols + 1.8, height))
    grid = fig.subplots(nrows, ncols, squeeze=False)
    all_ids = sorted({str(i) for ids, _ in maps.values() for i in np.asarray(ids).astype(str)})
    out = {}
    for axes, (clustering, assignment) in zip(grid, clusterings.items()):
        values = ["" if assignment.get(i) is None else str(assignment[i]) for i in all_ids]
        colours, legend, legend_colours = _categorical(values)
        colour_of = dict(zip(all_ids, colours))
        out[clustering] = {}
        for ax, name in zip(axes, names):
            ids, Y = maps[name]
            c = [colour_of[i] for i in np.asarray(ids).astype(str).tolist()]
            grey = np.array([x == NOISE_COLOUR for x in c], dtype=bool)
            ax.scatter(Y[grey, 0], Y[grey, 1], s=4, c=NOISE_COLOUR, alpha=0.5)
            ax.scatter(Y[~grey, 0], Y[~grey, 1], s=6, c=np.asarray(c, dtype=object)[~grey].tolist(), alpha=0.85)
            n_out = frame_bulk(ax, Y, s=16)
            ax.set_title(titled(name, n_out, len(Y)), fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            out[clustering][name] = int((~grey).sum())
        axes[0].set_ylabel(clustering, fontsize=10 if panel > 2 else 7)
        handles = [Patch(color=col, label=f"cluster {v}") for v, col in zip(legend, legend_colours)]
        if any(v in ("-1", "") for v in values):
            other = " / other clusters" if len(set(values)) > 21 else ""
            handles.append(Patch(color=NOISE_COLOUR, label=f"noise / not clustered{other}"))
        axes[-1].legend(
            handles=handles,
            loc="center left",
            bbox_to_anchor=(1.02, 0.5),
            fontsize=7,
            ncol=1 if len(handles) <= 12 else 2,
            frameon=False,
        )
    # the title in the top half inch, above the first row's, however tall the figure
    fig.suptitle(title, fontsize=11, y=1 - 0.1 / height, va="top")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / height))
    save_figure(fig, path)
    return out
