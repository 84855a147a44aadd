"""Tests for ingest: every source layout, bad input, image modes, resize modes, real datasets.

Real data (rocks, chinese_mnist, fashion_mnist) is read in place under ../shared/data;
every generated input lives in pytest's tmp_path.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from conftest import shared
from PIL import Image

from imagespace import ingest as ING
from imagespace.images import from_array, normalise_mode, resize
from imagespace.ingest import assign_split, collect, synthetic
from imagespace.io import InputError, load_images, load_manifest  # noqa: E402

FASHION_X_SHA256 = "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a"
ROCKS_REGEX = r"^(?P<subtype>(?P<label>[^_]+)_[^_]+)_"


# --------------------------------------------------------------------------- helpers
def run(tmp_path, ds_cfg, name="ds", threads=2, on_error="skip"):
    """Ingest into tmp_path/out; return (manifest, images (memmap), skipped, info) read back from disk."""
    out = tmp_path / f"out_{name}"
    paths = ING.IngestOutputs(out / "manifest.tsv", out / "images.npy", out / "skipped.tsv", info=out / "info.json")
    ING.ingest(name, ds_cfg, paths, threads=threads, on_error=on_error)
    manifest = load_manifest(out / "manifest.tsv")
    images = load_images(out / "images.npy")
    skipped = pd.read_csv(out / "skipped.tsv", sep="\t", dtype=str, keep_default_na=False)
    info = json.loads((out / "info.json").read_text())
    return manifest, images, skipped, info


def save(img: Image.Image, path, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kw)
    return path


def gray(value, size=(8, 8)):
    return Image.new("L", size, int(value))


def luma(rgb) -> int:
    """PIL's own RGB -> L conversion of one colour (the reference for gray output)."""
    return Image.new("RGB", (1, 1), tuple(rgb)).convert("L").getpixel((0, 0))


def skip_row(skipped, name):
    rows = skipped[skipped["name"] == name]
    assert len(rows) == 1, f"{name!r} not listed exactly once in skipped.tsv:\n{skipped}"
    return rows.iloc[0]


def by_name(manifest, images):
    return {n: np.asarray(images[i]) for i, n in zip(manifest["index"], manifest["name"])}


# --------------------------------------------------------------------------- output format
def test_manifest_columns_documented_and_array_memmappable(tmp_path):
    cfg = {
        "source": {"type": "synthetic", "n_per_class": 4, "size": 16, "seed": 0},
        "images": {"size": None, "color": "rgb"},
    }
    manifest, images, skipped, info = run(tmp_path, cfg)
    assert list(manifest.columns) == ING.MANIFEST_COLUMNS
    # the package's docstring lists the columns in its Outputs bullet of manifest.tsv (which may wrap)
    doc_item = re.search(r"``manifest\.tsv``.*?(?=\n\s*\*|\n\s*\n)", ING.__doc__, flags=re.S).group(0)
    for col in ING.MANIFEST_COLUMNS:
        assert re.search(rf"\b{col}\b", doc_item), f"manifest column {col!r} not documented in imagespace.ingest"
    assert list(skipped.columns) == ING.SKIP_COLUMNS and len(skipped) == 0
    m = np.load(tmp_path / "out_ds" / "images.npy", mmap_mode="r")
    assert isinstance(m, np.memmap) and m.dtype == np.uint8 and m.shape == (12, 16, 16, 3)
    assert isinstance(images, np.memmap)
    assert manifest["index"].tolist() == list(range(12))
    assert manifest["id"].tolist() == [f"all/{n}" for n in manifest["name"]]
    assert info["n_images"] == 12 and info["shape"] == [16, 16, 3] and info["n_skipped"] == 0
    # no temporary files left beside the outputs
    assert sorted(p.name for p in (tmp_path / "out_ds").iterdir()) == [
        "images.npy",
        "info.json",
        "manifest.tsv",
        "skipped.tsv",
    ]


# --------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def rocks(tmp_path_factory):
    cfg = {
        "source": {
            "type": "filename_labels",
            "splits": {"train": str(shared("rocks", "Training")), "validation": str(shared("rocks", "Validation"))},
            "label_regex": ROCKS_REGEX,
            "classes": ["I", "M", "S"],
        },
        "images": {"size": [32, 32], "color": "gray", "resize": "pad"},
    }
    return run(tmp_path_factory.mktemp("rocks"), cfg, name="rocks")


@pytest.mark.rocks
def test_rocks_real_counts(rocks):
    manifest, images, skipped, info = rocks
    assert len(manifest) == 480 and images.shape == (480, 32, 32, 1) and images.dtype == np.uint8
    assert len(skipped) == 0
    assert manifest["split"].value_counts().to_dict() == {"train": 360, "validation": 120}
    assert manifest["label"].value_counts().to_dict() == {"I": 160, "M": 160, "S": 160}
    assert manifest.groupby("split")["label"].value_counts().unstack().to_dict("index") == {
        "train": {"I": 120, "M": 120, "S": 120},
        "validation": {"I": 40, "M": 40, "S": 40},
    }
    assert manifest["subtype"].nunique() == 30
    assert (manifest["subtype"].value_counts() == 16).all()  # 12 training + 4 validation tokens each
    assert (manifest.apply(lambda r: r["subtype"].startswith(r["label"] + "_"), axis=1)).all()
    assert info["splits"] == {"train": 360, "validation": 120}


@pytest.mark.rocks
def test_rocks_real_order_and_names(rocks):
    manifest, images, _, _ = rocks
    train_dir, val_dir = shared("rocks", "Training"), shared("rocks", "Validation")
    train, val = manifest[manifest["split"] == "train"], manifest[manifest["split"] == "validation"]
    assert train["name"].tolist() == sorted(os.listdir(train_dir))
    assert val["name"].tolist() == sorted(os.listdir(val_dir))
    assert manifest["split"].tolist() == ["train"] * 360 + ["validation"] * 120
    row = manifest[manifest["name"] == "S_Bituminous Coal_07.jpg"]
    assert len(row) == 1
    r = row.iloc[0]
    assert (r["split"], r["label"], r["subtype"]) == ("train", "S", "S_Bituminous Coal")
    assert r["path"] == str(train_dir / "S_Bituminous Coal_07.jpg")
    assert (r["orig_width"], r["orig_height"], r["orig_mode"]) == (800, 800, "RGB")
    # validation photos have varying heights; all are recorded, all end up 32x32
    assert val["orig_width"].eq(800).all() and val["orig_height"].nunique() > 1
    # images are in manifest order: spot-check rows against a direct decode
    from imagespace.images import load_image

    for i in (0, int(r["index"]), 479):
        ref, _, _ = load_image(manifest["path"][i], (32, 32), "gray", "pad", "lanczos")
        np.testing.assert_array_equal(images[i], ref)


