"""Tests for imagespace.cluster: scoring, scans, DBSCAN eps choice, plots, determinism."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "scripts"))

import json  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402

from imagespace import cluster  # noqa: E402
from imagespace.report import plots  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CENTERS = [[0.0, 0.0], [8.0, 8.0], [-8.0, 8.0]]


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=300, centers=CENTERS, cluster_std=1.0, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def blobs_noise():
    X, y = make_blobs(n_samples=300, centers=CENTERS, cluster_std=1.0, random_state=1)
    noise = np.random.default_rng(1).uniform(-15, 20, size=(30, 2))
    return np.vstack([X, noise]), np.concatenate([y, np.full(30, -1)])


def assert_png(path):
    path = pathlib.Path(path)
    assert path.exists()
    assert path.stat().st_size > 1000
    assert path.read_bytes()[:8] == PNG_MAGIC
    # atomic write leaves no temporary files behind
    assert not [p for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.")]


# --------------------------------------------------------------------------- accuracy
def test_hungarian_perfect_relabelled_strings():
    y_true = np.array(["cat", "cat", "dog", "dog", "eel", "eel"])
    y_pred = np.array([2, 2, 0, 0, 1, 1])
    acc, mapping = cluster.hungarian_accuracy(y_true, y_pred)
    assert acc == 1.0
    assert mapping == {2: "cat", 0: "dog", 1: "eel"}
    assert all(type(k) is int and type(v) is str for k, v in mapping.items())


def test_hungarian_differs_from_majority_when_clusters_share_a_class():
    # clusters 0 and 1 are both mostly "A"; majority maps both to A, Hungarian only one.
    y_true = np.array(["A"] * 4 + ["B"] * 2)
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    acc, mapping = cluster.hungarian_accuracy(y_true, y_pred)
    assert acc == pytest.approx(4 / 6)
    assert len(mapping) == 2 and mapping[2] == "B"
    assert cluster.majority_accuracy(y_true, y_pred) == 1.0
    assert cluster.majority_mapping(y_true, y_pred) == {0: "A", 1: "A", 2: "B"}


def test_more_classes_than_clusters():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([5, 5, 5, 5, 7, 7])
    acc, mapping = cluster.hungarian_accuracy(y_true, y_pred)
    assert acc == pytest.approx(4 / 6)
    assert mapping[7] == 2 and mapping[5] in (0, 1)


def test_noise_counts_as_wrong():
    y_true = np.array([0, 0, 0, 1, 1, 1])
    y_pred = np.array([-1, -1, -1, 4, 4, 4])
    acc, mapping = cluster.hungarian_accuracy(y_true, y_pred)
    assert acc == 0.5
    assert -1 not in mapping and mapping == {4: 1}
    assert cluster.majority_accuracy(y_true, y_pred) == 0.5
    # all noise: nothing can be matched
    assert cluster.hungarian_accuracy(y_true, np.full(6, -1)) == (0.0, {})


def test_majority_tie_goes_to_sorted_first_class():
    y_true = np.array(["b", "a", "b", "a"])
    y_pred = np.array([0, 0, 0, 0])
    assert cluster.majority_mapping(y_true, y_pred) == {0: "a"}
    assert cluster.majority_accuracy(y_true, y_pred) == 0.5


def test_length_mismatch_raises():
    with pytest.raises(ValueError):
        cluster.hungarian_accuracy([0, 1], [0])


def test_score_clustering_permuted_perfect():
    labels = np.repeat(["x", "y", "z"], 5)
    subtypes = np.repeat(["x1", "x2", "y1", "z1", "z2"], 3)
    perm = {"x": 2, "y": 0, "z": 1}
    y_pred = np.array([perm[v] for v in labels])
    s = cluster.score_clustering(y_pred, labels, subtypes)
    assert s["k"] == 3 and s["n_noise"] == 0
    assert s["accuracy"] == 1.0 and s["majority_accuracy"] == 1.0
    assert s["ari"] == pytest.approx(1.0) and s["nmi"] == pytest.approx(1.0)
    assert s["ari_subtype"] < 1.0 and 0 < s["nmi_subtype"] < 1.0
    assert s["sizes"] == {"0": 5, "1": 5, "2": 5}
    assert s["mapping"] == {"2": "x", "0": "y", "1": "z"}
    json.dumps(s)  # JSON-ready


def test_score_clustering_noise_and_no_subtypes():
    labels = np.array([0, 0, 0, 1, 1, 1])
    y_pred = np.array([0, 0, -1, 1, 1, 1])
    s = cluster.score_clustering(y_pred, labels)
    assert s["k"] == 2 and s["n_noise"] == 1
    assert s["accuracy"] == pytest.approx(5 / 6)
    assert s["ari_subtype"] is None and s["nmi_subtype"] is None
    assert s["sizes"] == {"-1": 1, "0": 2, "1": 3}


# --------------------------------------------------------------------------- scans
def test_kmeans_scan_finds_three_blobs(blobs):
    X, _ = blobs
    df = cluster.kmeans_scan(X, range(1, 7), seed=0)
    assert list(df.columns) == ["k", "inertia", "silhouette"]
    assert np.isnan(df.loc[df.k == 1, "silhouette"]).all()
    assert (np.diff(df["inertia"]) < 0).all()
    assert cluster.select_k(df, "silhouette") == 3


def test_kmeans_scan_float32_and_subsampled_silhouette(blobs):
    X, _ = blobs
    df = cluster.kmeans_scan(X.astype(np.float32), [2, 3, 4], seed=0, silhouette_sample_size=150)
    assert cluster.select_k(df, "silhouette") == 3


def test_kmeans_scan_keeps_the_models_a_refit_gives(blobs):
    X, _ = blobs
    df, fits = cluster.kmeans_scan_models(X, [2, 3, 4], seed=5, n_init=2, keep=[3, 4])
    assert sorted(fits) == [3, 4]
    for k, fit in fits.items():
        refit = cluster.fit_kmeans(X, k, 5, n_init=2)
        np.testing.assert_array_equal(fit.labels, refit.labels)
        assert fit.model.inertia_ == refit.model.inertia_ == df.loc[df.k == k, "inertia"].item()


def test_gmm_scan_bic_minimum_at_true_k(blobs):
    X, _ = blobs
    df = cluster.gmm_scan(X, range(1, 6), seed=0)
    assert list(df.columns) == ["k", "bic", "aic", "converged", "log_likelihood"]
    assert df["converged"].all()
    assert cluster.select_k(df, "bic") == 3
    assert (np.diff(df["log_likelihood"]) > -1e-6).all()  # more components never fit worse here
    row = cluster.gmm_scan_row(X, 3, seed=0)
    assert row == df[df.k == 3].iloc[0].to_dict() | {"k": 3, "converged": True}


def test_parallel_gmm_scan_is_the_sequential_scan_and_keeps_the_refit_model(blobs):
    """One process per core, largest k first: the same table as one k after another in this process with one
    BLAS thread (bitwise), and the kept model of k=3 predicts exactly what a refit at k=3 predicts."""
    from threadpoolctl import threadpool_limits

    X, _ = blobs
    with threadpool_limits(1):
        seq = cluster.gmm_scan(X, range(1, 7), seed=3, n_init=2)
        refit = cluster.fit_gmm(X, 3, 3, n_init=2)
    par, fits = cluster.gmm_scan_models(X, range(1, 7), 3, n_init=2, n_jobs=2, keep=[3])
    pd.testing.assert_frame_equal(seq, par)
    assert list(fits) == [3]
    np.testing.assert_array_equal(fits[3].labels, refit.labels)
    np.testing.assert_array_equal(fits[3].labels, refit.model.predict(X))
    np.testing.assert_array_equal(fits[3].model.means_, refit.model.means_)


def test_select_k_rules():
    df = pd.DataFrame({"k": [4, 2, 3, 1], "silhouette": [0.5, 0.7, 0.7, np.nan], "bic": [3.0, 1.0, 2.0, 1.0]})
    assert cluster.select_k(df, "silhouette") == 2  # tie -> smallest k, NaN ignored
    assert cluster.select_k(df, "bic") == 1
    with pytest.raises(ValueError):
        cluster.select_k(df, "aic")
    with pytest.raises(ValueError):
        cluster.select_k(df, "elbow")


# --------------------------------------------------------------------------- fits
def test_every_fit_returns_one_result_type(blobs):
    """Each fit_* gives a ClusterResult: one label per row, and the fitted model where there is one."""
    X, _ = blobs
    fits = {
        "kmeans": cluster.fit_kmeans(X, 3, 0, n_init=2),
        "gmm": cluster.fit_gmm(X, 3, 0),
        "agglomerative": cluster.fit_agglomerative(X, 3),
        "agglomerative_large": cluster.fit_agglomerative_large(X, 3, linkage="ward", n_sub=100, seed=0),
        "dbscan": cluster.fit_dbscan(X, 1.0, 5),
        "dbscan_auto": cluster.fit_dbscan_auto(X, seed=0),
        "hdbscan": cluster.fit_hdbscan(X, min_cluster_size=10),
        "hdbscan_large": cluster.fit_hdbscan_large(X, 100, 0, min_cluster_size=10),
    }
    for name, fit in fits.items():
        assert type(fit) is cluster.ClusterResult, name
        assert fit.labels.shape == (len(X),) and fit.labels.dtype.kind == "i", name
        assert set(fit.labels.tolist()) <= set(range(-1, len(X))), name
    assert fits["kmeans"].model.n_clusters == 3 and fits["gmm"].model.n_components == 3
    assert fits["agglomerative"].model.shape == (len(X) - 1, 4)
    assert len(fits["agglomerative_large"].extra["rows"]) == 100 == fits["hdbscan_large"].extra["strategy"]["n_fit"]
    assert fits["dbscan_auto"].scan["chosen"].sum() == 1 and fits["dbscan_auto"].extra["info"]["eps"] > 0


def test_a_result_reads_what_it_lacks_from_its_model(blobs):
    """Transitional, for callers written for a returned estimator (clustermaps.py): fit.predict is fit.model.predict;
    the result's own fields and private names are never forwarded."""
    X, _ = blobs
    fit = cluster.fit_kmeans(X, 3, 0, n_init=2)
    np.testing.assert_array_equal(fit.predict(X[:10]), fit.model.predict(X[:10]))
    assert fit.inertia_ == fit.model.inertia_
    with pytest.raises(AttributeError):
        fit._n_threads
    with pytest.raises(AttributeError):
        cluster.ClusterResult(np.zeros(3, int)).predict
    import pickle

    again = pickle.loads(pickle.dumps(fit))
    np.testing.assert_array_equal(again.labels, fit.labels)


