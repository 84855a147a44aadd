"""Rule human_map: a cross-validated linear map from a feature set into the human space (feature set human_pred_<base>).

The map fitted on the whole training split is also stored (W, b) so that rule
human_map_apply can run it on images that have no human data.

Rows of the training split get out-of-fold predictions (a model that never saw
them), so comparisons on that split are cross-validated, never in-sample; all
other rows get the predictions of the model fitted on the whole training split.
"""

import sys

from imagespace.human import alignment
from imagespace.io import (
    load_features,
    load_human_table,
    logged_errors,
    save_features,
    save_npz,
    setup_logging,
    write_json,
)


def main(snakemake):
    setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        import numpy as np

        o = snakemake.params.opts
        ids, H = load_human_table(snakemake.input.human)
        fs = load_features(snakemake.input.features)
        X_train = fs.rows(ids)
        train = set(ids.tolist())
        other = np.array([i for i in fs.ids if i not in train])
        X_other = fs.rows(other) if len(other) else None
        oof, pred, info = alignment.cross_val_map(
            X_train, H, X_other, method=o["method"], folds=int(o["folds"]), seed=int(o["seed"])
        )
        W, b = info.pop("affine")
        # the map fitted on every training row, as plain arrays: new images get X @ W + b
        save_npz(
            snakemake.output.model,
            W=W,
            b=b,
            base=np.array(snakemake.wildcards.base),
            n_features=np.array(W.shape[0]),
            train_ids=ids.astype(str),
        )
        Y = oof if pred is None else np.vstack([oof, pred])
        all_ids = ids if pred is None else np.concatenate([ids, other])
        info.update(
            {
                "base": snakemake.wildcards.base,
                "train_split": o["train_split"],
                "n_train": len(ids),
                "n_other": len(other),
                "note": "training-split rows are out-of-fold predictions",
                # images predicted far outside the training rows' predictions (a summary warning)
                "extreme_rows": alignment.extreme_rows(oof, Y, all_ids),
            }
        )
        save_features(snakemake.output.features, Y, all_ids, kind="human_pred", **info)
        write_json(snakemake.output.info, info)


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
