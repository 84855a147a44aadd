def train_cnn_inputs(wildcards):
    """Images and manifest; for regression targets also the human spaces it learns from and is validated on."""
    d = wildcards.dataset
    out = {
        "images": f"results/{d}/ingest/images.npy",
        # the curated manifest where curation.exclude or curation.relabel is set
        "manifest": fit_manifest(d, wildcards.variant),
    }
    if trained_on_human_cnn(d, wildcards.variant):
        train = S(d, "alignment")["train_split"]
        if train not in human_splits(d):
            target = cnn_spec(d, wildcards.variant)["target"]
            raise ValueError(
                f"dataset {d!r}: cnn target {target!r} needs a human space on split {train!r}"
            )
        out["human_train"] = f"results/{d}/human/{train}.tsv"
    # a backbone layer (transfer learning): its weights, as for the bb_<name> feature set
    for name, spec in REG.cnn_backbones(d, wildcards.variant).items():
        weights = backbone_weights_file(d, name, spec)
        if weights:
            out[f"weights_{name}"] = weights
    return out


rule train_cnn:
    input:
        unpack(train_cnn_inputs),
    output:
        model="results/{dataset}/cnn/{variant}/model.keras",
        history=report(
            "results/{dataset}/cnn/{variant}/history.csv",
            caption="../report/cnn_history.rst",
            category="{dataset}",
            subcategory="6 CNN",
        ),
        curves=report(
            "results/{dataset}/cnn/{variant}/curves.png",
            caption="../report/cnn_curves.rst",
            category="{dataset}",
            subcategory="6 CNN",
        ),
        summary="results/{dataset}/cnn/{variant}/model_summary.txt",
        checkpoints="results/{dataset}/cnn/{variant}/checkpoints.tsv",
        info="results/{dataset}/cnn/{variant}/training.json",
    log:
        "logs/{dataset}/train_cnn/{variant}.log",
    benchmark:
        "benchmarks/runs/{dataset}/train_{variant}.tsv"
    conda:
        "../../envs/tensorflow.yaml"
    threads: config["threads"]
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=120,
    params:
        lib=lib("train_cnn"),
        spec=lambda w: cnn_spec(w.dataset, w.variant),
        backbones=lambda w: REG.cnn_backbones(w.dataset, w.variant),
        state_dir=lambda w: f"results/{w.dataset}/cnn/{w.variant}/checkpoints",
    script:
        "../../scripts/train_cnn.py"


rule cnn_features:
    input:
        # a dataset predicted from another (predict_human_space_from) runs that one's networks
        model=lambda w: f"results/{model_owner(w.dataset)}/cnn/{w.variant}/model.keras",
        training=lambda w: f"results/{model_owner(w.dataset)}/cnn/{w.variant}/training.json",
        images="results/{dataset}/ingest/images.npy",
        manifest="results/{dataset}/ingest/manifest.tsv",
    output:
        features="results/{dataset}/features/{variant}.npz",
        info="results/{dataset}/cnn/{variant}/features.json",
    log:
        "logs/{dataset}/cnn_features/{variant}.log",
    benchmark:
        "benchmarks/runs/{dataset}/features_{variant}.tsv"
    conda:
        "../../envs/tensorflow.yaml"
    threads: config["threads"]
    resources:
        gpu=1,
        mem_mb=3000,
        runtime=30,
    params:
        lib=lib("cnn_features"),
    script:
        "../../scripts/cnn_features.py"


rule cnn_maps:
    input:
        features="results/{dataset}/features/{variant}.npz",
        manifest="results/{dataset}/ingest/manifest.tsv",
        clusters="results/{dataset}/clustering/{variant}/kmeans/assignments.tsv",
    output:
        maps=report(
            "results/{dataset}/maps/{variant}_features.png",
            caption="../report/cnn_maps.rst",
            category="{dataset}",
            subcategory="6 CNN",
        ),
        info="results/{dataset}/maps/{variant}_features.json",
    log:
        "logs/{dataset}/cnn_maps/{variant}.log",
    benchmark:
        "benchmarks/runs/{dataset}/cnn_maps_{variant}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: config["threads"]
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        lib=lib("cnn_maps"),
        seed=lambda w: S(w.dataset, "embeddings")["seed"],
        tsne=lambda w: S(w.dataset, "embeddings")["tsne"],
        trust=trust_settings,
    script:
        "../../scripts/cnn_maps.py"


rule evaluate_cnn:
    input:
        model="results/{dataset}/cnn/{variant}/model.keras",
        training="results/{dataset}/cnn/{variant}/training.json",
        images="results/{dataset}/ingest/images.npy",
        # the labels it is scored against: corrected where curation.relabel is set
        manifest=lambda w: fit_manifest(w.dataset, w.variant),
    output:
        json="results/{dataset}/cnn/{variant}/evaluation.json",
        predictions="results/{dataset}/cnn/{variant}/predictions.tsv",
        confusion=report(
            "results/{dataset}/cnn/{variant}/confusion.png",
            caption="../report/cnn_confusion.rst",
            category="{dataset}",
            subcategory="6 CNN",
        ),
        confusion_counts=report(
            "results/{dataset}/cnn/{variant}/confusion_counts.png",
            caption="../report/cnn_confusion.rst",
            category="{dataset}",
            subcategory="6 CNN",
        ),
        mistakes=report(
            "results/{dataset}/cnn/{variant}/mistakes.png",
            caption="../report/cnn_mistakes.rst",
            category="{dataset}",
            subcategory="6 CNN",
        ),
    log:
        "logs/{dataset}/evaluate_cnn/{variant}.log",
    benchmark:
        "benchmarks/runs/{dataset}/evaluate_{variant}.tsv"
    conda:
        "../../envs/tensorflow.yaml"
    threads: config["threads"]
    resources:
        gpu=1,
        mem_mb=3000,
        runtime=30,
    params:
        lib=lib("evaluate_cnn"),
    script:
        "../../scripts/evaluate_cnn.py"
