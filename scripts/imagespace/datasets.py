"""Dataset sources: turn one ``datasets.<name>.source`` config entry into image records.

Supported layouts (``source.type``):

* ``filename_labels`` – image folders whose file names carry the label (regex).
* ``class_folders``   – ``root/<class>/*.png``.
* ``csv_manifest``    – a CSV naming image files (column or template) and labels.
* ``pixel_csv``       – one row of pixel values per image plus a label CSV.
* ``npz``             – a NumPy archive with image and label arrays.
* ``sklearn_digits``  – scikit-learn's bundled 8x8 digits (no download).
* ``synthetic``       – shapes generated from known latent factors (see synthetic.py).

A source yields :class:`Record` objects (one per candidate image) and
:class:`Skip` objects (one per problem that is reported and skipped). Problems
that make the whole dataset meaningless (a missing folder, an empty split, a
label CSV that does not match) raise :class:`InputError` naming the file.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from imagespace.images import IMAGE_EXTENSIONS
from imagespace.util import InputError, stratified_holdout

log = logging.getLogger("imagespace.datasets")


@dataclass
class Record:
    split: str
    name: str  # file name relative to the split root, or a zero-padded row index
    label: str
    subtype: str
    path: str = ""  # file path ("" for in-memory sources)
    array: Any = None  # in-memory image (for array sources)

    @property
    def id(self) -> str:
        return f"{self.split}/{self.name}"


@dataclass
class Skip:
    split: str
    name: str
    path: str
    reason: str
    kind: (
        str  # non_image | unreadable | no_label | unknown_label | missing_file | missing_label | bad_row | empty_folder
    )
    # | hidden | outside_root | too_large | small_class | not_selected | duplicate | balance
    is_image_file: bool = False  # counts for sorted-filename joins with human spaces


def is_image_file(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


# --------------------------------------------------------------------------- what a source may read
# names that are never data: hidden files and folders (".DS_Store", ".ipynb_checkpoints", ".git"), and the
# litter of archive tools and file browsers
NOT_DATA = frozenset({"__macosx", "thumbs.db", "desktop.ini"})


def is_hidden(name: str) -> bool:
    """True for a file or folder name that is never data: it starts with ``.``, or is ``__MACOSX``,
    ``Thumbs.db`` or ``desktop.ini`` (any case)."""
    base = name.rstrip("/").rsplit("/", 1)[-1]
    return base.startswith(".") or base.lower() in NOT_DATA


class Roots:
    """The folders a dataset may read, resolved (symlinks included).

    A path is inside when its resolved form lies in one of them, so a symlink that
    points elsewhere inside the roots is fine, and one that points outside is not.
    """

    def __init__(self, folders):
        self.folders = [os.path.realpath(f) for f in dict.fromkeys(str(f) for f in folders if f)]

    def contains(self, path) -> bool:
        try:
            real = os.path.realpath(path)
        except (ValueError, OSError):  # a NUL byte, a name too long: nothing that could be read
            return False
        return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in self.folders)

    def __str__(self) -> str:
        return ", ".join(self.folders)


def source_roots(src: dict) -> Roots:
    """The declared roots of a source: its image folders (``root``, the split folders, ``image_dir``
    or the manifest's folder) and ``allow_outside``."""
    return Roots([*source_folders(src), *(src.get("allow_outside") or [])])


def _outside(split: str, name: str, path, roots: Roots, where: str = "") -> Skip:
    return Skip(
        split,
        name,
        str(path),
        f"{where}{name!r} resolves to {os.path.realpath(path)}, outside the dataset's folders "
        f"({roots}); add its folder to source.allow_outside to read it",
        "outside_root",
        is_image_file(name),
    )


def walk_files(folder, roots: Roots, split: str = "all", skips: list | None = None, prefix: str = "") -> list[str]:
    """Every regular file below *folder*, relative, sorted by code point (never os.listdir order).

    Follows symlinks that resolve inside *roots* (each real folder once), and never
    enters or lists anything that resolves outside them. Hidden files and folders
    (:func:`is_hidden`) are left out. Both are appended to *skips* (kinds
    ``outside_root`` and ``hidden``, their names after *prefix*) when it is given.
    """
    skips = skips if skips is not None else []
    names: list[str] = []
    stack = [(str(folder), "")]
    seen = {os.path.realpath(folder)}
    while stack:
        d, rel = stack.pop()
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as exc:
            skips.append(Skip(split, rel or ".", d, f"folder cannot be read: {exc.strerror or exc}", "unreadable"))
            continue
        for e in entries:
            name = rel + e.name
            try:
                is_dir = e.is_dir()
            except OSError:
                is_dir = False
            if is_hidden(e.name):
                skips.append(
                    Skip(
                        split,
                        prefix + name + ("/" if is_dir else ""),
                        e.path,
                        "hidden or system file/folder, not data",
                        "hidden",
                    )
                )
            elif e.is_symlink() and not roots.contains(e.path):
                skips.append(_outside(split, prefix + name, e.path, roots))
            elif is_dir:
                real = os.path.realpath(e.path)
                if real not in seen:  # a link back up the tree is walked once
                    seen.add(real)
                    stack.append((e.path, name + "/"))
            elif e.is_file():
                names.append(name)
            else:  # a broken link, a socket, a device: nothing to decode
                skips.append(
                    Skip(
                        split,
                        prefix + name,
                        e.path,
                        "not a regular file (a broken link?)",
                        "unreadable",
                        is_image_file(e.name),
                    )
                )
    return sorted(names)


def _split_dirs(src: dict, dataset: str) -> dict[str, Path]:
    splits = src.get("splits")
    if not splits:
        if "root" not in src:
            raise InputError(f"dataset {dataset!r}: source needs 'root' or 'splits'")
        splits = {"all": src["root"]}
    out = {}
    for split, folder in splits.items():
        p = Path(folder)
        if not p.is_dir():
            raise InputError(f"{p}: image folder for split {split!r} of dataset {dataset!r} does not exist")
        out[split] = p
    return out


def _check_class(label: str, classes, split, name, path, skips) -> bool:
    if classes and label not in classes:
        skips.append(
            Skip(
                split,
                name,
                path,
                f"label {label!r} is not one of the configured classes {sorted(classes)}",
                "unknown_label",
                True,
            )
        )
        return False
    return True


def filename_labels(src: dict, dataset: str):
    """Labels from file names: ``label_regex`` with named groups ``label`` and optional ``subtype``.

    Default: label = text before the first ``_``; subtype = text before the last ``_``.
    """
    pattern = re.compile(src.get("label_regex") or r"^(?P<label>[^_]+)_")
    subtype_default = src.get("label_regex") is None
    classes = set(map(str, src.get("classes") or []))
    records, skips = [], []
    roots = source_roots(src)
    for split, folder in _split_dirs(src, dataset).items():
        names = [n for n in walk_files(folder, roots, split, skips) if "/" not in n or src["recursive"]]
        n_images = 0
        for name in names:
            path = str(folder / name)
            base = os.path.basename(name)
            if not is_image_file(base):
                skips.append(Skip(split, name, path, "not an image file (extension)", "non_image"))
                continue
            n_images += 1
            stem = os.path.splitext(base)[0]
            m = pattern.search(stem)
            if not m or not m.groupdict().get("label"):
                skips.append(
                    Skip(
                        split, name, path, f"file name does not match label_regex {pattern.pattern!r}", "no_label", True
                    )
                )
                continue
            label = m.group("label")
            if "subtype" in m.groupdict() and m.group("subtype"):
                subtype = m.group("subtype")
            elif subtype_default and "_" in stem:
                subtype = stem.rsplit("_", 1)[0]
            else:
                subtype = label
            if _check_class(label, classes, split, name, path, skips):
                records.append(Record(split, name, label, subtype, path=path))
        if n_images == 0:
            raise InputError(f"{folder}: no image files found for split {split!r} of dataset {dataset!r}")
    return records, skips


def class_folders(src: dict, dataset: str):
    """``root/<class>/<image>``; subtype = optional second folder level, else the class."""
    classes = set(map(str, src.get("classes") or []))
    records, skips = [], []
    roots = source_roots(src)
    for split, folder in _split_dirs(src, dataset).items():
        class_dirs = []
        for e in sorted(os.scandir(folder), key=lambda e: e.name):
            if is_hidden(e.name):
                skips.append(
                    Skip(
                        split,
                        e.name + ("/" if e.is_dir() else ""),
                        e.path,
                        "hidden or system file/folder, not data",
                        "hidden",
                    )
                )
            elif e.is_symlink() and not roots.contains(e.path):
                skips.append(_outside(split, e.name, e.path, roots))
            elif e.is_dir():
                class_dirs.append(e.name)
            elif e.is_file():
                skips.append(
                    Skip(split, e.name, e.path, "file outside any class folder", "no_label", is_image_file(e.name))
                )
        if not class_dirs:
            raise InputError(f"{folder}: no class subfolders found for split {split!r} of dataset {dataset!r}")
        n_images = 0
        for cls in class_dirs:
            files = walk_files(folder / cls, roots, split, skips, prefix=f"{cls}/")
            images = [f for f in files if is_image_file(f)]
            n_images += len(images)
            for f in files:
                if not is_image_file(f):
                    skips.append(
                        Skip(split, f"{cls}/{f}", str(folder / cls / f), "not an image file (extension)", "non_image")
                    )
            if not images:
                skips.append(
                    Skip(
                        split, cls + "/", str(folder / cls), f"class folder {cls!r} contains no images", "empty_folder"
                    )
                )
                log.warning("%s: class folder is empty", folder / cls)
                continue
            for f in images:
                name = f"{cls}/{f}"
                subtype = f"{cls}/{f.split('/')[0]}" if "/" in f else cls
                if _check_class(cls, classes, split, name, str(folder / name), skips):
                    records.append(Record(split, name, cls, subtype, path=str(folder / name)))
        if n_images == 0:
            raise InputError(
                f"{folder}: no image files in any class subfolder for split {split!r} of dataset {dataset!r}"
            )
    return records, skips


def _format_template(template: str, row: dict) -> str:
    def fmt(v):
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    return template.format(**{k: fmt(v) for k, v in row.items()})


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip())


