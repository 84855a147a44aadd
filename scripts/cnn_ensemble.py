"""Rule cnn_ensemble: the average of several networks' predictions (same rows, same ids, same dims)."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821

from imagespace.util import InputError, load_features, logged_errors, save_features, setup_logging  # noqa: E402

log = setup_logging(snakemake.log[0])
with logged_errors():
    import numpy as np

    members = [load_features(p) for p in snakemake.input.members]
    ids = members[0].ids
    for path, m in zip(snakemake.input.members, members):
        if m.X.shape != members[0].X.shape or not np.array_equal(m.ids, ids):
            raise InputError(f"{path}: rows or dimensions differ from {snakemake.input.members[0]}; cannot average")
    X = np.mean([m.X for m in members], axis=0)
    log.info("ensemble of %d members: %s", len(members), list(snakemake.input.members))
    save_features(snakemake.output.features, X, ids, kind="ensemble", members=list(snakemake.input.members),
                  in_sample_split=members[0].meta.get("in_sample_split"))
