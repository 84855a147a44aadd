"""What a source may read: the dataset's folders (symlinks resolved), never hidden or system files."""

from __future__ import annotations

import os
from pathlib import Path

from imagespace.io import InputError

from ._records import Skip, is_image_file

# names that are never data: hidden files and folders (".DS_Store", ".ipynb_checkpoints", ".git"), and the
# litter of archive tools and file browsers
NOT_DATA = frozenset({"__macosx", "thumbs.db", "desktop.ini"})


def is_hidden(name: str) -> bool:
    """True for a file or folder name that is never data.

    Parameters
    ----------
    name
        A file or folder name (or a relative path: its last part counts).

    Returns
    -------
    bool
        Whether it starts with ``.``, or is ``__MACOSX``, ``Thumbs.db`` or ``desktop.ini`` (any case).
    """
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


def roots_for(src: dict, folders) -> Roots:
    """The roots of a source whose image folders are *folders*: those and ``source.allow_outside``.

    Parameters
    ----------
    src
        The ``source`` block.
    folders
        The source's image folders.

    Returns
    -------
    Roots
        The folders the source may read.
    """
    return Roots([*folders, *(src.get("allow_outside") or [])])


def hidden(split: str, name: str, path) -> Skip:
    """The skip of a hidden or system file or folder (*name* ends in ``/`` for a folder)."""
    return Skip(split, name, path, "hidden or system file/folder, not data", "hidden")


def outside(split: str, name: str, path, roots: Roots, where: str = "") -> Skip:
    """The skip of a file or row that resolves outside the dataset's folders (never opened)."""
    return Skip(
        split,
        name,
        str(path),
        f"{where}{name!r} resolves to {os.path.realpath(path)}, outside the dataset's folders "
        f"({roots}); add its folder to source.allow_outside to read it",
        "outside_root",
        is_image_file(name),
    )


def walk_files(folder, roots: Roots, *, split: str = "all", skips: list | None = None, prefix: str = "") -> list[str]:
    """Every regular file below *folder*, relative, sorted by code point (never os.listdir order).

    Follows symlinks that resolve inside *roots* (each real folder once), and never
    enters or lists anything that resolves outside them. Hidden files and folders
    (:func:`is_hidden`) are left out. Both are appended to *skips* (kinds
    ``outside_root`` and ``hidden``, their names after *prefix*) when it is given.

    Parameters
    ----------
    folder
        The folder walked.
    roots
        The folders the dataset may read.
    split
        The split named in the skips.
    skips
        Where the skips go (None: dropped).
    prefix
        Put before the names in the skips.

    Returns
    -------
    list[str]
        The relative paths of the files, sorted.
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
                skips.append(hidden(split, prefix + name + ("/" if is_dir else ""), e.path))
            elif e.is_symlink() and not roots.contains(e.path):
                skips.append(outside(split, prefix + name, e.path, roots))
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


def split_dirs(src: dict, dataset: str) -> dict[str, Path]:
    """{split: folder} of a folder source (``splits``, or ``root`` as split ``all``); a missing folder is an error."""
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
