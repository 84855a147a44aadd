"""Rule human_space: join one split's human similarity space to the ingested images, and check it."""

import sys

from imagespace import human
from imagespace.io import load_human_table, load_manifest, logged_errors, setup_logging, write_json, write_table


def _figures(record: dict, output) -> None:
    """The stress curve and Shepard diagram of a space built by MDS, where the rule declares them."""
    if getattr(output, "stress", None) and record.get("stress_curve"):
        human.scaling.plot_stress_curve(record["stress_curve"], record["dims"], output.stress)
    if getattr(output, "shepard", None) and record.get("shepard"):
        human.scaling.plot_shepard(record["shepard"], output.shepard)


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        import pandas as pd

        split, spec = snakemake.wildcards.split, snakemake.params.spec
        manifest = load_manifest(snakemake.input.manifest)
        skipped = pd.read_csv(snakemake.input.skipped, sep="\t", dtype=str, keep_default_na=False)
        notes, record = [], None
        if spec.get("builtin"):
            table = human.builtin_synthetic({"source": snakemake.params.source}, split, manifest, int(spec["dims"]))
        elif spec.get("kind") not in (None, "coordinates"):
            table, notes, record = human.join_data(spec, split, manifest, skipped=skipped)
            _figures(record, snakemake.output)
        else:
            table, notes = human.join(spec, split, manifest, skipped)
        write_table(snakemake.output.table, table)
        ids, H = load_human_table(snakemake.output.table)
        labels = manifest.set_index("id").loc[ids]
        check = {
            "split": split,
            "n": len(ids),
            "dims": H.shape[1],
            "source": spec.get("path", "builtin"),
            "notes": notes,
        }
        if record is not None:  # the space built from matrices, ratings or triplets (Shepard data left out)
            check["built"] = {k: v for k, v in record.items() if k != "shepard"}
        for key in ("label", "subtype"):
            if labels[key].nunique() > 1 and labels[key].duplicated().any():
                r = human.label_structure(
                    H, labels[key].to_numpy(), snakemake.params.n_permutations, snakemake.params.seed
                )
                check[key] = {k: v for k, v in r.items() if k != "null"}
        for key in ("label", "subtype"):
            if key in check:
                r = check[key]
                log.info(
                    "human space %s: within/between-%s distance ratio %.3f (p=%.4f)",
                    split,
                    key,
                    r["ratio"],
                    r["permutation_p"],
                )
        write_json(snakemake.output.check, check)


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
