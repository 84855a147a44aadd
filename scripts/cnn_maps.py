"""Rule cnn_maps: 2-D PCA and t-SNE maps of a CNN's features, coloured by label and by K-Means cluster."""

import sys
from pathlib import Path

sys.path.insert(0, snakemake.scriptdir if "snakemake" in globals() else str(Path(__file__).resolve().parent))  # noqa: F821

from imagespace import embed  # noqa: E402
from imagespace.util import load_features, load_manifest, logged_errors, setup_logging  # noqa: E402


def main(snakemake):
    setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        import pandas as pd

        fs = load_features(snakemake.input.features)
        labels = load_manifest(snakemake.input.manifest).set_index("id").loc[fs.ids, "label"].to_numpy()
        clusters = pd.read_csv(snakemake.input.clusters, sep="\t", dtype={"id": str}).set_index("id")["cluster"]
        embed.plot_feature_maps(fs.X, labels, clusters.reindex(fs.ids), snakemake.output.maps, seed=snakemake.params.seed,
                              tsne=snakemake.params.tsne,
                              title=f"{snakemake.wildcards.dataset}: {snakemake.wildcards.variant} penultimate features ({len(fs.X)} images)")


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
