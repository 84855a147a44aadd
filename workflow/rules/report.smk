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
        "map_info": [f"results/{d}/maps/{m}.json" for m in embedding_methods(d)]
        + [f"results/{d}/maps/pca.json"],
        "maps": [
            f"results/{d}/maps/{m}_{kind}.png"
            for m in map_methods(d)
            for kind in ("labels", "thumbnails")
        ],
        "clustering": [
            f"results/{d}/clustering/{fs}/{m}/result.json"
            for fs, m in cluster_targets(d)
        ],
        # every clustering on every map, and clusterings of the 2-D PCA map itself
        "cluster_figures": (
            ([f"results/{d}/clustering/maps.png"] if cluster_targets(d) else [])
            + [f"results/{d}/maps/pca_{m}.png" for m in ("kmeans", "gmm")]
            if S(d, "clustering")["on_maps"]
            else []
        ),
        "compare": [
            f"results/{d}/compare/{fs}/comparison.json"
            for fs in dict.fromkeys(fs for fs, _ in compare_pairs(d))
        ],
        # the paired bootstrap of every two compared feature sets, per split
        "paired": (
            [
                f"results/{d}/compare/paired_{sp}.tsv"
                for sp in sorted({sp for _, sp in compare_pairs(d)})
            ]
            if S(d, "compare")["paired"]["enabled"]
            else []
        ),
        "human": [f"results/{d}/human/{sp}_check.json" for sp in human_splits(d)],
        # every feature set compared directly with human data that is not coordinates (RDMs, triplets, ceilings)
        "human_direct": [
            f"results/{d}/human/direct_{sp}.json"
            for sp, spec in human_splits(d).items()
            if spec.get("kind", "coordinates") != "coordinates"
        ],
        # the stress curve and the Shepard diagram of a space built from such data
        "human_figures": [
            f"results/{d}/human/{sp}_{fig}.png"
            for sp, spec in human_splits(d).items()
            if spec.get("kind", "coordinates") != "coordinates"
            for fig in ("stress", "shepard")
        ],
        # likely mislabels, outliers and duplicates (with their galleries)
        "curation": curation_targets(d),
        "cnn": [
            f"results/{d}/cnn/{v}/{f}.json"
            for v in cnn_variants(d)
            for f in ("training", "features")
        ],
        "evaluation": [
            f"results/{d}/cnn/{v}/evaluation.json" for v in evaluated_cnns(d)
        ],
        # fitted on the curated manifest where curation.exclude or curation.relabel is set
        "probes": [probe_json(d, fs) for fs in probe_sets(d)],
        "explore": (
            [f"results/{d}/explore/map.json", f"results/{d}/explore/map.html"]
            if S(d, "explore")["enabled"]
            else []
        ),
        "retrieval": [
            f"results/{d}/retrieval/{fs}{ext}"
            for fs in REG.retrieval_sets(d)
            for ext in (".json", "_gallery.png")
        ],
        # fine-tuned networks trained on this dataset (their epochs and out-of-fold scores)
        "finetune": [
            f"results/{d}/finetune/{v}/training.json"
            for v in REG.finetune_variants(d)
            if not prediction_source(d)
        ],
        "backbones": [
            f"results/{d}/backbones/{fs[len('bb_'):]}/features.json"
            for fs, _, _ in REG.backbone_sets(d)
        ],
        # the weights of greedy ensembles, chosen on this dataset's training split
        "ensembles": [
            f"results/{d}/alignment/{fs}.json"
            for fs, s in REG.sets(d).items()
            if s.kind == "ensemble" and s.select == "greedy" and not s.transferred
        ],
        "cnn_maps": [
            f"results/{d}/maps/{v}_features.{ext}"
            for v in cnn_variants(d)
            if (v, "kmeans") in cluster_targets(d)
            for ext in ("png", "json")
        ],
        "maps_human": [f"results/{d}/alignment/{fs}.json" for fs in REG.predictions(d)],
        "predicted": [f"results/{d}/predicted/{fs}.tsv" for fs in predicted_sets(d)],
        "predicted_maps": [
            f"results/{d}/predicted/{fs}_map.png" for fs in predicted_sets(d)
        ],
    }


rule summary:
    input:
        unpack(summary_inputs),
    output:
        json="results/{dataset}/summary.json",
        md=report(
            "results/{dataset}/summary.md",
            caption="../report/summary.rst",
            category="{dataset}",
            subcategory="0 summary",
        ),
    log:
        "logs/{dataset}/summary.log",
    benchmark:
        "benchmarks/runs/{dataset}/summary.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=500,
        runtime=5,
    params:
        lib=lib("summary"),
        predicted_from=lambda w: (
            model_owner(w.dataset) if prediction_source(w.dataset) else None
        ),
        train_split=lambda w: S(w.dataset, "alignment")["train_split"],
        human_kinds=lambda w: {
            sp: spec.get("kind", "coordinates")
            for sp, spec in human_splits(w.dataset).items()
        },
        curation_warn_above=lambda w: S(w.dataset, "curation")["warn_above"],
        # feature sets whose rows of that split were fitted with supervision: never the chosen representation
        fitted_on=lambda w: REG.fitted_on(
            w.dataset, S(w.dataset, "alignment")["train_split"]
        ),
        settings=lambda w: REG.fixed_settings(w.dataset),
        # what the defaults left out and why (a backbone skipped: images too small, PyTorch not installed)
        notes=lambda w: REG.backbone_notes(w.dataset),
        small_class_warning=lambda w: config["datasets"][w.dataset][
            "small_class_warning"
        ],
        min_trustworthiness=lambda w: S(w.dataset, "embeddings")["trustworthiness"][
            "warn_below"
        ],
        # the warning thresholds of the maps' degeneracy check (its geometry settings are the maps' own)
        degeneracy=lambda w: {
            k: v
            for k, v in S(w.dataset, "embeddings")["degeneracy"].items()
            if k not in DEGENERACY_GEOMETRY
        },
    script:
        "../../scripts/summary.py"


# only for datasets compared with a human space (all_targets): no empty leaderboard without one
rule leaderboard:
    input:
        summary="results/{dataset}/summary.json",
    output:
        table=report(
            "results/{dataset}/leaderboard.tsv",
            caption="../report/leaderboard.rst",
            category="{dataset}",
            subcategory="0 summary",
        ),
        figure=report(
            "results/{dataset}/leaderboard.png",
            caption="../report/leaderboard.rst",
            category="{dataset}",
            subcategory="0 summary",
        ),
    log:
        "logs/{dataset}/leaderboard.log",
    benchmark:
        "benchmarks/runs/{dataset}/leaderboard.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=500,
        runtime=5,
    params:
        lib=lib("leaderboard"),
    script:
        "../../scripts/leaderboard.py"
