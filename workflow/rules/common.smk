import os
import re
import sys
from pathlib import Path

import yaml
from snakemake.utils import min_version

min_version("9.0")

# The analysis code lives in scripts/imagespace (plain importable Python); the
# Snakefile uses its config helpers too.
sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))
SCRIPTS = Path(workflow.basedir) / "scripts"
from imagespace import config as iscfg  # noqa: E402
from imagespace import datasets  # noqa: E402
from imagespace import deps  # noqa: E402
from imagespace.embed import TRANSFORMS  # noqa: E402


def _config_files():
    """{name: parsed content} of the config files in use, to say where a bad key is set."""
    out = {}
    for f in workflow.configfiles:
        try:
            with open(f, encoding="utf-8") as fh:
                rel = os.path.relpath(f)
                out[str(f) if rel.startswith("..") else rel] = yaml.safe_load(fh) or {}
        except (OSError, yaml.YAMLError):
            pass
    return out


# unknown keys, wrong types and values (also after merging each dataset's overrides) stop the
# run here with one line per problem; defaults come from the schema only
iscfg.validate(config, files=_config_files())
for _name in config["targets"]:
    if _name not in config["datasets"]:
        raise ValueError(
            f"config targets: dataset {_name!r} is not defined under datasets: ({sorted(config['datasets'])})"
        )


# ----------------------------------------------------------------- helpers
def lib(script):
    """The imagespace modules a rule's script imports (at any depth): inputs, so editing one reruns its rules."""
    return [os.path.relpath(p) for p in deps.library_modules(SCRIPTS / f"{script}.py")]


def S(dataset, stage):
    """Effective settings of one stage for one dataset (global block + dataset override)."""
    return iscfg.stage(config, dataset, stage)


def target_datasets():
    return list(config["targets"]) or list(config["datasets"])


def ingest_settings(dataset):
    """Only the keys that change what ingest writes (so a PCA setting never reruns ingest)."""
    ds = config["datasets"][dataset]
    keys = ("source", "validation_fraction", "test_fraction", "split_seed", "on_error")
    return iscfg.canonical(
        {**{k: ds[k] for k in keys if k in ds}, "images": image_settings(dataset)}
    )


def image_settings(dataset):
    """The dataset's images block; a dataset predicted from another inherits (and must match) its source's."""
    own = config["datasets"][dataset].get("images", {})
    src = prediction_source(dataset)
    if src is None:
        return iscfg.canonical(own)
    theirs = config["datasets"][src[0]].get("images", {})
    merged = iscfg.deep_merge(theirs, own)
    a, b = iscfg.image_options(theirs), iscfg.image_options(merged)
    for key in ("size", "color", "resize"):
        if a[key] != b[key]:
            raise ValueError(
                f"dataset {dataset!r}: images.{key} {b[key]!r} differs from {a[key]!r} of {src[0]!r}, whose models it "
                f"applies (predict_human_space_from); leave images.{key} unset to inherit it"
            )
    return iscfg.canonical(merged)


# ----------------------------------------------------------------- applying a dataset's models to new images
def prediction_source(dataset):
    """(source dataset, requested feature sets or None) for a dataset with predict_human_space_from, else None."""
    p = config["datasets"][dataset].get("predict_human_space_from")
    if p is None:
        return None
    if isinstance(p, str):
        p = {"dataset": p}
    src = p["dataset"]
    if src not in config["datasets"] or src == dataset:
        raise ValueError(
            f"dataset {dataset!r}: predict_human_space_from names {src!r}, which is not another dataset "
            f"(datasets: {sorted(config['datasets'])})"
        )
    if config["datasets"][src].get("predict_human_space_from"):
        raise ValueError(
            f"dataset {dataset!r}: its source {src!r} itself predicts from another dataset; name that one"
        )
    return src, p.get("feature_sets")


