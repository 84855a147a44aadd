"""The benchmark tools' own arithmetic (the harness runs are not unit tests; see benchmarks/README.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import profile_job  # noqa: E402


def test_profile_parts_count_a_sample_once_however_deep_the_frame_recurs(tmp_path):
    raw = tmp_path / "p.txt"
    raw.write_text(
        "process 1:main;<module> (a.py:1);train (cnn.py:3);TensorFlowTrainer.fit (t.py:9);"
        "train (cnn.py:3);op (x.py:1) 100\n"
        "process 1:main;<module> (a.py:1);train (cnn.py:3);_save_atomic (cnn.py:7);write (zipfile.py:1) 50\n"
        "process 1:main;<module> (a.py:1);_find_and_load (<frozen>:1);exec (<frozen>:2) 25\n"
        "not a sample line\n"
    )
    sampled, parts, leaves = profile_job.parse(raw)
    rate = profile_job.RATE
    assert sampled == 175 / rate
    assert parts["training loop (imagespace.cnn.train)"] == round(150 / rate, 1)  # recursion counted once
    assert parts["keras fit (Python side)"] == round(100 / rate, 1)
    assert parts["per-epoch checkpoint (_save_atomic)"] == round(50 / rate, 1)
    assert parts["imports (_find_and_load)"] == round(25 / rate, 1)
    assert "validation in inference mode (validation_scores)" not in parts
    assert list(leaves)[0] == "op (x.py:1)" and leaves["op (x.py:1)"] == round(100 / rate, 2)


def test_same_numbers_finds_changed_numbers_and_leaves_out_timing_fields():
    from same_numbers import differences

    before = {"probes": [{"fs": "pca", "accuracy": 0.8}], "wall_s": 3.0, "n": 10, "timing": {"x": 1.0}}
    assert differences(before, json.loads(json.dumps(before))) == []
    near = {**before, "probes": [{"fs": "pca", "accuracy": 0.8 * (1 + 1e-12)}], "wall_s": 99.0, "timing": {"x": 5}}
    assert differences(before, near) == []
    changed = {**before, "probes": [{"fs": "pca", "accuracy": 0.81}], "n": 11}
    assert differences(before, changed) == ["n: 10 != 11", "probes[0].accuracy: 0.8 != 0.81"]
    assert differences(before, {**before, "extra": 1}) == ["extra: only in after"]
