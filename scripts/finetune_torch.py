"""Rules finetune_torch and finetune_features: EfficientNet-Lite0 fine-tuned to the human space or the classes.

finetune_torch (output ``model``): fine-tunes the last blocks of the pretrained network
(:mod:`imagespace.nets.finetune`) on the training rows only: target human on the human coordinates of the
alignment's training split (input ``human_train``, the rows of the human-space table), target class or triplet on the
labels of ``train_split``. Writes the fitted state (``torch.save``, atomic), the training info and the loss
curves. Nothing of any other split is read.

finetune_features (output ``features``): applies a fitted state (this dataset's, or with
predict_human_space_from the source dataset's) to every image of the manifest, in manifest order: target
human gives the predicted coordinates, target class the penultimate activations, target triplet the embedding. The
training rows of the state's own dataset are in-sample (meta ``in_sample_split``), unless ``out_of_fold`` is set: then
finetune_torch also fine-tunes one network per outer fold of the alignment (``alignment.folds``,
``alignment.seed``), and each training row gets the prediction of the network that did not see it.

Images: the ingested array, or with ``from_files`` every image file decoded again at the network's input
size with the dataset's own image settings. Never imports TensorFlow (env torch.yaml).
"""

import sys

from imagespace.config import image_options
from imagespace.io import (
    InputError,
    load_human_table,
    load_images,
    load_manifest,
    logged_errors,
    read_json,
    save_features,
    setup_logging,
    write_json,
    write_table,
)
from imagespace.nets import backbone_table, backbones_torch, finetune
from imagespace.nets.backbone_table import input_size


def images_of(snakemake, manifest, spec: dict, rows=None):
    """The images of the manifest rows *rows* (all when None): the ingested array, or the files (from_files)."""
    import numpy as np

    s = finetune.settings(spec)
    if s["from_files"]:
        paths = manifest["path"].fillna("").astype(str)
        if (paths == "").any():
            raise InputError(
                f"{snakemake.input.manifest}: finetune.from_files needs image files, but this dataset's "
                "images come from an array; set from_files: false"
            )
        size = input_size(s["backbone"], finetune._backbone_spec(s))
        paths = paths.to_numpy()
        return backbone_table.FileImages(
            paths if rows is None else paths[rows], size, image_options(snakemake.params.images)
        )
    images = load_images(snakemake.input.images)
    if len(images) != len(manifest):
        raise ValueError(f"{snakemake.input.images}: {len(images)} images, but the manifest lists {len(manifest)}")
    return images if rows is None else np.asarray(images[np.asarray(rows)])


def train(snakemake, log, device: str) -> None:
    import numpy as np
    import pandas as pd

    spec, out = snakemake.params.spec, snakemake.output
    s = finetune.settings(spec)
    manifest = load_manifest(snakemake.input.manifest)
    row_of = {i: r for r, i in enumerate(manifest["id"])}
    if s["target"] == "human":
        ids, H = load_human_table(snakemake.input.human_train)
        missing = [i for i in ids if i not in row_of]
        if missing:
            raise InputError(
                f"{snakemake.input.human_train}: {len(missing)} ids are not in the manifest (first: {missing[:3]})"
            )
        rows = np.array([row_of[i] for i in ids])
        targets, labels, split = H, manifest["label"].to_numpy()[rows], snakemake.params.train_split
    else:
        split = s["train_split"]
        rows = np.flatnonzero(manifest["split"].to_numpy() == split)
        if len(rows) == 0:
            raise InputError(
                f"{snakemake.input.manifest}: finetune.train_split {split!r} has no images "
                f"(splits: {sorted(set(manifest['split']))})"
            )
        targets, labels = manifest["label"].to_numpy()[rows], None
    log.info("fine-tuning %s (target %s) on the %d images of split %r", s["backbone"], s["target"], len(rows), split)
    imgs = images_of(snakemake, manifest, spec, rows)
    if s["out_of_fold"]:
        import torch

        folds, seed = snakemake.params.folds, snakemake.params.fold_seed
        state, info, oof = finetune.finetune_out_of_fold(imgs, targets, spec, labels=labels, folds=folds, seed=seed)
        state["out_of_fold"] = {
            "ids": [str(i) for i in manifest["id"].to_numpy()[rows]],
            "prediction": torch.from_numpy(oof),
        }
    else:
        state, info = finetune.finetune(imgs, targets, spec, labels=labels)
    info.update(
        variant=snakemake.wildcards.ft,
        device=device,
        train_split=split,
        train_ids=manifest["id"].to_numpy()[rows].tolist(),
    )
    state["train_split"] = split
    finetune.save(state, out.model)
    curves = []
    for run, per_seed in (("inner", (info["inner"] or {}).get("curves", {})), ("final", info["curves"])):
        for seed, hist in per_seed.items():
            curves += [{"run": run, "seed": int(seed), **h} for h in hist]
    write_table(out.history, pd.DataFrame(curves))
    write_json(out.info, info)


def features(snakemake, log, device: str) -> None:
    state = finetune.load(snakemake.input.model)
    training = read_json(snakemake.input.training)
    manifest = load_manifest(snakemake.input.manifest)
    spec = state["settings"]
    F = finetune.predict(state, images_of(snakemake, manifest, spec))
    own = snakemake.params.own_model  # False: another dataset's network applied to these images
    oof = state.get("out_of_fold") if own else None
    if oof is not None:  # the training rows: the prediction of the fold's network that did not see them
        row_of = {str(i): r for r, i in enumerate(manifest["id"])}
        missing = [i for i in oof["ids"] if i not in row_of]
        if missing:
            raise InputError(
                f"{snakemake.input.model}: {len(missing)} training ids are not in {snakemake.input.manifest} "
                f"(first: {missing[:3]}); rerun finetune_torch"
            )
        F[[row_of[i] for i in oof["ids"]]] = oof["prediction"].numpy()
    info = {
        "variant": snakemake.wildcards.ft,
        "device": device,
        "n": len(F),
        "dims": int(F.shape[1]),
        "target": state["target"],
        "epochs": state["epochs"],
        "seeds": spec["seeds"],
        "unfreeze": spec["unfreeze"],
        "tta": spec["tta"],
        "model": str(snakemake.input.model),
        "weights_sha256": training.get("weights_sha256"),
        "out_of_fold_rows": 0 if oof is None else len(oof["ids"]),
    }
    log.info(
        "%s: %d images x %d features (%s)",
        snakemake.wildcards.ft,
        len(F),
        F.shape[1],
        {"human": "predicted coordinates", "class": "penultimate activations", "triplet": "embedding"}[state["target"]],
    )
    save_features(
        snakemake.output.features,
        F,
        manifest["id"].to_numpy(),
        kind="cnn",
        framework="torch",
        in_sample_split=state.get("train_split") if own and oof is None else None,
        out_of_fold_split=state.get("train_split") if oof is not None else None,
        **info,
    )
    write_json(snakemake.output.info, info)


def main(snakemake):
    log = setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        device = backbones_torch.configure(snakemake.threads)
        if "model" in snakemake.output.keys():
            train(snakemake, log, device)
        else:
            features(snakemake, log, device)


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
