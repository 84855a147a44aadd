"""LLE settings compared on four datasets: the 2-D map's spread ratio (imagespace.report.degeneracy), its
trustworthiness (5 neighbours) and the fitting time, per dataset x setting.

Inputs, as the workflow's 2-D maps see them (full-rank PCA scores have the pixels' distances, and LLE
depends on distances only): results/<d>/features/pca_full.npz of a workflow run for digits, synthetic and
rocks (configs/rocks.yaml), and a seeded, label-stratified 2,000-image subsample of the Fashion-MNIST test
archive, pixels on the unit scale (the default pca.scale).

    .venv/bin/python benchmarks/lle_settings.py --fashion <fashion_mnist_test.npz> [--out table.tsv]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from imagespace import embed  # noqa: E402
from imagespace.io import load_features  # noqa: E402
from imagespace.report import degeneracy  # noqa: E402
from imagespace.sampling import stratified_sample

# (method, n_neighbors, eigen_solver); hessian and ltsa fail with ARPACK's shift-invert on these data
# ("Factor is exactly singular"), so they run with the dense solver
SETTINGS = [
    ("standard", 5, "auto"),
    ("standard", 10, "auto"),
    ("standard", 15, "auto"),
    ("standard", 20, "auto"),
    ("modified", 10, "auto"),
    ("modified", 15, "auto"),
    ("modified", 20, "auto"),
    ("hessian", 10, "dense"),
    ("hessian", 20, "dense"),
    ("ltsa", 10, "dense"),
    ("ltsa", 20, "dense"),
]


def datasets(args) -> dict:
    out = {}
    for d in ("digits", "synthetic", "rocks"):
        p = Path(f"results/{d}/features/pca_full.npz")
        if p.exists():
            out[d] = load_features(p).X.astype(np.float64)
    if args.fashion:
        with np.load(args.fashion) as z:
            X, y = z["x_test"], z["y_test"]
        rows = stratified_sample(len(X), 2000, 0, y)
        out["fashion_mnist_2000"] = X[rows].reshape(len(rows), -1).astype(np.float64) / 255.0
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fashion", default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", default=None, help="comma-separated datasets")
    ap.add_argument("--settings", default=None, help="comma-separated method:n_neighbors")
    args = ap.parse_args()
    rows = []
    for name, X in datasets(args).items():
        if args.only and name not in args.only.split(","):
            continue
        for method, k, solver in SETTINGS:
            if args.settings and f"{method}:{k}" not in args.settings.split(","):
                continue
            p = embed.params_for("lle", {"method": method, "n_neighbors": k, "eigen_solver": solver})
            t0 = time.perf_counter()
            try:
                Y, _, _ = embed.embed("lle", X, 2, p, 42)
                secs = time.perf_counter() - t0
                spread = degeneracy.check(Y)["spread_ratio"]
                trust = embed.trustworthiness(X, Y, 5, 2000, 42)["value"]
                res = f"{spread:.3f}\t{trust:.3f}\t{secs:.1f}"
            except Exception as e:  # noqa: BLE001 - a setting that fails is a result of the comparison
                res = f"failed: {type(e).__name__}: {str(e)[:80]}\t\t{time.perf_counter() - t0:.1f}"
            line = f"{name}\t{len(X)}x{X.shape[1]}\t{method}\t{k}\t{solver}\t{res}"
            print(line, flush=True)
            rows.append(line)
    if args.out:
        Path(args.out).write_text(
            "dataset\tshape\tmethod\tn_neighbors\teigen_solver\tspread_ratio\ttrustworthiness\tseconds\n"
            + "\n".join(rows)
            + "\n"
        )


if __name__ == "__main__":
    main()
