"""Atomic writes and feature-set I/O."""

from pathlib import Path

import numpy as np
import pytest

from imagespace.io import FeatureFile, atomic_path, load_features, save_features, write_json


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
        FeatureFile(X[:2], ["a", "a"])


def test_pool_workers_die_with_a_killed_parent(tmp_path):
    # a job killed by pid (SIGKILL, no chance to clean up) must not leave its pool's workers behind
    import os
    import signal
    import subprocess
    import sys

    import psutil

    code = (
        "import os, sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[1] / 'scripts')!r})\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from imagespace.io import die_with_parent\n"
        "pool = ProcessPoolExecutor(2, initializer=die_with_parent, initargs=(os.getpid(),))\n"
        "futs = [pool.submit(time.sleep, 120) for _ in range(2)]\n"
        "time.sleep(1.5)\n"
        "print(' '.join(str(p) for p in pool._processes), flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    workers = [psutil.Process(int(p)) for p in parent.stdout.readline().split()]
    assert len(workers) == 2 and all(w.is_running() for w in workers)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    gone, alive = psutil.wait_procs(workers, timeout=10)
    for w in alive:
        w.kill()
    assert not alive, f"workers {[w.pid for w in alive]} outlived their killed parent"


def _square(x):
    return x * x


def test_process_map_keeps_task_order_and_counts_progress(caplog):
    import logging
    import time

    from imagespace.io import Progress, process_map

    tasks = [3, 1, 4, 1, 5, 9, 2, 6]
    with caplog.at_level(logging.INFO, logger="imagespace"):
        with Progress("squares", sum(tasks), every=0.0) as prog:
            out = process_map(_square, tasks, n_jobs=2, costs=tasks, progress=prog)
    n_lines = len(caplog.records)
    time.sleep(0.3)  # closed: its heartbeat logs nothing more (every=0.0 would log at every wake-up)
    assert len(caplog.records) == n_lines
    assert out == [t * t for t in tasks]
    assert prog.done == sum(tasks)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("squares:")]
    assert lines and "100.0% done" in lines[-1] and "ETA 0 s" in lines[-1]
    assert process_map(_square, tasks, n_jobs=1) == out


def test_progress_reports_while_a_step_runs_longer_than_its_interval(caplog):
    """The heartbeat logs during a long step (no add), with the percent of the work done before it."""
    import logging
    import time

    from imagespace.io import Progress

    with caplog.at_level(logging.INFO, logger="imagespace"):
        with Progress("long", 4, every=0.2) as prog:
            prog.add(1)
            time.sleep(1.0)
    beats = [m for r in caplog.records if (m := r.getMessage()).startswith("long:") and "still working" in m]
    assert len(beats) >= 2 and all("25.0% done" in b for b in beats)
    assert "ETA" in beats[-1] and "unknown" not in beats[-1]


def test_io_and_ingest_import_without_the_heavy_libraries():
    """Importing imagespace.io or imagespace.ingest loads none of matplotlib,
    scikit-learn, TensorFlow or PyTorch: a fresh interpreter, as a rule script starts."""
    import subprocess
    import sys

    heavy = ("matplotlib", "sklearn", "tensorflow", "torch")
    for module in ("imagespace.io", "imagespace.ingest"):
        code = f"import sys; import {module}; print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}))"
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[1] / "scripts",
        )
        assert out.stdout.strip() == "[]", (module, out.stdout, out.stderr[-2000:])
    # the check can fail: scikit-learn's own import is seen
    code = f"import sys; import sklearn; print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})[:1])"
    seen = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert seen.stdout.strip() == "['sklearn']"
