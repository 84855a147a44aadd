"""Rule cnn_maps: 2-D PCA and t-SNE maps of a CNN's features, coloured by label and by K-Means cluster."""

import sys

from imagespace import embed
from imagespace.io import load_features, load_manifest, logged_errors, own_image_mask, setup_logging, write_json


def main(snakemake):
    setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        import pandas as pd

        fs = load_features(snakemake.input.features)
        m = load_manifest(snakemake.input.manifest).set_index("id").loc[fs.ids]
        own = own_image_mask(m)  # the collection's own images: no augmented copies (balance) on the maps
        X, ids, labels = fs.X[own], fs.ids[own], m["label"].to_numpy()[own]
        clusters = pd.read_csv(snakemake.input.clusters, sep="\t", dtype={"id": str}).set_index("id")["cluster"]
        v = snakemake.wildcards.variant
        degeneracy = {}
        trust = embed.plot_feature_maps(
            X,
            labels,
            clusters.reindex(ids),
            snakemake.output.maps,
            seed=snakemake.params.seed,
            tsne=snakemake.params.tsne,
            trust=snakemake.params.trust,
            n_jobs=snakemake.threads,
            title=f"{snakemake.wildcards.dataset}: {v} penultimate features ({len(X)} images)",
            degeneracy=degeneracy,
        )
        write_json(
            snakemake.output.info,
            {
                "method": f"{v}_features",
                "n_components": 2,
                "n_rows": len(ids),
                "trustworthiness_by_map": trust,
                "degeneracy_by_map": degeneracy,
            },
        )


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
