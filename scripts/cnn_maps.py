"""Rule cnn_maps: 2-D PCA and t-SNE maps of a CNN's features, coloured by label and by K-Means cluster."""

import sys
from pathlib import Path

sys.path.insert(0, snakemake.scriptdir if "snakemake" in globals() else str(Path(__file__).resolve().parent))  # noqa: F821

from imagespace import plots  # noqa: E402
from imagespace.util import load_features, load_manifest, logged_errors, save_figure, setup_logging# noqa: E402


def main(snakemake):
    setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        import numpy as np
        import pandas as pd
        from matplotlib.figure import Figure
        from sklearn.decomposition import PCA
        from sklearn.manifold import TSNE

        fs = load_features(snakemake.input.features)
        labels = load_manifest(snakemake.input.manifest).set_index("id").loc[fs.ids, "label"].to_numpy()
        clusters = pd.read_csv(snakemake.input.clusters, sep="\t", dtype={"id": str}).set_index("id")["cluster"]
        X = fs.X.astype(np.float64)
        n = len(X)
        proj = {
            "PCA": PCA(n_components=2, random_state=snakemake.params.seed).fit_transform(X),
            "t-SNE": TSNE(n_components=2, perplexity=min(float(snakemake.params.perplexity), (n - 1) / 3),
                          random_state=snakemake.params.seed, init="pca").fit_transform(X),
        }
        fig = Figure(figsize=(12, 10))
        axes = fig.subplots(2, 2)
        for r, (name, Y) in enumerate(proj.items()):
            for c, (what, groups) in enumerate((("label", labels), ("K-Means cluster", clusters.reindex(fs.ids).fillna(-2).astype(int).astype(str).replace("-2", "not clustered").to_numpy()))):
                colors = plots.label_colors(groups)
                ax = axes[r, c]
                for g in sorted(colors):
                    m = groups == g
                    ax.scatter(Y[m, 0], Y[m, 1], s=10, color=colors[g], label=g, alpha=0.8)
                ax.set_title(f"{name}, coloured by {what}")
                ax.legend(fontsize=7, markerscale=1.5)
        fig.suptitle(f"{snakemake.wildcards.dataset}: {snakemake.wildcards.variant} penultimate features ({n} images)")
        save_figure(fig, snakemake.output.maps)


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
