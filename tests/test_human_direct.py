"""Direct comparisons with human data and noise ceilings (imagespace.human.direct), against rsatoolbox 0.3.2."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared
from scipy.spatial.distance import pdist

from imagespace.human import direct, simulate


def _subjects(H, n_subjects, noise, seed):
    rng = np.random.default_rng(seed)
    d = pdist(H)
    return np.array([d + noise * d.std() * rng.normal(size=d.size) for _ in range(n_subjects)])


def test_correlations_and_ceiling_bounds_agree_with_rsatoolbox():
    rsr = pytest.importorskip("rsatoolbox")
    from rsatoolbox.inference import boot_noise_ceiling
    from rsatoolbox.rdm import RDMs, compare

    rng = np.random.default_rng(0)
    H = rng.normal(size=(25, 4))
    R = _subjects(H, 6, 0.8, 1)
    F = H + rng.normal(size=H.shape)
    d = pdist(F)
    data, model = RDMs(R), RDMs(d[None])
    for ours, theirs in (("spearman", "spearman"), ("tau_a", "tau-a"), ("pearson", "corr")):
        expected = float(np.mean(compare(model, data, method=theirs)))
        assert direct.rdm_score(R, d, ours) == pytest.approx(expected, abs=1e-6), ours
        lo, hi = boot_noise_ceiling(data, method=theirs)
        nc = direct.noise_ceiling(R, ours)
        assert nc["lower"] == pytest.approx(lo, abs=1e-6) and nc["upper"] == pytest.approx(hi, abs=1e-6), ours
    from importlib.metadata import version

    assert version("rsatoolbox").startswith("0.3"), rsr


def test_the_ceiling_brackets_the_true_space_with_noisy_raters_and_missing_pairs():
    """Twenty simulated participants rate pairs of mds_360 with noise, 30 % of pairs missing: the true space's
    correlation lies between the ceiling's bounds."""
    H = np.loadtxt(shared("rocks", "mds_360.txt"))
    R = simulate.ratings_rdms(H, n_subjects=20, noise=1.0, missing=0.3, seed=0)
    assert 0.25 < np.isnan(R).mean() < 0.35
    nc = direct.noise_ceiling(R, "spearman")
    truth = direct.rdm_score(R, pdist(H), "spearman")
    assert nc["lower"] <= truth <= nc["upper"], (nc, truth)


def test_bootstrap_intervals_hold_the_value_and_shrink_with_more_subjects():
    rng = np.random.default_rng(2)
    H = rng.normal(size=(30, 3))
    F = H + 0.7 * rng.normal(size=H.shape)
    few = direct.rdm_scores(_subjects(H, 3, 1.0, 3), F, n_boot=100, seed=0, methods=("spearman",))
    many = direct.rdm_scores(_subjects(H, 30, 1.0, 3), F, n_boot=100, seed=0, methods=("spearman",))
    for res in (few, many):
        lo, hi = res["spearman"]["ci95_items"]
        assert lo <= res["spearman"]["value"] <= hi
    width = [r["spearman"]["ci95_subjects"][1] - r["spearman"]["ci95_subjects"][0] for r in (few, many)]
    assert width[1] < width[0]


def test_triplet_accuracy_and_the_repeated_triplet_ceiling():
    """Triplets asked twenty times each with a logistic choice rule: the true space's accuracy is within 0.01 of the
    leave-one-answer-out ceiling, and a shuffled space is near chance."""
    rng = np.random.default_rng(4)
    H = rng.normal(size=(60, 3))
    T, items, _ = simulate.triplets(H, n_triplets=1000, repeats=20, temperature=0.2, task="anchor_closer", seed=5)
    truth = direct.triplet_scores(T, H, n_boot=50, seed=0)
    ceiling = direct.triplet_ceiling(T)
    asked = {(a, min(b, c), max(b, c)) for a, b, c in items.tolist()}
    assert ceiling["n_repeated_triplets"] == len(asked) and ceiling["n_answers"] == len(T)
    assert abs(truth["value"] - ceiling["value"]) <= 0.01, (truth["value"], ceiling["value"])
    shuffled = direct.triplet_scores(T, H[rng.permutation(len(H))], n_boot=50, seed=0)
    assert abs(shuffled["value"] - 0.5) < 0.05
    assert truth["ci95_items"][0] <= truth["value"] <= truth["ci95_items"][1]


