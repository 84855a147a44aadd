rule human_map:
    input:
        features="results/{dataset}/features/{base}.npz",
        human=lambda w: f"results/{w.dataset}/human/{S(w.dataset, 'alignment')['train_split']}.tsv",
        lib=lib("human_map"),
    output:
        features="results/{dataset}/features/human_pred_{base}.npz",
        info="results/{dataset}/alignment/human_pred_{base}.json",
    log:
        "logs/{dataset}/human_map_{base}.log",
    benchmark:
        "benchmarks/{dataset}/human_map_{base}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        opts=lambda w: S(w.dataset, "alignment"),
    script:
        "../../scripts/human_map.py"
