"""Rule cluster_on_maps: every clustering of the dataset colouring every 2-D map, one figure (a row per clustering)."""

import sys
from pathlib import Path

from imagespace.io import load_features, load_manifest, logged_errors, own_rows, setup_logging
from imagespace.report import clustermaps


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        import pandas as pd

        manifest = load_manifest(snakemake.input.manifest)
        maps = {}
        for path in snakemake.input.maps:
            f = load_features(path)
            keep = own_rows(f.ids, manifest)  # not balance's augmented copies
            maps[Path(path).stem] = (f.ids[keep], f.X[keep, :2])
        clusterings = {}
        for name, path in zip(snakemake.params.clusterings, snakemake.input.assignments, strict=True):
            a = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
            clusterings[name] = dict(zip(a["id"], a["cluster"]))
        shown = clustermaps.plot_on_maps(
            maps,
            clusterings,
            snakemake.output.figure,
            title=f"{snakemake.wildcards.dataset}: every clustering on every map",
        )
        log.info("coloured points per clustering and map: %s", shown)


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
