def explore_inputs(wildcards):
    """Every 2-D map, the feature sets mapped on the page, the clusterings, the human space and the curation's
    scores."""
    d = wildcards.dataset
    return {
        "manifest": f"results/{d}/ingest/manifest.tsv",
        "images": f"results/{d}/ingest/images.npy",
        "maps": [f"results/{d}/maps/{m}.npz" for m in map_methods(d)],
        "features": [f"results/{d}/features/{fs}.npz" for fs in REG.explore_sets(d)],
        "clusters": [
            f"results/{d}/clustering/{fs}/{m}/assignments.tsv"
            for fs, m in cluster_targets(d)
        ],
        "human": [f"results/{d}/human/{sp}.tsv" for sp in human_splits(d)],
        # the label-issue and outlier scores, where the curation stage runs for the dataset
        "curation": ([f"results/{d}/curation/scores.tsv"] if curation_sets(d) else []),
    }


# the interactive map: one self-contained HTML page per dataset
rule explore:
    input:
        unpack(explore_inputs),
    output:
        html=report(
            "results/{dataset}/explore/map.html",
            caption="../report/explore.rst",
            category="{dataset}",
            subcategory="3 maps",
        ),
        info="results/{dataset}/explore/map.json",
    log:
        "logs/{dataset}/explore.log",
    benchmark:
        "benchmarks/runs/{dataset}/explore.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=mem_from_input(factor=2, key="images"),
        runtime=20,
    params:
        lib=lib("explore"),
        settings=lambda w: S(w.dataset, "explore"),
        human_sets=lambda w: [
            fs for fs in REG.explore_sets(w.dataset) if REG.spec(w.dataset, fs).human
        ],
    script:
        "../../scripts/explore.py"
