#!/usr/bin/env python3
"""Benchmark harness: named scenarios run in clean working directories, results as JSON.

    python benchmarks/harness.py rocks_parity [rocks_default ...] [--out-dir benchmarks/results]
    python benchmarks/harness.py --list

Each scenario copies a config from configs/ into a fresh directory (the shared data
path made absolute), runs the real workflow there with ``snakemake --cores N`` and
records, per run (cold, no-op rerun, one-parameter-change rerun):

* the run's own wall time, and the CPU time and peak resident memory of its whole
  process tree (Snakemake and every job it started), sampled every 0.2 s;
* per rule, the wall/CPU seconds and max RSS of each job from its ``benchmark:``
  file (the same numbers ``benchmarks/summarize.py`` adds up);
* which jobs ran (from Snakemake's log), so a rerun's scope is visible;
* the scenario's own checks (e.g. the parity figures) with their targets.

Snakemake runs in its own process group; on timeout or Ctrl-C the whole group is
killed, so no worker (joblib/loky, TensorFlow) outlives the harness.
Not run by the unit tests; run it by hand or from CI on demand.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from summarize import summarize  # noqa: E402

SHARED = Path(os.environ.get("IMAGESPACE_SHARED", ROOT.parent / "shared")).resolve() / "data"


# --------------------------------------------------------------------------- measuring one run
class TreeMonitor(threading.Thread):
    """Peak summed memory (RSS, and PSS: shared pages split between the processes sharing them)
    and total CPU time of a process and all its descendants."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_rss = 0
        self.peak_pss = 0
        self.cpu: dict[int, float] = {}
        self.seen: set[tuple[int, float]] = set()  # (pid, create_time) of every process of the tree
        self._done = threading.Event()

    def run(self):
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._done.is_set():
            try:
                procs = [root] + root.children(recursive=True)
            except psutil.NoSuchProcess:
                break
            rss = pss = 0
            for p in procs:
                try:
                    with p.oneshot():
                        self.seen.add((p.pid, p.create_time()))
                        mem = p.memory_full_info()
                        rss += mem.rss
                        pss += getattr(mem, "pss", mem.rss)
                        t = p.cpu_times()
                        self.cpu[p.pid] = t.user + t.system  # own time only: children are counted as themselves
                except psutil.Error:
                    continue
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self._done.wait(self.interval)

    def stop(self):
        self._done.set()
        self.join()


def run_snakemake(work: Path, args: list[str], cores: int, timeout: float) -> dict:
    """One Snakemake run in *work*: wall, CPU and peak memory of its process tree, and the jobs it ran.

    Snakemake runs in a session of its own. On a timeout, Ctrl-C or SIGTERM/SIGHUP of the
    harness its whole process group is killed; after every run, any process of its tree
    that is still alive (in that group or not) is counted as left behind, then killed.
    """
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(ROOT / "Snakefile"),
        "--directory",
        str(work),
        "--cores",
        str(cores),
        *args,
    ]
    res = run_process(cmd, timeout)
    out = res.pop("output")
    jobs = re.findall(r"^(?:local)?rule (\w+):", out, flags=re.M)
    counts = {}
    for j in jobs:
        counts[j] = counts.get(j, 0) + 1
    res["command"] = " ".join(cmd[2:])
    res["jobs_run"] = counts
    res["n_jobs_run"] = sum(v for k, v in counts.items() if k != "all")
    return res


def run_process(cmd: list[str], timeout: float, cwd: Path | None = None) -> dict:
    """Run *cmd* in a session of its own: its wall time, the CPU time and peak memory of its process tree,
    its output (``output``). On a timeout, Ctrl-C or SIGTERM/SIGHUP its whole process group is killed;
    any process of its tree still alive after it is counted as left behind, then killed."""
    started_at = time.time()
    t0 = time.perf_counter()
    usage0 = os.times()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, cwd=cwd
    )
    mon = TreeMonitor(proc.pid)
    mon.start()
    timed_out = False
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc.pid)  # the whole group: no loky/TensorFlow worker survives
        out, _ = proc.communicate()
    except BaseException:  # Ctrl-C, or SIGTERM/SIGHUP turned into SystemExit by main()
        _kill_group(proc.pid)
        proc.wait()
        mon.stop()
        _kill_survivors(proc.pid, mon.seen)
        raise
    wall = time.perf_counter() - t0
    mon.stop()
    time.sleep(0.5)  # let the kernel reap the group before looking for survivors
    usage1 = os.times()
    leftover = _kill_survivors(proc.pid, mon.seen)
    cpu_children = (usage1.children_user - usage0.children_user) + (usage1.children_system - usage0.children_system)
    return {
        "command": " ".join(cmd),
        "returncode": proc.returncode,
        "timed_out": timed_out,
        "started_at": started_at,
        "wall_s": round(wall, 2),
        "cpu_s": round(max(cpu_children, sum(mon.cpu.values())), 2),
        "peak_rss_mb": round(mon.peak_rss / 2**20, 1),  # summed RSS: counts shared libraries once per process
        "peak_pss_mb": round(mon.peak_pss / 2**20, 1),  # summed PSS: the tree's actual memory
        "processes_left_behind": leftover,
        "log_tail": out[-3000:] if proc.returncode else "",
        "output": out,
    }


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _kill_survivors(pgid: int, seen: set[tuple[int, float]]) -> int:
    """Kill what is left of a run: its process group and every process of its tree the monitor saw
    (matched by pid and start time, so a reused pid is never hit). Returns how many were alive."""
    import psutil

    alive = []
    for p in psutil.process_iter(["pid", "create_time"]):
        try:
            if p.status() == psutil.STATUS_ZOMBIE:
                continue
            if (p.info["pid"], p.info["create_time"]) in seen or os.getpgid(p.info["pid"]) == pgid:
                alive.append(p)
        except (ProcessLookupError, psutil.Error):
            continue
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    return len(alive)


