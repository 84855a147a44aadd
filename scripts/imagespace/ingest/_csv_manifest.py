"""Source ``csv_manifest``: a CSV naming image files (``file_column`` or ``file_template``) with label columns."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: pandas loads in the functions that use it
    import pandas as pd

import os
from dataclasses import dataclass, field
from pathlib import Path

from imagespace.io import InputError

from ._paths import Roots, outside, roots_for
from ._records import Record, Skip, check_class, is_missing


def folders(src: dict) -> list[str]:
    """The image folder of the source: ``image_dir``, or the manifest's folder."""
    return [src.get("image_dir") or os.path.dirname(src["csv"]) or "."]


def data_files(src: dict) -> list[str]:
    """The manifest CSV (wherever it lives): a rule input."""
    return [src.get("csv")]


def format_template(template: str, row: dict) -> str:
    """``file_template`` filled with the row's values (whole floats written as integers: 3.0 is "3")."""

    def fmt(v):
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    return template.format(**{k: fmt(v) for k, v in row.items()})


def _read_table(src: dict, dataset: str) -> tuple[Path, Path, pd.DataFrame]:
    """(manifest path, image folder, rows as text) of the source; a missing file, folder or column is an error."""
    import pandas as pd

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
    return csv_path, image_dir, df


@dataclass
class _Rows:
    """What the rows of one manifest are read against, and what they give."""

    src: dict
    csv_path: Path
    image_dir: Path
    roots: Roots
    classes: set
    seen: set = field(default_factory=set)
    records: list = field(default_factory=list)
    skips: list = field(default_factory=list)

    def add(self, row: dict, line: int) -> None:
        """Read one data row (*line*: its line in the file): a record, or a skip naming the line."""
        src, csv_path, label_col = self.src, self.csv_path, self.src["label_column"]
        if all(is_missing(v) for v in row.values()):
            return  # a blank line, not a data row
        empty = [c for c in list(src.get("dropna") or []) if is_missing(row[c])]
        if empty:
            self.skips.append(
                Skip(
                    str(row[src["split_column"]]) if src.get("split_column") else "all",
                    f"<row {line}>",
                    str(csv_path),
                    f"{csv_path} line {line}: empty value in column(s) {empty} (source.dropna)",
                    "missing_value",
                )
            )
            return
        try:
            name = row[src["file_column"]] if src.get("file_column") else format_template(src["file_template"], row)
        except KeyError as exc:
            raise InputError(f"{csv_path}: file_template refers to unknown column {exc}") from exc
        split = str(row[src["split_column"]]) if src.get("split_column") else "all"
        path = str(self.image_dir / name)
        label = row[label_col]
        if is_missing(name):
            self.skips.append(
                Skip(split, f"<row {line}>", str(csv_path), f"{csv_path} line {line}: empty file name", "bad_row")
            )
            return
        if (split, name) in self.seen:
            self.skips.append(Skip(split, name, path, f"{csv_path} line {line}: duplicate file entry", "bad_row"))
            return
        self.seen.add((split, name))
        if not self.roots.contains(path):  # checked before the file is touched at all
            self.skips.append(outside(split, name, path, self.roots, f"{csv_path} line {line}: "))
            return
        self._labelled(row, line, split, name, path, label)

    def _labelled(self, row: dict, line: int, split: str, name: str, path: str, label) -> None:
        """The row's label and file: a record, or a skip for an empty label or a missing file."""
        src, csv_path = self.src, self.csv_path
        exists = os.path.isfile(path)
        if is_missing(label):
            # checked first: a file_template may use the label column, so an empty label also breaks the file name
            note = "" if exists else f" (and image file {name!r} not found)"
            self.skips.append(
                Skip(
                    split,
                    name,
                    path,
                    f"{csv_path} line {line}: label column {src['label_column']!r} is empty{note}",
                    "missing_label",
                    exists,
                )
            )
            return
        if not exists:
            self.skips.append(Skip(split, name, path, f"{csv_path} line {line}: image file not found", "missing_file"))
            return
        subtype = row[src["subtype_column"]] if src.get("subtype_column") else label
        if check_class(str(label), self.classes, split, name, path, self.skips):
            self.records.append(Record(split, name, str(label), str(subtype), path=path))


def read(src: dict, dataset: str) -> tuple[list[Record], list[Skip]]:
    """A CSV naming image files (``file_column`` or ``file_template``) with label columns.

    Rows whose file is missing or whose label is empty are reported and skipped.
    """
    csv_path, image_dir, df = _read_table(src, dataset)
    rows = _Rows(src, csv_path, image_dir, roots_for(src, folders(src)), set(map(str, src.get("classes") or [])))
    for i, row in enumerate(df.to_dict("records")):
        rows.add(row, i + 2)  # header is line 1
    if not rows.records:
        raise InputError(f"{csv_path}: no usable rows ({len(rows.skips)} skipped)")
    return rows.records, rows.skips