def test_incidental_repeats_do_not_make_the_triplet_ceiling():
    """5,000 choices on 27 items repeat some triplets by chance, with one or two answers each: their agreement is
    biased low (below what the true space reaches), so the split-half estimate is the ceiling, the agreement beside it.
    """
    rng = np.random.default_rng(7)
    H = rng.normal(size=(27, 3))
    T, _, _ = simulate.triplets(H, n_triplets=5000, temperature=0.2, task="anchor_closer", seed=8)
    c = direct.triplet_ceiling(T)
    assert c["n_repeated_triplets"] > 0 and c["repeated_agreement"]["n_answers"] / c["n_repeated_triplets"] < 5
    assert c["method"].startswith("split-half, Spearman–Brown")
    truth = direct.triplet_scores(T, H, n_boot=2)["value"]
    assert c["repeated_agreement"]["value"] < truth <= c["value"] + 0.02, (c, truth)


def test_split_scores_and_the_summary_section_show_the_share_of_the_ceiling():
    """Several raters: each feature set's Spearman as a share of the lower bound, the best first, the chosen one's
    share in the headline; one averaged matrix or coordinates: 'no ceiling' said, no share printed."""
    from imagespace.human import scores

    rng = np.random.default_rng(6)
    H = rng.normal(size=(25, 3))
    obs = {"kind": "ratings", "R": _subjects(H, 8, 1.0, 7), "subjects": [f"s{i}" for i in range(8)]}
    features = {"good": H + 0.2 * rng.normal(size=H.shape), "bad": rng.normal(size=H.shape)}
    res = scores.split_scores(obs, features, n_boot=30, seed=0)
    lower = res["ceiling"]["lower"]
    assert 0 < lower < res["ceiling"]["upper"] < 1
    good = res["feature_sets"]["good"]["spearman"]
    assert good["share_of_ceiling"] == pytest.approx(good["value"] / lower)
    one = scores.split_scores({**obs, "R": obs["R"].mean(axis=0, keepdims=True)}, features, n_boot=30, seed=0)
    section = scores.summary_section({"validation": res, "train": one, "test": None}, chosen="good")
    assert [r["feature_set"] for r in section["rows"] if r["split"] == "validation"] == ["good", "bad"]
    assert section["headline"].startswith(f"good reaches {good['share_of_ceiling']:.0%} of the noise ceiling")
    assert section["ceilings"]["test"]["note"] == scores.NO_CEILING
    assert any("train" in w and "no ceiling" in w for w in section["warnings"])
    md = "\n".join(scores.summary_markdown(section))
    assert "| train | good | spearman |" in md and md.count("no ceiling") >= 3


def test_a_space_built_from_noisy_ratings_ranks_the_feature_sets_as_the_true_space():
    """Twenty simulated participants rate pairs of mds_360 with noise and 30 % of pairs missing; the space MDS builds
    from their ratings puts the same three feature sets on top of the disparity leaderboard as the true space."""
    from imagespace.human import disparity, reduce_to, spaces

    H = np.loadtxt(shared("rocks", "mds_360.txt"))
    R = simulate.ratings_rdms(H, n_subjects=20, noise=1.0, missing=0.3, seed=1)
    from scipy.spatial.distance import squareform

    D = squareform(np.nanmean(R, axis=0))  # every pair is rated by someone (20 raters, 30 % missing each)
    np.fill_diagonal(D, np.nan)
    built = spaces.mds(spaces.fill_missing(D)[0], H.shape[1], seed=0)
    rng = np.random.default_rng(8)
    features = {f"noise_{s}": H @ rng.normal(size=(8, 30)) + s * rng.normal(size=(len(H), 30)) for s in range(1, 9)}

    def top3(space):
        scores = {k: disparity(space, reduce_to(F, space.shape[1])[0]) for k, F in features.items()}
        return sorted(scores, key=scores.get)[:3]

    assert top3(built) == top3(H)


