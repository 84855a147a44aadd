"""Shared test setup: the library on sys.path, the shared real datasets, Snakemake runs in scratch dirs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


SHARED = Path(os.environ.get("IMAGESPACE_SHARED", ROOT.parent / "shared")) / "data"


def shared(*parts) -> Path:
    """Path to a real dataset under ../shared/data; the test is skipped if it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data not available: {p}")
    return p


def copy_project(dest: Path) -> Path:
    """A private copy of the workflow (Snakefile, workflow/, scripts/, envs/) that a test may modify."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "Snakefile", dest / "Snakefile")
    for d in ("workflow", "scripts", "envs"):
        shutil.copytree(ROOT / d, dest / d, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run Snakemake in *workdir* (its config.yaml is the config); a Snakefile there wins over the project's."""
    snakefile = workdir / "Snakefile" if (workdir / "Snakefile").exists() else ROOT / "Snakefile"
    cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "--directory", str(workdir), "--cores", "2", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def planned_jobs(workdir: Path, *args: str) -> list[tuple[str, str]]:
    """(rule, dataset) of every job a dry run would execute (the aggregate rule all left out)."""
    proc = snakemake(workdir, "-n", *args)
    text = proc.stdout + proc.stderr
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", text):
        m = re.match(r"(?:local)?rule (\w+):", block.strip())
        if not m or m.group(1) == "all":
            continue
        out = re.search(r"output: ([^\n]+)", block)
        ds = re.search(r"results/([^/]+)/", out.group(1)).group(1) if out else ""
        jobs.append((m.group(1), ds))
    return jobs


#: the test files that run the most Snakemake work, first: make test hands whole files to two pytest-xdist
#: workers in collection order, and a long file started last leaves the other worker idle until it ends
HEAVY_FIRST = ("test_workflow.py", "test_cnn.py", "test_predict.py", "test_rocks.py", "test_finetune_torch.py")


def random_mobilenetv2(size: int, seed: int, path: Path):
    """(model, weights file): a randomly initialised MobileNetV2 without its top, batch-norm scales raised 4x so
    that activations stay O(1) through every block, its weights saved to *path*: the stand-in for ImageNet
    weights in the offline backbone and transfer tests."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(size, size, 3))
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.gamma.assign(layer.gamma * 4.0)
    model.save_weights(path)
    return model, path


def pytest_collection_modifyitems(session, config, items):
    first = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: first.get(item.path.name, len(first)))  # stable: each file keeps its own order
