"""Source ``filename_labels``: image folders whose file names carry the label (a regular expression)."""

from __future__ import annotations

import os
import re

from imagespace.io import InputError

from ._paths import roots_for, split_dirs, walk_files
from ._records import Record, Skip, check_class, is_image_file


def folders(src: dict) -> list[str]:
    """The image folders of the source: its split folders, or ``root``."""
    return [d for d in (list((src.get("splits") or {}).values()) or [src.get("root")]) if d]


def read(src: dict, dataset: str) -> tuple[list[Record], list[Skip]]:
    """Labels from file names: ``label_regex`` with named groups ``label`` and optional ``subtype``.

    Default: label = text before the first ``_``; subtype = text before the last ``_``.
    """
    pattern = re.compile(src.get("label_regex") or r"^(?P<label>[^_]+)_")
    subtype_default = src.get("label_regex") is None
    classes = set(map(str, src.get("classes") or []))
    records, skips = [], []
    roots = roots_for(src, folders(src))
    for split, folder in split_dirs(src, dataset).items():
        names = [n for n in walk_files(folder, roots, split=split, skips=skips) if "/" not in n or src["recursive"]]
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
            if check_class(label, classes, split, name, path, skips):
                records.append(Record(split, name, label, subtype, path=path))
        if n_images == 0:
            raise InputError(f"{folder}: no image files found for split {split!r} of dataset {dataset!r}")
    return records, skips
