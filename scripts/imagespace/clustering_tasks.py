"""What each clustering rule does, as plain functions: rows, final k, assignments, scores."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from imagespace import cluster
from imagespace.util import load_features, write_json, write_table

log = logging.getLogger("imagespace.clustering")


def load_rows(features_path, manifest: pd.DataFrame, split: str):
    """(X, rows of the manifest) for the clustered split, in the feature set's row order."""
    fs = load_features(features_path)
    m = manifest.set_index("id").loc[fs.ids]
    keep = np.ones(len(m), bool) if split == "all" else (m["split"] == split).to_numpy()
    if keep.sum() < 3:
        raise ValueError(f"clustering.split {split!r} selects {int(keep.sum())} rows of {features_path}")
    return fs.X[keep].astype(np.float64), m[keep].reset_index()


def resolve_k(spec, rows: pd.DataFrame, scan: pd.DataFrame | None = None) -> int:
    """Final k: an integer, 'n_classes', or a criterion of the scan ('silhouette', 'bic', 'aic')."""
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        return int(spec)
    if spec == "n_classes":
        return int(rows["label"].nunique())
    if scan is None:
        raise ValueError(f"k: {spec!r} needs a scan")
    return cluster.select_k(scan, spec)


def k_range(opts: dict, n: int) -> list[int]:
    return list(range(int(opts["k_min"]), min(int(opts["k_max"]), n - 1) + 1))


def gallery(labels_pred, rows: pd.DataFrame, images, path, per_cluster: int = 8, seed: int = 0) -> None:
    """Example images per cluster: one row per cluster, titled with its size and majority class."""
    from imagespace import plots

    rng = np.random.default_rng(seed)
    out = []
    for c in sorted(set(labels_pred.tolist()), key=lambda v: (v == -1, v)):
        members = np.flatnonzero(labels_pred == c)
        pick = np.sort(rng.choice(members, size=min(per_cluster, len(members)), replace=False))
        top = rows["label"].iloc[members].value_counts()
        name = "noise" if c == -1 else f"cluster {c}"
        out.append((f"{name}\nn={len(members)}, {top.index[0]} {top.iloc[0] / len(members):.0%}",
                    [images[i] for i in rows["index"].to_numpy()[pick]]))
    plots.image_rows(out[:30], path)


def finish(method: str, labels_pred, rows: pd.DataFrame, out, extra: dict, images) -> dict:
    """Write assignments, scores, the cluster-size chart and the gallery; return the result dict.

    *out* holds the paths ``assignments``, ``result``, ``sizes`` and ``gallery``.
    """
    labels_pred = np.asarray(labels_pred)
    assign = rows[["id", "split", "label", "subtype"]].copy()
    assign["cluster"] = labels_pred
    write_table(out.assignments, assign)
    scores = cluster.score_clustering(labels_pred, rows["label"].to_numpy(), rows["subtype"].to_numpy())
    result = {"method": method, "n": int(len(rows)), **extra, **scores}
    write_json(out.result, result)
    cluster.plot_cluster_sizes(labels_pred, rows["label"].to_numpy(), out.sizes)
    gallery(labels_pred, rows, images, out.gallery)
    log.info("%s: k=%s accuracy %.4f (majority %.4f) ARI %.3f NMI %.3f", method, scores["k"], scores["accuracy"],
             scores["majority_accuracy"], scores["ari"], scores["nmi"])
    return result
