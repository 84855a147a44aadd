"""Ensemble weights chosen by greedy forward selection on out-of-fold predictions (imagespace.human.ensemble),
without Snakemake."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import procrustes

from imagespace.human import ensemble


def _truth(seed=0, n=200, k=4):
    rng = np.random.default_rng(seed)
    return rng, rng.normal(size=(n, k))


def test_greedy_keeps_the_good_candidate_and_is_never_worse_than_the_best_single_one():
    rng, H = _truth(0)
    cands = {
        "noise_a": rng.normal(size=H.shape),
        "good": H + 0.3 * rng.normal(size=H.shape),
        "noise_b": rng.normal(size=H.shape),
    }
    res = ensemble.greedy_selection(H, cands, max_rounds=25)
    assert res["weights"]["good"] >= 0.9  # (almost) only the good one
    assert sum(res["weights"].values()) == pytest.approx(1.0)
    alone = {k: procrustes(H, v)[2] for k, v in cands.items()}
    assert res["disparity"] <= min(alone.values()) + 1e-12
    # the recorded disparity is that of the weighted average it describes
    w = [res["weights"][k] for k in cands]
    assert procrustes(H, ensemble.combine(list(cands.values()), w))[2] == pytest.approx(res["disparity"], abs=1e-10)
    # every addition lowered the disparity: the path is strictly decreasing and as long as the rounds
    path = [p["disparity"] for p in res["path"]]
    assert len(path) == res["rounds"] == sum(res["counts"].values()) and all(np.diff(path) < 0)
    assert res["path"][0]["added"] == "good"


def test_two_equally_good_independent_candidates_share_the_weight_and_beat_each_alone():
    rng, H = _truth(1)
    a = H + 0.8 * rng.normal(size=H.shape)
    b = H + 0.8 * rng.normal(size=H.shape)
    res = ensemble.greedy_selection(H, {"a": a, "b": b}, max_rounds=25)
    assert res["weights"]["a"] >= 0.3 and res["weights"]["b"] >= 0.3
    assert res["disparity"] < min(procrustes(H, a)[2], procrustes(H, b)[2]) - 0.02


def test_max_rounds_and_stopping_when_nothing_improves():
    rng, H = _truth(2)
    cands = {"a": H + 0.8 * rng.normal(size=H.shape), "b": H + 0.8 * rng.normal(size=H.shape)}
    assert ensemble.greedy_selection(H, cands, max_rounds=1)["rounds"] == 1
    # one candidate: adding it again changes nothing (same average), so selection stops after one round
    res = ensemble.greedy_selection(H, {"only": cands["a"]}, max_rounds=25)
    assert res["rounds"] == 1 and res["weights"] == {"only": 1.0}


def test_select_records_how_the_weights_were_chosen():
    rng, H = _truth(3, n=60)
    cands = {"x": H + 0.5 * rng.normal(size=H.shape), "y": rng.normal(size=H.shape)}
    res = ensemble.select(
        H, cands, "greedy", max_rounds=5, in_sample={"x": None, "y": None}, key="k", train_split="train"
    )
    assert set(res["candidate_disparity"]) == {"x", "y"} and res["n_rows"] == 60
    assert (
        "out-of-fold" in res["chosen_on"]
        and "validation not used" in res["chosen_on"]
        and "60 rows" in res["chosen_on"]
    )
    eq = ensemble.select(H, cands, "equal")
    assert eq["weights"] == {"x": 0.5, "y": 0.5}
    assert eq["disparity"] == pytest.approx(procrustes(H, (cands["x"] + cands["y"]) / 2)[2])


def test_an_in_sample_candidate_is_refused_with_the_config_key():
    rng, H = _truth(4, n=40)
    cands = {"human_pred_stats": H + rng.normal(size=H.shape), "cnn_h": H.copy()}
    key = "datasets.rocks.alignment.ensembles.best"
    with pytest.raises(
        ensemble.SelectionError, match=r"datasets\.rocks\.alignment\.ensembles\.best: candidate 'cnn_h' is in-sample"
    ):
        ensemble.select(
            H,
            cands,
            "greedy",
            in_sample={"human_pred_stats": None, "cnn_h": "the split whose human space trained it"},
            key=key,
        )
    # equal weights choose nothing on those rows: allowed (the ensemble is then not scored on that split)
    ensemble.select(H, cands, "equal", in_sample={"cnn_h": "train"}, key=key)
