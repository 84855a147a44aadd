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

from imagespace import nets  # noqa: E402
from imagespace.io import load_features  # noqa: E402


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
        "clustering": {"methods": ["kmeans"], "kmeans": {"k_max": 4}, "on_maps": False},
        "compare": {"n_permutations": 99, "n_bootstrap": 50, "paired": {"n_bootstrap": 100}},
        "retrieval": {"enabled": False},
        "explore": {"enabled": False},
    }
    cfg["datasets"]["tiny"]["cnn"].update(cnn_extra)
    return cfg


def write(work, cfg):
    work.mkdir(parents=True, exist_ok=True)
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    return work


def test_notebook_architecture_has_the_notebooks_parameter_counts():
    model = nets.build_model((128, 128, 1), 3, "notebook", seed=42)
    counts = nets.count_parameters(model)
    assert counts["n_params"] == 3_700_131
    assert counts["n_bias_params"] == 251
    assert model.get_layer(nets.PENULTIMATE).output.shape[-1] == 8


def test_inference_batches_keep_activation_memory_flat():
    """64 float32 channels at full resolution within 256 MB: large images get small batches, small images 256."""
    assert nets.inference_batch((28, 28, 1)) == 256
    assert nets.inference_batch((128, 128, 1)) == 64
    assert nets.inference_batch((800, 800, 1)) == 8  # never below 8
    for shape in ((64, 64, 3), (128, 128, 1), (224, 224, 3)):
        b = nets.inference_batch(shape)
        assert b * shape[0] * shape[1] * 64 * 4 <= 256 * 2**20


def test_fashion_architecture_is_expressible():
    model = nets.build_model((28, 28, 1), 10, "fashion", seed=0, l2=1e-4)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 3 and kinds.count("BatchNormalization") == 2 and kinds.count("Dropout") == 2
    assert model.get_layer(nets.PENULTIMATE).output.shape[-1] == 64


@pytest.mark.workflow
def test_short_training_run_checkpoints_history_and_features(tmp_path):
    # a classifier, a network trained on the human space, and ensembles: one with that network
    # (in-sample on the training split) and one of out-of-fold ridge maps only
    cfg = tiny_config(epochs=3, variants={"cnn": {}, "cnn_h": {"target": "human"}})
    cfg["datasets"]["tiny"]["alignment"] = {
        "ensembles": {"h": ["cnn_h", "human_pred_pca"], "oof": ["human_pred_pca", "human_pred_cnn"]}
    }
    work = write(tmp_path, cfg)
    snakemake(work)
    d = work / "results/tiny"
    assert sorted(p.name for p in (d / "cnn/cnn/checkpoints").glob("epoch_*.keras")) == [
        f"epoch_00{i}.keras" for i in (1, 2, 3)
    ]
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
    assert (
        "running on CPU" in (work / "logs/tiny/train_cnn/cnn.log").read_text()
        or "GPU" in (work / "logs/tiny/train_cnn/cnn.log").read_text()
    )


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
    target = "results/tiny/features/cnn.npz"  # the network and its features: nothing downstream is under test
    snakemake(ref, target)

    work = write(tmp_path / "killed", cfg)
    snakefile = ROOT / "Snakefile"
    cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "--directory", str(work), "--cores", "2", target]
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

    snakemake(work, target)
    log = (work / "logs/tiny/train_cnn/cnn.log").read_text()
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
        {"type": "dense", "units": 8, "activation": "relu", "name": nets.PENULTIMATE},
    ]
    model = nets.build_model((12, 12, 1), 2, layers, seed=0)
    kernel, bias = model.get_layer(nets.PENULTIMATE).get_weights()
    bias[:] = 10.0  # every unit alive ...
    bias[[1, 4, 6]] = -1e4  # ... except these, which can never fire
    model.get_layer(nets.PENULTIMATE).set_weights([kernel, bias])
    x = np.random.default_rng(0).integers(0, 255, size=(40, 12, 12, 1)).astype(np.uint8)
    F = nets.features(model, x)
    assert nets.dead_units(F) == [1, 4, 6]
    # forced to die entirely
    dead_all = [dict(layer) for layer in layers]
    dead_all[-1]["bias_init"] = -1e4
    F = nets.features(nets.build_model((12, 12, 1), 2, dead_all, seed=0), x)
    assert nets.dead_units(F) == list(range(8))


