"""Rule summary: results/{dataset}/summary.json and summary.md."""

import sys

from imagespace import summary
from imagespace.util import console, logged_errors, setup_logging, write_json, write_text


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        i = snakemake.input
        s = summary.build(
            snakemake.wildcards.dataset,
            i.ingest,
            i.pca,
            list(i.embed),
            list(i.map_info) + [p for p in i.cnn_maps if p.endswith(".json")],
            list(i.clustering),
            list(i.compare),
            list(i.human),
            list(i.cnn),
            list(i.maps_human),
            list(i.predicted),
            snakemake.params.predicted_from,
            snakemake.params.train_split,
            list(i.evaluation),
            list(i.probes),
            snakemake.params.small_class_warning,
            snakemake.params.min_trustworthiness,
            list(i.paired),
            fitted_on=snakemake.params.fitted_on,
            backbones=list(i.backbones),
            ensembles=list(i.ensembles),
            settings=snakemake.params.settings,
            finetune=list(i.finetune),
            retrieval=[p for p in i.retrieval if p.endswith(".json")],
            explore=[p for p in i.explore if p.endswith(".json")],
            notes=list(snakemake.params.notes),
            degeneracy=snakemake.params.degeneracy,
        )
        write_json(snakemake.output.json, s)
        write_text(snakemake.output.md, summary.markdown(s) + "\n")
        for w in s["warnings"]:
            log.warning("%s", w)
        if s["warnings"]:  # on the console too, not only in the log
            console(
                f"imagespace: {len(s['warnings'])} warning(s) for dataset {snakemake.wildcards.dataset!r} "
                f"(top of {snakemake.output.md}):\n" + "\n".join(f"  - {w}" for w in s["warnings"])
            )


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