def transferable(src, fs):
    """Whether feature set *fs* of dataset *src* can be computed for new images with src's fitted models."""
    if fs.startswith("human_pred_"):
        return transferable(src, fs[len("human_pred_") :])
    if fs.startswith("ensemble_"):
        members = ensembles(src).get(fs)
        return bool(members) and all(transferable(src, m) for m in members)
    if fs == "stats":
        return S(src, "stats")["enabled"]
    return fs in cnn_variants(src)


def predicted_sets(dataset):
    """Human-space predictions computed for a dataset from its source's models (predict_human_space_from)."""
    p = prediction_source(dataset)
    if p is None:
        return []
    src, wanted = p
    candidates = [
        fs
        for fs in feature_sets(src)
        if predicts_human(src, fs) and transferable(src, fs)
    ]
    if wanted is None:
        if not candidates:
            raise ValueError(
                f"dataset {dataset!r}: {src!r} has no human-space prediction that transfers to new images "
                "(enable stats or a CNN there, and map it with alignment.map_feature_sets)"
            )
        return candidates
    for fs in wanted:
        if fs not in candidates:
            raise ValueError(
                f"dataset {dataset!r}: predict_human_space_from.feature_sets: {fs!r} is not a transferable "
                f"human-space prediction of {src!r} (those are: {candidates})"
            )
    return list(wanted)


def transferred(dataset):
    """Every feature set a predicting dataset computes with its source's models (predictions and their inputs)."""
    p = prediction_source(dataset)
    if p is None:
        return []
    src = p[0]
    out = []

    def add(fs):
        if fs.startswith("human_pred_"):
            add(fs[len("human_pred_") :])
        elif fs.startswith("ensemble_"):
            for m in ensembles(src)[fs]:
                add(m)
        if fs not in out:
            out.append(fs)

    for fs in predicted_sets(dataset):
        add(fs)
    return out


def model_owner(dataset):
    """The dataset whose fitted models (CNNs, maps, stats settings) a dataset's features use."""
    p = prediction_source(dataset)
    return p[0] if p else dataset


def datasets_regex(predicting):
    """Regex of the dataset names that do (True) or do not (False) predict from another dataset."""
    names = [
        d
        for d in config["datasets"]
        if bool(config["datasets"][d].get("predict_human_space_from")) == predicting
    ]
    return "|".join(re.escape(d) for d in names) or "(?!)"


def human_splits(dataset):
    return iscfg.canonical(iscfg.human_splits(config, dataset))


def human_file(wildcards):
    spec = human_splits(wildcards.dataset).get(wildcards.split)
    if spec is None:
        raise ValueError(
            f"dataset {wildcards.dataset!r} has no human space for split {wildcards.split!r}"
        )
    return [] if spec.get("builtin") else [spec["path"]]


def embedding_methods(dataset):
    return list(S(dataset, "embeddings")["methods"])


def cnn_variants(dataset):
    """CNN variants trained for a dataset (each is also the name of its feature set)."""
    c = S(dataset, "cnn")
    return list(c["variants"]) if c["enabled"] else []


def cnn_spec(dataset, variant):
    """Settings of one CNN variant: the cnn block overridden by the variant's own keys."""
    c = S(dataset, "cnn")
    skip = ("variants", "enabled", "cluster_methods")
    base = {k: v for k, v in c.items() if k not in skip}
    return iscfg.canonical(iscfg.deep_merge(base, c["variants"][variant]))


def trained_on_human_cnn(dataset, fs):
    """A CNN variant of the dataset trained on the human space (target human or joint)."""
    return fs in cnn_variants(dataset) and cnn_spec(dataset, fs)["target"] in (
        "human",
        "joint",
    )


def trained_on_human(dataset, fs):
    """Feature sets whose training-split rows are in-sample predictions of that split's human space.

    Networks trained on the human space, and ensembles with such a network among
    their members. (Ridge/PLS maps, human_pred_*, give out-of-fold predictions there.)
    """
    if fs.startswith("ensemble_"):
        return any(trained_on_human(dataset, m) for m in ensembles(dataset)[fs])
    return trained_on_human_cnn(dataset, fs)