def test_fit_kmeans_deterministic_and_accurate(blobs):
    X, y = blobs
    a = cluster.fit_kmeans(X, 3, seed=7, n_init=5).labels
    b = cluster.fit_kmeans(X, 3, seed=7, n_init=5).labels
    np.testing.assert_array_equal(a, b)
    assert cluster.hungarian_accuracy(y, a)[0] > 0.99


def test_fit_gmm_deterministic(blobs):
    X, y = blobs
    a = cluster.fit_gmm(X, 3, seed=3, covariance_type="diag", n_init=1, reg_covar=1e-6, max_iter=100)
    b = cluster.fit_gmm(X, 3, seed=3, covariance_type="diag", n_init=1, reg_covar=1e-6, max_iter=100)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.labels, a.model.predict(X))  # the labels are the mixture's most probable component
    assert cluster.hungarian_accuracy(y, a.labels)[0] > 0.99


def test_fit_agglomerative(blobs):
    X, y = blobs
    fit = cluster.fit_agglomerative(X, 3)
    labels, Z = fit.labels, fit.model
    assert Z.shape == (len(X) - 1, 4)
    assert set(labels.tolist()) == {0, 1, 2}
    assert cluster.hungarian_accuracy(y, labels)[0] > 0.99
    again = cluster.fit_agglomerative(X, 3)
    np.testing.assert_array_equal(labels, again.labels)
    np.testing.assert_array_equal(Z, again.model)


