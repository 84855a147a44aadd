rule pca:
    input:
        images="results/{dataset}/ingest/images.npy",
        manifest="results/{dataset}/ingest/manifest.tsv",
        lib=lib("pca", "ingest"),
    output:
        model="results/{dataset}/pca/model.npz",
        features="results/{dataset}/features/pca.npz",
        full="results/{dataset}/features/pca_full.npz",
        variance=report(
            "results/{dataset}/pca/variance.tsv",
            caption="../report/pca_variance_table.rst",
            category="{dataset}",
            subcategory="2 PCA",
        ),
        info="results/{dataset}/pca/pca.json",
    params:
        opts=lambda w: S(w.dataset, "pca"),
    log:
        "logs/{dataset}/pca.log",
    benchmark:
        "benchmarks/{dataset}/pca.tsv"
    threads: config["threads"]
    resources:
        mem_mb=mem_from_input(4),
        runtime=30,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/pca.py"


rule plot_pca:
    input:
        images="results/{dataset}/ingest/images.npy",
        manifest="results/{dataset}/ingest/manifest.tsv",
        model="results/{dataset}/pca/model.npz",
        features="results/{dataset}/features/pca.npz",
        info="results/{dataset}/pca/pca.json",
        lib=lib("pca", "ingest", "plots"),
    output:
        curve=report(
            "results/{dataset}/pca/variance.png",
            caption="../report/pca_variance.rst",
            category="{dataset}",
            subcategory="2 PCA",
        ),
        reconstruction=report(
            "results/{dataset}/pca/reconstruction.png",
            caption="../report/pca_reconstruction.rst",
            category="{dataset}",
            subcategory="2 PCA",
        ),
    params:
        opts=lambda w: S(w.dataset, "pca"),
    log:
        "logs/{dataset}/plot_pca.log",
    resources:
        mem_mb=mem_from_input(2),
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/plot_pca.py"
