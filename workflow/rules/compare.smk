def compared_splits(wildcards):
    """The splits whose human space the feature set is compared with, in a fixed order."""
    return [s for f, s in compare_pairs(wildcards.dataset) if f == wildcards.fs]


# one feature set against the human space of every split it is compared on: one job, a panel per split
rule compare:
    input:
        features="results/{dataset}/features/{fs}.npz",
        human=lambda w: [
            f"results/{w.dataset}/human/{s}.tsv" for s in compared_splits(w)
        ],
        manifest="results/{dataset}/ingest/manifest.tsv",
    output:
        result="results/{dataset}/compare/{fs}/comparison.json",
        permutation=report(
            "results/{dataset}/compare/{fs}/permutation.png",
            caption="../report/compare_permutation.rst",
            category="{dataset}",
            subcategory="5 human comparison",
        ),
        aligned=report(
            "results/{dataset}/compare/{fs}/aligned.png",
            caption="../report/compare_aligned.rst",
            category="{dataset}",
            subcategory="5 human comparison",
        ),
    log:
        "logs/{dataset}/compare/{fs}.log",
    benchmark:
        "benchmarks/runs/{dataset}/compare_{fs}.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        lib=lib("compare"),
        splits=compared_splits,
        opts=lambda w: {
            k: S(w.dataset, "compare")[k]
            for k in ("n_permutations", "n_bootstrap", "seed", "alpha")
        },
    script:
        "../../scripts/compare.py"


def paired_inputs(wildcards):
    d, sp = wildcards.dataset, wildcards.split
    return {
        "features": [
            f"results/{d}/features/{fs}.npz" for fs, s in compare_pairs(d) if s == sp
        ],
        "human": f"results/{d}/human/{sp}.tsv",
        "manifest": f"results/{d}/ingest/manifest.tsv",
    }


# every two feature sets compared on one split: paired bootstrap over the images, and the RDM heatmaps
rule paired:
    input:
        unpack(paired_inputs),
    output:
        table="results/{dataset}/compare/paired_{split}.tsv",
        heatmap=report(
            "results/{dataset}/compare/rdm_{split}.png",
            caption="../report/rdm_heatmaps.rst",
            category="{dataset}",
            subcategory="5 human comparison",
        ),
    log:
        "logs/{dataset}/compare/paired_{split}.log",
    benchmark:
        "benchmarks/runs/{dataset}/paired_{split}.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        lib=lib("paired"),
        opts=lambda w: {
            k: S(w.dataset, "compare")[k] for k in ("seed", "alpha", "paired")
        },
    script:
        "../../scripts/paired.py"