# --------------------------------------------------------------------------- the triplet ceiling without repeats
def _asked_once(T):
    """The first answer to each triplet (same i, same pair {j, k}): data in which no triplet is repeated."""
    key = np.column_stack([T[:, 0], np.minimum(T[:, 1], T[:, 2]), np.maximum(T[:, 1], T[:, 2])])
    _, first = np.unique(key, axis=0, return_index=True)
    return T[np.sort(first)]


@pytest.mark.parametrize(
    "task, n_items, temperature, n_triplets, seed",
    [
        ("anchor_closer", 60, 0.2, 20000, 10),
        ("odd_one_out", 60, 0.1, 10000, 11),
        ("anchor_closer", 40, 0.15, 10000, 12),
    ],
)
def test_the_split_half_ceiling_without_repeats_lands_on_the_repeated_triplet_agreement(
    task, n_items, temperature, n_triplets, seed
):
    """Triplets simulated from a known 3-D space of 60 (or 40) items with a logistic choice rule, twice: once each
    (no triplet repeated) and 1,000 triplets asked 20 times. The split-half estimate on the first, Spearman–Brown
    corrected, is within 0.03 of the repeated-triplet agreement on the second (measured: within 0.016); the true
    space's accuracy exceeds it by at most 0.02; the uncorrected split-half accuracy is far below both (so the
    correction is what brings it there)."""
    rng = np.random.default_rng(seed)
    H = rng.normal(size=(n_items, 3))
    once, _, _ = simulate.triplets(H, n_triplets=n_triplets, temperature=temperature, task=task, seed=seed + 10)
    once = _asked_once(once)
    repeated, _, _ = simulate.triplets(H, n_triplets=1000, repeats=20, temperature=temperature, task=task, seed=seed)
    agreement = direct.triplet_ceiling(repeated)
    ceiling = direct.triplet_ceiling(once)
    assert agreement["method"].startswith("leave-one-answer-out") and agreement["n_repeated_triplets"] >= 950
    assert ceiling["n_repeated_triplets"] == 0 and ceiling["n_answers"] == len(once)
    assert ceiling["method"] == "split-half, Spearman–Brown corrected, 20 repeats (halves of the triplets)"
    assert abs(ceiling["value"] - agreement["value"]) <= 0.03, (ceiling, agreement["value"])
    truth = direct.triplet_scores(once, H, n_boot=2)["value"]
    assert truth <= ceiling["value"] + 0.02, (truth, ceiling)
    assert ceiling["uncorrected"] < agreement["value"] - 0.04 and ceiling["uncorrected"] < ceiling["value"]
    r = ceiling["reliability_half"]
    assert ceiling["reliability_full"] == pytest.approx(2 * r / (1 + r)) and r < ceiling["reliability_full"] < 1
    assert ceiling["warning"] is None and r >= 0.6