# --------------------------------------------------------------------------- scenarios
def prepare(work: Path, configfile: str, overrides: dict | None = None) -> dict:
    """A clean working directory with the scenario's config (shared data paths made absolute)."""
    text = (ROOT / configfile).read_text().replace("../shared/data", str(SHARED))
    cfg = yaml.safe_load(text)
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    merged = _merge(base, cfg)
    merged = _merge(merged, overrides or {})
    (work / "config.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))
    return merged


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def rules_benchmarks(work: Path, dataset: str, run: dict | None = None) -> dict:
    """Per-job numbers from the benchmark: files; given a *run*, only of the jobs that run wrote."""
    s = summarize(work / "benchmarks" / "runs", [dataset], since=run["started_at"] if run else None).get(dataset, {})
    return {
        k: s.get(k)
        for k in ("n_benchmarked_jobs", "sum_wall_s", "sum_cpu_s", "peak_rss_mb", "peak_pss_mb", "slowest", "jobs")
    }


def check(name: str, value, target, ok: bool) -> dict:
    return {"check": name, "value": value, "target": target, "ok": bool(ok)}


PARITY_EXPECTED = {  # the notebook's printed numbers (../shared/seeds/000_*.txt)
    "pca_components_90": 158,
    "pc1_ratio": 0.218,
    "pc2_ratio": 0.114,
    "disparity_pca8_train": 0.870,
    "disparity_mds8_train": 0.888,
    "disparity_lle8_train": 0.933,
    "kmeans3_accuracy": 0.3917,
    "gmm3_accuracy": 0.4028,
}
# LLE: the notebook printed 0.933 with the scikit-learn of its day; today's ARPACK gives 0.926 (README, parity)
PARITY_TOLERANCE = {"disparity_lle8_train": 0.01}


def parity_figures(work: Path) -> dict:
    """The parity numbers of a configs/rocks_parity.yaml run, rounded as the notebook printed them."""
    s = json.loads((work / "results/rocks_parity/summary.json").read_text())
    cmp_ = s["compare"]
    out = {
        "pca_components_90": s["pca"]["n_components_for_threshold"],
        "pc1_ratio": round(s["pca"]["pc1_variance_ratio"], 3),
        "pc2_ratio": round(s["pca"]["pc2_variance_ratio"], 3),
        "disparity_pca8_train": round(cmp_["pca"]["train"]["disparity"], 3),
        "disparity_mds8_train": round(cmp_["mds"]["train"]["disparity"], 3),
        "disparity_lle8_train": round(cmp_["lle"]["train"]["disparity"], 3),
        "kmeans3_accuracy": round(s["clustering"]["kmeans"]["accuracy"], 4),
        "gmm3_accuracy": round(s["clustering"]["gmm"]["accuracy"], 4),
    }
    cnn_path = work / "results/rocks_parity_cnn/summary.json"
    if cnn_path.exists():
        c = json.loads(cnn_path.read_text())
        cnn = c["cnn"]["cnn"]
        out.update(
            {
                "cnn_best_val_accuracy": round(cnn["val_accuracy"], 4),
                "cnn_best_epoch": cnn["best_epoch"],
                "cnn_epochs_run": cnn["epochs_run"],
                "cnn_dead_units": len(cnn.get("dead_units") or []),
                "cnn_disparity_train": round(c["compare"]["cnn"]["train"]["disparity"], 3),
                "cnn_disparity_validation": round(c["compare"]["cnn"]["validation"]["disparity"], 3),
            }
        )
    return out


def _round(v, nd: int):
    return None if v is None else round(v, nd)


def notebook_figures(path: Path) -> dict:
    """The same numbers from the notebook script's JSON (its best-validation CNN checkpoint for the CNN)."""
    r = json.loads(path.read_text())
    a, b = r.get("partA", {}), r.get("partB", {})
    out = {}
    if "pca_full" in a:
        out.update(
            {
                "pca_components_90": a["pca_full"]["d_90pct"],
                "pc1_ratio": _round(a["pca_full"]["evr_first2"][0], 3),
                "pc2_ratio": _round(a["pca_full"]["evr_first2"][1], 3),
            }
        )
    for k in ("pca", "mds", "lle"):
        if k in a.get("procrustes8", {}):
            out[f"disparity_{k}8_train"] = _round(a["procrustes8"][k]["disparity"], 3)
    if "kmeans" in a:
        out["kmeans3_accuracy"] = _round(a["kmeans"]["sklearn19_default_n_init_auto"]["k3_hungarian_accuracy"], 4)
    if "gmm3" in a:
        out["gmm3_accuracy"] = _round(a["gmm3"]["hungarian_accuracy"], 4)
    if "best_val_accuracy" in b:
        out.update(
            {
                "cnn_best_val_accuracy": _round(b["best_val_accuracy"], 4),
                "cnn_best_epoch": b["best_val_epoch"],
                "cnn_epochs_run": len(b["history"]["val_accuracy"]),
            }
        )
        f = b.get("features", {}).get("best_val", {})
        if "train" in f:
            out["cnn_disparity_train"] = _round(f["train"]["disparity"], 3)
            out["cnn_disparity_validation"] = _round(f["val"]["disparity"], 3)
            out["cnn_dead_units"] = len(f["train"].get("dead_columns_all_zero", []))
    return out


def _figures(fn, *args) -> dict:
    """A contender's numbers; a failure to read them is recorded, never the end of the scenario."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001
        return {"error": f"{type(exc).__name__}: {exc}"}


def parity_checks(figures: dict) -> list[dict]:
    return [
        check(k, figures.get(k), v, figures.get(k) is not None and abs(figures[k] - v) <= PARITY_TOLERANCE.get(k, 0))
        for k, v in PARITY_EXPECTED.items()
    ]


def scenario_rocks_parity(work: Path, cores: int, timeout: float) -> dict:
    """The notebook's work on the rocks (configs/rocks_parity.yaml: its PCA, embeddings, K-Means, the mixture scan
    k = 1..20 with n_init = 10, its CNN for 20 epochs): the notebook's numbers, <= 73 s (1/4 of the notebook's 294 s
    measured side by side), <= 1.5 GB."""
    prepare(work, "configs/rocks_parity.yaml", json.loads(os.environ.get("IMAGESPACE_OVERRIDES", "{}")))
    cold = run_snakemake(work, [], cores, timeout)
    figures = parity_figures(work) if cold["returncode"] == 0 else {}
    ok = cold["returncode"] == 0
    # 1/4 of the notebook's 294 s, measured side by side (notebook_vs_workflow, 2026-11-30): that scenario is the
    # comparison
    checks = [
        check("wall_s", cold["wall_s"], "<= 73 (1/4 of the notebook's 294 s)", ok and cold["wall_s"] <= 73),
        check("peak_pss_mb", cold["peak_pss_mb"], "<= 1536", ok and cold["peak_pss_mb"] <= 1536),
    ]
    return {
        "runs": {"cold": cold},
        "rules": {d: rules_benchmarks(work, d) for d in ("rocks_parity", "rocks_parity_cnn")},
        "figures": figures,
        "checks": checks + parity_checks(figures),
    }


NOTEBOOK = SHARED.parent / "reference" / "notebook_rocks_battery.py"


def _spread(xs: list[float]) -> dict:
    import statistics

    return {
        "values": [round(x, 4) for x in xs],
        "mean": round(statistics.fmean(xs), 4),
        "sd": round(statistics.stdev(xs), 4) if len(xs) > 1 else None,
        "min": round(min(xs), 4),
        "max": round(max(xs), 4),
    }


def alternating(work: Path, first: str, second: str):
    """(repeat, contender, fresh directory) for IMAGESPACE_REPEATS (3) repeats of two contenders, alternating
    which goes first (repeat 1: *first* first, repeat 2: *second* first, ...), so drift of the machine falls on both."""
    repeats = int(os.environ.get("IMAGESPACE_REPEATS", "3"))
    for r in range(repeats):
        for who in (first, second) if r % 2 == 0 else (second, first):
            d = work / f"{who}_{r + 1}"
            d.mkdir()
            yield r + 1, who, d


def scenario_notebook_vs_workflow(work: Path, cores: int, timeout: float) -> dict:
    """Side by side in one run: the notebook as a script (../shared/reference/notebook_rocks_battery.py, Part A and its
    CNN) and the workflow on configs/rocks_parity.yaml (the same work), alternating (repeat 1: notebook first,
    repeat 2: workflow first, ...), 3 repeats each (IMAGESPACE_REPEATS), each cold in a fresh directory.
    Targets: workflow/notebook wall-time ratio <= 1/4 (stretch 1/8), workflow peak <= 1.5 GB, the same numbers."""
    runs: dict[str, list] = {"notebook": [], "workflow": []}
    order = []
    for r, who, d in alternating(work, "notebook", "workflow"):
        order.append(who)
        print(f"  repeat {r}: {who} ...", flush=True)
        if who == "notebook":
            res = run_process(
                [
                    sys.executable,
                    str(NOTEBOOK),
                    "--out",
                    str(d / "notebook.json"),
                    "--arrays",
                    str(d / "arrays.npz"),
                    "--ckpt",
                    str(d / "ckpt"),
                ],
                timeout,
                cwd=d,
            )
            res.pop("output")
            if (d / "notebook.json").exists():
                nb = json.loads((d / "notebook.json").read_text())
                res["stages_wall_s"] = {k: v["wall_s"] for k, v in nb["timings"].items()}
                res["script_summary"] = nb.get("summary")
                res["figures"] = _figures(notebook_figures, d / "notebook.json")
        else:
            prepare(d, "configs/rocks_parity.yaml")
            res = run_snakemake(d, [], cores, timeout)
            res["figures"] = _figures(parity_figures, d) if res["returncode"] == 0 else {}
            res["rules"] = {ds: rules_benchmarks(d, ds) for ds in ("rocks_parity", "rocks_parity_cnn")}
        print(
            f"  repeat {r}: {who} {res['wall_s']:.1f} s, peak {res['peak_pss_mb']:.0f} MB, rc {res['returncode']}",
            flush=True,
        )
        runs[who].append(res)
    ok = all(x["returncode"] == 0 for v in runs.values() for x in v)
    ratios = [w["wall_s"] / n["wall_s"] for n, w in zip(runs["notebook"], runs["workflow"])]
    cpu_ratios = [w["cpu_s"] / n["cpu_s"] for n, w in zip(runs["notebook"], runs["workflow"]) if n["cpu_s"]]
    ratio = _spread(ratios)
    quality = {
        "notebook": runs["notebook"][-1].get("figures", {}),
        "workflow": runs["workflow"][-1].get("figures", {}),
        "printed_by_the_notebook": PARITY_EXPECTED,
    }
    wf_peak = max(x["peak_pss_mb"] for x in runs["workflow"])
    checks = [
        check(
            "wall_ratio_workflow_over_notebook",
            ratio,
            "<= 0.25 in every repeat (stretch 0.125)",
            ok and ratio["max"] <= 0.25,
        ),
        check("workflow_peak_pss_mb", wf_peak, "<= 1536", ok and wf_peak <= 1536),
    ]
    checks += parity_checks(quality["workflow"])
    return {
        "order": order,
        "runs": runs,
        "wall_ratio": ratio,
        "cpu_ratio": _spread(cpu_ratios) if cpu_ratios else None,
        "wall_s": {k: _spread([x["wall_s"] for x in v]) for k, v in runs.items()},
        "peak_pss_mb": {k: _spread([x["peak_pss_mb"] for x in v]) for k, v in runs.items()},
        "quality": quality,
        "checks": checks,
    }


CLUSTIMAGE = "clustimage==1.7.1"
CLUSTIMAGE_VENV = Path(os.environ.get("IMAGESPACE_CLUSTIMAGE_VENV", ROOT / "benchmarks/.venv-clustimage"))
ROCKS_REGEX = r"^(?P<subtype>(?P<label>[^_]+)_[^_]+)_"


def clustimage_python() -> Path:
    """clustimage's own virtualenv (made and filled from PyPI on first use), apart from the project's packages."""
    py = CLUSTIMAGE_VENV / "bin/python"
    stamp = CLUSTIMAGE_VENV / ".installed"
    if not stamp.exists() or stamp.read_text().strip() != CLUSTIMAGE:
        subprocess.run([sys.executable, "-m", "venv", str(CLUSTIMAGE_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", CLUSTIMAGE], check=True)
        stamp.write_text(CLUSTIMAGE)
    return py


def clustimage_equivalent(
    work: Path,
    folder: Path | None = None,
    *,
    name: str = "rocks128",
    size: int = 128,
    color: str = "rgb",
    label_regex: str = ROCKS_REGEX,
    k_max: int = 25,
) -> dict:
    """The workflow doing clustimage's work: the images of *folder* (the 360 training rocks) at size x size,
    PCA to 95% of the variance, a 2-D t-SNE map, Ward clustering of the PCA features with k chosen by silhouette
    over 3..k_max; nothing else (no backbone, probes, retrieval, interactive map or cluster-on-maps figures)."""
    cfg = {
        "targets": [name],
        "datasets": {
            name: {
                "source": {
                    "type": "filename_labels",
                    "splits": {"train": str(folder or SHARED / "rocks/Training")},
                    "label_regex": label_regex,
                },
                "images": {"size": [size, size], "color": color, "resize": "stretch", "resample": "box"},
                "pca": {"threshold": 0.95, "fit_split": "all", "scale": "unit"},
                "embeddings": {"methods": ["tsne"], "n_components": 2},
                "clustering": {
                    "feature_sets": ["pca"],
                    "methods": ["agglomerative"],
                    "split": "all",
                    "on_maps": False,
                    "agglomerative": {"linkage": "ward", "k": "silhouette", "k_min": 3, "k_max": k_max},
                },
                "backbones": {"enabled": []},
                "probes": {"enabled": False},
                "retrieval": {"enabled": False},
                "explore": {"enabled": False},
            }
        },
    }
    if name == "rocks128":
        cfg["datasets"][name]["source"]["classes"] = ["I", "M", "S"]
    return write_config(work, cfg)


def write_config(work: Path, cfg: dict) -> dict:
    """*work*/config.yaml: the project's defaults with *cfg*'s targets and datasets only (the defaults' own left
    out)."""
    merged = _merge(yaml.safe_load((ROOT / "config.yaml").read_text()), cfg)
    merged["targets"], merged["datasets"] = cfg["targets"], cfg["datasets"]
    (work / "config.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))
    return merged


def _rock_labels(names: list[str]) -> tuple[list[str], list[str]]:
    ms = [re.match(ROCKS_REGEX, n) for n in names]
    return [m["label"] for m in ms], [m["subtype"] for m in ms]


def _clustimage_run(py: Path, folder: Path, d: Path, out: str, args: list[str], timeout: float, labels) -> dict:
    from sklearn.metrics import adjusted_rand_score

    res = run_process([str(py), str(ROOT / "benchmarks/clustimage_run.py"), str(folder), str(d / out), *args], timeout)
    tail = res.pop("output")
    if (d / out).exists():
        c = json.loads((d / out).read_text())
        y, sub = labels(c["filenames"])
        res["quality"] = {
            "k": c["n_clusters"],
            "n_pca_components": c["n_pca_components"],
            "ari_label": round(adjusted_rand_score(y, c["labels"]), 4),
        }
        if sub is not None:
            res["quality"]["ari_subtype"] = round(adjusted_rand_score(sub, c["labels"]), 4)
    elif res["returncode"]:
        res["log_tail"] = tail[-3000:]
    return res


def _workflow_quality(d: Path, name: str) -> dict | None:
    s = d / f"results/{name}/summary.json"
    if not s.exists():
        return None
    summ = json.loads(s.read_text())
    agg = summ["clustering"]["agglomerative"]
    q = {"k": agg["k"], "n_pca_components": summ["pca"]["n_components_for_threshold"]}
    q["ari_label"] = round(agg["ari"], 4)
    if agg.get("ari_subtype") is not None:
        q["ari_subtype"] = round(agg["ari_subtype"], 4)
    return q


def clustimage_side_by_side(
    work: Path, cores: int, timeout: float, *, folder: Path, cl_args: list[str], eq: dict, labels, target: float
) -> dict:
    """clustimage and the workflow (clustimage_equivalent(**eq)) on *folder*, alternating, IMAGESPACE_REPEATS (3)
    repeats, each cold in a fresh directory; after each cold run, in the same directory, the parameter change
    k_max 25 -> 15 of the Ward cut's silhouette scan: clustimage's script runs again (it keeps nothing between
    runs), the workflow reruns what depends on the change."""
    py = clustimage_python()
    runs: dict[str, list] = {"clustimage": [], "workflow": []}
    change: dict[str, list] = {"clustimage": [], "workflow": []}
    order = []
    name = eq.get("name", "rocks128")
    for r, who, d in alternating(work, "clustimage", "workflow"):
        order.append(who)
        if who == "clustimage":
            res = _clustimage_run(py, folder, d, "clustimage.json", cl_args, timeout, labels)
            k15 = [*cl_args, "--max-clust", "15"]
            rerun = _clustimage_run(py, folder, d, "clustimage_k15.json", k15, timeout, labels)
        else:
            clustimage_equivalent(d, folder, **eq)
            res = run_snakemake(d, [], cores, timeout)
            res["quality"] = _workflow_quality(d, name)
            res["rules"] = rules_benchmarks(d, name)
            clustimage_equivalent(d, folder, **{**eq, "k_max": 15})
            rerun = run_snakemake(d, [], cores, timeout)
            rerun["quality"] = _workflow_quality(d, name)
        for label, x in (("cold", res), ("k_max 15", rerun)):
            print(
                f"  repeat {r}: {who} {label} {x['wall_s']:.1f} s, peak {x['peak_pss_mb']:.0f} MB, "
                f"rc {x['returncode']}, {x.get('quality')}",
                flush=True,
            )
        runs[who].append(res)
        change[who].append(rerun)
    ok = all(x["returncode"] == 0 for v in (*runs.values(), *change.values()) for x in v)
    ratio = _spread([w["wall_s"] / c["wall_s"] for c, w in zip(runs["clustimage"], runs["workflow"])])
    change_ratio = _spread([w["wall_s"] / c["wall_s"] for c, w in zip(change["clustimage"], change["workflow"])])
    checks = [
        check(
            "wall_ratio_workflow_over_clustimage",
            ratio,
            f"<= {target} in every repeat",
            ok and ratio["max"] <= target,
        ),
        check(
            "parameter_change_wall_ratio_workflow_over_clustimage",
            change_ratio,
            "<= 0.2 in every repeat",
            ok and change_ratio["max"] <= 0.2,
        ),
    ]
    return {
        "n_images": len([f for f in folder.iterdir() if f.suffix.lower() in (".png", ".jpg", ".jpeg")]),
        "order": order,
        "runs": runs,
        "parameter_change": {
            "change": "the Ward cut's silhouette scan k_max 25 -> 15, after a complete cold run",
            "runs": change,
            "wall_s": {k: _spread([x["wall_s"] for x in v]) for k, v in change.items()},
            "jobs_rerun_by_the_workflow": change["workflow"][-1].get("jobs_run"),
            "quality": {k: v[-1].get("quality") for k, v in change.items()},
        },
        "wall_ratio": ratio,
        "parameter_change_wall_ratio": change_ratio,
        "wall_s": {k: _spread([x["wall_s"] for x in v]) for k, v in runs.items()},
        "peak_pss_mb": {k: _spread([x["peak_pss_mb"] for x in v]) for k, v in runs.items()},
        "quality": {k: v[-1].get("quality") for k, v in runs.items()},
        "checks": checks,
    }


def scenario_clustimage_vs_workflow(work: Path, cores: int, timeout: float) -> dict:
    """Side by side in one run: clustimage 1.7.1 (in its own virtualenv from PyPI; load -> PCA 95% -> t-SNE ->
    Ward with a silhouette scan over 3..25) and the workflow doing the same work, on the 360 training rocks at
    128 x 128, alternating, 3 repeats each (IMAGESPACE_REPEATS), every run cold; then, in each run's directory,
    the parameter change k_max 25 -> 15 (clustimage runs again, the workflow reruns what depends on it). Both
    tools' ARI against the labels and the subtypes. Targets: wall-time ratio workflow / clustimage <= 0.8, the
    parameter change's ratio <= 0.2."""
    return clustimage_side_by_side(
        work,
        cores,
        timeout,
        folder=SHARED / "rocks/Training",
        cl_args=[],
        eq={},
        labels=_rock_labels,
        target=0.8,
    )


