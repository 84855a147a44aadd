"""Rule pca: exact PCA of the pixel arrays; the threshold components become the `pca` feature set."""

import sys

from imagespace import pca
from imagespace.io import (
    load_images,
    load_manifest,
    logged_errors,
    own_image_mask,
    save_features,
    setup_logging,
    write_json,
    write_table,
)


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        import numpy as np
        import pandas as pd

        opts = snakemake.params.opts
        manifest = load_manifest(snakemake.input.manifest)
        images = load_images(snakemake.input.images)
        X = images.reshape(len(images), -1)  # a view of the memory map: no copy
        fit_split = opts["fit_split"]
        own = own_image_mask(manifest)  # augmented copies (balance) are projected, not fitted
        fit_rows = np.flatnonzero(own if fit_split == "all" else own & (manifest["split"] == fit_split).to_numpy())
        if len(fit_rows) < 3:
            raise ValueError(
                f"pca.fit_split {fit_split!r} selects {len(fit_rows)} images of {snakemake.input.manifest}"
            )
        scale = {"unit": 1.0 / 255.0, "raw": 1.0}.get(opts["scale"])
        if opts["scale"] == "standardize":  # per-pixel z-scores over the fitted rows, in column chunks of the memmap
            scale = pca.standardizing_scale(X, fit_rows)
        # keep as many component vectors as the threshold needs (at least 10, for maps and comparisons)
        res = pca.fit(X, fit_rows, scale, threshold=opts["threshold"], min_store=10)
        d = res.n_components_for(opts["threshold"])
        ids = manifest["id"].to_numpy()
        scores = np.empty((len(manifest), res.components.shape[0]))
        scores[fit_rows] = res.fit_scores[:, : res.components.shape[0]]
        other = np.setdiff1d(np.arange(len(manifest)), fit_rows)
        if len(other):
            scores[other] = pca.transform(res, X, other)
        pca.save_model(snakemake.output.model, res, images.shape[1:])
        save_features(
            snakemake.output.features, scores[:, :d], ids, kind="pca", threshold=opts["threshold"], fit_split=fit_split
        )
        save_features(
            snakemake.output.full,
            res.fit_scores,
            ids[fit_rows],
            kind="pca_full",
            fit_split=fit_split,
            note="all non-null components of the fitted rows: pairwise distances equal those of the centred pixels",
        )
        ratio = res.explained_variance_ratio
        write_table(
            snakemake.output.variance,
            pd.DataFrame(
                {
                    "component": np.arange(1, len(ratio) + 1),
                    "explained_variance": res.explained_variance,
                    "explained_variance_ratio": ratio,
                    "cumulative_ratio": np.cumsum(ratio),
                }
            ),
        )
        info = {
            "threshold": opts["threshold"],
            "n_components_for_threshold": d,
            "method": res.method,
            "fit_split": fit_split,
            "n_fit": int(len(fit_rows)),
            "n_features": int(X.shape[1]),
            "rank": int(len(ratio)),
            "pc1_variance_ratio": float(ratio[0]),
            "pc2_variance_ratio": float(ratio[1]) if len(ratio) > 1 else None,
            "scale": opts["scale"],
        }
        write_json(snakemake.output.info, info)
        log.info(
            "PCA: %d components explain > %.0f%% of the variance (PC1 %.3f, PC2 %s)",
            d,
            100 * opts["threshold"],
            ratio[0],
            f"{ratio[1]:.3f}" if len(ratio) > 1 else "-",
        )


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