def predicts_human(dataset, fs):
    """Feature sets that are predictions of the human space (in its coordinates)."""
    return fs.startswith(("human_pred_", "ensemble_")) or trained_on_human(dataset, fs)


def ensembles(dataset):
    """{ensemble_<name>: members}: averages of human-space predictions (alignment.ensembles)."""
    if prediction_source(dataset):
        src = model_owner(dataset)
        return {fs: m for fs, m in ensembles(src).items() if fs in transferred(dataset)}
    out = {
        f"ensemble_{k}": list(v)
        for k, v in S(dataset, "alignment")["ensembles"].items()
    }
    if not out:
        return out
    available = set(_base_and_mapped(dataset)) | set(out)
    for name, members in out.items():
        for m in members:
            where = f"dataset {dataset!r}: alignment.ensembles.{name[len('ensemble_'):]}: member {m!r}"
            if m not in available:
                raise ValueError(
                    f"{where} is not a feature set of this dataset (available: {sorted(available)})"
                )
            if not (
                m.startswith(("human_pred_", "ensemble_"))
                or trained_on_human_cnn(dataset, m)
            ):
                raise ValueError(
                    f"{where} does not predict the human space (use human_pred_<feature set>, a CNN variant "
                    "with target human/joint, or another ensemble)"
                )

    def check_cycle(fs, path):
        for m in out.get(fs, []):
            if m in path:
                raise ValueError(
                    f"dataset {dataset!r}: alignment.ensembles form a cycle: {' -> '.join(path + [m])}"
                )
            check_cycle(m, path + [m])

    for name in out:
        check_cycle(name, [name])
    return out


def train_cnn_inputs(wildcards):
    """Images and manifest; for regression targets also the human spaces it learns from and is validated on."""
    d = wildcards.dataset
    out = {
        "images": f"results/{d}/ingest/images.npy",
        "manifest": f"results/{d}/ingest/manifest.tsv",
    }
    if trained_on_human_cnn(d, wildcards.variant):
        train = S(d, "alignment")["train_split"]
        if train not in human_splits(d):
            target = cnn_spec(d, wildcards.variant)["target"]
            raise ValueError(
                f"dataset {d!r}: cnn target {target!r} needs a human space on split {train!r}"
            )
        out["human_train"] = f"results/{d}/human/{train}.tsv"
    return out


def feature_sets(dataset):
    """Feature sets computed for a dataset: pca, stats, the embeddings, the CNN variants, their maps into the human space, ensembles."""
    return _base_and_mapped(dataset) + list(ensembles(dataset))


def _base_and_mapped(dataset):
    stats = ["stats"] if S(dataset, "stats")["enabled"] else []
    base = ["pca"] + stats + embedding_methods(dataset) + cnn_variants(dataset)
    if prediction_source(dataset):  # the source's models, not maps of its own
        return base + [
            fs
            for fs in transferred(dataset)
            if fs not in base and not fs.startswith("ensemble_")
        ]
    return base + [f"human_pred_{fs}" for fs in mapped_feature_sets(dataset, base)]


def mapped_feature_sets(dataset, base):
    """Feature sets mapped into the human space (needs a human space on the alignment's train split)."""
    a = S(dataset, "alignment")
    if a["train_split"] not in human_splits(dataset):
        return []
    wanted = a["map_feature_sets"]
    cnn = cnn_variants(dataset) if "cnn" in wanted else []
    # networks trained on the human space already predict it: they are not mapped again
    return [
        fs
        for fs in base
        if (fs in wanted or fs in cnn) and not trained_on_human(dataset, fs)
    ]


