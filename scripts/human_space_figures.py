"""Rule human_space_figures: the stress curve and the Shepard diagram of a human space built from human data."""

import json
import sys

from imagespace.human import scaling, scores
from imagespace.io import InputError, load_human_table, load_manifest, logged_errors, setup_logging


def main(snakemake):
    setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        import pandas as pd

        split, spec = snakemake.wildcards.split, snakemake.params.spec
        ids, H = load_human_table(snakemake.input.human)
        manifest = load_manifest(snakemake.input.manifest)
        skipped = pd.read_csv(snakemake.input.skipped, sep="\t", dtype=str, keep_default_na=False)
        obs = scores.observed(spec, split, manifest=manifest, skipped=skipped, ids=ids)
        if obs is None:
            raise InputError(f"human.{split}: coordinates were given; there is no fit of a space to data to show")
        built = json.loads(open(snakemake.input.check, encoding="utf-8").read()).get("built") or {}
        scaling.figures_of_fit(obs, H, built, stress=snakemake.output.stress, shepard=snakemake.output.shepard)


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
