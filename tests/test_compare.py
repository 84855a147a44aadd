import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "scripts"))  # noqa: E401,E702

import json
import time

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import procrustes

from imagespace import human
from imagespace.human import comparison as C


def _rotation(k, rng):
    Q, R = np.linalg.qr(rng.normal(size=(k, k)))
    return Q * np.sign(np.diag(R))


def _related(n=120, k=4, seed=0, noise=0.01):
    rng = np.random.default_rng(seed)
    H = rng.normal(size=(n, k))
    F = H @ _rotation(k, rng) * 3.7 + rng.normal(size=k) * 5 + noise * rng.normal(size=(n, k))
    return H, F


# --------------------------------------------------------------------------- Procrustes
@pytest.mark.parametrize("n,k,seed", [(10, 2, 0), (50, 3, 1), (360, 8, 2), (40, 1, 3)])
def test_fast_disparity_equals_scipy(n, k, seed):
    rng = np.random.default_rng(seed)
    H, F = rng.normal(size=(n, k)), rng.normal(size=(n, k)) * 3 + 1
    assert abs(C.fast_disparity(H, F) - procrustes(H, F)[2]) < 1e-10
    # also for related matrices (disparity near 0) and reflections
    F2 = H @ _rotation(k, rng) * 2 + 0.05 * rng.normal(size=(n, k))
    assert abs(C.fast_disparity(H, F2) - procrustes(H, F2)[2]) < 1e-10


def test_permutation_null_equals_scipy_on_shuffled_rows():
    rng = np.random.default_rng(5)
    H, F = rng.normal(size=(60, 3)), rng.normal(size=(60, 3))
    res = C.permutation_test(H, F, n_perm=20, seed=11)
    assert abs(res["observed"] - procrustes(H, F)[2]) < 1e-10
    perms = C._permutations(60, 20, 11)
    for perm, value in zip(perms, res["null"]):
        assert abs(value - procrustes(H, F[perm])[2]) < 1e-10


def test_procrustes_disparity_output():
    H, F = _related(n=80, k=3, noise=0.05)
    res = C.procrustes_disparity(H, F)
    assert res["H_aligned"].shape == res["F_aligned"].shape == (80, 3)
    assert len(res["per_dim_r"]) == 3 and all(r > 0.95 for r in res["per_dim_r"])
    assert res["mean_r"] == pytest.approx(np.mean(res["per_dim_r"]))
    assert res["disparity"] == pytest.approx(procrustes(H, F)[2], abs=1e-12)


def test_permutation_test_is_reproducible_and_fast():
    rng = np.random.default_rng(0)
    H, F = rng.normal(size=(360, 8)), rng.normal(size=(360, 8))
    C.permutation_test(H, F, n_perm=10, seed=0)  # warm-up
    t0 = time.perf_counter()
    a = C.permutation_test(H, F, n_perm=1000, seed=0)
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0, f"1000 permutations took {elapsed:.2f}s"
    b = C.permutation_test(H, F, n_perm=1000, seed=0)
    np.testing.assert_array_equal(a["null"], b["null"])
    assert a["null"].shape == (1000,)
    c = C.permutation_test(H, F, n_perm=1000, seed=1)
    assert not np.array_equal(a["null"], c["null"])


# --------------------------------------------------------------------------- compare
def test_compare_recovers_rotated_space():
    H, F = _related(n=120, k=4)
    n_perm = 500
    res = C.compare(H, F, n_perm=n_perm, seed=0)
    assert res["disparity"] < 0.05
    assert res["permutation_p"] == pytest.approx(1 / (n_perm + 1))
    assert res["significant"] is True
    assert not res["verdict"].startswith("WARNING")
    assert res["z"] < -10
    for key in (
        "n",
        "k",
        "feature_dims",
        "reduction",
        "disparity",
        "per_dim_r",
        "mean_r",
        "permutation_mean",
        "permutation_sd",
        "permutation_p",
        "z",
        "significant",
        "verdict",
    ):
        assert key in res
    assert res["n"] == 120 and res["k"] == 4 and res["feature_dims"] == 4
    assert isinstance(res["per_dim_r"], list) and len(res["per_dim_r"]) == 4
    json.dumps(C.summary(res))  # JSON-ready without the arrays


