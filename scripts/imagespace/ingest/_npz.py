"""Source ``npz``: a NumPy archive with image and label arrays (and optionally splits and class names)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imagespace.io import InputError

from ._class_names import class_name_map, name_labels
from ._pixels import stacks_to_uint8
from ._records import Record, Skip, array_records


def data_files(src: dict) -> list[str]:
    """The archive (or one per split): rule inputs."""
    if src.get("split_files"):
        return [f.get("path") for f in src["split_files"].values() if isinstance(f, dict)]
    return [src.get("path")]


def _archives(src: dict, dataset: str) -> list[tuple[str | None, Path, str, str]]:
    """(split, archive, images key, labels key): ``path`` (split None) or each of ``split_files``."""
    ik, lk = src.get("images_key", "x"), src.get("labels_key", "y")
    if "split_files" not in src:
        if not src.get("path"):
            raise InputError(f"dataset {dataset!r}: npz needs source.path, or source.split_files ({{split: {{path}}}})")
        return [(None, Path(src["path"]), ik, lk)]
    clash = [k for k in ("path", "split_key") if src.get(k)]
    if clash:
        raise InputError(
            f"dataset {dataset!r}: source.split_files replaces source.{' and source.'.join(clash)}; "
            "give one or the other"
        )
    sf = src["split_files"]
    if not isinstance(sf, dict) or not sf:
        raise InputError(
            f"dataset {dataset!r}: source.split_files must map each split to {{path, images_key, labels_key}}"
        )
    out = []
    for split, f in sf.items():
        f = f if isinstance(f, dict) else {}
        if not f.get("path"):
            raise InputError(f"dataset {dataset!r}: source.split_files.{split} needs path")
        out.append((str(split), Path(f["path"]), f.get("images_key", ik), f.get("labels_key", lk)))
    return out


def read(src: dict, dataset: str) -> tuple[list[Record], list[Skip]]:
    """A NumPy archive: ``images_key`` / ``labels_key`` arrays, optional ``split_key``; or one archive per split.

    ``split_files`` ({split: {path, images_key, labels_key}}) reads one archive per split
    (e.g. a training and a test archive); keys not given there are the source's.
    Class names come from ``class_names_key`` (an array in the archive, indexed by the
    label value) or from the config's ``class_names`` (list or mapping); giving both is
    an error, so that the names never depend on which one silently wins.
    """
    if src.get("class_names_key") and src.get("class_names") is not None:
        raise InputError(
            f"dataset {dataset!r}: source.class_names and source.class_names_key both name the classes; give one"
        )
    images, labels, splits = [], [], []
    for split, path, ik, lk in _archives(src, dataset):
        im, lab, sp = _read_archive(path, src, dataset, ik, lk)
        if split is not None:
            sp = np.full(len(im), split)
        images.append(im)
        labels.append(lab)
        splits.append(sp)
    if len({im.shape[1:] for im in images}) > 1:
        shapes = sorted({str(im.shape[1:]) for im in images})
        raise InputError(f"dataset {dataset!r}: the archives of source.split_files hold images of shapes {shapes}")
    images = np.concatenate(stacks_to_uint8(images, f"dataset {dataset!r}: source"))
    split_values = None if splits[0] is None else np.concatenate(splits)
    return array_records(images, np.concatenate(labels), split_values=split_values), []


def _read_archive(path: Path, src: dict, dataset: str, ik: str, lk: str):
    """(raw images, labels with their class names, split values or None) of one archive."""
    if not path.is_file():
        raise InputError(f"{path}: NumPy archive of dataset {dataset!r} does not exist")
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{path}: cannot read NumPy archive: {exc}") from exc
    with z:
        keys = list(z.keys())
        for k in (ik, lk):
            if k not in keys:
                raise InputError(f"{path}: array {k!r} not in archive (has {keys})")
        images, labels = z[ik], z[lk]
        if len(images) != len(labels):
            raise InputError(f"{path}: {ik!r} has {len(images)} images but {lk!r} has {len(labels)} labels")
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
    return images, labels, splits
