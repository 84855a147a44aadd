"""Duplicates and leakage on generated data: found, listed, warned about across splits, and dropped on request."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from imagespace import ingest as ING  # noqa: E402
from imagespace import report as summary  # noqa: E402
from imagespace.ingest import duplicates as D  # noqa: E402
from imagespace.ingest import synthetic  # noqa: E402


def _shapes(n=24, seed=0):
    g = synthetic.generate(n_per_class=n // 3, size=32, seed=seed)
    return np.asarray(g["images"], dtype=np.uint8)


def test_identical_and_near_copies_are_grouped_and_look_alikes_are_not():
    X = _shapes()
    exact = X[3].copy()
    near = X[5].copy()
    near[0, :4] = np.clip(near[0, :4].astype(int) + 3, 0, 255)  # a re-encoding's worth of change
    brighter = np.clip(X[7].astype(int) + 40, 0, 255).astype(np.uint8)  # same shape, clearly different pixels
    imgs = np.concatenate([X, exact[None], near[None], brighter[None]])
    source = [D.content_hash(a.tobytes()) for a in imgs]
    source[len(X)] = source[3]  # the same file twice: identical source bytes
    groups = D.find_groups(imgs, source)
    rows = {tuple(g["rows"]): g["kind"] for g in groups}
    assert rows == {(3, len(X)): "identical", (5, len(X) + 1): "near"}
    # the brighter copy's perceptual hash is a candidate (within 4 bits) but its pixels differ: not a duplicate
    h = [D.perceptual_hash(imgs[i]) for i in (7, len(X) + 2)]
    assert bin(h[0] ^ h[1]).count("1") <= 4
    assert (7, len(X) + 2) in set(D.candidate_pairs([D.perceptual_hash(a) for a in imgs], 4))


def test_candidate_pairs_find_every_pair_within_the_distance():
    rng = np.random.default_rng(1)
    h = rng.integers(0, 2**63, size=300, dtype=np.int64).astype(np.uint64)
    h[10] = h[20] ^ np.uint64(0b1011)  # 3 bits apart
    h[30] = h[40] ^ np.uint64(0b11111)  # 5 bits apart
    found = set(D.candidate_pairs(h, 4))
    brute = {(i, j) for i in range(300) for j in range(i + 1, 300) if bin(int(h[i]) ^ int(h[j])).count("1") <= 4}
    assert found == brute and (10, 20) in found and (30, 40) not in found


def _dataset(tmp_path):
    train, val = tmp_path / "train", tmp_path / "validation"
    synthetic.write_folder(train, n_per_class=6, size=24, seed=1)
    synthetic.write_folder(val, n_per_class=3, size=24, seed=2)
    leaked = sorted((train / "circle").glob("*.png"))[0]
    shutil.copyfile(leaked, val / "circle" / "copy_of_a_training_image.png")  # leakage: train image in validation
    return {
        "source": {"type": "class_folders", "splits": {"train": str(train), "validation": str(val)}},
        "images": {"size": [24, 24]},
    }, leaked


def test_ingest_lists_a_duplicate_across_splits_and_the_summary_warns(tmp_path):
    cfg, leaked = _dataset(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    ING.ingest(
        "shapes",
        cfg,
        out / "manifest.tsv",
        out / "images.npy",
        out / "skipped.tsv",
        out / "ingest.json",
        out_duplicates=out / "duplicates.tsv",
    )
    table = pd.read_csv(out / "duplicates.tsv", sep="\t")
    assert len(table) == 2 and table["spans_splits"].all() and set(table["split"]) == {"train", "validation"}
    assert set(table["name"]) == {f"circle/{leaked.name}", "circle/copy_of_a_training_image.png"}
    info = json.loads((out / "ingest.json").read_text())["duplicates"]
    assert info["duplicate_groups"] == 1 and info["cross_split_duplicates"] == 1 and info["dropped"] == 0
    warnings = summary.duplicate_warnings(info)
    assert len(warnings) == 1 and "span splits" in warnings[0] and "optimistic" in warnings[0]


def test_dedupe_keep_first_drops_the_held_out_copy(tmp_path):
    cfg, leaked = _dataset(tmp_path)
    cfg["duplicates"] = {"dedupe": "keep_first"}
    out = tmp_path / "out"
    out.mkdir()
    m = ING.ingest(
        "shapes",
        cfg,
        out / "manifest.tsv",
        out / "images.npy",
        out / "skipped.tsv",
        out / "ingest.json",
        out_duplicates=out / "duplicates.tsv",
    )
    assert "circle/copy_of_a_training_image.png" not in set(m["name"]) and f"circle/{leaked.name}" in set(m["name"])
    assert (
        m.loc[m["split"] == "validation", "label"].value_counts() == 3
    ).all()  # the 9 generated validation images stay
    skipped = pd.read_csv(out / "skipped.tsv", sep="\t")
    dup = skipped[skipped["kind"] == "duplicate"]
    assert list(dup["name"]) == ["circle/copy_of_a_training_image.png"] and "keep_first" in dup["reason"].iloc[0]
    images = np.load(out / "images.npy", mmap_mode="r")
    assert len(images) == len(m) and list(m["index"]) == list(range(len(m)))
    # the rows still match their images after the compaction: re-ingest without dedupe and compare by name
    full = tmp_path / "full"
    full.mkdir()
    cfg2 = {**cfg, "duplicates": {"dedupe": "none"}}
    m2 = ING.ingest("shapes", cfg2, full / "manifest.tsv", full / "images.npy", full / "skipped.tsv")
    im2 = np.load(full / "images.npy")
    by_name = dict(zip(zip(m2["split"], m2["name"]), m2["index"]))
    assert all(np.array_equal(images[i], im2[by_name[k]]) for i, k in zip(m["index"], zip(m["split"], m["name"])))
    assert summary.duplicate_warnings(json.loads((out / "ingest.json").read_text())["duplicates"]) == []


def test_degenerate_clusterings_are_named():
    assert "one cluster (k = 1, 40 noise points)" in summary.degenerate_clustering(
        {"k": 1, "n": 100, "n_noise": 40, "sizes": {"-1": 40, "0": 60}}
    )
    assert "holds 95 of 100" in summary.degenerate_clustering({"k": 3, "n": 100, "sizes": {"0": 95, "1": 3, "2": 2}})
    assert summary.degenerate_clustering({"k": 3, "n": 90, "sizes": {"0": 30, "1": 30, "2": 30}}) is None
    assert (
        summary.degenerate_clustering({"k": 0, "n": 50, "n_noise": 50, "sizes": {"-1": 50}})
        == "no cluster: all 50 images are noise"
    )


def test_faint_different_strokes_are_not_duplicates_but_a_noisy_copy_is():
    """Sparse images (faint strokes on black, like Chinese MNIST) differ by under one grey level on average even
    when they show different characters; the pixel correlation keeps them apart, and still joins a real copy."""
    rng = np.random.default_rng(0)
    imgs = np.zeros((4, 32, 32), dtype=np.uint8)
    imgs[0, 10, 4:28] = 20  # a faint horizontal stroke
    imgs[1, 4:28, 16] = 20  # a faint vertical stroke
    imgs[2, 22, 4:28] = 20  # the horizontal stroke lower down
    imgs[3] = imgs[0] + (rng.random((32, 32)) < 0.1)  # a copy of 0, one grey level brighter at 10% of its pixels
    mad = lambda a, b: np.abs(imgs[a].astype(int) - imgs[b]).mean()  # noqa: E731
    assert mad(0, 1) < 1.0 and mad(0, 2) < 1.0  # the mean difference alone would call them duplicates
    everything = [0] * 4  # every pair is a hash candidate
    groups = D.find_groups(imgs, ["a", "b", "c", "d"], max_hamming=64, phashes=everything)
    assert [g["rows"] for g in groups] == [[0, 3]]
    assert groups[0]["kind"] == "near" and groups[0]["min_correlation"] > 0.99
    assert D.pixel_correlation(imgs[0], imgs[2]) < 0.1
    loose = D.find_groups(imgs, ["a", "b", "c", "d"], max_hamming=64, phashes=everything, min_correlation=-1)
    assert [g["rows"] for g in loose] == [[0, 1, 2, 3]]  # what the mean difference alone did