def fashion_png_folder(work: Path, n: int, seed: int = 0) -> Path:
    """n real Fashion-MNIST test images (:func:`fashion_real`) as grey PNG files <label>_<i>.png in one folder."""
    from PIL import Image

    x, y, _ = fashion_real(n, seed)
    folder = work / f"fashion_png_{n}"
    folder.mkdir()
    for i, (img, lab) in enumerate(zip(x, y)):
        Image.fromarray(img).save(folder / f"{int(lab)}_{i:05d}.png")
    return folder


def scenario_clustimage_fashion_5k(work: Path, cores: int, timeout: float, n: int = 5000) -> dict:
    """clustimage_vs_workflow's side by side on 5,000 real Fashion-MNIST test images (500 per class, PNG files
    in one folder, read by both tools), both at 28 x 28 grey: load -> PCA 95% -> t-SNE -> Ward with a silhouette
    scan over 3..25, alternating, 3 repeats each, cold; then the parameter change k_max 25 -> 15. ARI against
    the labels. Targets: wall-time ratio workflow / clustimage <= 0.5, the parameter change's ratio <= 0.2."""
    folder = fashion_png_folder(work, n)
    return clustimage_side_by_side(
        work,
        cores,
        timeout,
        folder=folder,
        cl_args=["--dim", "28", "28", "--gray"],
        eq={"name": "fashion5k", "size": 28, "color": "gray", "label_regex": r"^(?P<label>\d+)_"},
        labels=lambda names: ([n.split("_")[0] for n in names], None),
        target=0.5,
    )