def feature_covers(dataset, fs, split):
    """Whether feature set *fs* has rows for *split* (methods without a transform only embed their fit split)."""
    if fs in transferred(dataset):  # another dataset's models applied to every image
        return True
    if fs.startswith("human_pred_"):
        return feature_covers(dataset, fs[len("human_pred_") :], split)
    if trained_on_human(dataset, fs):
        # trained on that split's human coordinates: never scored in-sample
        return split != S(dataset, "alignment")["train_split"]
    if fs.startswith("ensemble_"):
        return all(feature_covers(dataset, m, split) for m in ensembles(dataset)[fs])
    if fs in ("pca", "stats") or fs in cnn_variants(dataset):
        return True
    e = S(dataset, "embeddings")
    # the embeddings' input: pca scores cover every image; the full-rank "pixels"
    # scores only the images the PCA was fitted on
    if e["input"] == "pixels" and S(dataset, "pca")["fit_split"] not in ("all", split):
        return False
    return fs in TRANSFORMS or e["fit_split"] in ("all", split)


def compare_pairs(dataset):
    wanted = S(dataset, "compare")["feature_sets"]
    cnn = cnn_variants(dataset) if "cnn" in wanted else []
    fss = [
        fs
        for fs in feature_sets(dataset)
        if fs in wanted
        or fs in cnn
        or fs.startswith("human_pred_")
        or fs.startswith("ensemble_")
    ]
    return [
        (fs, sp)
        for fs in fss
        for sp in human_splits(dataset)
        if feature_covers(dataset, fs, sp)
    ]


def cluster_targets(dataset):
    c = S(dataset, "clustering")
    available = feature_sets(dataset)
    pairs = [
        (fs, m) for fs in c["feature_sets"] if fs in available for m in c["methods"]
    ]
    for v in cnn_variants(dataset):
        if trained_on_human(dataset, v):
            continue
        pairs += [
            (v, m) for m in S(dataset, "cnn")["cluster_methods"] if (v, m) not in pairs
        ]
    return pairs


def kd_embeddings(dataset):
    """k-D embeddings something consumes (a comparison, a clustering or a named probe): only those are computed."""
    used = (
        {fs for fs, _ in compare_pairs(dataset)}
        | {fs for fs, _ in cluster_targets(dataset)}
        | set(S(dataset, "probes")["feature_sets"])
    )
    return [m for m in embedding_methods(dataset) if m in used]


def probe_sets(dataset):
    """Feature sets probed: those named in probes.feature_sets; "all" adds every feature set computed anyway."""
    p = S(dataset, "probes")
    if not p["enabled"]:
        return []
    wanted = p["feature_sets"]
    available = feature_sets(dataset)
    for fs in wanted:
        if fs != "all" and fs not in available:
            raise ValueError(
                f"dataset {dataset!r}: probes.feature_sets: {fs!r} is not a feature set of this dataset "
                f"(available: {available})"
            )
    kd = set(embedding_methods(dataset)) - set(kd_embeddings(dataset))
    if "all" in wanted:
        return [fs for fs in available if fs not in kd or fs in wanted]
    return [fs for fs in available if fs in wanted]


def evaluated_cnns(dataset):
    """CNN variants evaluated as classifiers (class, joint and triplet targets)."""
    return [
        v
        for v in cnn_variants(dataset)
        if cnn_spec(dataset, v)["target"] in ("class", "joint", "triplet")
    ]


def map_methods(dataset):
    return ["pca"] + embedding_methods(dataset)


def mem_from_input(factor=3, floor=1000, key=None):
    """Memory estimate (MB) from the size of the inputs (or of input *key*), for the scheduler and cluster profiles."""

    def f(wildcards, input, attempt):
        size = input.size_mb
        if key and os.path.exists(input[key]):
            size = os.path.getsize(input[key]) / 1e6
        return int(max(floor, factor * size) * attempt)

    return f


def all_targets():
    out = []
    for d in target_datasets():
        out += [f"results/{d}/summary.json", f"results/{d}/summary.md"]
    return out


# ----------------------------------------------------------------- embed.smk
def embed_input(wildcards):
    return f"results/{wildcards.dataset}/features/{S(wildcards.dataset, 'embeddings')['input'].replace('pixels', 'pca_full')}.npz"


