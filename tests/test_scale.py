"""Scalable strategies above large_n: landmark embeddings and subsampled agglomerative clustering.

Each strategy must give (nearly) what the exact method gives on data whose answer is known.
"""

from __future__ import annotations

import numpy as np

from imagespace import cluster, embed
from imagespace.human import comparison as compare


def _plane(n, seed=0):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, 2))
    A = np.linalg.qr(rng.normal(size=(20, 2)))[0].T  # an isometric embedding of the plane in 20-D
    return Z, Z @ A + 0.02 * rng.normal(size=(n, 20))


def test_landmark_mds_places_extended_points_as_well_as_the_landmarks():
    Z, X = _plane(1500)
    Y, _, info = embed.embed("mds", X, 2, embed.params_for("mds", {"n_init": 1}), 0, large_n=500, landmarks=300)
    st = info["strategy"]
    assert st["name"] == "landmarks" and st["n_landmarks"] == 300 and st["n_extended"] == 1200 and info["n_fit"] == 1500
    assert compare.fast_disparity(Z, Y) < 0.01  # the plane is recovered (noise 0.02 on unit-variance coordinates)
    # below the threshold the exact method runs
    _, _, exact = embed.embed("mds", X[:200], 2, embed.params_for("mds", {"n_init": 1}), 0, large_n=500, landmarks=300)
    assert exact["strategy"] == {"name": "exact", "n_points": 200}


def test_stress_extension_puts_a_point_where_its_distances_to_the_landmarks_say():
    """Landmarks whose map is exact (the plane itself, rotated): every new point goes to its own rotated position
    (zero stress), in one chunk or several."""
    rng = np.random.default_rng(1)
    Z_land, Z_new = rng.normal(size=(200, 2)), rng.normal(size=(300, 2))
    R = np.linalg.qr(rng.normal(size=(2, 2)))[0]
    for chunk in (2048, 64):
        Y = embed.smacof_extend(Z_land, Z_land @ R, Z_new, n_iter=200, chunk=chunk)
        np.testing.assert_allclose(Y, Z_new @ R, atol=1e-3)