def scenario_dryrun_1m(work: Path, cores: int, timeout: float, n: int = 1_000_000) -> dict:
    """snakemake -n on a generated csv_manifest of 10^6 images (IMAGESPACE_DRYRUN_N) in 10 classes and 3 splits,
    every file present (empty: a dry run decodes nothing), with the default battery and a 10-epoch CNN:
    the DAG in < 60 s, with the same jobs as for a small collection (one job per stage, not per image)."""
    n = int(os.environ.get("IMAGESPACE_DRYRUN_N", n))
    img = work / "images"
    img.mkdir()
    t0 = time.perf_counter()
    rng = __import__("random").Random(0)
    with open(work / "manifest.csv", "w") as fh:
        fh.write("file,label,split\n")
        for i in range(n):
            name = f"img{i:07d}.png"
            (img / name).touch()
            fh.write(f"{name},c{i % 10},{rng.choice(('train', 'train', 'train', 'validation', 'test'))}\n")
    generate_s = time.perf_counter() - t0
    cfg = {
        "targets": ["million"],
        "datasets": {
            "million": {
                "source": {
                    "type": "csv_manifest",
                    "csv": str(work / "manifest.csv"),
                    "image_dir": str(img),
                    "file_column": "file",
                    "label_column": "label",
                    "split_column": "split",
                },
                "images": {"size": [64, 64], "color": "rgb"},
                "cnn": {"enabled": True, "epochs": 10},
            }
        },
    }
    write_config(work, cfg)
    res = run_process(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(ROOT / "Snakefile"),
            "--directory",
            str(work),
            "--cores",
            str(cores),
            "-n",
            "--quiet",
            "rules",
        ],
        timeout,
    )
    out = res.pop("output")
    counts = {}
    for m in re.finditer(r"^(\w+)\s+(\d+)$", out, flags=re.M):
        counts[m[1]] = int(m[2])
    total = counts.pop("total", None)
    ok = res["returncode"] == 0
    checks = [
        check("dry_run_wall_s", res["wall_s"], "< 60", ok and res["wall_s"] < 60),
        check(
            "jobs",
            total,
            "one per stage and feature set (< 500), not per image",
            ok and total is not None and total < 500,
        ),
    ]
    return {
        "n_images": n,
        "generate_s": round(generate_s, 1),
        "dry_run": res,
        "jobs_by_rule": counts,
        "n_jobs": total,
        "log_tail": out[-3000:] if not ok else "",
        "checks": checks,
    }


