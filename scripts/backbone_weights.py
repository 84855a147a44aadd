"""Rule backbone_weights: a backbone's ImageNet weights in Keras' cache (~/.keras/models), downloaded once where the
network allows.

The only job that downloads; it fails after a short network timeout, naming the
backbone, the file, the cache path and how to give backbones.<name>.weights_path instead.
"""

import sys

from imagespace.io import logged_errors, setup_logging, write_json
from imagespace.nets import backbones_keras


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        name = snakemake.wildcards.backbone
        backbones_keras.configure(snakemake.threads)
        info = backbones_keras.fetch_weights(name, snakemake.params.spec, snakemake.params.timeout)
        log.info(
            "%s: ImageNet weights %s (%s, %d bytes)",
            name,
            info["path"],
            "downloaded" if info["downloaded"] else "already in the cache",
            info["bytes"],
        )
        write_json(snakemake.output.info, info)


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
