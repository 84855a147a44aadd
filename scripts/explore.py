"""Rule explore: the dataset's interactive map, one self-contained HTML page."""

import sys

from imagespace.io import logged_errors, setup_logging, write_json, write_text
from imagespace.report import explore


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        i = snakemake.input
        html, info = explore.from_files(
            i.manifest,
            i.images,
            maps=list(i.maps),
            features=list(i.features),
            clusters=list(i.clusters),
            human=list(i.human),
            settings=snakemake.params.settings,
            human_sets=snakemake.params.human_sets,
            curation=list(i.curation),
            title=snakemake.wildcards.dataset,
        )
        write_text(snakemake.output.html, html)
        info["bytes"] = len(html.encode("utf-8"))
        write_json(snakemake.output.info, info)
        log.info(
            "%s: %d points, %d thumbnails, %d maps, %d colourings, %.1f MB",
            snakemake.output.html,
            info["n_points"],
            info["n_thumbnails"],
            len(info["maps"]),
            len(info["colourings"]),
            info["bytes"] / 1e6,
        )


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