def csv_manifest(src: dict, dataset: str):
    """A CSV naming image files (``file_column`` or ``file_template``) with label columns.

    Rows whose file is missing or whose label is empty are reported and skipped.
    """
    csv_path = Path(src["csv"])
    if not csv_path.is_file():
        raise InputError(f"{csv_path}: manifest CSV of dataset {dataset!r} does not exist")
    image_dir = Path(src.get("image_dir") or csv_path.parent)
    if not image_dir.is_dir():
        raise InputError(f"{image_dir}: image folder of dataset {dataset!r} does not exist")
    try:
        # blank lines are kept as (empty) rows so that reported line numbers match the file
        df = pd.read_csv(csv_path, dtype=str, keep_default_na=False, skip_blank_lines=False, encoding=src["encoding"])
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{csv_path}: cannot read manifest CSV: {exc}") from exc
    label_col = src["label_column"]
    dropna = list(src.get("dropna") or [])
    need = (
        [label_col]
        + [c for c in (src.get("file_column"), src.get("subtype_column"), src.get("split_column")) if c]
        + dropna
    )
    missing_cols = [c for c in need if c not in df.columns]
    if missing_cols:
        raise InputError(f"{csv_path}: missing column(s) {missing_cols}; columns are {list(df.columns)}")
    if not src.get("file_column") and not src.get("file_template"):
        raise InputError(f"dataset {dataset!r}: csv_manifest needs 'file_column' or 'file_template'")
    classes = set(map(str, src.get("classes") or []))
    roots = source_roots(src)
    records, skips, seen = [], [], set()
    for i, row in enumerate(df.to_dict("records")):
        line = i + 2  # header is line 1
        if all(_missing(v) for v in row.values()):
            continue  # a blank line, not a data row
        empty = [c for c in dropna if _missing(row[c])]
        if empty:
            skips.append(
                Skip(
                    str(row[src["split_column"]]) if src.get("split_column") else "all",
                    f"<row {line}>",
                    str(csv_path),
                    f"{csv_path} line {line}: empty value in column(s) {empty} (source.dropna)",
                    "missing_value",
                )
            )
            continue
        try:
            name = row[src["file_column"]] if src.get("file_column") else _format_template(src["file_template"], row)
        except KeyError as exc:
            raise InputError(f"{csv_path}: file_template refers to unknown column {exc}") from exc
        split = str(row[src["split_column"]]) if src.get("split_column") else "all"
        path = str(image_dir / name)
        label = row[label_col]
        if _missing(name):
            skips.append(
                Skip(split, f"<row {line}>", str(csv_path), f"{csv_path} line {line}: empty file name", "bad_row")
            )
            continue
        if (split, name) in seen:
            skips.append(Skip(split, name, path, f"{csv_path} line {line}: duplicate file entry", "bad_row"))
            continue
        seen.add((split, name))
        if not roots.contains(path):  # checked before the file is touched at all
            skips.append(_outside(split, name, path, roots, f"{csv_path} line {line}: "))
            continue
        exists = os.path.isfile(path)
        if _missing(label):
            # checked first: a file_template may use the label column, so an empty label also breaks the file name
            note = "" if exists else f" (and image file {name!r} not found)"
            skips.append(
                Skip(
                    split,
                    name,
                    path,
                    f"{csv_path} line {line}: label column {label_col!r} is empty{note}",
                    "missing_label",
                    exists,
                )
            )
            continue
        if not exists:
            skips.append(Skip(split, name, path, f"{csv_path} line {line}: image file not found", "missing_file"))
            continue
        subtype = row[src["subtype_column"]] if src.get("subtype_column") else label
        if _check_class(str(label), classes, split, name, path, skips):
            records.append(Record(split, name, str(label), str(subtype), path=path))
    if not records:
        raise InputError(f"{csv_path}: no usable rows ({len(skips)} skipped)")
    return records, skips