@pytest.mark.rocks
def test_rocks_default_regex_on_real_names():
    """Default rule: label = text before the first _, subtype = text before the last _ (names with spaces too)."""
    records, skips = collect("rocks", {"source": {"type": "filename_labels", "root": str(shared("rocks", "Training"))}})
    assert len(records) == 360 and not skips
    rec = {r.name: r for r in records}
    assert (rec["S_Bituminous Coal_07.jpg"].label, rec["S_Bituminous Coal_07.jpg"].subtype) == (
        "S",
        "S_Bituminous Coal",
    )
    assert (rec["I_Andesite_01.jpg"].label, rec["I_Andesite_01.jpg"].subtype) == ("I", "I_Andesite")
    assert len({r.subtype for r in records}) == 30 and {r.label for r in records} == {"I", "M", "S"}


@pytest.fixture(scope="module")
def chinese_csv_text():
    return shared("chinese_mnist", "chinese_mnist.csv").read_bytes().decode("utf-8")


def chinese_cfg(csv_path):
    return {
        "source": {
            "type": "csv_manifest",
            "csv": str(csv_path),
            "image_dir": str(shared("chinese_mnist", "data")),
            "file_template": "input_{suite_id}_{sample_id}_{code}.jpg",
            "label_column": "code",
        },
        "images": {"size": None, "color": "gray"},
    }


def test_chinese_mnist_real(tmp_path):
    manifest, images, skipped, info = run(tmp_path, chinese_cfg(shared("chinese_mnist", "chinese_mnist.csv")))
    assert len(manifest) == 1500 and images.shape == (1500, 64, 64, 1) and len(skipped) == 0
    counts = manifest["label"].value_counts()
    assert sorted(counts.index, key=int) == [str(c) for c in range(1, 16)] and (counts == 100).all()
    # the label (code) joined from the CSV agrees with the code in every file name
    assert (manifest["name"].str.extract(r"_(\d+)\.jpg$")[0] == manifest["label"]).all()
    assert sorted(manifest["name"]) == sorted(os.listdir(shared("chinese_mnist", "data")))
    # native size: the pixels are the decoded JPEG, untouched
    i = 123
    ref = np.asarray(Image.open(manifest["path"][i]).convert("L"))
    np.testing.assert_array_equal(images[i][:, :, 0], ref)


def test_chinese_mnist_missing_file_and_missing_label(tmp_path, chinese_csv_text):
    lines = chinese_csv_text.split("\r\n")
    assert lines[0] == "suite_id,sample_id,code,value,character"
    # line 5: points to a file that does not exist; line 9: empty label (code)
    f5 = lines[4].split(",")
    f5[1] = "99"
    lines[4] = ",".join(f5)
    f9 = lines[8].split(",")
    f9[2] = ""
    lines[8] = ",".join(f9)
    csv = tmp_path / "chinese_mnist_modified.csv"
    csv.write_bytes("\r\n".join(lines).encode("utf-8"))
    manifest, images, skipped, info = run(tmp_path, chinese_cfg(csv))
    assert len(manifest) == 1498 and images.shape[0] == 1498
    assert sorted(skipped["kind"]) == ["missing_file", "missing_label"]
    mf = skipped[skipped["kind"] == "missing_file"].iloc[0]
    ml = skipped[skipped["kind"] == "missing_label"].iloc[0]
    assert "line 5" in mf["reason"] and str(csv) in mf["reason"]
    assert mf["name"] == f"input_{f5[0]}_99_{f5[2]}.jpg"
    assert "line 9" in ml["reason"] and str(csv) in ml["reason"] and "code" in ml["reason"]
    assert info["skipped_by_kind"] == {"missing_file": 1, "missing_label": 1}
    assert not manifest["label"].eq("").any()


def test_csv_manifest_file_column_and_errors(tmp_path):
    img_dir = tmp_path / "imgs"
    for i, v in enumerate((10, 20, 30)):
        save(gray(v), img_dir / f"img {i}.png")
    csv = tmp_path / "m.csv"
    csv.write_text(
        "file,kind,sub\nimg 0.png,a,a1\nimg 1.png,b,b1\nimg 2.png,zz,z\n,a,a1\nimg 0.png,a,a1\n", encoding="utf-8"
    )
    src = {
        "type": "csv_manifest",
        "csv": str(csv),
        "image_dir": str(img_dir),
        "file_column": "file",
        "label_column": "kind",
        "subtype_column": "sub",
        "classes": ["a", "b"],
    }
    manifest, images, skipped, _ = run(tmp_path, {"source": src, "images": {"size": [8, 8]}})
    assert manifest["name"].tolist() == ["img 0.png", "img 1.png"]
    assert manifest["subtype"].tolist() == ["a1", "b1"]
    assert images[:, 0, 0, 0].tolist() == [10, 20]
    kinds = dict(zip(skipped["kind"], skipped["reason"]))
    assert set(kinds) == {"unknown_label", "bad_row"} and len(skipped) == 3
    assert "'zz'" in kinds["unknown_label"]
    assert sorted(r for r in skipped["reason"] if "line" in r) == [
        f"{csv} line 5: empty file name",
        f"{csv} line 6: duplicate file entry",
    ]
    with pytest.raises(InputError, match=re.escape(str(csv)) + ".*missing column"):
        collect("x", {"source": {**src, "label_column": "nope"}})
    with pytest.raises(InputError, match="unknown column"):
        collect(
            "x", {"source": {**{k: v for k, v in src.items() if k != "file_column"}, "file_template": "{nope}.png"}}
        )
    with pytest.raises(InputError, match=re.escape(str(tmp_path / "absent.csv"))):
        collect("x", {"source": {**src, "csv": str(tmp_path / "absent.csv")}})