def test_compare_with_more_feature_dims():
    rng = np.random.default_rng(3)
    H = rng.normal(size=(100, 3))
    # features: the human space embedded in 50 dims (high variance) plus small noise dims
    F = np.zeros((100, 50))
    F[:, :3] = H * 10
    F = F @ _rotation(50, rng) + 0.01 * rng.normal(size=(100, 50))
    res = C.compare(H, F, n_perm=200, seed=0)
    assert res["feature_dims"] == 50 and res["reduction"].startswith("PCA")
    assert res["disparity"] < 0.01 and res["significant"]


def test_compare_flags_shuffled_rows():
    H, F = _related(n=150, k=4)
    F_shuffled = F[np.random.default_rng(42).permutation(len(F))]
    res = C.compare(H, F_shuffled, n_perm=500, seed=0)
    assert res["permutation_p"] > 0.05
    assert res["significant"] is False
    assert res["verdict"].startswith("WARNING")
    assert "shuffled" in res["verdict"] and "right images" in res["verdict"]
    assert abs(res["disparity"] - res["permutation_mean"]) < 3 * res["permutation_sd"]


def test_pvalues_uniform_under_null():
    rng = np.random.default_rng(123)
    pvals = []
    for rep in range(200):
        H, F = rng.normal(size=(30, 3)), rng.normal(size=(30, 5))
        pvals.append(C.permutation_test(H, F, n_perm=199, seed=rep)["permutation_p"])
    pvals = np.array(pvals)
    assert pvals.min() >= 1 / 200 and pvals.max() <= 1
    assert stats.kstest(pvals, "uniform").pvalue > 0.01


def test_compare_rejects_misaligned_inputs():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="rows"):
        C.compare(rng.normal(size=(10, 2)), rng.normal(size=(11, 2)), n_perm=10)
    with pytest.raises(ValueError, match="NaN"):
        C.compare(np.full((10, 2), np.nan), rng.normal(size=(10, 2)), n_perm=10)
    with pytest.raises(ValueError, match="identical"):
        C.compare(rng.normal(size=(10, 2)), np.ones((10, 3)), n_perm=10)


# --------------------------------------------------------------------------- reduce_to
def test_reduce_to_pads():
    rng = np.random.default_rng(0)
    F = rng.normal(size=(20, 2))
    Fk, note = C.reduce_to(F, 5)
    assert Fk.shape == (20, 5)
    np.testing.assert_array_equal(Fk[:, :2], F)
    assert np.all(Fk[:, 2:] == 0)
    assert "pad" in note
    # padding is what scipy would need anyway: disparity is well defined
    H = rng.normal(size=(20, 5))
    assert C.procrustes_disparity(H, F)["disparity"] == pytest.approx(procrustes(H, Fk)[2], abs=1e-12)


def test_reduce_to_identity():
    F = np.random.default_rng(0).normal(size=(20, 4))
    Fk, note = C.reduce_to(F, 4)
    np.testing.assert_array_equal(Fk, F)
    assert "as is" in note