def to_uint8(values: np.ndarray, where) -> np.ndarray:
    """Bring a whole stack of images to uint8 with ONE scale for the dataset (never per image).

    uint8 passes through; bool -> 0/255; values within [0, 1] are scaled by 255 (as
    :func:`imagespace.images.from_array` does); values within [0, 255] are rounded;
    non-negative whole numbers up to 65535 are 16-bit (divided by 257); anything else
    is scaled linearly from the dataset's range. Callers skip rows with NaN first.
    """
    return stacks_to_uint8([values], where)[0]


def _as_float(a: np.ndarray) -> np.ndarray:
    return np.nan_to_num(a.astype(np.float64), copy=False)


def stacks_to_uint8(arrays: list, where) -> list[np.ndarray]:
    """:func:`to_uint8` for several stacks of one dataset (e.g. its train and test files) with ONE
    scale decided from all of them together: a test file in 0..255 next to a train file whose
    values happen to stay within 0..1 is not stretched differently. Returns one array per stack."""
    arrays = [np.asarray(a) for a in arrays]
    if all(a.dtype == np.uint8 for a in arrays):
        return arrays
    if all(a.dtype == bool for a in arrays):
        return [a.astype(np.uint8) * 255 for a in arrays]
    for a in arrays:
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise InputError(f"{where}: image array has non-numeric dtype {a.dtype}")
    lo, hi, whole = np.inf, -np.inf, True
    for a in arrays:  # one pass for the range, a second for the conversion: one float copy at a time
        if not a.size:
            continue
        f = _as_float(a)
        lo, hi = min(lo, float(f.min())), max(hi, float(f.max()))
        whole = whole and (np.issubdtype(a.dtype, np.integer) or a.dtype == bool or np.array_equal(f, np.rint(f)))
    if lo > hi:  # nothing but empty stacks
        lo = hi = 0.0
    if lo >= 0 and hi <= 1.0:

        def scale(f):
            return f * 255.0
    elif lo >= 0 and hi <= 255:

        def scale(f):
            return f
    elif lo >= 0 and hi <= 65535 and whole:

        def scale(f):
            return f / 257.0
    else:
        log.warning("%s: pixel values span [%g, %g]; scaled linearly to 0..255", where, lo, hi)

        def scale(f):
            return (f - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(f)

    return [np.clip(np.rint(scale(_as_float(a))), 0, 255).astype(np.uint8) for a in arrays]


def _array_records(images, labels, subtypes=None, names=None, split_values=None):
    n = len(images)
    width = max(6, len(str(n)))
    recs = []
    for i in range(n):
        name = str(names[i]) if names is not None else f"{i:0{width}d}"
        split = str(split_values[i]) if split_values is not None else "all"
        sub = str(subtypes[i]) if subtypes is not None else str(labels[i])
        recs.append(Record(split, name, str(labels[i]), sub, array=images[i]))
    return recs


def _label_key(value) -> str:
    """The text a label value is matched on in ``class_names``: 3, "3", "03", "3.0" and 3.0 are all "3"."""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    s = str(value).strip()
    try:
        return str(int(s))
    except ValueError:
        pass
    try:
        f = float(s)
    except ValueError:
        return s
    return str(int(f)) if f.is_integer() else repr(f)


def _class_name_map(names, where: str) -> dict[str, str]:
    """{label key: class name} from ``class_names``: a list indexed by the label value, or a
    {label value: name} mapping (keys may be numbers or text). Two labels may share a name
    (their classes are merged); one label with two names is an error."""
    if isinstance(names, dict):
        items = list(names.items())
    elif isinstance(names, (list, tuple, np.ndarray)):
        items = list(enumerate(names))
    else:
        raise InputError(
            f"{where}: class_names must be a list or a {{label: name}} mapping, not {type(names).__name__}"
        )
    out: dict[str, str] = {}
    for k, v in items:
        if _missing(v):
            continue  # no name: an error only where that label occurs
        key, name = _label_key(k), str(v).strip()
        if out.get(key, name) != name:
            raise InputError(f"{where}: class_names gives label {k!r} two names, {out[key]!r} and {name!r}")
        out[key] = name
    return out


def _short(obj, limit: int = 200) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _name_labels(labels, table: dict[str, str], names_given, where) -> list[str]:
    """The class name of every label value; a value without a name is an InputError naming *where* (the labels file)."""
    labels = list(labels)
    keys = {v: _label_key(v) for v in dict.fromkeys(labels)}
    missing = [v for v, k in keys.items() if k not in table]
    if missing:
        shown = ", ".join(repr(str(v)) for v in missing[:10]) + (
            f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        )
        raise InputError(f"{where}: label value(s) {shown} have no name in class_names {_short(names_given)}")
    return [table[keys[v]] for v in labels]


def npz(src: dict, dataset: str):
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
            table = _class_name_map(given, f"{path} [{ck!r}]")
            labels = np.array(_name_labels(labels.tolist(), table, given, f"{path} [{lk!r}]"))
        elif src.get("class_names") is not None:
            table = _class_name_map(src["class_names"], f"dataset {dataset!r}: source.class_names")
            labels = np.array(_name_labels(labels.tolist(), table, src["class_names"], f"{path} [{lk!r}]"))
        splits = None
        if src.get("split_key"):
            sk = src["split_key"]
            if sk not in keys:
                raise InputError(f"{path}: split array {sk!r} not in archive (has {keys})")
            splits = z[sk].astype(str)
            if len(splits) != len(images):
                raise InputError(f"{path}: {sk!r} has {len(splits)} entries but {ik!r} has {len(images)} images")
    return _array_records(images, labels, split_values=splits), []


def _pixel_csv_pairs(src: dict, dataset: str) -> list[tuple[str, Path, Path]]:
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
        "all_labels": [v for v in lab[label_col] if not _missing(v)],
    }


