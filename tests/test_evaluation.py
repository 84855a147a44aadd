"""Evaluation: metrics agree with scikit-learn, probes separate/fail where they should, figures are written and
sized."""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.image import imread
from sklearn.datasets import make_blobs
from sklearn.metrics import classification_report, confusion_matrix

from imagespace import evaluation as ev


def _noisy_predictions(n=300, k=5, seed=1, err=0.3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    pred = y.copy()
    flip = rng.random(n) < err
    pred[flip] = rng.integers(0, k, flip.sum())
    return y, pred


def test_metrics_match_sklearn():
    names = ["a", "b", "c", "d", "e", "unused"]  # a class absent from both y_true and y_pred
    y, pred = _noisy_predictions()
    m = ev.classification_metrics(y, pred, names)
    json.dumps(m)  # plain Python types only
    cm = np.asarray(m["confusion"])
    assert cm.shape == (6, 6)
    assert cm.sum() == m["n"] == len(y)
    assert np.array_equal(cm, confusion_matrix(y, pred, labels=range(6)))
    rep = classification_report(y, pred, labels=range(6), target_names=names, output_dict=True, zero_division=0)
    for name in names:
        for key, skkey in (
            ("precision", "precision"),
            ("recall", "recall"),
            ("f1", "f1-score"),
            ("support", "support"),
        ):
            assert m["per_class"][name][key] == pytest.approx(rep[name][skkey])
    assert m["accuracy"] == pytest.approx(np.mean(y == pred))
    counts = np.bincount(y, minlength=6)
    assert m["majority_rate"] == pytest.approx(counts.max() / len(y))
    assert m["majority_class"] == names[int(np.argmax(counts))]
    assert m["chance_rate"] == pytest.approx(1 / 5)  # classes present in y_true
    norm = np.asarray(m["confusion_normalized"])
    assert np.allclose(norm[:5].sum(axis=1), 1.0) and np.all(norm[5] == 0)
    mc = m["most_confused"]
    assert 0 < len(mc) <= 5
    assert [d["count"] for d in mc] == sorted((d["count"] for d in mc), reverse=True)
    off = cm.copy()
    np.fill_diagonal(off, 0)
    assert mc[0]["count"] == off.max()
    assert all(d["true"] != d["predicted"] for d in mc)


def test_metrics_reject_bad_labels():
    with pytest.raises(ValueError):
        ev.classification_metrics([0, 1, 3], [0, 1, 1], ["a", "b"])
    with pytest.raises(ValueError):
        ev.classification_metrics([0, 1], [0], ["a", "b"])


def test_degenerate_warnings():
    y = np.array([0] * 80 + [1] * 15 + [2] * 5)
    const = ev.classification_metrics(y, np.zeros_like(y), ["big", "mid", "small"])
    w = ev.degenerate_warnings(const, "constant model")
    assert w and "majority-class rate" in w[0] and "constant model" in w[0] and "0.800" in w[0]
    good = ev.classification_metrics(y, y, ["big", "mid", "small"])
    assert ev.degenerate_warnings(good, "perfect model") == []
    # balanced truth, everything predicted as one class: both warnings
    yb = np.repeat(np.arange(4), 25)
    collapsed = ev.classification_metrics(yb, np.full_like(yb, 2), list("abcd"))
    w = ev.degenerate_warnings(collapsed, "collapsed")
    assert len(w) == 2 and "predicts 'c' for 100 of 100 images" in w[1]


def test_confident_mistake_rows():
    y = np.array([0, 1, 2, 0, 1, 2, 0])
    pred = np.array([1, 1, 0, 0, 2, 1, 0])  # wrong at 0, 2, 4, 5
    conf = np.array([0.5, 0.99, 0.9, 0.95, 0.7, 0.6, 0.3])
    assert ev.confident_mistake_rows(y, pred, conf, 3).tolist() == [2, 4, 5]
    assert ev.confident_mistake_rows(y, pred, conf, 16).tolist() == [2, 4, 5, 0]
    assert ev.confident_mistake_rows(y, y, conf, 16).tolist() == []


def test_mistakes_table():
    y = np.array([0, 1, 2, 0])
    pred = np.array([1, 1, 0, 0])
    df = ev.mistakes_table(["w", "x", "y", "z"], y, pred, [0.6, 0.9, 0.8, 0.7], ["a", "b", "c"])
    assert list(df.columns) == ["id", "true", "predicted", "confidence", "correct"]
    assert df["id"].tolist() == ["y", "w", "x", "z"]
    assert df["true"].tolist()[0] == "c" and df["predicted"].tolist()[0] == "a"


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=800, centers=4, n_features=10, cluster_std=0.5, random_state=0)
    return X.astype(np.float32), y


