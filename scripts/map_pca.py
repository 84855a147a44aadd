"""Rule map_pca: the 2-D PCA map is the first two components of the pca feature set; its trustworthiness."""

import sys

from imagespace import embed
from imagespace.io import (
    load_features,
    load_manifest,
    logged_errors,
    own_image_mask,
    save_features,
    setup_logging,
    write_json,
)
from imagespace.report import degeneracy


def main(snakemake):
    import pandas as pd

    setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        fs = load_features(snakemake.input.features)
        m = load_manifest(snakemake.input.manifest).set_index("id").loc[fs.ids]
        own = own_image_mask(m)  # the collection's own images: no augmented copies (balance) on the map
        X, ids, labels = fs.X[own], fs.ids[own], m["label"].to_numpy()[own]
        full = load_features(snakemake.input.full)
        Y = full.X[pd.Index(full.ids).get_indexer(ids), :2]  # = X[:, :2] where the threshold keeps two or more
        save_features(snakemake.output.features, Y, ids, method="pca", n_components=2)
        p = snakemake.params
        trust = embed.trustworthiness(
            X,
            Y,
            p.trust["n_neighbors"],
            p.trust["max_rows"],
            int(p.seed),
            strata=labels,
            space=f"the pca feature set ({X.shape[1]} components)",
        )
        deg = {"method": "pca", **degeneracy.check(Y, **p.degeneracy)}
        write_json(
            snakemake.output.info,
            {"method": "pca", "n_components": 2, "n_rows": len(ids), "trustworthiness": trust, "degeneracy": deg},
        )


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
