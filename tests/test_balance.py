"""Class balancing at ingest (issue 12): per-class counts, copies only of and in the training split, seeded."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from imagespace.ingest import balance, ingest, synthetic  # noqa: E402
from imagespace.io import load_manifest  # noqa: E402
from imagespace.report import selection_line, small_class_warnings  # noqa: E402


def test_plan_counts_per_class_and_leaves_held_out_rows_alone():
    labels = ["a"] * 3 + ["b"] * 10 + ["c"] * 25 + ["a"] * 2 + ["c"] * 6
    splits = ["train"] * 38 + ["validation"] * 8
    p = balance.plan(labels, splits, 10, augment=list(balance.TRANSFORMS), drop=True, seed=0, square=True)
    after = Counter(labels[i] for i in p.keep if splits[i] == "train") + Counter(labels[r] for r, _ in p.copies)
    assert after == {"a": 10, "b": 10, "c": 10}
    assert p.info()["added"] == 7 and p.info()["dropped"] == 15
    # every validation row is kept, and no copy is made of one
    assert set(range(38, 46)) <= set(p.keep)
    assert all(splits[r] == "train" and labels[r] == "a" for r, _ in p.copies)
    # the copies spread over the sources before one is copied twice: 7 copies of 3 images -> 3, 2, 2
    assert sorted(Counter(r for r, _ in p.copies).values()) == [2, 2, 3]
    assert len(set(p.copies)) == 7  # no (image, transform) pair twice
    same = balance.plan(labels, splits, 10, augment=list(balance.TRANSFORMS), drop=True, seed=0, square=True)
    assert same.copies == p.copies and np.array_equal(same.keep, p.keep)
    other = balance.plan(labels, splits, 10, augment=list(balance.TRANSFORMS), drop=True, seed=1, square=True)
    assert other.copies != p.copies or not np.array_equal(other.keep, p.keep)


def test_plan_targets_without_drop_and_short_classes():
    labels = ["a"] * 1 + ["b"] * 4 + ["c"] * 9
    splits = ["all"] * 14
    p = balance.plan(labels, splits, "max", augment=["hflip", "rot90", "rot180"], drop=False, seed=0, square=False)
    assert p.split == "all" and p.target == 9
    # not square: rot90 is not used, so image a gives 2 copies and stays 6 short of 9
    assert {t for _, t in p.copies} == {"hflip", "rot180"}
    assert p.per_class["a"] == {"before": 1, "dropped": 0, "added": 2, "after": 3}
    assert p.short == {"a": 6}
    assert p.per_class["b"]["after"] == 9 and p.per_class["c"]["dropped"] == 0
    assert balance.resolve_target("median", {"a": 1, "b": 4, "c": 9}) == 4
    with pytest.raises(ValueError, match="train"):
        balance.plan(["a", "b"], ["validation", "test"], 3, augment=["hflip"], drop=True, seed=0, square=True)


def test_transforms_are_the_flips_and_quarter_turns():
    a = np.arange(12, dtype=np.uint8).reshape(3, 4, 1)
    assert np.array_equal(balance.apply(a, "hflip")[:, :, 0], a[:, ::-1, 0])
    assert np.array_equal(balance.apply(a, "vflip")[:, :, 0], a[::-1, :, 0])
    assert np.array_equal(balance.apply(a, "rot90")[:, :, 0], np.rot90(a[:, :, 0]))
    assert np.array_equal(balance.apply(balance.apply(a, "rot90"), "rot270"), a)
    assert np.array_equal(balance.apply(a, "rot180"), balance.apply(balance.apply(a, "hflip"), "vflip"))


def _ingest(tmp_path, ds_cfg, name="b"):
    out = tmp_path / f"out_{name}"
    m = ingest(
        name,
        ds_cfg,
        out / "manifest.tsv",
        out / "images.npy",
        out / "skipped.tsv",
        out / "ingest.json",
        out_duplicates=out / "duplicates.tsv",
    )
    import json

    import pandas as pd

    return (
        load_manifest(out / "manifest.tsv"),
        np.load(out / "images.npy"),
        pd.read_csv(out / "skipped.tsv", sep="\t"),
        json.loads((out / "ingest.json").read_text()),
        m,
    )


def test_ingest_balances_the_training_split_of_a_generated_folder(tmp_path):
    synthetic.write_folder(tmp_path / "all", n_per_class=24, size=16, seed=1)
    for p in sorted((tmp_path / "all/square").glob("*.png"))[8:]:
        p.unlink()  # squares: 8 images, circles and triangles 24
    cfg = {
        "source": {"type": "class_folders", "root": str(tmp_path / "all")},
        "validation_fraction": 0.25,
        "images": {"size": [16, 16]},
        "balance": {"target": 12},
        "duplicates": {"check": False},
    }
    manifest, images, skipped, info, _ = _ingest(tmp_path, cfg)
    train = manifest[manifest["split"] == "train"]
    assert Counter(train["label"]) == {"circle": 12, "square": 12, "triangle": 12}
    held = manifest[manifest["split"] == "validation"]
    assert Counter(held["label"]) == {"circle": 6, "square": 2, "triangle": 6}  # the split before balancing, untouched
    assert (held["augmented_from"] == "").all()
    copies = manifest[manifest["augmented_from"] != ""]
    assert len(copies) == 6 and set(copies["label"]) == {"square"} and (copies["split"] == "train").all()
    # each copy holds its source's pixels, transformed as the manifest says
    by_id = dict(zip(manifest["id"], manifest["index"]))
    for _, c in copies.iterrows():
        assert manifest.loc[by_id[c["augmented_from"]], "split"] == "train"
        src = images[by_id[c["augmented_from"]]]
        assert np.array_equal(images[c["index"]], balance.apply(src, c["augmentation"])), c["id"]
        assert c["id"] == f"{c['augmented_from']}@{c['augmentation']}"
    assert manifest["id"].is_unique and list(manifest["index"]) == list(range(len(manifest))) == list(
        range(len(images))
    )
    # the training images left out of the large classes are listed (kind balance), the others not
    assert Counter(skipped["kind"]) == {"balance": 12}
    assert info["selection"]["balance"]["per_class"]["square"] == {"before": 6, "dropped": 0, "added": 6, "after": 12}
    assert info["classes"] == {"circle": 18, "square": 14, "triangle": 18}
    # small_class_warning counts the collection's own images, not the copies: 8 squares < 10
    warn = small_class_warnings(info, 10)
    assert len(warn) == 1 and "square (8)" in warn[0] and "1 of 3 classes" in warn[0]
    assert small_class_warnings(info, 8) == []
    assert (
        selection_line(info["selection"])
        == "train split balanced to 12 per class: 12 images left out, 6 flipped/turned copies added"
    )
    again = _ingest(tmp_path, cfg, "again")
    assert again[0].equals(manifest) and np.array_equal(again[1], images)  # seeded


@pytest.mark.workflow
def test_copies_train_but_the_descriptive_stages_see_only_the_collection(tmp_path):
    """A real Snakemake run with balance: the PCA projects the copies (a probe or a CNN can train on them), but the
    PCA is fitted, the maps drawn and the clusters found on the collection's own images only."""
    import json

    import yaml
    from conftest import copy_project, snakemake

    from imagespace.io import load_features

    work = copy_project(tmp_path / "project")
    cfg = {
        "targets": ["b"],
        "datasets": {
            "b": {
                "source": {"type": "synthetic", "n_per_class": 12, "size": 16, "seed": 4},
                "images": {"size": None},
                "validation_fraction": 0.25,
                "balance": {"target": 12, "augment": ["hflip", "rot180"]},
            }
        },
        "embeddings": {"methods": ["tsne"], "tsne": {"max_iter": 250}},
        "clustering": {"methods": ["kmeans"], "kmeans": {"k_max": 4}},
    }
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    targets = [
        "results/b/pca/pca.json",
        "results/b/clustering/pca/kmeans/result.json",
        "results/b/maps/tsne.json",
        "results/b/maps/pca.json",
    ]
    snakemake(work, *targets)
    manifest = load_manifest(work / "results/b/ingest/manifest.tsv")
    copies = manifest["augmented_from"] != ""
    assert copies.sum() == 9 and set(manifest.loc[copies, "split"]) == {"train"}  # 3 classes x (12 - 9 training images)
    own = int((~copies).sum())
    read = lambda p: json.loads((work / "results/b" / p).read_text())  # noqa: E731
    assert read("pca/pca.json")["n_fit"] == own
    assert len(load_features(work / "results/b/features/pca.npz").ids) == len(manifest)  # copies projected
    assert read("clustering/pca/kmeans/result.json")["n"] == own
    assert read("maps/tsne.json")["n_rows"] == own and read("maps/pca.json")["n_rows"] == own
