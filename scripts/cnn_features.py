"""Rule cnn_features: penultimate-layer activations of the chosen checkpoint for every image, in manifest order."""

import sys

from imagespace.io import (
    load_images,
    load_manifest,
    logged_errors,
    read_json,
    save_features,
    setup_logging,
    write_json,
)
from imagespace.nets import cnn_features, cnn_layers, cnn_train


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        import numpy as np

        device = cnn_train.configure_tensorflow(snakemake.threads)  # before TensorFlow is imported
        manifest = load_manifest(snakemake.input.manifest)
        images = load_images(snakemake.input.images)
        model = cnn_layers.load_model(snakemake.input.model)
        train = read_json(snakemake.input.training)
        target = train["target"]
        if target in ("class", "triplet"):  # penultimate layer (triplet: the L2-normalised embedding)
            F = cnn_features.features(model, np.asarray(images))
        else:  # the network's predictions of the human coordinates are the feature set
            F = cnn_features.human_predictions(
                model, np.asarray(images), mean=train["human_stats"]["mean"], sd=train["human_stats"]["sd"]
            )
        dead = cnn_features.dead_units(F)
        if dead:
            log.warning(
                "%d of %d penultimate units are dead (constant for every image): %s", len(dead), F.shape[1], dead
            )
        if len(dead) == F.shape[1]:  # a collapsed network: its features are kept, and every use of them says so
            log.warning(
                "%s: every penultimate unit is dead (the network collapsed); the features carry no information",
                snakemake.input.model,
            )
        save_features(
            snakemake.output.features,
            F,
            manifest["id"].to_numpy(),
            kind="cnn",
            variant=snakemake.wildcards.variant,
            best_epoch=train["best_epoch"],
            dead_units=dead,
            target=target,
            in_sample_split=None if target in ("class", "triplet") else "the split whose human space trained it",
        )
        write_json(
            snakemake.output.info,
            {
                "variant": snakemake.wildcards.variant,
                "device": device,
                "n": len(F),
                "dims": F.shape[1],
                "dead_units": dead,
                "n_dead": len(dead),
            },
        )


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
