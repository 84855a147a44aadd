"""What a source yields: a :class:`Record` per candidate image, a :class:`Skip` per file or row left out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from imagespace.images import IMAGE_EXTENSIONS


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
    """Whether *name* has the extension of an image file (:data:`imagespace.images.IMAGE_EXTENSIONS`).

    Parameters
    ----------
    name
        A file name or path.

    Returns
    -------
    bool
        True for an image file's extension, in any case.
    """
    return name.lower().endswith(IMAGE_EXTENSIONS)


def check_class(label: str, classes, split, name, path, skips) -> bool:
    """Whether *label* is one of the configured *classes* (all are without any); if not, a skip is added."""
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


def is_missing(v) -> bool:
    """An empty cell: None, NaN, or blank text."""
    return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip())


def array_records(images, labels, subtypes=None, names=None, split_values=None) -> list[Record]:
    """One record per in-memory image; names default to the zero-padded row index (at least 6 digits)."""
    n = len(images)
    width = max(6, len(str(n)))
    recs = []
    for i in range(n):
        name = str(names[i]) if names is not None else f"{i:0{width}d}"
        split = str(split_values[i]) if split_values is not None else "all"
        sub = str(subtypes[i]) if subtypes is not None else str(labels[i])
        recs.append(Record(split, name, str(labels[i]), sub, array=images[i]))
    return recs
