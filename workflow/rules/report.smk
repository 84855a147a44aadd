def summary_inputs(wildcards):
    d = wildcards.dataset
    return {
        "ingest": f"results/{d}/ingest/ingest.json",
        "pca": f"results/{d}/pca/pca.json",
        "pca_plots": [f"results/{d}/pca/variance.png", f"results/{d}/pca/reconstruction.png"],
        "embed": [f"results/{d}/embed/{m}.json" for m in kd_embeddings(d)],
        "map_info": [f"results/{d}/maps/{m}.json" for m in embedding_methods(d)],
        "maps": [f"results/{d}/maps/{m}_{kind}.png" for m in map_methods(d) for kind in ("labels", "thumbnails")],
        "clustering": [f"results/{d}/clustering/{fs}/{m}/result.json" for fs, m in cluster_targets(d)],
        "compare": [f"results/{d}/compare/{fs}/{sp}.json" for fs, sp in compare_pairs(d)],
        "human": [f"results/{d}/human/{sp}_check.json" for sp in human_splits(d)],
        "lib": lib("summary"),
    }


rule summary:
    input:
        unpack(summary_inputs),
    output:
        json="results/{dataset}/summary.json",
        md=report(
            "results/{dataset}/summary.md",
            caption="../report/summary.rst",
            category="{dataset}",
            subcategory="0 summary",
        ),
    log:
        "logs/{dataset}/summary.log",
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/summary.py"
