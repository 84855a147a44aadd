"""Tests for imagespace.cluster: scoring, scans, DBSCAN eps choice, plots, determinism."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "scripts"))

import json  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402

from imagespace import cluster, plots  # noqa: E402

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


def test_gmm_scan_bic_minimum_at_true_k(blobs):
    X, _ = blobs
    df = cluster.gmm_scan(X, range(1, 6), seed=0)
    assert list(df.columns) == ["k", "bic", "aic", "converged", "log_likelihood"]
    assert df["converged"].all()
    assert cluster.select_k(df, "bic") == 3
    assert (np.diff(df["log_likelihood"]) > -1e-6).all()  # more components never fit worse here
    row = cluster.fit_gmm_k(X, 3, seed=0)
    assert row == df[df.k == 3].iloc[0].to_dict() | {"k": 3, "converged": True}


def test_select_k_rules():
    df = pd.DataFrame({"k": [4, 2, 3, 1], "silhouette": [0.5, 0.7, 0.7, np.nan], "bic": [3.0, 1.0, 2.0, 1.0]})
    assert cluster.select_k(df, "silhouette") == 2  # tie -> smallest k, NaN ignored
    assert cluster.select_k(df, "bic") == 1
    with pytest.raises(ValueError):
        cluster.select_k(df, "aic")
    with pytest.raises(ValueError):
        cluster.select_k(df, "elbow")


# --------------------------------------------------------------------------- fits
def test_fit_kmeans_deterministic_and_accurate(blobs):
    X, y = blobs
    a = cluster.fit_kmeans(X, 3, seed=7, n_init=5).labels_
    b = cluster.fit_kmeans(X, 3, seed=7, n_init=5).labels_
    np.testing.assert_array_equal(a, b)
    assert cluster.hungarian_accuracy(y, a)[0] > 0.99


def test_fit_gmm_deterministic(blobs):
    X, y = blobs
    a = cluster.fit_gmm(X, 3, seed=3, covariance_type="diag", n_init=1, reg_covar=1e-6, max_iter=100)
    b = cluster.fit_gmm(X, 3, seed=3, covariance_type="diag", n_init=1, reg_covar=1e-6, max_iter=100)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert cluster.hungarian_accuracy(y, a.predict(X))[0] > 0.99


def test_fit_agglomerative(blobs):
    X, y = blobs
    labels, Z = cluster.fit_agglomerative(X, 3)
    assert Z.shape == (len(X) - 1, 4)
    assert set(labels.tolist()) == {0, 1, 2}
    assert cluster.hungarian_accuracy(y, labels)[0] > 0.99
    labels2, Z2 = cluster.fit_agglomerative(X, 3)
    np.testing.assert_array_equal(labels, labels2)
    np.testing.assert_array_equal(Z, Z2)


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
    labels = cluster.fit_dbscan(X, eps, 5)
    blob = y >= 0
    assert cluster.hungarian_accuracy(y[blob], labels[blob])[0] > 0.9
    assert (labels[~blob] == -1).mean() > 0.5  # most uniform noise is flagged as noise
    np.testing.assert_array_equal(labels, cluster.fit_dbscan(X, eps, 5))


def test_gmm_samples_reproducible_and_non_mutating(blobs):
    X, _ = blobs
    gmm = cluster.fit_gmm(X, 3, seed=0)
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
    labels = cluster.fit_kmeans(X, 2, seed=0, n_init=2).labels_
    assert labels[0] == labels[1] != labels[2] == labels[3]


# --------------------------------------------------------------------------- plots
def test_plots_write_png(tmp_path, blobs, blobs_noise):
    X, y = blobs
    scan = cluster.kmeans_scan(X, [1, 2, 3, 4], seed=0)
    cluster.plot_kmeans_scan(scan, tmp_path / "kmeans.png", chosen_k=3)
    assert_png(tmp_path / "kmeans.png")

    km = cluster.fit_kmeans(X, 3, seed=0, n_init=2).labels_
    cluster.plot_silhouette_diagram(X, km, tmp_path / "sil.png", title="k-means k=3")
    assert_png(tmp_path / "sil.png")
    cluster.plot_silhouette_diagram(X, np.zeros(len(X), int), tmp_path / "sil1.png")
    assert_png(tmp_path / "sil1.png")

    gscan = cluster.gmm_scan(X, [1, 2, 3], seed=0)
    cluster.plot_gmm_scan(gscan, tmp_path / "gmm.png", chosen_k=3)
    assert_png(tmp_path / "gmm.png")

    Xn, yn = blobs_noise
    kd = cluster.kdistance(Xn, 5)
    cluster.plot_kdistance(kd, cluster.choose_eps(kd), 5, tmp_path / "kdist.png")
    assert_png(tmp_path / "kdist.png")

    names = np.array(["a", "b", "c"])[y]
    labels, Z = cluster.fit_agglomerative(X, 3)
    cluster.plot_dendrogram(Z, names, tmp_path / "dendro.png", truncate_p=20)
    assert_png(tmp_path / "dendro.png")
    _, Zs = cluster.fit_agglomerative(X[:12], 2, linkage="average")
    cluster.plot_dendrogram(Zs, names[:12], tmp_path / "dendro_small.png")
    assert_png(tmp_path / "dendro_small.png")

    dbl = cluster.fit_dbscan(Xn, cluster.choose_eps(kd), 5)
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
    fig = plots.scatter_by_label(Y, labels, tmp_path / "map.png", marker_by=np.where(np.arange(len(labels)) % 3, "train", "test"))
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    classes = [t for t in texts if t.startswith("class")]
    assert len(texts) <= plots.MAX_LEGEND + 2 and len(classes) == plots.MAX_LEGEND - 1
    assert "... 41 more classes not listed" in texts and {"train", "test"} <= set(texts)
    # the listed classes are the largest ones
    counts = dict(zip(*np.unique(labels, return_counts=True)))
    assert min(counts[c] for c in classes) >= max(counts[c] for c in counts if c not in classes)
    rows = pd.DataFrame({"label": labels, "index": np.arange(len(labels))})
    images = rng.integers(0, 255, size=(len(labels), 8, 8), dtype=np.uint8)
    fig = cluster.gallery(pd.factorize(labels)[0], rows, images, tmp_path / "gallery.png")
    assert fig._suptitle.get_text() == "showing the 30 largest of 60 clusters (30 not shown)"
    assert (tmp_path / "gallery.png").read_bytes()[:4] == b"\x89PNG"
