"""The reference case: the rocks notebook's numbers, reproduced by configs/rocks_parity.yaml.

Runs the real workflow on ../shared/data/rocks (about a minute on 2 cores).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from conftest import ROOT, shared, snakemake

from imagespace.human import comparison as compare
from imagespace.io import load_features, load_human_table

pytestmark = [pytest.mark.rocks, pytest.mark.workflow]


@pytest.fixture(scope="module")
def parity(tmp_path_factory):
    rocks = shared("rocks")
    work = tmp_path_factory.mktemp("rocks_parity")
    text = (ROOT / "configs/rocks_parity.yaml").read_text().replace("../shared/data/rocks", str(rocks))
    cfg = yaml.safe_load(text)
    # the notebook's numbers are under test here, not the exploration figures (tests/test_workflow.py)
    cfg.update({"retrieval": {"enabled": False}, "explore": {"enabled": False}, "clustering": {"on_maps": False}})
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    snakemake(work)
    return work, json.loads((work / "results/rocks_parity/summary.json").read_text())


@pytest.fixture(scope="module")
def parity_cnn(parity):
    work, _ = parity
    return json.loads((work / "results/rocks_parity_cnn/summary.json").read_text())


def test_pca_matches_the_notebook(parity):
    _, s = parity
    assert s["n_images"] == 480 and s["splits"] == {"train": 360, "validation": 120}
    assert s["pca"]["n_features"] == 640_000 and s["pca"]["n_fit"] == 360
    assert s["pca"]["n_components_for_threshold"] == 158
    assert s["pca"]["pc1_variance_ratio"] == pytest.approx(0.218, abs=0.001)
    assert s["pca"]["pc2_variance_ratio"] == pytest.approx(0.114, abs=0.001)


def test_procrustes_against_humans_matches_the_notebook(parity):
    _, s = parity
    c = s["compare"]
    assert c["pca"]["train"]["disparity"] == pytest.approx(0.870, abs=0.002)
    assert c["mds"]["train"]["disparity"] == pytest.approx(0.888, abs=0.003)
    assert c["lle"]["train"]["disparity"] == pytest.approx(0.93, abs=0.01)
    for fs in ("pca", "mds", "lle"):
        r = c[fs]["train"]
        # every representation is closer to the humans than shuffled rows (0.987 +- 0.003)
        assert r["permutation_mean"] == pytest.approx(0.987, abs=0.004)
        assert r["permutation_p"] < 0.01 and r["significant"]


def test_clustering_accuracy_matches_the_notebook(parity):
    _, s = parity
    assert s["clustering"]["kmeans"]["k"] == 3
    assert s["clustering"]["kmeans"]["accuracy"] == pytest.approx(0.3917, abs=0.0015)
    # the notebook's mixture: k = 3, n_init = 10 on the 158 exact PCA scores: 145 of 360 rocks, the printed 40.28%
    assert round(s["clustering"]["gmm"]["accuracy"] * 360) == 145


def test_the_mixture_scan_is_the_notebooks(parity):
    work, _ = parity
    import pandas as pd

    res = json.loads((work / "results/rocks_parity/clustering/pca/gmm/result.json").read_text())
    assert res["params"]["n_init"] == 10 and res["params"]["k_max"] == 20
    scan = pd.read_csv(work / "results/rocks_parity/clustering/pca/gmm/scan.tsv", sep="\t")
    assert scan["k"].tolist() == list(range(1, 21))
    # BIC falls from k = 1 to its minimum at k = 8 (the notebook's figure: "around 9 or 10" by eye), then rises
    assert int(scan.loc[scan["bic"].idxmin(), "k"]) == 8
    assert scan["converged"].all()


def test_the_notebooks_cnn_is_trained_as_the_notebook_did(parity_cnn):
    c = parity_cnn["cnn"]["cnn"]
    assert c["n_params"] == 3_700_131 and c["n_bias_params"] == 251
    assert c["epochs_run"] == 20 and not c["stopped_early"]
    # at seed 42 this network can collapse (every penultimate unit dead, as the notebook's own script does with
    # today's TensorFlow): then the summary must say so, never report a silent number
    dead = c.get("dead_units") or []
    if len(dead) == 8:
        assert any("the network collapsed" in w for w in parity_cnn["warnings"])
        assert parity_cnn["compare"]["cnn"]["train"]["disparity"] == 1.0
    else:
        assert 0 < parity_cnn["compare"]["cnn"]["train"]["disparity"] < 1


def test_a_shuffled_join_is_caught_by_the_permutation_baseline(parity):
    work, _ = parity
    ids, H = load_human_table(work / "results/rocks_parity/human/train.tsv")
    F = load_features(work / "results/rocks_parity/features/pca.npz").rows(ids)[:, :8]
    right = compare.compare(H, F, n_perm=500, seed=1)
    wrong = compare.compare(H[np.random.default_rng(0).permutation(len(H))], F, n_perm=500, seed=1)
    assert right["significant"] and right["permutation_p"] < 0.01
    assert not wrong["significant"] and wrong["verdict"].startswith("WARNING")
    assert abs(wrong["disparity"] - wrong["permutation_mean"]) < 3 * wrong["permutation_sd"]
