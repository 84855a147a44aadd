"""Rule label_issues: likely mislabels, outliers and duplicates of one dataset (issues.tsv, scores.tsv, galleries)."""

import sys

from imagespace import curation
from imagespace.io import load_features, load_images, load_manifest, logged_errors, read_json, setup_logging


def main(snakemake):
    import pandas as pd

    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        inp, p = snakemake.input, snakemake.params
        names = list(p.sets)
        features = {fs: load_features(f) for fs, f in zip(names, inp.features)}
        probes = {fs: read_json(f) for fs, f in zip(names, inp.probes)}
        manifest = load_manifest(inp.manifest)
        images = load_images(inp.images)
        settings = {
            "feature_sets": list(p.named),
            "k": p.k,
            **p.probes,
            "groups": list(p.groups),
        }
        result = curation.curate(features, probes, manifest, settings=settings, images=images)
        duplicates = pd.read_csv(inp.duplicates, sep="\t", dtype={"id": str, "name": str, "label": str})
        out = {k: snakemake.output[k] for k in ("issues", "scores", "info", "label_gallery", "outlier_gallery")}
        info = curation.write_outputs(result, manifest, images, duplicates=duplicates, out=out)
        for note in info["notes"]:
            log.warning("%s", note)
        log.info(
            "%d images, feature sets %s: %d suspected mislabels (estimated noise rate %.4f), %d outliers "
            "(views %s, k %d), %d duplicates",
            info["n_images"],
            ", ".join(f"{fs} ({'+'.join(v['classifiers'])})" for fs, v in info["feature_sets"].items()),
            info["issues"]["label"],
            info["noise_rate"],
            info["issues"]["outlier"],
            ", ".join(info.get("outlier_views", [])),
            info.get("outlier_k", p.k),
            info["issues"]["duplicate"],
        )


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
