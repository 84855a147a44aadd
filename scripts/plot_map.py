"""Rule plot_map: a 2-D map coloured by label (marker = split) and with image thumbnails."""

import sys

from imagespace.io import load_features, load_images, load_manifest, logged_errors, setup_logging  # noqa: E402
from imagespace.report import plots


def main(snakemake):
    setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        fs = load_features(snakemake.input.features)
        manifest = load_manifest(snakemake.input.manifest).set_index("id")
        rows = manifest.loc[fs.ids]
        images = load_images(snakemake.input.images)
        name = f"{snakemake.wildcards.dataset}: {snakemake.wildcards.mapmethod} ({len(fs.ids)} images)"
        splits = rows["split"].to_numpy()
        plots.scatter_by_label(
            fs.X,
            rows["label"].to_numpy(),
            snakemake.output.labels,
            title=name,
            marker_by=splits if len(set(splits)) > 1 else None,
        )
        plots.thumbnails(
            fs.X,
            images[rows["index"].to_numpy()],
            rows["label"].to_numpy(),
            snakemake.output.thumbnails,
            n=int(snakemake.params.n_thumbnails),
            title=name,
        )


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
