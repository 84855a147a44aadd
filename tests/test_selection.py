"""Which images a dataset keeps (issue 12): subsample, max_per_class, min_per_class, source.dropna, on generated
data."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from imagespace.ingest import collect, synthetic  # noqa: E402

SYNTH = {"type": "synthetic", "n_per_class": 30, "size": 12, "seed": 3}


def _counts(records):
    return Counter((r.split, r.label) for r in records)


def test_subsample_keeps_the_same_share_of_every_class():
    info = {}
    records, _ = collect("s", {"source": SYNTH, "subsample": 0.5}, info=info)
    assert set(Counter(r.label for r in records).values()) == {15}
    assert info == {"n_candidates": 90, "small_classes_dropped": [], "subsample_left_out": 45, "n_selected": 45}
    records, _ = collect("s", {"source": SYNTH, "subsample": 30})
    assert set(Counter(r.label for r in records).values()) == {10}
    again, _ = collect("s", {"source": SYNTH, "subsample": 30})
    assert [r.id for r in again] == [r.id for r in records]  # seeded
    other, _ = collect("s", {"source": SYNTH, "subsample": 30, "split_seed": 1})
    assert [r.id for r in other] != [r.id for r in records]


def test_subsample_is_stratified_within_each_split_and_before_the_split_fractions(tmp_path):
    synthetic.write_folder(tmp_path / "train", n_per_class=20, size=12, seed=1)
    synthetic.write_folder(tmp_path / "validation", n_per_class=8, size=12, seed=2)
    src = {
        "type": "class_folders",
        "splits": {"train": str(tmp_path / "train"), "validation": str(tmp_path / "validation")},
    }
    records, _ = collect("f", {"source": src, "subsample": 0.5})
    assert set(v for (s, _), v in _counts(records).items() if s == "train") == {10}
    assert set(v for (s, _), v in _counts(records).items() if s == "validation") == {4}
    # a source without splits: the subset is split afterwards, so every split keeps the class balance
    records, _ = collect("s", {"source": SYNTH, "subsample": 0.5, "validation_fraction": 0.2})
    counts = _counts(records)
    assert {counts[("validation", c)] for c in ("circle", "square", "triangle")} == {3}
    assert {counts[("train", c)] for c in ("circle", "square", "triangle")} == {12}


def _few_squares(tmp_path, n_per_class: int, squares: int) -> dict:
    """A class-folder source of generated shapes in which the squares keep only *squares* images."""
    synthetic.write_folder(tmp_path / "all", n_per_class=n_per_class, size=12, seed=1)
    for p in sorted((tmp_path / "all/square").glob("*.png"))[squares:]:
        p.unlink()
    return {"type": "class_folders", "root": str(tmp_path / "all")}


def test_max_per_class_caps_only_the_large_classes(tmp_path):
    info = {}
    records, _ = collect("f", {"source": _few_squares(tmp_path, 10, 4), "max_per_class": 6}, info=info)
    assert Counter(r.label for r in records) == {"circle": 6, "square": 4, "triangle": 6}
    assert info["max_per_class_left_out"] == 8


def test_min_per_class_drops_small_classes_and_lists_their_images(tmp_path):
    info = {}
    records, skips = collect("f", {"source": _few_squares(tmp_path, 6, 2), "min_per_class": 3}, info=info)
    assert Counter(r.label for r in records) == {"circle": 6, "triangle": 6}
    small = [s for s in skips if s.kind == "small_class"]
    assert len(small) == 2 and all("'square'" in s.reason and "min_per_class = 3" in s.reason for s in small)
    assert info["small_classes_dropped"] == ["square"]


def test_dropna_skips_rows_with_an_empty_required_column(tmp_path):
    folder = tmp_path / "products"
    synthetic.write_folder(folder, n_per_class=3, size=12, seed=0)
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
    lines = ["file,category,season"] + [
        f"{f},{f.split('/')[0]},{'' if i == 4 else 'summer'}" for i, f in enumerate(files)
    ]
    (folder / "styles.csv").write_text("\n".join(lines) + "\n")
    src = {"type": "csv_manifest", "csv": str(folder / "styles.csv"), "file_column": "file", "label_column": "category"}
    records, skips = collect("p", {"source": {**src, "dropna": ["season"]}})
    assert len(records) == len(files) - 1
    (bad,) = [s for s in skips if s.kind == "missing_value"]
    assert "line 6" in bad.reason and "['season']" in bad.reason
    records, _ = collect("p", {"source": src})
    assert len(records) == len(files)  # without dropna the empty season is fine
    from imagespace.io import InputError

    with pytest.raises(InputError, match=r"missing column\(s\) \['seasons'\]"):
        collect("p", {"source": {**src, "dropna": ["seasons"]}})


def test_held_out_fractions_are_drawn_from_the_train_split_of_a_source_with_splits(tmp_path, caplog):
    """x_train/x_test files or train/test folders: validation_fraction carves validation out of train only."""
    synthetic.write_folder(tmp_path / "train", n_per_class=20, size=12, seed=1)
    synthetic.write_folder(tmp_path / "test", n_per_class=8, size=12, seed=2)
    src = {"type": "class_folders", "splits": {"train": str(tmp_path / "train"), "test": str(tmp_path / "test")}}
    records, _ = collect("f", {"source": src, "validation_fraction": 0.25})
    counts = _counts(records)
    assert {counts[("validation", c)] for c in ("circle", "square", "triangle")} == {5}
    assert {counts[("train", c)] for c in ("circle", "square", "triangle")} == {15}
    assert {counts[("test", c)] for c in ("circle", "square", "triangle")} == {8}  # untouched
    val = {r.name for r in records if r.split == "validation"}
    assert all((tmp_path / "train" / n).is_file() for n in val)  # drawn from train only
    # a fraction whose split the source has is ignored, and said so
    with caplog.at_level("WARNING"):
        records, _ = collect("f", {"source": src, "test_fraction": 0.2})
    assert "test_fraction = 0.2 ignored" in caplog.text
    assert _counts(records) == _counts(collect("f", {"source": src})[0])
    # nothing to draw from
    src_new = {"type": "class_folders", "splits": {"new": str(tmp_path / "test")}}
    with pytest.raises(Exception, match="validation_fraction = 0.25 needs a 'train' split"):
        collect("f", {"source": src_new, "validation_fraction": 0.25})


def test_a_subsample_still_joins_a_human_space_by_sorted_file_names(tmp_path):
    """Rows of a human space in sorted file-name order: the images a subsample leaves out are listed
    (kind not_selected), so every kept image still gets its own row."""
    import numpy as np
    import pandas as pd

    from imagespace import human
    from imagespace.ingest import ingest
    from imagespace.io import load_manifest

    synthetic.write_folder(tmp_path / "all", n_per_class=10, size=12, seed=1)
    files = sorted(str(p.relative_to(tmp_path / "all")) for p in (tmp_path / "all").rglob("*.png"))
    H = np.arange(len(files) * 2, dtype=float).reshape(-1, 2)  # row i: 2i, 2i + 1
    np.savetxt(tmp_path / "h.txt", H)
    cfg = {
        "source": {"type": "class_folders", "root": str(tmp_path / "all")},
        "subsample": 0.5,
        "images": {"size": [12, 12]},
        "duplicates": {"check": False},
    }
    out = tmp_path / "out"
    ingest("h", cfg, out / "m.tsv", out / "i.npy", out / "s.tsv", out / "i.json")
    manifest, skipped = load_manifest(out / "m.tsv"), pd.read_csv(out / "s.tsv", sep="\t", keep_default_na=False)
    assert len(manifest) == 15 and (skipped["kind"] == "not_selected").sum() == 15
    table, _ = human.join({"path": str(tmp_path / "h.txt"), "order": "sorted_filenames"}, "all", manifest, skipped)
    assert len(table) == 15
    for _, r in table.iterrows():
        assert r["dim_1"] == 2 * files.index(r["name"])
