"""Rule cluster_kmeans: inertia/silhouette scan over k, final K-Means, silhouette diagram, scores."""

import sys
from pathlib import Path

sys.path.insert(0, snakemake.scriptdir if "snakemake" in globals() else str(Path(__file__).resolve().parent))  # noqa: F821

from imagespace import cluster  # noqa: E402
from imagespace.util import load_images, load_manifest, logged_errors, setup_logging, write_table# noqa: E402


def main(snakemake):
    setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        p, out = snakemake.params, snakemake.output
        X, rows = cluster.load_rows(snakemake.input.features, load_manifest(snakemake.input.manifest), p.split)
        n_init = p.opts["n_init"]
        # silhouettes are O(n^2): above clustering.large_n they are computed on a seeded sample of that size
        sample = p.large_n if p.large_n is not None and len(X) > p.large_n else None
        scan = cluster.kmeans_scan(X, cluster.k_range(p.opts, len(X)), p.seed, n_init=n_init, silhouette_sample_size=sample)
        write_table(out.table, scan)
        k = cluster.resolve_k(p.opts["k"], rows, scan)
        cluster.plot_kmeans_scan(scan, out.scan, chosen_k=k)
        model = cluster.fit_kmeans(X, k, p.seed, n_init=n_init)
        cluster.plot_silhouette_diagram(X, model.labels_, out.silhouette, title=f"K-Means, k={k}", sample_size=sample, seed=p.seed)
        strategy = {"name": "exact", "n_points": len(X)} if sample is None else {"name": "sampled silhouettes", "n_points": len(X),
                                                                                    "silhouette_sample": sample}
        cluster.finish("kmeans", model.labels_, rows, out,
                     {"params": dict(p.opts), "seed": p.seed, "inertia": float(model.inertia_), "strategy": strategy},
                     load_images(snakemake.input.images))


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
