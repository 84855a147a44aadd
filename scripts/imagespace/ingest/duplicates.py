"""Duplicate and near-duplicate images: found at ingest, listed, and checked against the splits.

Two images are duplicates when

* their source bytes are identical (the same file twice, or the same array rows), or
* they are near-identical as ingested: their perceptual hashes (``imagehash.phash``,
  64 bits) differ in at most ``max_hamming`` bits, the mean absolute difference of
  their decoded pixels is at most ``max_pixel_difference`` (0–255) *and* the Pearson
  correlation of their pixels is at least ``min_correlation``.

The correlation matters for sparse images: faint strokes on a black background
(Chinese MNIST at 32×32: a mean deviation of about 1.5 grey levels from the image's
own mean) make any two characters differ by less than one grey level on average;
their correlations (0.04–0.92) tell them apart, while real copies correlate at
0.9999 (the Fashion-MNIST pair) or 1.

The perceptual hash only proposes candidates. On small images it is coarse: in the
Fashion-MNIST test set, 17 groups of images share a hash, and the pixels of the
first pair in each group differ by 0.6 to 68 grey levels on average (median 13.7).
The pixel check therefore decides. Candidate pairs are found by the pigeonhole
principle: hashes within d bits agree exactly on at least one of d + 1 blocks of
bits, so only images that share a block are compared.

A group of duplicates spanning splits is leakage: a held-out image was also trained
on. Identical images with different labels are label noise.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np

log = logging.getLogger("imagespace.ingest.duplicates")


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def perceptual_hash(img: np.ndarray) -> int:
    """64-bit DCT perceptual hash of a decoded uint8 image (H, W) or (H, W, C)."""
    import imagehash
    from PIL import Image

    a = np.asarray(img)
    if a.ndim == 3:
        a = a[..., 0] if a.shape[2] == 1 else np.asarray(Image.fromarray(a[..., :3]).convert("L"))
    return int(str(imagehash.phash(Image.fromarray(a))), 16)


def _popcount(x: np.ndarray) -> np.ndarray:
    return np.unpackbits(x.astype(">u8").view(np.uint8).reshape(len(x), 8), axis=1).sum(axis=1)


def candidate_pairs(hashes, max_hamming: int):
    """Yield pairs (i < j) whose 64-bit hashes differ in at most *max_hamming* bits (a pair may repeat)."""
    h = np.asarray(hashes, dtype=np.uint64)
    d = int(max_hamming)
    bounds = np.linspace(0, 64, d + 2).astype(int)
    for b in range(d + 1):
        lo, hi = bounds[b], bounds[b + 1]
        key = (h >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)
        order = np.argsort(key, kind="stable")
        sk = key[order]
        starts = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1]])
        ends = np.r_[starts[1:], len(sk)]
        for s, e in zip(starts, ends):
            if e - s < 2:
                continue
            members = np.sort(order[s:e])
            hm = h[members]
            for i in range(len(members) - 1):
                for j in members[i + 1 :][_popcount(hm[i + 1 :] ^ hm[i]) <= d]:
                    yield int(members[i]), int(j)


def pixel_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two images' pixels; 1 for two constant images (equal or not: the mean
    absolute difference decides), 0 when only one is constant."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    na, nb = np.sqrt(a @ a), np.sqrt(b @ b)
    if na == 0 and nb == 0:
        return 1.0
    if na == 0 or nb == 0:
        return 0.0
    return float(a @ b / (na * nb))


def find_groups(
    images,
    file_hashes,
    *,
    max_hamming: int = 4,
    max_pixel_difference: float = 1.0,
    phashes=None,
    min_correlation: float = 0.99,
) -> list[dict]:
    """Groups of duplicate rows of *images* (N, H, W[, C]) uint8.

    *file_hashes*: per row, the hash of its source bytes. Returns
    ``[{"rows": [...], "kind": "identical" | "near", "max_pixel_difference": float, "min_correlation": float}]``
    with rows in ascending order, groups ordered by their first row.

    Parameters
    ----------
    images
        The decoded images.
    file_hashes
        The hash of each row's source bytes (equal hashes: identical).
    max_hamming
        The most bits two perceptual hashes of near-identical images differ in.
    max_pixel_difference
        The largest mean absolute pixel difference (0-255) of near-identical images.
    phashes
        The rows' 64-bit perceptual hashes (None: computed).
    min_correlation
        The lowest pixel correlation of near-identical images.

    Returns
    -------
    list[dict]
        The groups of two or more rows.
    """
    n = len(file_hashes)
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i, j):
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    first: dict[str, int] = {}
    for i, fh in enumerate(file_hashes):
        if fh in first:
            union(first[fh], i)
        else:
            first[fh] = i
    diff: dict[tuple[int, int], float] = {}
    corr: dict[tuple[int, int], float] = {}
    if phashes is None:
        phashes = [perceptual_hash(images[i]) for i in range(n)]
    for i, j in candidate_pairs(phashes, max_hamming):
        if find(i) == find(j):
            continue  # already one group (identical bytes, or confirmed through another pair)
        mad = float(np.abs(np.asarray(images[i], dtype=np.int16) - np.asarray(images[j], dtype=np.int16)).mean())
        if mad > max_pixel_difference:
            continue
        r = pixel_correlation(images[i], images[j])
        if r >= min_correlation:
            diff[(i, j)], corr[(i, j)] = mad, r
            union(i, j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    out = []
    for root in sorted(groups):
        rows = groups[root]
        if len(rows) < 2:
            continue
        identical = len({file_hashes[r] for r in rows}) == 1
        members = set(rows)
        worst = max((v for (i, j), v in diff.items() if i in members), default=0.0)
        lowest = min((v for (i, j), v in corr.items() if i in members), default=1.0)
        out.append(
            {
                "rows": rows,
                "kind": "identical" if identical else "near",
                "max_pixel_difference": worst,
                "min_correlation": lowest,
            }
        )
    return out


def describe(groups: list[dict], manifest) -> tuple:
    """(table of group members, summary counts) for the manifest rows of *groups*."""
    import pandas as pd

    table_rows = []
    cross_split = cross_label = 0
    for g, grp in enumerate(groups, start=1):
        m = manifest.iloc[grp["rows"]]
        spans = m["split"].nunique() > 1
        mixed = m["label"].astype(str).nunique() > 1
        cross_split += int(spans)
        cross_label += int(mixed)
        for _, r in m.iterrows():
            table_rows.append(
                [
                    g,
                    grp["kind"],
                    round(grp["max_pixel_difference"], 3),
                    round(grp.get("min_correlation", 1.0), 5),
                    spans,
                    mixed,
                    r["id"],
                    r["split"],
                    r["name"],
                    r["label"],
                ]
            )
    table = pd.DataFrame(
        table_rows,
        columns=[
            "group",
            "kind",
            "max_pixel_difference",
            "min_correlation",
            "spans_splits",
            "mixed_labels",
            "id",
            "split",
            "name",
            "label",
        ],
    )
    counts = {
        "duplicate_groups": len(groups),
        "duplicate_images": int(sum(len(g["rows"]) for g in groups)),
        "identical_groups": int(sum(g["kind"] == "identical" for g in groups)),
        "cross_split_duplicates": cross_split,
        "mixed_label_duplicates": cross_label,
    }
    return table, counts