def scenario_rocks_default(work: Path, cores: int, timeout: float) -> dict:
    """configs/rocks.yaml (every stage, 20-epoch CNN, alignment statistics): cold <= 180 s, no-op <= 5 s,
    one clustering parameter changed reruns in <= 10% of the cold time."""
    prepare(work, "configs/rocks.yaml")
    cold = run_snakemake(work, [], cores, timeout)
    rules = rules_benchmarks(work, "rocks")
    noop = run_snakemake(work, [], cores, timeout)
    # one clustering parameter: DBSCAN's min_samples
    prepare(work, "configs/rocks.yaml", {"clustering": {"dbscan": {"min_samples": 6}}})
    change = run_snakemake(work, [], cores, timeout)
    checks = [
        check("cold_wall_s", cold["wall_s"], "<= 180", cold["returncode"] == 0 and cold["wall_s"] <= 180),
        check("noop_wall_s", noop["wall_s"], "<= 5", noop["wall_s"] <= 5),
        check("noop_jobs", noop["n_jobs_run"], "0", noop["n_jobs_run"] == 0),
        check(
            "param_change_fraction_of_cold",
            round(change["wall_s"] / cold["wall_s"], 3),
            "<= 0.10",
            change["wall_s"] <= 0.10 * cold["wall_s"],
        ),
        check(
            "param_change_rules",
            sorted(change["jobs_run"]),
            "cluster_dbscan (+ summary, all)",
            set(change["jobs_run"]) <= {"cluster_dbscan", "summary", "all"},
        ),
    ]
    return {
        "runs": {"cold": cold, "noop": noop, "param_change": change},
        "rules": rules,
        "rules_by_run": {
            "noop": rules_benchmarks(work, "rocks", noop),
            "param_change": rules_benchmarks(work, "rocks", change),
        },
        "checks": checks,
    }


def scenario_make_run_default(work: Path, cores: int, timeout: float, repeats: int = 5) -> dict:
    """`make run`'s Snakemake call on the embedded default (config.yaml: digits and the synthetic shapes), cold,
    with the median job wall from its benchmark files; then a dry run with nothing to do, *repeats* times (median
    and spread), alternating with the dry run of a finished two-rule workflow (Snakemake's own floor on this
    machine). Targets: cold <= 90 s, median job <= 0.6 s, dry run with nothing to do <= 2.0 s."""
    import statistics

    prepare(work, "config.yaml")
    cold = run_snakemake(work, [], cores, timeout)
    jobs = {}
    for d in ("digits", "synthetic"):
        jobs.update({f"{d}/{k}": v for k, v in (rules_benchmarks(work, d).get("jobs") or {}).items()})
    walls = sorted(v["wall_s"] for v in jobs.values())
    median_job = round(statistics.median(walls), 3) if walls else None
    floor_dir = work / "two_rules"
    floor_dir.mkdir()
    (floor_dir / "Snakefile").write_text(
        'rule all:\n    input: "b.txt"\n\n\nrule b:\n    output: "b.txt"\n    shell: "touch {output}"\n'
    )
    floor_cmd = [sys.executable, "-m", "snakemake", "-s", str(floor_dir / "Snakefile"), "-d", str(floor_dir)]
    run_process([*floor_cmd, "--cores", "1"], timeout)
    dry, floor = [], []
    for _ in range(repeats):
        dry.append(run_snakemake(work, ["-n"], cores, timeout))
        floor.append(run_process([*floor_cmd, "--cores", str(cores), "-n"], timeout))
        floor[-1].pop("output")
    dry_s = [r["wall_s"] for r in dry]
    floor_s = [r["wall_s"] for r in floor]
    checks = [
        check("cold_wall_s", cold["wall_s"], "<= 90", cold["returncode"] == 0 and cold["wall_s"] <= 90),
        check("median_job_wall_s", median_job, "<= 0.6", median_job is not None and median_job <= 0.6),
        check("noop_dry_run_s", _spread(dry_s), "median <= 2.0", statistics.median(dry_s) <= 2.0),
        check("noop_dry_run_jobs", [r["n_jobs_run"] for r in dry], "all 0", all(r["n_jobs_run"] == 0 for r in dry)),
    ]
    return {
        "runs": {"cold": cold, "noop_dry_runs": dry, "two_rule_dry_runs": floor},
        "noop_dry_run_s": {**_spread(dry_s), "median": round(statistics.median(dry_s), 3)},
        "two_rule_workflow_dry_run_s": {**_spread(floor_s), "median": round(statistics.median(floor_s), 3)},
        "noop_dry_run_minus_two_rule_s": _spread([a - b for a, b in zip(dry_s, floor_s)]),
        "n_jobs": len(walls),
        "median_job_wall_s": median_job,
        "jobs_under_1s": sum(w < 1 for w in walls),
        "job_walls_s": {k: v["wall_s"] for k, v in sorted(jobs.items())},
        "checks": checks,
    }


