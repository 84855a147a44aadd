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


def finish(method: str, labels_pred, rows: pd.DataFrame, out_assign, out_result, out_sizes, extra: dict) -> dict:
    """Write assignments, scores and the cluster-size chart; return the result dict."""
    labels_pred = np.asarray(labels_pred)
    assign = rows[["id", "split", "label", "subtype"]].copy()
    assign["cluster"] = labels_pred
    write_table(out_assign, assign)
    scores = cluster.score_clustering(labels_pred, rows["label"].to_numpy(), rows["subtype"].to_numpy())
    result = {"method": method, "n": int(len(rows)), **extra, **scores}
    write_json(out_result, result)
    cluster.plot_cluster_sizes(labels_pred, rows["label"].to_numpy(), out_sizes)
    log.info("%s: k=%s accuracy %.4f (majority %.4f) ARI %.3f NMI %.3f", method, scores["k"], scores["accuracy"],
             scores["majority_accuracy"], scores["ari"], scores["nmi"])
    return result
