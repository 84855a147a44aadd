# Curation (docs/curation.md): likely mislabels, outliers and duplicates, ranked for review.
from imagespace.curation import DEFAULT_KINDS as CURATION_KINDS  # noqa: E402


def curation_actions(dataset):
    """{exclude, relabel} of a dataset whose fits read the curated manifest (curation.exclude or curation.relabel set),
    else None. A setting that cannot apply stops the run at start-up with one line naming it.
    """
    c = S(dataset, "curation")
    if not (c["exclude"] or c["relabel"]):
        return None

    def stop(why):
        sys.stderr.write(f"invalid configuration:\n  datasets.{dataset}: {why}\n")
        sys.exit(1)

    if prediction_source(dataset):
        stop(
            "curation.exclude and curation.relabel apply to the dataset whose models are fitted, not to one that "
            "applies another's (predict_human_space_from)"
        )
    if c["exclude"] and not curation_sets(dataset):
        stop(
            f"curation.exclude {list(c['exclude'])} needs the curation stage, which does not run for this dataset "
            "(curation.enabled false, no labels to probe, or no probed pixel, descriptor, backbone or network set)"
        )
    if c["relabel"] and not os.path.isfile(c["relabel"]):
        stop(f"curation.relabel: {c['relabel']} is not a file")
    return {"exclude": list(c["exclude"]), "relabel": c["relabel"]}


def curation_sets(dataset):
    """The probed feature sets the curation may rest on: curation.feature_sets, else every probed pixel,
    descriptor, backbone or network set not fitted on the training labels (the rule leaves out those at chance).
    """
    c = S(dataset, "curation")
    probed = probe_sets(dataset)
    if not c["enabled"] or not probed or prediction_source(dataset):
        return []
    named = list(c["feature_sets"])
    if named:
        missing = [fs for fs in named if fs not in probed]
        if missing:
            raise ValueError(
                f"datasets.{dataset}: curation.feature_sets: {missing} not probed (probes.feature_sets gives {probed})"
            )
        return named
    sets = REG.sets(dataset)
    fitted = REG.fitted_on(dataset, S(dataset, "probes")["train_split"])
    return [fs for fs in probed if sets[fs].kind in CURATION_KINDS and fs not in fitted]


def curation_targets(dataset):
    """The curation outputs of a dataset (none where it has no usable feature set), and the curated manifest's facts
    where curation.exclude or curation.relabel is set."""
    applied = (
        [f"results/{dataset}/curation/applied.json"]
        if curation_actions(dataset)
        else []
    )
    if not curation_sets(dataset):
        return applied
    return applied + [
        f"results/{dataset}/curation/{f}"
        for f in (
            "issues.tsv",
            "scores.tsv",
            "curation.json",
            "label_issues.png",
            "outliers.png",
        )
    ]


rule label_issues:
    input:
        manifest="results/{dataset}/ingest/manifest.tsv",
        images="results/{dataset}/ingest/images.npy",
        duplicates="results/{dataset}/ingest/duplicates.tsv",
        features=lambda w: [
            f"results/{w.dataset}/features/{fs}.npz" for fs in curation_sets(w.dataset)
        ],
        probes=lambda w: [
            f"results/{w.dataset}/probes/{fs}.json" for fs in curation_sets(w.dataset)
        ],
    output:
        issues=report(
            "results/{dataset}/curation/issues.tsv",
            caption="../report/curation.rst",
            category="{dataset}",
            subcategory="curation",
        ),
        scores="results/{dataset}/curation/scores.tsv",
        info="results/{dataset}/curation/curation.json",
        label_gallery=report(
            "results/{dataset}/curation/label_issues.png",
            caption="../report/curation.rst",
            category="{dataset}",
            subcategory="curation",
        ),
        outlier_gallery=report(
            "results/{dataset}/curation/outliers.png",
            caption="../report/curation.rst",
            category="{dataset}",
            subcategory="curation",
        ),
    log:
        "logs/{dataset}/label_issues.log",
    benchmark:
        "benchmarks/runs/{dataset}/label_issues.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=mem_from_input(factor=6),
        runtime=30,
    params:
        lib=lib("label_issues"),
        sets=lambda w: curation_sets(w.dataset),
        named=lambda w: list(S(w.dataset, "curation")["feature_sets"]),
        k=lambda w: S(w.dataset, "curation")["k"],
        # the outlier score's appearance view: the stats stage's descriptor groups
        groups=lambda w: S(w.dataset, "stats")["groups"],
        # the probes' split, folds and seed: the out-of-fold probabilities use the probes' own folds
        probes=lambda w: {
            key: S(w.dataset, "probes")[key]
            for key in ("train_split", "folds", "seed")
        },
    script:
        "../../scripts/label_issues.py"


def fit_manifest(dataset, fs=None):
    """The manifest a fit on the training split reads: the curated one (curation/manifest.tsv) where
    curation.exclude or curation.relabel is set, else ingest's. A feature set the curation rests on keeps ingest's
    (the curation reads it: no cycle)."""
    if curation_actions(dataset) and fs not in curation_sets(dataset):
        return f"results/{dataset}/curation/manifest.tsv"
    return f"results/{dataset}/ingest/manifest.tsv"


def probe_json(dataset, fs):
    """A feature set's probe results as reported: fitted on the curated manifest where curation.exclude or
    curation.relabel is set (curation/probes/), else on ingest's (probes/, which the curation itself reads).
    """
    if curation_actions(dataset):
        return f"results/{dataset}/curation/probes/{fs}.json"
    return f"results/{dataset}/probes/{fs}.json"


# the curated manifest: every row of ingest's, in order; curation.relabel's corrections applied (the given label in
# label_before), then the training images flagged as curation.exclude names moved to the split "curated"
rule curate_manifest:
    input:
        manifest="results/{dataset}/ingest/manifest.tsv",
        issues=lambda w: (
            [f"results/{w.dataset}/curation/issues.tsv"]
            if (curation_actions(w.dataset) or {}).get("exclude")
            else []
        ),
        # the reviewer's corrections, wherever they lie: editing the file reruns what reads the labels
        relabel=lambda w: [
            f for f in [(curation_actions(w.dataset) or {}).get("relabel")] if f
        ],
    output:
        manifest="results/{dataset}/curation/manifest.tsv",
        skipped=report(
            "results/{dataset}/curation/skipped.tsv",
            caption="../report/curation.rst",
            category="{dataset}",
            subcategory="curation",
        ),
        info="results/{dataset}/curation/applied.json",
    log:
        "logs/{dataset}/curate_manifest.log",
    benchmark:
        "benchmarks/runs/{dataset}/curate_manifest.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=mem_from_input(factor=4),
        runtime=5,
    params:
        lib=lib("curate_manifest"),
        exclude=lambda w: (curation_actions(w.dataset) or {}).get("exclude", []),
        relabel=lambda w: (curation_actions(w.dataset) or {}).get("relabel"),
        train_split=lambda w: S(w.dataset, "probes")["train_split"],
    script:
        "../../scripts/curate_manifest.py"
