"""Rule retrieval: every image's nearest neighbours in one feature set, precision@k per split, and a gallery figure."""

import sys

from imagespace import retrieval
from imagespace.io import (
    load_features,
    load_images,
    load_manifest,
    logged_errors,
    setup_logging,
    write_json,
    write_table,
)


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        inp, p = snakemake.input, snakemake.params.settings
        fs_name = snakemake.wildcards.fs
        manifest = load_manifest(inp.manifest)
        features = load_features(inp.features)
        gallery = None
        if "gallery_features" in inp.keys():  # a query folder: ranked against its source's gallery
            gallery = (load_features(inp.gallery_features), load_manifest(inp.gallery_manifest))
        result, table, figure = retrieval.run(
            features,
            manifest,
            p,
            gallery=gallery,
            images=load_images(inp.images),
            gallery_images=load_images(inp.gallery_images) if gallery else None,
            strict_queries=False,
        )
        result["feature_set"] = fs_name
        result["warnings"] = retrieval.degenerate_warnings(result, fs_name) + [
            f"retrieval {fs_name}: {n}" for n in result["notes"]
        ]
        write_table(snakemake.output.neighbours, table)
        figure(
            snakemake.output.gallery,
            title=f"{snakemake.wildcards.dataset} / {fs_name}: nearest {result['metric']} "
            f"neighbours in {result['gallery_split']!r}",
        )
        write_json(snakemake.output.json, result)
        for sp, r in result["splits"].items():
            log.info(
                "%s on %s (%d queries): %s; chance %.3f",
                fs_name,
                sp,
                r["n"],
                ", ".join(f"P@{k} {v['mean']:.3f}" for k, v in r["precision"].items()),
                r["chance"],
            )
        for w in result["warnings"]:
            log.warning("%s", w)


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