def test_kdistance_excludes_self_and_is_sorted():
    X = np.array([[0.0], [1.0], [3.0], [6.0]])
    kd = cluster.kdistance(X, 1)
    np.testing.assert_allclose(kd, [1.0, 1.0, 2.0, 3.0])
    kd2 = cluster.kdistance(X, 2)
    np.testing.assert_allclose(kd2, [2.0, 3.0, 3.0, 5.0])
    with pytest.raises(ValueError):
        cluster.kdistance(X, 4)


def test_choose_eps_knee():
    kd = np.concatenate([np.linspace(1.0, 1.1, 90), np.linspace(2, 10, 10)])
    eps = cluster.choose_eps(kd[::-1])  # order does not matter
    assert 1.05 <= eps <= 2.0
    assert cluster.choose_eps(np.full(10, 0.5)) == 0.5


def test_choose_eps_dbscan_recovers_blobs(blobs_noise):
    X, y = blobs_noise
    kd = cluster.kdistance(X, 5)
    assert (np.diff(kd) >= 0).all()
    eps = cluster.choose_eps(kd)
    labels = cluster.fit_dbscan(X, eps, 5).labels
    blob = y >= 0
    assert cluster.hungarian_accuracy(y[blob], labels[blob])[0] > 0.9
    assert (labels[~blob] == -1).mean() > 0.5  # most uniform noise is flagged as noise
    np.testing.assert_array_equal(labels, cluster.fit_dbscan(X, eps, 5).labels)


# --------------------------------------------------------------------------- DBSCAN default: the scan
def _auto(X, **kw):
    """fit_dbscan_auto's labels, info, scan table and k-distance curve."""
    fit = cluster.fit_dbscan_auto(X, **kw)
    assert isinstance(fit, cluster.ClusterResult)
    return fit.labels, fit.extra["info"], fit.scan, fit.extra["curve"]


def bridged_blobs(seed, d=2, n=250, bridge=60, background=0.05):
    """Four round blobs (std 1) on the corners of a square of side 7, joined along its sides by thin bridges of
    points, in a sparse uniform background. Bridges and background are labelled -1. The knee of the k-distance
    curve lies at the bridges' density, so the earlier default merges everything into one cluster."""
    rng = np.random.default_rng(seed)
    centers = np.zeros((4, d))
    centers[1, 0] = centers[2, 1] = centers[3, 0] = centers[3, 1] = 7.0
    X, y = make_blobs(n_samples=[n] * 4, centers=centers, cluster_std=1.0, random_state=seed)
    parts, labels = [X], [y]
    for a, b in [(0, 1), (0, 2), (1, 3), (2, 3)]:
        t = rng.uniform(size=(bridge, 1))
        parts.append(centers[a] + t * (centers[b] - centers[a]) + rng.normal(scale=0.3, size=(bridge, d)))
        labels.append(np.full(bridge, -1))
    m = int(background * len(X))
    parts.append(rng.uniform(X.min(0) - 2, X.max(0) + 2, size=(m, d)))
    labels.append(np.full(m, -1))
    return np.vstack(parts), np.concatenate(labels)


