"""Rule image_stats: the hand-crafted image-statistics descriptor of every image (feature set ``stats``).

With ``stats.size`` null the ingested array is described; with a size, every
image file listed in the manifest is decoded again at that size with the
dataset's own image settings (finer texture than the array the other stages use).
"""

import sys

from imagespace import image_stats
from imagespace.config import image_options
from imagespace.io import (
    InputError,
    load_images,
    load_manifest,
    logged_errors,
    save_features,
    setup_logging,
    write_json,
)


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        import time

        import numpy as np

        o = snakemake.params.opts
        manifest = load_manifest(snakemake.input.manifest)
        img_opts = image_options(snakemake.params.images)
        groups = tuple(o["groups"])
        t0 = time.perf_counter()
        if o.get("size"):
            size = o["size"] if isinstance(o["size"], list) else [o["size"], o["size"]]
            paths = manifest["path"].fillna("").astype(str)
            if (paths == "").any():
                raise InputError(
                    f"{snakemake.input.manifest}: stats.size needs image files, but this dataset's images come "
                    "from an array; set stats.size: null to describe the ingested array"
                )
            X = image_stats.describe_files(paths, size, img_opts, groups=groups, n_jobs=snakemake.threads)
            where = f"the image files at {size[0]}x{size[1]}"
        else:
            arr = load_images(snakemake.input.images)
            X = image_stats.describe_all((np.asarray(a) for a in arr), img_opts["background"], groups)
            where = f"the ingested array {arr.shape[1:]}"
        n_ch = 3 if img_opts["color"] == "rgb" else 1
        names = image_stats.feature_names(n_ch, groups)
        if X.shape[1] != len(names):
            raise RuntimeError(f"descriptor has {X.shape[1]} columns, names {len(names)}")
        bad = ~np.isfinite(X).all(axis=1)
        if bad.any():
            raise InputError(
                f"{snakemake.input.manifest}: non-finite descriptors for {int(bad.sum())} images "
                f"(e.g. {manifest['id'].to_numpy()[bad][:3].tolist()})"
            )
        info = {
            "source": where,
            "groups": list(groups),
            "n_images": len(X),
            "dims": X.shape[1],
            "names": names,
            "seconds": round(time.perf_counter() - t0, 2),
        }
        log.info("stats: %d images x %d descriptors from %s in %.1f s", *X.shape, where, info["seconds"])
        save_features(snakemake.output.features, X, manifest["id"].to_numpy(), kind="stats", **info)
        write_json(snakemake.output.info, info)


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
