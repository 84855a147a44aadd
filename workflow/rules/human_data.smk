# Human data as researchers collect it (datasets.<name>.human.<split>.kind: dissimilarity, similarity, ratings,
# triplets). The human space itself is built by rule human_space (MDS or an ordinal embedding, see
# imagespace.human.spaces), so every coordinate-based stage reads it unchanged; here every feature set of a split
# is compared directly with the data (no embedding): RDM correlations on the observed pairs or triplet accuracy,
# bootstrap CIs, the noise ceiling, and every two feature sets compared on the same item resamples (paired; the
# compare.n_bootstrap draws, compare.alpha and compare.paired.correction).
#   human_direct -> scripts/human_direct.py -> imagespace.human.scores.split_scores


def human_direct_inputs(wildcards):
    d, sp = wildcards.dataset, wildcards.split
    spec = human_splits(d)[sp]
    return {
        "features": [
            f"results/{d}/features/{fs}.npz" for fs, s in compare_pairs(d) if s == sp
        ],
        "human": f"results/{d}/human/{sp}.tsv",
        "manifest": f"results/{d}/ingest/manifest.tsv",
        "skipped": f"results/{d}/ingest/skipped.tsv",
        "data": [] if spec.get("builtin") else [spec["path"]],
    }


rule human_direct:
    input:
        unpack(human_direct_inputs),
    output:
        json="results/{dataset}/human/direct_{split}.json",
        md="results/{dataset}/human/direct_{split}.md",
    log:
        "logs/{dataset}/human_direct/{split}.log",
    benchmark:
        "benchmarks/runs/{dataset}/human_direct_{split}.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        lib=lib("human_direct"),
        spec=lambda w: human_splits(w.dataset)[w.split],
        opts=lambda w: {
            **{
                k: S(w.dataset, "compare")[k] for k in ("n_bootstrap", "seed", "alpha")
            },
            "correction": S(w.dataset, "compare")["paired"]["correction"],
        },
    script:
        "../../scripts/human_direct.py"


# the synthetic set's built-in human space written as every kind of human data (a square matrix, ratings of 20
# simulated participants with noise and missing pairs, odd-one-out triplets), for configs/human_kinds.yaml
#   human_simulated -> scripts/human_simulated.py -> imagespace.human.simulate.write_every_kind
rule human_simulated:
    input:
        manifest="results/{dataset}/ingest/manifest.tsv",
    output:
        coordinates="results/{dataset}/human_sim/{split}/coordinates.csv",
        dissimilarity="results/{dataset}/human_sim/{split}/dissimilarity.csv",
        ratings="results/{dataset}/human_sim/{split}/ratings.csv",
        triplets="results/{dataset}/human_sim/{split}/triplets.csv",
    log:
        "logs/{dataset}/human_simulated/{split}.log",
    benchmark:
        "benchmarks/runs/{dataset}/human_simulated_{split}.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        lib=lib("human_simulated"),
        source=lambda w: iscfg.canonical(config["datasets"][w.dataset]["source"]),
        dims=4,
        n_triplets=5000,
    script:
        "../../scripts/human_simulated.py"


# how well the human space built from matrices, ratings or triplets fits its data: the stress curve (stress-1
# by dimension, the chosen one marked) and a Shepard diagram (distances against observed dissimilarities; for
# triplets the margins d(i,k) - d(i,j) of the human choices, positive = reproduced)
#   human_space_figures -> scripts/human_space_figures.py -> imagespace.human.spaces.plot_stress_curve, plot_shepard
rule human_space_figures:
    input:
        human="results/{dataset}/human/{split}.tsv",
        check="results/{dataset}/human/{split}_check.json",
        manifest="results/{dataset}/ingest/manifest.tsv",
        skipped="results/{dataset}/ingest/skipped.tsv",
    output:
        stress="results/{dataset}/human/{split}_stress.png",
        shepard="results/{dataset}/human/{split}_shepard.png",
    log:
        "logs/{dataset}/human_space_figures/{split}.log",
    benchmark:
        "benchmarks/runs/{dataset}/human_space_figures_{split}.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        lib=lib("human_space_figures"),
        spec=lambda w: human_splits(w.dataset)[w.split],
    script:
        "../../scripts/human_space_figures.py"
