"""Rule ingest: manifest + uint8 image array + skipped list for one dataset."""

import sys
from pathlib import Path

sys.path.insert(0, snakemake.scriptdir if "snakemake" in globals() else str(Path(__file__).resolve().parent))  # noqa: F821

from imagespace.ingest import ingest  # noqa: E402
from imagespace.util import logged_errors, setup_logging  # noqa: E402


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