@pytest.mark.parametrize("seed,d", [(0, 2), (1, 2), (2, 4)])
def test_dbscan_default_finds_the_blobs_the_knee_merges(seed, d):
    """The old default (eps at the knee) gives one cluster; the default scan gives the 4 blobs. The count is exact:
    on 8 seeds of this data (d = 2 and 4) the scan found exactly 4 every time, with ARI >= 0.95 on the blob points."""
    X, y = bridged_blobs(seed, d=d, bridge=60 if d == 2 else 40, background=0.05 if d == 2 else 0.0)
    knee = cluster.fit_dbscan(X, cluster.choose_eps(cluster.kdistance(X, 5)), 5).labels
    assert len(set(knee.tolist()) - {-1}) == 1

    labels, info, scan, _ = _auto(X, seed=0)
    blob = y >= 0
    assert len(set(labels.tolist()) - {-1}) == 4
    assert cluster.score_clustering(labels[blob], y[blob])["ari"] > 0.9
    assert info["noise_fraction"] == pytest.approx(np.mean(labels == -1)) and info["noise_fraction"] <= 0.5
    sel = info["selection"]
    assert sel["mode"] == "scan" and sel["fallback"] is None and sel["criterion"] == "silhouette_coverage"
    # the chosen row is the best admissible one, and its eps and min_samples are what was fitted
    ok = scan[scan["admissible"]]
    chosen = scan[scan["chosen"]]
    assert len(chosen) == 1 and chosen["score"].iloc[0] == ok["score"].max()
    assert chosen["min_samples"].iloc[0] == info["min_samples"] and chosen["eps"].iloc[0] == pytest.approx(info["eps"])
    np.testing.assert_array_equal(labels, cluster.fit_dbscan(X, info["eps"], info["min_samples"]).labels)


def test_dbscan_scan_is_compared_with_structureless_data_and_warned_about():
    """A scan always finds some admissible "clusters" in a Gaussian cloud's tails; the blobs beat that null score,
    uniform noise does not, and the summary says so."""
    from imagespace import report as summary

    X, _ = bridged_blobs(0)
    _, info, _, _ = _auto(X, seed=0)
    sel = info["selection"]
    assert sel["beats_null"] and sel["score"] > sel["null_score"] + 0.2
    U = np.random.default_rng(1).uniform(size=(1000, 5))  # no density structure at all
    labels, info_u, _, _ = _auto(U, seed=0)
    sel_u = info_u["selection"]
    assert sel_u["fallback"] is None and len(set(labels.tolist()) - {-1}) >= 2  # the scan still reports clusters...
    assert sel_u["beats_null"] is False  # ...and the null comparison flags them
    entry = {"k": 3, "n": 1000, "sizes": {"0": 400, "1": 300, "2": 300}, "selection": sel_u}
    s = {"clustering_by_feature_set": {"pca": {"dbscan": entry}}}
    text = [w for w in summary.clustering_warnings(s)]
    assert len(text) == 1 and "no higher than the same scan gives on structureless Gaussian data" in text[0]


def test_dbscan_candidate_rules():
    X = (
        np.r_[np.zeros((10, 2)), np.full((10, 2), 5.0), np.full((5, 2), 20.0)]
        + np.random.default_rng(0).normal(size=(25, 2)) * 0.1
    )
    two = np.r_[np.zeros(10, int), np.ones(10, int), np.full(5, -1)]
    r = cluster.dbscan_candidate(X, two, max_noise=0.5, criterion="silhouette_coverage")
    assert r["admissible"] and r["k"] == 2 and r["noise_fraction"] == pytest.approx(0.2)
    assert r["score"] == pytest.approx(r["silhouette"] * 0.8) and r["silhouette"] > 0.9
    sil = cluster.dbscan_candidate(X, two, max_noise=0.5, criterion="silhouette")
    assert sil["score"] == pytest.approx(r["silhouette"])
    noisy = cluster.dbscan_candidate(X, two, max_noise=0.1, criterion="silhouette")
    assert noisy["reason"] == "noise 20% > 10%"  # too much noise
    one = np.r_[np.zeros(24, int), [1]]
    assert cluster.dbscan_candidate(X, one, max_noise=0.5, criterion="silhouette")["reason"] == "one cluster holds 96%"
    r1 = cluster.dbscan_candidate(X, np.zeros(25, int), max_noise=0.5, criterion="silhouette")
    assert not r1["admissible"] and r1["reason"] == "1 cluster" and np.isnan(r1["score"])
    with pytest.raises(ValueError):
        cluster.dbscan_candidate(X, two, max_noise=0.5, criterion="dbcv")


def test_dbscan_scan_on_a_seeded_sample_is_reproducible():
    """Above scan_n rows the scan runs on a seeded sample; the chosen quantile is applied to all rows."""
    X, _ = bridged_blobs(3)
    a, info, scan, _ = _auto(X, scan_n=400, seed=5)
    b, info_b, scan_b, _ = _auto(X, scan_n=400, seed=5)
    np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(scan, scan_b)
    assert info == info_b
    sel = info["selection"]
    assert sel["scan_rows"] == 400 and sel["scan_sampled"] and sel["scan_seed"] == 5
    assert sel["min_samples_scanned"] == [5, 10, 20, 40] and len(scan) == 4 * len(cluster.EPS_QUANTILES)
    # eps on all rows = the chosen quantile of all rows' core distances (the same share of core points)
    cd = cluster.core_distances(X, info["min_samples"])
    assert info["eps"] == pytest.approx(np.quantile(cd, sel["quantile"]))
    assert np.mean(cd <= info["eps"]) == pytest.approx(sel["quantile"], abs=0.01)
    assert len(set(a.tolist()) - {-1}) == 4


