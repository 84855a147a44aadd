"""Tests for human similarity spaces: joining coordinate rows to ingested images by an explicit key.

Real data: the rocks' mds_360.txt joined by sorted file name (read in place under ../shared/data).
Generated inputs live in pytest's tmp_path.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
import pytest
from conftest import shared
from PIL import Image

from imagespace import human
from imagespace import ingest as ING
from imagespace.io import InputError, load_human_table, load_manifest, write_table  # noqa: E402


# --------------------------------------------------------------------------- helpers
def run_ingest(out, ds_cfg, name="ds"):
    """Ingest and read the outputs back exactly as the human_space rule does."""
    ING.ingest(name, ds_cfg, out / "manifest.tsv", out / "images.npy", out / "skipped.tsv", threads=2)
    manifest = load_manifest(out / "manifest.tsv")
    skipped = pd.read_csv(out / "skipped.tsv", sep="\t", dtype=str, keep_default_na=False)
    return manifest, skipped


def dims(table) -> np.ndarray:
    return table[[c for c in table.columns if c.startswith("dim_")]].to_numpy()


def subtype_ratio(H, subtypes) -> float:
    """Mean distance between same-subtype rows / mean distance between different-subtype rows."""
    D = np.sqrt(((H[:, None, :] - H[None, :, :]) ** 2).sum(-1))
    same = subtypes[:, None] == subtypes[None, :]
    off = ~np.eye(len(H), dtype=bool)
    return D[same & off].mean() / D[~same].mean()


# --------------------------------------------------------------------------- real rocks: sorted file names
@pytest.fixture(scope="module")
def rocks_train(tmp_path_factory):
    """The 360 training rocks ingested small (default label rule), with the rule's view of its outputs."""
    out = tmp_path_factory.mktemp("rocks_human")
    cfg = {
        "source": {"type": "filename_labels", "splits": {"train": str(shared("rocks", "Training"))}},
        "images": {"size": [16, 16], "color": "gray", "resample": "box"},
    }
    manifest, skipped = run_ingest(out, cfg, name="rocks")
    return manifest, skipped


MDS_SPEC = {"order": "sorted_filenames"}


@pytest.mark.rocks
def test_rocks_mds_360_join_by_sorted_filenames(rocks_train):
    manifest, skipped = rocks_train
    mds = shared("rocks", "mds_360.txt")
    table, notes = human.join({"path": str(mds), **MDS_SPEC}, "train", manifest, skipped)
    assert notes == [] and len(skipped) == 0
    files = sorted(os.listdir(shared("rocks", "Training")))  # explicit code-point sort, never listdir order
    assert len(files) == 360 and len(table) == 360
    assert list(table.columns) == ["id", "name"] + [f"dim_{i}" for i in range(1, 9)]
    # row i <-> i-th sorted file name <-> i-th row of mds_360.txt
    assert table["name"].tolist() == files
    np.testing.assert_array_equal(dims(table), np.loadtxt(mds))
    assert table["id"].tolist() == [f"train/{f}" for f in files]
    assert table.loc[files.index("S_Bituminous Coal_07.jpg"), "id"] == "train/S_Bituminous Coal_07.jpg"
    # every id is an ingested image, with the subtype its file name carries
    sub = manifest.set_index("id").loc[table["id"], "subtype"].to_numpy()
    assert (sub == np.array([f.rsplit("_", 1)[0] for f in files])).all()
    # the alignment is meaningful: same-subtype rocks are much closer in the human space
    H = dims(table)
    assert subtype_ratio(H, sub) < 0.75
    assert subtype_ratio(H[np.random.default_rng(0).permutation(360)], sub) > 0.9


@pytest.mark.rocks
@pytest.mark.parametrize("extra", [1, -1])
def test_rocks_row_count_mismatch_names_file_and_counts(rocks_train, tmp_path, extra):
    manifest, skipped = rocks_train
    H = np.loadtxt(shared("rocks", "mds_360.txt"))
    H = H[np.random.default_rng(1).permutation(len(H))]
    H = np.vstack([H, H[:1] + 0.5]) if extra > 0 else H[:-1]
    bad = tmp_path / "mds_360 shuffled.txt"
    np.savetxt(bad, H, fmt="%8.3f")
    n = 360 + extra
    with pytest.raises(InputError) as err:
        human.join({"path": str(bad), **MDS_SPEC}, "train", manifest, skipped)
    msg = str(err.value)
    assert msg.startswith(str(bad)) and f"{n} rows" in msg and "360 image files" in msg and "'train'" in msg


