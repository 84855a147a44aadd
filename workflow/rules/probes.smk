rule probe:
    input:
        features="results/{dataset}/features/{fs}.npz",
        manifest="results/{dataset}/ingest/manifest.tsv",
    output:
        json="results/{dataset}/probes/{fs}.json",
    log:
        "logs/{dataset}/probe/{fs}.log",
    benchmark:
        "benchmarks/runs/{dataset}/probe_{fs}.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=mem_from_input(factor=4, key="features"),
        runtime=30,
    params:
        lib=lib("probe"),
        settings=lambda w: S(w.dataset, "probes"),
    script:
        "../../scripts/probe.py"


# where curation.exclude or curation.relabel is set: the probes fitted on the curated manifest (reported in the
# summary); probes/ keeps the probes on ingest's manifest, which the curation reads
rule probe_curated:
    input:
        features="results/{dataset}/features/{fs}.npz",
        manifest="results/{dataset}/curation/manifest.tsv",
    output:
        json="results/{dataset}/curation/probes/{fs}.json",
    log:
        "logs/{dataset}/probe_curated/{fs}.log",
    benchmark:
        "benchmarks/runs/{dataset}/probe_curated_{fs}.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=mem_from_input(factor=4, key="features"),
        runtime=30,
    params:
        lib=lib("probe"),
        settings=lambda w: S(w.dataset, "probes"),
    script:
        "../../scripts/probe.py"