def scenario_kill(work: Path, cores: int, timeout: float) -> dict:
    """configs/rocks.yaml killed by a 40 s timeout mid-run: no process of the run survives;
    the rerun resumes and completes."""
    prepare(work, "configs/rocks.yaml")
    killed = run_snakemake(work, [], cores, 40)
    run_snakemake(work, ["--unlock"], cores, timeout)  # a SIGKILLed Snakemake leaves its lock behind
    resumed = run_snakemake(work, ["--rerun-incomplete"], cores, timeout)
    checks = [
        check("timed_out", killed["timed_out"], True, killed["timed_out"]),
        check("processes_left_behind", killed["processes_left_behind"], 0, killed["processes_left_behind"] == 0),
        check("rerun_completes", resumed["returncode"], 0, resumed["returncode"] == 0),
    ]
    return {"runs": {"killed": killed, "resumed": resumed}, "checks": checks}


FASHION = "fashion_mnist/fashion_mnist_test.npz"
FASHION_TRAIN = "fashion_mnist/fashion_mnist_train.npz"


def fashion_real(n: int, seed: int = 0):
    """(images, labels, class names) of n real, distinct Fashion-MNIST images, the same number of every class: a
    stratified draw from the 10,000 test images, and above 10,000 all of them plus a stratified draw from the
    60,000 training images (never flipped or noised copies, whose twins would sit on both sides of a split)."""
    import numpy as np

    with np.load(SHARED / FASHION) as z:
        x, y, names = z["x_test"], z["y_test"], z["class_names"]
    rng = np.random.default_rng(seed)

    def draw(x, y, m):
        idx = np.sort(
            np.concatenate([rng.choice(np.flatnonzero(y == c), size=m // 10, replace=False) for c in range(10)])
        )
        return x[idx], y[idx]

    if n <= len(x):
        return (*draw(x, y, n), names)
    if n > len(x) + 60_000:
        raise ValueError(f"Fashion-MNIST has 70,000 images, not {n}")
    with np.load(SHARED / FASHION_TRAIN) as z:
        xt, yt = draw(z["x_train"], z["y_train"], n - len(x))
    return np.concatenate([x, xt]), np.concatenate([y, yt]), names


def fashion_subset(work: Path, n: int, seed: int = 0) -> Path:
    """An npz (x_test, y_test, class_names) of n real Fashion-MNIST images (:func:`fashion_real`)."""
    import numpy as np

    x, y, names = fashion_real(n, seed)
    path = work / f"fashion_{n}.npz"
    np.savez(path, x_test=x, y_test=y, class_names=names)
    return path


def fashion_config(work: Path, n: int, cnn: bool = True) -> dict:
    """configs/fashion_mnist.yaml's dataset at n real images: a fifth of them (at most the 10,000) from the test
    archive as split test, the rest from the 60,000 training images (subsample per split, stratified, seeded)."""
    block = yaml.safe_load((ROOT / "configs/fashion_mnist.yaml").read_text())["datasets"]["fashion_mnist"]
    files = block["source"]["split_files"]
    for f in files.values():
        f["path"] = str(SHARED / Path(f["path"]).relative_to("../shared/data"))
    n_test = min(10_000, n // 5)
    cfg = {
        "targets": ["fashion"],
        "datasets": {"fashion": {**block, "subsample": {"train": n - n_test, "test": n_test}}},
    }
    if not cnn:
        cfg["datasets"]["fashion"]["cnn"] = {"enabled": False}
    return _merge(cfg, json.loads(os.environ.get("IMAGESPACE_OVERRIDES", "{}")))


STAGES = {
    "ingest": ("ingest",),
    "pca": ("pca", "plot_pca"),
    "embeddings": ("embed_", "map_"),
    "clustering": ("cluster_",),
    "cnn": ("train_", "features_", "cnn_maps_"),
}


def stage_times(rules: dict) -> dict:
    """Summed job wall times per stage; every other job (alignment, probes, retrieval, plots, summary) is "other"."""
    out = {k: 0.0 for k in (*STAGES, "other")}
    for job, r in (rules.get("jobs") or {}).items():
        stage = next((st for st, prefixes in STAGES.items() if job.startswith(prefixes)), "other")
        out[stage] += r["wall_s"]
    return {k: round(v, 2) for k, v in out.items()}


FASHION_TARGETS = ((10_000, 240, 4096), (50_000, 900, 8192))  # (up to n images, seconds, MB)


def fashion_targets(n: int) -> tuple[int, int]:
    """The scale targets that apply at n images: the whole battery <= 4 min / 4 GB up to 10,000,
    <= 15 min / 8 GB up to 50,000."""
    for upto, limit_s, limit_mb in FASHION_TARGETS:
        if n <= upto:
            return limit_s, limit_mb
    return FASHION_TARGETS[-1][1:]


def battery_quality(work: Path, dataset: str) -> dict:
    """What the battery found, next to its time: K-Means ARI (pca), the best probe accuracy (held-out split),
    the CNN's held-out accuracy, and every map's trustworthiness."""
    path = work / f"results/{dataset}/summary.json"
    if not path.exists():
        return {}
    s = json.loads(path.read_text())
    q = {}
    km = (s.get("clustering") or {}).get("kmeans") or {}
    if "ari" in km:
        q["kmeans_ari"] = round(km["ari"], 4)
        q["kmeans_feature_set"] = km.get("feature_set")
    best = None
    for fs, probes in (s.get("probes") or {}).items():
        for name, r in (probes or {}).items():
            if isinstance(r, dict) and r.get("accuracy") is not None and (best is None or r["accuracy"] > best[0]):
                best = (r["accuracy"], fs, name, r.get("split"))
    if best:
        q["best_probe"] = {"accuracy": round(best[0], 4), "feature_set": best[1], "probe": best[2], "split": best[3]}
    for variant, splits in (s.get("classification") or {}).items():
        if variant.startswith("cnn"):
            q[f"{variant}_accuracy"] = {sp: round(r["accuracy"], 4) for sp, r in splits.items() if "accuracy" in r}
    q["trustworthiness"] = {k: v["value"] for k, v in (s.get("trustworthiness") or {}).items() if "value" in v}
    return q


def scenario_fashion(work: Path, cores: int, timeout: float, n: int = 10_000, cnn: bool = True) -> dict:
    """Fashion-MNIST, 10,000 images, the whole battery (embeddings, clustering with model selection,
    a 10-epoch CNN and its features) and what it found (battery_quality): <= 4 min and <= 4 GB."""
    cfg = fashion_config(work, n, cnn=cnn)
    (work / "config.yaml").write_text(
        yaml.safe_dump(_merge(yaml.safe_load((ROOT / "config.yaml").read_text()), cfg), sort_keys=False)
    )
    cold = run_snakemake(work, [], cores, timeout)
    rules = rules_benchmarks(work, "fashion")
    limit_s, limit_mb = fashion_targets(n)
    checks = [
        check(f"wall_s_{n}", cold["wall_s"], f"<= {limit_s}", cold["wall_s"] <= limit_s and cold["returncode"] == 0),
        check(
            f"peak_pss_mb_{n}",
            cold["peak_pss_mb"],
            f"<= {limit_mb}",
            cold["peak_pss_mb"] <= limit_mb and cold["returncode"] == 0,
        ),
    ]
    strategies = {}
    for f in sorted((work / "results/fashion").glob("**/*.json")):
        try:
            r = json.loads(f.read_text())
        except ValueError:
            continue
        if isinstance(r, dict) and "strategy" in r:
            strategies[str(f.relative_to(work / "results/fashion"))] = r["strategy"]
    return {
        "n": n,
        "overrides": json.loads(os.environ.get("IMAGESPACE_OVERRIDES", "{}")),
        "runs": {"cold": cold},
        "rules": rules,
        "stages_s": stage_times(rules),
        "strategies": strategies,
        "quality": battery_quality(work, "fashion"),
        "checks": checks,
    }


def scenario_fashion_50k(work: Path, cores: int, timeout: float) -> dict:
    """Fashion-MNIST at 50,000 real images (40,000 of the training images, the 10,000 test images), whole battery:
    <= 15 min and <= 8 GB."""
    return scenario_fashion(work, cores, timeout, n=50_000)


MAP_METHODS = ("tsne", "umap", "opentsne")


def scenario_maps_50k(work: Path, cores: int, timeout: float, n: int = 50_000) -> dict:
    """The 2-D maps of 50,000 real Fashion-MNIST images (40,000 training, 10,000 test images) by scikit-learn's
    t-SNE (Barnes-Hut), UMAP and openTSNE (FFT), from the PCA components: each map's wall time, peak memory and
    trustworthiness side by side, in one run. Targets: UMAP and openTSNE each <= 5 min and <= 8 GB."""
    cfg = fashion_config(work, n, cnn=False)
    ds = cfg["datasets"]["fashion"]
    ds["embeddings"] = {"methods": list(MAP_METHODS), "input": "pca"}
    (work / "config.yaml").write_text(
        yaml.safe_dump(_merge(yaml.safe_load((ROOT / "config.yaml").read_text()), cfg), sort_keys=False)
    )
    targets = [f"results/fashion/maps/{m}.json" for m in MAP_METHODS]
    cold = run_snakemake(work, targets, cores, timeout)
    rules = rules_benchmarks(work, "fashion")
    maps = {}
    for m in MAP_METHODS:
        f = work / f"results/fashion/maps/{m}.json"
        r = json.loads(f.read_text()) if f.exists() else {}
        job = (rules.get("jobs") or {}).get(f"map_{m}", {})
        maps[m] = {
            "wall_s": job.get("wall_s"),
            "max_pss_mb": job.get("max_pss_mb"),
            "trustworthiness": r.get("trustworthiness"),
            "strategy": r.get("strategy"),
            "params": r.get("params"),
        }
    checks = []
    for m in ("umap", "opentsne"):
        w = maps[m]["wall_s"]
        checks.append(check(f"{m}_wall_s", w, "<= 300", w is not None and w <= 300))
    checks.append(
        check("peak_pss_mb", cold["peak_pss_mb"], "<= 8192", cold["peak_pss_mb"] <= 8192 and cold["returncode"] == 0)
    )
    return {"n": n, "runs": {"cold": cold}, "rules": rules, "maps": maps, "checks": checks}


def scenario_explore_50k(work: Path, cores: int, timeout: float, n: int = 50_000) -> dict:
    """The interactive map at 50,000 points (real Fashion-MNIST images; three maps: PCA and two
    random 2-D layouts standing in for embeddings, label/split and two clusterings as colourings, the default
    3,000 thumbnails), opened in headless Chromium: page size, time to build it, time until the plot is drawn,
    and the time from a mouse move onto a point until its thumbnail shows. Targets: drawn <= 10 s, hover <= 1 s."""
    import numpy as np
    import pandas as pd

    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "scripts")]
    import browser  # noqa: E402  (tests/browser.py: Chromium through Playwright, offline)

    from imagespace.report import explore

    path = fashion_subset(work, n)
    with np.load(path) as z:
        x, y = z["x_test"], z["y_test"]
    rng = np.random.default_rng(0)
    ids = [f"img{i:05d}" for i in range(n)]
    manifest = pd.DataFrame(
        {
            "index": np.arange(n),
            "id": ids,
            "name": [f"{i}.png" for i in ids],
            "label": y.astype(str),
            "subtype": "",
            "split": np.where(rng.random(n) < 0.8, "train", "validation"),
        }
    )
    flat = x.reshape(n, -1).astype(np.float32) / 255
    flat -= flat.mean(axis=0)
    pcs = np.linalg.svd(flat[:5000], full_matrices=False)[2][:2]
    maps = {
        "pca": (ids, flat @ pcs.T),
        "layout_a": (ids, rng.normal(size=(n, 2))),
        "layout_b": (ids, rng.normal(size=(n, 2))),
    }
    colourings = {f"clusters {k}": ("categorical", dict(zip(ids, rng.integers(0, k, n).astype(str)))) for k in (10, 25)}
    t0 = time.monotonic()
    html, info = explore.build_page(manifest, maps, colourings, images=x, thumbnails=3000, title="fashion 50k")
    build_s = time.monotonic() - t0
    page = work / "map.html"
    page.write_text(html)
    t0 = time.monotonic()
    with browser.page(page.as_uri()) as (pg, outside, errors):
        drawn_s = time.monotonic() - t0
        got = browser.points(pg)
        with_thumb = [
            i
            for i, (_, t) in enumerate(
                zip(
                    ids,
                    pg.evaluate(
                        "() => Bokeh.documents[0].get_model_by_name('points')"
                        ".data_source.data.thumb.map(t => t.startsWith('data:image/png'))"
                    ),
                )
            )
            if t
        ][:5]
        hovers = []
        for i in with_thumb:
            t1 = time.monotonic()
            browser.hover(pg, i)
            hovers.append(round(time.monotonic() - t1, 3))
            pg.mouse.move(5, 5)
        t1 = time.monotonic()
        browser.choose(pg, "map_select", "layout_a")
        switch_s = time.monotonic() - t1
    checks = [
        check("drawn_s", round(drawn_s, 2), "<= 10", drawn_s <= 10 and got["n"] == n),
        check("hover_s_max", max(hovers) if hovers else None, "<= 1", bool(hovers) and max(hovers) <= 1),
    ]
    return {
        "n": n,
        "page_mb": round(len(html.encode()) / 1e6, 2),
        "build_s": round(build_s, 2),
        "drawn_s": round(drawn_s, 2),
        "points_in_page": got["n"],
        "hover_s": hovers,
        "map_switch_s": round(switch_s, 2),
        "thumbnails": info["n_thumbnails"],
        "network_requests": outside,
        "page_errors": errors,
        "checks": checks,
    }


def _slope(ns, ts) -> float | None:
    """Exponent b of t ~ n^b: log-log least squares (two points: the slope between them)."""
    import numpy as np

    if len(ns) < 2:
        return None
    return round(float(np.polyfit(np.log(ns), np.log(ts), 1)[0]), 2)


def job_strategy(point: dict, job: str) -> str:
    """The strategy a job ran with at one point (exact, landmarks, subsample, ...), from the run's results."""
    if job.startswith("map_"):
        key = f"maps/{job[len('map_') :]}.json"
    elif job.startswith("cluster_"):
        fs, method = job[len("cluster_") :].rsplit("_", 1)
        key = f"clustering/{fs}/{method}/result.json"
    else:
        return "exact"
    return (point.get("strategies", {}).get(key) or {}).get("name", "exact")


def scaling_exponents(points: list[dict]) -> dict:
    """Exponents b of time ~ n^b from the successful points, ignoring times under half a second
    (start-up dominates them).

    * ``jobs``: per job and per strategy regime (a job that switches from exact to landmarks
      above large_n gets one exponent for each side, never one line through both);
    * ``stages`` / ``total``: one fit over all points, and ``stages_local``: the slope between
      consecutive sizes, which shows where a stage's growth changes.
    """
    ok = [p for p in sorted(points, key=lambda p: p["n"]) if p["returncode"] == 0]
    jobs = {}
    for job in sorted({k for p in ok for k in p["jobs_s"]}):
        regimes: dict[str, list] = {}
        for p in ok:
            t = p["jobs_s"].get(job)
            if t and t > 0.5:
                regimes.setdefault(job_strategy(p, job), []).append((p["n"], t))
        fits = {name: _slope(*zip(*pts)) for name, pts in regimes.items() if len(pts) >= 2}
        if fits:
            jobs[job] = fits
    stages, local = {}, {}
    for stage in STAGES:
        pts = [(p["n"], p["stages_s"].get(stage, 0)) for p in ok if p["stages_s"].get(stage, 0) > 0.5]
        if len(pts) >= 2:
            stages[stage] = _slope(*zip(*pts))
            local[stage] = [
                {"from": a[0], "to": b[0], "b": _slope([a[0], b[0]], [a[1], b[1]])} for a, b in zip(pts, pts[1:])
            ]
    total = _slope([p["n"] for p in ok], [p["wall_s"] for p in ok]) if len(ok) >= 2 else None
    return {"total": total, "stages": stages, "stages_local": local, "jobs": jobs}


def scenario_scaling(work: Path, cores: int, timeout: float, sizes=(1000, 2000, 5000, 10_000, 50_000)) -> dict:
    """The whole Fashion-MNIST battery (embeddings, clustering with model selection, a 10-epoch CNN) at
    n = 1k, 2k, 5k, 10k, 50k (IMAGESPACE_SCALING_SIZES; IMAGESPACE_SCALING_CNN=0 leaves the CNN out):
    per-stage wall times with the exponent b of time ~ n^b, the strategy every method ran with, and the
    quality at every point (battery_quality), and the scale targets (<= 4 min / 4 GB at 10,000 images,
    <= 15 min / 8 GB at 50,000)."""
    env = os.environ.get("IMAGESPACE_SCALING_SIZES")
    sizes = [int(v) for v in env.split(",")] if env else list(sizes)
    cnn = os.environ.get("IMAGESPACE_SCALING_CNN", "1") != "0"
    points, checks = [], []
    for n in sizes:
        sub = work / f"n{n}"
        sub.mkdir()
        res = scenario_fashion(sub, cores, timeout, n=n, cnn=cnn)
        run, rules = res["runs"]["cold"], res["rules"]
        points.append(
            {
                "n": n,
                "wall_s": run["wall_s"],
                "cpu_s": run["cpu_s"],
                "peak_pss_mb": run["peak_pss_mb"],
                "returncode": run["returncode"],
                "processes_left_behind": run["processes_left_behind"],
                "stages_s": res["stages_s"],
                "strategies": res["strategies"],
                "quality": res["quality"],
                "jobs_s": {k: round(v["wall_s"], 2) for k, v in (rules.get("jobs") or {}).items()},
                "log_tail": run["log_tail"],
            }
        )
        checks += res["checks"]
        print(
            f"  n={n}: {run['wall_s']} s, {run['peak_pss_mb']} MB, stages {res['stages_s']}, quality {res['quality']}",
            flush=True,
        )
        shutil.rmtree(sub, ignore_errors=True)
    exponents = scaling_exponents(points)
    checks.insert(
        0, check("all_runs_ok", [p["returncode"] for p in points], "all 0", all(p["returncode"] == 0 for p in points))
    )
    return {"sizes": sizes, "cnn": cnn, "points": points, "exponents": exponents, "checks": checks}


SCENARIOS = {
    "rocks_parity": scenario_rocks_parity,
    "notebook_vs_workflow": scenario_notebook_vs_workflow,
    "clustimage_vs_workflow": scenario_clustimage_vs_workflow,
    "clustimage_fashion_5k": scenario_clustimage_fashion_5k,
    "dryrun_1m": scenario_dryrun_1m,
    "rocks_default": scenario_rocks_default,
    "fashion_10k": scenario_fashion,
    "fashion_50k": scenario_fashion_50k,
    "maps_50k": scenario_maps_50k,
    "explore_50k": scenario_explore_50k,
    "scaling": scenario_scaling,
    "kill": scenario_kill,
    "make_run_default": scenario_make_run_default,
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="*")
    ap.add_argument("--list", action="store_true", help="list the scenarios")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per Snakemake run")
    ap.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks/results")
    ap.add_argument("--keep", action="store_true", help="keep the scenario's working directory")
    a = ap.parse_args()
    for sig in (signal.SIGTERM, signal.SIGHUP):  # a killed harness takes its run with it (run_snakemake)
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    if a.list or not a.scenarios:
        for name, fn in SCENARIOS.items():
            print(f"{name}: {' '.join(fn.__doc__.split())}")
        return 0
    unknown = [s for s in a.scenarios if s not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenarios {unknown}; known: {sorted(SCENARIOS)}")
    a.out_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    for name in a.scenarios:
        work = Path(tempfile.mkdtemp(prefix=f"imagespace_bench_{name}_"))
        try:
            res = SCENARIOS[name](work, a.cores, a.timeout)
        except Exception as exc:  # noqa: BLE001 - a failed or timed-out run is a result too
            res = {"error": f"{type(exc).__name__}: {exc}", "checks": [check("completed", False, True, False)]}
        finally:
            if not a.keep:
                shutil.rmtree(work, ignore_errors=True)
        res = {
            "scenario": name,
            "description": " ".join(SCENARIOS[name].__doc__.split()),
            "cores": a.cores,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **res,
            "all_ok": all(c["ok"] for c in res["checks"]),
        }
        path = a.out_dir / f"{name}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(res, indent=2))
        os.replace(tmp, path)
        print(f"{name}: {'all targets met' if res['all_ok'] else 'TARGETS MISSED'} -> {path}")
        for c in res["checks"]:
            print(f"  {'ok ' if c['ok'] else 'MISS'} {c['check']}: {c['value']} (target {c['target']})")
        failed += not res["all_ok"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