def test_fashion_mnist_real_npz(tmp_path):
    path = shared("fashion_mnist", "fashion_mnist_test.npz")
    cfg = {
        "source": {
            "type": "npz",
            "path": str(path),
            "images_key": "x_test",
            "labels_key": "y_test",
            "class_names_key": "class_names",
        },
        "images": {"size": None, "color": "gray"},
    }
    manifest, images, skipped, info = run(tmp_path, cfg)
    assert images.shape == (10000, 28, 28, 1) and images.dtype == np.uint8 and len(skipped) == 0
    assert hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest() == FASHION_X_SHA256
    with np.load(path) as z:
        expected = z["class_names"][z["y_test"]].astype(str)
    assert manifest["label"].tolist() == expected.tolist()
    assert manifest["label"][0] == "Ankle boot"
    counts = manifest["label"].value_counts()
    assert len(counts) == 10 and (counts == 1000).all() and "T-shirt/top" in counts.index
    assert manifest["name"].tolist() == [f"{i:06d}" for i in range(10000)]
    assert (manifest["orig_width"] == 28).all() and (manifest["orig_mode"] == "array:uint8").all()


def test_npz_errors(tmp_path):
    p = tmp_path / "a.npz"
    np.savez(p, x=np.zeros((3, 4, 4), np.uint8), y=np.arange(2))
    with pytest.raises(InputError, match=re.escape(str(p)) + ".*3 images.*2 labels"):
        collect("x", {"source": {"type": "npz", "path": str(p)}})
    with pytest.raises(InputError, match=re.escape(str(p)) + ".*'imgs' not in archive"):
        collect("x", {"source": {"type": "npz", "path": str(p), "images_key": "imgs"}})
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    with pytest.raises(InputError, match=re.escape(str(bad))):
        collect("x", {"source": {"type": "npz", "path": str(bad)}})


def test_npz_float_images_scaled_for_the_whole_dataset(tmp_path):
    """Pixel scale is decided once per dataset: a dim image is not stretched to full range on its own."""
    x = np.zeros((3, 4, 4), np.float32)
    x[0, 0, 0] = 1.0  # 0..1 data set
    x[1, 0, 0] = 0.5
    x[2, 0, 0] = 0.2
    p = tmp_path / "f.npz"
    np.savez(p, x=x, y=np.array([0, 1, 1]))
    _, images, _, _ = run(tmp_path, {"source": {"type": "npz", "path": str(p)}, "images": {"size": None}})
    assert images[:, 0, 0, 0].tolist() == [255, 128, 51]
    x16 = np.zeros((2, 4, 4), np.uint16)
    x16[0, 0, 0], x16[1, 0, 0] = 65535, 25700  # 16-bit data set: 25700 = 100 * 257
    p16 = tmp_path / "u16.npz"
    np.savez(p16, x=x16, y=np.array([0, 1]))
    _, images, _, _ = run(tmp_path, {"source": {"type": "npz", "path": str(p16)}, "images": {"size": None}}, name="u16")
    assert images[:, 0, 0, 0].tolist() == [255, 100]


# --------------------------------------------------------------------------- built-in sources
def test_sklearn_digits_builtin(tmp_path):
    from sklearn.datasets import load_digits

    manifest, images, _, _ = run(
        tmp_path, {"source": {"type": "sklearn_digits", "n_images": 50}, "images": {"size": None}}
    )
    d = load_digits()
    assert images.shape == (50, 8, 8, 1)
    np.testing.assert_array_equal(images[:, :, :, 0], np.rint(d.images[:50] * 255 / 16).astype(np.uint8))
    assert manifest["label"].tolist() == [str(t) for t in d.target[:50]]


def test_synthetic_builtin_bit_identical(tmp_path):
    src = {"type": "synthetic", "n_per_class": 5, "size": 16, "seed": 3}
    manifest, images, _, _ = run(tmp_path, {"source": src, "images": {"size": None, "color": "rgb"}})
    g = synthetic.generate(n_per_class=5, size=16, seed=3)
    order = np.argsort(g["names"], kind="stable")
    assert manifest["name"].tolist() == g["names"][order].tolist()
    np.testing.assert_array_equal(np.asarray(images), g["images"][order])
    assert manifest["subtype"].tolist() == g["subtypes"][order].tolist()


# --------------------------------------------------------------------------- validation split
def test_validation_fraction_stratified_and_reproducible(tmp_path):
    cfg = {
        "source": {"type": "synthetic", "n_per_class": 20, "size": 8, "seed": 0},
        "images": {"size": None},
        "validation_fraction": 0.25,
        "split_seed": 7,
    }
    m1 = run(tmp_path, cfg, name="a")[0]
    m2 = run(tmp_path, cfg, name="b")[0]
    m3 = run(tmp_path, {**cfg, "split_seed": 8}, name="c")[0]
    assert m1.groupby("label")["split"].value_counts().unstack().to_dict("index") == {
        lab: {"train": 15, "validation": 5} for lab in synthetic.CLASSES
    }
    assert m1["id"].tolist() == m2["id"].tolist()
    assert set(m1.loc[m1["split"] == "validation", "name"]) != set(m3.loc[m3["split"] == "validation", "name"])
    assert set(m1["id"]) == {f"{s}/{n}" for s, n in zip(m1["split"], m1["name"])}


def test_assign_split_rounds_per_class():
    from imagespace.ingest import Record

    recs = [Record("all", f"{lab}{i}", lab, lab) for lab, n in (("a", 10), ("b", 3)) for i in range(n)]
    assign_split(recs, 0.3, 0)
    val = [r.label for r in recs if r.split == "validation"]
    assert val.count("a") == 3 and val.count("b") == 1
    assert {r.split for r in recs} == {"train", "validation"}


def test_three_way_split_is_stratified_seeded_and_keeps_the_two_way_split():
    from imagespace.ingest import Record

    def recs():
        return [Record("all", f"{lab}{i}", lab, lab) for lab, n in (("a", 50), ("b", 20), ("c", 10)) for i in range(n)]

    three = recs()
    assign_split(three, 0.2, 3, test_fraction=0.2)
    for lab, n in (("a", 50), ("b", 20), ("c", 10)):
        got = [r.split for r in three if r.label == lab]
        assert got.count("test") == round(0.2 * n) and got.count("validation") == round(0.2 * n)  # of all images
    again = recs()
    assign_split(again, 0.2, 3, test_fraction=0.2)
    assert [r.split for r in again] == [r.split for r in three]
    # without a test fraction the split is exactly the two-way split it always was
    two, old = recs(), recs()
    assign_split(two, 0.2, 3)
    from imagespace.sampling import stratified_holdout

    old_val = stratified_holdout([r.label for r in old], 0.2, 3)
    assert [r.split == "validation" for r in two] == old_val.tolist()
    with pytest.raises(InputError, match="leaves no training images"):
        collect("x", {"source": {"type": "sklearn_digits"}, "validation_fraction": 0.5, "test_fraction": 0.5})


