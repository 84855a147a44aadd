"""Source ``npz``: a NumPy archive with image and label arrays (and optionally splits and class names)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imagespace.io import InputError

from ._class_names import class_name_map, name_labels
from ._pixels import to_uint8
from ._records import Record, Skip, array_records


def data_files(src: dict) -> list[str]:
    """The archive: a rule input."""
    return [src.get("path")]


def read(src: dict, dataset: str) -> tuple[list[Record], list[Skip]]:
    """A NumPy archive: ``images_key`` / ``labels_key`` arrays, optional ``split_key``.

    Class names come from ``class_names_key`` (an array in the archive, indexed by the
    label value) or from the config's ``class_names`` (list or mapping); giving both is
    an error, so that the names never depend on which one silently wins.
    """
    path = Path(src["path"])
    if not path.is_file():
        raise InputError(f"{path}: NumPy archive of dataset {dataset!r} does not exist")
    if src.get("class_names_key") and src.get("class_names") is not None:
        raise InputError(
            f"dataset {dataset!r}: source.class_names and source.class_names_key both name the classes; give one"
        )
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{path}: cannot read NumPy archive: {exc}") from exc
    with z:
        keys = list(z.keys())
        ik, lk = src.get("images_key", "x"), src.get("labels_key", "y")
        for k in (ik, lk):
            if k not in keys:
                raise InputError(f"{path}: array {k!r} not in archive (has {keys})")
        images, labels = z[ik], z[lk]
        if len(images) != len(labels):
            raise InputError(f"{path}: {ik!r} has {len(images)} images but {lk!r} has {len(labels)} labels")
        images = to_uint8(images, f"{path} [{ik!r}]")
        if src.get("class_names_key"):
            ck = src["class_names_key"]
            if ck not in keys:
                raise InputError(f"{path}: class name array {ck!r} not in archive (has {keys})")
            given = [str(n) for n in z[ck]]
            table = class_name_map(given, f"{path} [{ck!r}]")
            labels = np.array(name_labels(labels.tolist(), table, given, f"{path} [{lk!r}]"))
        elif src.get("class_names") is not None:
            table = class_name_map(src["class_names"], f"dataset {dataset!r}: source.class_names")
            labels = np.array(name_labels(labels.tolist(), table, src["class_names"], f"{path} [{lk!r}]"))
        splits = None
        if src.get("split_key"):
            sk = src["split_key"]
            if sk not in keys:
                raise InputError(f"{path}: split array {sk!r} not in archive (has {keys})")
            splits = z[sk].astype(str)
            if len(splits) != len(images):
                raise InputError(f"{path}: {sk!r} has {len(splits)} entries but {ik!r} has {len(images)} images")
    return array_records(images, labels, split_values=splits), []
