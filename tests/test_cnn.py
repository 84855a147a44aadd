"""The CNN stage: real (small) TensorFlow training through the workflow, kill-and-resume, dead units."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, snakemake

pytest.importorskip("tensorflow")

from imagespace import cnn  # noqa: E402
from imagespace.util import load_features  # noqa: E402


def tiny_config(epochs=3, n_per_class=30, size=16, **cnn_extra):
    cfg = {
        "datasets": {
            "tiny": {
                "source": {"type": "synthetic", "n_per_class": n_per_class, "size": size, "seed": 2},
                "images": {"size": None, "color": "rgb"},
                "validation_fraction": 0.25,
                "human": {"builtin": True, "dims": 4},
                "cnn": {"enabled": True, "epochs": epochs, "batch_size": 8, "seed": 5},
            }
        },
        "embeddings": {"methods": []},
        "clustering": {"methods": ["kmeans"], "kmeans": {"k_max": 4}},
        "compare": {"n_permutations": 99, "n_bootstrap": 50},
    }
    cfg["datasets"]["tiny"]["cnn"].update(cnn_extra)
    return cfg


def write(work, cfg):
    work.mkdir(parents=True, exist_ok=True)
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    return work


def test_notebook_architecture_has_the_notebooks_parameter_counts():
    model = cnn.build_model((128, 128, 1), 3, "notebook", seed=42)
    counts = cnn.count_parameters(model)
    assert counts["n_params"] == 3_700_131
    assert counts["n_bias_params"] == 251
    assert model.get_layer(cnn.PENULTIMATE).output.shape[-1] == 8


def test_fashion_architecture_is_expressible():
    model = cnn.build_model((28, 28, 1), 10, "fashion", seed=0, l2=1e-4)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 3 and kinds.count("BatchNormalization") == 2 and kinds.count("Dropout") == 2
    assert model.get_layer(cnn.PENULTIMATE).output.shape[-1] == 64


@pytest.mark.workflow
def test_short_training_run_checkpoints_history_and_features(tmp_path):
    # a classifier, a network trained on the human space, and ensembles: one with that network
    # (in-sample on the training split) and one of out-of-fold ridge maps only
    cfg = tiny_config(epochs=3, variants={"cnn": {}, "cnn_h": {"target": "human"}})
    cfg["datasets"]["tiny"]["alignment"] = {"ensembles": {"h": ["cnn_h", "human_pred_pca"], "oof": ["human_pred_pca", "human_pred_cnn"]}}
    work = write(tmp_path, cfg)
    snakemake(work)
    d = work / "results/tiny"
    assert sorted(p.name for p in (d / "cnn/cnn/checkpoints").glob("epoch_*.keras")) == [f"epoch_00{i}.keras" for i in (1, 2, 3)]
    hist = pd.read_csv(d / "cnn/cnn/history.csv", sep="\t")
    assert list(hist["epoch"]) == [1, 2, 3]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"} <= set(hist.columns)
    manifest = pd.read_csv(d / "ingest/manifest.tsv", sep="\t", dtype=str)
    fs = load_features(d / "features/cnn.npz")
    assert fs.X.shape == (90, 8)
    assert list(fs.ids) == list(manifest["id"])  # same id order as the manifest
    s = json.loads((d / "summary.json").read_text())
    c = s["cnn"]["cnn"]
    assert c["epochs_run"] == 3 and 1 <= c["best_epoch"] <= 3 and 0 <= c["val_accuracy"] <= 1
    assert c["n_params"] > 0 and c["n_bias_params"] > 0 and c["dead_units"] == []
    # the classifier chose its checkpoint on the validation split, which has a human space: the
    # summary says its rows there are not fully held out; the human-target network's are
    assert c["checkpoint_split"] == "validation" and s["cnn"]["cnn_h"]["checkpoint_split"] is None
    assert "`cnn` chose its checkpoint by label accuracy on split 'validation'" in (d / "summary.md").read_text()
    assert "`cnn_h` chose" not in (d / "summary.md").read_text()
    assert set(s["compare"]["cnn"]) == {"train", "validation"}
    assert "cnn" in s["clustering_by_feature_set"]
    for fig in ("cnn/cnn/curves.png", "maps/cnn_features.png", "clustering/cnn/kmeans/gallery.png"):
        assert (d / fig).read_bytes()[:4] == b"\x89PNG"
    # the human-space network predicts the 4 human coordinates; it is never scored on the split it learnt
    h = load_features(d / "features/cnn_h.npz")
    assert h.X.shape == (90, 4) and h.meta["target"] == "human"
    assert set(s["compare"]["cnn_h"]) == {"validation"} and set(s["compare"]["ensemble_h"]) == {"validation"}
    assert set(s["compare"]["ensemble_oof"]) == {"train", "validation"}
    e = load_features(d / "features/ensemble_oof.npz")
    a, b = load_features(d / "features/human_pred_pca.npz"), load_features(d / "features/human_pred_cnn.npz")
    np.testing.assert_allclose(e.X, (a.rows(e.ids) + b.rows(e.ids)) / 2, rtol=1e-6)
    assert "human_pred_cnn_h" not in s["compare"] and "cnn_h" not in s["clustering_by_feature_set"]
    hist = pd.read_csv(d / "cnn/cnn_h/history.csv", sep="\t")
    assert {"loss", "val_loss"} <= set(hist.columns) and len(hist) == 3
    assert "running on CPU" in (work / "logs/tiny/train_cnn.log").read_text() or "GPU" in (work / "logs/tiny/train_cnn.log").read_text()


def _train_pid(parent: int):
    import psutil

    for child in psutil.Process(parent).children(recursive=True):
        try:
            if "train_cnn" in " ".join(child.cmdline()):
                return child.pid
        except psutil.Error:
            continue
    return None


@pytest.mark.workflow
def test_killed_training_resumes_to_the_uninterrupted_result(tmp_path):
    cfg = tiny_config(epochs=6, n_per_class=60, size=24)
    ref = write(tmp_path / "ref", cfg)
    snakemake(ref)

    work = write(tmp_path / "killed", cfg)
    snakefile = ROOT / "Snakefile"
    cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "--directory", str(work), "--cores", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    state = work / "results/tiny/cnn/cnn/checkpoints/state.json"
    killed_at = None
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if state.exists() and json.loads(state.read_text())["epoch"] >= 2:
            pid = _train_pid(proc.pid)
            if pid:
                time.sleep(0.2)  # into the next epoch
                os.kill(pid, signal.SIGKILL)
                killed_at = json.loads(state.read_text())["epoch"]
                break
        time.sleep(0.05)
    proc.wait(timeout=120)
    assert killed_at is not None and killed_at < 6, "the training job was not killed mid-run"
    assert proc.returncode != 0
    assert not (work / "results/tiny/cnn/cnn/model.keras").exists()

    snakemake(work)
    log = (work / "logs/tiny/train_cnn.log").read_text()
    assert "resuming from" in log
    h_ref = pd.read_csv(ref / "results/tiny/cnn/cnn/history.csv", sep="\t").drop(columns="seconds")
    h_res = pd.read_csv(work / "results/tiny/cnn/cnn/history.csv", sep="\t").drop(columns="seconds")
    pd.testing.assert_frame_equal(h_ref, h_res, rtol=1e-5)
    f_ref = load_features(ref / "results/tiny/features/cnn.npz").X
    f_res = load_features(work / "results/tiny/features/cnn.npz").X
    np.testing.assert_allclose(f_res, f_ref, rtol=1e-4, atol=1e-5)


def test_dead_penultimate_units_are_detected():
    layers = [
        {"type": "conv", "filters": 4, "kernel": 3},
        {"type": "globalpool"},
        {"type": "dense", "units": 8, "activation": "relu", "name": cnn.PENULTIMATE},
    ]
    model = cnn.build_model((12, 12, 1), 2, layers, seed=0)
    kernel, bias = model.get_layer(cnn.PENULTIMATE).get_weights()
    bias[:] = 10.0  # every unit alive ...
    bias[[1, 4, 6]] = -1e4  # ... except these, which can never fire
    model.get_layer(cnn.PENULTIMATE).set_weights([kernel, bias])
    x = np.random.default_rng(0).integers(0, 255, size=(40, 12, 12, 1)).astype(np.uint8)
    F = cnn.features(model, x)
    assert cnn.dead_units(F) == [1, 4, 6]
    # forced to die entirely
    dead_all = [dict(layer) for layer in layers]
    dead_all[-1]["bias_init"] = -1e4
    F = cnn.features(cnn.build_model((12, 12, 1), 2, dead_all, seed=0), x)
    assert cnn.dead_units(F) == list(range(8))
