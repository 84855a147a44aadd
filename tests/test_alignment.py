"""Supervised maps into the human space and the alignment statistics (known answers and nulls)."""

import numpy as np
import pytest
from scipy.stats import kstest

from imagespace.human import alignment
from imagespace.human import comparison as compare


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
    ps = [
        compare.rdm_compare(rng.normal(size=(25, 3)), rng.normal(size=(25, 3)), n_perm=99, seed=i)["spearman_p"]
        for i in range(150)
    ]
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


SMALL_GRID = {"alphas": tuple(np.logspace(-2, 4, 7)), "max_pls": 8}


def _pls_friendly(seed, n=150, p=100):
    # two latent factors behind many noisy features, and behind the human space: a two-component PLS problem
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, 2))
    X = Z @ rng.normal(size=(2, p)) + rng.normal(size=(n, p))
    return X, Z @ rng.normal(size=(2, 3)) + 0.1 * rng.normal(size=(n, 3))


def _ridge_friendly(seed, n=150, p=60):
    # many small effects of independent features: no low-rank structure for PLS to find
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    return X, 0.3 * X @ rng.normal(size=(p, 3)) + rng.normal(size=(n, 3))


@pytest.mark.parametrize("make, expected", [(_pls_friendly, "pls"), (_ridge_friendly, "ridge")])
def test_auto_method_chooses_what_the_data_favour_inside_every_fold(make, expected):
    X, H = make(0)
    oof, _, info = alignment.cross_val_map(X, H, method="auto", folds=4, seed=0, **SMALL_GRID)
    assert info["method"] == "auto"
    assert info["final_penalty"]["method"] == expected
    assert [f["method"] for f in info["fold_penalties"]] == [expected] * 4
    penalty = "n_components" if expected == "pls" else "alpha"
    assert all(penalty in f for f in info["fold_penalties"] + [info["final_penalty"]])
    # one search over both grids on the same inner folds: its best inner score is the better of the two
    # methods' own searches, and the method it picks is the one whose search scored higher
    fitted = {m: alignment.make_model(m, **SMALL_GRID).fit(X, H) for m in ("ridge", "pls", "auto")}
    assert fitted["auto"].best_score_ == pytest.approx(
        max(fitted["ridge"].best_score_, fitted["pls"].best_score_), abs=1e-12
    )
    assert max(("ridge", "pls"), key=lambda m: fitted[m].best_score_) == expected
    assert alignment._penalty(fitted["auto"]) == alignment._penalty(fitted[expected])


@pytest.mark.parametrize("make", [_pls_friendly, _ridge_friendly])
def test_auto_method_predictions_stay_out_of_fold_and_its_map_is_affine(make):
    X, H = make(1, n=80)
    oof, pred, info = alignment.cross_val_map(X[:60], H[:60], X[60:], method="auto", folds=4, seed=0, **SMALL_GRID)
    # a training row's prediction never sees its own target: perturbing it changes only the other rows' predictions
    H2 = H[:60].copy()
    H2[7] += 50.0
    oof2, _, _ = alignment.cross_val_map(X[:60], H2, X[60:], method="auto", folds=4, seed=0, **SMALL_GRID)
    np.testing.assert_array_equal(oof2[7], oof[7])
    assert np.abs(oof2 - oof).max() > 1e-6  # (while it does move the rows that were trained on it)
    # the stored map (W, b) is the final model, whichever method it chose
    W, b = info["affine"]
    np.testing.assert_allclose(alignment.apply_map(X[60:], W, b), pred, rtol=1e-8, atol=1e-8)


def test_penalty_names_the_method_and_warns_at_the_edge_of_its_grid(caplog):
    X, H = _pls_friendly(2, n=60, p=20)
    for method in ("ridge", "pls", "auto"):
        model = alignment.make_model(method, alphas=(1.0, 10.0), max_pls=2).fit(X, H)  # two values: always an edge
        with caplog.at_level("WARNING", logger="imagespace.human.alignment"):
            caplog.clear()
            p = alignment._penalty(model)
        assert p["method"] in ("ridge", "pls") and (method == "auto" or p["method"] == method)
        assert ("alpha" in p) == (p["method"] == "ridge") and ("n_components" in p) == (p["method"] == "pls")
        assert any(p["method"] in r.getMessage() and "edge of the grid" in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError, match=r"unknown mapping method 'lasso' \(ridge, pls, auto\)"):
        alignment.make_model("lasso")


def test_a_feature_constant_on_the_training_rows_cannot_blow_up_a_new_images_prediction():
    """A channel ~0 on every training row (sd 1e-7) and slightly active on a new image: plain standardising gives
    it z ~ 1e5 and the prediction flies off; the floored scale keeps it within the training predictions' range.
    extreme_rows flags a row that does lie far out."""
    from imagespace.human import alignment

    rng = np.random.default_rng(0)
    n, d = 200, 30
    X = rng.normal(size=(n, d))
    H = X[:, :3] @ rng.normal(size=(3, 2)) + 0.1 * rng.normal(size=(n, 2))
    X[:, 7] = 1e-7 * rng.normal(size=n)  # a dead channel
    new = rng.normal(size=(5, d))
    new[:, 7] = 0.0
    new[0, 7] = 0.01  # the new image where it wakes up
    oof, pred, info = alignment.cross_val_map(X, H, new, method="ridge", folds=3)
    spread = np.linalg.norm(oof - oof.mean(axis=0), axis=1)
    dist = np.linalg.norm(pred - oof.mean(axis=0), axis=1)
    assert dist[0] < 3 * spread.max(), (dist[0], spread.max())
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    plain = make_pipeline(StandardScaler(), Ridge(alpha=info["final_penalty"]["alpha"])).fit(X, H)
    plain_dist = np.linalg.norm(plain.predict(new[:1]) - oof.mean(axis=0))
    assert plain_dist > 10 * spread.max()  # the failure the floor prevents: the test can fail
    far = alignment.extreme_rows(oof, np.vstack([oof[:3], plain.predict(new[:1])]), ["a", "b", "c", "new"])
    assert [r["id"] for r in far] == ["new"] and far[0]["ratio"] >= 10
    assert alignment.extreme_rows(oof, oof, np.arange(n).astype(str)) == []
