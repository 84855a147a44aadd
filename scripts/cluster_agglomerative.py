"""Rule cluster_agglomerative: hierarchical clustering (Ward by default), dendrogram, scores."""

import sys
from pathlib import Path

sys.path.insert(0, snakemake.scriptdir if "snakemake" in globals() else str(Path(__file__).resolve().parent))  # noqa: F821

from imagespace import cluster  # noqa: E402
from imagespace.util import load_images, load_manifest, logged_errors, setup_logging# noqa: E402


def main(snakemake):
    setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        p, out = snakemake.params, snakemake.output
        X, rows = cluster.load_rows(snakemake.input.features, load_manifest(snakemake.input.manifest), p.split)
        k = cluster.resolve_k(p.opts["k"], rows)
        labels = rows["label"].to_numpy()
        if p.large_n is not None and len(X) > p.large_n:  # the tree is O(n^2) in memory: built on a stratified subsample
            pred, Z, idx, strategy = cluster.fit_agglomerative_large(X, k, p.opts["linkage"], p.large_n, p.seed, strata=labels)
            cluster.plot_dendrogram(Z, labels[idx], out.dendrogram)
        else:
            pred, Z = cluster.fit_agglomerative(X, k, linkage=p.opts["linkage"])
            strategy = {"name": "exact", "n_points": len(X)}
            cluster.plot_dendrogram(Z, labels, out.dendrogram)
        cluster.finish("agglomerative", pred, rows, out,
                     {"params": dict(p.opts), "strategy": strategy}, load_images(snakemake.input.images))


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
