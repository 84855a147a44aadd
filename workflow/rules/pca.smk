rule pca:
    input:
        images="results/{dataset}/ingest/images.npy",
        manifest="results/{dataset}/ingest/manifest.tsv",
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
    log:
        "logs/{dataset}/pca.log",
    benchmark:
        "benchmarks/runs/{dataset}/pca.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: config["threads"]
    resources:
        mem_mb=mem_from_input(4),
        runtime=30,
    params:
        lib=lib("pca"),
        opts=lambda w: {
            k: S(w.dataset, "pca")[k] for k in ("threshold", "fit_split", "scale")
        },
    script:
        "../../scripts/pca.py"


rule plot_pca:
    input:
        images="results/{dataset}/ingest/images.npy",
        manifest="results/{dataset}/ingest/manifest.tsv",
        model="results/{dataset}/pca/model.npz",
        features="results/{dataset}/features/pca.npz",
        info="results/{dataset}/pca/pca.json",
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
    log:
        "logs/{dataset}/plot_pca.log",
    benchmark:
        "benchmarks/runs/{dataset}/plot_pca.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=mem_from_input(2),
        runtime=10,
    params:
        lib=lib("plot_pca"),
        opts=lambda w: S(w.dataset, "pca"),
    script:
        "../../scripts/plot_pca.py"
