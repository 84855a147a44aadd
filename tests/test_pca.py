"""The Gram/covariance PCA against scikit-learn's full SVD, and the embedding helpers."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from imagespace import embed, pca


def _data(n, p, seed=0):
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 5)) @ rng.normal(size=(5, p)) * 20
    return np.clip(latent + 128 + rng.normal(scale=8, size=(n, p)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("n,p,method", [(40, 300, "gram"), (300, 40, "covariance")])
def test_matches_sklearn_full_pca(n, p, method):
    X = _data(n, p)
    res = pca.fit(X, scale=1 / 255)
    ref = PCA(svd_solver="full").fit(X / 255.0)
    assert res.method == method
    r = len(res.explained_variance_ratio)
    np.testing.assert_allclose(res.explained_variance_ratio, ref.explained_variance_ratio_[:r], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(res.explained_variance, ref.explained_variance_[:r], rtol=1e-8)
    for t in (0.5, 0.8, 0.9, 0.95):
        assert res.n_components_for(t) == PCA(n_components=t, svd_solver="full").fit(X / 255.0).n_components_
    # scores agree up to the sign of each component
    k = 5
    ours, theirs = res.fit_scores[:, :k], ref.transform(X / 255.0)[:, :k]
    signs = np.sign(np.sum(ours * theirs, axis=0))
    np.testing.assert_allclose(ours * signs, theirs, atol=1e-8)


def test_full_rank_scores_preserve_pixel_distances():
    X = _data(30, 500)
    res = pca.fit(X)
    from scipy.spatial.distance import pdist

    np.testing.assert_allclose(pdist(res.fit_scores), pdist(X.astype(float)), rtol=1e-9)


def test_transform_and_reconstruct_on_held_out_rows():
    X = _data(60, 200, seed=1)
    fit_rows, other = np.arange(40), np.arange(40, 60)
    res = pca.fit(X, fit_rows, scale=1.0, threshold=0.99)
    d = res.n_components_for(0.99)
    assert res.components.shape == (max(d, 10), 200)
    # transforming the fitted rows reproduces their scores
    np.testing.assert_allclose(
        pca.transform(res, X, fit_rows, d), res.fit_scores[:, :d], atol=1e-4
    )  # float32 components
    ref = PCA(n_components=d, svd_solver="full").fit(X[fit_rows].astype(float))
    held = pca.transform(res, X, other, d)
    signs = np.sign(np.sum(held * ref.transform(X[other].astype(float)), axis=0))
    np.testing.assert_allclose(
        held * signs, ref.transform(X[other].astype(float)), rtol=1e-5, atol=1e-3
    )  # float32 components
    rec = pca.reconstruct(res, held)
    assert np.abs(rec - X[other]).mean() < np.abs(X[other] - X[other].mean()).mean()


def test_works_on_a_memory_map_without_loading_it(tmp_path):
    X = _data(25, 1000)
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    a = pca.fit(mm, chunk_bytes=10_000)  # many small chunks
    b = pca.fit(X)
    np.testing.assert_allclose(a.explained_variance, b.explained_variance, rtol=1e-10)


def test_embedding_parameters_are_pinned_and_seeded():
    X = np.random.default_rng(0).normal(size=(60, 10))
    p = embed.params_for("mds", {"n_init": 2})
    assert p["n_init"] == 2 and p["init"] == "random" and p["eps"] == 1e-6
    a, _, info = embed.embed("mds", X, 3, p, seed=7)
    b, _, _ = embed.embed("mds", X, 3, p, seed=7)
    np.testing.assert_array_equal(a, b)
    assert info["params"]["n_init"] == 2
    y, y_other, info = embed.embed("lle", X[:50], 2, embed.params_for("lle", {}), seed=0, X_other=X[50:])
    assert y.shape == (50, 2) and y_other.shape == (10, 2) and info["n_transformed"] == 10
    _, none, info = embed.embed("tsne", X[:50], 2, embed.params_for("tsne", {"max_iter": 250}), seed=0, X_other=X[50:])
    assert none is None and info["n_transformed"] == 0


@pytest.mark.parametrize("n,p", [(40, 300), (300, 40)])
def test_standardized_pca_gives_z_scores_and_matches_sklearn(n, p, tmp_path):
    """pca.scale: standardize: every pixel a z-score over the fitted rows (a constant pixel stays 0)."""
    from sklearn.preprocessing import StandardScaler

    X = _data(n, p)
    X[:, 7] = 200  # a constant pixel
    fit_rows = np.arange(0, n, 2)
    scale = pca.standardizing_scale(X, fit_rows, chunk_bytes=4096)  # small chunks: the out-of-core path
    res = pca.fit(X, fit_rows, scale, chunk_bytes=4096)
    scaled = pca.reconstruct(res, res.fit_scores)  # every component: the fitted rows, scaled
    Z = scaled - res.mean  # centred: the z-scores
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-9)
    sd = Z.std(axis=0)
    np.testing.assert_allclose(np.delete(sd, 7), 1, rtol=1e-6)
    assert sd[7] == pytest.approx(0, abs=1e-9)
    ref_scaled = StandardScaler().fit(X[fit_rows].astype(float))
    np.testing.assert_allclose(Z, ref_scaled.transform(X[fit_rows].astype(float)), atol=1e-6)
    ref = PCA(svd_solver="full").fit(ref_scaled.transform(X[fit_rows].astype(float)))
    r = len(res.explained_variance_ratio)
    np.testing.assert_allclose(res.explained_variance_ratio, ref.explained_variance_ratio_[:r], rtol=1e-6, atol=1e-12)
    # held-out rows are standardized with the fitted rows' means and sds
    other = np.arange(1, n, 2)
    k = res.components.shape[0]
    theirs = ref.transform(ref_scaled.transform(X[other].astype(float)))[:, :k]
    ours = pca.transform(res, X, other)
    signs = np.sign(np.sum(ours * theirs, axis=0))
    np.testing.assert_allclose(ours * signs, theirs, atol=1e-6)
    # the model round-trips, and pixels come back in 0..255
    pca.save_model(tmp_path / "m.npz", res, (p,))
    back, _ = pca.load_model(tmp_path / "m.npz")
    np.testing.assert_allclose(pca.to_pixels(back, scaled), X[fit_rows], atol=1e-3)


def test_standardizing_needs_no_float64_copy_of_the_pixels():
    """The per-pixel statistics and the fit work on column/row chunks: peak memory stays far below
    one float64 copy of the matrix (500 x 20,000 = 80 MB)."""
    import tracemalloc

    X = _data(500, 20_000)
    tracemalloc.start()
    try:
        scale = pca.standardizing_scale(X, chunk_bytes=4 << 20)
        pca.fit(X, scale=scale, n_store=10, chunk_bytes=4 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.4 * X.size * 8, f"peak {peak / 1e6:.0f} MB"


def test_trustworthiness_separates_faithful_from_random_maps_and_warns():
    """embed.trustworthiness: ~1 for a map that keeps the neighbourhoods, ~0.5 for a random one; sampled above
    max_rows; the summary warns below the threshold only."""
    from imagespace.report import trustworthiness_warnings

    rng = np.random.default_rng(0)
    plane = rng.normal(size=(600, 2))
    X = np.hstack([plane * 10, rng.normal(scale=0.01, size=(600, 30))])  # 2-D data in 32 dimensions
    good = embed.trustworthiness(X, plane, 5, 2000, seed=0, space="x")
    rand = embed.trustworthiness(X, rng.normal(size=(600, 2)), 5, 2000, seed=0)
    assert good["value"] > 0.99 and good["n_rows"] == 600 == good["of"]
    assert 0.45 < rand["value"] < 0.6
    sampled = embed.trustworthiness(X, plane, 5, 200, seed=0, strata=np.repeat(["a", "b", "c"], 200))
    assert (
        abs(sampled["n_rows"] - 200) <= 3 and sampled["of"] == 600
    )  # per-class rounding: at most 1 per class and sampled["value"] > 0.99
    warn = trustworthiness_warnings({"trustworthiness": {"good map": good, "random map": rand}}, 0.7)
    assert len(warn) == 1 and warn[0].startswith("random map: trustworthiness 0.5")
