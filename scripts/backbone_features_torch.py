"""Rule backbone_features_torch: a pretrained PyTorch network's features of every image, in manifest order
(feature set bb_<name>).

The images: the ingested array, or with backbones.<name>.from_files every image file of
the manifest decoded again at the network's input size with the dataset's own image
settings. Never imports TensorFlow (env torch.yaml).
"""

import sys
from pathlib import Path

from imagespace.io import load_manifest, logged_errors, save_features, setup_logging, write_json
from imagespace.nets import backbones_torch
from imagespace.nets.backbone_table import backbone_images, check_features


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        name, spec = snakemake.wildcards.backbone, snakemake.params.spec
        device = backbones_torch.configure(snakemake.threads)
        manifest = load_manifest(snakemake.input.manifest)
        images, source = backbone_images(
            manifest, snakemake.input.images, name, spec=spec, image_settings=snakemake.params.images
        )
        F, info = backbones_torch.extract(images, name, spec)
        n_constant = check_features(F, name, info["layer"], log=log)
        # the feature set: bb_<name>, or bb_<name>_<variant> (backbones.<name>.variants)
        info.update(
            source=source, device=device, n_constant=n_constant, feature_set=Path(snakemake.output.features).stem
        )
        log.info("%s: images from %s", name, source)
        save_features(snakemake.output.features, F, manifest["id"].to_numpy(), kind="backbone", **info)
        write_json(snakemake.output.info, info)


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
