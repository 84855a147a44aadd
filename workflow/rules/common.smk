import functools
import os
import re
import sys
from pathlib import Path

import yaml
from snakemake.utils import min_version

min_version("9.0")

# The analysis code lives in scripts/imagespace (plain importable Python, on sys.path from the
# Snakefile); the rule files use its config helpers and registry.
SCRIPTS = Path(workflow.basedir) / "scripts"
from imagespace import config as iscfg  # noqa: E402
from imagespace import ingest as sources  # noqa: E402
from imagespace import deps  # noqa: E402
from imagespace import featuresets  # noqa: E402
from imagespace import runlock  # noqa: E402


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


# unknown keys, wrong types, values out of range, names that are not allowed and cross-field rules
# (also after merging each dataset's overrides) stop the run here, before any job could remove an
# output: one line per problem, naming the key and the config file; defaults come from the schema only. A config
# validated before with the same schema and code is read back from .snakemake (imagespace-config.pickle)
try:
    iscfg.validate_cached(
        config,
        files=_config_files,
        cache_dir=Path(".snakemake"),
        code_key=deps.fingerprint(SCRIPTS),
    )
except iscfg.ConfigError as _e:
    sys.stderr.write(f"{_e}\n")
    sys.exit(1)


# one run per folder: a second run started beside a running one stops here with one line naming the
# holder (jobs started by the run itself, dry runs, reports and --unlock take no lock)
if workflow.is_main_process and runlock.runs_jobs(sys.argv):
    try:
        RUN_LOCK = runlock.acquire(Path(".snakemake") / "imagespace.lock")
    except runlock.RunLocked as _e:
        sys.stderr.write(f"{_e}\n")
        sys.exit(1)


# ----------------------------------------------------------------- helpers
@functools.cache
def lib(script):
    """A digest of the imagespace modules a rule's script imports (at any depth), and of their paths: a param of
    the rule, so editing one of them reruns its rules (Snakemake's params trigger), without listing every module
    among the job's inputs on the console. Cached under .snakemake by the content hash of scripts/.
    """
    return deps.rule_digest(
        SCRIPTS / f"{script}.py", root=SCRIPTS, cache_dir=Path(".snakemake")
    )


def S(dataset, stage):
    """Effective settings of one stage for one dataset (global block + dataset override): the registry's, merged
    once per parse (read them, never modify them)."""
    return REG.stage(dataset, stage)


def target_datasets():
    return list(config["targets"]) or list(config["datasets"])


def ingest_settings(dataset):
    """Only the keys that change what ingest writes (so a PCA setting never reruns ingest)."""
    ds = config["datasets"][dataset]
    keys = (
        "source",
        "validation_fraction",
        "test_fraction",
        "split_seed",
        "on_error",
        "duplicates",
        "min_per_class",
        "max_per_class",
        "subsample",
        "balance",
    )
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


# ----------------------------------------------------------------- the feature-set registry
# Built once from the validated config: every question about what a feature set is and which
# stage uses it is answered by imagespace.featuresets (tested without Snakemake).
def _conda_envs():
    """Whether the jobs run in the per-rule conda envs (--use-conda): envs/torch.yaml then has PyTorch."""
    from snakemake.settings.types import DeploymentMethod

    # a workflow built outside a run (imagespace.mock: a rule script started by hand) has no deployment settings
    settings = getattr(workflow, "deployment_settings", None)
    return settings is not None and DeploymentMethod.CONDA in settings.deployment_method


try:
    # PyTorch backbones: where PyTorch is installed (found, not imported) or the conda envs provide it
    REG = featuresets.Registry(config, torch=True if _conda_envs() else None)
except featuresets.RegistryError as _e:
    sys.stderr.write(f"invalid configuration:\n  {_e}\n")
    sys.exit(1)
prediction_source = REG.prediction_source
model_owner = REG.model_owner
predicted_sets = REG.predicted_sets
transferred = REG.transferred
human_splits = REG.human_splits
embedding_methods = REG.embedding_methods
map_methods = REG.map_methods
cnn_variants = REG.cnn_variants
cnn_spec = REG.cnn_spec
trained_on_human_cnn = REG.trained_on_human_cnn
evaluated_cnns = REG.evaluated_cnns
feature_sets = REG.feature_sets
compare_pairs = REG.compare_pairs
cluster_targets = REG.cluster_targets
kd_embeddings = REG.kd_embeddings
probe_sets = REG.probe_sets


def datasets_regex(predicting):
    """Regex of the dataset names that do (True) or do not (False) predict from another dataset."""
    names = [
        d
        for d in config["datasets"]
        if bool(config["datasets"][d].get("predict_human_space_from")) == predicting
    ]
    return "|".join(re.escape(d) for d in names) or "(?!)"


def mem_from_input(factor=3, floor=1000, key=None):
    """Memory estimate (MB) from the size of the inputs (or of input *key*), for the scheduler and cluster profiles."""

    def f(wildcards, input, attempt):
        try:
            size = input.size_mb
        except (
            AttributeError
        ):  # plain paths: a job built outside a run (imagespace.mock)
            size = sum(os.path.getsize(p) for p in input if os.path.exists(p)) / 2**20
        if key and os.path.exists(input[key]):
            size = os.path.getsize(input[key]) / 1e6
        return int(max(floor, factor * size) * attempt)

    return f


def all_targets():
    out = []
    for d in target_datasets():
        out += [f"results/{d}/summary.json", f"results/{d}/summary.md"]
        if compare_pairs(d):  # a human space to rank the representations against
            out += [f"results/{d}/leaderboard.tsv", f"results/{d}/leaderboard.png"]
    return out
