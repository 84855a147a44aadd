"""Atomic writes: a file appears under its final name complete, or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to *path*; rename it onto *path* only on success.

    A killed or failing job therefore never leaves a truncated file under the
    final name.

    Parameters
    ----------
    path
        The final file name (its folder is created).
    suffix
        The temporary file's extension, for writers that look at it (matplotlib, numpy); default: *path*'s.

    Returns
    -------
    Iterator[Path]
        The temporary path to write (a context manager).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sfx = suffix if suffix is not None else "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{sfx}", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the final file normal permissions
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path, text: str) -> None:
    """Write *text* (UTF-8) to *path* atomically.

    Parameters
    ----------
    path
        The file.
    text
        Its content.
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path, obj) -> None:
    """Write *obj* as indented JSON atomically (numpy values and NaN converted by :func:`to_jsonable`).

    Parameters
    ----------
    path
        The file.
    obj
        A JSON-like object.
    """
    write_text(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n")


def read_json(path):
    """The parsed content of a JSON file.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    object
        What :func:`json.load` returns.
    """
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def write_table(path, df, **kw) -> None:
    """Write a pandas DataFrame as TSV atomically.

    Parameters
    ----------
    path
        The file.
    df
        The table (written without its index).
    **kw
        More arguments of :meth:`pandas.DataFrame.to_csv`.
    """
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False, **kw)


def save_figure(fig, path, dpi: int = 110) -> None:
    """Write a matplotlib Figure atomically (figures are made with the Figure API: no pyplot state to close).

    Parameters
    ----------
    fig
        A :class:`matplotlib.figure.Figure`.
    path
        The file; its extension is the format (default png).
    dpi
        Resolution.
    """
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=Path(path).suffix.lstrip(".") or "png")


def save_npz(path, **arrays) -> None:
    """Write a NumPy archive atomically.

    Parameters
    ----------
    path
        The file.
    **arrays
        The arrays, by name.
    """
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def to_jsonable(obj):
    """Convert numpy scalars/arrays and NaN into JSON-friendly values.

    Parameters
    ----------
    obj
        A nest of dicts, lists, tuples, numpy values, paths and plain values.

    Returns
    -------
    object
        The same nest with plain Python values (NaN and infinities as None, paths as text).
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return None if (np.isnan(f) or np.isinf(f)) else f
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj
