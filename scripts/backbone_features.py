"""Rule backbone_features: a pretrained keras.applications network's features of every image, in manifest order
(feature set bb_<name>)."""

import sys
from pathlib import Path

from imagespace.io import load_manifest, logged_errors, read_json, save_features, setup_logging, write_json
from imagespace.nets import backbones_keras
from imagespace.nets.backbone_table import backbone_images, check_features


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        name, spec = snakemake.wildcards.backbone, snakemake.params.spec
        device = backbones_keras.configure(snakemake.threads)  # before the network is built
        manifest = load_manifest(snakemake.input.manifest)
        images, source = backbone_images(
            manifest, snakemake.input.images, name, spec=spec, image_settings=snakemake.params.images
        )
        # weights imagenet without weights_path: the Keras cache file that rule backbone_weights recorded
        cached = None
        if spec["weights"] == "imagenet" and not spec["weights_path"]:
            cached = read_json(snakemake.input.weights)["path"]
        F, info = backbones_keras.extract(images, name, spec, cached=cached)
        n_constant = check_features(F, name, info["layer"], log=log)
        # the feature set: bb_<name>, or bb_<name>_<variant> (backbones.<name>.variants)
        info.update(
            source=source, device=device, n_constant=n_constant, feature_set=Path(snakemake.output.features).stem
        )
        save_features(snakemake.output.features, F, manifest["id"].to_numpy(), kind="backbone", **info)
        write_json(snakemake.output.info, info)


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
