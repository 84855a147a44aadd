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