def test_npz_split_array(tmp_path):
    p = tmp_path / "s.npz"
    x = np.zeros((6, 4, 4), np.uint8)
    np.savez(p, x=x, y=np.arange(6) % 2, part=np.array(["train"] * 4 + ["test"] * 2))
    records, _ = collect("x", {"source": {"type": "npz", "path": str(p), "split_key": "part"}})
    assert [r.split for r in records] == ["train"] * 4 + ["test"] * 2
    with pytest.raises(InputError, match="split array 'fold' not in archive"):
        collect("x", {"source": {"type": "npz", "path": str(p), "split_key": "fold"}})


def test_npz_split_files_one_archive_per_split(tmp_path):
    """A training and a test archive with their own array names become splits train and test, one pixel scale."""
    np.savez(tmp_path / "tr.npz", x_tr=np.full((4, 3, 3), 0.5, np.float32), y_tr=np.array([0, 1, 0, 1]))
    np.savez(tmp_path / "te.npz", x_te=np.full((2, 3, 3), 1.0, np.float32), y_te=np.array([1, 0]))
    files = {
        "train": {"path": str(tmp_path / "tr.npz"), "images_key": "x_tr", "labels_key": "y_tr"},
        "test": {"path": str(tmp_path / "te.npz"), "images_key": "x_te", "labels_key": "y_te"},
    }
    records, _ = collect("x", {"source": {"type": "npz", "split_files": files, "class_names": ["a", "b"]}})
    assert [r.split for r in records] == ["train"] * 4 + ["test"] * 2
    assert [r.label for r in records] == ["a", "b", "a", "b", "b", "a"]
    assert len({r.name for r in records}) == 6
    # one scale for both archives: 0.5 is mid-grey next to the test archive's white
    assert {int(r.array.max()) for r in records} == {128, 255}
    with pytest.raises(InputError, match="split_files replaces source.path"):
        collect("x", {"source": {"type": "npz", "split_files": files, "path": str(tmp_path / "tr.npz")}})
    with pytest.raises(InputError, match=re.escape(str(tmp_path / "te.npz")) + ".*'x' not in archive"):
        collect("x", {"source": {"type": "npz", "split_files": {**files, "test": {"path": files["test"]["path"]}}}})
    np.savez(tmp_path / "big.npz", x=np.zeros((2, 4, 4), np.uint8), y=np.array([0, 1]))
    with pytest.raises(InputError, match="shapes"):
        collect("x", {"source": {"type": "npz", "split_files": {**files, "test": {"path": str(tmp_path / "big.npz")}}}})


def test_fashion_mnist_training_and_test_archives_thinned_on_train_only(tmp_path):
    """The 60,000 real training images next to the 10,000 test images: subsample {train: n} keeps n training
    images, the same number per class, and the whole test split."""
    source = {
        "type": "npz",
        "split_files": {
            "train": {"path": str(shared("fashion_mnist", "fashion_mnist_train.npz")), "images_key": "x_train"},
            "test": {"path": str(shared("fashion_mnist", "fashion_mnist_test.npz")), "images_key": "x_test"},
        },
        "labels_key": "y_train",
        "class_names_key": "class_names",
    }
    source["split_files"]["test"]["labels_key"] = "y_test"
    info = {}
    records, skips = collect("f", {"source": source, "subsample": {"train": 2000}}, info=info)
    counts = Counter((r.split, r.label) for r in records)
    assert {v for (s, _), v in counts.items() if s == "train"} == {200}
    assert {v for (s, _), v in counts.items() if s == "test"} == {1000}
    assert len(counts) == 20 and info["subsample_left_out"] == 58000
    assert len(skips) == 58000 and {s.split for s in skips} == {"train"}
    with pytest.raises(InputError, match=r"subsample names split\(s\) \['validation'\]"):
        collect("f", {"source": source, "subsample": {"validation": 10}})


