# Clusters drawn on the 2-D maps (imagespace.report.clustermaps); clustering.on_maps turns them off.
# every clustering of a dataset colouring every 2-D map: one job and one figure, a row per clustering
rule cluster_on_maps:
    input:
        assignments=lambda w: [
            f"results/{w.dataset}/clustering/{fs}/{m}/assignments.tsv"
            for fs, m in cluster_targets(w.dataset)
        ],
        manifest="results/{dataset}/ingest/manifest.tsv",
        maps=lambda w: [
            f"results/{w.dataset}/maps/{m}.npz" for m in map_methods(w.dataset)
        ],
    output:
        figure=report(
            "results/{dataset}/clustering/maps.png",
            caption="../report/cluster_on_maps.rst",
            category="{dataset}",
            subcategory="4 clustering",
        ),
    log:
        "logs/{dataset}/cluster_on_maps.log",
    benchmark:
        "benchmarks/runs/{dataset}/cluster_on_maps.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        lib=lib("cluster_on_maps"),
        clusterings=lambda w: [f"{fs} / {m}" for fs, m in cluster_targets(w.dataset)],
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
