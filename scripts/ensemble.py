"""Rule ensemble: the average of several predictions of the human space (rows joined by image id).

Equal weights (the list form of ``alignment.ensembles``), or the weights a greedy
selection chose on the training split of the dataset that owns the models
(``results/<owner>/alignment/ensemble_<name>.json``, rule ensemble_weights): a
dataset that predicts from another reuses its weights, never reselects.
"""

import sys

from imagespace.human import ensemble
from imagespace.io import InputError, load_features, logged_errors, read_json, save_features, setup_logging


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        import numpy as np

        o = snakemake.params.opts
        paths = list(snakemake.input.members)
        members = [load_features(p) for p in paths]
        for path, m in zip(paths, members):
            if m.X.shape[1] != members[0].X.shape[1]:
                raise InputError(
                    f"{path}: {m.X.shape[1]} dimensions, {paths[0]} has {members[0].X.shape[1]}; cannot average"
                )
        common = set(members[0].ids.tolist())
        for m in members[1:]:
            common &= set(m.ids.tolist())
        ids = np.array([i for i in members[0].ids if i in common])
        if not len(ids):
            raise InputError(f"members {paths} share no image; cannot average")
        in_sample = sorted({s for m in members if (s := m.meta.get("in_sample_split"))})
        extra = {}
        wfiles = snakemake.input.weights
        wfiles = [wfiles] if isinstance(wfiles, str) else list(wfiles)
        if wfiles:  # greedy: the owner's weights, chosen on its training split
            wpath = wfiles[0]
            chosen = read_json(wpath)
            if list(chosen["candidates"]) != list(o["candidates"]):
                raise InputError(
                    f"{wpath}: weights for candidates {chosen['candidates']}, but {o['key']} lists {o['candidates']}; "
                    "rerun rule ensemble_weights"
                )
            weights = [float(chosen["weights"][c]) for c in o["candidates"]]
            extra = {
                "select": "greedy",
                "weights": dict(zip(o["candidates"], weights)),
                "weights_from": wpath,
                "chosen_on": chosen["chosen_on"],
            }
        else:
            weights = [1.0] * len(members)
        rows = [m.rows(ids) for m in members]
        X = ensemble.combine(rows, weights)
        nested = (chosen.get("out_of_fold") or {}) if wfiles and not snakemake.params.transferred else {}
        if nested:  # the training rows: the weights chosen without each row's fold (out-of-fold, like the members)
            fold_of = nested["fold_of"]
            for f, fw in enumerate(nested["fold_weights"]):
                sel = np.array([fold_of.get(str(i)) == f for i in ids])
                if sel.any():
                    X[sel] = ensemble.combine([r[sel] for r in rows], [float(fw[c]) for c in o["candidates"]])
            extra["out_of_fold_rows"] = int(sum(str(i) in fold_of for i in ids))
        elif wfiles and not snakemake.params.transferred:
            in_sample = [o["train_split"]]  # weights without nested folds: the training rows chose them
        log.info(
            "ensemble of %d members over %d images, weights %s: %s",
            len(members),
            len(ids),
            [round(w / sum(weights), 3) for w in weights],
            paths,
        )
        save_features(
            snakemake.output.features,
            X,
            ids,
            kind="ensemble",
            members=paths,
            in_sample_split=in_sample[0] if in_sample else None,
            **extra,
        )


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
