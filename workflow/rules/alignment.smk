rule human_map:
    input:
        features="results/{dataset}/features/{base}.npz",
        human=lambda w: f"results/{w.dataset}/human/{S(w.dataset, 'alignment')['train_split']}.tsv",
    output:
        features="results/{dataset}/features/human_pred_{base}.npz",
        info="results/{dataset}/alignment/human_pred_{base}.json",
        model="results/{dataset}/alignment/human_pred_{base}_map.npz",
    log:
        "logs/{dataset}/human_map/{base}.log",
    benchmark:
        "benchmarks/runs/{dataset}/human_map_{base}.tsv"
    wildcard_constraints:
        dataset=datasets_regex(predicting=False),
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        lib=lib("human_map"),
        # only what a map uses: adding an ensemble or another mapped set does not refit every map
        opts=lambda w: {
            k: S(w.dataset, "alignment")[k]
            for k in ("method", "folds", "seed", "train_split")
        },
    script:
        "../../scripts/human_map.py"


def ensemble_weights_file(w):
    """A greedy ensemble's weights, chosen on the dataset that owns the models (none for equal weights)."""
    fs = f"ensemble_{w.name}"
    if REG.spec(w.dataset, fs).select != "greedy":
        return []
    return [f"results/{model_owner(w.dataset)}/alignment/{fs}.json"]


rule ensemble_weights:
    input:
        candidates=lambda w: [
            f"results/{w.dataset}/features/{m}.npz"
            for m in REG.spec(w.dataset, f"ensemble_{w.name}").members
        ],
        human=lambda w: f"results/{w.dataset}/human/{S(w.dataset, 'alignment')['train_split']}.tsv",
    output:
        weights="results/{dataset}/alignment/ensemble_{name}.json",
    log:
        "logs/{dataset}/ensemble_weights/{name}.log",
    benchmark:
        "benchmarks/runs/{dataset}/ensemble_weights_{name}.tsv"
    wildcard_constraints:
        dataset=datasets_regex(predicting=False),
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        lib=lib("ensemble_weights"),
        opts=lambda w: REG.ensemble_settings(w.dataset, f"ensemble_{w.name}"),
    script:
        "../../scripts/ensemble_weights.py"


rule ensemble:
    input:
        members=lambda w: [
            f"results/{w.dataset}/features/{m}.npz"
            for m in REG.spec(w.dataset, f"ensemble_{w.name}").members
        ],
        weights=ensemble_weights_file,
    output:
        features="results/{dataset}/features/ensemble_{name}.npz",
    log:
        "logs/{dataset}/ensemble/{name}.log",
    benchmark:
        "benchmarks/runs/{dataset}/ensemble_{name}.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        lib=lib("ensemble"),
        opts=lambda w: REG.ensemble_settings(w.dataset, f"ensemble_{w.name}"),
        transferred=lambda w: REG.spec(w.dataset, f"ensemble_{w.name}").transferred,
    script:
        "../../scripts/ensemble.py"


rule human_map_apply:
    input:
        features="results/{dataset}/features/{base}.npz",
        model=lambda w: f"results/{model_owner(w.dataset)}/alignment/human_pred_{w.base}_map.npz",
    output:
        features="results/{dataset}/features/human_pred_{base}.npz",
        info="results/{dataset}/alignment/human_pred_{base}.json",
    log:
        "logs/{dataset}/human_map_apply/{base}.log",
    benchmark:
        "benchmarks/runs/{dataset}/human_map_apply_{base}.tsv"
    wildcard_constraints:
        dataset=datasets_regex(predicting=True),
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        lib=lib("human_map_apply"),
        source=lambda w: model_owner(w.dataset),
    script:
        "../../scripts/human_map_apply.py"


rule predicted_space:
    input:
        features="results/{dataset}/features/{fs}.npz",
        manifest="results/{dataset}/ingest/manifest.tsv",
        images="results/{dataset}/ingest/images.npy",
    output:
        table="results/{dataset}/predicted/{fs}.tsv",
        map=report(
            "results/{dataset}/predicted/{fs}_map.png",
            caption="../report/predicted_space.rst",
            category="{dataset}",
            subcategory="7 predicted human space",
        ),
    log:
        "logs/{dataset}/predicted_space/{fs}.log",
    benchmark:
        "benchmarks/runs/{dataset}/predicted_space_{fs}.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        lib=lib("predicted_space"),
        n_thumbnails=lambda w: S(w.dataset, "embeddings")["thumbnails"],
    script:
        "../../scripts/predicted_space.py"
