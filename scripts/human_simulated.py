"""Rule human_simulated: the synthetic set's built-in human space of one split written as every kind of human data
(imagespace.human.simulate), so that a config can exercise every kind without downloads."""

import sys
import tempfile
from pathlib import Path

from imagespace.human import coordinates, simulate
from imagespace.io import load_manifest, logged_errors, setup_logging


def main(snakemake):
    setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        split, p = snakemake.wildcards.split, snakemake.params
        manifest = load_manifest(snakemake.input.manifest)
        table = coordinates.builtin_synthetic({"source": p.source}, split, manifest, int(p.dims))
        H = table[[c for c in table.columns if c.startswith("dim_")]].to_numpy()
        folder = Path(snakemake.output.ratings).parent
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:  # written aside, then each renamed into place
            written = simulate.write_every_kind(
                H, table["name"].tolist(), tmp, seed=int(p.source.get("seed") or 0), n_triplets=int(p.n_triplets)
            )
            for kind, path in written.items():
                Path(path).replace(getattr(snakemake.output, kind))


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
