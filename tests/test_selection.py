"""Which images a dataset keeps (issue 12): subsample, max_per_class, min_per_class, source.dropna, on generated data."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from imagespace import synthetic  # noqa: E402
from imagespace.datasets import collect  # noqa: E402

SYNTH = {"type": "synthetic", "n_per_class": 30, "size": 12, "seed": 3}


def _counts(records):
    return Counter((r.split, r.label) for r in records)


def test_subsample_keeps_the_same_share_of_every_class():
    info = {}
    records, _ = collect("s", {"source": SYNTH, "subsample": 0.5}, info)
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
    src = {"type": "class_folders", "splits": {"train": str(tmp_path / "train"), "validation": str(tmp_path / "validation")}}
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
    records, _ = collect("f", {"source": _few_squares(tmp_path, 10, 4), "max_per_class": 6}, info)
    assert Counter(r.label for r in records) == {"circle": 6, "square": 4, "triangle": 6}
    assert info["max_per_class_left_out"] == 8


def test_min_per_class_drops_small_classes_and_lists_their_images(tmp_path):
    info = {}
    records, skips = collect("f", {"source": _few_squares(tmp_path, 6, 2), "min_per_class": 3}, info)
    assert Counter(r.label for r in records) == {"circle": 6, "triangle": 6}
    small = [s for s in skips if s.kind == "small_class"]
    assert len(small) == 2 and all("'square'" in s.reason and "min_per_class = 3" in s.reason for s in small)
    assert info["small_classes_dropped"] == ["square"]


def test_dropna_skips_rows_with_an_empty_required_column(tmp_path):
    folder = tmp_path / "products"
    synthetic.write_folder(folder, n_per_class=3, size=12, seed=0)
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
    lines = ["file,category,season"] + [f"{f},{f.split('/')[0]},{'' if i == 4 else 'summer'}" for i, f in enumerate(files)]
    (folder / "styles.csv").write_text("\n".join(lines) + "\n")
    src = {"type": "csv_manifest", "csv": str(folder / "styles.csv"), "file_column": "file", "label_column": "category"}
    records, skips = collect("p", {"source": {**src, "dropna": ["season"]}})
    assert len(records) == len(files) - 1
    (bad,) = [s for s in skips if s.kind == "missing_value"]
    assert "line 6" in bad.reason and "['season']" in bad.reason
    records, _ = collect("p", {"source": src})
    assert len(records) == len(files)  # without dropna the empty season is fine
    from imagespace.util import InputError

    with pytest.raises(InputError, match=r"missing column\(s\) \['seasons'\]"):
        collect("p", {"source": {**src, "dropna": ["seasons"]}})
