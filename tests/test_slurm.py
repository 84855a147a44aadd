"""The SLURM path: the workflow through `--executor slurm --workflow-profile workflow/profiles/slurm`
on a real single-node SLURM (installed and started by tests/slurm/start_slurm.sh, stopped afterwards),
checked against a local run of the same config.

Needs root (apt-get install of slurmctld/slurmd/slurm-client/munge on Debian/Ubuntu, daemons started
without systemd) and snakemake-executor-plugin-slurm; skipped with the reason otherwise
(IMAGESPACE_REQUIRE_SLURM=1 turns those skips into failures). Deselect with `-m "not slurm"`.
About 3 minutes on 2 cores (the installation of the packages, where needed, comes on top).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT

pytestmark = pytest.mark.slurm

SCRIPTS = ROOT / "tests" / "slurm"
PROFILE = ROOT / "workflow" / "profiles" / "slurm"
# A fixed state dir (override: IMAGESPACE_SLURM_STATE): a run killed before its teardown leaves PID
# files that the next start (and stop_slurm.sh) find again.
STATE = Path(os.environ.get("IMAGESPACE_SLURM_STATE", "/tmp/imagespace-slurm-test"))
# a guard against a hang: the SLURM run took 8 to 10 minutes on 2 shared cores (each job step parses the workflow)
RUN_TIMEOUT_S = 720


def _unavailable(reason: str):
    if os.environ.get("IMAGESPACE_REQUIRE_SLURM") == "1":
        pytest.fail(f"SLURM required (IMAGESPACE_REQUIRE_SLURM=1) but: {reason}")
    pytest.skip(reason)


def _config() -> dict:
    """Like test_cnn.tiny_config: 90 synthetic 16x16 images, built-in human space, a 2-epoch CNN."""
    return {
        "datasets": {
            "tiny": {
                "source": {"type": "synthetic", "n_per_class": 30, "size": 16, "seed": 2},
                "images": {"size": None, "color": "rgb"},
                "validation_fraction": 0.25,
                "human": {"builtin": True, "dims": 4},
                "cnn": {"enabled": True, "epochs": 2, "batch_size": 8, "seed": 5},
            }
        },
        "embeddings": {"methods": []},
        "clustering": {"methods": ["kmeans"], "kmeans": {"k_max": 4}, "on_maps": False},
        "compare": {"n_permutations": 99},
        "retrieval": {"feature_sets": ["pca", "cnn"]},
        "explore": {"enabled": False},
    }


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@pytest.fixture(scope="module")
def slurm():
    """A running one-node SLURM with a fake GPU; its daemons are stopped afterwards, whatever happened."""
    if not sys.platform.startswith("linux"):
        _unavailable("SLURM test needs Linux")
    if os.geteuid() != 0:
        _unavailable("SLURM test needs root (installs slurmctld/slurmd/munge, writes /etc/slurm, starts the daemons)")
    if not shutil.which("slurmctld", path=os.environ.get("PATH", "") + ":/usr/sbin") and not shutil.which("apt-get"):
        _unavailable("SLURM is not installed and apt-get is not available to install it")
    # (find_spec, not import: importing the plugin runs scontrol, which waits 10 s with no controller up)
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        _unavailable(
            "snakemake-executor-plugin-slurm is not installed (pip install snakemake-executor-plugin-slurm==2.8.0)"
        )
    try:
        try:
            start = subprocess.run(
                ["bash", str(SCRIPTS / "start_slurm.sh"), str(STATE)], capture_output=True, text=True, timeout=900
            )
        except subprocess.TimeoutExpired:
            _unavailable("start_slurm.sh did not finish in 900 s (apt-get hanging?)")
        if start.returncode != 0:
            _unavailable(
                f"SLURM could not be installed/started (start_slurm.sh rc={start.returncode}): "
                f"{start.stderr.strip()[-1500:]}"
            )
        yield STATE
    finally:
        stop = subprocess.run(
            ["bash", str(SCRIPTS / "stop_slurm.sh"), str(STATE)], capture_output=True, text=True, timeout=180
        )
        print(stop.stderr, file=sys.stderr)


def _slurm_cmd(work: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "snakemake",
        "-s", str(ROOT / "Snakefile"), "--directory", str(work),
        "--executor", "slurm", "--workflow-profile", str(PROFILE),
        "--cores", str(_cpus()),  # the test node's CPUs (the profile's `cores` is for real nodes)
        "--slurm-keep-successful-logs",  # the logs of the SLURM jobs are checked below
        *extra,
    ]  # fmt: skip


# Own session (a signal to it reaches no one else) and SIGINT at its default: a process started from a
# non-interactive shell's background job inherits SIGINT ignored, and Python then never raises
# KeyboardInterrupt, so Snakemake could not be stopped (nor cancel its SLURM jobs) with SIGINT.
_SIGINT_STOPS = dict(start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _stop(proc: subprocess.Popen) -> None:
    """Stop a (hung) Snakemake: SIGINT (it cancels its SLURM jobs; it ignores SIGTERM while waiting), then SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _scontrol_job(jobid: str) -> str:
    out = subprocess.run(["scontrol", "show", "job", "-d", jobid], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, f"scontrol show job {jobid}: {out.stderr}"
    return out.stdout


def _field(text: str, key: str) -> str:
    m = re.search(rf"\b{key}=(\S*)", text)
    return m.group(1) if m else ""


def _assert_same(a, b, path=""):
    """Equal JSON trees; floats to 1e-9 relative."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{path}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            _assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{path}: {a} != {b}"
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), f"{path}: {a} != {b}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def test_workflow_through_slurm_matches_a_local_run(slurm, tmp_path):
    cfg = yaml.safe_dump(_config())
    work, ref = tmp_path / "slurm", tmp_path / "local"
    for d in (work, ref):
        d.mkdir()
        (d / "config.yaml").write_text(cfg)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env["PYTHONHASHSEED"] = "0"

    # The SLURM run in the background, and meanwhile the local reference at the lowest CPU priority
    # (it uses the CPU the SLURM run leaves idle while it waits between status checks).
    log, ref_log = tmp_path / "slurm_run.log", tmp_path / "local_run.log"
    t0 = time.monotonic()
    with open(log, "w") as fh, open(ref_log, "w") as rfh:
        proc = subprocess.Popen(_slurm_cmd(work), stdout=fh, stderr=subprocess.STDOUT, env=env, **_SIGINT_STOPS)
        local = subprocess.Popen(
            ["nice", "-n", "19", sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"),
             "--directory", str(ref), "--cores", "2"],
            stdout=rfh, stderr=subprocess.STDOUT, env=env, **_SIGINT_STOPS,
        )  # fmt: skip
        try:
            proc.wait(timeout=RUN_TIMEOUT_S)
            t_slurm = time.monotonic() - t0
            local.wait(timeout=max(1, RUN_TIMEOUT_S - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"snakemake still running after {RUN_TIMEOUT_S}s (stopped with SIGINT):\n{log.read_text()[-5000:]}"
            )
        finally:
            _stop(proc)
            _stop(local)
    local_text = ref_log.read_text()
    assert local.returncode == 0, f"local reference run failed ({local.returncode}):\n{local_text[-6000:]}"
    text = log.read_text()
    assert proc.returncode == 0, f"snakemake --executor slurm failed ({proc.returncode}):\n{text[-6000:]}"

    # --- the jobs really went through SLURM (no sacct: scontrol knows finished jobs for MinJobAge) ---
    submitted = re.findall(r"submitted with SLURM jobid (\d+) \(log: (\S+)\)", text)
    assert submitted, f"no SLURM submissions in the log:\n{text[-4000:]}"
    rule_re = re.compile(r"^(?:local)?rule (\w+):", re.M)
    by_job = {}  # SLURM job id -> (scontrol text, rules its log shows)
    for jobid, logfile in submitted:
        info = _scontrol_job(jobid)
        assert _field(info, "JobState") == "COMPLETED", info
        assert _field(info, "WorkDir") == str(work), info
        # the job's own output (.snakemake/slurm_logs/..., kept by --slurm-keep-successful-logs)
        by_job[jobid] = (info, set(rule_re.findall(Path(logfile).read_text())))
    # every rule the local run ran (but the aggregate `all`) ran inside a SLURM job, none on the submit host
    local_rules = set(rule_re.findall(local_text)) - {"all"}
    assert set().union(*(rules for _, rules in by_job.values())) == local_rules
    assert not re.search(r"^localrule (?!all:)", text, re.M), "a job ran on the submit host"
    # fewer SLURM jobs than rules: the profile's groups (prep, cnn, analysis, report)
    assert len(by_job) < len(local_rules), sorted(rules for _, rules in by_job.values())
    gpu_jobs = [j for j, (_, rules) in by_job.items() if "train_cnn" in rules]
    assert len(gpu_jobs) == 1 and "cnn_features" in by_job[gpu_jobs[0]][1]
    for jobid, (info, rules) in by_job.items():
        if jobid in gpu_jobs:
            # the CNN job asked for a GPU (--gpus=1 --cpus-per-gpu=N) and SLURM allocated one to it
            assert _field(info, "TresPerJob") == "gres:gpu:1", info
            assert _field(info, "CpusPerTres").startswith("gres:gpu:"), info
            assert _field(info, "JOB_GRES") == "gpu:1", info
        else:
            assert _field(info, "TresPerJob") in ("", "(null)"), f"job {jobid} ({sorted(rules)}) asked for a GPU"
    assert (work / "logs/tiny/train_cnn/cnn.log").read_text()

    # --- same results as the local run ---
    s_slurm = json.loads((work / "results/tiny/summary.json").read_text())
    s_local = json.loads((ref / "results/tiny/summary.json").read_text())
    for key in ("pca", "clustering", "clustering_by_feature_set", "compare", "human_checks"):
        assert key in s_slurm, f"summary.json has no {key!r}"
        _assert_same(s_slurm[key], s_local[key], key)
    assert set(s_slurm["compare"]) >= {"pca", "cnn"}
    drop = {"train_seconds", "device"}
    _assert_same(
        {k: v for k, v in s_slurm["cnn"]["cnn"].items() if k not in drop},
        {k: v for k, v in s_local["cnn"]["cnn"].items() if k not in drop},
        "cnn.cnn",
    )
    h_slurm = pd.read_csv(work / "results/tiny/cnn/cnn/history.csv", sep="\t").drop(columns="seconds")
    h_local = pd.read_csv(ref / "results/tiny/cnn/cnn/history.csv", sep="\t").drop(columns="seconds")
    assert len(h_slurm) == 2
    pd.testing.assert_frame_equal(h_slurm, h_local, check_exact=False, rtol=1e-6)

    # --- a second invocation finds nothing to do (outputs written on the node are up to date) ---
    again = subprocess.run(_slurm_cmd(work), capture_output=True, text=True, env=env, timeout=300)
    out = again.stdout + again.stderr
    assert again.returncode == 0, out[-4000:]
    assert "Nothing to be done" in out and "submitted with SLURM jobid" not in out, out[-4000:]
    print(
        f"SLURM run {t_slurm:.0f} s ({len(submitted)} SLURM jobs), all runs {time.monotonic() - t0:.0f} s",
        file=sys.stderr,
    )
