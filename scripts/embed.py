"""Rules embed / map_embed: one manifold method at k (feature set) or 2 (map) dimensions."""

import sys
from pathlib import Path

from imagespace import embed
from imagespace.io import (
    load_features,
    load_manifest,
    logged_errors,
    own_image_mask,
    own_rows,
    save_features,
    setup_logging,
    write_json,
)
from imagespace.report import degeneracy


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        import numpy as np

        method, p = snakemake.wildcards.method, snakemake.params
        src = load_features(snakemake.input.features)
        manifest = load_manifest(snakemake.input.manifest).set_index("id")
        split = manifest.loc[src.ids, "split"].to_numpy()
        own = own_image_mask(manifest.reset_index())  # augmented copies (balance) are not fitted
        fit = own_rows(src.ids, manifest.reset_index()) & (True if p.fit_split == "all" else split == p.fit_split)
        wanted = (
            int(own.sum()) if p.fit_split == "all" else int((own & (manifest["split"] == p.fit_split).to_numpy()).sum())
        )
        if fit.sum() < wanted:
            raise ValueError(
                f"{snakemake.input.features} holds {int(fit.sum())} of the {wanted} images of embeddings.fit_split "
                f"{p.fit_split!r}: with embeddings.input 'pixels' the PCA must be fitted on them too (pca.fit_split)"
            )
        if fit.sum() < 3:
            raise ValueError(
                f"embeddings.fit_split {p.fit_split!r} selects {int(fit.sum())} rows of {snakemake.input.features}"
            )
        params = embed.params_for(method, p.opts)
        Y, Y_other, info = embed.embed(
            method,
            src.X[fit],
            int(p.n_components),
            params,
            int(p.seed),
            X_other=src.X[~fit],
            n_jobs=snakemake.threads,
            large_n=p.scale["large_n"],
            landmarks=int(p.scale["landmarks"]),
            strata=manifest.loc[src.ids[fit], "label"].to_numpy(),
        )
        deg = degeneracy.check(Y, held_out=Y_other, **p.degeneracy)
        if "n_neighbors" in info["params"] and method in embed.NEIGHBOUR_GRAPH:  # the graph the method solves on
            deg["neighbour_graph"] = degeneracy.neighbour_components(src.X[fit], info["params"]["n_neighbors"])
        ids, X = src.ids[fit], src.X[fit]
        if Y_other is not None:
            Y = np.vstack([Y, Y_other])
            ids = np.concatenate([ids, src.ids[~fit]])
            X = np.vstack([X, src.X[~fit]])
        elif (~fit).any():
            log.info(
                "%s has no out-of-sample transform: %d rows outside split %r are not embedded",
                method,
                int((~fit).sum()),
                p.fit_split,
            )
        info.update({"input": snakemake.input.features, "fit_split": p.fit_split, "n_rows": len(ids)})
        info["trustworthiness"] = embed.trustworthiness(
            X,
            Y,
            p.trust["n_neighbors"],
            p.trust["max_rows"],
            int(p.seed),
            strata=manifest.loc[ids, "label"].to_numpy(),
            space=f"its input ({Path(snakemake.input.features).stem} features, {X.shape[1]} dimensions)",
        )
        log.info(
            "%s: trustworthiness %.3f (%d neighbours, %d rows)",
            method,
            info["trustworthiness"]["value"],
            info["trustworthiness"]["n_neighbors"],
            info["trustworthiness"]["n_rows"],
        )
        info["degeneracy"] = {"method": method, **deg}
        log.info(
            "%s: spread ratio %.3f, %d far points, %d points on %d spots%s",
            method,
            deg["spread_ratio"],
            deg["n_far"],
            deg["n_in_spots"],
            deg["n_spots"],
            f", neighbour graph: {deg['neighbour_graph']['n_components']} component(s)"
            if "neighbour_graph" in deg
            else "",
        )
        save_features(snakemake.output.features, Y, ids, **info)
        write_json(snakemake.output.info, info)


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
