"""The images a dataset keeps: ``min_per_class``, ``max_per_class``, then ``subsample`` (seeded, stratified)."""

from __future__ import annotations

import logging

import numpy as np

from imagespace.io import InputError
from imagespace.sampling import stratified_sample

from ._records import Record, Skip

log = logging.getLogger("imagespace.datasets")


def select(records: list[Record], skips: list[Skip], ds_cfg: dict) -> tuple[list[Record], dict]:
    """The subset of *records* a dataset keeps: ``min_per_class``, ``max_per_class``, then ``subsample``.

    * ``min_per_class``: classes with fewer images are dropped, each image listed in
      *skips* (kind ``small_class``).
    * ``max_per_class``: larger classes keep that many images, a seeded sample spread
      over the splits in proportion.
    * ``subsample``: a fraction (< 1) or a count (>= 1) of all images, the same share
      of every class within every split (stratified, seeded); or ``{split: fraction or
      count}``, which thins only the named splits (e.g. a large training archive next to
      a test set kept whole).

    Images left out by the last two are listed in *skips* too (kind ``not_selected``: human
    spaces joined by sorted file names need every image file), and counted. Seeded by ``split_seed``.

    Parameters
    ----------
    records
        The source's records.
    skips
        The source's skips (appended to).
    ds_cfg
        The dataset's block, with defaults.

    Returns
    -------
    tuple
        (kept records, {step: images left out}).
    """
    seed = int(ds_cfg["split_seed"])
    info = {"n_candidates": len(records)}
    records = _drop_small_classes(records, skips, ds_cfg["min_per_class"], info)
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
        keep = _subsample(records, sub, seed)
        info["subsample_left_out"] = n - len(keep)
        _not_selected(records, keep, skips, f"subsample = {_describe(sub)}")
        records = [records[i] for i in keep]
    info["n_selected"] = len(records)
    return records, info


def _subsample(records: list[Record], sub, seed: int) -> np.ndarray:
    """Indices kept by ``subsample``: a share of all images, or ``{split: share}`` of the named splits only."""
    if not isinstance(sub, dict):
        return _share(records, np.arange(len(records)), sub, seed, "subsample")
    present = sorted({r.split for r in records})
    unknown = sorted(set(sub) - set(present))
    if unknown:
        raise InputError(f"subsample names split(s) {unknown} that the source does not have (it has {present})")
    keep = []
    for split in present:
        idx = np.array([i for i, r in enumerate(records) if r.split == split])
        keep.append(idx if sub.get(split) is None else _share(records, idx, sub[split], seed, f"subsample.{split}"))
    return np.sort(np.concatenate(keep)) if keep else np.arange(0)


def _share(records: list[Record], idx: np.ndarray, sub, seed: int, key: str) -> np.ndarray:
    """A fraction (< 1) or count (>= 1) of the rows *idx*, the same share of every class within every split."""
    n = len(idx)
    m = int(round(sub * n)) if sub < 1 else min(int(sub), n)
    if m < 1:
        raise InputError(f"{key} = {sub:g} keeps no image of the {n}")
    strata = np.array([f"{records[i].split}\0{records[i].label}" for i in idx])
    return idx[np.sort(stratified_sample(n, m, seed, strata))] if m < n else idx


def _describe(sub) -> str:
    if isinstance(sub, dict):
        return ", ".join(f"{k}: {v:g}" for k, v in sorted(sub.items()) if v is not None)
    return f"{sub:g}"


def _drop_small_classes(records: list[Record], skips: list[Skip], min_per_class, info: dict) -> list[Record]:
    """*records* without the classes of fewer than *min_per_class* images (each of those listed in *skips*)."""
    labels = np.array([r.label for r in records], dtype=object)
    small = (
        {c for c, n in zip(*np.unique(labels, return_counts=True)) if n < int(min_per_class)} if len(records) else set()
    )
    if small:
        for r in records:
            if r.label in small:
                skips.append(
                    Skip(
                        r.split,
                        r.name,
                        r.path,
                        f"class {r.label!r} has fewer than min_per_class = {min_per_class} images",
                        "small_class",
                        True,
                    )
                )
        records = [r for r in records if r.label not in small]
        log.warning("classes dropped (fewer than min_per_class = %s images): %s", min_per_class, sorted(small))
    info["small_classes_dropped"] = sorted(small)
    return records


def _not_selected(records: list[Record], keep, skips: list[Skip], why: str) -> None:
    kept = set(int(i) for i in keep)
    skips += [
        Skip(r.split, r.name, r.path, f"left out by {why}", "not_selected", True)
        for i, r in enumerate(records)
        if i not in kept
    ]