@pytest.mark.rocks
def test_rocks_skipped_image_keeps_its_row(rocks_train):
    """A corrupt image skipped at ingest still occupies its row: its row is dropped, nothing shifts."""
    manifest, skipped = rocks_train
    files = sorted(os.listdir(shared("rocks", "Training")))
    lost = {files[0], files[100], "S_Bituminous Coal_07.jpg"}
    kept = manifest[~manifest["name"].isin(lost)]
    sk = pd.DataFrame(
        [["train", n, f"/x/{n}", "unreadable", "unreadable image: OSError", "True"] for n in sorted(lost)]
        + [
            ["train", ".DS_Store", "/x/.DS_Store", "non_image", "not an image file (extension)", "False"],
            ["validation", "I_Andesite_1_120.jpg", "/y", "unreadable", "x", "True"],
        ],  # other split: ignored
        columns=ING.SKIP_COLUMNS,
    )
    mds = shared("rocks", "mds_360.txt")
    table, notes = human.join({"path": str(mds), **MDS_SPEC}, "train", kept, sk)
    H = np.loadtxt(mds)
    assert len(table) == 357 and not set(table["name"]) & lost
    rows = [files.index(n) for n in table["name"]]
    np.testing.assert_array_equal(dims(table), H[rows])
    assert table["name"].tolist() == [f for f in files if f not in lost]
    assert len(notes) == 1 and "3 rows dropped" in notes[0] and "S_Bituminous Coal_07.jpg" in notes[0]


# --------------------------------------------------------------------------- generated end to end
NAMES = ["A_b_10.png", "A_b_9.png", "B_x_1.png", "Z_z_1.png", "a_c_1.png", "a_c 2.png"]


@pytest.fixture
def small(tmp_path):
    """Six images whose code-point order differs from natural/case-insensitive order; one corrupt; one junk file."""
    d = tmp_path / "imgs"
    d.mkdir()
    for i, n in enumerate(NAMES):
        Image.new("L", (6, 6), 10 * i).save(d / n)
    (d / "B_x_1.png").write_bytes(b"corrupt")
    (d / ".DS_Store").write_bytes(b"\x00")
    (d / "readme.txt").write_text("not an image")
    cfg = {"source": {"type": "filename_labels", "splits": {"train": str(d)}}, "images": {"size": [6, 6]}}
    manifest, skipped = run_ingest(tmp_path / "out", cfg)
    return d, manifest, skipped


def test_sorted_filenames_code_point_order_and_corrupt_image(tmp_path, small):
    d, manifest, skipped = small
    code_point = sorted(NAMES)
    assert code_point != sorted(NAMES, key=str.lower)  # the order is a real choice
    assert code_point == ["A_b_10.png", "A_b_9.png", "B_x_1.png", "Z_z_1.png", "a_c 2.png", "a_c_1.png"]
    assert set(skipped["kind"]) == {"hidden", "non_image", "unreadable"} and len(manifest) == 5
    H = np.array([[i, 100 + i] for i in range(6)], dtype=float)  # row i = i-th image file in code-point order
    p = tmp_path / "h.txt"
    np.savetxt(p, H)
    table, notes = human.join({"path": str(p), "order": "sorted_filenames"}, "train", manifest, skipped)
    assert table["name"].tolist() == [n for n in code_point if n != "B_x_1.png"]
    np.testing.assert_array_equal(dims(table)[:, 0], [0, 1, 3, 4, 5])  # row 2 (the corrupt image) dropped, none shifted
    ids = manifest.set_index("name")["id"]
    assert table["id"].tolist() == ids.loc[table["name"]].tolist()
    assert "B_x_1.png" in notes[0]
    # a matrix with one row per *kept* image (ignoring the corrupt file) is rejected, not silently shifted
    np.savetxt(p, H[:5])
    with pytest.raises(InputError, match=re.escape(str(p)) + ": 5 rows but split 'train' has 6 image files"):
        human.join({"path": str(p), "order": "sorted_filenames"}, "train", manifest, skipped)


@pytest.mark.parametrize("fmt,sep", [("csv", ","), ("tsv", "\t"), ("whitespace", "   ")])
def test_matrix_formats(tmp_path, small, fmt, sep):
    _, manifest, skipped = small
    p = tmp_path / f"h.{fmt}"
    p.write_text("# comment line\n" + "\n".join(sep.join(f"{i}.5" for _ in range(3)) for i in range(6)) + "\n")
    for spec in ({"format": "auto"}, {"format": fmt}):
        table, _ = human.join({"path": str(p), "order": "sorted_filenames", **spec}, "train", manifest, skipped)
        assert dims(table).shape == (5, 3) and dims(table)[:, 2].tolist() == [0.5, 1.5, 3.5, 4.5, 5.5]


