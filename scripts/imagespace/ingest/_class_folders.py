"""Source ``class_folders``: ``root/<class>/<image>`` (a second folder level, if any, is the subtype)."""

from __future__ import annotations

import logging
import os

from imagespace.io import InputError

from ._filename_labels import folders
from ._paths import hidden, is_hidden, outside, roots_for, split_dirs, walk_files
from ._records import Record, Skip, check_class, is_image_file

log = logging.getLogger("imagespace.datasets")

__all__ = ["folders", "read"]


def _class_dirs(split: str, folder, roots, skips: list) -> list[str]:
    """The class folders directly below *folder*; hidden entries, links outside the roots and loose files are
    added to *skips*."""
    class_dirs = []
    for e in sorted(os.scandir(folder), key=lambda e: e.name):
        if is_hidden(e.name):
            skips.append(hidden(split, e.name + ("/" if e.is_dir() else ""), e.path))
        elif e.is_symlink() and not roots.contains(e.path):
            skips.append(outside(split, e.name, e.path, roots))
        elif e.is_dir():
            class_dirs.append(e.name)
        elif e.is_file():
            skips.append(
                Skip(split, e.name, e.path, "file outside any class folder", "no_label", is_image_file(e.name))
            )
    return class_dirs


def read(src: dict, dataset: str) -> tuple[list[Record], list[Skip]]:
    """``root/<class>/<image>``; subtype = optional second folder level, else the class."""
    classes = set(map(str, src.get("classes") or []))
    records, skips = [], []
    roots = roots_for(src, folders(src))
    for split, folder in split_dirs(src, dataset).items():
        class_dirs = _class_dirs(split, folder, roots, skips)
        if not class_dirs:
            raise InputError(f"{folder}: no class subfolders found for split {split!r} of dataset {dataset!r}")
        n_images = 0
        for cls in class_dirs:
            files = walk_files(folder / cls, roots, split=split, skips=skips, prefix=f"{cls}/")
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
                if check_class(cls, classes, split, name, str(folder / name), skips):
                    records.append(Record(split, name, cls, subtype, path=str(folder / name)))
        if n_images == 0:
            raise InputError(
                f"{folder}: no image files in any class subfolder for split {split!r} of dataset {dataset!r}"
            )
    return records, skips
