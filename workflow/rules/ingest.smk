def human_file(wildcards):
    spec = human_splits(wildcards.dataset).get(wildcards.split)
    if spec is None:
        raise ValueError(
            f"dataset {wildcards.dataset!r} has no human space for split {wildcards.split!r}"
        )
    return [] if spec.get("builtin") else [spec["path"]]


def source_data_files(wildcards):
    """The data files (CSV, NumPy archive) the source reads; its image folders are fingerprinted instead."""
    return sources.source_data_files(config["datasets"][wildcards.dataset]["source"])


rule ingest:
    input:
        data=source_data_files,
    output:
        manifest="results/{dataset}/ingest/manifest.tsv",
        images="results/{dataset}/ingest/images.npy",
        skipped=report(
            "results/{dataset}/ingest/skipped.tsv",
            caption="../report/skipped.rst",
            category="{dataset}",
            subcategory="1 ingest",
        ),
        duplicates=report(
            "results/{dataset}/ingest/duplicates.tsv",
            caption="../report/duplicates.rst",
            category="{dataset}",
            subcategory="1 ingest",
        ),
        info="results/{dataset}/ingest/ingest.json",
    log:
        "logs/{dataset}/ingest.log",
    benchmark:
        "benchmarks/runs/{dataset}/ingest.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: config["threads"]
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        lib=lib("ingest"),
        settings=lambda w: ingest_settings(w.dataset),
        # names, sizes and times (or contents: ingest.fingerprint) of every file the source reads:
        # replacing one reruns ingest
        fingerprint=lambda w: sources.source_fingerprint(
            config["datasets"][w.dataset]["source"],
            S(w.dataset, "ingest")["fingerprint"],
        ),
    script:
        "../../scripts/ingest.py"


rule human_space:
    input:
        manifest="results/{dataset}/ingest/manifest.tsv",
        skipped="results/{dataset}/ingest/skipped.tsv",
        matrix=human_file,
    output:
        table="results/{dataset}/human/{split}.tsv",
        check="results/{dataset}/human/{split}_check.json",
    log:
        "logs/{dataset}/human_space/{split}.log",
    benchmark:
        "benchmarks/runs/{dataset}/human_space_{split}.tsv"
    conda:
        "../../envs/human.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        lib=lib("human_space"),
        spec=lambda w: human_splits(w.dataset)[w.split],
        source=lambda w: iscfg.canonical(config["datasets"][w.dataset]["source"]),
        n_permutations=lambda w: S(w.dataset, "compare")["n_permutations"],
        seed=lambda w: S(w.dataset, "compare")["seed"],
    script:
        "../../scripts/human_space.py"
