"""Rule paired: paired bootstrap between every two feature sets compared on one split, and the RDM heatmaps.

Rows are joined by image id (never by position), as in rule compare: the human table carries the
id of every row, and every feature set is indexed by those ids.
"""

import sys
from pathlib import Path

from imagespace.human import paired
from imagespace.io import (
    InputError,
    load_features,
    load_human_table,
    load_manifest,
    logged_errors,
    rows_all_equal,
    setup_logging,
    write_table,
)


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        import pandas as pd

        o, w = snakemake.params.opts, snakemake.wildcards
        ids, H = load_human_table(snakemake.input.human)
        manifest = load_manifest(snakemake.input.manifest).set_index("id")
        unknown = [i for i in ids if i not in manifest.index]
        if unknown:
            raise InputError(
                f"{snakemake.input.human}: {len(unknown)} ids not in {snakemake.input.manifest} (e.g. {unknown[:3]})"
            )
        features = {}
        for path in snakemake.input.features:
            fs = load_features(path)
            try:  # rows are looked up by image id: never a positional join
                features[Path(path).stem] = fs.rows(ids).astype("float64")
            except KeyError as exc:
                raise InputError(f"{path}: no rows for images of {snakemake.input.human}: {exc}") from exc
        constant = [m for m, F in features.items() if rows_all_equal(F)]
        for m in constant:  # a collapsed network: nothing to rank (its compare result says why)
            log.warning(
                "%s: every row is the same on %s (a collapsed network?): left out of the paired comparisons", m, w.split
            )
            del features[m]
        if not features:
            raise InputError(
                f"{w.dataset}, {w.split}: every feature set of the paired comparison is constant: {constant}"
            )
        boot = paired.bootstrap(H, features, n_boot=int(o["paired"]["n_bootstrap"]), seed=int(o["seed"]))
        # rows in order of their observed disparity (best first), so that a is the better-ranked row of each pair
        rank = sorted(range(len(boot["names"])), key=lambda r: boot["observed"]["disparity"][r])
        boot = {
            **boot,
            "names": [boot["names"][r] for r in rank],
            "observed": {m: v[rank] for m, v in boot["observed"].items()},
            "draws": {m: v[rank] for m, v in boot["draws"].items()},
        }
        rows = paired.pairs_table(boot, alpha=float(o["alpha"]), correction=o["paired"]["correction"], split=w.split)
        for r in rows:  # the table says how its p-values were judged (the summary reads them from here)
            r.update(alpha=float(o["alpha"]), correction=o["paired"]["correction"])
        columns = [
            "split",
            "metric",
            "a",
            "b",
            "n",
            "n_bootstrap",
            "a_value",
            "b_value",
            "diff",
            "boot_mean_diff",
            "se",
            "ci95_low",
            "ci95_high",
            "ci95_pct_low",
            "ci95_pct_high",
            "p",
            "p_sign",
            "p_adjusted",
            "better",
            "significant",
            "alpha",
            "correction",
        ]
        write_table(snakemake.output.table, pd.DataFrame(rows, columns=columns))
        n_sig = sum(r["significant"] for r in rows)
        log.info(
            "%d feature sets on %s (%d images), %d bootstrap draws: %d of %d paired differences significant "
            "(%s-adjusted p < %g)",
            len(features),
            w.split,
            len(ids),
            boot["n_boot"],
            n_sig,
            len(rows),
            o["paired"]["correction"],
            float(o["alpha"]),
        )
        labels = manifest.loc[ids, "label"].to_numpy()
        subtypes = manifest.loc[ids, "subtype"].to_numpy()
        rho = dict(zip(boot["names"], boot["observed"]["rdm_spearman"]))
        paired.plot_rdm_heatmaps(
            H,
            {m: features[m] for m in boot["names"]},
            labels,
            snakemake.output.heatmap,
            subtypes=subtypes,
            ids=ids,
            rho=rho,
            title=f"{w.dataset}, {w.split}: RDMs of {len(ids)} images, ordered by label then subtype "
            "(feature sets by disparity, best first)",
        )


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
