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


for _m in CLUSTERINGS.values():

    rule:
        name:
            f"cluster_{_m.name}"
        input:
            unpack(cluster_inputs(_m)),
            lib=lib("cluster"),
        output:
            **cluster_out(_m),
        log:
            f"logs/{{dataset}}/cluster_{_m.name}/{{fs}}.log",
        benchmark:
            f"benchmarks/{{dataset}}/cluster_{{fs}}_{_m.name}.tsv"
        conda:
            "../../envs/analysis.yaml"
        threads: config["threads"] if _m.threads == "config" else 1
        resources:
            mem_mb=mem_from_input(_m.memory_factor, key="features"),
            runtime=_m.runtime,
        params:
            **cluster_settings(_m),
        script:
            "../../scripts/cluster.py"


# one clustering colouring every 2-D map of its dataset
rule cluster_on_maps:
    input:
        assignments="results/{dataset}/clustering/{fs}/{clm}/assignments.tsv",
        maps=lambda w: [f"results/{w.dataset}/maps/{m}.npz" for m in map_methods(w.dataset)],
        lib=lib("cluster_on_maps"),
    output:
        figure=report(
            "results/{dataset}/clustering/{fs}/{clm}/maps.png",
            caption="../report/cluster_on_maps.rst",
            category="{dataset}",
            subcategory="4 clustering",
        ),
    log:
        "logs/{dataset}/cluster_on_maps/{fs}_{clm}.log",
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../../scripts/cluster_on_maps.py"


# K-Means regions and Gaussian-mixture density fitted on the 2-D PCA map, as the notebooks drew them
rule pca_cluster_maps:
    input:
        map="results/{dataset}/maps/pca.npz",
        manifest="results/{dataset}/ingest/manifest.tsv",
        lib=lib("pca_cluster_maps"),
    output:
        kmeans=report(
            "results/{dataset}/maps/pca_kmeans.png",
            caption="../report/pca_cluster_maps.rst",
            category="{dataset}",
            subcategory="4 clustering",
        ),
        gmm=report(
            "results/{dataset}/maps/pca_gmm.png",
            caption="../report/pca_cluster_maps.rst",
            category="{dataset}",
            subcategory="4 clustering",
        ),
        info="results/{dataset}/maps/pca_clusters.json",
    log:
        "logs/{dataset}/pca_cluster_maps.log",
    benchmark:
        "benchmarks/{dataset}/pca_cluster_maps.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=20,
    params:
        kmeans=lambda w: S(w.dataset, "clustering")["kmeans"],
        gmm=lambda w: S(w.dataset, "clustering")["gmm"],
        seed=lambda w: S(w.dataset, "clustering")["seed"],
    script:
        "../../scripts/pca_cluster_maps.py"
