"""What a job pays before it computes anything: the import cost of each rule script's module-level imports, in a
fresh interpreter (``python -X importtime``, the self times summed), held to a budget per script.

A rule script imports its entry points at the top and everything heavy inside ``main`` or inside the library
function that needs it; the packages load their modules lazily (:mod:`imagespace._lazy`). The budgets are several
times what the imports take on an idle two-core machine, so that a loaded test machine does not fail them, yet
a module-level import of scikit-learn, SciPy's stats, matplotlib, pandas, TensorFlow or PyTorch (each 0.3 to 3 s)
would exceed them."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest
from conftest import ROOT

SCRIPTS = sorted(p for p in (ROOT / "scripts").glob("*.py"))
DEFAULT_BUDGET_S = 0.6
# the small jobs of every run: the issue's own budget
BUDGETS_S = {"leaderboard": 0.4, "summary": 0.4, "compare": 0.4}
HEAVY = ("sklearn", "matplotlib", "tensorflow", "torch", "bokeh", "umap", "openTSNE", "skimage", "cleanlab", "cblearn")


def _top_level_imports(path) -> str:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return "\n".join(ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))


def _import_cost(code: str) -> tuple[float, list[str]]:
    """(seconds of import, summed self times; the heavy packages loaded) of *code* in a fresh interpreter."""
    probe = code + f"\nimport sys\nprint(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", probe],
        cwd=ROOT / "scripts",
        capture_output=True,
        text=True,
        check=True,
    )
    total_us = sum(
        int(line.split("|")[0].split(":")[1])
        for line in res.stderr.splitlines()
        if line.startswith("import time:") and "self [us]" not in line
    )
    return total_us / 1e6, ast.literal_eval(res.stdout.strip().splitlines()[-1])


def test_the_measure_sees_a_heavy_import():
    seconds, heavy = _import_cost("import sklearn.linear_model")
    assert heavy == ["sklearn"] and seconds > 0.05


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_a_rule_script_imports_only_its_entry_points(script):
    code = _top_level_imports(script)
    assert "imagespace" in code, f"{script.name}: no library import at the top"
    budget = BUDGETS_S.get(script.stem, DEFAULT_BUDGET_S)
    runs = [_import_cost(code) for _ in range(2)]  # the lower of two: a busy machine adds time, never subtracts it
    heavy, seconds = runs[0][1], min(s for s, _ in runs)
    assert heavy == [], f"{script.name}: module-level imports load {heavy}"
    assert seconds <= budget, f"{script.name}: imports take {seconds:.2f} s (budget {budget} s)"
