"""Rule cluster_dbscan: k-distance curve, eps from its knee (or config), DBSCAN, scores."""

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
        ms = int(p.opts["min_samples"])
        kd = cluster.kdistance(X, ms)
        eps = cluster.choose_eps(kd) if p.opts["eps"] == "auto" else float(p.opts["eps"])
        cluster.plot_kdistance(kd, eps, ms, out.kdistance)
        pred = cluster.fit_dbscan(X, eps, ms)
        cluster.finish("dbscan", pred, rows, out,
                     {"params": dict(p.opts), "eps": eps, "eps_source": "k-distance knee" if p.opts["eps"] == "auto" else "config"}, load_images(snakemake.input.images))


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