def test_landmark_isomap_and_exact_tsne_extension():
    Z, X = _plane(1200, seed=1)
    Y, _, info = embed.embed(
        "isomap", X, 2, embed.params_for("isomap", {"n_neighbors": 10}), 0, large_n=400, landmarks=400
    )
    assert info["strategy"]["extension"] == "Isomap transform" and compare.fast_disparity(Z, Y) < 0.05
    labels = np.where(Z[:, 0] > 0, "a", "b")
    Y, _, info = embed.embed(
        "tsne", X, 4, embed.params_for("tsne", {"max_iter": 250}), 0, large_n=400, landmarks=300, strata=labels
    )
    assert Y.shape == (1200, 4) and info["strategy"]["stratified"] and np.isfinite(Y).all()
    # interpolated rows keep the neighbourhoods: a row's nearest neighbour in the map shares its side of the plane
    d = ((Y[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (labels[d.argmin(1)] == labels).mean() > 0.9


def test_subsampled_agglomerative_recovers_separated_clusters():
    rng = np.random.default_rng(2)
    centres = np.array([[0, 0], [10, 0], [0, 10]], float)
    truth = np.repeat([0, 1, 2], [1500, 1000, 500])
    X = centres[truth] + rng.normal(size=(3000, 2))
    fit = cluster.fit_agglomerative_large(X, 3, linkage="ward", n_sub=600, seed=0, strata=truth)
    labels, Z, idx, strategy = fit.labels, fit.model, fit.extra["rows"], fit.extra["strategy"]
    assert strategy["n_tree"] == len(idx) == 600 and strategy["n_assigned"] == 2400 and len(Z) == 599
    assert cluster.hungarian_accuracy(truth, labels)[0] > 0.99
    # stratified: the subsample keeps the class proportions
    assert np.bincount(truth[idx]).tolist() == [300, 200, 100]


def test_landmark_isomap_embeds_other_rows_with_the_landmarks_transform():
    Z, X = _plane(900, seed=1)
    p = embed.params_for("isomap", {"n_neighbors": 10})
    Y, Y_other, info = embed.embed("isomap", X[:700], 2, p, 0, X_other=X[700:], large_n=400, landmarks=300)
    assert info["strategy"]["name"] == "landmarks" and info["n_transformed"] == 200
    # the other rows land where the fitted rows of the same plane would
    assert compare.fast_disparity(Z, np.vstack([Y, Y_other])) < 0.05


def test_landmark_extension_with_fewer_landmarks_than_neighbours():
    # the smallest landmark set the schema allows (10) with the 10-nearest-landmark interpolation
    _, X = _plane(60, seed=2)
    Y, _, info = embed.embed("tsne", X, 4, embed.params_for("tsne", {"max_iter": 250}), 0, large_n=20, landmarks=10)
    assert info["strategy"]["n_landmarks"] == 10 and Y.shape == (60, 4) and np.isfinite(Y).all()


def test_lle_above_landmarks_above_is_fitted_on_landmarks_and_places_the_rest_by_its_transform():
    """Above lle.landmarks_above rows, LLE is scikit-learn's fit on that many stratified rows and scikit-learn's
    transform for the others, and recovers the plane as well as the exact fit does."""
    from sklearn.manifold import LocallyLinearEmbedding

    from imagespace.sampling import stratified_sample

    Z, X = _plane(1500, seed=3)
    side = np.where(Z[:, 0] > 0, "a", "b")
    p = embed.params_for("lle", {"n_neighbors": 10, "landmarks_above": 500})
    Y, _, info = embed.embed("lle", X, 2, p, 0, large_n=5000, landmarks=2000, strata=side)
    st = info["strategy"]
    assert st == {
        "name": "landmarks",
        "n_landmarks": 500,
        "n_extended": 1000,
        "extension": "LLE transform",
        "landmarks_above": 500,
        "stratified": True,
    }
    idx = stratified_sample(1500, 500, 0, side)
    rest = np.setdiff1d(np.arange(1500), idx)
    kw = {k: v for k, v in p.items() if k != "landmarks_above"}
    model = LocallyLinearEmbedding(n_components=2, random_state=0, **kw).fit(X[idx])
    np.testing.assert_allclose(Y[idx], model.embedding_, atol=1e-10)
    np.testing.assert_allclose(Y[rest], model.transform(X[rest]), atol=1e-10)
    Y_exact, _, exact = embed.embed(
        "lle", X, 2, embed.params_for("lle", {"n_neighbors": 10, "landmarks_above": None}), 0
    )
    assert exact["strategy"] == {"name": "exact", "n_points": 1500}
    d_land, d_exact = compare.fast_disparity(Z, Y), compare.fast_disparity(Z, Y_exact)
    assert d_land < d_exact + 0.02, (d_land, d_exact)
    # at the threshold itself the exact fit runs
    _, _, at = embed.embed("lle", X, 2, embed.params_for("lle", {"n_neighbors": 10, "landmarks_above": 1500}), 0)
    assert at["strategy"]["name"] == "exact"


def _blobs_with_noise(seed=4):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [12, 0], [0, 12]], float)
    truth = np.repeat([0, 1, 2], [1500, 1000, 500])
    X = np.vstack([centres[truth] + rng.normal(size=(3000, 2)), rng.uniform(-30, 40, size=(60, 2))])
    return X, np.concatenate([truth, np.full(60, 3)])


def test_subsampled_hdbscan_labels_the_other_rows_by_mutual_reachability():
    X, truth = _blobs_with_noise()
    kw = dict(min_cluster_size=15, min_samples=None, cluster_selection_method="eom")
    fit = cluster.fit_hdbscan_large(X, 600, seed=0, strata=truth, **kw)
    labels, idx, st = fit.labels, fit.extra["rows"], fit.extra["strategy"]
    assert st["n_fit"] == len(idx) == 600 and st["n_assigned"] == 2460 and st["stratified"]
    np.testing.assert_array_equal(
        labels[idx], cluster.fit_hdbscan(X[idx], **kw).labels
    )  # the fitted rows: HDBSCAN itself
    # the rule, from its definition over every fitted row: core distance = distance to the 15th nearest fitted row,
    # the row itself counted first; the label of the fitted row with the least max(distance, both core distances)
    rest = np.setdiff1d(np.arange(len(X)), idx)
    d_fit = np.sqrt(((X[idx][:, None] - X[idx][None]) ** 2).sum(-1))
    core_fit = np.sort(d_fit, axis=1)[:, 14]
    d = np.sqrt(((X[rest][:, None] - X[idx][None]) ** 2).sum(-1))
    core_new = np.sort(d, axis=1)[:, 13]
    mrd = np.maximum(np.maximum(d, core_fit[None]), core_new[:, None])
    best = np.where(mrd == mrd.min(1, keepdims=True), d, np.inf).argmin(1)
    agree = (labels[rest] == labels[idx][best]).mean()
    assert agree > 0.995, agree  # the minimum among the 30 nearest fitted rows is (almost always) the minimum over all
    # what exact HDBSCAN on all rows gives, on the blobs
    exact = cluster.fit_hdbscan(X, **kw).labels
    blob = truth < 3
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(exact[blob], labels[blob]) > 0.98
    assert cluster.hungarian_accuracy(truth[blob], labels[blob])[0] > 0.98