def test_the_split_half_ceiling_formula_and_its_limits():
    """The correction is the line through (quarter, half) in reliability extended to 1 (Spearman–Brown gives the
    quarter's reliability), clipped to [a_half, 1]; random answers have no ceiling, and the output says why."""
    from imagespace.human import splithalf

    r = 0.7
    r_q = 0.5 * r / (1 - 0.5 * r)  # Spearman–Brown for half the length: a quarter of the data
    line = 0.75 + (0.75 - 0.70) * (1 - r) / (r - r_q)
    assert splithalf.corrected_ceiling(0.75, 0.70, r) == pytest.approx(line)
    assert splithalf.corrected_ceiling(0.75, 0.78, r) == 0.75  # a quarter better than a half: noise, no correction
    assert splithalf.corrected_ceiling(0.95, 0.80, 0.5) == 1.0
    assert splithalf.corrected_ceiling(0.75, 0.70, 0.2) is None
    rng = np.random.default_rng(13)
    H = rng.normal(size=(50, 3))
    T, _, _ = simulate.triplets(H, n_triplets=8000, temperature=0.2, task="anchor_closer", seed=14)
    T = _asked_once(T)
    coin = rng.random(len(T)) < 0.5
    T[coin] = T[coin][:, [0, 2, 1]]  # every answer a coin flip
    c = direct.triplet_ceiling(T)
    assert c["value"] is None and abs(c["uncorrected"] - 0.5) < 0.02 and abs(c["reliability_half"]) < 0.1
    from imagespace.human import scores

    obs = {"kind": "triplets", "T": T, "subjects": np.full(len(T), "all")}
    note = scores.ceiling(obs)["note"]
    assert note.startswith("no ceiling: no triplet was asked twice") and "agree too little" in note


def test_the_split_half_ceiling_splits_the_subjects_and_is_seeded():
    """With a subject column (eight simulated participants) the halves are halves of the subjects; the estimate
    is the same for the same seed and differs a little for another; summary notes state the method and the
    uncorrected value."""
    from imagespace.human import scores

    rng = np.random.default_rng(15)
    H = rng.normal(size=(40, 3))
    T, _, _ = simulate.triplets(H, n_triplets=12000, temperature=0.15, task="anchor_closer", seed=16)
    T = _asked_once(T)
    subjects = np.array([f"p{i % 8}" for i in range(len(T))])
    a = direct.triplet_ceiling(T, subjects=subjects, seed=1)
    assert a["units"] == "subjects" and a["n_units"] == 8 and "halves of the subjects" in a["method"]
    assert a == direct.triplet_ceiling(T, subjects=subjects, seed=1)
    b = direct.triplet_ceiling(T, subjects=subjects, seed=2)
    assert a["value"] != b["value"] and abs(a["value"] - b["value"]) < 0.01
    truth = direct.triplet_scores(T, H, n_boot=2)["value"]
    assert truth - 0.02 <= a["value"] <= truth + 0.03
    c = scores.ceiling({"kind": "triplets", "T": T, "subjects": subjects}, seed=1)
    assert c["lower"] == c["upper"] == a["value"]
    assert c["note"].startswith("split-half, Spearman–Brown corrected, 20 repeats (halves of the subjects)")
    assert f"uncorrected split-half accuracy {a['uncorrected']:.3f}" in c["note"]


# --------------------------------------------------------------------------- paired tests of the direct statistic
def _feature_sets(H, rng, noise=(0.3, 0.6)):
    return {f"f{i}": H + s * rng.normal(size=H.shape) for i, s in enumerate(noise)}


