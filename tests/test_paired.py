import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "scripts"))  # noqa: E401,E702

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import pdist

from imagespace.human import comparison as C
from imagespace.human import paired as P

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _rotation(k, rng):
    Q, R = np.linalg.qr(rng.normal(size=(k, k)))
    return Q * np.sign(np.diag(R))


def _pair(rng, n=60, k=3, d=5, shared=0.8, noise_a=0.7, noise_b=0.7):
    """A human space H, and two feature sets: one representation T (H rotated into d dims plus shared noise)
    with independent noise of the given sizes added."""
    H = rng.normal(size=(n, k))
    T = np.c_[H, np.zeros((n, d - k))] @ _rotation(d, rng) + shared * rng.normal(size=(n, d))
    return H, T + noise_a * rng.normal(size=(n, d)), T + noise_b * rng.normal(size=(n, d))


# --------------------------------------------------------------------------- the resampled statistics are exact
def test_bootstrap_draws_equal_the_statistics_on_explicitly_resampled_images():
    rng = np.random.default_rng(0)
    n = 40
    H = rng.normal(size=(n, 3))
    feats = {
        "wide": H @ rng.normal(size=(3, 6)) + rng.normal(size=(n, 6)),  # PCA to 3 dims, refitted per resample
        "ties": np.round(H + rng.normal(size=(n, 3))),  # tied distances
        "narrow": rng.normal(size=(n, 2)),
    }  # zero-padded
    b = P.bootstrap(H, feats, n_boot=6, seed=3)
    iu, ju = np.triu_indices(n, 1)
    for r, F in enumerate(feats.values()):
        assert b["observed"]["disparity"][r] == pytest.approx(C.procrustes_disparity(H, F)["disparity"], abs=1e-12)
        assert b["observed"]["rdm_spearman"][r] == pytest.approx(C.rdm_compare(H, F, n_perm=2)["spearman"], abs=1e-12)
    draw = np.random.default_rng(3)  # the draws bootstrap() makes, in order
    for t in range(6):
        idx = draw.integers(0, n, n)
        keep = idx[iu] != idx[ju]  # an image and its own copy: no pair
        for r, F in enumerate(feats.values()):
            assert b["draws"]["disparity"][r, t] == pytest.approx(
                C.fast_disparity(H[idx], C.reduce_to(F[idx], 3)[0]), abs=1e-10
            )
            rho = stats.spearmanr(pdist(H[idx])[keep], pdist(F[idx])[keep]).statistic
            assert b["draws"]["rdm_spearman"][r, t] == pytest.approx(rho, abs=1e-10)


def test_bootstrap_is_seeded_and_checks_rows():
    rng = np.random.default_rng(1)
    H, A, B = _pair(rng)
    one = P.bootstrap(H, {"a": A, "b": B}, n_boot=50, seed=4)
    two = P.bootstrap(H, {"a": A, "b": B}, n_boot=50, seed=4)
    np.testing.assert_array_equal(one["draws"]["disparity"], two["draws"]["disparity"])
    assert not np.array_equal(
        one["draws"]["disparity"], P.bootstrap(H, {"a": A, "b": B}, n_boot=50, seed=5)["draws"]["disparity"]
    )
    with pytest.raises(ValueError, match="rows"):
        P.bootstrap(H, {"a": A[:-1]}, n_boot=50)


# --------------------------------------------------------------------------- calibration
N_SIM = 200


def _null_pvalues(d: int) -> dict:
    rng = np.random.default_rng(2024)
    out = {m: [] for m in P.METRICS}
    for rep in range(N_SIM):
        H, A, B = _pair(rng, d=d)
        for row in P.pairs_table(P.bootstrap(H, {"a": A, "b": B}, n_boot=200, seed=rep)):
            out[row["metric"]].append(row["p"])
    return {m: np.array(v) for m, v in out.items()}


@pytest.mark.parametrize("d", [3, 5])  # 5: the feature sets are reduced to the human space's 3 dims by PCA
def test_paired_pvalues_are_uniform_when_two_rows_are_equally_good(d):
    """Two rows = one representation plus independent noise of equal size: no true difference.

    With a calibrated test the number of rejections at 0.05 among N_SIM = 200 independent datasets is
    Binomial(200, 0.05) (mean 10); it must lie in that distribution's central 99.9% interval [2, 21] (so a
    calibrated test fails this check once in 1000 seeds; the PCA reduction fitted once on the full split
    instead of on every resample gave 22 rejections of the disparity difference here, and fails it). The p-values must
    also pass a Kolmogorov-Smirnov test against U(0, 1) at 0.01."""
    pvals = _null_pvalues(d)
    lo, hi = stats.binom.ppf(0.0005, N_SIM, 0.05), stats.binom.isf(0.0005, N_SIM, 0.05)
    assert (lo, hi) == (2, 21)
    for metric, p in pvals.items():
        rejections = int(np.sum(p < 0.05))
        assert lo <= rejections <= hi, (metric, rejections)
        assert stats.kstest(p, "uniform").pvalue > 0.01, metric


