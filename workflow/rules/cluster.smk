rule cluster_kmeans:
    input:
        **CLUSTER_IN,
        lib=lib("cluster_kmeans"),
    output:
        **cluster_out("kmeans", "scan", "silhouette"),
        table="results/{dataset}/clustering/{fs}/kmeans/scan.tsv",
    log:
        "logs/{dataset}/cluster_{fs}_kmeans.log",
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
        "logs/{dataset}/cluster_{fs}_gmm.log",
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
        "logs/{dataset}/cluster_{fs}_dbscan.log",
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
        "logs/{dataset}/cluster_{fs}_agglomerative.log",
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
