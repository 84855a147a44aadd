rule compare:
    input:
        features="results/{dataset}/features/{fs}.npz",
        human="results/{dataset}/human/{split}.tsv",
        manifest="results/{dataset}/ingest/manifest.tsv",
        lib=lib("compare"),
    output:
        result="results/{dataset}/compare/{fs}/{split}.json",
        permutation=report(
            "results/{dataset}/compare/{fs}/{split}_permutation.png",
            caption="../report/compare_permutation.rst",
            category="{dataset}",
            subcategory="5 human comparison",
        ),
        aligned=report(
            "results/{dataset}/compare/{fs}/{split}_aligned.png",
            caption="../report/compare_aligned.rst",
            category="{dataset}",
            subcategory="5 human comparison",
        ),
    log:
        "logs/{dataset}/compare/{fs}_{split}.log",
    benchmark:
        "benchmarks/{dataset}/compare_{fs}_{split}.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        opts=lambda w: {
            k: S(w.dataset, "compare")[k]
            for k in ("n_permutations", "n_bootstrap", "seed", "alpha")
        },
    script:
        "../../scripts/compare.py"
