# One rule per method so that a parameter of one method reruns only that method.
# Every rule reads a feature set by name: results/{dataset}/features/{fs}.npz.

CLUSTER_IN = {
    "features": "results/{dataset}/features/{fs}.npz",
    "manifest": "results/{dataset}/ingest/manifest.tsv",
}


def cluster_params(method):
    return {
        "opts": lambda w: S(w.dataset, "clustering")[method],
        "split": lambda w: S(w.dataset, "clustering")["split"],
        "seed": lambda w: S(w.dataset, "clustering")["seed"],
    }


def cluster_out(method, *figures):
    d = f"results/{{dataset}}/clustering/{{fs}}/{method}"
    out = {
        "assignments": f"{d}/assignments.tsv",
        "result": f"{d}/result.json",
        "sizes": report(f"{d}/sizes.png", caption="../report/cluster_sizes.rst", category="{dataset}", subcategory="4 clustering"),
    }
    for fig in figures:
        out[fig] = report(f"{d}/{fig}.png", caption=f"../report/cluster_{fig}.rst", category="{dataset}", subcategory="4 clustering")
    return out


def gmm_inputs(wildcards):
    extra = {"pca_model": f"results/{wildcards.dataset}/pca/model.npz"} if wildcards.fs == "pca" else {}
    return {**CLUSTER_IN, "images": "results/{dataset}/ingest/images.npy", **extra}


rule cluster_kmeans:
    input:
        **CLUSTER_IN,
        lib=lib("cluster", "clustering_tasks", "ingest"),
    output:
        **cluster_out("kmeans", "scan", "silhouette"),
        table="results/{dataset}/clustering/{fs}/kmeans/scan.tsv",
    params:
        **cluster_params("kmeans"),
    log:
        "logs/{dataset}/cluster_{fs}_kmeans.log",
    benchmark:
        "benchmarks/{dataset}/cluster_{fs}_kmeans.tsv"
    threads: config["threads"]
    resources:
        mem_mb=mem_from_input(4),
        runtime=30,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/cluster_kmeans.py"


rule cluster_gmm:
    input:
        unpack(gmm_inputs),
        lib=lib("cluster", "clustering_tasks", "ingest", "pca"),
    output:
        **cluster_out("gmm", "scan", "samples"),
        table="results/{dataset}/clustering/{fs}/gmm/scan.tsv",
    params:
        **cluster_params("gmm"),
    log:
        "logs/{dataset}/cluster_{fs}_gmm.log",
    benchmark:
        "benchmarks/{dataset}/cluster_{fs}_gmm.tsv"
    threads: config["threads"]
    resources:
        mem_mb=mem_from_input(4),
        runtime=60,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/cluster_gmm.py"


rule cluster_dbscan:
    input:
        **CLUSTER_IN,
        lib=lib("cluster", "clustering_tasks", "ingest"),
    output:
        **cluster_out("dbscan", "kdistance"),
    params:
        **cluster_params("dbscan"),
    log:
        "logs/{dataset}/cluster_{fs}_dbscan.log",
    threads: 1
    resources:
        mem_mb=mem_from_input(4),
        runtime=30,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/cluster_dbscan.py"


rule cluster_agglomerative:
    input:
        **CLUSTER_IN,
        lib=lib("cluster", "clustering_tasks", "ingest"),
    output:
        **cluster_out("agglomerative", "dendrogram"),
    params:
        **cluster_params("agglomerative"),
    log:
        "logs/{dataset}/cluster_{fs}_agglomerative.log",
    benchmark:
        "benchmarks/{dataset}/cluster_{fs}_agglomerative.tsv"
    threads: 1
    resources:
        mem_mb=mem_from_input(8),
        runtime=30,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/cluster_agglomerative.py"
