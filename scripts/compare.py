"""Rule compare: Procrustes disparity of one feature set vs one split's human space, with a permutation baseline.

Rows are joined by image id (never by position): the human table carries the id
of every row, and the feature set is indexed by those ids.
"""

import sys

from imagespace.human import comparison, figures
from imagespace.io import (
    InputError,
    load_features,
    load_human_table,
    load_manifest,
    logged_errors,
    setup_logging,
    write_json,
)


def main(snakemake):
    setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        o, w = snakemake.params.opts, snakemake.wildcards
        ids, H = load_human_table(snakemake.input.human)
        fs = load_features(snakemake.input.features)
        try:  # rows are looked up by image id: never a positional join
            F = fs.rows(ids).astype("float64")
        except KeyError as exc:
            raise InputError(
                f"{snakemake.input.features}: no rows for images of {snakemake.input.human}: {exc}"
            ) from exc
        manifest = load_manifest(snakemake.input.manifest).set_index("id")
        unknown = [i for i in ids if i not in manifest.index]
        if unknown:
            raise InputError(
                f"{snakemake.input.human}: {len(unknown)} ids not in {snakemake.input.manifest} (e.g. {unknown[:3]})"
            )
        labels = manifest.loc[ids, "label"].to_numpy()
        subtypes = manifest.loc[ids, "subtype"].to_numpy()
        res = comparison.statistics(
            H,
            F,
            n_perm=int(o["n_permutations"]),
            n_boot=int(o["n_bootstrap"]),
            seed=int(o["seed"]),
            alpha=float(o["alpha"]),
            labels=labels,
            subtypes=subtypes if (subtypes != labels).any() else None,
        )
        arrays = res.pop("_arrays")
        title = f"{w.dataset}: {w.fs} vs human ({w.split})"
        figures.plot_permutation(arrays["null"], res["disparity"], snakemake.output.permutation, title=title)
        figures.plot_aligned(arrays["H_aligned"], arrays["F_aligned"], labels, snakemake.output.aligned, title=title)
        out = {"feature_set": w.fs, "split": w.split, "join": "by image id", "meta": fs.meta, **res}
        write_json(snakemake.output.result, out)


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
