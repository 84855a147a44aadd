"""Rule curate_manifest: the curated manifest the fits read (curation.exclude, curation.relabel), its skipped list."""

import sys

from imagespace import curation
from imagespace.io import load_manifest, logged_errors, setup_logging, write_json, write_table


def main(snakemake):
    import pandas as pd

    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        inp, p = snakemake.input, snakemake.params
        manifest = load_manifest(inp.manifest)
        # both inputs are lists: empty where the key is not set
        issues = pd.read_csv(inp.issues[0], sep="\t", dtype=str, keep_default_na=False) if p.exclude else None
        corrections = curation.read_relabel(inp.relabel[0]) if p.relabel else None
        curated, skipped, facts = curation.curated_manifest(
            manifest,
            issues=issues,
            exclude=list(p.exclude),
            corrections=corrections,
            train_split=p.train_split,
            path=p.relabel or "",
        )
        write_table(snakemake.output.manifest, curated)
        write_table(snakemake.output.skipped, skipped)
        write_json(snakemake.output.info, facts)
        log.info(
            "%d training images excluded (curation.exclude %s: %s), %d labels corrected (curation.relabel %s)",
            facts["excluded"],
            facts["exclude"],
            facts["excluded_by_kind"],
            facts["relabelled"],
            facts["relabel"],
        )


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