def test_paired_pvalue_is_small_when_one_row_is_clearly_better():
    rng = np.random.default_rng(7)
    H, good, bad = _pair(rng, n=120, noise_a=0.2, noise_b=1.5)
    boot = P.bootstrap(H, {"good": good, "bad": bad}, n_boot=500, seed=0)
    rows = {r["metric"]: r for r in P.pairs_table(boot)}
    assert rows["disparity"]["diff"] < 0 and rows["rdm_spearman"]["diff"] > 0  # good: lower disparity, higher rho
    for r in rows.values():
        assert r["better"] == "good" and r["significant"]
        assert r["p"] < 1e-4 and r["p_sign"] <= 2 / 501
        assert r["ci95_high"] < 0 if r["metric"] == "disparity" else r["ci95_low"] > 0


def test_identical_rows_give_p_one():
    rng = np.random.default_rng(3)
    H, A, _ = _pair(rng)
    rows = P.pairs_table(P.bootstrap(H, {"a": A, "same": A.copy()}, n_boot=50, seed=0))
    for r in rows:
        assert r["diff"] == 0 and r["p"] == 1.0 and r["better"] is None and not r["significant"]


# --------------------------------------------------------------------------- multiple comparisons
def test_holm_matches_the_step_down_definition():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    adj = P.holm(p)
    # sorted 0.005, 0.01, 0.03, 0.04 (m = 4): 4*0.005, 3*0.01, max(., 2*0.03), max(., 1*0.04)
    np.testing.assert_allclose(adj[[3, 0, 2, 1]], [0.02, 0.03, 0.06, 0.06])
    assert np.isnan(adj[4])
    assert np.all(P.holm([0.5, 0.9]) == [1.0, 1.0])


def test_versus_top_corrects_over_the_top_rows_comparisons():
    rng = np.random.default_rng(11)
    H, good, bad = _pair(rng, n=120, noise_a=0.2, noise_b=1.5)
    also_good = good + 0.05 * rng.normal(size=good.shape)
    boot = P.bootstrap(H, {"good": good, "also_good": also_good, "bad": bad}, n_boot=300, seed=0)
    rows = P.pairs_table(boot)
    assert all(r["p_adjusted"] >= r["p"] for r in rows)
    vs = P.versus_top(rows, "good", ["also_good", "bad"])
    assert vs["bad"]["beaten"] and vs["bad"]["diff"] < 0
    assert not vs["also_good"]["beaten"]
    raw = sorted(vs[o]["p"] for o in vs)
    assert sorted(vs[o]["p_adjusted"] for o in vs)[0] == pytest.approx(min(1.0, 2 * raw[0]))
    # the difference is oriented top - other whichever way round the table holds the pair
    flipped = P.versus_top(rows, "bad", ["good"])
    assert flipped["good"]["diff"] == pytest.approx(-vs["bad"]["diff"]) and not flipped["good"]["top_better"]


# --------------------------------------------------------------------------- heatmaps and the rule
def test_group_order_sorts_by_label_then_subtype():
    labels = np.array(["b", "a", "b", "a", "a"])
    subtypes = np.array(["b2", "a2", "b1", "a1", "a2"])
    order = P.group_order(labels, subtypes, ids=np.array(["e", "d", "c", "b", "a"]))
    assert list(labels[order]) == ["a", "a", "a", "b", "b"]
    assert list(subtypes[order]) == ["a1", "a2", "a2", "b1", "b2"]
    assert list(order[1:3]) == [4, 1]  # ties broken by id


