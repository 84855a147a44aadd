"""The ingest job: records -> manifest table + one uint8, memory-mappable image array.

Outputs (all written atomically):

* ``manifest.tsv``  – the columns :data:`imagespace.io.MANIFEST_COLUMNS` (``augmented_from`` and
  ``augmentation``: the source id and the transform of a copy made by ``balance``; empty otherwise)
* ``images.npy``    – uint8 array (N, H, W, C) in manifest order; open with ``np.load(..., mmap_mode="r")``
* ``skipped.tsv``   – every file or row that was not ingested, with the reason
* ``duplicates.tsv`` – groups of identical or near-identical images (:mod:`imagespace.ingest.duplicates`)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: pandas loads in the functions that use it
    import pandas as pd

import io
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from imagespace import images as im
from imagespace.config import image_options, with_defaults
from imagespace.io import (
    MANIFEST_COLUMNS,
    SKIP_COLUMNS,
    InputError,
    atomic_path,
    console,
    natural_key,
    write_json,
    write_table,
)

from . import balance
from . import duplicates as dup
from ._collect import collect
from ._records import Record, Skip

log = logging.getLogger("imagespace.ingest")

# skips that are the dataset's own doing, not a broken file: counted on the console and in the summary's warnings
SKIP_NOTES = {
    "outside_root": "files or rows that resolve outside the dataset's folders (never opened)",
    "too_large": "images over images.max_pixels (never decoded)",
    "hidden": "hidden or system files/folders (.*, __MACOSX, Thumbs.db, desktop.ini)",
}


@dataclass(frozen=True)
class IngestOutputs:
    """The files one ingest job writes: the manifest, the image array and the skip list are required."""

    manifest: str | os.PathLike
    images: str | os.PathLike
    skipped: str | os.PathLike
    info: str | os.PathLike | None = None  # ingest.json
    duplicates: str | os.PathLike | None = None  # duplicates.tsv


def decode(rec: Record, opts: dict, hashes: bool = False):
    """(image, (width, height, mode), error, (source hash, perceptual hash) or None) of one record."""
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
    out,
    *paths,
    threads: int = 1,
    on_error: str = "skip",
    out_duplicates=None,
) -> pd.DataFrame:
    """Read every image of *dataset*, write manifest/arrays/skip list (and duplicate groups).

    ``duplicates`` (dataset settings): ``check`` finds groups of identical or
    near-identical images (:func:`imagespace.ingest.duplicates.find_groups`);
    ``dedupe: keep_first`` keeps the first image of each group in manifest order
    (train before validation before test) and lists the others in skipped.tsv.

    Parameters
    ----------
    dataset
        The dataset's name.
    ds_cfg
        Its ``datasets.<name>`` block.
    out
        The files written (:class:`IngestOutputs`); or, in the older call form, the manifest's path followed in
        *paths* by those of the image array, the skip list and optionally ``ingest.json``.
    paths
        The older call form's other paths (empty with an :class:`IngestOutputs`).
    threads
        Decoding threads.
    on_error
        An unreadable image: ``skip`` (listed in the skip list) or ``fail``.
    out_duplicates
        The older call form's ``duplicates.tsv``.

    Returns
    -------
    pandas.DataFrame
        The manifest.
    """
    if not isinstance(out, IngestOutputs):
        out = IngestOutputs(out, *paths, duplicates=out_duplicates)
    job = _Job(dataset, ds_cfg, on_error=on_error)
    job.find_records()
    shape = job.image_shape()
    with atomic_path(out.images, suffix=".npy") as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(job.records),) + tuple(shape))
        manifest, hashes = job.decode_all(arr, threads)
        arr.flush()
        entries = job.final_rows(manifest, arr, hashes)
        del arr
        if [e[0] for e in entries] != list(range(len(job.records))):
            _rewrite(tmp, entries, shape)
    manifest = job.report(manifest, entries)
    return job.write(manifest, out)


def _rewrite(tmp: Path, entries: list[tuple[int, str]], shape) -> None:
    """Rewrite the array *tmp*: the kept rows (and the augmented copies) into a correctly-shaped file, chunk by
    chunk. *entries*: (decoded row, transform or "") of every image of the final array."""
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


@dataclass
class _Job:
    """One dataset's ingest: its settings, its records and skips, and what the steps found."""

    dataset: str
    ds_cfg: dict
    on_error: str = "skip"
    records: list = field(default_factory=list)
    skips: list = field(default_factory=list)
    selection: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    split_order: list = field(default_factory=list)
    shape: tuple = ()
    groups: list = field(default_factory=list)
    dropped: list = field(default_factory=list)  # (row, first row of its group) of the duplicates dropped
    bplan: balance.Plan | None = None
    balanced_out: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))

    def __post_init__(self):
        self.opts = image_options(self.ds_cfg.get("images"))
        self.dcfg = with_defaults(self.ds_cfg.get("duplicates"), "dataset.duplicates")
        self.check = bool(self.dcfg["check"])
        self.bcfg = with_defaults(self.ds_cfg.get("balance"), "dataset.balance")

    def find_records(self) -> None:
        """The candidate records, in manifest order: train, validation, test, then other splits; by name within."""
        records, self.skips = collect(self.dataset, self.ds_cfg, info=self.selection, warnings=self.warnings)
        seen = list(dict.fromkeys(r.split for r in records))  # config order for folder splits
        order = sorted(seen, key=lambda s: ({"train": 0, "validation": 1, "test": 2}.get(s, 3), seen.index(s)))
        records.sort(key=lambda r: (order.index(r.split), r.name))
        self.records, self.split_order = records, order
        log.info("dataset %s: %d candidate images in splits %s", self.dataset, len(records), order)
        if not records:
            raise InputError(f"dataset {self.dataset!r}: no images found")

    def image_shape(self) -> tuple:
        """(H, W, C) of the array: images.size, or at native size the first image that decodes."""
        opts, records = self.opts, self.records
        if opts["size"] is None:
            # native size: the first image that decodes sets the shape (an unreadable first file is skipped later)
            for rec in records:
                first, _, err, _ = decode(rec, opts)
                if first is not None:
                    self.shape = first.shape
                    return self.shape
            raise InputError(
                f"dataset {self.dataset!r}: cannot determine the image size, none of the {len(records)} images "
                f"can be read (first: {records[0].path or records[0].id}: {err})"
            )
        c = 1 if opts["color"] == "gray" else 3
        self.shape = (opts["size"][0], opts["size"][1], c)
        return self.shape

    def decode_all(self, arr, threads: int) -> tuple[pd.DataFrame, list]:
        """Decode every record into the rows of *arr* (readable ones packed from row 0): the decoded rows'
        manifest (without the balance columns) and their hashes (None unless duplicates are checked)."""
        import pandas as pd

        rows, hashes, n_kept, shape = [], [], 0, tuple(self.shape)
        opts, check, records = self.opts, self.check, self.records
        with ThreadPoolExecutor(max_workers=max(1, int(threads))) as pool:
            for rec, (img, orig, err, hh) in zip(records, pool.map(lambda r: decode(r, opts, check), records)):
                if err is None and img.shape != shape:
                    err = f"decoded shape {img.shape} differs from {shape} (set images.size to resize)"
                if err is not None and err.startswith(f"{im.TooLarge.__name__}: "):  # skipped whatever on_error says
                    self.skips.append(
                        Skip(rec.split, rec.name, rec.path, f"too large: {err.split(': ', 1)[1]}", "too_large", True)
                    )
                    continue
                if err is not None:
                    where = rec.path or rec.id
                    if self.on_error == "fail":
                        raise InputError(f"{where}: unreadable image: {err}")
                    log.warning("%s: skipped, unreadable image: %s", where, err)
                    self.skips.append(
                        Skip(rec.split, rec.name, rec.path, f"unreadable image: {err}", "unreadable", True)
                    )
                    continue
                arr[n_kept] = img
                rows.append(
                    [n_kept, rec.id, rec.split, rec.name, rec.label, rec.subtype, rec.path, orig[0], orig[1], orig[2]]
                )
                hashes.append(hh)
                n_kept += 1
        if n_kept == 0:
            raise InputError(f"dataset {self.dataset!r}: none of the {len(records)} images could be read")
        return pd.DataFrame(rows, columns=MANIFEST_COLUMNS[:-2]), hashes

    def final_rows(self, manifest: pd.DataFrame, arr, hashes: list) -> list[tuple[int, str]]:
        """(decoded row, transform or "") of every image of the final array: duplicates dropped (dedupe:
        keep_first), classes balanced (balance.target) with augmented copies, in manifest order."""
        keep = np.arange(len(manifest))
        if self.check:
            d = self.dcfg
            self.groups = dup.find_groups(
                arr[: len(manifest)],
                [h[0] for h in hashes],
                max_hamming=d["max_hamming"],
                max_pixel_difference=d["max_pixel_difference"],
                phashes=[h[1] for h in hashes],
                min_correlation=d["min_correlation"],
            )
            if d["dedupe"] == "keep_first":
                self.dropped = [(r, g["rows"][0]) for g in self.groups for r in g["rows"][1:]]
                keep = np.setdiff1d(keep, [r for r, _ in self.dropped])
        entries = [(int(r), "") for r in keep]
        if self.bcfg["target"] is None:
            return entries
        kept = manifest.iloc[keep]
        self.bplan = bplan = balance.plan(
            kept["label"],
            kept["split"],
            self.bcfg["target"],
            augment=self.bcfg["augment"],
            drop=self.bcfg["drop"],
            seed=int(with_defaults(self.ds_cfg, "dataset")["split_seed"]),
            square=self.shape[0] == self.shape[1],
        )
        self.balanced_out = np.setdiff1d(keep, keep[bplan.keep])
        entries = [(int(keep[i]), "") for i in bplan.keep] + [(int(keep[i]), t) for i, t in bplan.copies]
        rank = manifest["split"].map({s: i for i, s in enumerate(self.split_order)}).to_numpy()
        names = manifest["name"].to_numpy()
        entries.sort(key=lambda e: (rank[e[0]], names[e[0]] + (f"@{e[1]}" if e[1] else "")))
        return entries

    def report(self, manifest: pd.DataFrame, entries: list[tuple[int, str]]) -> pd.DataFrame:
        """The final manifest (one row per entry, copies named ``<name>@<transform>``); the dropped duplicates and
        the images balance left out are added to the skips."""
        for r, first in self.dropped:
            m, f = manifest.iloc[r], manifest.iloc[first]
            reason = f"duplicate of {f['id']} ({f['split']}); duplicates.dedupe: keep_first"
            self.skips.append(Skip(m["split"], m["name"], m["path"], reason, "duplicate", True))
        if self.dropped:
            log.warning(
                "dataset %s: %d duplicate images dropped (duplicates.dedupe: keep_first)",
                self.dataset,
                len(self.dropped),
            )
        bplan = self.bplan
        if bplan is not None:
            for r in self.balanced_out:
                m = manifest.iloc[r]
                reason = f"class {m['label']!r} has more than balance.target = {bplan.target} training images"
                self.skips.append(Skip(m["split"], m["name"], m["path"], reason, "balance", True))
            self.selection["balance"] = bplan.info()
            log.info(
                "dataset %s: balanced the %s split to %d images per class: %d images left out, %d augmented copies "
                "added",
                self.dataset,
                bplan.split,
                bplan.target,
                len(self.balanced_out),
                len(bplan.copies),
            )
        self.duplicate_table, self.duplicate_counts = dup.describe(self.groups, manifest)
        src_rows = np.array([r for r, _ in entries], dtype=np.int64)
        made = np.array([t for _, t in entries], dtype=object)
        manifest = manifest.iloc[src_rows].reset_index(drop=True)
        copy = made != ""
        manifest["augmented_from"] = np.where(copy, manifest["id"], "")
        manifest["augmentation"] = made
        for col in ("id", "name"):
            manifest.loc[copy, col] = manifest.loc[copy, col] + "@" + manifest.loc[copy, "augmentation"]
        manifest["index"] = np.arange(len(manifest))
        return manifest[MANIFEST_COLUMNS]

    def write(self, manifest: pd.DataFrame, out: IngestOutputs) -> pd.DataFrame:
        """Write the manifest, the skip list, the duplicate groups and ingest.json; return the manifest."""
        import pandas as pd

        counts, dataset = self.duplicate_counts, self.dataset
        if out.duplicates:
            write_table(out.duplicates, self.duplicate_table)
        if counts["duplicate_groups"]:
            log.warning(
                "dataset %s: %d groups of duplicate images (%d images), %d spanning splits, %d with different "
                "labels; see %s",
                dataset,
                counts["duplicate_groups"],
                counts["duplicate_images"],
                counts["cross_split_duplicates"],
                counts["mixed_label_duplicates"],
                out.duplicates,
            )
        skipped = pd.DataFrame(
            [[s.split, s.name, s.path, s.kind, s.reason, s.is_image_file] for s in self.skips], columns=SKIP_COLUMNS
        )
        write_table(out.manifest, manifest)
        write_table(out.skipped, skipped)
        if len(skipped):
            log.warning(
                "dataset %s: %d files/rows skipped (see %s): %s",
                dataset,
                len(skipped),
                out.skipped,
                skipped["kind"].value_counts().to_dict(),
            )
        self._note_skips(skipped)
        self._note_one_class(manifest)
        if out.info:
            write_json(out.info, self.info(manifest, skipped))
        log.info("dataset %s: %d images ingested as %s, %d skipped", dataset, len(manifest), self.shape, len(skipped))
        return manifest

    def _note_skips(self, skipped: pd.DataFrame) -> None:
        """The skips of :data:`SKIP_NOTES` counted on the console and (but hidden files) in the warnings."""
        for kind, what in SKIP_NOTES.items():
            n = int((skipped["kind"] == kind).sum())
            if n:
                note = f"dataset {self.dataset}: {n} {what} skipped (kind {kind} in ingest/skipped.tsv)"
                log.warning("%s", note)
                console(f"imagespace: {note}")
                if kind != "hidden":  # counted, but not a warning: every copy from a Mac has a .DS_Store
                    self.warnings.append(note)

    def _note_one_class(self, manifest: pd.DataFrame) -> None:
        if manifest["label"].nunique() == 1:
            self.warnings.append(
                f"dataset {self.dataset}: one class only ({manifest['label'].iloc[0]!r}): clustering and probe "
                "scores against labels are meaningless (a single cluster matches it perfectly)"
            )
            log.warning("%s", self.warnings[-1])
            console(f"imagespace: {self.warnings[-1]}")

    def info(self, manifest: pd.DataFrame, skipped: pd.DataFrame) -> dict:
        """The content of ingest.json."""
        counts, dropped, groups = self.duplicate_counts, self.dropped, self.groups
        return {
            "dataset": self.dataset,
            "n_images": len(manifest),
            "n_skipped": int(len(skipped)),
            "skipped_by_kind": {str(k): int(v) for k, v in skipped["kind"].value_counts().items()},
            "shape": list(self.shape),
            "splits": {s: int((manifest["split"] == s).sum()) for s in self.split_order},
            "classes": {
                str(k): int(v)
                for k, v in sorted(manifest["label"].value_counts().items(), key=lambda kv: natural_key(kv[0]))
            },
            "image_options": {k: list(v) if isinstance(v, tuple) else v for k, v in self.opts.items()},
            "selection": self.selection,
            "warnings": self.warnings,
            # after dedupe: keep_first every group is down to one image, so no copy crosses a split any more
            "duplicates": {
                **counts,
                "checked": self.check,
                "dropped": len(dropped),
                "cross_split_remaining": 0 if dropped or not groups else counts["cross_split_duplicates"],
                "settings": self.dcfg,
            }
            if self.check
            else {"checked": False},
        }
