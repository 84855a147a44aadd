"""clustimage's own pipeline on a folder of images, timed (run by the harness in clustimage's virtualenv).

    python clustimage_run.py FOLDER OUT.json [--dim W H] [--gray] [--max-clust N]

clustimage 1.7.1 as its README runs it: load and resize to 128 x 128 (colour; --dim, --gray), PCA keeping
95% of the variance, t-SNE for the 2-D map, Ward agglomerative clustering with the number of clusters
chosen by the silhouette over 3..25 (--max-clust), on the PCA features (cluster_space "high"). Writes every
image's cluster label, the number of PCA components and the wall time.
"""

import argparse
import json
import os
import time

t0 = time.perf_counter()
from clustimage import Clustimage  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("folder")
ap.add_argument("out")
ap.add_argument("--dim", type=int, nargs=2, default=(128, 128))
ap.add_argument("--gray", action="store_true")
ap.add_argument("--max-clust", type=int, default=25)
a = ap.parse_args()
folder, out = a.folder, a.out
paths = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith((".png", ".jpg", ".jpeg")))
cl = Clustimage(
    method="pca",
    embedding="tsne",
    grayscale=a.gray,
    dim=tuple(a.dim),
    params_pca={"n_components": 0.95},
    ncores=2,
    verbose="warning",
)
res = cl.fit_transform(
    paths,
    cluster="agglomerative",
    evaluate="silhouette",
    metric="euclidean",
    linkage="ward",
    min_clust=3,
    max_clust=a.max_clust,
    cluster_space="high",
)
wall = time.perf_counter() - t0
names = [os.path.basename(p) for p in res["pathnames"]]
with open(out, "w") as fh:
    json.dump(
        {
            "wall_s_in_process": round(wall, 3),
            "n_images": len(names),
            "filenames": names,
            "labels": [int(v) for v in res["labels"]],
            "n_clusters": len(set(int(v) for v in res["labels"])),
            "n_pca_components": int(res["feat"].shape[1]),
        },
        fh,
    )