def test_dbscan_explicit_eps_and_min_samples_override_the_scan(blobs_noise):
    X, _ = blobs_noise
    labels, info, scan, curve = _auto(X, eps=1.2, min_samples=7)
    assert info["selection"]["mode"] == "config" and info["eps"] == 1.2 and info["min_samples"] == 7
    assert len(scan) == 1 and scan["chosen"].all() and np.isnan(scan["quantile"].iloc[0])
    np.testing.assert_array_equal(labels, cluster.fit_dbscan(X, 1.2, 7).labels)
    # a fixed min_samples with eps auto: only eps is scanned
    _, info, scan, _ = _auto(X, min_samples=8)
    assert set(scan["min_samples"]) == {8} and info["min_samples"] == 8 and len(scan) == len(cluster.EPS_QUANTILES)
    # eps: knee is the earlier default (min_samples auto = 5)
    labels, info, scan, curve = _auto(X, eps="knee")
    eps = cluster.choose_eps(cluster.kdistance(X, 5))
    assert info["selection"]["mode"] == "knee" and info["eps"] == eps and info["min_samples"] == 5
    np.testing.assert_array_equal(labels, cluster.fit_dbscan(X, eps, 5).labels)


def test_dbscan_without_density_structure_falls_back_to_the_knee_and_says_so():
    X = np.random.default_rng(0).normal(size=(300, 50))  # one Gaussian in 50-D: no admissible candidate
    labels, info, scan, _ = _auto(X)
    sel = info["selection"]
    assert sel["n_admissible"] == 0 and not scan["chosen"].any() and "knee" in sel["fallback"]
    assert info["eps"] == cluster.choose_eps(cluster.kdistance(X, 5)) and info["min_samples"] == 5


def test_min_samples_grid_and_core_distances():
    assert cluster.min_samples_grid([40, 5, 10, 20, 5], 2000) == [5, 10, 20, 40]
    assert cluster.min_samples_grid([5, 10, 20, 40], 45) == [5, 10]  # at most a quarter of the rows
    assert cluster.min_samples_grid([20, 40], 12) == [3]
    X = np.array([[0.0], [1.0], [3.0], [6.0]])
    np.testing.assert_allclose(cluster.core_distances(X, 2), [1.0, 1.0, 2.0, 3.0])  # 1st nearest other point
    np.testing.assert_allclose(cluster.core_distances(X, 1), 0.0)
    # with eps = a point's core distance it is a core point (sklearn counts the point itself)
    assert cluster.fit_dbscan(X, 2.0, 2).labels.tolist() == [0, 0, 0, -1]


# --------------------------------------------------------------------------- HDBSCAN
def test_hdbscan_finds_blobs_and_labels_noise_minus_one(blobs_noise):
    X, y = blobs_noise
    labels = cluster.fit_hdbscan(X, min_cluster_size=15).labels
    assert set(labels.tolist()) <= {-1, 0, 1, 2} and (labels == -1).any()
    blob = y >= 0
    assert cluster.hungarian_accuracy(y[blob], labels[blob])[0] > 0.85
    assert (labels[~blob] == -1).mean() > 0.5  # the uniform background is mostly noise
    np.testing.assert_array_equal(labels, cluster.fit_hdbscan(X, min_cluster_size=15).labels)  # deterministic
    # through the method table, with the schema's options; noise scored like DBSCAN's
    pred, extra = cluster.METHODS["hdbscan"].run(
        X,
        None,
        {"min_cluster_size": 15, "min_samples": None, "cluster_selection_method": "eom"},
        cluster.Context(paths={}),
    )
    np.testing.assert_array_equal(pred, labels)
    assert extra["strategy"] == {"name": "exact", "n_points": len(X)}  # no large_n: every row in the tree
    s = cluster.score_clustering(pred, y)
    assert s["n_noise"] == int((pred == -1).sum()) and extra["noise_fraction"] == pytest.approx(s["n_noise"] / len(X))
    assert s["k"] == 3 and "-1" not in s["mapping"]
    # more rows than the data has: capped, no error
    assert len(cluster.fit_hdbscan(X[:6], min_cluster_size=50, min_samples=50).labels) == 6


# --------------------------------------------------------------------------- clustering.scale
def test_scale_features_standardize_and_none():
    rng = np.random.default_rng(0)
    X = np.c_[rng.normal(5, 10, 200), rng.normal(-3, 0.01, 200), np.full(200, 7.0), rng.integers(0, 3, 200)]
    Z, info = cluster.scale_features(X, "standardize")
    np.testing.assert_allclose(Z[:, [0, 1, 3]].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z[:, [0, 1, 3]].std(axis=0), 1.0, rtol=1e-12)
    assert (Z[:, 2] == 0).all() and info["constant_columns"] == 1  # a constant column becomes 0
    np.testing.assert_allclose(cluster.unscale_features(Z, info), X, rtol=1e-12, atol=1e-12)
    assert cluster.scaling_record(info, 4) == {"name": "standardize", "n_columns": 4, "constant_columns": 1}
    same, info = cluster.scale_features(X, "none")
    assert same is X and info == {"name": "none"}  # unscaled runs keep their numbers bit for bit
    with pytest.raises(ValueError):
        cluster.scale_features(X, "minmax")


