"""pixel_csv (and npz) sources: class names from the config, one pixel/label file pair per split
(``split_files``) with one pixel scale for the whole dataset, and the config validation of both keys.

Every input is generated in pytest's tmp_path.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from imagespace import config as iscfg
from imagespace import ingest as ING
from imagespace.io import InputError, load_images, load_manifest

ROOT = Path(__file__).resolve().parents[1]
SHAPE = [2, 3]


# --------------------------------------------------------------------------- helpers
def write_pair(folder: Path, stem: str, pixels, labels, ids=None) -> dict:
    """x_<stem>.csv (one row of pixel values per image) and y_<stem>.csv (labels); returns {path, labels_path}."""
    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.asarray(pixels)
    pix = pd.DataFrame(
        pixels.reshape(len(pixels), -1), columns=[f"p{i}" for i in range(int(np.prod(pixels.shape[1:])))]
    )
    lab = pd.DataFrame({"label": list(labels)})
    if ids is not None:
        pix.insert(0, "id", ids)
        lab.insert(0, "id", ids)
    p, lp = folder / f"x_{stem}.csv", folder / f"y_{stem}.csv"
    pix.to_csv(p, index=False)
    lab.to_csv(lp, index=False)
    return {"path": str(p), "labels_path": str(lp)}


def run(tmp_path, ds_cfg, name="ds"):
    """Ingest into tmp_path/out_<name>; (manifest, images, skipped, info) read back from disk."""
    out = tmp_path / f"out_{name}"
    ING.ingest(name, ds_cfg, out / "manifest.tsv", out / "images.npy", out / "skipped.tsv", out / "info.json")
    skipped = pd.read_csv(out / "skipped.tsv", sep="\t", dtype=str, keep_default_na=False)
    return (
        load_manifest(out / "manifest.tsv"),
        load_images(out / "images.npy"),
        skipped,
        json.loads((out / "info.json").read_text()),
    )


def single(tmp_path, labels, **src):
    rng = np.random.default_rng(1)
    pair = write_pair(tmp_path / "data", "all", rng.integers(0, 256, (len(labels), 6)), labels)
    return {"source": {"type": "pixel_csv", **pair, "shape": SHAPE, **src}, "images": {"size": None}}


# --------------------------------------------------------------------------- class names
def test_class_names_from_a_list_reach_the_manifest(tmp_path):
    # label values as written by different tools: "1", "2.0", " 0"
    cfg = single(tmp_path, ["0", "1", "2.0", " 0", "1"], class_names=["zero", "one", "two"])
    manifest, _, skipped, _ = run(tmp_path, cfg)
    assert len(skipped) == 0
    assert manifest["label"].tolist() == ["zero", "one", "two", "zero", "one"]
    assert manifest["subtype"].tolist() == manifest["label"].tolist()


def test_class_names_from_a_mapping_with_yaml_int_and_text_keys(tmp_path):
    names = yaml.safe_load("{0: T-shirt, 1: trouser, '3': dress, 4.0: coat}")
    assert 0 in names and "3" in names  # YAML gives int keys and text keys
    cfg = single(tmp_path, [3, 0, 1, 4, 3.0], class_names=names)
    manifest, _, _, _ = run(tmp_path, cfg)
    assert manifest["label"].tolist() == ["dress", "T-shirt", "trouser", "coat", "dress"]
    records, _ = ING.collect("ds", cfg)  # the same through collect alone
    assert [r.label for r in records] == ["dress", "T-shirt", "trouser", "coat", "dress"]


def test_label_without_a_name_is_an_error_naming_file_value_and_names(tmp_path):
    cfg = single(tmp_path, ["0", "1", "7", "1"], class_names=["zero", "one"])
    lpath = cfg["source"]["labels_path"]
    with pytest.raises(InputError, match=re.escape(lpath) + r".*'7'.*\['zero', 'one'\]"):
        ING.collect("ds", cfg)
    cfg["source"]["class_names"] = {0: "zero", 1: "one", "seven": "7"}
    with pytest.raises(InputError, match=re.escape(lpath) + r".*'7'.*'seven'"):
        ING.collect("ds", cfg)
    cfg["source"]["class_names"] = {1: "one", "1.0": "uno"}
    with pytest.raises(InputError, match=r"class_names gives label .* two names, 'one' and 'uno'"):
        ING.collect("ds", cfg)


def test_npz_class_names_from_config_and_not_together_with_the_key(tmp_path):
    p = tmp_path / "a.npz"
    np.savez(p, x=np.zeros((3, 2, 2), np.uint8), y=np.array([2, 0, 2]), names=np.array(["a", "b", "c"]))
    records, _ = ING.collect("x", {"source": {"type": "npz", "path": str(p), "class_names": {0: "zero", "2": "two"}}})
    assert [r.label for r in records] == ["two", "zero", "two"]
    records, _ = ING.collect("x", {"source": {"type": "npz", "path": str(p), "class_names_key": "names"}})
    assert [r.label for r in records] == ["c", "a", "c"]
    with pytest.raises(InputError, match="class_names and source.class_names_key both"):
        ING.collect("x", {"source": {"type": "npz", "path": str(p), "class_names_key": "names", "class_names": ["a"]}})
    with pytest.raises(InputError, match=re.escape(str(p)) + r".*'y'.*'2'.*no name"):
        ING.collect("x", {"source": {"type": "npz", "path": str(p), "class_names": ["zero", "one"]}})


# --------------------------------------------------------------------------- one file pair per split
def test_split_files_train_and_test(tmp_path):
    rng = np.random.default_rng(0)
    x_train, x_test = rng.integers(0, 256, (5, 6)), rng.integers(0, 256, (3, 6))
    y_train, y_test = [0, 1, 2, 1, 0], [2, 2, 1]
    sf = {
        "train": write_pair(tmp_path / "d", "train", x_train, y_train),
        "test": write_pair(tmp_path / "d", "test", x_test, y_test),
    }
    cfg = {
        "source": {"type": "pixel_csv", "split_files": sf, "shape": SHAPE, "class_names": ["a", "b", "c"]},
        "images": {"size": None},
    }
    manifest, images, skipped, _ = run(tmp_path, cfg)
    assert len(skipped) == 0
    assert manifest["split"].value_counts().to_dict() == {"train": 5, "test": 3}
    assert manifest["split"].tolist() == ["train"] * 5 + ["test"] * 3  # train before test
    assert manifest["name"].tolist() == [f"{i:06d}" for i in range(5)] + [f"{i:06d}" for i in range(3)]
    assert manifest["id"].is_unique
    assert manifest["label"].tolist() == ["a", "b", "c", "b", "a", "c", "c", "b"]
    assert images.dtype == np.uint8 and images.shape == (8, 2, 3, 1)
    np.testing.assert_array_equal(images[:5, :, :, 0], x_train.reshape(5, 2, 3))
    np.testing.assert_array_equal(images[5:, :, :, 0], x_test.reshape(3, 2, 3))
    # every file is an input of the ingest rule
    assert sorted(ING.source_data_files(cfg["source"])) == sorted([*sf["train"].values(), *sf["test"].values()])


def test_split_files_with_ids_names_are_unique_per_split(tmp_path):
    px = np.arange(12).reshape(2, 6)
    sf = {
        "train": write_pair(tmp_path / "d", "train", px, ["x", "y"], ids=["007", "008"]),
        "test": write_pair(tmp_path / "d", "test", px + 100, ["y", "y"], ids=["007", "009"]),
    }  # 007 in both splits: fine
    records, _ = ING.collect(
        "ds", {"source": {"type": "pixel_csv", "split_files": sf, "shape": SHAPE, "id_column": "id"}}
    )
    assert [r.id for r in records] == ["train/007", "train/008", "test/007", "test/009"]
    np.testing.assert_array_equal(records[2].array, (px[0] + 100).reshape(2, 3))


def test_one_pixel_scale_for_all_split_files(tmp_path):
    # train happens to stay within 0..1 (dark images, whole numbers), test spans 0..255:
    # scaled file by file, train would be multiplied by 255
    x_train = np.array([[0, 1, 1, 0, 1, 0], [1, 1, 1, 1, 0, 0]])
    x_test = np.array([[0, 128, 255, 3, 4, 5]])
    sf = {
        "train": write_pair(tmp_path / "a", "train", x_train, [0, 1]),
        "test": write_pair(tmp_path / "a", "test", x_test, [1]),
    }
    records, _ = ING.collect("ds", {"source": {"type": "pixel_csv", "split_files": sf, "shape": SHAPE}})
    got = {r.id: r.array.ravel() for r in records}
    np.testing.assert_array_equal(got["train/000000"], x_train[0])
    np.testing.assert_array_equal(got["train/000001"], x_train[1])
    np.testing.assert_array_equal(got["test/000000"], x_test[0])
    assert ING.to_uint8(x_train.astype(float), "train alone").max() == 255  # what a per-file scale would have done
    # float images in 0..1 in both files: both multiplied by 255
    sf = {
        "train": write_pair(tmp_path / "b", "train", [[0.0, 0.5, 1.0, 0.2, 0.4, 0.6]], [0]),
        "test": write_pair(tmp_path / "b", "test", [[0.1, 0.3, 0.9, 0.0, 0.0, 0.0]], [0]),
    }
    records, _ = ING.collect("ds", {"source": {"type": "pixel_csv", "split_files": sf, "shape": SHAPE}})
    np.testing.assert_array_equal(records[0].array.ravel(), [0, 128, 255, 51, 102, 153])
    np.testing.assert_array_equal(records[1].array.ravel(), [26, 76, 230, 0, 0, 0])
    # one file with a negative value: one linear map from the joint range [-1, 3]
    sf = {
        "train": write_pair(tmp_path / "c", "train", [[-1, 0, 1, 1, 1, 1]], [0]),
        "test": write_pair(tmp_path / "c", "test", [[3, 3, 3, 1, 1, 1]], [0]),
    }
    records, _ = ING.collect("ds", {"source": {"type": "pixel_csv", "split_files": sf, "shape": SHAPE}})
    np.testing.assert_array_equal(records[0].array.ravel(), [0, 64, 128, 128, 128, 128])
    np.testing.assert_array_equal(records[1].array.ravel(), [255, 255, 255, 128, 128, 128])


def test_split_pair_with_different_row_counts_names_the_file(tmp_path):
    sf = {
        "train": write_pair(tmp_path, "train", np.zeros((3, 6)), [0, 1, 0]),
        "test": write_pair(tmp_path, "test", np.zeros((2, 6)), [0, 1]),
    }
    Path(sf["test"]["labels_path"]).write_text("label\n0\n1\n1\n")
    with pytest.raises(
        InputError,
        match=re.escape(sf["test"]["labels_path"]) + ".*3 label rows.*" + re.escape(sf["test"]["path"]) + ".*2 pixel",
    ):
        ING.collect("ds", {"source": {"type": "pixel_csv", "split_files": sf, "shape": SHAPE}})
    missing = {**sf, "test": {**sf["test"], "path": str(tmp_path / "nope.csv")}}
    with pytest.raises(InputError, match=re.escape(str(tmp_path / "nope.csv")) + ".*split 'test'.*does not exist"):
        ING.collect("ds", {"source": {"type": "pixel_csv", "split_files": missing, "shape": SHAPE}})


def test_bad_rows_of_a_split_file_are_skipped_in_that_split(tmp_path):
    sf = {
        "train": write_pair(tmp_path, "train", np.ones((2, 6)), [0, 1]),
        "test": write_pair(tmp_path, "test", np.ones((2, 6)), [0, ""]),
    }
    records, skips = ING.collect("ds", {"source": {"type": "pixel_csv", "split_files": sf, "shape": SHAPE}})
    assert [r.id for r in records] == ["train/000000", "train/000001", "test/000000"]
    assert [(s.split, s.name, s.kind) for s in skips] == [("test", "000001", "missing_label")]


def test_path_and_split_files_are_alternatives(tmp_path):
    pair = write_pair(tmp_path, "all", np.zeros((2, 6)), [0, 1])
    with pytest.raises(
        InputError, match=r"dataset 'ds'.*split_files replaces.*remove source.path and source.labels_path"
    ):
        ING.collect("ds", {"source": {"type": "pixel_csv", **pair, "split_files": {"train": pair}, "shape": SHAPE}})
    with pytest.raises(
        InputError, match=r"dataset 'ds'.*needs source.path and source.labels_path, or source.split_files"
    ):
        ING.collect("ds", {"source": {"type": "pixel_csv", "shape": SHAPE}})
    with pytest.raises(InputError, match=r"dataset 'ds'.*source.labels_path missing"):
        ING.collect("ds", {"source": {"type": "pixel_csv", "path": pair["path"], "shape": SHAPE}})
    with pytest.raises(InputError, match=r"dataset 'ds'.*source.split_files.test needs labels_path"):
        ING.collect(
            "ds",
            {
                "source": {
                    "type": "pixel_csv",
                    "split_files": {"train": pair, "test": {"path": pair["path"]}},
                    "shape": SHAPE,
                }
            },
        )
    assert ING.source_data_files({"type": "pixel_csv", **pair}) == [pair["path"], pair["labels_path"]]


# --------------------------------------------------------------------------- config validation
def _config(source: dict) -> dict:
    with open(ROOT / "config.yaml", encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh)
    cfg["datasets"]["pix"] = {"source": source, "images": {"size": None}}
    return cfg


def test_config_validation_accepts_split_files_and_class_names_and_names_a_typo():
    source = yaml.safe_load("""
        type: pixel_csv
        shape: [28, 28]
        label_column: label
        class_names: {0: T-shirt, 1: trouser, 2: pullover}
        split_files:
          train: {path: x_train.csv, labels_path: y_train.csv}
          test: {path: x_test.csv, labels_path: y_test.csv}
    """)
    cfg = iscfg.validate(_config(copy.deepcopy(source)))
    assert cfg["datasets"]["pix"]["source"]["split_files"]["test"] == {
        "path": "x_test.csv",
        "labels_path": "y_test.csv",
    }
    assert cfg["datasets"]["pix"]["source"]["class_names"][1] == "trouser"
    iscfg.validate(_config({**source, "class_names": ["T-shirt", "trouser", "pullover"]}))
    bad = copy.deepcopy(source)
    bad["split_files"]["train"] = {"path": "x_train.csv", "label_path": "y_train.csv"}
    with pytest.raises(iscfg.ConfigError) as exc:
        iscfg.validate(_config(bad))
    assert "datasets.pix.source.split_files.train.label_path: unknown key; did you mean `labels_path`?" in str(
        exc.value
    )
    bad["split_files"]["train"] = {"path": "x_train.csv"}
    with pytest.raises(
        iscfg.ConfigError, match=r"datasets.pix.source.split_files.train: 'labels_path' is a required property"
    ):
        iscfg.validate(_config(bad))
