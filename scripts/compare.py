"""Rule compare: Procrustes disparity of one feature set vs each split's human space, with a permutation baseline.

One job per feature set compares it with the human space of every split it is compared on (params.splits, in the
order of input.human): one JSON and one figure of each kind, a panel per split. Rows are joined by image id (never
by position): the human table carries the id of every row, and the feature set is indexed by those ids.
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


def compare_split(fs, features_path, human_path, manifest, manifest_path, opts):
    """The comparison of the feature set *fs* with one split's human table: (result, figure arrays, labels)."""
    ids, H = load_human_table(human_path)
    try:  # rows are looked up by image id: never a positional join
        F = fs.rows(ids).astype("float64")
    except KeyError as exc:
        raise InputError(f"{features_path}: no rows for images of {human_path}: {exc}") from exc
    unknown = [i for i in ids if i not in manifest.index]
    if unknown:
        raise InputError(f"{human_path}: {len(unknown)} ids not in {manifest_path} (e.g. {unknown[:3]})")
    labels = manifest.loc[ids, "label"].to_numpy()
    subtypes = manifest.loc[ids, "subtype"].to_numpy()
    res = comparison.statistics(
        H,
        F,
        n_perm=int(opts["n_permutations"]),
        n_boot=int(opts["n_bootstrap"]),
        seed=int(opts["seed"]),
        alpha=float(opts["alpha"]),
        labels=labels,
        subtypes=subtypes if (subtypes != labels).any() else None,
    )
    return res, res.pop("_arrays"), labels


def main(snakemake):
    setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        w = snakemake.wildcards
        fs = load_features(snakemake.input.features)
        manifest = load_manifest(snakemake.input.manifest).set_index("id")
        splits, null, aligned = {}, {}, {}
        for split, human in zip(snakemake.params.splits, snakemake.input.human, strict=True):
            res, arrays, labels = compare_split(
                fs, snakemake.input.features, human, manifest, snakemake.input.manifest, snakemake.params.opts
            )
            splits[split] = {"split": split, **res}
            null[split] = (arrays["null"], res["disparity"])
            aligned[split] = (arrays["H_aligned"], arrays["F_aligned"], labels)
        title = f"{w.dataset}: {w.fs} vs the human space"
        figures.plot_permutation(null, snakemake.output.permutation, title=title)
        figures.plot_aligned(aligned, snakemake.output.aligned, title=title)
        out = {"feature_set": w.fs, "join": "by image id", "meta": fs.meta, "splits": splits}
        write_json(snakemake.output.result, out)


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