def test_standardize_lets_informative_columns_count():
    """Four blobs in 2 columns plus 3 wide noise columns: K-Means finds the blobs only on standardized columns."""
    centers = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0], [6.0, 6.0]])
    X, y = make_blobs(n_samples=[200] * 4, centers=centers, cluster_std=1.0, random_state=0)
    X = np.c_[X, np.random.default_rng(0).normal(scale=8.0, size=(len(X), 3))]
    raw = cluster.fit_kmeans(cluster.scale_features(X, "none")[0], 4, seed=0).labels
    std = cluster.fit_kmeans(cluster.scale_features(X, "standardize")[0], 4, seed=0).labels
    assert cluster.score_clustering(raw, y)["ari"] < 0.2 < 0.9 < cluster.score_clustering(std, y)["ari"]


def _job(tmp_path, X, labels):
    """The files and output paths of one clustering job on a generated feature set."""
    from imagespace.io import save_features

    ids = [f"r{i:04d}" for i in range(len(X))]
    save_features(tmp_path / "f.npz", X, ids)
    manifest = pd.DataFrame(
        {
            "index": np.arange(len(X)),
            "id": ids,
            "split": "train",
            "label": labels.astype(str),
            "subtype": labels.astype(str),
        }
    )
    images = np.random.default_rng(0).integers(0, 255, size=(len(X), 8, 8), dtype=np.uint8)
    figures = {f for m in cluster.METHODS.values() for f in m.figures} | {"sizes", "gallery", "medoids"}
    out = {
        "assignments": tmp_path / "a.tsv",
        "result": tmp_path / "r.json",
        "table": tmp_path / "scan.tsv",
        **{f: tmp_path / f"{f}.png" for f in figures},
    }
    return manifest, images, out


