# stats.variants.<v>: feature set stats_<v>, wildcard sv = "_<v>" ("" for stats)
rule image_stats:
    input:
        manifest="results/{dataset}/ingest/manifest.tsv",
        images="results/{dataset}/ingest/images.npy",
    output:
        features="results/{dataset}/features/stats{sv}.npz",
        info="results/{dataset}/stats/stats{sv}.json",
    log:
        "logs/{dataset}/image_stats{sv}.log",
    benchmark:
        "benchmarks/runs/{dataset}/image_stats{sv}.tsv"
    wildcard_constraints:
        sv=r"(_[A-Za-z0-9]+)?",
    conda:
        "../../envs/analysis.yaml"
    threads: config["threads"]
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        lib=lib("image_stats"),
        # a dataset predicted from another describes its images exactly as that one does
        opts=lambda w: REG.stats_spec(model_owner(w.dataset), w.sv[1:] or None),
        images=lambda w: image_settings(w.dataset),
    script:
        "../../scripts/image_stats.py"
