def trust_settings(wildcards):
    """The trustworthiness settings of a map's job; not the warning threshold, which the summary applies."""
    t = S(wildcards.dataset, "embeddings")["trustworthiness"]
    return {k: v for k, v in t.items() if k != "warn_below"}


# the geometry settings of a map's degeneracy check; the warning thresholds are the summary's
DEGENERACY_GEOMETRY = ("far_factor", "spot_tol", "min_spot_size")


def degeneracy_settings(wildcards):
    d = S(wildcards.dataset, "embeddings")["degeneracy"]
    return {k: d[k] for k in DEGENERACY_GEOMETRY}


def embed_input(wildcards):
    return f"results/{wildcards.dataset}/features/{S(wildcards.dataset, 'embeddings')['input'].replace('pixels', 'pca_full')}.npz"


rule embed:
    input:
        features=embed_input,
        manifest="results/{dataset}/ingest/manifest.tsv",
    output:
        features="results/{dataset}/features/{method}.npz",
        info="results/{dataset}/embed/{method}.json",
    log:
        "logs/{dataset}/embed/{method}.log",
    benchmark:
        "benchmarks/runs/{dataset}/embed_{method}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: config["threads"]
    resources:
        mem_mb=mem_from_input(4),
        runtime=60,
    params:
        lib=lib("embed"),
        n_components=lambda w: REG.n_components(w.dataset),
        opts=lambda w: S(w.dataset, "embeddings")[w.method],
        fit_split=lambda w: S(w.dataset, "embeddings")["fit_split"],
        seed=lambda w: S(w.dataset, "embeddings")["seed"],
        scale=lambda w: {
            k: S(w.dataset, "embeddings")[k] for k in ("large_n", "landmarks")
        },
        trust=trust_settings,
        degeneracy=degeneracy_settings,
    script:
        "../../scripts/embed.py"


use rule embed as map_embed with:
    output:
        features="results/{dataset}/maps/{method}.npz",
        info="results/{dataset}/maps/{method}.json",
    log:
        "logs/{dataset}/map_embed/{method}.log",
    benchmark:
        "benchmarks/runs/{dataset}/map_{method}.tsv"
    params:
        n_components=2,
        opts=lambda w: S(w.dataset, "embeddings")[w.method],
        fit_split=lambda w: S(w.dataset, "embeddings")["fit_split"],
        seed=lambda w: S(w.dataset, "embeddings")["seed"],
        scale=lambda w: {
            k: S(w.dataset, "embeddings")[k] for k in ("large_n", "landmarks")
        },
        trust=trust_settings,
        degeneracy=degeneracy_settings,


rule map_pca:
    input:
        features="results/{dataset}/features/pca.npz",
        # the first two components also where the variance threshold keeps only one
        full="results/{dataset}/features/pca_full.npz",
        manifest="results/{dataset}/ingest/manifest.tsv",
    output:
        features="results/{dataset}/maps/pca.npz",
        info="results/{dataset}/maps/pca.json",
    log:
        "logs/{dataset}/map_pca.log",
    benchmark:
        "benchmarks/runs/{dataset}/map_pca.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        lib=lib("map_pca"),
        trust=trust_settings,
        degeneracy=degeneracy_settings,
        seed=lambda w: S(w.dataset, "embeddings")["seed"],
    script:
        "../../scripts/map_pca.py"


rule plot_map:
    input:
        features="results/{dataset}/maps/{mapmethod}.npz",
        images="results/{dataset}/ingest/images.npy",
        manifest="results/{dataset}/ingest/manifest.tsv",
    output:
        labels=report(
            "results/{dataset}/maps/{mapmethod}_labels.png",
            caption="../report/map_labels.rst",
            category="{dataset}",
            subcategory="3 maps",
        ),
        thumbnails=report(
            "results/{dataset}/maps/{mapmethod}_thumbnails.png",
            caption="../report/map_thumbnails.rst",
            category="{dataset}",
            subcategory="3 maps",
        ),
    log:
        "logs/{dataset}/plot_map/{mapmethod}.log",
    benchmark:
        "benchmarks/runs/{dataset}/plot_map_{mapmethod}.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=mem_from_input(1),
        runtime=10,
    params:
        lib=lib("plot_map"),
        n_thumbnails=lambda w: S(w.dataset, "embeddings")["thumbnails"],
    script:
        "../../scripts/plot_map.py"
