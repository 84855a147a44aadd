"""Atomic writes and feature-set I/O."""

import numpy as np
import pytest

from imagespace.util import FeatureSet, atomic_path, load_features, save_features, write_json


def test_failed_write_leaves_neither_partial_file_nor_temp(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("killed")
    assert target.read_text().strip().startswith("{") and "partial" not in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_feature_sets_roundtrip_and_join_by_id(tmp_path):
    X = np.arange(12, dtype=float).reshape(4, 3)
    save_features(tmp_path / "f.npz", X, ["a", "b", "c", "d"], kind="test")
    fs = load_features(tmp_path / "f.npz")
    assert fs.meta == {"kind": "test"} and fs.X.dtype == np.float32
    np.testing.assert_array_equal(fs.rows(["c", "a"]), X[[2, 0]])
    with pytest.raises(KeyError, match="not in feature set"):
        fs.rows(["a", "zzz"])
    with pytest.raises(ValueError, match="duplicate"):
        FeatureSet(X[:2], ["a", "a"])
