def retrieval_inputs(wildcards):
    """The feature set and the images; a query folder (predict_human_space_from) adds its source's gallery."""
    d, fs = wildcards.dataset, wildcards.fs
    out = {
        "features": f"results/{d}/features/{fs}.npz",
        "manifest": f"results/{d}/ingest/manifest.tsv",
        "images": f"results/{d}/ingest/images.npy",
    }
    src = prediction_source(d)
    if src is not None:
        s = src[0]
        out["gallery_features"] = f"results/{s}/features/{fs}.npz"
        out["gallery_manifest"] = f"results/{s}/ingest/manifest.tsv"
        out["gallery_images"] = f"results/{s}/ingest/images.npy"
    return out


# find similar images: every image's nearest neighbours in one feature set, and precision@k against labels
rule retrieval:
    input:
        unpack(retrieval_inputs),
    output:
        json="results/{dataset}/retrieval/{fs}.json",
        neighbours="results/{dataset}/retrieval/{fs}_neighbours.tsv",
        gallery=report(
            "results/{dataset}/retrieval/{fs}_gallery.png",
            caption="../report/retrieval_gallery.rst",
            category="{dataset}",
            subcategory="8 find similar images",
        ),
    log:
        "logs/{dataset}/retrieval/{fs}.log",
    benchmark:
        "benchmarks/runs/{dataset}/retrieval_{fs}.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=mem_from_input(factor=4, key="features"),
        runtime=30,
    params:
        lib=lib("retrieval"),
        settings=lambda w: S(w.dataset, "retrieval"),
    script:
        "../../scripts/retrieval.py"