def pixel_csv(src: dict, dataset: str):
    """One image per CSV row (header row; optional id column); labels in a separate CSV.

    ``path`` + ``labels_path`` give one file pair (split "all"); ``split_files``
    ({split: {path, labels_path}}) one pair per split, each read the same way. The
    pixel scale (see :func:`to_uint8`) is decided once, from the readable rows of all
    files together. ``class_names`` (list indexed by label value, or mapping) turns
    label values into names; a label value in a labels file without a name is an error.
    """
    pairs = _pixel_csv_pairs(src, dataset)
    if not src.get("shape"):
        raise InputError(
            f"dataset {dataset!r}: pixel_csv needs source.shape ([height, width] or [height, width, channels])"
        )
    shape = tuple(int(s) for s in src["shape"])
    n_pix = int(np.prod(shape))
    parts = [_read_pixel_pair(split, path, lpath, src, dataset, n_pix, shape) for split, path, lpath in pairs]
    table = None
    if src.get("class_names") is not None:
        table = _class_name_map(src["class_names"], f"dataset {dataset!r}: source.class_names")
        for part in parts:  # every label value in the labels files needs a name, used or not
            _name_labels(part["all_labels"], table, src["class_names"], part["lpath"])
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
            if _missing(label):
                skips.append(Skip(split, name, str(path), f"{lpath}: no label for row {name}", "missing_label", True))
                continue
            label = table[_label_key(label)] if table is not None else str(label)
            records.append(Record(split, name, label, label, array=pixels[i].reshape(shape)))
    return records, skips


