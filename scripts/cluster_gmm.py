"""Rule cluster_gmm: BIC/AIC scan over k, final Gaussian mixture (EM), samples shown as images, scores."""

import sys
from pathlib import Path

sys.path.insert(0, snakemake.scriptdir if "snakemake" in globals() else str(Path(__file__).resolve().parent))  # noqa: F821

from imagespace import cluster, pca, plots  # noqa: E402
from imagespace.util import load_images, load_manifest, logged_errors, setup_logging, write_table# noqa: E402


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        import numpy as np

        p, out, inp = snakemake.params, snakemake.output, snakemake.input
        X, rows = cluster.load_rows(inp.features, load_manifest(inp.manifest), p.split)
        o = p.opts
        fit_kw = dict(covariance_type=o["covariance_type"], n_init=o["n_init"], reg_covar=o["reg_covar"], max_iter=o["max_iter"])
        scan = cluster.gmm_scan(X, cluster.k_range(o, len(X)), p.seed, **fit_kw)
        write_table(out.table, scan)
        k = cluster.resolve_k(o["k"], rows, scan)
        cluster.plot_gmm_scan(scan, out.scan, chosen_k=k)
        gmm = cluster.fit_gmm(X, k, p.seed, **fit_kw)
        pred = gmm.predict(X)
        samples = cluster.gmm_samples(gmm, int(o["n_samples"]), p.seed)
        images = load_images(inp.images)
        if "pca_model" in inp.keys():
            # samples live in PCA-score space: map them back to pixels through the PCA
            res, shape = pca.load_model(inp.pca_model)
            shown = pca.reconstruct(res, samples).reshape((len(samples),) + shape)
            how = "decoded through the PCA"
        else:
            # no inverse map: show the real image nearest to each sample
            idx = cluster.nearest_rows(X, samples)
            shown = images[rows["index"].to_numpy()[idx]]
            how = "nearest real image to each sample"
        plots.image_grid(np.asarray(shown), out.samples, titles=[f"sample {i + 1}" for i in range(len(samples))])
        log.info("GMM: %d samples drawn (%s)", len(samples), how)
        cluster.finish("gmm", pred, rows, out,
                     {"params": dict(o), "seed": p.seed, "converged": bool(gmm.converged_), "samples": how,
                      "bic": float(gmm.bic(X)), "aic": float(gmm.aic(X))}, images)


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
