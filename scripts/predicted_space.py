"""Rule predicted_space: predicted human-space coordinates of a dataset's images (a table) and a 2-D map of them."""

import sys

from imagespace.human import alignment
from imagespace.io import load_features, load_images, load_manifest, logged_errors, setup_logging, write_table
from imagespace.report import plots


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        import pandas as pd

        fs = load_features(snakemake.input.features)
        manifest = load_manifest(snakemake.input.manifest).set_index("id")
        rows = manifest.loc[fs.ids]
        table = pd.DataFrame(
            {
                "id": fs.ids,
                "name": rows["name"].to_numpy(),
                "split": rows["split"].to_numpy(),
                "label": rows["label"].to_numpy(),
            }
        )
        for j in range(fs.X.shape[1]):
            table[f"dim_{j + 1}"] = fs.X[:, j]
        write_table(snakemake.output.table, table)
        # the map: the predicted space's two principal axes (it is already in human-space coordinates)
        Y, share = alignment.principal_axes(fs.X, 2)
        title = (
            f"{snakemake.wildcards.dataset}: predicted human space ({snakemake.wildcards.fs}), "
            f"axes 1-2 = {share.sum():.0%} of its variance"
        )
        images = load_images(snakemake.input.images)
        plots.thumbnails(
            Y,
            images[rows["index"].to_numpy()],
            rows["label"].to_numpy(),
            snakemake.output.map,
            n=int(snakemake.params.n_thumbnails),
            title=title,
        )
        log.info(
            "%d images: predicted %d-D coordinates written to %s", len(table), fs.X.shape[1], snakemake.output.table
        )


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