def test_rdm_heatmaps_are_written(tmp_path):
    rng = np.random.default_rng(0)
    n = 150
    labels = np.repeat(["I", "M", "S"], n // 3)
    subtypes = np.array([f"{lab}_{i % 5}" for i, lab in enumerate(labels)])
    H = rng.normal(size=(n, 4))
    feats = {f"fs{i}": H @ rng.normal(size=(4, 6)) + rng.normal(size=(n, 6)) for i in range(5)}
    path = tmp_path / "rdm.png"
    P.plot_rdm_heatmaps(H, feats, labels, path, subtypes=subtypes, rho={m: 0.5 for m in feats})
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_paired_rule_and_heatmap_figure_are_declared():
    rules = (ROOT / "workflow/rules/compare.smk").read_text()
    block = rules[rules.index("rule paired:") :]
    for text in (
        'table="results/{dataset}/compare/paired_{split}.tsv"',
        '"results/{dataset}/compare/rdm_{split}.png"',
        'caption="../report/rdm_heatmaps.rst"',
        'lib("paired")',
        "log:",
        "conda:",
        "resources:",
        '"../../scripts/paired.py"',
    ):
        assert text in block or text in rules, text
    assert (ROOT / "workflow/report/rdm_heatmaps.rst").read_text().strip()
    assert "compare/paired_{sp}.tsv" in (ROOT / "workflow/rules/report.smk").read_text()


# --------------------------------------------------------------------------- summary
def test_summary_folds_paired_tables_into_the_leaderboard(tmp_path):
    import pandas as pd

    from imagespace import report as summary

    rng = np.random.default_rng(5)
    H, good, bad = _pair(rng, n=120, noise_a=0.2, noise_b=1.5)
    also_good = good + 0.05 * rng.normal(size=good.shape)
    feats = {"good": good, "also_good": also_good, "bad": bad}
    boot = P.bootstrap(H, feats, n_boot=300, seed=0)
    rows = P.pairs_table(boot, split="validation")
    for r in rows:
        r.update(alpha=0.05, correction="holm")
    table = tmp_path / "paired_validation.tsv"
    pd.DataFrame(rows).to_csv(table, sep="\t", index=False)
    compare = {
        fs: {"validation": {"disparity": float(d), "permutation_p": 0.001, "ci95": [0, 1], "rdm": {"spearman": 0.5}}}
        for fs, d in zip(boot["names"], boot["observed"]["disparity"])
    }
    pr = summary.paired_summary([str(table)], compare)
    assert pr["validation"]["top"] == "good" and pr["validation"]["top_beats"] == ["bad"]
    assert pr["validation"]["not_beaten"] == ["also_good"]
    board = summary.leaderboard(compare, ["validation"], paired=pr)
    by = {r["feature_set"]: r for r in board}
    assert by["bad"]["validation_beaten_by_top"] is True and by["also_good"]["validation_beaten_by_top"] is False
    assert by["good"]["validation_vs_top_p"] is None
    # the markdown lists the top row's wins and the pairwise table of the top rows
    s = {"alignment": board, "alignment_splits": ["validation"], "alignment_paired": pr}
    md = "\n".join(summary.markdown_paired(s))
    assert "Paired comparisons on validation" in md and "`good` − `also_good`" in md and "`bad`" in md
    # discovered next to the compare results
    (tmp_path / "fs").mkdir()
    result = tmp_path / "fs" / "comparison.json"
    assert summary.paired_tables([str(result)], ["train", "validation"]) == [str(table)]  # no table of train


def test_the_chosen_row_is_selected_on_the_training_split_alone_and_anchors_the_paired_tests(tmp_path):
    """The leaderboard's top row must not depend on held-out numbers: it is the lowest out-of-fold disparity on the
    maps' training split among eligible rows, and the paired tests on the held-out split are made against it, even
    where another row is (significantly) closer there."""
    import pandas as pd

    from imagespace import report as summary

    rng = np.random.default_rng(11)
    H, good, bad = _pair(rng, n=150, noise_a=0.2, noise_b=1.5)
    feats = {"good": good, "bad": bad, "mid": good + 0.6 * rng.normal(size=good.shape)}
    boot = P.bootstrap(H, feats, n_boot=300, seed=1)
    rows = P.pairs_table(boot, split="validation")
    for r in rows:
        r.update(alpha=0.05, correction="holm")
    table = tmp_path / "paired_validation.tsv"
    pd.DataFrame(rows).to_csv(table, sep="\t", index=False)
    val = dict(zip(boot["names"], boot["observed"]["disparity"]))
    assert val["good"] < val["mid"] < val["bad"]
    # on train, "mid" is lowest; "cnn" is lower still but was trained on train's labels, so its train rows are fitted
    train = {"good": 0.30, "mid": 0.25, "bad": 0.60, "cnn": 0.10}
    compare = {
        fs: {
            sp: {"disparity": d, "permutation_p": 0.001, "ci95": [d - 0.05, d + 0.05], "rdm": {"spearman": 0.5}}
            for sp, d in (("train", train[fs]), ("validation", val.get(fs)))
            if d is not None
        }
        for fs in train
    }
    sel = summary.select_representation(compare, "train", {"cnn": "trained on train's labels"})
    assert sel["chosen"] == "mid" and sel["ranked"] == ["mid", "good", "bad"] and "cnn" in sel["excluded"]
    # changing any held-out number cannot change the choice
    for fs in ("good", "bad", "mid"):
        worse = {
            k: {**v, "validation": {**v["validation"], "disparity": 0.99}} if k == fs else v for k, v in compare.items()
        }
        assert summary.select_representation(worse, "train", {"cnn": "x"})["chosen"] == "mid"
    pr = summary.paired_summary([str(table)], compare, sel["chosen"])["validation"]
    assert pr["top"] == "mid" and pr["top_is"] == "chosen"
    assert pr["top_beats"] == ["bad"] and pr["beat_top"] == ["good"]  # "good" is significantly closer on validation
    splits = summary.split_order({"train", "validation"}, "train")
    board = summary.leaderboard(compare, splits, paired={"validation": pr}, selection=sel)
    assert [r["feature_set"] for r in board] == ["mid", "good", "bad", "cnn"] and board[0]["chosen"]
    assert board[-1]["selection_rank"] is None
    s = {
        "alignment": board,
        "alignment_splits": splits,
        "alignment_paired": {"validation": pr},
        "alignment_selection": sel,
        "warnings": [],
        "cnn": {},
    }
    md = "\n".join(summary.markdown_paired(s))
    assert (
        "top row `mid` (the chosen representation)" in md
        and "significantly closer than it here" in md
        and "`good`" in md
    )
    # without a training-split score nothing is selected, and the held-out ranking is only descriptive
    assert summary.select_representation({"a": {"validation": {"disparity": 0.3}}}, "train") is None