def sklearn_digits(src: dict, dataset: str):
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)
    n = src.get("n_images")
    if n:
        images, target = images[:n], d.target[:n]
    else:
        target = d.target
    return _array_records(images, target.astype(str)), []


def synthetic(src: dict, dataset: str):
    from imagespace import synthetic as syn

    g = syn.generate(**synthetic_kwargs(src))
    return _array_records(g["images"], g["labels"], g["subtypes"], g["names"]), []


def synthetic_kwargs(src: dict) -> dict:
    return {k: src[k] for k in ("n_per_class", "size", "seed", "noise", "background") if k in src}


SOURCES: dict[str, Callable] = {
    "filename_labels": filename_labels,
    "class_folders": class_folders,
    "csv_manifest": csv_manifest,
    "pixel_csv": pixel_csv,
    "npz": npz,
    "sklearn_digits": sklearn_digits,
    "synthetic": synthetic,
}

# sources that read image files from folders (the others read one or two data files)
FOLDER_SOURCES = ("filename_labels", "class_folders", "csv_manifest")


def source_folders(src: dict) -> list[str]:
    """The image folders a source reads (none for the sources that read data files)."""
    kind = src["type"]
    if kind not in FOLDER_SOURCES:
        return []
    if kind in ("filename_labels", "class_folders"):
        return [d for d in (list((src.get("splits") or {}).values()) or [src.get("root")]) if d]
    return [src.get("image_dir") or os.path.dirname(src["csv"]) or "."]  # csv_manifest


