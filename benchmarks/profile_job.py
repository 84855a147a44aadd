#!/usr/bin/env python3
"""Profile one Snakemake job with py-spy: where its wall time goes, as JSON.

    python benchmarks/profile_job.py WORKDIR TARGET --out benchmarks/results/profile_<rule>.json [--cores 2]

WORKDIR holds a config.yaml and the target's inputs (e.g. a harness scenario's directory kept
with ``--keep``); TARGET is one output file of the job. The target is forced to rerun under
``py-spy record --subprocesses`` (50 samples per second of every Python thread holding or
waiting for the GIL; time a thread spends in native code without the GIL, such as
TensorFlow's compute threads, appears as the job's wall time minus the sampled time).
py-spy is installed by ``pip install py-spy`` (it is not a dependency of the workflow).

The JSON gives the job's wall time, the sampled Python time, inclusive seconds of the
named parts below (a frame counted once per sample) and the busiest leaf frames.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RATE = 50

# inclusive time of these frames (function names as py-spy prints them), by label
PARTS = {
    "training loop (imagespace.cnn.train)": "train",
    "keras fit (Python side)": "TensorFlowTrainer.fit",
    "batch-norm recalibration (recalibrate_batchnorm)": "recalibrate_batchnorm",
    "validation in inference mode (validation_scores)": "validation_scores",
    "per-epoch checkpoint (_save_atomic)": "_save_atomic",
    "imports (_find_and_load)": "_find_and_load",
    "figures (save_figure)": "save_figure",
}


def parse(raw: Path) -> tuple[float, dict, dict]:
    """(sampled seconds, inclusive seconds per part, top leaf frames) from py-spy's raw (collapsed) output."""
    total = 0
    parts: collections.Counter = collections.Counter()
    leaves: collections.Counter = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        n = int(n)
        total += n
        names = {f.split(" (")[0] for f in stack.split(";")}
        for label, fn in PARTS.items():
            if fn in names:
                parts[label] += n
        leaves[stack.split(";")[-1]] += n
    return (
        total / RATE,
        {k: round(v / RATE, 1) for k, v in parts.most_common()},
        {k: round(v / RATE, 2) for k, v in leaves.most_common(12)},
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workdir", type=Path)
    ap.add_argument("target")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--label", default="", help="what the job is, for the JSON")
    a = ap.parse_args()
    pyspy = shutil.which("py-spy")
    if pyspy is None:
        ap.error("py-spy not found on PATH (pip install py-spy)")
    raw = Path(tempfile.mkdtemp()) / "profile.txt"
    cmd = [
        pyspy,
        "record",
        "--subprocesses",
        "-r",
        str(RATE),
        "-f",
        "raw",
        "-o",
        str(raw),
        "--",
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(ROOT / "Snakefile"),
        "--directory",
        str(a.workdir),
        "--cores",
        str(a.cores),
        "--force",
        a.target,
        "-q",
    ]
    t0 = time.perf_counter()
    rc = subprocess.run(cmd).returncode
    wall = time.perf_counter() - t0
    if rc != 0:
        print(f"the profiled run failed (exit {rc})", file=sys.stderr)
        return rc
    sampled, parts, leaves = parse(raw)
    res = {
        "target": a.target,
        "label": a.label,
        "run_wall_s": round(wall, 1),
        "tool": f"py-spy record --subprocesses -r {RATE} "
        "(Python threads; native compute without the GIL is not sampled)",
        "python_sampled_s": round(sampled, 1),
        "inclusive_s": parts,
        "top_leaves_s": leaves,
        "date": time.strftime("%Y-%m-%d"),
    }
    a.out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
