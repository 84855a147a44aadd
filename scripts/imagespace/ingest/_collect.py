"""A dataset's candidate images: its source read, the selection applied, the held-out splits drawn."""

from __future__ import annotations

from imagespace.io import InputError

from ._records import Record, Skip
from ._selection import select
from ._sources import SOURCES, source_folders
from ._splits import assign_split, carve_from_train


def collect(
    dataset: str, ds_cfg: dict, *, info: dict | None = None, warnings: list | None = None
) -> tuple[list[Record], list[Skip]]:
    """Records and skips for a dataset: the images :func:`select` keeps, with the optional stratified
    train/validation/test split applied.

    Parameters
    ----------
    dataset
        The dataset's name (in messages).
    ds_cfg
        Its ``datasets.<name>`` block (the schema's defaults are filled in).
    info
        Receives what the selection left out.
    warnings
        Receives what the summary should say about the source (a class read from one folder only).

    Returns
    -------
    tuple
        (records kept, skips).
    """
    from imagespace.config import with_defaults

    ds_cfg = with_defaults(ds_cfg, "dataset")
    src = ds_cfg["source"]
    kind = src["type"]
    if kind not in SOURCES:
        raise InputError(f"dataset {dataset!r}: unknown source type {kind!r} (one of {sorted(SOURCES)})")
    records, skips = SOURCES[kind].read(src, dataset)
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
        assign_split(records, vfrac, int(ds_cfg["split_seed"]), test_fraction=tfrac)
        for s in skips:
            s.split = "train" if s.split == "all" else s.split
    elif vfrac or tfrac:
        carve_from_train(dataset, records, vfrac=vfrac, tfrac=tfrac, seed=int(ds_cfg["split_seed"]))
    return records, skips


def origin_warnings(records: list[Record], n_folders: int, dataset: str) -> list[str]:
    """A warning for each class whose images all come from one folder of a source with several.

    Its held-out scores then measure that folder as much as the class.

    Parameters
    ----------
    records
        The dataset's records (their split is the folder they come from).
    n_folders
        The number of folders of the source.
    dataset
        The dataset's name.

    Returns
    -------
    list[str]
        One line per such class.
    """
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
