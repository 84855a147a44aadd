"""Ingest: records -> manifest table + one uint8, memory-mappable image array.

Outputs (all written atomically):

* ``manifest.tsv``  – index, id, split, name, label, subtype, path, orig_width, orig_height, orig_mode, augmented_from, augmentation
  (the last two: the source id and the transform of a copy made by ``balance``; empty otherwise)
* ``images.npy``    – uint8 array (N, H, W, C) in manifest order; open with ``np.load(..., mmap_mode="r")``
* ``skipped.tsv``   – every file or row that was not ingested, with the reason
* ``duplicates.tsv`` – groups of identical or near-identical images (:mod:`imagespace.duplicates`)
"""

from __future__ import annotations

import io
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from imagespace import balance
from imagespace import duplicates as dup
from imagespace import images as im
from imagespace.config import image_options, with_defaults
from imagespace.datasets import Record, Skip, collect
from imagespace.util import InputError, atomic_path, console, natural_key, write_json, write_table

log = logging.getLogger("imagespace.ingest")

MANIFEST_COLUMNS = [
    "index",
    "id",
    "split",
    "name",
    "label",
    "subtype",
    "path",
    "orig_width",
    "orig_height",
    "orig_mode",
    "augmented_from",
    "augmentation",
]
SKIP_COLUMNS = ["split", "name", "path", "kind", "reason", "is_image_file"]
# skips that are the dataset's own doing, not a broken file: counted on the console and in the summary's warnings
SKIP_NOTES = {
    "outside_root": "files or rows that resolve outside the dataset's folders (never opened)",
    "too_large": "images over images.max_pixels (never decoded)",
    "hidden": "hidden or system files/folders (.*, __MACOSX, Thumbs.db, desktop.ini)",
}


def _decode(rec: Record, opts: dict, hashes: bool = False):
    """(image, (width, height, mode), error, (source hash, perceptual hash) or None)."""
    try:
        if rec.array is not None:
            arr = np.asarray(rec.array)
            orig = (arr.shape[1], arr.shape[0], f"array:{arr.dtype}")
            out = im.from_array(
                arr,
                opts["size"],
                opts["color"],
                opts["resize"],
                opts["resample"],
                opts["background"],
                opts["upscale_small"],
            )
            source = arr.tobytes() if hashes else b""
        else:
            source = Path(rec.path).read_bytes() if hashes else b""  # read once: decoded and hashed
            out, (w, h), mode = im.load_image(
                io.BytesIO(source) if hashes else rec.path,
                opts["size"],
                opts["color"],
                opts["resize"],
                opts["resample"],
                opts["exif_transpose"],
                opts["background"],
                opts["upscale_small"],
                max_pixels=opts["max_pixels"],
                large=opts["large"],
            )
            orig = (w, h, mode)
        return out, orig, None, ((dup.content_hash(source), dup.perceptual_hash(out)) if hashes else None)
    except Exception as exc:  # noqa: BLE001 - reported per file
        return None, None, f"{type(exc).__name__}: {exc}", None


