# Curation (docs/curation.md): likely mislabels, outliers and duplicates, ranked for review.
from imagespace.curation import DEFAULT_KINDS as CURATION_KINDS  # noqa: E402


def curation_not_wired(dataset):
    """curation.exclude and curation.relabel are validated, but the fits do not apply them yet: a run that asks for
    them stops, rather than silently fitting on the uncurated labels."""
    c = S(dataset, "curation")
    for key in ("exclude", "relabel"):
        if c[key]:
            sys.stderr.write(
                f"invalid configuration:\n  datasets.{dataset}: curation.{key} is not applied by this version of "
                f"the workflow yet (see docs/curation.md); remove it\n"
            )
            sys.exit(1)


def curation_sets(dataset):
    """The probed feature sets the curation may rest on: curation.feature_sets, else every probed pixel,
    descriptor, backbone or network set not fitted on the training labels (the rule leaves out those at chance).
    """
    curation_not_wired(dataset)
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
    """The curation outputs of a dataset (none where it has no usable feature set)."""
    if not curation_sets(dataset):
        return []
    return [
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
