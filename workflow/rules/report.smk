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
        leaderboard=report(
            "results/{dataset}/leaderboard.tsv",
            caption="../report/leaderboard.rst",
            category="{dataset}",
            subcategory="0 summary",
        ),
        leaderboard_png=report(
            "results/{dataset}/leaderboard.png",
            caption="../report/leaderboard.rst",
            category="{dataset}",
            subcategory="0 summary",
        ),
    log:
        "logs/{dataset}/summary.log",
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=500,
        runtime=5,
    params:
        predicted_from=lambda w: (
            model_owner(w.dataset) if prediction_source(w.dataset) else None
        ),
        train_split=lambda w: S(w.dataset, "alignment")["train_split"],
    script:
        "../../scripts/summary.py"