def test_the_paired_draws_recompute_every_feature_set_on_the_same_explicit_resample():
    """Ratings of six participants with missing pairs, and triplets: each draw of every feature set equals its
    statistic on the explicitly resampled items (the human RDMs and the feature RDM of the resampled rows, a
    pair of an item with its own copy left out; triplets among the resampled items, as often as their items
    occur), the draws do not depend on which other feature sets are scored, and the items' CIs of split_scores
    come from these same draws."""
    from scipy.spatial.distance import squareform

    from imagespace.human import scores

    rng = np.random.default_rng(20)
    H = rng.normal(size=(18, 3))
    feats = _feature_sets(H, rng)
    R = simulate.ratings_rdms(H, n_subjects=6, noise=0.8, missing=0.25, seed=21)
    obs = {"kind": "ratings", "R": R, "subjects": [f"s{i}" for i in range(6)]}
    boot = scores.direct_bootstrap(obs, feats, n_boot=8, seed=3)
    items = direct.item_draws(18, n_boot=8, seed=3)
    sq = np.array([squareform(np.nan_to_num(r, nan=-1.0)) for r in R])
    sq[sq == -1.0] = np.nan
    iu, ju = np.triu_indices(18, 1)
    for t, idx in enumerate(items):
        keep = idx[iu] != idx[ju]
        Rt = sq[:, idx][:, :, idx][:, iu, ju][:, keep]
        for r, F in enumerate(feats.values()):
            expected = direct.rdm_score(Rt, pdist(F[idx])[keep], "spearman")
            assert boot["draws"]["spearman"][r, t] == pytest.approx(expected, abs=1e-12)
    alone = scores.direct_bootstrap(obs, {"f1": feats["f1"]}, n_boot=8, seed=3)
    assert np.array_equal(alone["draws"]["spearman"][0], boot["draws"]["spearman"][1])
    res = scores.split_scores(obs, feats, n_boot=8, seed=3)
    for r, name in enumerate(feats):
        ci = np.percentile(boot["draws"]["spearman"][r], [2.5, 97.5])
        assert res["feature_sets"][name]["spearman"]["ci95_items"] == pytest.approx(ci)
    T, _, _ = simulate.triplets(H, n_triplets=400, temperature=0.2, task="anchor_closer", seed=22)
    tb = scores.direct_bootstrap({"kind": "triplets", "T": T, "subjects": None}, feats, n_boot=5, seed=4)
    for t, idx in enumerate(direct.item_draws(18, n_boot=5, seed=4)):
        copies = {i: np.flatnonzero(idx == i) for i in range(18)}  # the positions of each item's copies
        resampled = [(a, b, c) for i, j, k in T for a in copies[i] for b in copies[j] for c in copies[k]]
        for r, F in enumerate(feats.values()):
            expected = direct.triplet_scores(np.array(resampled), F[idx], n_boot=0)["value"]
            assert tb["draws"]["triplet_accuracy"][r, t] == pytest.approx(expected, abs=1e-12)


def test_pairing_removes_the_noise_two_feature_sets_share():
    """Two feature sets that differ by a little noise: the paired bootstrap se of their difference is a small
    fraction of what two independent intervals would give (sqrt(se_a^2 + se_b^2)), for RDM Spearman and for
    triplet accuracy; a resample drawn apart for each feature set would not be."""
    from imagespace.human import scores

    rng = np.random.default_rng(23)
    H = rng.normal(size=(30, 3))
    base = H + 0.7 * rng.normal(size=H.shape)
    feats = {"a": base, "b": base + 0.15 * rng.normal(size=H.shape)}
    T, _, _ = simulate.triplets(H, n_triplets=3000, temperature=0.2, task="anchor_closer", seed=24)
    R = simulate.ratings_rdms(H, n_subjects=4, noise=1.0, missing=0.2, seed=25)
    for obs in ({"kind": "triplets", "T": T, "subjects": None}, {"kind": "ratings", "R": R, "subjects": None}):
        boot = scores.direct_bootstrap(obs, feats, n_boot=200, seed=5)
        (D,) = boot["draws"].values()
        paired_se = np.std(D[0] - D[1], ddof=1)
        unpaired = np.hypot(np.std(D[0], ddof=1), np.std(D[1], ddof=1))
        assert paired_se < 0.35 * unpaired, (obs["kind"], paired_se, unpaired)
        other = scores.direct_bootstrap(obs, {"b": feats["b"]}, n_boot=200, seed=6)
        (Db,) = other["draws"].values()
        assert np.std(D[0] - Db[0], ddof=1) > 2 * paired_se