def test_a_collapsed_network_is_a_warning_not_a_crash(tmp_path):
    """Every penultimate unit dead (as the notebook's network at seed 42 on the rocks): the run completes, the
    comparisons say the set explains nothing (disparity 1, the exact limit), and the summary warns at the top."""
    layers = [
        {"type": "conv", "filters": 4, "kernel": 3},
        {"type": "globalpool"},
        {"type": "dense", "units": 6, "activation": "relu", "name": nets.PENULTIMATE, "bias_init": -1e4},
    ]
    work = write(tmp_path / "w", tiny_config(epochs=1, architecture=layers, cluster_methods=[]))
    snakemake(work, "--cores", "2")
    s = json.loads((work / "results/tiny/summary.json").read_text())
    assert any("all 6 penultimate units are dead" in w and "collapsed" in w for w in s["warnings"]), s["warnings"]
    cmp_ = s["compare"]["cnn"]
    for split, r in cmp_.items():
        assert r["disparity"] == 1.0 and r["permutation_p"] == 1.0 and r["significant"] is False, (split, r)
        assert "carries no information" in r["verdict"]
    md = (work / "results/tiny/summary.md").read_text()
    assert md.index("network collapsed") < md.index("## ", md.index("## Warnings") + 3)
    # left out of the paired comparisons, and said so (not "not distinguishable")
    assert "cnn" in s["alignment_paired"]["validation"]["not_compared"]
    assert "cnn" not in s["alignment_paired"]["validation"]["not_beaten"]
    assert "not compared (every row the same" in md
    probes = json.loads((work / "results/tiny/probes/cnn.json").read_text())
    assert probes["headline"] is None and "no probe was fitted" in probes["degenerate"]


# --------------------------------------------------------------------------- issue: supervised results you can trust
def _shapes(n_per_class=40, size=28, seed=3):
    from imagespace.ingest import synthetic

    g = synthetic.generate(n_per_class=n_per_class, size=size, seed=seed)
    classes = sorted(set(g["labels"]))
    return g["images"], np.array([classes.index(c) for c in g["labels"]], np.int32), classes


@pytest.mark.parametrize("cache_mb", [512.0, 0.0])  # each layer's inputs from the previous layer's, or from the image
def test_recalibrated_batchnorm_statistics_are_the_inputs_exact_statistics(tmp_path, cache_mb):
    x, y, _ = _shapes(20, 16)
    model = nets.build_model(x.shape[1:], 3, "default", seed=0)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # momentum 0.99: after 8 steps the moving statistics are far off
    import keras

    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    sub = keras.Model(model.inputs, bns[0].input)
    a = np.asarray(sub(x, training=False), dtype=np.float64).reshape(-1, bns[0].input.shape[-1])
    assert np.abs(np.asarray(bns[0].moving_variance) - a.var(axis=0)).max() > 0.05  # the problem the fix removes
    assert nets.recalibrate_batchnorm(model, x, cache_mb=cache_mb) == [layer.name for layer in bns]
    for layer in bns:  # in network order: each layer's inputs computed with the earlier layers already recalibrated
        sub = keras.Model(model.inputs, layer.input)
        a = np.asarray(sub(x, training=False), dtype=np.float64).reshape(-1, layer.input.shape[-1])
        np.testing.assert_allclose(np.asarray(layer.moving_mean), a.mean(axis=0), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.asarray(layer.moving_variance), a.var(axis=0), rtol=1e-3, atol=1e-5)


