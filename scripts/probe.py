"""Rule probe: logistic, k-NN and nearest-centroid probes of one feature set (held-out splits, CV, shuffled labels)."""

import sys

from imagespace import evaluation
from imagespace.io import load_features, load_manifest, logged_errors, setup_logging, write_json


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        p = snakemake.params.settings
        fs = load_features(snakemake.input.features)
        manifest = load_manifest(snakemake.input.manifest)
        res = evaluation.probe_feature_set(
            fs.X, fs.ids, manifest, p["classifiers"], p["train_split"], p["folds"], p["seed"]
        )
        res["feature_set"] = snakemake.wildcards.fs
        res["dims"] = int(fs.X.shape[1])
        write_json(snakemake.output.json, res)
        for note in res["notes"]:
            log.warning("%s", note)
        for probe, r in evaluation.probe_scores(res).items():
            shuffled = "not run" if r["shuffled_accuracy"] is None else f"{r['shuffled_accuracy']:.4f}"
            log.info(
                "%s / %s on %s: accuracy %.4f (balanced %.4f, macro-F1 %.4f; shuffled labels %s)",
                res["feature_set"],
                probe,
                r["split"],
                r["accuracy"],
                r["balanced_accuracy"],
                r["macro_f1"],
                shuffled,
            )


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