def ingest(
    dataset: str,
    ds_cfg: dict,
    out_manifest,
    out_images,
    out_skipped,
    out_info=None,
    threads: int = 1,
    on_error: str = "skip",
    out_duplicates=None,
):
    """Read every image of *dataset*, write manifest/arrays/skip list (and duplicate groups); return the manifest DataFrame.

    ``duplicates`` (dataset settings): ``check`` finds groups of identical or
    near-identical images (:func:`imagespace.duplicates.find_groups`);
    ``dedupe: keep_first`` keeps the first image of each group in manifest order
    (train before validation before test) and lists the others in skipped.tsv.
    """
    opts = image_options(ds_cfg.get("images"))
    dcfg = with_defaults(ds_cfg.get("duplicates"), "dataset.duplicates")
    check = bool(dcfg["check"])
    selection: dict = {}
    warnings: list[str] = []
    records, skips = collect(dataset, ds_cfg, selection, warnings)
    seen = list(dict.fromkeys(r.split for r in records))  # config order for folder splits
    split_order = sorted(seen, key=lambda s: ({"train": 0, "validation": 1, "test": 2}.get(s, 3), seen.index(s)))
    records.sort(key=lambda r: (split_order.index(r.split), r.name))
    log.info("dataset %s: %d candidate images in splits %s", dataset, len(records), split_order)
    if not records:
        raise InputError(f"dataset {dataset!r}: no images found")

    shape = None
    if opts["size"] is None:
        # native size: the first image that decodes sets the shape (an unreadable first file is skipped later)
        for rec in records:
            first, _, err, _ = _decode(rec, opts)
            if first is not None:
                shape = first.shape
                break
        else:
            raise InputError(
                f"dataset {dataset!r}: cannot determine the image size, none of the {len(records)} images can be read "
                f"(first: {records[0].path or records[0].id}: {err})"
            )
    else:
        c = 1 if opts["color"] == "gray" else 3
        shape = (opts["size"][0], opts["size"][1], c)

    out_images = Path(out_images)
    rows, n_kept, hashes = [], 0, []
    groups, dropped = [], []
    bcfg = with_defaults(ds_cfg.get("balance"), "dataset.balance")
    bplan, balanced_out = None, []
    with atomic_path(out_images, suffix=".npy") as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(records),) + tuple(shape))
        with ThreadPoolExecutor(max_workers=max(1, int(threads))) as pool:
            for rec, (img, orig, err, hh) in zip(records, pool.map(lambda r: _decode(r, opts, check), records)):
                if err is None and img.shape != tuple(shape):
                    err = f"decoded shape {img.shape} differs from {tuple(shape)} (set images.size to resize)"
                if err is not None and err.startswith(f"{im.TooLarge.__name__}: "):  # skipped whatever on_error says
                    skips.append(
                        Skip(rec.split, rec.name, rec.path, f"too large: {err.split(': ', 1)[1]}", "too_large", True)
                    )
                    continue
                if err is not None:
                    where = rec.path or rec.id
                    if on_error == "fail":
                        raise InputError(f"{where}: unreadable image: {err}")
                    log.warning("%s: skipped, unreadable image: %s", where, err)
                    skips.append(Skip(rec.split, rec.name, rec.path, f"unreadable image: {err}", "unreadable", True))
                    continue
                arr[n_kept] = img
                rows.append(
                    [n_kept, rec.id, rec.split, rec.name, rec.label, rec.subtype, rec.path, orig[0], orig[1], orig[2]]
                )
                hashes.append(hh)
                n_kept += 1
        arr.flush()
        if n_kept == 0:
            raise InputError(f"dataset {dataset!r}: none of the {len(records)} images could be read")
        keep = np.arange(n_kept)
        manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS[:-2])
        if check:
            groups = dup.find_groups(
                arr[:n_kept],
                [h[0] for h in hashes],
                dcfg["max_hamming"],
                dcfg["max_pixel_difference"],
                phashes=[h[1] for h in hashes],
                min_correlation=dcfg["min_correlation"],
            )
            if dcfg["dedupe"] == "keep_first":
                dropped = [(r, g["rows"][0]) for g in groups for r in g["rows"][1:]]
                keep = np.setdiff1d(keep, [r for r, _ in dropped])
        entries = [(int(r), "") for r in keep]  # (decoded row, transform) of every image of the final array
        if bcfg["target"] is not None:
            kept = manifest.iloc[keep]
            bplan = balance.plan(
                kept["label"],
                kept["split"],
                bcfg["target"],
                bcfg["augment"],
                bcfg["drop"],
                int(with_defaults(ds_cfg, "dataset")["split_seed"]),
                square=shape[0] == shape[1],
            )
            balanced_out = np.setdiff1d(keep, keep[bplan.keep])
            entries = [(int(keep[i]), "") for i in bplan.keep] + [(int(keep[i]), t) for i, t in bplan.copies]
            rank = manifest["split"].map({s: i for i, s in enumerate(split_order)}).to_numpy()
            names = manifest["name"].to_numpy()
            entries.sort(key=lambda e: (rank[e[0]], names[e[0]] + (f"@{e[1]}" if e[1] else "")))
        if [e[0] for e in entries] != list(range(len(records))):
            # rewrite: the kept rows (and the augmented copies) into a correctly-shaped file, chunk by chunk
            del arr
            src = np.load(tmp, mmap_mode="r")
            tmp2 = tmp.with_name(tmp.name + ".compact.npy")
            try:
                dst = np.lib.format.open_memmap(tmp2, mode="w+", dtype=np.uint8, shape=(len(entries),) + tuple(shape))
                for a in range(0, len(entries), 1024):
                    part = entries[a : a + 1024]
                    block = src[[r for r, _ in part]]
                    for j, (_, t) in enumerate(part):
                        if t:
                            block[j] = balance.apply(block[j], t)
                    dst[a : a + len(part)] = block
                dst.flush()
                del dst, src
                os.replace(tmp2, tmp)
            finally:
                tmp2.unlink(missing_ok=True)
        else:
            del arr
    table, counts = dup.describe(groups, manifest)
    for r, first in dropped:
        m, f = manifest.iloc[r], manifest.iloc[first]
        skips.append(
            Skip(
                m["split"],
                m["name"],
                m["path"],
                f"duplicate of {f['id']} ({f['split']}); duplicates.dedupe: keep_first",
                "duplicate",
                True,
            )
        )
    if dropped:
        log.warning("dataset %s: %d duplicate images dropped (duplicates.dedupe: keep_first)", dataset, len(dropped))
    if bplan is not None:
        for r in balanced_out:
            m = manifest.iloc[r]
            skips.append(
                Skip(
                    m["split"],
                    m["name"],
                    m["path"],
                    f"class {m['label']!r} has more than balance.target = {bplan.target} training images",
                    "balance",
                    True,
                )
            )
        selection["balance"] = bplan.info()
        log.info(
            "dataset %s: balanced the %s split to %d images per class: %d images left out, %d augmented copies added",
            dataset,
            bplan.split,
            bplan.target,
            len(balanced_out),
            len(bplan.copies),
        )
    src_rows = np.array([r for r, _ in entries], dtype=np.int64)
    made = np.array([t for _, t in entries], dtype=object)
    manifest = manifest.iloc[src_rows].reset_index(drop=True)
    copy = made != ""
    manifest["augmented_from"] = np.where(copy, manifest["id"], "")
    manifest["augmentation"] = made
    for col in ("id", "name"):
        manifest.loc[copy, col] = manifest.loc[copy, col] + "@" + manifest.loc[copy, "augmentation"]
    manifest["index"] = np.arange(len(manifest))
    manifest = manifest[MANIFEST_COLUMNS]
    n_kept = len(manifest)
    if out_duplicates:
        write_table(out_duplicates, table)
    if counts["duplicate_groups"]:
        log.warning(
            "dataset %s: %d groups of duplicate images (%d images), %d spanning splits, %d with different labels; see %s",
            dataset,
            counts["duplicate_groups"],
            counts["duplicate_images"],
            counts["cross_split_duplicates"],
            counts["mixed_label_duplicates"],
            out_duplicates,
        )
    skipped = pd.DataFrame(
        [[s.split, s.name, s.path, s.kind, s.reason, s.is_image_file] for s in skips], columns=SKIP_COLUMNS
    )
    write_table(out_manifest, manifest)
    write_table(out_skipped, skipped)
    if len(skipped):
        log.warning(
            "dataset %s: %d files/rows skipped (see %s): %s",
            dataset,
            len(skipped),
            out_skipped,
            skipped["kind"].value_counts().to_dict(),
        )
    for kind, what in SKIP_NOTES.items():
        n = int((skipped["kind"] == kind).sum())
        if n:
            note = f"dataset {dataset}: {n} {what} skipped (kind {kind} in ingest/skipped.tsv)"
            log.warning("%s", note)
            console(f"imagespace: {note}")
            if kind != "hidden":  # counted, but not a warning: every copy from a Mac has a .DS_Store
                warnings.append(note)
    n_classes = manifest["label"].nunique()
    if n_classes == 1:
        warnings.append(
            f"dataset {dataset}: one class only ({manifest['label'].iloc[0]!r}): clustering and probe scores "
            "against labels are meaningless (a single cluster matches it perfectly)"
        )
        log.warning("%s", warnings[-1])
        console(f"imagespace: {warnings[-1]}")
    info = {
        "dataset": dataset,
        "n_images": n_kept,
        "n_skipped": int(len(skipped)),
        "skipped_by_kind": {str(k): int(v) for k, v in skipped["kind"].value_counts().items()},
        "shape": list(shape),
        "splits": {s: int((manifest["split"] == s).sum()) for s in split_order},
        "classes": {
            str(k): int(v)
            for k, v in sorted(manifest["label"].value_counts().items(), key=lambda kv: natural_key(kv[0]))
        },
        "image_options": {k: list(v) if isinstance(v, tuple) else v for k, v in opts.items()},
        "selection": selection,
        "warnings": warnings,
        # after dedupe: keep_first every group is down to one image, so no copy crosses a split any more
        "duplicates": {
            **counts,
            "checked": check,
            "dropped": len(dropped),
            "cross_split_remaining": 0 if dropped or not groups else counts["cross_split_duplicates"],
            "settings": dcfg,
        }
        if check
        else {"checked": False},
    }
    if out_info:
        write_json(out_info, info)
    log.info("dataset %s: %d images ingested as %s, %d skipped", dataset, n_kept, shape, len(skipped))
    return manifest
