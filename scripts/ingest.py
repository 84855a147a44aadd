"""Rule ingest: manifest + uint8 image array + skipped list for one dataset."""

import sys

from imagespace.ingest import IngestOutputs, ingest
from imagespace.io import logged_errors, setup_logging


def main(snakemake):
    setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        settings = snakemake.params.settings
        out = snakemake.output
        ingest(
            snakemake.wildcards.dataset,
            settings,
            IngestOutputs(out.manifest, out.images, out.skipped, info=out.info, duplicates=out.duplicates),
            threads=snakemake.threads,
            on_error=settings["on_error"],
        )


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
