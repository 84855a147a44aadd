"""The checkout itself: `make clean` removes only what runs create, rule scripts import the library without path
edits, and the Python code is as ruff wants it (lint and format, settings in pyproject.toml)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT


def _tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.fail("these checks need the git checkout (git ls-files)")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p and (ROOT / p).is_file()]


def test_make_clean_removes_run_outputs_and_leaves_every_tracked_file(tmp_path):
    tracked = _tracked_files()
    work = tmp_path / "checkout"
    for rel in tracked:
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, work / rel)
    created = [
        "results/d/ingest/images.npy",
        "logs/d/ingest.log",
        "benchmarks/runs/d/ingest.tsv",
        ".snakemake/metadata/x",
        "report.html",
    ]
    for rel in created:
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text("x")
    subprocess.run(["make", "-s", "clean"], cwd=work, check=True, capture_output=True)
    missing = [rel for rel in tracked if not (work / rel).is_file()]
    assert not missing, f"make clean deleted tracked files: {missing[:10]}"
    left = [rel for rel in created if (work / rel).exists()]
    assert not left, f"make clean left run outputs: {left}"
    assert any(rel.startswith("benchmarks/results/") for rel in tracked)


def test_rule_scripts_and_library_do_not_edit_sys_path():
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "scripts").rglob("*.py"))
        if re.search(r"^\s*sys\.path\.(insert|append)\(", path.read_text(encoding="utf-8"), re.M)
    ]
    assert not offenders, f"sys.path edits (Snakemake's preamble and pyproject's pythonpath do this): {offenders}"


def _ruff(*args: str) -> subprocess.CompletedProcess:
    ruff = Path(sys.executable).parent / "ruff"
    cmd = [str(ruff)] if ruff.exists() else [sys.executable, "-m", "ruff"]
    return subprocess.run([*cmd, *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_check_is_clean():
    res = _ruff("check", "--no-cache", "--output-format", "concise", ".")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-1000:]


def test_ruff_format_leaves_the_code_as_it_is():
    res = _ruff("format", "--no-cache", "--check", ".")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-1000:]
