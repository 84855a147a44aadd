"""The answer summary.md leads with (imagespace.report.headline): the best representation per task, and the
pixels-at-chance warning. The end-to-end check on a real run is tests/test_synthetic.py (clutter)."""

from __future__ import annotations

from imagespace.report import headline


def probe(acc, majority=0.34, shuffled=0.3, split="test"):
    return {"accuracy": acc, "majority_rate": majority, "shuffled_accuracy": shuffled, "split": split, "macro_f1": acc}


def test_the_best_of_each_task_with_the_pixels_beside_it_and_the_chance_warning():
    s = {
        "probes": {
            "pca": {"logistic": probe(0.36), "knn": probe(0.33)},
            "bb_efficientnet_lite0": {"logistic": probe(0.97), "knn": probe(0.91)},
            "cnn": {"logistic": probe(0.52)},
        },
        "clustering_by_feature_set": {
            "pca": {"kmeans": {"ari": 0.01}, "gmm": {"ari": 0.03}},
            "bb_efficientnet_lite0": {"kmeans": {"ari": 0.55}, "agglomerative": {"ari": 0.71}},
            "cnn": {"dbscan": {"ari": None}},
        },
        "alignment_selection": None,
        "alignment": [{"feature_set": "human_pred_cnn", "train_disparity": None, "test_disparity": 0.41}],
        "alignment_splits": ["train", "test"],
    }
    h = headline.best(s)
    assert h["probe"] == {
        "feature_set": "bb_efficientnet_lite0",
        "classifier": "logistic",
        "accuracy": 0.97,
        "split": "test",
        "chance": 0.34,
        "pixels": 0.36,
    }
    assert h["clustering"] == {
        "feature_set": "bb_efficientnet_lite0",
        "method": "agglomerative",
        "ari": 0.71,
        "pixels": 0.03,
    }
    assert (
        h["human"]["feature_set"] == "human_pred_cnn"
        and h["human"]["split"] == "test"
        and "top row" in h["human"]["how"]
    )
    (w,) = headline.warnings(s)
    assert w.startswith(
        "pixel features (pca) separate the classes no better than chance (best probe 0.360, chance 0.340)"
    )
    assert "bb_efficientnet_lite0 does (logistic probe 0.970 on test)" in w
    md = headline.markdown(h)
    assert md[0] == "## Answer: the best representation per task" and len(md) == 6
    assert "**separates the classes: `bb_efficientnet_lite0`**" in md[2] and "(pixels, pca: 0.360)" in md[2]
    # pixels above chance, or no backbone above it: no warning; a chosen representation wins over the top row
    s["probes"]["pca"]["logistic"] = probe(0.6)
    assert headline.warnings(s) == []
    s["probes"] = {"pca": {"logistic": probe(0.36)}, "bb_x": {"logistic": probe(0.37)}}
    assert headline.warnings(s) == []
    s["alignment_selection"] = {"chosen": "human_pred_pca", "disparity": 0.3, "split": "train"}
    assert headline.best(s)["human"]["feature_set"] == "human_pred_pca"
    assert headline.markdown(headline.best({})) == []