def source_data_files(src: dict) -> list[str]:
    """The data files (not image folders) a source reads: the rule's inputs."""
    kind = src["type"]
    if kind == "pixel_csv" and src.get("split_files"):
        files = [f.get(k) for f in src["split_files"].values() if isinstance(f, dict) for k in ("path", "labels_path")]
    else:
        files = {
            "csv_manifest": [src.get("csv")],
            "npz": [src.get("path")],
            "pixel_csv": [src.get("path"), src.get("labels_path")],
        }.get(kind, [])
    return [f for f in files if f]  # a missing key is reported by the source itself, naming the dataset


def source_fingerprint(src: dict, mode: str = "stat") -> str:
    """A digest of every file the source reads: the files of its image folders, found as ingest finds them
    (symlinks followed inside the dataset's folders, hidden files left out), and its data files (the CSV
    manifest wherever it lives, NumPy archives, pixel CSVs).

    *mode* ``stat`` digests each file's name, size and modification time; ``content`` its bytes (for tools
    that keep modification times; reads every file). It is a param of the ingest rule: adding, removing or
    replacing an image reruns ingest, without listing thousands of images as the rule's inputs (which
    Snakemake would print on every failure).
    """
    import hashlib

    h = hashlib.sha256()

    def add(path: str, shown: str) -> None:
        try:
            if mode == "content":
                digest = hashlib.sha256()
                with open(path, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(chunk)
                h.update(f"{shown}\0{digest.hexdigest()}\0".encode())
            else:
                st = os.stat(path)
                h.update(f"{shown}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
        except OSError:
            h.update(f"{shown}\0missing\0".encode())

    roots = source_roots(src)
    for folder in source_folders(src):
        h.update(f"{folder}\0".encode())
        if not os.path.isdir(folder):
            h.update(b"missing\0")
            continue
        for name in walk_files(folder, roots):
            add(os.path.join(folder, name), name)
    for f in source_data_files(src):
        add(f, f"data:{f}")
    return h.hexdigest()[:16]


def collect(dataset: str, ds_cfg: dict, info: dict | None = None, warnings: list | None = None):
    """Records and skips for a dataset: the images :func:`select` keeps, with the optional stratified
    train/validation/test split applied. *info* receives what the selection left out, *warnings* what
    the summary should say about the source (a class read from one folder only)."""
    from imagespace.config import with_defaults

    ds_cfg = with_defaults(ds_cfg, "dataset")
    src = ds_cfg["source"]
    kind = src["type"]
    if kind not in SOURCES:
        raise InputError(f"dataset {dataset!r}: unknown source type {kind!r} (one of {sorted(SOURCES)})")
    records, skips = SOURCES[kind](src, dataset)
    outside = [s for s in skips if s.kind == "outside_root"]
    if outside and ds_cfg.get("on_error") == "fail":
        raise InputError(f"{outside[0].reason} (on_error: fail; {len(outside)} such file(s) or row(s))")
    if warnings is not None:
        warnings += origin_warnings(records, len(source_folders(src)), dataset)
    records, selection = select(records, skips, ds_cfg)
    if info is not None:
        info.update(selection)
    vfrac, tfrac = float(ds_cfg.get("validation_fraction") or 0), float(ds_cfg.get("test_fraction") or 0)
    if vfrac + tfrac >= 1:
        raise InputError(
            f"dataset {dataset!r}: validation_fraction + test_fraction = {vfrac + tfrac:g} leaves no training images"
        )
    if (vfrac or tfrac) and all(r.split == "all" for r in records):
        assign_split(records, vfrac, int(ds_cfg["split_seed"]), tfrac)
        for s in skips:
            s.split = "train" if s.split == "all" else s.split
    elif vfrac or tfrac:
        carve_from_train(dataset, records, vfrac, tfrac, int(ds_cfg["split_seed"]))
    return records, skips


def origin_warnings(records: list[Record], n_folders: int, dataset: str) -> list[str]:
    """A warning for each class whose images all come from one folder of a source with several (its
    held-out scores then measure that folder as much as the class)."""
    if n_folders < 2:
        return []
    where: dict[str, set] = {}
    for r in records:
        where.setdefault(r.label, set()).add(r.split)
    return [
        f"dataset {dataset}: all {sum(r.label == c for r in records)} images of class {c!r} come from one folder "
        f"({next(iter(f))!r}) of the source's {n_folders}; scores may measure the folder as much as the class"
        for c, f in sorted(where.items())
        if len(f) == 1
    ]


def carve_from_train(dataset: str, records: list[Record], vfrac: float, tfrac: float, seed: int) -> None:
    """A source with splits of its own (folders, split files, a split column): the held-out splits it
    lacks are drawn from its ``train`` split (stratified, seeded), as shares of the training images;
    a fraction whose split the source already has is ignored, with a warning."""
    present = {r.split for r in records}
    for name, frac in (("validation_fraction", vfrac), ("test_fraction", tfrac)):
        split = name.split("_")[0]
        if frac and split in present:
            log.warning("dataset %s: %s = %g ignored: the source has a %r split of its own", dataset, name, frac, split)
        elif frac and "train" not in present:
            raise InputError(
                f"dataset {dataset!r}: {name} = {frac:g} needs a 'train' split to draw from, "
                f"but the source's splits are {sorted(present)}"
            )
    vfrac = 0.0 if "validation" in present else vfrac
    tfrac = 0.0 if "test" in present else tfrac
    if not (vfrac or tfrac):
        return
    train = [r for r in records if r.split == "train"]
    assign_split(train, vfrac, seed, tfrac)
    log.info(
        "dataset %s: %d validation and %d test images drawn from the source's train split",
        dataset,
        sum(r.split == "validation" for r in train),
        sum(r.split == "test" for r in train),
    )


def select(records: list[Record], skips: list[Skip], ds_cfg: dict) -> tuple[list[Record], dict]:
    """The subset of *records* a dataset keeps: ``min_per_class``, ``max_per_class``, then ``subsample``.

    * ``min_per_class``: classes with fewer images are dropped, each image listed in
      *skips* (kind ``small_class``).
    * ``max_per_class``: larger classes keep that many images, a seeded sample spread
      over the splits in proportion.
    * ``subsample``: a fraction (< 1) or a count (>= 1) of all images, the same share
      of every class within every split (stratified, seeded).

    Images left out by the last two are listed in *skips* too (kind ``not_selected``: human
    spaces joined by sorted file names need every image file), and counted. Seeded by ``split_seed``.
    Returns (kept records, {step: images left out}).
    """
    from imagespace.util import stratified_sample

    seed = int(ds_cfg["split_seed"])
    info = {"n_candidates": len(records)}
    labels = np.array([r.label for r in records], dtype=object)
    small = (
        {c for c, n in zip(*np.unique(labels, return_counts=True)) if n < int(ds_cfg["min_per_class"])}
        if len(records)
        else set()
    )
    if small:
        for r in records:
            if r.label in small:
                skips.append(
                    Skip(
                        r.split,
                        r.name,
                        r.path,
                        f"class {r.label!r} has fewer than min_per_class = {ds_cfg['min_per_class']} images",
                        "small_class",
                        True,
                    )
                )
        records = [r for r in records if r.label not in small]
        log.warning(
            "classes dropped (fewer than min_per_class = %s images): %s", ds_cfg["min_per_class"], sorted(small)
        )
    info["small_classes_dropped"] = sorted(small)
    cap = ds_cfg["max_per_class"]
    if cap is not None:
        keep = []
        for c in sorted({r.label for r in records}):
            idx = [i for i, r in enumerate(records) if r.label == c]
            if len(idx) > cap:
                idx = [
                    idx[j]
                    for j in stratified_sample(len(idx), int(cap), seed, np.array([records[i].split for i in idx]))
                ]
            keep += idx
        info["max_per_class_left_out"] = len(records) - len(keep)
        _not_selected(records, keep, skips, f"max_per_class = {cap}")
        records = [records[i] for i in sorted(keep)]
    sub = ds_cfg["subsample"]
    if sub is not None:
        n = len(records)
        m = int(round(sub * n)) if sub < 1 else min(int(sub), n)
        if m < 1:
            raise InputError(f"subsample {sub} keeps no image of the {n}")
        strata = np.array([f"{r.split}\0{r.label}" for r in records])
        keep = stratified_sample(n, m, seed, strata) if m < n else np.arange(n)
        info["subsample_left_out"] = n - len(keep)
        _not_selected(records, keep, skips, f"subsample = {sub:g}")
        records = [records[i] for i in keep]
    info["n_selected"] = len(records)
    return records, info


def _not_selected(records: list[Record], keep, skips: list[Skip], why: str) -> None:
    kept = set(int(i) for i in keep)
    skips += [
        Skip(r.split, r.name, r.path, f"left out by {why}", "not_selected", True)
        for i, r in enumerate(records)
        if i not in kept
    ]


def assign_split(records: list[Record], fraction: float, seed: int, test_fraction: float = 0.0) -> None:
    """Stratified (by label) random split into 'train', 'validation' and 'test', reproducible by seed.

    The test rows are drawn first (*test_fraction* of every class), then *fraction*
    of every class's images as validation, so adding a test split to a config
    never moves an image between validation and train unless it is taken for test.
    Without a test fraction the split is the same as before test splits existed.
    """
    labels = [r.label for r in records]
    test = stratified_holdout(labels, test_fraction, seed + 1) if test_fraction else np.zeros(len(records), bool)
    rest = np.flatnonzero(~test)
    val = np.zeros(len(records), bool)
    if fraction:
        # validation as a share of all images of the class, taken from those not in test
        share = fraction / (1.0 - test_fraction) if test_fraction else fraction
        val[rest[stratified_holdout([labels[i] for i in rest], share, seed)]] = True
    for r, v, t in zip(records, val, test):
        r.split = "test" if t else ("validation" if v else "train")