def test_recalibration_through_a_skip_connection_is_exact():
    """The layers between two batch-normalisation layers also read an earlier tensor (a residual connection): the
    second layer's inputs cannot come from the first's kept inputs alone, and are computed from the image."""
    import keras
    from keras import layers as L

    x, y, _ = _shapes(10, 16)
    inp = keras.Input(x.shape[1:])
    h = L.Conv2D(8, 3, padding="same")(L.Rescaling(1 / 255)(inp))
    a = L.Activation("relu")(L.BatchNormalization(name="bn_a")(L.Conv2D(8, 3, padding="same")(h)))
    b = L.BatchNormalization(name="bn_b")(L.Add()([h, a]))  # h reaches bn_b around bn_a
    out = L.Dense(3, activation="softmax")(L.GlobalAveragePooling2D()(b))
    model = keras.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert nets.recalibrate_batchnorm(model, x, batch_size=7) == ["bn_a", "bn_b"]
    for name in ("bn_a", "bn_b"):
        layer = model.get_layer(name)
        v = np.asarray(keras.Model(model.inputs, layer.input)(x, training=False), dtype=np.float64).reshape(-1, 8)
        np.testing.assert_allclose(np.asarray(layer.moving_mean), v.mean(axis=0), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.asarray(layer.moving_variance), v.var(axis=0), rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("preset", sorted(nets.PRESETS))
def test_every_preset_scores_the_same_in_inference_and_training_mode(tmp_path, preset):
    """After a short run, accuracy on the training split in inference mode (how the saved model is used)
    is within 0.1 of training mode (batch statistics, dropout): the model that chose the checkpoint is the
    model that is saved."""
    x, y, classes = _shapes(40, 28)
    val = np.zeros(len(y), bool)
    val[::4] = True
    settings = {"optimizer": {"learning_rate": 3e-3}, "schedule": {"type": "plateau"}, "class_weight": "balanced"}
    model = nets.build_model(x.shape[1:], 3, preset, seed=1, optimizer=settings["optimizer"])
    model, hist = nets.train(
        model,
        (x[~val], y[~val]),
        (x[val], y[val]),
        epochs=4,
        batch_size=16,
        seed=1,
        state_dir=tmp_path,
        fp="t",
        settings=settings,
    )
    splits = np.where(val, "validation", "train")
    res = nets.evaluate(
        model,
        x,
        y,
        splits=splits,
        class_names=classes,
        target="class",
        train_split="train",
        checkpoint_split="validation",
    )
    modes = res["train_modes"]
    assert modes["n"] == int((~val).sum())
    assert modes["gap"] <= 0.1, modes
    # the validation score that chose the checkpoint is the saved model's own inference-mode score
    assert res["classifiers"]["softmax"]["validation"]["accuracy"] == pytest.approx(hist[-1]["val_accuracy"], abs=1e-6)


def test_a_model_that_always_predicts_the_majority_class_is_flagged():
    x, y, classes = _shapes(30, 16)
    keep = np.concatenate([np.flatnonzero(y == 0), np.flatnonzero(y == 1)[:10], np.flatnonzero(y == 2)[:10]])
    x, y = x[keep], y[keep]  # 30 / 10 / 10: majority rate 0.6
    model = nets.build_model(x.shape[1:], 3, "default", seed=0)
    out = model.get_layer("output")
    kernel, bias = out.get_weights()
    out.set_weights([np.zeros_like(kernel), np.array([5.0, 0.0, 0.0], np.float32)])  # forced to class 0
    splits = np.array(["train", "test"] * (len(y) // 2))
    res = nets.evaluate(
        model, x, y, splits=splits, class_names=classes, target="class", train_split="train", checkpoint_split=None
    )
    m = res["classifiers"]["softmax"]["test"]
    assert m["accuracy"] == pytest.approx(m["majority_rate"]) and m["majority_class"] == classes[0]
    assert any("majority-class rate" in w and "'test'" in w for w in res["warnings"]), res["warnings"]
    assert any("predicts" in w and "collapsed" in w for w in res["warnings"]), res["warnings"]
    # a good classifier is not flagged
    good = dict(m, accuracy=0.95, confusion=np.diag(np.bincount(y[splits == "test"], minlength=3)).tolist())
    from imagespace.evaluation import degenerate_warnings

    assert degenerate_warnings(good, "good") == []


@pytest.mark.workflow
def test_test_split_evaluation_probes_and_triplet_variant_through_the_workflow(tmp_path):
    cfg = tiny_config(
        epochs=3,
        n_per_class=40,
        variants={
            "cnn": {},
            "cnn_tri": {"target": "triplet", "triplet": {"embedding_dims": 16, "classes_per_batch": 3, "per_class": 6}},
        },
    )
    cfg["datasets"]["tiny"]["test_fraction"] = 0.2
    work = write(tmp_path, cfg)
    snakemake(work)
    d = work / "results/tiny"
    manifest = pd.read_csv(d / "ingest/manifest.tsv", sep="\t", dtype=str)
    n_split = manifest["split"].value_counts().to_dict()
    assert set(n_split) == {"train", "validation", "test"} and n_split["test"] == 24  # 20% of 40 per class
    s = json.loads((d / "summary.json").read_text())
    ev = json.loads((d / "cnn/cnn/evaluation.json").read_text())
    assert ev["headline_split"] == "test" and ev["checkpoint_split"] == "validation"
    for model in ("cnn", "cnn_tri_nearest_centroid", "cnn_tri_mlp"):
        for sp in ("validation", "test"):
            m = s["classification"][model][sp]
            assert m["n"] == n_split[sp]
            assert int(np.sum(m["confusion"])) == n_split[sp]  # confusion totals equal the split size
            assert {"accuracy", "balanced_accuracy", "macro_f1", "per_class", "confusion_normalized"} <= set(m)
        assert s["classification"][model]["validation"]["chose_checkpoint"] is True
        assert s["classification"][model]["test"]["chose_checkpoint"] is False
    # the test numbers come from the test rows only: recomputed from the per-image predictions
    pred = pd.read_csv(d / "cnn/cnn/predictions.tsv", sep="\t", dtype={"id": str})
    test_ids = set(manifest.loc[manifest["split"] == "test", "id"])
    rows = pred[pred["id"].isin(test_ids)]
    assert len(rows) == 24 and set(rows["split"]) == {"test"}
    assert s["classification"]["cnn"]["test"]["accuracy"] == pytest.approx(rows["correct"].mean())
    # the metric-learning embedding is a feature set like any other: unit vectors, clustered, compared, probed
    tri = load_features(d / "features/cnn_tri.npz")
    assert tri.X.shape == (len(manifest), 16)
    np.testing.assert_allclose(np.linalg.norm(tri.X, axis=1), 1.0, atol=1e-4)
    assert "cnn_tri" in s["clustering_by_feature_set"] and "test" in s["compare"]["cnn_tri"]
    for fs in ("pca", "cnn", "cnn_tri", "human_pred_cnn_tri"):
        assert set(s["probes"][fs]) == {"logistic", "knn", "nearest_centroid"}
        assert all(p["split"] == "test" and p["n"] == 24 for p in s["probes"][fs].values())
    md = (d / "summary.md").read_text()
    assert "## Probes" in md and "## Classifiers on held-out splits" in md
    for fig in ("cnn/cnn/confusion.png", "cnn/cnn/mistakes.png", "cnn/cnn_tri/confusion.png", "cnn/cnn_tri/curves.png"):
        assert (d / fig).read_bytes()[:4] == b"\x89PNG"


def test_stale_batchnorm_statistics_are_flagged(tmp_path):
    """The guard for the failure this issue fixes: trained without recalibration, the default network's
    stored batch-norm statistics lag behind and inference mode collapses; the evaluation says so."""
    x, y, classes = _shapes(40, 28)
    val = np.zeros(len(y), bool)
    val[::4] = True
    settings = {"optimizer": {"learning_rate": 3e-3}, "recalibrate_batchnorm": False}
    model = nets.build_model(x.shape[1:], 3, "default", seed=1, optimizer=settings["optimizer"])
    model, _ = nets.train(
        model,
        (x[~val], y[~val]),
        (x[val], y[val]),
        epochs=4,
        batch_size=16,
        seed=1,
        state_dir=tmp_path,
        fp="t",
        settings=settings,
    )
    res = nets.evaluate(
        model,
        x,
        y,
        splits=np.where(val, "validation", "train"),
        class_names=classes,
        target="class",
        train_split="train",
        checkpoint_split="validation",
    )
    assert res["train_modes"]["gap"] > nets.MODE_GAP, res["train_modes"]
    assert any("inference mode" in w and "training mode" in w for w in res["warnings"]), res["warnings"]
    # recalibrating the same weights closes the gap
    nets.recalibrate_batchnorm(model, x[~val])
    res = nets.evaluate(
        model,
        x,
        y,
        splits=np.where(val, "validation", "train"),
        class_names=classes,
        target="class",
        train_split="train",
        checkpoint_split="validation",
    )
    assert res["train_modes"]["gap"] <= 0.1


def test_training_mode_batches_are_mixed_when_rows_are_stored_by_class():
    """Rows stored by class (a training archive sorted by label) must not become one-class batches in the
    training-mode check: batch statistics of one class erase the class difference a training batch keeps."""
    import keras

    from imagespace.nets import cnn_eval

    x = np.concatenate([np.zeros((64, 1)), np.full((64, 1), 10.0)]).astype("float32")  # class 0, then class 1
    bn = keras.Sequential([keras.Input((1,)), keras.layers.BatchNormalization()])
    out = cnn_eval._outputs(bn, x, True, 16)[:, 0]
    assert out[64:].mean() - out[:64].mean() > 1.0, out  # one-class batches would give 0 for every row
    assert len(out) == 128 and np.all(out[:64] < out[64:].min())


def test_learning_rate_schedules_and_early_stopping_follow_the_history():
    hist = [
        {"epoch": i + 1, "loss": 1.0, "val_accuracy": v, "val_loss": 1.0}
        for i, v in enumerate([0.5, 0.6, 0.6, 0.6, 0.6, 0.7, 0.7, 0.7])
    ]
    plateau = {"type": "plateau", "factor": 0.5, "patience": 3, "min_lr": 1e-4}
    lrs = [
        nets.learning_rate_for(plateau, 1e-2, e, epochs=20, history=hist, monitor="val_accuracy")
        for e in range(len(hist) + 1)
    ]
    # no improvement after epoch 2 for 3 epochs (3, 4, 5): halved from epoch 6 on; epoch 6 improves, 7-8 do not yet
    # reach 3
    assert lrs == [1e-2] * 5 + [5e-3] * 4
    assert (
        nets.learning_rate_for(plateau, 1e-2, 3, epochs=20, history=hist[:3], monitor="val_loss") == 1e-2
    )  # loss constant: no improvement yet < 3
    rounds = {"type": "rounds", "rounds": [[2, 1e-2], [3, 1e-3], [1, 1e-4]]}
    assert [nets.learning_rate_for(rounds, 0, e, epochs=10, history=[], monitor="val_accuracy") for e in range(8)] == [
        1e-2
    ] * 2 + [1e-3] * 3 + [1e-4] * 3
    cos = [
        nets.learning_rate_for({"type": "cosine", "min_lr": 0.0}, 1.0, e, epochs=11, history=[], monitor="val_accuracy")
        for e in range(11)
    ]
    assert cos[0] == pytest.approx(1.0) and cos[5] == pytest.approx(0.5) and cos[10] == pytest.approx(0.0)
    assert all(a >= b for a, b in zip(cos, cos[1:]))
    with pytest.raises(ValueError, match="cnn.schedule.type"):
        nets.learning_rate_for({"type": "steps"}, 1.0, 0, epochs=10, history=[], monitor="val_accuracy")
    # early stopping: best at epoch 6, patience 2 -> stop after epoch 8; patience 0 never stops
    assert nets.stop_early(hist, "val_accuracy", 2) and not nets.stop_early(hist, "val_accuracy", 3)
    assert not nets.stop_early(hist, "val_accuracy", 0)
    assert nets.stop_early(
        hist + [{"epoch": 9, "loss": float("nan"), "val_accuracy": 0.7}], "val_accuracy", 0
    )  # NaN loss stops
    # a joint model's class accuracy is val_output_accuracy; a regression target falls back to val_loss
    assert nets.resolve_monitor("val_accuracy", {"val_output_accuracy": 0.5, "val_loss": 1}) == "val_output_accuracy"
    assert nets.resolve_monitor("val_accuracy", {"val_loss": 1, "loss": 1}) == "val_loss"


def test_balanced_class_weights_equalise_the_classes():
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    w = nets.balanced_class_weights(y, 4)
    totals = [w[c] * (y == c).sum() for c in range(3)]
    assert totals == pytest.approx([100 / 3] * 3)  # every class weighs the same in the loss
    assert w[3] == 1.0  # a class absent from training keeps weight 1
