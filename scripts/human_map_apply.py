"""Rule human_map_apply: another dataset's fitted map into the human space, run on this dataset's features.

For datasets with ``predict_human_space_from``: the map (W, b) that rule human_map
fitted on the source dataset's training split gives ``X @ W + b`` for every image
here; no human data of this dataset is used.
"""

import sys

from imagespace.human import alignment
from imagespace.io import InputError, load_features, logged_errors, save_features, setup_logging, write_json


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        import numpy as np

        fs = load_features(snakemake.input.features)
        with np.load(snakemake.input.model, allow_pickle=False) as z:
            W, b = z["W"], z["b"]
        if fs.X.shape[1] != W.shape[0]:
            raise InputError(
                f"{snakemake.input.features} has {fs.X.shape[1]} features but the map {snakemake.input.model} "
                f"expects {W.shape[0]}: the two datasets' {snakemake.wildcards.base} settings differ"
            )
        Y = alignment.apply_map(fs.X, W, b)
        info = {
            "base": snakemake.wildcards.base,
            "applied_from": snakemake.input.model,
            "n_images": len(Y),
            "source_dataset": snakemake.params.source,
            "note": "predictions of a map fitted on another dataset",
        }
        log.info("applied %s to %d images of %s", snakemake.input.model, len(Y), snakemake.wildcards.dataset)
        save_features(snakemake.output.features, Y, fs.ids, kind="human_pred", **info)
        write_json(snakemake.output.info, info)


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
