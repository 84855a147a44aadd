"""Rules cluster_<method>: one clustering method on one feature set (imagespace.cluster.METHODS), its figures and
scores."""

import sys

from imagespace import cluster
from imagespace.io import load_images, load_manifest, logged_errors, setup_logging


def main(snakemake):
    setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        p, inp = snakemake.params, snakemake.input
        # the library takes plain paths: every named output of the rule (assignments, result, table, one per figure)
        paths = dict(snakemake.output.items())
        cluster.run(
            p.method,
            inp.features,
            load_manifest(inp.manifest),
            opts=p.opts,
            split=p.split,
            paths=paths,
            images=load_images(inp.images),
            seed=p.settings.get("seed"),
            large_n=p.settings.get("large_n"),
            pca_model=inp.get("pca_model"),
            scale=p.scale,
            threads=snakemake.threads,
        )


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