def test_run_clusters_the_scaled_matrix_and_records_it(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    X = np.c_[rng.normal(100, 20, 60), rng.normal(0, 0.5, 60)]
    manifest, images, out = _job(tmp_path, X, rng.integers(0, 2, 60))
    seen = []

    def record(Xc, rows, o, ctx):
        seen.append(Xc)
        return np.arange(len(Xc)) % 2, {}

    monkeypatch.setitem(cluster.METHODS, "record", cluster.Method("record", "record", record))
    r = cluster.run(
        "record", tmp_path / "f.npz", manifest, opts={}, split="all", paths=out, images=images, scale="standardize"
    )
    np.testing.assert_allclose(seen[0].mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(seen[0].std(axis=0), 1.0, rtol=1e-9)
    assert r["scale"] == {"name": "standardize", "n_columns": 2, "constant_columns": 0}
    r = cluster.run("record", tmp_path / "f.npz", manifest, opts={}, split="all", paths=out, images=images)
    np.testing.assert_allclose(seen[1], X.astype(np.float32), rtol=1e-6)  # default none: as stored
    assert r["scale"] == {"name": "none", "n_columns": 2}


def test_run_dbscan_and_hdbscan_jobs_write_their_results(tmp_path):
    X, y = bridged_blobs(0, n=60, bridge=15)
    manifest, images, out = _job(tmp_path, X, y)
    opts = {
        "eps": "auto",
        "min_samples": "auto",
        "scan_min_samples": [5, 10, 20, 40],
        "criterion": "silhouette_coverage",
        "max_noise": 0.5,
        "scan_n": 2000,
    }
    r = cluster.run("dbscan", tmp_path / "f.npz", manifest, opts=opts, split="all", paths=out, images=images, seed=42)
    assert r["k"] == 4 and r["selection"]["mode"] == "scan" and r["selection"]["criterion"] == "silhouette_coverage"
    assert (
        r["min_samples"] in (5, 10, 20, 40)
        and r["eps"] > 0
        and r["noise_fraction"] == pytest.approx(r["n_noise"] / len(X))
    )
    assert json.loads(out["result"].read_text())["selection"]["quantile"] == r["selection"]["quantile"]
    scan = pd.read_csv(out["table"], sep="\t")
    assert scan["chosen"].sum() == 1 and set(scan["min_samples"]) == {5, 10, 20, 40}
    for f in ("eps_scan", "kdistance", "sizes", "gallery"):
        assert_png(out[f])
    r = cluster.run(
        "hdbscan",
        tmp_path / "f.npz",
        manifest,
        opts={"min_cluster_size": 5, "min_samples": None, "cluster_selection_method": "eom"},
        split="all",
        paths=out,
        images=images,
    )
    assert r["method"] == "hdbscan" and r["k"] >= 1 and 0 <= r["noise_fraction"] <= 1


def test_a_scan_computes_the_distances_once_and_scores_as_silhouette_score_does(blobs, monkeypatch):
    """The K-Means and Ward scans score every k on distances computed once; the scores are silhouette_score's on the
    rows themselves, bit for bit. A sampled silhouette, or more rows than SCAN_DISTANCES_MAX, computes none."""
    import sklearn.metrics
    from sklearn.metrics import silhouette_score

    from imagespace.cluster import _base

    X, _ = blobs
    real, calls = sklearn.metrics.pairwise_distances, []
    monkeypatch.setattr(
        sklearn.metrics, "pairwise_distances", lambda *a, **kw: calls.append(len(a[0])) or real(*a, **kw)
    )
    Z = cluster.fit_agglomerative(X, 2).model
    ward = cluster.agglomerative_scan(X, Z, range(2, 9))
    km, fits = cluster.kmeans_scan_models(X, [2, 3, 4, 5], seed=0, n_init=2, keep=[2, 3, 4, 5])
    assert calls == [len(X), len(X)]  # once per scan, not once per k
    for k in range(2, 9):
        assert ward.loc[ward.k == k, "silhouette"].item() == silhouette_score(X, cluster.cut_tree(Z, k))
    for k, fit in fits.items():
        assert km.loc[km.k == k, "silhouette"].item() == silhouette_score(X, fit.labels)
    assert _base.scan_distances(X, sample_size=100) is None
    monkeypatch.setattr(_base, "SCAN_DISTANCES_MAX", len(X) - 1)
    assert _base.scan_distances(X) is None


def test_agglomerative_silhouette_scan_cuts_one_tree_and_picks_the_true_k(tmp_path):
    """Four blobs: the scan's cuts are the labels fit_agglomerative gives at each k, the best silhouette is at k=4,
    and the job with k: silhouette uses that cut (exact, and above large_n on a stratified subsample's tree)."""
    X, y = make_blobs(n_samples=200, centers=[[0, 0], [8, 0], [0, 8], [8, 8]], cluster_std=1.0, random_state=3)
    from imagespace.cluster._base import _silhouette

    Z = cluster.fit_agglomerative(X, 2).model
    scan = cluster.agglomerative_scan(X, Z, range(2, 9))
    for k in (2, 4, 7):
        labels = cluster.fit_agglomerative(X, k).labels
        assert scan.loc[scan.k == k, "silhouette"].item() == pytest.approx(_silhouette(X, labels))
    assert cluster.select_k(scan, "silhouette") == 4
    manifest, images, out = _job(tmp_path, X, y)
    opts = {"linkage": "ward", "k": "silhouette", "k_min": 2, "k_max": 8}
    r = cluster.run(
        "agglomerative", tmp_path / "f.npz", manifest, opts=opts, split="all", paths=out, images=images, seed=0
    )
    assert (
        r["k"] == 4
        and r["strategy"]["name"] == "exact"
        and cluster.hungarian_accuracy(y, np.asarray(pd.read_csv(out["assignments"], sep="\t")["cluster"]))[0] > 0.99
    )
    assert pd.read_csv(out["table"], sep="\t")["k"].tolist() == list(range(2, 9))
    assert_png(out["scan"])
    r = cluster.run(
        "agglomerative",
        tmp_path / "f.npz",
        manifest,
        opts=opts,
        split="all",
        paths=out,
        images=images,
        seed=0,
        large_n=120,
    )
    assert r["k"] == 4 and r["strategy"]["name"] == "subsample" and r["strategy"]["n_tree"] == 120


def test_gmm_samples_reproducible_and_non_mutating(blobs):
    X, _ = blobs
    gmm = cluster.fit_gmm(X, 3, seed=0).model
    state = gmm.random_state
    a = cluster.gmm_samples(gmm, 50, seed=11)
    b = cluster.gmm_samples(gmm, 50, seed=11)
    c = cluster.gmm_samples(gmm, 50, seed=12)
    assert a.shape == (50, 2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert gmm.random_state == state


def test_integer_input_is_accepted():
    X = np.array([[0, 0], [0, 1], [10, 10], [10, 11]], dtype=np.uint8)
    labels = cluster.fit_kmeans(X, 2, seed=0, n_init=2).labels
    assert labels[0] == labels[1] != labels[2] == labels[3]


# --------------------------------------------------------------------------- plots
def test_plots_write_png(tmp_path, blobs, blobs_noise):
    X, y = blobs
    scan = cluster.kmeans_scan(X, [1, 2, 3, 4], seed=0)
    cluster.plot_kmeans_scan(scan, tmp_path / "kmeans.png", chosen_k=3)
    assert_png(tmp_path / "kmeans.png")

    km = cluster.fit_kmeans(X, 3, seed=0, n_init=2).labels
    cluster.plot_silhouette_diagram(X, km, tmp_path / "sil.png", title="k-means k=3")
    assert_png(tmp_path / "sil.png")
    cluster.plot_silhouette_diagram(X, np.zeros(len(X), int), tmp_path / "sil1.png")
    assert_png(tmp_path / "sil1.png")

    gscan = cluster.gmm_scan(X, [1, 2, 3], seed=0)
    cluster.plot_gmm_scan(gscan, tmp_path / "gmm.png", chosen_k=3)
    assert_png(tmp_path / "gmm.png")

    Xn, yn = blobs_noise
    kd = cluster.kdistance(Xn, 5)
    cluster.plot_kdistance(kd, tmp_path / "kdist.png", eps=cluster.choose_eps(kd), min_samples=5)
    assert_png(tmp_path / "kdist.png")

    names = np.array(["a", "b", "c"])[y]
    Z = cluster.fit_agglomerative(X, 3).model
    cluster.plot_dendrogram(Z, names, tmp_path / "dendro.png", truncate_p=20)
    assert_png(tmp_path / "dendro.png")
    Zs = cluster.fit_agglomerative(X[:12], 2, linkage="average").model
    cluster.plot_dendrogram(Zs, names[:12], tmp_path / "dendro_small.png")
    assert_png(tmp_path / "dendro_small.png")

    dbl = cluster.fit_dbscan(Xn, cluster.choose_eps(kd), 5).labels
    cluster.plot_cluster_sizes(dbl, np.where(yn >= 0, yn, 9), tmp_path / "sizes.png")
    assert_png(tmp_path / "sizes.png")


def test_plot_image_grid(tmp_path):
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, size=(13, 8, 8), dtype=np.uint8)
    plots.image_grid(gray, tmp_path / "gray.png", titles=[f"#{i}" for i in range(13)], ncols=5)
    assert_png(tmp_path / "gray.png")
    rgb = rng.normal(size=(4, 8, 8, 3)) * 100
    rgb[0] = 3.0  # constant image must not divide by zero
    plots.image_grid(rgb, tmp_path / "rgb.png")
    assert_png(tmp_path / "rgb.png")
    plots.image_grid(rng.random((3, 8, 8, 1)), tmp_path / "c1.png")
    assert_png(tmp_path / "c1.png")


def test_no_subtypes_means_no_second_pair_of_scores():
    """A dataset without subtypes (each subtype is the label) reports no subtype ARI/NMI, not a copy of the label's."""
    y = np.repeat(["a", "b", "c"], 10)
    pred = np.repeat([0, 1, 2], 10)
    s = cluster.score_clustering(pred, y, y.copy())
    assert s["ari"] == 1.0 and s["ari_subtype"] is None and s["nmi_subtype"] is None


def test_many_classes_keep_legends_and_galleries_readable(tmp_path):
    """60 generated classes: the map's legend lists at most 20 entries and says what it leaves out; the gallery
    shows the 30 largest clusters and says how many it leaves out."""
    rng = np.random.default_rng(0)
    labels = np.repeat([f"class{i:02d}" for i in range(60)], np.arange(60) % 7 + 2)
    Y = rng.normal(size=(len(labels), 2))
    fig = plots.scatter_by_label(
        Y, labels, tmp_path / "map.png", marker_by=np.where(np.arange(len(labels)) % 3, "train", "test")
    )
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    classes = [t for t in texts if t.startswith("class")]
    # the two split markers count within the 20 entries: 17 classes, the note and the markers
    assert len(texts) <= plots.MAX_LEGEND and len(classes) == plots.MAX_LEGEND - 3
    assert "... 43 more classes not listed" in texts and {"train", "test"} <= set(texts)
    # the listed classes are the largest ones
    counts = dict(zip(*np.unique(labels, return_counts=True)))
    assert min(counts[c] for c in classes) >= max(counts[c] for c in counts if c not in classes)
    rows = pd.DataFrame({"label": labels, "index": np.arange(len(labels))})
    images = rng.integers(0, 255, size=(len(labels), 8, 8), dtype=np.uint8)
    fig = cluster.gallery(pd.factorize(labels)[0], rows, images, path=tmp_path / "gallery.png")
    assert fig._suptitle.get_text() == "showing the 30 largest of 60 clusters (30 not shown)"
    assert (tmp_path / "gallery.png").read_bytes()[:4] == b"\x89PNG"


def test_medoid_is_the_member_nearest_all_others_and_its_label_mix_is_reported(tmp_path):
    rng = np.random.default_rng(3)
    # two clusters; in the first, one point sits exactly at the centre of a ring of eight
    ring = np.c_[np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)]
    X = np.vstack([ring, [[0, 0]], rng.normal(10, 0.5, (12, 2))])
    pred = np.array([0] * 9 + [1] * 12)
    labels = np.array(["a"] * 6 + ["b"] * 3 + ["b"] * 12)
    manifest, images, out = _job(tmp_path, X, labels)
    med = cluster.medoid_rows(X, pred)
    assert med[0] == 8  # the centre
    d = ((X[9:, None, :] - X[None, 9:, :]) ** 2).sum(-1) ** 0.5
    assert med[1] == 9 + int(np.argmin(d.sum(axis=1)))
    info = cluster.plot_medoids(pred, X, manifest, images=images, path=out["medoids"])
    assert info[0] == {"id": "r0008", "n": 9, "labels": {"a": round(6 / 9, 4), "b": round(3 / 9, 4)}}
    assert info[1]["labels"] == {"b": 1.0} and out["medoids"].read_bytes()[:4] == b"\x89PNG"
    # noise has no medoid
    assert -1 not in cluster.medoid_rows(X, np.where(pred == 1, -1, 0))


def test_silhouette_grid_scores_each_k_as_scikit_learn_does(tmp_path):
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(4)
    X = np.vstack([rng.normal(c, 0.3, (20, 2)) for c in ((0, 0), (5, 0), (0, 5))])
    means = cluster.plot_silhouette_grid(X, range(2, 6), 0, path=tmp_path / "grid.png", n_init=4)
    assert sorted(means) == [2, 3, 4, 5] and max(means, key=means.get) == 3
    for k, v in means.items():
        assert v == pytest.approx(silhouette_score(X, cluster.fit_kmeans(X, k, 0, n_init=4).labels))
