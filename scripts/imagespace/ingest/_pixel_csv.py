"""Source ``pixel_csv``: one row of pixel values per image, labels in a separate CSV (one pair, or one per split)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imagespace.io import InputError

from ._class_names import class_name_map, label_key, name_labels
from ._pixels import stacks_to_uint8
from ._records import Record, Skip, is_missing


def data_files(src: dict) -> list[str]:
    """The pixel and label CSVs (of every split): rule inputs."""
    if src.get("split_files"):
        return [f.get(k) for f in src["split_files"].values() if isinstance(f, dict) for k in ("path", "labels_path")]
    return [src.get("path"), src.get("labels_path")]


def _pairs(src: dict, dataset: str) -> list[tuple[str, Path, Path]]:
    """(split, pixel CSV, label CSV) for each file pair: ``split_files`` or ``path`` + ``labels_path`` (split "all")."""
    single = [k for k in ("path", "labels_path") if src.get(k)]
    if "split_files" in src:
        if single:
            raise InputError(
                f"dataset {dataset!r}: source.split_files replaces source.path and source.labels_path; "
                f"give one or the other (remove source.{' and source.'.join(single)})"
            )
        sf = src["split_files"]
        if not isinstance(sf, dict) or not sf:
            raise InputError(f"dataset {dataset!r}: source.split_files must map each split to {{path, labels_path}}")
        pairs = []
        for split, files in sf.items():
            files = files if isinstance(files, dict) else {}
            lack = [k for k in ("path", "labels_path") if not files.get(k)]
            if lack:
                raise InputError(f"dataset {dataset!r}: source.split_files.{split} needs {' and '.join(lack)}")
            pairs.append((str(split), Path(files["path"]), Path(files["labels_path"])))
        return pairs
    if len(single) < 2:
        lack = [f"source.{k}" for k in ("path", "labels_path") if k not in single]
        raise InputError(
            f"dataset {dataset!r}: pixel_csv needs source.path and source.labels_path, or source.split_files "
            f"({{split: {{path, labels_path}}}}); {' and '.join(lack)} missing"
        )
    return [("all", Path(src["path"]), Path(src["labels_path"]))]


def _read_pixel_pair(split: str, path: Path, lpath: Path, src: dict, dataset: str, n_pix: int, shape: tuple) -> dict:
    """One pixel/label CSV pair: float pixel values (NaN where unreadable), row names and labels, not yet scaled."""
    import pandas as pd

    for p in (path, lpath):
        if not p.is_file():
            raise InputError(
                f"{p}: file of dataset {dataset!r}{'' if split == 'all' else f' (split {split!r})'} does not exist"
            )
    id_col = src.get("id_column")
    try:
        pix = pd.read_csv(path, dtype={id_col: str} if id_col else None)  # ids stay text ("007" is not 7)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{path}: cannot read pixel CSV: {exc}") from exc
    try:
        lab = pd.read_csv(lpath, dtype=str, keep_default_na=False)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{lpath}: cannot read label CSV: {exc}") from exc
    label_col = src.get("label_column", lab.columns[-1])
    if label_col not in lab.columns:
        raise InputError(f"{lpath}: label column {label_col!r} not found; columns are {list(lab.columns)}")
    if id_col:
        for p, df in ((path, pix), (lpath, lab)):
            if id_col not in df.columns:
                raise InputError(f"{p}: id column {id_col!r} not found")
            dup = df[id_col][df[id_col].duplicated()]
            if len(dup):
                raise InputError(f"{p}: duplicate ids in column {id_col!r}, e.g. {dup.iloc[0]!r}")
        names = pix[id_col].astype(str).tolist()
        lab_map = dict(zip(lab[id_col].astype(str), lab[label_col]))
        labels = [lab_map.get(n) for n in names]
        pix = pix.drop(columns=[id_col])
    else:
        if len(pix) != len(lab):
            raise InputError(
                f"{lpath}: {len(lab)} label rows but {path} has {len(pix)} pixel rows (no id_column to join on)"
            )
        width = max(6, len(str(len(pix))))
        names = [f"{i:0{width}d}" for i in range(len(pix))]
        labels = lab[label_col].tolist()
    if pix.shape[1] != n_pix:
        raise InputError(f"{path}: rows have {pix.shape[1]} pixel columns but shape {list(shape)} needs {n_pix}")
    values = pix.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    return {
        "split": split,
        "path": path,
        "lpath": lpath,
        "values": values,
        "good": ~np.isnan(values).any(axis=1),
        "names": names,
        "labels": labels,
        "all_labels": [v for v in lab[label_col] if not is_missing(v)],
    }


def read(src: dict, dataset: str) -> tuple[list[Record], list[Skip]]:
    """One image per CSV row (header row; optional id column); labels in a separate CSV.

    ``path`` + ``labels_path`` give one file pair (split "all"); ``split_files``
    ({split: {path, labels_path}}) one pair per split, each read the same way. The
    pixel scale (see :func:`to_uint8`) is decided once, from the readable rows of all
    files together. ``class_names`` (list indexed by label value, or mapping) turns
    label values into names; a label value in a labels file without a name is an error.
    """
    pairs = _pairs(src, dataset)
    if not src.get("shape"):
        raise InputError(
            f"dataset {dataset!r}: pixel_csv needs source.shape ([height, width] or [height, width, channels])"
        )
    shape = tuple(int(s) for s in src["shape"])
    n_pix = int(np.prod(shape))
    parts = [_read_pixel_pair(split, path, lpath, src, dataset, n_pix, shape) for split, path, lpath in pairs]
    table = None
    if src.get("class_names") is not None:
        table = class_name_map(src["class_names"], f"dataset {dataset!r}: source.class_names")
        for part in parts:  # every label value in the labels files needs a name, used or not
            name_labels(part["all_labels"], table, src["class_names"], part["lpath"])
    # one pixel scale for all files (rows with bad values are skipped below and do not count)
    where = ", ".join(str(part["path"]) for part in parts)
    scaled = stacks_to_uint8([part["values"][part["good"]] for part in parts], where)
    records, skips = [], []
    for part, good_pixels in zip(parts, scaled):
        split, path, lpath = part["split"], part["path"], part["lpath"]
        pixels = np.zeros(part["values"].shape, dtype=np.uint8)
        pixels[part["good"]] = good_pixels
        for i, (name, label) in enumerate(zip(part["names"], part["labels"])):
            if not part["good"][i]:
                skips.append(
                    Skip(
                        split,
                        name,
                        str(path),
                        f"{path} data row {i + 1}: non-numeric or missing pixel values",
                        "bad_row",
                        True,
                    )
                )
                continue
            if is_missing(label):
                skips.append(Skip(split, name, str(path), f"{lpath}: no label for row {name}", "missing_label", True))
                continue
            label = table[label_key(label)] if table is not None else str(label)
            records.append(Record(split, name, label, label, array=pixels[i].reshape(shape)))
    return records, skips
