"""The rows and targets a Keras CNN trains and validates on: a split, a stratified hold-out, or the human space."""

from __future__ import annotations

import numpy as np


def split_rows(manifest, spec: dict) -> tuple[np.ndarray, np.ndarray, str]:
    """The rows a network trains and validates on.

    Parameters
    ----------
    manifest : DataFrame
        The manifest (columns split, label).
    spec : dict
        The cnn block: train_split, validation_split, validation_fraction, seed.

    Returns
    -------
    tuple
        (training rows, validation rows, how the validation rows were chosen).
    """
    from imagespace.config import with_defaults

    spec = with_defaults(spec, "cnn")
    split = manifest["split"].to_numpy()
    tr_name, va_name = spec["train_split"], spec["validation_split"]
    val = np.flatnonzero(split == va_name)
    train = np.flatnonzero(split == tr_name) if tr_name != "all" else np.setdiff1d(np.arange(len(split)), val)
    if len(train) == 0:
        raise ValueError(f"cnn.train_split {tr_name!r}: no images in that split (splits: {sorted(set(split))})")
    if len(val):
        return train, val, f"split {va_name!r}"
    from imagespace.sampling import stratified_holdout

    frac = float(spec["validation_fraction"])
    val_mask = stratified_holdout(manifest["label"].to_numpy()[train], frac, int(spec["seed"]))
    return train[~val_mask], train[val_mask], f"stratified {frac:.0%} of {tr_name!r} (seed {spec['seed']})"


def training_targets(manifest, y, spec: dict, *, human=None) -> dict:
    """Rows and targets of one training run from the manifest, the class indices *y* and the cnn settings.

    Class and triplet targets train on ``train_split`` and validate on
    ``validation_split`` (or a stratified share of the training split, see
    :func:`split_rows`). Human and joint targets regress on the human coordinates
    *human* = (ids, H) of the alignment's training split: they train and validate
    on two parts of it, so that every other split's human space stays a pure test set.

    Parameters
    ----------
    manifest : DataFrame
        The manifest (columns id, split, label).
    y : ndarray
        Class indices of the manifest's rows.
    spec : dict
        The cnn block.
    human : tuple, optional
        (ids, H): the human coordinates of the alignment's training split (targets human and joint).

    Returns
    -------
    dict
        train, val (manifest rows), y_train, y_val, how, checkpoint_split (the split whose labels choose the
        checkpoint, or None), human_stats.
    """
    from imagespace.config import with_defaults

    spec = with_defaults(spec, "cnn")
    target = spec["target"]
    if target in ("class", "triplet"):
        train, val, how = split_rows(manifest, spec)
        # a split whose labels choose the checkpoint is not fully held out in the human comparison
        checkpoint = spec["validation_split"] if how.startswith("split ") else None
        return {
            "train": train,
            "val": val,
            "y_train": y[train],
            "y_val": y[val],
            "how": how,
            "checkpoint_split": checkpoint,
            "human_stats": {},
        }
    if human is None:
        raise ValueError(f"cnn target {target!r} needs the human space of the training split")
    ids_h, H = human
    row_of = {i: r for r, i in enumerate(manifest["id"])}
    rows_h = np.array([row_of[i] for i in ids_h])
    sub = manifest.iloc[rows_h].assign(split="train").reset_index(drop=True)
    fit_i, hold_i, _ = split_rows(sub, {**spec, "train_split": "train", "validation_split": "__none__"})
    train, val = rows_h[fit_i], rows_h[hold_i]
    mean, sd = H[fit_i].mean(axis=0), H[fit_i].std(axis=0)
    y_train, y_val = {"human": (H[fit_i] - mean) / sd}, {"human": (H[hold_i] - mean) / sd}
    if target == "joint":
        y_train["output"], y_val["output"] = y[train], y[val]
    return {
        "train": train,
        "val": val,
        "y_train": y_train,
        "y_val": y_val,
        "how": f"held-out {spec['validation_fraction']:.0%} of the human space's training images",
        "checkpoint_split": None,
        "human_stats": {"mean": mean.tolist(), "sd": sd.tolist(), "dims": int(H.shape[1])},
    }