def test_reduce_to_pca():
    rng = np.random.default_rng(0)
    F = rng.normal(size=(50, 10)) * np.arange(10, 0, -1)
    Fk, note = C.reduce_to(F, 3)
    assert Fk.shape == (50, 3) and "PCA" in note
    np.testing.assert_allclose(Fk.mean(axis=0), 0, atol=1e-12)
    cov = Fk.T @ Fk
    np.testing.assert_allclose(cov - np.diag(np.diag(cov)), 0, atol=1e-8)  # uncorrelated
    assert np.all(np.diff(np.diag(cov)) < 0)  # decreasing variance
    # matches sklearn PCA up to the sign of each component
    from sklearn.decomposition import PCA

    ref = PCA(n_components=3, svd_solver="full").fit_transform(F)
    np.testing.assert_allclose(np.abs(Fk), np.abs(ref), atol=1e-8)
    # deterministic signs: each component's largest loading is positive, so negating the
    # input negates the scores (the loadings keep their sign)
    np.testing.assert_allclose(C.reduce_to(-F, 3)[0], -Fk, atol=1e-8)
    np.testing.assert_array_equal(Fk, C.reduce_to(F.copy(), 3)[0])
    # fewer rows than k: extra columns are zero
    Fsmall, note_small = C.reduce_to(rng.normal(size=(4, 10)), 6)
    assert Fsmall.shape == (4, 6) and np.all(Fsmall[:, 4:] == 0) and "zero" in note_small


# --------------------------------------------------------------------------- labels
def test_label_structure_detects_clusters():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.array(["circle", "square", "triangle"]), 30)
    centres = {"circle": [0, 0], "square": [3, 0], "triangle": [0, 3]}
    H = np.array([centres[lab] for lab in labels]) + rng.normal(size=(90, 2))
    res = human.label_structure(H, labels, n_perm=500, seed=0)
    assert res["permutation_p"] < 0.01 and res["significant"]
    assert res["ratio"] < 1 and res["n_labels"] == 3
    # within/between means agree with a brute-force computation
    from scipy.spatial.distance import pdist

    d = pdist(H)
    i, j = np.triu_indices(90, 1)
    same = labels[i] == labels[j]
    assert res["within_mean"] == pytest.approx(d[same].mean())
    assert res["between_mean"] == pytest.approx(d[~same].mean())
    assert res["ratio"] == pytest.approx(d[same].mean() / d[~same].mean())


def test_label_structure_not_fooled_by_shuffled_labels():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.array(["circle", "square", "triangle"]), 30)
    H = np.repeat(np.array([[0, 0], [3, 0], [0, 3]]), 30, axis=0) + rng.normal(size=(90, 2))
    shuffled = labels[np.random.default_rng(7).permutation(90)]
    res = human.label_structure(H, shuffled, n_perm=500, seed=0)
    assert res["permutation_p"] > 0.05 and not res["significant"]
    assert res["verdict"].startswith("WARNING")


def test_label_structure_with_many_subtypes():
    rng = np.random.default_rng(1)
    sub = np.array([f"c{i % 3}_{i % 5}" for i in range(150)])
    codes = np.unique(sub, return_inverse=True)[1]
    H = rng.normal(size=(15, 3))[codes] * 2 + rng.normal(size=(150, 3))
    res = human.label_structure(H, sub, n_perm=300, seed=0)
    assert res["n_labels"] == 15 and res["permutation_p"] < 0.01


# --------------------------------------------------------------------------- plots
def test_plots_are_written(tmp_path):
    H, F = _related(n=60, k=3, noise=0.3)
    res = C.compare(H, F, n_perm=100, seed=0)
    labels = np.repeat(np.array(["a", "b", "c"]), 20)
    one = {"train": (res["null"], res["disparity"])}
    C.plot_permutation(one, tmp_path / "perm.png", title="test")
    C.plot_permutation({**one, "validation": (res["null"][::2], 0.5)}, tmp_path / "perm2.png", title="test")
    C.plot_aligned({"train": (res["H_aligned"], res["F_aligned"], labels)}, tmp_path / "aligned.png", title="test")
    sizes = {}
    for name in ("perm.png", "perm2.png", "aligned.png"):
        p = tmp_path / name
        assert p.exists() and p.stat().st_size > 1000
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        sizes[name] = _png_size(p)
    # one panel per split, side by side: two splits make a figure about twice as wide, as tall
    (w1, h1), (w2, h2) = sizes["perm.png"], sizes["perm2.png"]
    assert 1.7 < w2 / w1 < 2.3 and abs(h2 - h1) <= 0.1 * h1