# ----------------------------------------------------------------- cluster.smk
# One rule per method so that a parameter of one method reruns only that method.
# Each clustering job reads a feature set by name (results/{dataset}/features/{fs}.npz).

CLUSTER_IN = {
    "features": "results/{dataset}/features/{fs}.npz",
    "manifest": "results/{dataset}/ingest/manifest.tsv",
    "images": "results/{dataset}/ingest/images.npy",
}


def cluster_params(method):
    params = {
        "opts": lambda w: S(w.dataset, "clustering")[method],
        "split": lambda w: S(w.dataset, "clustering")["split"],
    }
    if method in (
        "kmeans",
        "gmm",
        "agglomerative",
    ):  # seeded (agglomerative: its subsample)
        params["seed"] = lambda w: S(w.dataset, "clustering")["seed"]
    if method in (
        "kmeans",
        "agglomerative",
    ):  # quadratic parts switch strategy above large_n
        params["large_n"] = lambda w: S(w.dataset, "clustering")["large_n"]
    return params


def cluster_out(method, *figures):
    d = f"results/{{dataset}}/clustering/{{fs}}/{method}"
    out = {
        "assignments": f"{d}/assignments.tsv",
        "result": f"{d}/result.json",
        "sizes": report(
            f"{d}/sizes.png",
            caption="../report/cluster_sizes.rst",
            category="{dataset}",
            subcategory="4 clustering",
        ),
    }
    for fig in figures + ("gallery",):
        out[fig] = report(
            f"{d}/{fig}.png",
            caption=f"../report/cluster_{fig}.rst",
            category="{dataset}",
            subcategory="4 clustering",
        )
    return out


def gmm_inputs(wildcards):
    extra = (
        {"pca_model": f"results/{wildcards.dataset}/pca/model.npz"}
        if wildcards.fs == "pca"
        else {}
    )
    return {**CLUSTER_IN, **extra}


# ----------------------------------------------------------------- report.smk
def summary_inputs(wildcards):
    d = wildcards.dataset
    return {
        "ingest": f"results/{d}/ingest/ingest.json",
        "pca": f"results/{d}/pca/pca.json",
        "pca_plots": [
            f"results/{d}/pca/variance.png",
            f"results/{d}/pca/reconstruction.png",
        ],
        "embed": [f"results/{d}/embed/{m}.json" for m in kd_embeddings(d)],
        "map_info": [f"results/{d}/maps/{m}.json" for m in embedding_methods(d)],
        "maps": [
            f"results/{d}/maps/{m}_{kind}.png"
            for m in map_methods(d)
            for kind in ("labels", "thumbnails")
        ],
        "clustering": [
            f"results/{d}/clustering/{fs}/{m}/result.json"
            for fs, m in cluster_targets(d)
        ],
        "compare": [
            f"results/{d}/compare/{fs}/{sp}.json" for fs, sp in compare_pairs(d)
        ],
        "human": [f"results/{d}/human/{sp}_check.json" for sp in human_splits(d)],
        "cnn": [
            f"results/{d}/cnn/{v}/{f}.json"
            for v in cnn_variants(d)
            for f in ("training", "features")
        ],
        "evaluation": [
            f"results/{d}/cnn/{v}/evaluation.json" for v in evaluated_cnns(d)
        ],
        "probes": [f"results/{d}/probes/{fs}.json" for fs in probe_sets(d)],
        "cnn_maps": [
            f"results/{d}/maps/{v}_features.png"
            for v in cnn_variants(d)
            if (v, "kmeans") in cluster_targets(d)
        ],
        "maps_human": [
            f"results/{d}/alignment/{fs}.json"
            for fs in feature_sets(d)
            if fs.startswith("human_pred_") and fs not in transferred(d)
        ],
        "predicted": [f"results/{d}/predicted/{fs}.tsv" for fs in predicted_sets(d)],
        "predicted_maps": [
            f"results/{d}/predicted/{fs}_map.png" for fs in predicted_sets(d)
        ],
        "lib": lib("summary"),
    }