def test_probes_separate_blobs_and_shuffled_labels_are_chance(blobs):
    X, y = blobs
    names = ["w", "x", "y", "z"]
    res = ev.probe_cv(X, y, names, seed=0)
    assert set(res) == set(ev.PROBES)
    for p, m in res.items():
        assert m["accuracy"] > 0.9, p
        assert m["folds"] == 5 and m["n_used"] == 800 and m["shuffled"] is False
        assert np.asarray(m["confusion"]).sum() == 800
    shuf = ev.probe_cv(X, y, names, seed=0, shuffle_labels=True)
    for p, m in shuf.items():
        assert abs(m["accuracy"] - 0.25) < 0.1, (p, m["accuracy"])
        assert m["shuffled"] is True
        assert ev.degenerate_warnings(m, p)


def test_probe_holdout(blobs):
    X, y = blobs
    res = ev.probe_holdout(X[:600], y[:600], X[600:], y[600:], list("abcd"), probes=("logistic", "knn"))
    assert set(res) == {"logistic", "knn"}
    for m in res.values():
        assert m["n"] == 200 and m["accuracy"] > 0.9 and m["n_used"] == 600


def test_probe_errors(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="svm.*logistic"):
        ev.make_probe("svm", 0, 100)
    with pytest.raises(ValueError, match="2 classes"):
        ev.probe_cv(X[:10], np.zeros(10, int), ["a", "b"])
    yy = np.array([0] * 9 + [1])
    with pytest.raises(ValueError, match="at least 2 images"):
        ev.probe_cv(X[:10], yy, ["a", "b"])
    # a tiny class limits the number of folds
    y3 = np.array([0] * 20 + [1] * 20 + [2] * 3)
    res = ev.probe_cv(X[:43], y3, list("abc"), probes=("nearest_centroid",))
    assert res["nearest_centroid"]["folds"] == 3


def test_probe_cv_subsamples_large_sets(monkeypatch):
    monkeypatch.setattr(ev, "MAX_PROBE_ROWS", 300)
    X, y = make_blobs(n_samples=1000, centers=3, n_features=4, cluster_std=0.5, random_state=1)
    y[:3] = 3  # a rare class must survive the sample with enough rows for the folds
    res = ev.probe_cv(X, y, list("abcd"), probes=("nearest_centroid",))
    m = res["nearest_centroid"]
    assert 290 <= m["n_used"] <= 310
    assert m["per_class"]["d"]["support"] == 3 and m["folds"] == 3


def _png_size(path):
    img = imread(path)
    return img.shape[1], img.shape[0]


def test_plot_confusion_scales_with_classes(tmp_path):
    rng = np.random.default_rng(0)
    sizes = {}
    for k in (3, 40):
        y = rng.integers(0, k, 400)
        pred = np.where(rng.random(400) < 0.6, y, rng.integers(0, k, 400))
        m = ev.classification_metrics(y, pred, [f"class number {i} with a long name" for i in range(k)])
        p = tmp_path / f"cm{k}.png"
        ev.plot_confusion(m, p, title=f"{k} classes")
        assert p.stat().st_size > 0
        sizes[k] = _png_size(p)
    ev.plot_confusion(m, tmp_path / "counts.png", normalize=False)
    assert (tmp_path / "counts.png").exists()
    assert sizes[40][0] > sizes[3][0] and sizes[40][1] > sizes[3][1]


