"""Rule summary: results/{dataset}/summary.json and summary.md."""

import sys

from imagespace import report
from imagespace.io import console, logged_errors, setup_logging, write_json, write_text


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        i, p = snakemake.input, snakemake.params
        inputs = report.SummaryInputs(
            ingest=i.ingest,
            pca=i.pca,
            embed=list(i.embed),
            maps=list(i.map_info) + [f for f in i.cnn_maps if f.endswith(".json")],
            clustering=list(i.clustering),
            compare=list(i.compare),
            human=list(i.human),
            cnn=list(i.cnn),
            maps_human=list(i.maps_human),
            predicted=list(i.predicted),
            evaluation=list(i.evaluation),
            probes=list(i.probes),
            paired=list(i.paired),
            backbones=list(i.backbones),
            ensembles=list(i.ensembles),
            finetune=list(i.finetune),
            retrieval=[f for f in i.retrieval if f.endswith(".json")],
            explore=[f for f in i.explore if f.endswith(".json")],
            more={"human_direct": list(i.human_direct), "curation": list(i.curation)},
        )
        settings = report.SummarySettings(
            train_split=p.train_split,
            predicted_from=p.predicted_from,
            fitted_on=p.fitted_on,
            small_class_warning=p.small_class_warning,
            min_trustworthiness=p.min_trustworthiness,
            fixed=p.settings,
            notes=list(p.notes),
            degeneracy=p.degeneracy,
            human_kinds=p.human_kinds,
            curation_warn_above=p.curation_warn_above,
        )
        s = report.build(snakemake.wildcards.dataset, inputs, settings)
        write_json(snakemake.output.json, s)
        write_text(snakemake.output.md, report.markdown(s) + "\n")
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
