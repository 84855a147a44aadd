"""Human data as researchers collect it (``datasets.<name>.human.<split>.kind``), read and joined to images.

Kinds:

* ``coordinates`` (the default): a coordinate matrix, :mod:`imagespace.human.coordinates`;
* ``dissimilarity`` / ``similarity``: a square matrix, item ids in the header and the first column (or, with
  ``order: sorted_filenames``, a bare numeric matrix whose row and column i are the i-th image file). The diagonal
  is ignored. An asymmetric matrix is an error naming its largest asymmetry, or with ``asymmetry: average`` a
  warning naming it, and the mean of the two halves is used;
* ``ratings``: a long table, one row per (item_a, item_b, value[, subject]); the value's ``direction``
  (similarity or dissimilarity) must be declared, its ``scale`` [low, high] may be; pairs may be missing
  (the coverage per item is reported);
* ``triplets``: three item columns and the chosen one: ``task: odd_one_out`` (the chosen item is the odd one:
  the other two are the closest pair) or ``task: anchor_closer`` (the first column is the anchor, the chosen
  one of the other two is closer to it); optionally a subject column.

Every id is an image file name of the split (the manifest's ``name``), as the ``id_column`` of coordinates.
Every result is in *dissimilarity* form: a matrix of the split's images with NaN for pairs without data,
per subject where there is a subject column, or triplets ``(i, j, k)``: item i is closer to j than to k.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: pandas loads in the functions that use it
    import pandas as pd

import logging
from pathlib import Path

import numpy as np

from imagespace.io import InputError

log = logging.getLogger("imagespace.human.kinds")

KINDS = ("coordinates", "dissimilarity", "similarity", "ratings", "triplets")


def _read_table(path: Path, spec: dict, header) -> pd.DataFrame:
    """A CSV/TSV/whitespace table (the separator sniffed from the first data line with ``format: auto``)."""
    import pandas as pd

    if not path.is_file():
        raise InputError(f"{path}: human data file does not exist")
    comment = spec.get("comment") or None
    text = path.read_text(encoding="utf-8", errors="replace")
    first = next((ln for ln in text.splitlines() if ln.strip() and not (comment and ln.startswith(comment))), "")
    fmt = spec.get("format") or "auto"
    if fmt == "auto":
        fmt = "csv" if "," in first else ("tsv" if "\t" in first else "whitespace")
    sep = {"csv": ",", "tsv": "\t", "whitespace": r"\s+"}[fmt]
    try:
        return pd.read_csv(path, sep=sep, header=header, engine="python", comment=comment, dtype=str)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{path}: cannot parse human data ({fmt}): {exc}") from exc


def _numbers(df: pd.DataFrame, path: Path, what: str) -> np.ndarray:
    import pandas as pd

    num = df.apply(pd.to_numeric, errors="coerce")
    bad = np.argwhere(num.isna().to_numpy() & df.notna().to_numpy() | df.isna().to_numpy())
    if len(bad):
        r, c = bad[0]
        raise InputError(f"{path}: non-numeric or missing {what} at data row {r + 1}, column {c + 1}")
    return num.to_numpy(dtype=np.float64)


def _index(ids, names: list[str], path: Path, where: str) -> np.ndarray:
    """Positions of *ids* in *names*; an unknown id is an error naming the row (*where* % row number)."""
    pos = {n: i for i, n in enumerate(names)}
    out = np.empty(len(ids), dtype=np.int64)
    for r, x in enumerate(ids):
        if x not in pos:
            raise InputError(f"{path}: {where % (r + 1)}: id {x!r} matches no image of the split")
        out[r] = pos[x]
    return out


def read_square(path, spec: dict, names: list[str]) -> tuple[np.ndarray, list[str]]:
    """The split's (n, n) dissimilarity matrix (rows and columns in the order of *names*), NaN diagonal, and notes.

    Parameters
    ----------
    path : path of the matrix file.
    spec : the split's human spec (``kind``, ``order`` or a header of ids, ``asymmetry``).
    names : the image file names of the split, in their table order.

    Returns
    -------
    (D, notes)
    """
    path = Path(path)
    bare = spec.get("order") == "sorted_filenames"
    df = _read_table(path, spec, header=None if bare else 0)
    if bare:
        M = _numbers(df, path, "value")
        order = np.arange(len(names)) if M.shape[0] == len(names) else None
        if order is None:
            raise InputError(f"{path}: {M.shape[0]} rows but the split has {len(names)} image files")
    else:
        row_ids = df.iloc[:, 0].astype(str).tolist()
        col_ids = [str(c) for c in df.columns[1:]]
        if row_ids != col_ids:
            raise InputError(f"{path}: the header's ids and the first column's ids differ (same ids, same order)")
        M = _numbers(df.iloc[:, 1:], path, "value")
        order = _index(row_ids, names, path, "data row %d")
    if M.shape[0] != M.shape[1]:
        raise InputError(f"{path}: the matrix is {M.shape[0]} x {M.shape[1]}, not square")
    notes = _symmetric(M, path, spec)
    if spec.get("kind") == "similarity":
        M = np.nanmax(M[~np.eye(len(M), dtype=bool)]) - M
    D = np.full((len(names), len(names)), np.nan)
    D[np.ix_(order, order)] = M
    np.fill_diagonal(D, np.nan)
    return D, notes


def _symmetric(M: np.ndarray, path: Path, spec: dict) -> list[str]:
    """Check (and with ``asymmetry: average`` make) *M* symmetric, in place."""
    A = np.abs(M - M.T)
    scale = max(float(np.nanmax(np.abs(M))), 1e-300)
    if not (A > 1e-9 * scale).any():
        return []
    i, j = np.unravel_index(int(np.nanargmax(A)), A.shape)
    what = (
        f"the matrix is not symmetric: largest asymmetry at row {i + 1}, column {j + 1}: "
        f"{M[i, j]:g} vs {M[j, i]:g} ({int((A > 1e-9 * scale).sum() // 2)} pairs differ)"
    )
    if spec.get("asymmetry") != "average":
        raise InputError(f"{path}: {what}; set asymmetry: average to use the mean of the two halves")
    log.warning("%s: %s; the mean of the two halves is used", path, what)
    M[:] = (M + M.T) / 2
    return [f"WARNING: {what}; the mean of the two halves is used"]


def read_ratings(path, spec: dict, names: list[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """Per-subject dissimilarity matrices from a long ratings table, with the subjects' names and notes.

    Parameters
    ----------
    path : path of the table (a header row naming the columns).
    spec : ``columns`` (item_a, item_b, value, subject), ``direction`` (required), ``scale`` [low, high].
    names : the image file names of the split, in their table order.

    Returns
    -------
    (R, subjects, notes): R has shape (n_subjects, n, n), NaN where a subject rated no pair (averaged over repeats),
    values rescaled to [0, 1] dissimilarities when a scale is declared.
    """
    path = Path(path)
    key = spec.get("key", "human.<split>")
    if spec.get("direction") not in ("similarity", "dissimilarity"):
        raise InputError(f"{path}: {key}.direction must be declared for kind ratings (similarity or dissimilarity)")
    cols = {"item_a": "item_a", "item_b": "item_b", "value": "value", "subject": None, **(spec.get("columns") or {})}
    df = _read_table(path, spec, header=0)
    for role in ("item_a", "item_b", "value") + (("subject",) if cols["subject"] else ()):
        if cols[role] not in df.columns:
            raise InputError(f"{path}: no column {cols[role]!r} ({role}); columns are {list(df.columns)}")
    a = _index(df[cols["item_a"]].astype(str), names, path, "data row %d")
    b = _index(df[cols["item_b"]].astype(str), names, path, "data row %d")
    same = np.flatnonzero(a == b)
    if len(same):
        raise InputError(f"{path}: data row {same[0] + 1} rates item {names[a[same[0]]]!r} against itself")
    v = _numbers(df[[cols["value"]]], path, "value")[:, 0]
    lo, hi = spec.get("scale") or (None, None)
    if lo is not None and not lo < hi:
        raise InputError(f"{spec.get('key', 'human')}.scale: [{lo:g}, {hi:g}]: the low end must be below the high one")
    if lo is not None:
        out = np.flatnonzero((v < lo) | (v > hi))
        if len(out):
            raise InputError(f"{path}: data row {out[0] + 1}: value {v[out[0]]:g} outside the scale [{lo}, {hi}]")
        v = (v - lo) / (hi - lo)
        v = 1 - v if spec["direction"] == "similarity" else v
    elif spec["direction"] == "similarity":
        v = v.max() - v
    subj = df[cols["subject"]].astype(str).to_numpy() if cols["subject"] else np.full(len(df), "all")
    subjects = sorted(set(subj))
    n = len(names)
    S = np.zeros((len(subjects), n, n))
    C = np.zeros((len(subjects), n, n))
    s = np.searchsorted(subjects, subj)
    for x, y in ((a, b), (b, a)):
        np.add.at(S, (s, x, y), v)
        np.add.at(C, (s, x, y), 1)
    with np.errstate(invalid="ignore"):
        R = S / C
    return R, subjects, [coverage_note(nan_mean(R), names)]


def nan_mean(R: np.ndarray) -> np.ndarray:
    """The mean over subjects (axis 0) of the pairs each rated, NaN where none did (no warning)."""
    n = np.isfinite(R).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.nansum(R, axis=0) / np.maximum(n, 1), np.nan)


def coverage_note(D: np.ndarray, names: list[str]) -> str:
    """One line: the share of pairs with data, and the items with the lowest coverage."""
    n = len(D)
    have = np.isfinite(D) & ~np.eye(n, dtype=bool)
    per_item = have.sum(axis=1) / max(1, n - 1)
    worst = np.argsort(per_item, kind="stable")[:3]
    return (
        f"pairs with data: {have.sum() // 2} of {n * (n - 1) // 2} ({have.sum() / max(1, n * (n - 1)):.1%}); "
        f"lowest coverage per item: " + ", ".join(f"{names[i]} {per_item[i]:.0%}" for i in worst)
    )


def read_triplets(path, spec: dict, names: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Triplets ``(i, j, k)``: item i closer to j than to k, with each one's subject, and notes.

    Parameters
    ----------
    path : path of the table (a header row naming the columns).
    spec : ``task`` (odd_one_out or anchor_closer), ``columns`` (items: three names, choice, subject).
    names : the image file names of the split, in their table order.

    Returns
    -------
    (T, subjects, notes): an odd-one-out choice gives two triplets (each of the closest pair is closer to the other
    than to the odd one), an anchor choice one; *subjects* holds one name per triplet ("all" without a column).
    """
    path = Path(path)
    cols = {"items": ["item_1", "item_2", "item_3"], "choice": "choice", "subject": None, **(spec.get("columns") or {})}
    df = _read_table(path, spec, header=0)
    for c in list(cols["items"]) + [cols["choice"]] + ([cols["subject"]] if cols["subject"] else []):
        if c not in df.columns:
            raise InputError(f"{path}: no column {c!r}; columns are {list(df.columns)}")
    idx = np.column_stack([_index(df[c].astype(str), names, path, "data row %d") for c in cols["items"]])
    twice = np.flatnonzero((idx[:, 0] == idx[:, 1]) | (idx[:, 0] == idx[:, 2]) | (idx[:, 1] == idx[:, 2]))
    if len(twice):
        raise InputError(f"{path}: data row {twice[0] + 1} names one item twice: {df.iloc[twice[0]].tolist()}")
    choice = _index(df[cols["choice"]].astype(str), names, path, "data row %d")
    pos = np.argmax(idx == choice[:, None], axis=1)
    bad = np.flatnonzero(~(idx == choice[:, None]).any(axis=1))
    if spec.get("task") == "anchor_closer":
        bad = np.union1d(bad, np.flatnonzero(pos == 0))
    if len(bad):
        raise InputError(f"{path}: data row {bad[0] + 1}: the choice is not one of the items it may name")
    subj = df[cols["subject"]].astype(str).to_numpy() if cols["subject"] else np.full(len(df), "all")
    r = np.arange(len(df))
    if spec.get("task") == "anchor_closer":
        other = idx[r, 3 - pos]
        T, s = np.column_stack([idx[:, 0], choice, other]), subj
    else:
        rest = np.array([[q for q in (0, 1, 2) if q != p] for p in pos]).reshape(-1, 2)
        x, y = idx[r, rest[:, 0]], idx[r, rest[:, 1]]
        T = np.vstack([np.column_stack([x, y, choice]), np.column_stack([y, x, choice])])
        s = np.concatenate([subj, subj])
    seen = np.unique(T)
    notes = [f"{len(df)} choices, {len(T)} triplets over {len(seen)} of {len(names)} items"]
    return T, s, notes


def split_names(split: str, manifest: pd.DataFrame, skipped: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(every image file name of *split*, kept or skipped at ingest; those kept), each sorted."""
    from .coordinates import own_images

    kept = own_images(manifest[manifest["split"] == split])
    sk = skipped.loc[skipped["split"] == split, "name"].astype(str)
    return sorted(set(kept["name"]) | set(sk)), sorted(kept["name"])
