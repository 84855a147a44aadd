# One rule per clustering method, made from the library's method table (imagespace.cluster.METHODS),
# so that a parameter of one method reruns only that method. Each job reads a feature set by name
# (results/{dataset}/features/{fs}.npz).
from imagespace.cluster import METHODS as CLUSTERINGS  # noqa: E402


def cluster_inputs(method):
    """Features, manifest and images; the PCA model where the method decodes through it (fs pca)."""

    def f(wildcards):
        d = wildcards.dataset
        out = {
            "features": f"results/{d}/features/{wildcards.fs}.npz",
            "manifest": f"results/{d}/ingest/manifest.tsv",
            "images": f"results/{d}/ingest/images.npy",
        }
        if method.decode_pca and wildcards.fs == "pca":
            out["pca_model"] = f"results/{d}/pca/model.npz"
        return out

    return f


def cluster_out(method):
    d = f"results/{{dataset}}/clustering/{{fs}}/{method.name}"
    out = {"assignments": f"{d}/assignments.tsv", "result": f"{d}/result.json"}
    if method.table:
        out["table"] = f"{d}/scan.tsv"
    for fig in ("sizes", "gallery", "medoids") + method.figures:
        caption = Path(workflow.basedir) / f"workflow/report/cluster_{fig}.rst"
        out[fig] = report(
            f"{d}/{fig}.png",
            caption=(
                f"../report/cluster_{fig}.rst"
                if caption.exists()
                else "../report/cluster_figure.rst"
            ),
            category="{dataset}",
            subcategory="4 clustering",
        )
    return out


def cluster_settings(method):
    """The method's own block, the clustering split and scaling (every method) and the shared keys it reads (seed, large_n)."""
    return {
        "method": method.name,
        "opts": lambda w: S(w.dataset, "clustering")[method.name],
        "split": lambda w: S(w.dataset, "clustering")["split"],
        "scale": lambda w: S(w.dataset, "clustering")["scale"],
        "settings": lambda w: {
            k: S(w.dataset, "clustering")[k] for k in method.settings
        },
    }


# The loop below makes one rule per method. Index of the generated rules: rule -> its steps (imagespace.cluster._run,
# called by scripts/cluster.py through imagespace.cluster.run) -> the fit of its family; a test keeps this list equal
# to imagespace.cluster.METHODS.
#   cluster_kmeans        -> imagespace.cluster._run._run_kmeans        -> imagespace.cluster._kmeans.fit_kmeans
#   cluster_gmm           -> imagespace.cluster._run._run_gmm           -> imagespace.cluster._mixture.fit_gmm
#   cluster_dbscan        -> imagespace.cluster._run._run_dbscan        -> imagespace.cluster._density.fit_dbscan_auto
#   cluster_agglomerative -> imagespace.cluster._run._run_agglomerative -> imagespace.cluster._hierarchical.fit_agglomerative
#   cluster_hdbscan       -> imagespace.cluster._run._run_hdbscan       -> imagespace.cluster._density.fit_hdbscan
for _m in CLUSTERINGS.values():

    rule:
        name:
            f"cluster_{_m.name}"
        input:
            unpack(cluster_inputs(_m)),
        output:
            **cluster_out(_m),
        log:
            f"logs/{{dataset}}/cluster_{_m.name}/{{fs}}.log",
        benchmark:
            f"benchmarks/runs/{{dataset}}/cluster_{{fs}}_{_m.name}.tsv"
        conda:
            "../../envs/analysis.yaml"
        threads: config["threads"] if _m.threads == "config" else 1
        resources:
            mem_mb=mem_from_input(_m.memory_factor, key="features"),
            runtime=_m.runtime,
        params:
            **cluster_settings(_m),
            lib=lib("cluster"),
        script:
            "../../scripts/cluster.py"
