rule image_stats:
    input:
        manifest="results/{dataset}/ingest/manifest.tsv",
        images="results/{dataset}/ingest/images.npy",
        lib=lib("image_stats"),
    output:
        features="results/{dataset}/features/stats.npz",
        info="results/{dataset}/stats/stats.json",
    log:
        "logs/{dataset}/image_stats.log",
    benchmark:
        "benchmarks/{dataset}/image_stats.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: config["threads"]
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        # a dataset predicted from another describes its images exactly as that one does
        opts=lambda w: S(model_owner(w.dataset), "stats"),
        images=lambda w: image_settings(w.dataset),
    script:
        "../../scripts/image_stats.py"
