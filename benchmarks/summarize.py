#!/usr/bin/env python3
"""Aggregate Snakemake benchmark files into JSON: per-rule and total wall time, CPU time and peak memory.

    python benchmarks/summarize.py [DATASET ...] [--dir benchmarks/runs] [--out FILE]

Per dataset: the sum of the jobs' wall seconds (the serial cost; the run's own
wall time is lower when jobs ran in parallel), the sum of CPU seconds, and the
largest max_rss / max_pss of any job (the peak memory of the run when jobs do
not overlap; an upper bound otherwise is the sum over concurrently running jobs).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path


def read(path: Path) -> dict:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    row = rows[-1]

    def num(key):
        try:
            return float(row.get(key, "nan"))
        except ValueError:
            return float("nan")

    return {"wall_s": num("s"), "cpu_s": num("cpu_time"), "max_rss_mb": num("max_rss"), "max_pss_mb": num("max_pss")}


def _max(values) -> float | None:
    """The largest value that is a number (benchmark files write NA where they measured nothing)."""
    vals = [v for v in values if not math.isnan(v)]
    return round(max(vals), 1) if vals else None


def summarize(bench_dir: Path, datasets: list[str] | None = None, since: float | None = None) -> dict:
    """Per dataset, the jobs' numbers; with *since* (a time stamp), only the benchmark files written after it
    (the jobs a rerun ran)."""
    out = {}
    for d in sorted(p for p in bench_dir.iterdir() if p.is_dir()):
        if datasets and d.name not in datasets:
            continue
        jobs = {f.stem: read(f) for f in sorted(d.glob("*.tsv")) if since is None or f.stat().st_mtime >= since}
        if not jobs:
            continue
        out[d.name] = {
            "n_benchmarked_jobs": len(jobs),
            "sum_wall_s": round(sum(j["wall_s"] for j in jobs.values()), 2),
            "sum_cpu_s": round(sum(j["cpu_s"] for j in jobs.values()), 2),
            "peak_rss_mb": _max(j["max_rss_mb"] for j in jobs.values()),
            "peak_pss_mb": _max(j["max_pss_mb"] for j in jobs.values()),
            "slowest": sorted(((k, round(v["wall_s"], 2)) for k, v in jobs.items()), key=lambda kv: -kv[1])[:5],
            "jobs": jobs,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("datasets", nargs="*")
    ap.add_argument("--dir", default="benchmarks/runs", type=Path)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    text = json.dumps(summarize(a.dir, a.datasets or None), indent=2)
    if a.out:
        a.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