def _png_size(path):
    """(width, height) in pixels, from the PNG header."""
    head = path.read_bytes()[16:24]
    return int.from_bytes(head[:4], "big"), int.from_bytes(head[4:], "big")


# --------------------------------------------------------------------------- category RDMs: tau-a, rho-a
def _tau_a_brute(x, y):
    """Kendall tau-a by counting every pair: (concordant - discordant) / (n (n - 1) / 2)."""
    n, s = len(x), 0
    for i in range(n):
        for j in range(i + 1, n):
            s += np.sign(x[i] - x[j]) * np.sign(y[i] - y[j])
    return s / (n * (n - 1) / 2)


def _rho_a_ref(x, y):
    """rsatoolbox's rho-a: covariance of the mid-ranks over the variance of untied ranks (n^3 - n) / 12."""
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    n = len(x)
    return float(((rx - rx.mean()) * (ry - ry.mean())).sum() * 12 / (n**3 - n))


@pytest.mark.parametrize("seed", range(6))
def test_tau_a_equals_a_pair_count(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 40))
    x = rng.normal(size=n)
    y = x + rng.normal(size=n)
    if seed % 2:  # ties in both vectors, as a category RDM has
        x, y = np.round(x), (y > 0).astype(float)
    assert C.kendall_tau_a(x, y) == pytest.approx(_tau_a_brute(x, y), abs=1e-12)
    assert C.spearman_rho_a(x, y) == pytest.approx(_rho_a_ref(x, y), abs=1e-12)
    b = stats.kendalltau(x, y, variant="b").statistic
    c = stats.kendalltau(x, y, variant="c").statistic
    if seed % 2 == 0:  # no ties: tau-a = tau-b, rho-a = Spearman
        assert C.kendall_tau_a(x, y) == pytest.approx(b, abs=1e-12)
        assert C.spearman_rho_a(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    else:  # ties shrink tau-a below tau-b; tau-c = 2 (C - D) m / (n^2 (m - 1)), m = fewer distinct values
        assert abs(C.kendall_tau_a(x, y)) < abs(b)
        m = min(len(np.unique(x)), len(np.unique(y)))
        assert C.kendall_tau_a(x, y) == pytest.approx(c * n * (m - 1) / (m * (n - 1)), abs=1e-12)
    assert C.kendall_tau_a(x, np.ones(n)) == 0.0


def test_category_rdm_tau_a_against_brute_force_and_its_ceiling():
    from scipy.spatial.distance import pdist

    rng = np.random.default_rng(2)
    labels = np.repeat(["a", "b", "c"], 6)
    F = rng.normal(size=(18, 3)) + (labels[:, None] == np.array(["a", "b", "c"])) * 2.0
    d = pdist(F)
    cat = (pdist(np.unique(labels, return_inverse=True)[1][:, None].astype(float)) > 0).astype(float)
    assert C.category_rdm(F, labels, "tau_a") == pytest.approx(_tau_a_brute(d, cat), abs=1e-12)
    assert C.category_rdm(F, labels, "rho_a") == pytest.approx(_rho_a_ref(d, cat), abs=1e-12)
    # a perfectly categorical RDM: Spearman 1, tau-a at its ceiling (within x between pairs / all pairs) < 1
    onehot = (labels[:, None] == np.array(["a", "b", "c"])).astype(float)
    top = C.category_rdm(onehot, labels, "tau_a")
    n_pairs, within = 18 * 17 // 2, 3 * (6 * 5 // 2)
    assert top == pytest.approx(within * (n_pairs - within) / (n_pairs * (n_pairs - 1) / 2))
    assert top == pytest.approx(C.category_tau_a_max(labels)) and top < 1
    assert C.category_rdm(onehot, labels) == pytest.approx(1.0)
    res = C.category_rdms(onehot, F, labels, None)["label"]
    assert res["human_tau_a"] == pytest.approx(top) and res["tau_a_max"] == pytest.approx(top)
    assert 0 < res["features_tau_a"] < top and set(res) >= {"features", "human", "features_rho_a", "human_rho_a"}
    with pytest.raises(ValueError, match="method"):
        C.category_rdm(F, labels, "pearson")


@pytest.mark.parametrize("width", [7, 80])  # 80 > 50 images: the resamples' PCA runs on the 50 columns of U S
def test_bootstrap_disparity_refits_the_reduction_on_each_resample(width):
    rng = np.random.default_rng(4)
    H = rng.normal(size=(50, 3))
    F = H @ rng.normal(size=(3, width)) + rng.normal(size=(50, width))
    res = C.bootstrap_disparity(H, F, n_boot=20, seed=9)
    draws = np.random.default_rng(9)
    vals = []
    for _ in range(20):
        idx = draws.integers(0, 50, 50)
        vals.append(procrustes(H[idx], C.reduce_to(F[idx], 3)[0])[2])
    assert res["bootstrap_sd"] == pytest.approx(np.std(vals, ddof=1), rel=1e-9)
    obs = C.procrustes_disparity(H, F)["disparity"]
    assert res["bootstrap_bias"] == pytest.approx(np.mean(vals) - obs, abs=1e-9)


def test_an_svd_that_lapack_gesdd_cannot_finish_falls_back_to_gesvd(monkeypatch):
    """gesdd fails to converge on some bootstrap resamples with many repeated rows (seen on the rocks' backbone
    features); the reduction then uses gesvd and gives the same decomposition."""
    import scipy.linalg

    from imagespace.human import procrustes as compare

    rng = np.random.default_rng(0)
    F = rng.normal(size=(60, 20))
    expected, _ = compare.reduce_to(F, 4)
    real = scipy.linalg.svd
    drivers = []

    def svd(a, *args, lapack_driver="gesdd", **kw):
        drivers.append(lapack_driver)
        if lapack_driver == "gesdd":
            raise np.linalg.LinAlgError("SVD did not converge")
        return real(a, *args, lapack_driver=lapack_driver, **kw)

    monkeypatch.setattr(scipy.linalg, "svd", svd)  # the module the reduction looks it up in, when it runs
    got, _ = compare.reduce_to(F, 4)
    assert drivers == ["gesdd", "gesvd"]
    np.testing.assert_allclose(got, expected, atol=1e-10)


def test_one_procrustes_has_one_behaviour_on_constant_input():
    """A constant compared matrix scores exactly 1 in every Procrustes entry point (the limit: nothing of the human
    space explained); a constant human space is an error naming it. Non-constant input: the three agree."""
    from scipy.spatial import procrustes as scipy_procrustes

    from imagespace.human import ensemble, procrustes

    rng = np.random.default_rng(5)
    H = rng.normal(size=(30, 3))
    F = H @ rng.normal(size=(3, 3)) + 0.3 * rng.normal(size=(30, 3))
    const = np.tile(rng.normal(size=(1, 3)), (30, 1))
    assert ensemble.disparity is procrustes.disparity  # one function, not a copy
    expected = scipy_procrustes(H, F)[2]
    assert procrustes.disparity(H, F) == expected
    assert procrustes.fast_disparity(H, F) == pytest.approx(expected, abs=1e-12)
    assert procrustes.procrustes_disparity(H, F)["disparity"] == pytest.approx(expected, abs=1e-12)
    assert procrustes.disparity(H, const) == 1.0
    assert procrustes.fast_disparity(H, const) == 1.0
    full = procrustes.procrustes_disparity(H, const)
    assert full["disparity"] == 1.0 and not np.any(full["F_aligned"]) and np.isnan(full["mean_r"])
    for f in (procrustes.disparity, procrustes.fast_disparity, procrustes.procrustes_disparity):
        with pytest.raises(ValueError, match="human space H|H has all rows identical"):
            f(const, F)
