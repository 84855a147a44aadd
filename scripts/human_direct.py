"""Rule human_direct: every feature set of a split compared directly with the split's human data (RDM correlations
on the observed pairs, or triplet accuracy), with bootstrap CIs, the noise ceiling, and the paired comparisons of
every two feature sets on the same item resamples."""

import sys
from pathlib import Path

from imagespace.human import scores
from imagespace.io import (
    InputError,
    load_features,
    load_human_table,
    load_manifest,
    logged_errors,
    setup_logging,
    write_json,
    write_text,
)


def main(snakemake):
    setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        import pandas as pd

        o, split = snakemake.params.opts, snakemake.wildcards.split
        ids, _ = load_human_table(snakemake.input.human)
        manifest = load_manifest(snakemake.input.manifest)
        skipped = pd.read_csv(snakemake.input.skipped, sep="\t", dtype=str, keep_default_na=False)
        obs = scores.observed(snakemake.params.spec, split, manifest=manifest, skipped=skipped, ids=ids)
        features = {}
        for path in snakemake.input.features:
            try:  # rows are looked up by image id: never a positional join
                features[Path(path).stem] = load_features(path).rows(ids).astype("float64")
            except KeyError as exc:
                raise InputError(f"{path}: no rows for images of {snakemake.input.human}: {exc}") from exc
        if obs is None:
            res = None
        else:
            res = scores.split_scores(
                obs,
                features,
                n_boot=int(o["n_bootstrap"]),
                seed=int(o["seed"]),
                alpha=float(o["alpha"]),
                correction=o["correction"],
            )
        ceiling = scores.ceiling(obs) if res is None else res["ceiling"]
        write_json(snakemake.output.json, {"split": split, "result": res, "ceiling": ceiling})
        write_text(snakemake.output.md, "\n".join(scores.split_markdown(split, res)) + "\n")


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
