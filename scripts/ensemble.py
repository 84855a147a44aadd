"""Rule ensemble: the average of several predictions of the human space (rows joined by image id)."""

import sys
from pathlib import Path

sys.path.insert(0, snakemake.scriptdir if "snakemake" in globals() else str(Path(__file__).resolve().parent))  # noqa: F821

from imagespace.util import InputError, load_features, logged_errors, save_features, setup_logging  # noqa: E402


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        import numpy as np

        paths = list(snakemake.input.members)
        members = [load_features(p) for p in paths]
        for path, m in zip(paths, members):
            if m.X.shape[1] != members[0].X.shape[1]:
                raise InputError(f"{path}: {m.X.shape[1]} dimensions, {paths[0]} has {members[0].X.shape[1]}; cannot average")
        common = set(members[0].ids.tolist())
        for m in members[1:]:
            common &= set(m.ids.tolist())
        ids = np.array([i for i in members[0].ids if i in common])
        if not len(ids):
            raise InputError(f"members {paths} share no image; cannot average")
        X = np.mean([m.rows(ids) for m in members], axis=0)
        in_sample = sorted({s for m in members if (s := m.meta.get("in_sample_split"))})
        log.info("ensemble of %d members over %d images: %s", len(members), len(ids), paths)
        save_features(snakemake.output.features, X, ids, kind="ensemble", members=paths,
                      in_sample_split=in_sample[0] if in_sample else None)


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
