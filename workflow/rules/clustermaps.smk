# Clusters drawn on the 2-D maps (imagespace.report.clustermaps); clustering.on_maps turns them off.
# one clustering colouring every 2-D map of its dataset
rule cluster_on_maps:
    input:
        assignments="results/{dataset}/clustering/{fs}/{clm}/assignments.tsv",
        manifest="results/{dataset}/ingest/manifest.tsv",
        maps=lambda w: [
            f"results/{w.dataset}/maps/{m}.npz" for m in map_methods(w.dataset)
        ],
    output:
        figure=report(
            "results/{dataset}/clustering/{fs}/{clm}/maps.png",
            caption="../report/cluster_on_maps.rst",
            category="{dataset}",
            subcategory="4 clustering",
        ),
    log:
        "logs/{dataset}/cluster_on_maps/{fs}_{clm}.log",
    benchmark:
        "benchmarks/runs/{dataset}/cluster_on_maps_{fs}_{clm}.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        lib=lib("cluster_on_maps"),
    script:
        "../../scripts/cluster_on_maps.py"


# K-Means regions and Gaussian-mixture density fitted on the 2-D PCA map, as the notebooks drew them
rule pca_cluster_maps:
    input:
        map="results/{dataset}/maps/pca.npz",
        manifest="results/{dataset}/ingest/manifest.tsv",
    output:
        kmeans=report(
            "results/{dataset}/maps/pca_kmeans.png",
            caption="../report/pca_cluster_maps.rst",
            category="{dataset}",
            subcategory="4 clustering",
        ),
        gmm=report(
            "results/{dataset}/maps/pca_gmm.png",
            caption="../report/pca_cluster_maps.rst",
            category="{dataset}",
            subcategory="4 clustering",
        ),
        info="results/{dataset}/maps/pca_clusters.json",
    log:
        "logs/{dataset}/pca_cluster_maps.log",
    benchmark:
        "benchmarks/runs/{dataset}/pca_cluster_maps.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=20,
    params:
        lib=lib("pca_cluster_maps"),
        kmeans=lambda w: S(w.dataset, "clustering")["kmeans"],
        gmm=lambda w: S(w.dataset, "clustering")["gmm"],
        seed=lambda w: S(w.dataset, "clustering")["seed"],
    script:
        "../../scripts/pca_cluster_maps.py"