def test_paired_rows_find_the_better_feature_set_correct_over_the_splits_pairs_and_are_seeded():
    """Three feature sets of decreasing quality on triplets: the best is significantly better than the others,
    Holm-adjusted over the three pairs (paired.holm of the raw p), identical results for a seed; two identical
    feature sets differ by 0 with p = 1, and the summary line says the best is not significantly better."""
    from imagespace.human import paired, scores

    rng = np.random.default_rng(26)
    H = rng.normal(size=(40, 3))
    feats = {"poor": rng.normal(size=H.shape), **_feature_sets(H, rng, noise=(0.2, 0.8))}
    T, _, _ = simulate.triplets(H, n_triplets=4000, temperature=0.1, task="anchor_closer", seed=27)
    obs = {"kind": "triplets", "T": T, "subjects": None}
    rows = scores.paired_rows(obs, feats, n_boot=300, seed=7)
    assert [(r["a"], r["b"]) for r in rows] == [("f0", "f1"), ("f0", "poor"), ("f1", "poor")]
    assert all(r["metric"] == "triplet_accuracy" and r["diff"] > 0 and r["significant"] for r in rows)
    assert [r["p_adjusted"] for r in rows] == pytest.approx(list(paired.holm([r["p"] for r in rows])))
    assert rows == scores.paired_rows(obs, feats, n_boot=300, seed=7)
    assert rows != scores.paired_rows(obs, feats, n_boot=300, seed=8)
    res = scores.split_scores(obs, feats, n_boot=300, seed=7)
    assert res["paired"] == rows
    line = scores.summary_section({"validation": res})["paired"]["validation"]
    assert line.startswith("f0 is significantly better than the runner-up f1 on triplet_accuracy")
    page = "\n".join(scores.split_markdown("validation", res))
    assert "| f0 | f1 |" in page and "| f0 | poor |" in page and "holm-adjusted over the split's 3 pairs" in page
    same = scores.split_scores(obs, {"x": feats["f0"], "y": feats["f0"].copy()}, n_boot=50, seed=7)
    (r,) = same["paired"]
    assert r["diff"] == 0 and r["p"] == 1 and not r["significant"]
    assert "x is not significantly better than the runner-up y" in scores.versus_runner_up(same)


def test_paired_direct_p_values_hold_their_level_when_two_feature_sets_are_equally_good():
    """120 simulated datasets in which two feature sets are equally noisy copies of one representation (triplets
    from the true space): the paired p rejects at 0.05 in at most 5 % + sampling error; and in 30 datasets where
    one is the true space with a little noise (0.3 sd) and the other with more (1.0 sd, accuracy 0.14 lower) it
    finds the better one in at least 90 %. The item bootstrap of a triplet accuracy is conservative (a resampled
    triplet counts as often as the product of its items' counts, so each triplet's own noise enters its se several
    times over: about 1.7 x the true sd of the difference with 1,500 triplets of 40 items; none of the 120 null
    datasets rejected)."""
    from imagespace.human import scores

    p_null, p_alt = [], []
    for s in range(120):
        rng = np.random.default_rng(300 + s)
        H = rng.normal(size=(40, 3))
        base = H + 0.8 * rng.normal(size=H.shape)
        T, _, _ = simulate.triplets(H, n_triplets=1500, temperature=0.2, task="anchor_closer", seed=s)
        obs = {"kind": "triplets", "T": T, "subjects": None}
        equal = {"a": base + 0.7 * rng.normal(size=H.shape), "b": base + 0.7 * rng.normal(size=H.shape)}
        p_null.append(scores.paired_rows(obs, equal, n_boot=200, seed=s)[0]["p"])
        if s < 30:
            better = {"a": H + 0.3 * rng.normal(size=H.shape), "b": H + 1.0 * rng.normal(size=H.shape)}
            (r,) = scores.paired_rows(obs, better, n_boot=200, seed=s)
            p_alt.append(r["p"] if r["a"] == "a" else 1.0)  # a found better, and how surely
    assert np.mean(np.array(p_null) < 0.05) <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 120)
    assert np.mean(np.array(p_alt) < 0.05) >= 0.9