def test_id_column_join(tmp_path, small):
    _, manifest, skipped = small
    order = ["Z_z_1.png", "a_c 2.png", "A_b_9.png", "B_x_1.png", "a_c_1.png", "A_b_10.png"]
    p = tmp_path / "h.csv"
    pd.DataFrame({"file": order, "x": range(6), "y": [v * 2.0 for v in range(6)]}).to_csv(p, index=False)
    table, notes = human.join({"path": str(p), "id_column": "file"}, "train", manifest, skipped)
    vals = dict(zip(table["name"], table["dim_1"]))
    assert vals == {n: float(order.index(n)) for n in order if n != "B_x_1.png"}
    assert (table["dim_2"] == 2 * table["dim_1"]).all()
    assert table["id"].tolist() == [f"train/{n}" for n in table["name"]]
    assert "B_x_1.png" in notes[0]


def write_ids(tmp_path, rows, name="h.tsv"):
    p = tmp_path / name
    p.write_text("file\td1\n" + "".join(f"{f}\t{v}\n" for f, v in rows))
    return p


def test_id_column_errors_name_the_file(tmp_path, small):
    _, manifest, skipped = small
    kept = manifest["name"].tolist()
    spec = {"id_column": "file"}
    p = write_ids(tmp_path, [(n, i) for i, n in enumerate(kept)] + [(kept[0], 9)], "dup.tsv")
    with pytest.raises(InputError, match=re.escape(str(p)) + ": duplicate ids in column 'file'.*A_b_10.png"):
        human.join({"path": str(p), **spec}, "train", manifest, skipped)
    p = write_ids(tmp_path, [(n, i) for i, n in enumerate(kept)] + [("nope.png", 9)], "unmatched.tsv")
    with pytest.raises(InputError, match=re.escape(str(p)) + ": 1 ids match no image of split 'train'.*nope.png"):
        human.join({"path": str(p), **spec}, "train", manifest, skipped)
    p = write_ids(tmp_path, [(n, i) for i, n in enumerate(kept[1:])], "missing.tsv")
    with pytest.raises(InputError, match=re.escape(str(p)) + ": 1 images of split 'train' have no row"):
        human.join({"path": str(p), **spec}, "train", manifest, skipped)
    p = write_ids(tmp_path, [(n, i) for i, n in enumerate(kept)], "ok.tsv")
    with pytest.raises(InputError, match=re.escape(str(p)) + ": id column 'name' not found"):
        human.join({"path": str(p), "id_column": "name"}, "train", manifest, skipped)
    with pytest.raises(InputError, match="ids match no image of split 'validation'"):
        human.join({"path": str(p), **spec}, "validation", manifest, skipped)


def test_id_column_keeps_zero_padded_ids_as_text(tmp_path):
    """Array sources name rows '000007'; an id column with those names must not be read as numbers."""
    manifest, skipped = run_ingest(
        tmp_path / "out", {"source": {"type": "sklearn_digits", "n_images": 12}, "images": {"size": None}}
    )
    assert manifest["name"][7] == "000007"
    p = tmp_path / "h.csv"
    p.write_text("row,a,b\n" + "".join(f"{i:06d},{i},{-i}\n" for i in reversed(range(12))))
    table, _ = human.join({"path": str(p), "id_column": "row"}, "all", manifest, skipped)
    assert dict(zip(table["id"], table["dim_1"])) == {f"all/{i:06d}": float(i) for i in range(12)}


def test_bad_matrix_files(tmp_path, small):
    _, manifest, skipped = small
    spec = {"order": "sorted_filenames"}
    p = tmp_path / "nan.txt"
    p.write_text("1 2\n3 x\n" + "5 6\n" * 4)
    with pytest.raises(
        InputError, match=re.escape(str(p)) + r": non-numeric or missing value at data row 2, column 2 \('x'\)"
    ):
        human.join({"path": str(p), **spec}, "train", manifest, skipped)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(InputError, match=re.escape(str(empty))):
        human.join({"path": str(empty), **spec}, "train", manifest, skipped)
    absent = tmp_path / "absent.txt"
    with pytest.raises(InputError, match=re.escape(str(absent)) + ": human space file does not exist"):
        human.join({"path": str(absent), **spec}, "train", manifest, skipped)
    ok = tmp_path / "ok.txt"
    np.savetxt(ok, np.zeros((6, 2)))
    with pytest.raises(InputError, match=re.escape(str(ok)) + ".*needs 'order: sorted_filenames' or 'id_column'"):
        human.join({"path": str(ok)}, "train", manifest, skipped)


def test_joined_table_roundtrip(tmp_path, small):
    _, manifest, skipped = small
    p = tmp_path / "h.txt"
    H = np.random.default_rng(0).normal(size=(6, 4))
    np.savetxt(p, H, fmt="%.17g")
    table, _ = human.join({"path": str(p), "order": "sorted_filenames"}, "train", manifest, skipped)
    write_table(tmp_path / "table.tsv", table)
    ids, H2 = load_human_table(tmp_path / "table.tsv")
    assert ids.tolist() == table["id"].tolist()
    np.testing.assert_array_equal(H2, H[[0, 1, 3, 4, 5]])
