"""Rule ingest: manifest + uint8 image array + skipped list for one dataset."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821 - the imagespace library lives beside this script

from imagespace.ingest import ingest  # noqa: E402
from imagespace.util import logged_errors, setup_logging  # noqa: E402

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
    )
