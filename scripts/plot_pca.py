"""Rule plot_pca: explained-variance curve and original-vs-reconstruction grid."""

import sys

from imagespace import pca
from imagespace.io import load_features, load_images, load_manifest, logged_errors, read_json, setup_logging  # noqa: E402
from imagespace.report import plots


def main(snakemake):
    setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        import numpy as np

        opts, info = snakemake.params.opts, read_json(snakemake.input.info)
        res, shape = pca.load_model(snakemake.input.model)
        d = info["n_components_for_threshold"]
        plots.variance_curve(
            res.explained_variance_ratio,
            info["threshold"],
            d,
            snakemake.output.curve,
            title=f"{snakemake.wildcards.dataset}: {d} components > {info['threshold']:.0%} "
            f"(PC1 {info['pc1_variance_ratio']:.3f}, PC2 {info['pc2_variance_ratio'] or float('nan'):.3f})",
        )
        manifest = load_manifest(snakemake.input.manifest)
        images = load_images(snakemake.input.images)
        feats = load_features(snakemake.input.features)
        # a few images per class, spread over the classes
        rng = np.random.default_rng(0)
        n = int(opts["n_reconstruct"])
        classes = sorted(manifest["label"].unique())
        pick = []
        for i in range(n):
            rows = np.flatnonzero(manifest["label"] == classes[i % len(classes)])
            pick.append(int(rng.choice(np.setdiff1d(rows, pick) if len(np.setdiff1d(rows, pick)) else rows)))
        scores = feats.rows(manifest["id"].to_numpy()[pick]).astype(np.float64)
        rows = [("original", [images[i] for i in pick])]
        for k in sorted({min(2, d), min(10, d), d}):
            rec = pca.to_pixels(res, pca.reconstruct(res, scores[:, :k])).reshape((len(pick),) + shape)
            rows.append((f"{k} PCs", list(rec)))
        plots.image_rows(rows, snakemake.output.reconstruction, titles=manifest["label"].to_numpy()[pick])


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