@pytest.mark.parametrize("channels", [1, 3])
def test_plot_confident_mistakes(tmp_path, channels):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 16, 16, channels), dtype=np.uint8)
    y = rng.integers(0, 3, 30)
    pred = np.where(rng.random(30) < 0.5, y, (y + 1) % 3)
    conf = rng.random(30)
    ids = [f"img{i:03d}" for i in range(30)]
    p = tmp_path / "mistakes.png"
    rows = ev.plot_confident_mistakes(images, y, pred, conf, ["a", "b", "c"], ids, p, n=6, title="t")
    assert p.exists()
    assert rows.tolist() == ev.confident_mistake_rows(y, pred, conf, 6).tolist()
    wrong = np.flatnonzero(y != pred)
    assert set(rows) <= set(wrong) and len(rows) == min(6, len(wrong))
    assert conf[rows].min() >= np.sort(conf[wrong])[::-1][len(rows) - 1]
    none = tmp_path / "none.png"
    assert len(ev.plot_confident_mistakes(images, y, y, conf, ["a", "b", "c"], ids, none)) == 0
    assert none.exists()


def test_probe_feature_set_fits_on_train_and_scores_each_held_out_split():
    import pandas as pd

    X, y = make_blobs(n_samples=600, centers=3, cluster_std=0.5, random_state=0)
    split = np.array(["train", "validation", "test"])[np.arange(600) % 3]
    manifest = pd.DataFrame(
        {"id": [f"i{k}" for k in range(600)], "split": split, "label": np.array(["a", "b", "c"])[y]}
    )
    ids = manifest["id"].to_numpy()[::-1]  # feature rows in another order than the manifest: joined by id
    res = ev.probe_feature_set(X[::-1], ids, manifest, seed=0)
    assert res["train_split"] == "train" and res["n_train"] == 200 and res["headline"] == "test"
    assert set(res["holdout"]) == {"validation", "test"}
    for sp in ("validation", "test"):
        for p, m in res["holdout"][sp].items():
            assert m["n"] == 200 and m["accuracy"] > 0.9, (sp, p, m["accuracy"])
    scores = ev.probe_scores(res)
    assert all(s["split"] == "test" and s["shuffled_accuracy"] < 0.5 for s in scores.values())
    # a dataset without splits: cross-validation over all images is the score
    res = ev.probe_feature_set(X, manifest["id"], manifest.assign(split="all"), seed=0)
    assert res["headline"] == "cv" and res["holdout"] == {} and res["n_train"] == 600


def test_probe_feature_set_reports_instead_of_failing_on_a_one_image_class():
    import pandas as pd

    X, y = make_blobs(n_samples=41, centers=[[0, 0], [5, 5], [9, 0]], cluster_std=0.3, random_state=0)
    y[-1] = 2
    y[y == 2] = 1
    y[-1] = 2  # class c has a single image
    manifest = pd.DataFrame(
        {"id": [f"i{k}" for k in range(41)], "split": "train", "label": np.array(["a", "b", "c"])[y]}
    )
    res = ev.probe_feature_set(X, manifest["id"], manifest, seed=0)
    assert res["cv"] == {} and res["headline"] is None and ev.probe_scores(res) == {}
    assert any("only 1" in n for n in res["notes"]), res["notes"]


def test_mistake_gallery_of_a_split_shows_that_splits_images(tmp_path):
    """Labels of one split's rows, images of the whole dataset: every tile shows the image its title names."""
    rng = np.random.default_rng(0)
    n = 60
    images = np.zeros((n, 4, 4, 1), np.uint8)
    images[:, :, :, 0] = np.arange(n)[:, None, None]  # pixel value = row of the whole dataset
    rows = np.sort(rng.choice(n, 20, replace=False))  # the split's rows
    y = rng.integers(0, 3, n)
    pred = (y + rng.integers(0, 2, n)) % 3
    conf = rng.random(n)
    drawn = ev.plot_confident_mistakes(
        images,
        y[rows],
        pred[rows],
        conf[rows],
        ["a", "b", "c"],
        [str(r) for r in rows],
        tmp_path / "m.png",
        n=5,
        image_rows=rows,
    )
    expect = rows[ev.confident_mistake_rows(y[rows], pred[rows], conf[rows], 5)]
    assert list(drawn) == list(expect) and len(drawn) > 0
    assert all(y[r] != pred[r] for r in drawn)  # the drawn dataset rows are mistakes themselves
