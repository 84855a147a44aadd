"""Supervised maps into the human space and the alignment statistics (known answers and nulls)."""

import numpy as np
import pytest
from scipy.stats import kstest

from imagespace import alignment, compare


def test_linear_map_recovers_a_noisy_linear_human_space():
    # H = X W + noise with noise carrying 10% of H's variance: the best any map can do is
    # a disparity near that noise share; out-of-fold ridge must get within 2x of it.
    rng = np.random.default_rng(0)
    n, p, k = 300, 40, 4
    X = rng.normal(size=(n, p))
    signal = X @ rng.normal(size=(p, k))
    noise = rng.normal(size=(n, k)) * np.sqrt(0.1 / 0.9 * signal.var(axis=0))
    H = signal + noise
    oof, pred, info = alignment.cross_val_map(X[:200], H[:200], X[200:], folds=5, seed=0)
    assert oof.shape == (200, k) and pred.shape == (100, k)
    floor = compare.fast_disparity(H, signal)  # disparity of the noise-free truth
    assert floor == pytest.approx(0.1, abs=0.03)
    assert compare.fast_disparity(H[:200], oof) < 2 * floor
    assert compare.fast_disparity(H[200:], pred) < 2 * floor
    assert "alpha" in info["final_penalty"]


def test_nonlinear_human_space_is_recovered_from_nonlinear_features():
    # humans see tanh of a latent factor; features are pixels-like mixtures of the latent factors and their squares
    rng = np.random.default_rng(1)
    n = 400
    Z = rng.uniform(-2, 2, size=(n, 3))
    H = np.column_stack([np.tanh(Z[:, 0]), Z[:, 1] ** 2, Z[:, 2]]) + rng.normal(scale=0.05, size=(n, 3))
    basis = np.column_stack([Z, Z**2, np.tanh(Z)])
    X = basis @ rng.normal(size=(9, 60)) + rng.normal(scale=0.1, size=(n, 60))
    oof, _, _ = alignment.cross_val_map(X, H, folds=5, seed=0)
    assert compare.fast_disparity(H, oof) < 0.1
    assert compare.fast_disparity(H, Z) > 0.2  # the raw latent factors are not enough: the map did the work


def test_training_split_numbers_are_cross_validated_not_in_sample():
    # pure noise features, more features than images: an in-sample fit matches the humans
    # almost perfectly, the out-of-fold predictions must not
    rng = np.random.default_rng(2)
    X, H = rng.normal(size=(60, 200)), rng.normal(size=(60, 3))
    oof, _, _ = alignment.cross_val_map(X, H, folds=5, seed=0)
    stats = compare.compare(H, oof, n_perm=199, seed=0)
    assert stats["disparity"] > 0.8 and not stats["significant"]
    model = alignment.make_model("ridge", alphas=(1e-3,)).fit(X, H)
    assert compare.fast_disparity(H, model.predict(X)) < 0.2  # what an in-sample number would have claimed


def test_pls_variant_runs_and_chooses_components():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 30))
    H = X[:, :2] @ rng.normal(size=(2, 2)) + 0.1 * rng.normal(size=(120, 2))
    oof, _, info = alignment.cross_val_map(X, H, method="pls", folds=4, seed=0, max_pls=6)
    assert compare.fast_disparity(H, oof) < 0.1
    assert 1 <= info["final_penalty"]["n_components"] <= 6


def test_rdm_cka_and_bootstrap_on_known_geometry():
    rng = np.random.default_rng(4)
    H = rng.normal(size=(80, 4))
    Q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    F = 3.0 * H @ Q + 5.0
    r = compare.rdm_compare(H, F, n_perm=199, seed=0)
    assert r["spearman"] == pytest.approx(1.0) and r["pearson"] == pytest.approx(1.0) and r["spearman_p"] == 1 / 200
    assert compare.linear_cka(H, F) == pytest.approx(1.0)
    assert compare.linear_cka(H, rng.normal(size=(80, 4))) < 0.3
    noisy = H + rng.normal(scale=0.7, size=H.shape)
    b = compare.bootstrap_disparity(H, noisy, n_boot=300, seed=0)
    obs = compare.fast_disparity(H, noisy)
    assert b["ci95"][0] < obs < b["ci95"][1] and b["ci95"][1] - b["ci95"][0] < 0.2
    assert b["bootstrap_bias"] < 0  # repeated images let the rotation fit better
    # the interval shrinks with more images
    H2 = rng.normal(size=(800, 4))
    b2 = compare.bootstrap_disparity(H2, H2 + rng.normal(scale=0.7, size=H2.shape), n_boot=300, seed=0)
    assert b2["bootstrap_sd"] < b["bootstrap_sd"] / 2


def test_mantel_null_is_the_rdm_with_images_permuted():
    # the batched null must equal the definition: correlate the human RDM with F's RDM after
    # permuting F's images (rows and columns together), for the same permutations
    from scipy.spatial.distance import pdist, squareform
    from scipy.stats import pearsonr

    rng = np.random.default_rng(7)
    H = rng.normal(size=(30, 3))
    F = H + rng.normal(scale=1.5, size=H.shape)
    res = compare.rdm_compare(H, F, n_perm=60, seed=11)
    perm_rng = np.random.default_rng(11)
    DF = squareform(pdist(F))
    iu = np.triu_indices(30, 1)
    null = []
    for _ in range(60):
        p = perm_rng.permutation(30)
        null.append(pearsonr(pdist(H), DF[np.ix_(p, p)][iu])[0])
    null = np.array(null)
    assert res["pearson_null_mean"] == pytest.approx(null.mean(), abs=1e-12)
    assert res["pearson_null_sd"] == pytest.approx(null.std(ddof=1), abs=1e-12)
    assert res["pearson_p"] == (1 + np.sum(null >= pearsonr(pdist(H), pdist(F))[0])) / 61


def test_mantel_p_values_are_uniform_under_the_null():
    rng = np.random.default_rng(5)
    ps = [compare.rdm_compare(rng.normal(size=(25, 3)), rng.normal(size=(25, 3)), n_perm=99, seed=i)["spearman_p"] for i in range(150)]
    assert kstest(ps, "uniform").pvalue > 0.01


def test_statistics_bundle_has_every_metric():
    rng = np.random.default_rng(6)
    H = rng.normal(size=(50, 3))
    s = compare.statistics(H, H @ np.diag([1, 2, 3]) + 0.1 * rng.normal(size=H.shape), n_perm=99, n_boot=50)
    for key in ("disparity", "permutation_p", "ci95", "per_dim_r", "per_dim_r2", "rdm", "cka"):
        assert key in s
    assert len(s["per_dim_r2"]) == 3 and s["significant"]


def test_category_rdm_is_one_for_pure_categories_and_near_zero_for_noise():
    labels = np.repeat(["a", "b", "c"], 15)
    onehot = (labels[:, None] == np.array(["a", "b", "c"])).astype(float)  # within 0, between sqrt(2)
    assert compare.category_rdm(onehot, labels) == pytest.approx(1.0)
    rng = np.random.default_rng(3)
    null = [compare.category_rdm(rng.normal(size=(45, 4)), labels) for _ in range(50)]
    assert abs(np.mean(null)) < 0.03
    res = compare.category_rdms(onehot, rng.normal(size=(45, 4)), labels, None)
    assert set(res) == {"label"} and res["label"]["human"] == pytest.approx(1.0) and abs(res["label"]["features"]) < 0.2
