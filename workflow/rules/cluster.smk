# One rule per method so that a parameter of one method reruns only that method.
# Each clustering job reads a feature set by name (results/{dataset}/features/{fs}.npz).

CLUSTER_IN = {
    "features": "results/{dataset}/features/{fs}.npz",
    "manifest": "results/{dataset}/ingest/manifest.tsv",
    "images": "results/{dataset}/ingest/images.npy",
}


def cluster_params(method):
    params = {
        "opts": lambda w: S(w.dataset, "clustering")[method],
        "split": lambda w: S(w.dataset, "clustering")["split"],
    }
    if method in (
        "kmeans",
        "gmm",
        "agglomerative",
    ):  # seeded (agglomerative: its subsample)
        params["seed"] = lambda w: S(w.dataset, "clustering")["seed"]
    if method in (
        "kmeans",
        "agglomerative",
    ):  # quadratic parts switch strategy above large_n
        params["large_n"] = lambda w: S(w.dataset, "clustering")["large_n"]
    return params


def cluster_out(method, *figures):
    d = f"results/{{dataset}}/clustering/{{fs}}/{method}"
    out = {
        "assignments": f"{d}/assignments.tsv",
        "result": f"{d}/result.json",
        "sizes": report(
            f"{d}/sizes.png",
            caption="../report/cluster_sizes.rst",
            category="{dataset}",
            subcategory="4 clustering",
        ),
    }
    for fig in figures + ("gallery",):
        out[fig] = report(
            f"{d}/{fig}.png",
            caption=f"../report/cluster_{fig}.rst",
            category="{dataset}",
            subcategory="4 clustering",
        )
    return out


def gmm_inputs(wildcards):
    extra = (
        {"pca_model": f"results/{wildcards.dataset}/pca/model.npz"}
        if wildcards.fs == "pca"
        else {}
    )
    return {**CLUSTER_IN, **extra}


rule cluster_kmeans:
    input:
        **CLUSTER_IN,
        lib=lib("cluster_kmeans"),
    output:
        **cluster_out("kmeans", "scan", "silhouette"),
        table="results/{dataset}/clustering/{fs}/kmeans/scan.tsv",
    log:
        "logs/{dataset}/cluster_kmeans/{fs}.log",
    benchmark:
        "benchmarks/{dataset}/cluster_{fs}_kmeans.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: config["threads"]
    resources:
        mem_mb=mem_from_input(4, key="features"),
        runtime=30,
    params:
        **cluster_params("kmeans"),
    script:
        "../../scripts/cluster_kmeans.py"


rule cluster_gmm:
    input:
        unpack(gmm_inputs),
        lib=lib("cluster_gmm"),
    output:
        **cluster_out("gmm", "scan", "samples"),
        table="results/{dataset}/clustering/{fs}/gmm/scan.tsv",
    log:
        "logs/{dataset}/cluster_gmm/{fs}.log",
    benchmark:
        "benchmarks/{dataset}/cluster_{fs}_gmm.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: config["threads"]
    resources:
        mem_mb=mem_from_input(4, key="features"),
        runtime=60,
    params:
        **cluster_params("gmm"),
    script:
        "../../scripts/cluster_gmm.py"


rule cluster_dbscan:
    input:
        **CLUSTER_IN,
        lib=lib("cluster_dbscan"),
    output:
        **cluster_out("dbscan", "kdistance"),
    log:
        "logs/{dataset}/cluster_dbscan/{fs}.log",
    benchmark:
        "benchmarks/{dataset}/cluster_{fs}_dbscan.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=mem_from_input(4, key="features"),
        runtime=30,
    params:
        **cluster_params("dbscan"),
    script:
        "../../scripts/cluster_dbscan.py"


rule cluster_agglomerative:
    input:
        **CLUSTER_IN,
        lib=lib("cluster_agglomerative"),
    output:
        **cluster_out("agglomerative", "dendrogram"),
    log:
        "logs/{dataset}/cluster_agglomerative/{fs}.log",
    benchmark:
        "benchmarks/{dataset}/cluster_{fs}_agglomerative.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=mem_from_input(8, key="features"),
        runtime=30,
    params:
        **cluster_params("agglomerative"),
    script:
        "../../scripts/cluster_agglomerative.py"
