"""Rule pca_cluster_maps: K-Means regions and Gaussian-mixture density fitted on the 2-D PCA map."""

import sys

from imagespace.io import load_features, load_manifest, logged_errors, setup_logging, write_json
from imagespace.report import clustermaps


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        p = snakemake.params
        f = load_features(snakemake.input.map)
        labels = load_manifest(snakemake.input.manifest).set_index("id").loc[f.ids, "label"].to_numpy()
        Y = f.X[:, :2]
        k, how = clustermaps.choose_k("kmeans", Y, p.kmeans, labels=labels, seed=p.seed)
        km = clustermaps.plot_kmeans_regions(
            Y, labels, k=k, seed=p.seed, path=snakemake.output.kmeans, n_init=p.kmeans["n_init"]
        )
        km["k_chosen_by"] = how
        g = p.gmm
        k, how = clustermaps.choose_k("gmm", Y, g, labels=labels, seed=p.seed)
        gm = clustermaps.plot_gmm_density(
            Y,
            labels,
            k=k,
            seed=p.seed,
            path=snakemake.output.gmm,
            covariance_type=g["covariance_type"],
            n_init=g["n_init"],
            reg_covar=g["reg_covar"],
            max_iter=g["max_iter"],
        )
        gm["k_chosen_by"] = how
        write_json(snakemake.output.info, {"kmeans": km, "gmm": gm, "n": int(len(Y))})
        log.info("K-Means k=%d (%s); GMM k=%d (%s)", km["k"], km["k_chosen_by"], gm["k"], gm["k_chosen_by"])


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
