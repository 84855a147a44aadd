"""The package imagespace.nets: importing it loads no deep-learning framework, its names load from their modules on
first use, and the old flat modules are aliases of the new ones until every import is updated."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def _fresh(code: str) -> str:
    r = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "scripts"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_importing_the_package_imports_no_framework():
    out = _fresh("import imagespace.nets, sys; print('tensorflow' in sys.modules, 'torch' in sys.modules)")
    assert out == "False False"
    # nor do the framework-free modules the workflow reads at DAG time, nor looking up a name of one
    code = (
        "import sys; from imagespace import nets; from imagespace.nets import backbone_table; nets.PRESETS; "
        "nets.check_architecture('default', 'x'); nets.finetune_out_of_fold; nets.backbones_torch; "
        "print(sorted(m for m in ('tensorflow', 'keras', 'torch') if m in sys.modules))"
    )
    assert _fresh(code) == "[]"


def test_names_load_from_their_modules_and_unknown_names_fail():
    import pytest

    from imagespace import nets
    from imagespace.nets import cnn_data, cnn_layers, cnn_train, finetune

    assert nets.build_model is cnn_layers.build_model and nets.train is cnn_train.train
    assert nets.training_targets is cnn_data.training_targets and nets.finetune is finetune
    assert nets.FinetuneError is finetune.FinetuneError
    assert set(nets.__all__) <= set(dir(nets))
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        nets.trian  # noqa: B018
