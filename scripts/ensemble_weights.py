"""Rule ensemble_weights: the weights of a greedy ensemble, chosen on the training split's out-of-fold predictions.

Greedy forward selection with replacement (:mod:`imagespace.human.ensemble`) over the
candidates' predictions of the training split's human coordinates; every candidate
must be out-of-fold there. Validation and test rows play no part. The weights are
written to ``results/<dataset>/alignment/ensemble_<name>.json``; rule ensemble (of
this dataset, and of datasets that predict from it) averages with them.
"""

import sys

from imagespace.human import ensemble
from imagespace.io import InputError, load_features, load_human_table, logged_errors, setup_logging, write_json


def main(snakemake):
    setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        o = snakemake.params.opts
        paths = list(snakemake.input.candidates)
        ids, H = load_human_table(snakemake.input.human)
        preds, in_sample = {}, {}
        for name, path in zip(o["candidates"], paths):
            fs = load_features(path)
            in_sample[name] = fs.meta.get("in_sample_split")
            try:
                preds[name] = fs.rows(ids)
            except KeyError as e:
                raise InputError(
                    f"{path}: no prediction for some images of the training split {o['train_split']!r} ({e})"
                ) from None
            if preds[name].shape != H.shape:
                raise InputError(
                    f"{path}: {preds[name].shape[1]} dimensions, "
                    f"the human space {snakemake.input.human} has {H.shape[1]}"
                )
        res = ensemble.select(
            H,
            preds,
            how=o["select"],
            max_rounds=o["max_rounds"],
            in_sample=in_sample,
            key=o["key"],
            train_split=o["train_split"],
            ids=ids,
            folds=o["folds"],
            seed=o["seed"],
        )
        write_json(
            snakemake.output.weights,
            {
                "ensemble": f"ensemble_{snakemake.wildcards.name}",
                "dataset": snakemake.wildcards.dataset,
                "config_key": o["key"],
                "candidates": o["candidates"],
                "candidate_files": paths,
                "human": snakemake.input.human,
                **res,
            },
        )


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