# --------------------------------------------------------------------------- filename_labels: bad input, modes
@pytest.fixture
def messy_folder(tmp_path):
    """A folder with every image mode, junk files, unreadable files and label problems (all 8x8)."""
    d = tmp_path / "messy"
    d.mkdir()
    save(gray(40), d / "A_gray_01.png")
    save(Image.new("RGB", (8, 8), (200, 10, 30)), d / "A_rgb_01.png")
    rgba = Image.new("RGBA", (8, 8), (0, 0, 0, 0))  # fully transparent black
    rgba.putpixel((1, 1), (255, 0, 0, 255))
    rgba.putpixel((2, 2), (0, 0, 0, 128))
    save(rgba, d / "A_rgba_01.png")
    pal = Image.new("P", (8, 8), 0)
    pal.putpalette([0, 0, 255] + [0, 255, 0] + [0] * 762)
    pal.putpixel((0, 0), 1)
    save(pal, d / "B_palette_01.png")
    palt = pal.copy()
    save(palt, d / "B_palette trans_01.png", transparency=0)  # index 0 (blue) transparent
    i16 = Image.fromarray(np.array([[65535, 25700] * 4] * 8, dtype=np.uint16))
    assert i16.mode == "I;16"
    save(i16, d / "B_sixteen_01.png")
    la = Image.new("LA", (8, 8), (0, 0))
    la.putpixel((3, 3), (90, 255))
    save(la, d / "B_la_01.png")
    save(Image.new("1", (8, 8), 1), d / "B_bilevel_01.png")
    save(gray(77), d / "S_Bituminous Coal_07.png")
    # problems
    (d / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(100))
    (d / "notes.txt").write_text("hello")
    (d / "A_corrupt_01.png").write_bytes(b"this is not a png")
    (d / "A_empty_01.jpg").write_bytes(b"")
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        buf, "JPEG", quality=95
    )
    (d / "A_truncated_01.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    save(gray(5), d / "Q_unknown_01.png")
    save(gray(5), d / "nounderscore.png")
    return d


def messy_cfg(d, color="gray", **images):
    return {
        "source": {"type": "filename_labels", "root": str(d), "classes": ["A", "B", "S"]},
        "images": {"size": [8, 8], "color": color, **images},
    }


def test_bad_files_skipped_and_listed(tmp_path, messy_folder):
    manifest, images, skipped, info = run(tmp_path, messy_cfg(messy_folder))
    expected_kept = [
        "A_gray_01.png",
        "A_rgb_01.png",
        "A_rgba_01.png",
        "B_bilevel_01.png",
        "B_la_01.png",
        "B_palette trans_01.png",
        "B_palette_01.png",
        "B_sixteen_01.png",
        "S_Bituminous Coal_07.png",
    ]
    assert manifest["name"].tolist() == expected_kept  # code-point order
    assert images.shape == (9, 8, 8, 1)
    kinds = dict(zip(skipped["name"], skipped["kind"]))
    assert kinds == {
        ".DS_Store": "hidden",
        "notes.txt": "non_image",
        "A_corrupt_01.png": "unreadable",
        "A_empty_01.jpg": "unreadable",
        "A_truncated_01.jpg": "unreadable",
        "Q_unknown_01.png": "unknown_label",
        "nounderscore.png": "no_label",
    }
    assert "truncated" in skip_row(skipped, "A_truncated_01.jpg")["reason"]
    assert "cannot identify" in skip_row(skipped, "A_corrupt_01.png")["reason"]
    assert "'Q'" in skip_row(skipped, "Q_unknown_01.png")["reason"]
    assert skip_row(skipped, "A_corrupt_01.png")["path"] == str(messy_folder / "A_corrupt_01.png")
    # image files (even unreadable) count for sorted-filename joins; junk files do not
    flags = dict(zip(skipped["name"], skipped["is_image_file"]))
    assert flags[".DS_Store"] == "False" and flags["A_corrupt_01.png"] == "True" and flags["Q_unknown_01.png"] == "True"
    assert info["n_images"] == 9 and info["n_skipped"] == 7
    coal = manifest[manifest["name"] == "S_Bituminous Coal_07.png"].iloc[0]
    assert (coal["label"], coal["subtype"]) == ("S", "S_Bituminous Coal")


def test_on_error_fail_names_the_file(tmp_path, messy_folder):
    with pytest.raises(InputError, match=re.escape(str(messy_folder / "A_corrupt_01.png")) + ": unreadable image"):
        run(tmp_path, messy_cfg(messy_folder), on_error="fail")


def test_modes_gray_pixel_values(tmp_path, messy_folder):
    manifest, images, _, _ = run(tmp_path, messy_cfg(messy_folder))
    px = {n: a[:, :, 0] for n, a in by_name(manifest, images).items()}
    assert (px["A_gray_01.png"] == 40).all()
    assert (px["A_rgb_01.png"] == luma((200, 10, 30))).all()
    rgba = px["A_rgba_01.png"]
    assert rgba[0, 0] == 255 and rgba[7, 7] == 255  # transparent -> white background, not black
    assert rgba[1, 1] == luma((255, 0, 0))
    assert abs(int(rgba[2, 2]) - 127) <= 1  # half-transparent black over white
    assert px["B_palette_01.png"][0, 0] == luma((0, 255, 0)) and px["B_palette_01.png"][5, 5] == luma((0, 0, 255))
    assert px["B_palette trans_01.png"][5, 5] == 255 and px["B_palette trans_01.png"][0, 0] == luma((0, 255, 0))
    assert px["B_sixteen_01.png"][0, 0] == 255 and px["B_sixteen_01.png"][0, 1] == 100  # 16-bit 65535 -> 255
    assert px["B_la_01.png"][3, 3] == 90 and px["B_la_01.png"][0, 0] == 255
    assert (px["B_bilevel_01.png"] == 255).all()
    orig = dict(zip(manifest["name"], manifest["orig_mode"]))
    assert orig["B_sixteen_01.png"] == "I;16" and orig["B_palette_01.png"] == "P" and orig["A_rgba_01.png"] == "RGBA"


def test_modes_rgb_pixel_values(tmp_path, messy_folder):
    manifest, images, _, _ = run(tmp_path, messy_cfg(messy_folder, color="rgb"))
    assert images.shape == (9, 8, 8, 3)
    px = by_name(manifest, images)
    assert px["A_rgb_01.png"][4, 4].tolist() == [200, 10, 30]
    assert px["A_rgba_01.png"][0, 0].tolist() == [255, 255, 255] and px["A_rgba_01.png"][1, 1].tolist() == [255, 0, 0]
    assert px["B_palette trans_01.png"][5, 5].tolist() == [255, 255, 255]
    assert px["B_palette_01.png"][5, 5].tolist() == [0, 0, 255] and px["B_palette_01.png"][0, 0].tolist() == [0, 255, 0]
    assert px["B_sixteen_01.png"][0, 0].tolist() == [255, 255, 255] and px["A_gray_01.png"][0, 0].tolist() == [
        40,
        40,
        40,
    ]


def test_custom_background_for_transparency(tmp_path, messy_folder):
    manifest, images, _, _ = run(tmp_path, messy_cfg(messy_folder, color="rgb", background=[0, 128, 0]))
    px = by_name(manifest, images)
    assert px["A_rgba_01.png"][0, 0].tolist() == [0, 128, 0]


def test_gray_and_rgb_with_trns_chunk(tmp_path):
    """PNG tRNS on L/RGB images (one colour marked transparent) is composited onto the background too."""
    d = tmp_path / "trns"
    g = gray(0)
    g.putpixel((1, 1), 50)
    save(g, d / "A_g_01.png", transparency=0)
    c = Image.new("RGB", (8, 8), (10, 20, 30))
    c.putpixel((1, 1), (1, 2, 3))
    save(c, d / "A_c_01.png", transparency=(10, 20, 30))
    manifest, images, _, _ = run(
        tmp_path, {"source": {"type": "filename_labels", "root": str(d)}, "images": {"size": [8, 8], "color": "rgb"}}
    )
    px = by_name(manifest, images)
    assert px["A_g_01.png"][0, 0].tolist() == [255, 255, 255] and px["A_g_01.png"][1, 1].tolist() == [50, 50, 50]
    assert px["A_c_01.png"][0, 0].tolist() == [255, 255, 255] and px["A_c_01.png"][1, 1].tolist() == [1, 2, 3]


def test_skipped_images_leave_no_gap_in_array(tmp_path):
    """Each kept image's pixels are in the row given by its manifest index, also after compaction."""
    d = tmp_path / "gap"
    for i in range(12):
        save(gray(10 * i + 5), d / f"A_x_{i:02d}.png")
    for i in (0, 4, 5, 11):
        (d / f"A_x_{i:02d}.png").write_bytes(b"broken")
    manifest, images, skipped, _ = run(
        tmp_path, {"source": {"type": "filename_labels", "root": str(d)}, "images": {"size": [8, 8]}}, threads=3
    )
    assert images.shape == (8, 8, 8, 1)
    assert sorted(skipped["name"]) == [f"A_x_{i:02d}.png" for i in (0, 4, 5, 11)]
    for idx, name in zip(manifest["index"], manifest["name"]):
        i = int(name[4:6])
        assert (images[idx] == 10 * i + 5).all(), name


# --------------------------------------------------------------------------- sizes and resize modes
def bars_image():
    """40 wide x 20 high, white, with black 4-px bars at the left and right edges (the 'object')."""
    a = np.full((20, 40), 255, np.uint8)
    a[:, :4] = 0
    a[:, -4:] = 0
    return Image.fromarray(a)


@pytest.mark.parametrize("mode", ["stretch", "center_crop", "pad"])
def test_resize_modes_mixed_sizes(tmp_path, mode):
    d = tmp_path / "sizes"
    save(bars_image(), d / "A_wide_01.png")
    save(bars_image().transpose(Image.Transpose.ROTATE_90), d / "A_tall_01.png")
    save(gray(60, (3, 50)), d / "A_thin_01.png")
    save(gray(90, (20, 20)), d / "A_exact_01.png")
    cfg = {
        "source": {"type": "filename_labels", "root": str(d)},
        "images": {"size": [20, 20], "resize": mode, "resample": "nearest"},
    }
    manifest, images, skipped, _ = run(tmp_path, cfg)
    assert images.shape == (4, 20, 20, 1) and len(skipped) == 0
    px = {n: a[:, :, 0] for n, a in by_name(manifest, images).items()}
    assert (px["A_exact_01.png"] == 90).all()
    wide = px["A_wide_01.png"]
    if mode == "pad":
        # whole object kept (both bars), white borders above and below
        assert (wide[:5] == 255).all() and (wide[15:] == 255).all()
        assert (wide[5:15, :2] == 0).all() and (wide[5:15, -2:] == 0).all() and (wide[5:15, 5:15] == 255).all()
        assert (px["A_tall_01.png"][:, :5] == 255).all() and (px["A_tall_01.png"][:2, 5:15] == 0).all()
    elif mode == "center_crop":
        # the centre 20x20 of the wide image: bars cut away, no borders
        assert (wide == 255).all()
    else:
        # stretched: bars at both edges over the full height, no borders
        assert (wide[:, :2] == 0).all() and (wide[:, -2:] == 0).all() and (wide[:, 3:17] == 255).all()
    assert manifest.set_index("name").loc["A_wide_01.png", ["orig_width", "orig_height"]].tolist() == [40, 20]


@pytest.mark.parametrize("mode", ["stretch", "center_crop", "pad"])
@pytest.mark.parametrize("resample", ["lanczos", "bilinear"])
def test_image_at_target_size_is_bit_identical(tmp_path, mode, resample):
    d = tmp_path / "exact"
    rgb = np.random.default_rng(1).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    save(Image.fromarray(rgb), d / "A_noise_01.png")
    save(Image.fromarray(rgb[:, :, 0]), d / "A_noisegray_01.png")
    cfg = {
        "source": {"type": "filename_labels", "root": str(d)},
        "images": {"size": [12, 16], "color": "rgb", "resize": mode, "resample": resample},
    }
    manifest, images, _, _ = run(tmp_path, cfg)
    px = by_name(manifest, images)
    np.testing.assert_array_equal(px["A_noise_01.png"], rgb)
    np.testing.assert_array_equal(px["A_noisegray_01.png"], np.repeat(rgb[:, :, :1], 3, axis=2))


def test_pad_gray_border_uses_background_luma():
    img = Image.new("RGB", (20, 10), (0, 0, 0))
    out = resize(normalise_mode(img, "gray"), (20, 20), "pad", "nearest", background=(255, 0, 0))
    a = np.asarray(out)
    assert a[0, 0] == luma((255, 0, 0)) and a[10, 10] == 0


def test_native_size_mismatch_skipped_and_first_unreadable_ok(tmp_path):
    """size: null keeps native size; other sizes are skipped and listed, an unreadable first file does not stop
    ingest."""
    d = tmp_path / "native"
    (d).mkdir()
    (d / "A_a_00.png").write_bytes(b"broken")  # sorts first
    save(gray(1, (6, 4)), d / "A_b_01.png")
    save(gray(2, (6, 4)), d / "A_c_01.png")
    save(gray(3, (5, 5)), d / "A_d_01.png")
    manifest, images, skipped, info = run(
        tmp_path, {"source": {"type": "filename_labels", "root": str(d)}, "images": {"size": None}}
    )
    assert images.shape == (2, 4, 6, 1) and manifest["name"].tolist() == ["A_b_01.png", "A_c_01.png"]
    assert dict(zip(skipped["name"], skipped["kind"])) == {"A_a_00.png": "unreadable", "A_d_01.png": "unreadable"}
    assert "(5, 5, 1) differs" in skip_row(skipped, "A_d_01.png")["reason"]


def test_exif_orientation_applied(tmp_path):
    d = tmp_path / "exif"
    a = np.zeros((4, 8, 3), np.uint8)
    a[:, :4] = 255  # left half white
    img = Image.fromarray(a)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    save(img, d / "A_rot_01.png", exif=exif.tobytes())
    base = {"source": {"type": "filename_labels", "root": str(d)}}
    m, images, _, _ = run(tmp_path, {**base, "images": {"size": None, "color": "rgb"}}, name="t")
    assert images.shape == (1, 8, 4, 3) and (m["orig_width"][0], m["orig_height"][0]) == (8, 4)
    _, raw, _, _ = run(tmp_path, {**base, "images": {"size": None, "color": "rgb", "exif_transpose": False}}, name="f")
    assert raw.shape == (1, 4, 8, 3)


# --------------------------------------------------------------------------- folder problems
def test_empty_split_folder_is_hard_error(tmp_path):
    good, empty, junk = tmp_path / "train", tmp_path / "val", tmp_path / "junk"
    save(gray(1), good / "A_x_01.png")
    empty.mkdir()
    junk.mkdir()
    (junk / ".DS_Store").write_bytes(b"x")
    for folder in (empty, junk):
        src = {"type": "filename_labels", "splits": {"train": str(good), "validation": str(folder)}}
        with pytest.raises(InputError, match=re.escape(str(folder)) + ".*no image files.*'validation'"):
            collect("ds", {"source": src})
    with pytest.raises(InputError, match=re.escape(str(tmp_path / "absent")) + ".*does not exist"):
        collect(
            "ds", {"source": {"type": "filename_labels", "splits": {"train": str(good), "v": str(tmp_path / "absent")}}}
        )


def test_label_regex_and_unknown_classes(tmp_path):
    d = tmp_path / "re"
    for name in ("cat-01-a.png", "dog-02-b.png", "cow-03-c.png", "weird.png"):
        save(gray(9), d / name)
    src = {
        "type": "filename_labels",
        "root": str(d),
        "label_regex": r"^(?P<label>[a-z]+)-(?P<subtype>\d+)",
        "classes": ["cat", "dog"],
    }
    records, skips = collect("ds", {"source": src})
    assert [(r.label, r.subtype) for r in records] == [("cat", "01"), ("dog", "02")]
    assert {s.name: s.kind for s in skips} == {"cow-03-c.png": "unknown_label", "weird.png": "no_label"}


# --------------------------------------------------------------------------- class folders
def test_class_folders(tmp_path):
    root = tmp_path / "shapes"
    names = synthetic.write_folder(root, n_per_class=3, size=16, seed=2)
    (root / "circle" / ".DS_Store").write_bytes(b"x")
    (root / "stray.png").write_bytes(b"x")
    (root / "empty_class").mkdir()
    save(gray(3, (16, 16)), root / "hexagon" / "hexagon_0000.png")
    src = {"type": "class_folders", "root": str(root), "classes": list(synthetic.CLASSES)}
    manifest, images, skipped, _ = run(tmp_path, {"source": src, "images": {"size": None, "color": "rgb"}})
    assert len(manifest) == len(names) == 9 and images.shape == (9, 16, 16, 3)
    assert (manifest["label"] == manifest["name"].str.split("/").str[0]).all()
    assert (manifest["subtype"] == manifest["label"]).all()
    assert dict(zip(skipped["name"], skipped["kind"])) == {
        "stray.png": "no_label",
        "circle/.DS_Store": "hidden",
        "empty_class/": "empty_folder",
        "hexagon/hexagon_0000.png": "unknown_label",
    }
    g = synthetic.generate(n_per_class=3, size=16, seed=2)
    ref = {f"{lab}/{n}": img for lab, n, img in zip(g["labels"], g["names"], g["images"])}
    for idx, name in zip(manifest["index"], manifest["name"]):
        np.testing.assert_array_equal(images[idx], ref[name])


def test_class_folders_split_without_images_is_hard_error(tmp_path):
    good, bad = tmp_path / "train", tmp_path / "val"
    save(gray(1), good / "a" / "x.png")
    (bad / "a").mkdir(parents=True)
    (bad / "b").mkdir(parents=True)
    (bad / "a" / "notes.txt").write_text("x")
    src = {"type": "class_folders", "splits": {"train": str(good), "validation": str(bad)}}
    with pytest.raises(InputError, match=re.escape(str(bad)) + ".*'validation'"):
        collect("ds", {"source": src})
    (bad / "b" / "y.png").write_bytes(b"x")  # an image file (even a broken one) makes the split non-empty
    records, _ = collect("ds", {"source": src})
    assert [r.id for r in records] == ["train/a/x.png", "validation/b/y.png"]
    flat = tmp_path / "flat"
    save(gray(1), flat / "x.png")
    with pytest.raises(InputError, match=re.escape(str(flat)) + ".*no class subfolders"):
        collect("ds", {"source": {"type": "class_folders", "root": str(flat)}})


# --------------------------------------------------------------------------- pixel CSV
def write_pixel_csv(tmp_path, pixels, labels, ids=None, id_col="id"):
    n_pix = pixels.shape[1]
    pix = pd.DataFrame(pixels, columns=[f"p{i}" for i in range(n_pix)])
    lab = pd.DataFrame({"label": labels})
    if ids is not None:
        pix.insert(0, id_col, ids)
        lab.insert(0, id_col, ids[::-1])
        lab["label"] = list(labels)[::-1]
    p, lp = tmp_path / "pixels.csv", tmp_path / "labels.csv"
    pix.to_csv(p, index=False)
    lab.to_csv(lp, index=False)
    return p, lp


def test_pixel_csv(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (5, 12))
    pixels[3] = 1  # a dim image stays dim (scale is per dataset, not per image)
    p, lp = write_pixel_csv(tmp_path, pixels, ["a", "b", "a", "b", "c"])
    cfg = {
        "source": {"type": "pixel_csv", "path": str(p), "labels_path": str(lp), "shape": [3, 4]},
        "images": {"size": None},
    }
    manifest, images, skipped, _ = run(tmp_path, cfg)
    assert images.shape == (5, 3, 4, 1) and len(skipped) == 0
    np.testing.assert_array_equal(images[:, :, :, 0], pixels.reshape(5, 3, 4))
    assert manifest["label"].tolist() == ["a", "b", "a", "b", "c"]
    assert manifest["name"].tolist() == [f"{i:06d}" for i in range(5)]


def test_pixel_csv_rgb_shape_and_bad_rows(tmp_path):
    pixels = np.arange(4 * 2 * 2 * 3).reshape(4, 12).astype(float)
    p, lp = write_pixel_csv(tmp_path, pixels, ["x", "", "y", "y"])
    text = p.read_text().splitlines()
    text[3] = text[3].replace(text[3].split(",")[2], "oops", 1)  # data row 3: non-numeric
    p.write_text("\n".join(text) + "\n")
    cfg = {
        "source": {"type": "pixel_csv", "path": str(p), "labels_path": str(lp), "shape": [2, 2, 3]},
        "images": {"size": None, "color": "rgb"},
    }
    manifest, images, skipped, _ = run(tmp_path, cfg)
    assert manifest["name"].tolist() == ["000000", "000003"]
    np.testing.assert_array_equal(images[1], pixels[3].reshape(2, 2, 3))
    kinds = dict(zip(skipped["name"], skipped["kind"]))
    assert kinds == {"000001": "missing_label", "000002": "bad_row"}
    assert "data row 3" in skip_row(skipped, "000002")["reason"] and str(p) in skip_row(skipped, "000002")["reason"]


def test_pixel_csv_errors_and_id_join(tmp_path):
    pixels = np.arange(3 * 4).reshape(3, 4) * 20
    p, lp = write_pixel_csv(tmp_path, pixels, ["a", "b", "c"], ids=["001", "002", "010"])
    src = {"type": "pixel_csv", "path": str(p), "labels_path": str(lp), "shape": [2, 2], "id_column": "id"}
    manifest, images, _, _ = run(tmp_path, {"source": src, "images": {"size": None}})
    assert manifest["name"].tolist() == ["001", "002", "010"]  # ids kept as text (leading zeros)
    assert manifest["label"].tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(images[2, :, :, 0], pixels[2].reshape(2, 2))
    with pytest.raises(InputError, match=re.escape(str(p)) + ".*4 pixel columns.*needs 9"):
        collect("x", {"source": {**src, "shape": [3, 3]}})
    lp.write_text("label\na\nb\n")
    with pytest.raises(InputError, match=re.escape(str(lp)) + ".*2 label rows.*3 pixel rows"):
        collect("x", {"source": {k: v for k, v in src.items() if k != "id_column"}})
    with pytest.raises(InputError, match=re.escape(str(lp)) + ".*id column 'id' not found"):
        collect("x", {"source": src})
    lp.write_text("id,label\n001,a\n001,b\n")
    with pytest.raises(InputError, match=re.escape(str(lp)) + ".*duplicate ids"):
        collect("x", {"source": src})


def test_from_array_dtypes():
    assert from_array(np.full((2, 2), 1.0), None, "gray", "pad", "nearest")[0, 0, 0] == 255
    assert from_array(np.full((2, 2), 77, np.uint8), None, "rgb", "pad", "nearest")[0, 0].tolist() == [77, 77, 77]
    assert from_array(np.full((2, 2, 1), 9, np.uint8), (4, 4), "gray", "stretch", "nearest").shape == (4, 4, 1)


def test_unknown_source_type():
    with pytest.raises(InputError, match="unknown source type 'tarball'"):
        collect("x", {"source": {"type": "tarball"}})


def test_csv_manifest_line_numbers_with_blank_lines_and_bom(tmp_path):
    img_dir = tmp_path / "imgs"
    save(gray(10), img_dir / "a.png")
    save(gray(20), img_dir / "b.png")
    csv = tmp_path / "m.csv"
    csv.write_bytes("\ufefffile,label\r\na.png,x\r\n\r\n\r\nmissing.png,y\r\nb.png,\r\n\r\n".encode("utf-8"))
    src = {
        "type": "csv_manifest",
        "csv": str(csv),
        "image_dir": str(img_dir),
        "file_column": "file",
        "label_column": "label",
    }
    records, skips = collect("x", {"source": src})
    assert [(r.name, r.label) for r in records] == [("a.png", "x")]
    assert [(s.kind, s.reason) for s in skips] == [
        ("missing_file", f"{csv} line 5: image file not found"),
        ("missing_label", f"{csv} line 6: label column 'label' is empty"),
    ]


def test_upscale_small_enlarges_by_integer_factors_and_never_beyond(tmp_path):
    """images.upscale_small (pad): the seed's "x4 under 100 px, x2 under 200 px", then shrink to fit, pad."""
    from imagespace.images import resize

    def content_box(img):  # (height, width) of the dark object on the white padding
        a = np.asarray(img)
        rows, cols = np.flatnonzero((a < 128).any(axis=1)), np.flatnonzero((a < 128).any(axis=0))
        return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1

    rules = [[16, 4], [32, 2]]
    black = lambda w, h: Image.new("L", (w, h), 0)  # noqa: E731
    assert content_box(resize(black(12, 8), (64, 64), "pad", "nearest", upscale_small=rules)) == (32, 48)  # x4
    assert content_box(resize(black(30, 20), (64, 64), "pad", "nearest", upscale_small=rules)) == (40, 60)  # x2
    assert content_box(resize(black(50, 20), (64, 64), "pad", "nearest", upscale_small=rules)) == (20, 50)  # kept
    assert content_box(resize(black(28, 12), (64, 32), "pad", "nearest", upscale_small=rules)) == (
        14,
        32,
    )  # x2 = 56 x 24, shrunk: 32 x 13.7
    assert content_box(resize(black(50, 20), (64, 64), "pad", "nearest")) == (26, 64)  # without it: scaled to fit
    # through ingest: the option is part of the images block
    d = tmp_path / "imgs"
    (d / "a").mkdir(parents=True)
    black(30, 20).save(d / "a" / "small.png")
    Image.new("L", (60, 40), 0).save(d / "a" / "large.png")
    cfg = {
        "source": {"type": "class_folders", "root": str(d)},
        "duplicates": {"check": False},
        "images": {"size": [64, 64], "resize": "pad", "resample": "nearest", "upscale_small": [[32, 2]]},
    }
    manifest, images, _, info = run(tmp_path, cfg)
    boxes = {n: content_box(images[i][:, :, 0]) for i, n in enumerate(manifest["name"])}
    assert boxes == {"a/large.png": (40, 60), "a/small.png": (40, 60)}
    assert info["image_options"]["upscale_small"] == [[32.0, 2]]


def test_the_older_call_form_writes_the_same_files(tmp_path):
    """ingest(dataset, cfg, manifest, images, skipped[, info], out_duplicates=...) (the call form before
    IngestOutputs) and ingest(dataset, cfg, IngestOutputs(...)) write byte-identical files."""
    cfg = {"source": {"type": "synthetic", "n_per_class": 5, "size": 12, "seed": 1}, "validation_fraction": 0.2}
    cfg["duplicates"] = {"check": True}
    names = ("manifest.tsv", "images.npy", "skipped.tsv", "info.json", "duplicates.tsv")
    new, old = tmp_path / "new", tmp_path / "old"
    ING.ingest(
        "d", cfg, ING.IngestOutputs(*(new / n for n in names[:3]), info=new / names[3], duplicates=new / names[4])
    )
    ING.ingest("d", cfg, *(old / n for n in names[:4]), out_duplicates=old / names[4])
    for n in names:
        assert (new / n).read_bytes() == (old / n).read_bytes(), n
    assert (new / "images.npy").stat().st_size > 5 * 3 * 12 * 12 * 3  # a real array, not two empty files
