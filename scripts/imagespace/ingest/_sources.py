"""The table of source types: what each reads, from which folders and data files, and the digest of those files.

A new source type is one module (``read(src, dataset)``, and ``folders(src)`` or ``data_files(src)`` where it
reads any) plus its entry in :data:`SOURCES` (and its ``source`` block in the config schema).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Callable

from . import _class_folders, _csv_manifest, _filename_labels, _npz, _pixel_csv, _sklearn_digits, synthetic
from ._paths import Roots, roots_for, walk_files


def _none(src: dict) -> list[str]:
    return []


@dataclass(frozen=True)
class Source:
    """One source type: ``read(src, dataset) -> (records, skips)``; the image folders it reads (a folder source
    follows links only inside them) and the data files it reads (the ingest rule's inputs)."""

    read: Callable
    folders: Callable[[dict], list] = _none
    data_files: Callable[[dict], list] = _none


SOURCES: dict[str, Source] = {
    "filename_labels": Source(_filename_labels.read, folders=_filename_labels.folders),
    "class_folders": Source(_class_folders.read, folders=_class_folders.folders),
    "csv_manifest": Source(_csv_manifest.read, folders=_csv_manifest.folders, data_files=_csv_manifest.data_files),
    "pixel_csv": Source(_pixel_csv.read, data_files=_pixel_csv.data_files),
    "npz": Source(_npz.read, data_files=_npz.data_files),
    "sklearn_digits": Source(_sklearn_digits.read),
    "synthetic": Source(synthetic.read),
}

#: sources that read image files from folders (the others read one or two data files)
FOLDER_SOURCES = tuple(k for k, s in SOURCES.items() if s.folders is not _none)


def source_folders(src: dict) -> list[str]:
    """The image folders a source reads (none for the sources that read data files).

    Parameters
    ----------
    src
        The ``source`` block.

    Returns
    -------
    list[str]
        The folders (an unknown source type has none).
    """
    kind = SOURCES.get(src["type"])
    return kind.folders(src) if kind is not None else []


def source_data_files(src: dict) -> list[str]:
    """The data files (not image folders) a source reads: the rule's inputs.

    Parameters
    ----------
    src
        The ``source`` block.

    Returns
    -------
    list[str]
        The files given (a missing key is reported by the source itself, naming the dataset).
    """
    kind = SOURCES.get(src["type"])
    return [f for f in (kind.data_files(src) if kind is not None else []) if f]


def source_roots(src: dict) -> Roots:
    """The declared roots of a source: its image folders and ``allow_outside``.

    Parameters
    ----------
    src
        The ``source`` block.

    Returns
    -------
    Roots
        The folders the source may read (``root``, the split folders, ``image_dir`` or the manifest's folder).
    """
    return roots_for(src, source_folders(src))


def source_fingerprint(src: dict, mode: str = "stat") -> str:
    """A digest of every file the source reads.

    The files of its image folders, found as ingest finds them (symlinks followed inside the dataset's folders,
    hidden files left out), and its data files (the CSV manifest wherever it lives, NumPy archives, pixel CSVs).
    It is a param of the ingest rule: adding, removing or replacing an image reruns ingest, without listing
    thousands of images as the rule's inputs (which Snakemake would print on every failure).

    Parameters
    ----------
    src
        The ``source`` block.
    mode
        ``stat`` digests each file's name, size and modification time; ``content`` its bytes (for tools that
        keep modification times; reads every file).

    Returns
    -------
    str
        16 hex digits.
    """
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
