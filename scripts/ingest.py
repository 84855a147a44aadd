"""Rule ingest: manifest + uint8 image array + skipped list for one dataset."""

import sys

from imagespace.ingest import ingest
from imagespace.util import logged_errors, setup_logging


def main(snakemake):
    setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        settings = snakemake.params.settings
        ingest(
            snakemake.wildcards.dataset,
            settings,
            snakemake.output.manifest,
            snakemake.output.images,
            snakemake.output.skipped,
            snakemake.output.info,
            threads=snakemake.threads,
            on_error=settings["on_error"],
            out_duplicates=snakemake.output.duplicates,
        )


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
