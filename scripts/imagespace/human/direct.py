"""Direct comparisons with human data, needing no embedding, and the noise ceilings that say how good "good" is.

* RDM correlation on the observed pairs (Spearman rho, Kendall tau-a, Pearson) of a feature set's Euclidean RDM
  with the human RDM(s): with several subjects, the mean over subjects of the correlation with each subject's
  RDM (as rsatoolbox evaluates a model against several data RDMs, so that it compares with the ceiling), with
  one the correlation with it;
* triplet accuracy: the share of human triplet choices that the feature set's distances reproduce;
* bootstrap CIs: over items (images resampled with replacement; a pair of an image with its own copy left out)
  and, with several subjects, over subjects. The item resamples are drawn once (:func:`item_draws`) and handed to
  every feature set, so that two feature sets' per-draw values (:func:`rdm_draws`, :func:`triplet_draws`) come
  from the same resamples: the input of the paired tests (:func:`imagespace.human.scores.paired_rows`);
* noise ceilings: for several subjects' RDMs the bounds as rsatoolbox's ``boot_noise_ceiling`` defines them
  (lower: each subject against the pooled RDM of the others, upper: against the pooled RDM of all, averaged over
  subjects; pooled as rsatoolbox pools for the method); for triplets the agreement on repeated triplets
  (each answer predicted by the majority of the other answers to the same triplet) or, where no triplet is
  repeated, a split-half estimate with its Spearman–Brown correction (:mod:`imagespace.human.splithalf`); coordinates
  alone have none.

RDMs are condensed vectors (``scipy.spatial.distance.squareform`` order), NaN where a pair has no data.
"""

from __future__ import annotations

import numpy as np

from .rdm import kendall_tau_a

METHODS = ("spearman", "tau_a", "pearson")
# Bound on the float64 elements of one block of draws x triplets.
_CHUNK_ELEMENTS = 4_000_000


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / den) if den > 0 else float("nan")


def correlation(a, b, method: str) -> float:
    """Correlation of two condensed RDMs over the pairs finite in both (rsatoolbox's ``spearman``, ``tau-a``,
    ``corr``).

    Parameters
    ----------
    a, b : condensed RDMs (NaN = no data).
    method : ``spearman`` (Pearson of the ranks of the common pairs), ``tau_a`` or ``pearson``.

    Returns
    -------
    float
    """
    from scipy.stats import rankdata

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if method == "spearman":
        return _pearson(rankdata(a), rankdata(b))
    if method == "tau_a":
        return kendall_tau_a(a, b)
    if method == "pearson":
        return _pearson(a, b)
    raise ValueError(f"unknown RDM correlation {method!r} ({', '.join(METHODS)})")


def pool(R: np.ndarray, method: str) -> np.ndarray:
    """The pooled RDM of the rows of *R* as rsatoolbox pools for *method*: mean ranks (spearman, tau_a) or mean
    standardised RDMs (pearson); pairs with data in no row are NaN."""
    from scipy.stats import rankdata

    R = np.atleast_2d(np.asarray(R, dtype=np.float64))
    V = np.empty_like(R)
    for i, v in enumerate(R):
        ok = np.isfinite(v)
        V[i] = np.nan
        if method == "pearson":
            V[i, ok] = (v[ok] - v[ok].mean()) / v[ok].std()
        else:
            V[i, ok] = rankdata(v[ok])
    n = np.isfinite(V).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.nansum(V, axis=0) / np.maximum(n, 1), np.nan)


def noise_ceiling(R: np.ndarray, method: str = "spearman") -> dict:
    """Lower and upper noise-ceiling bounds of several subjects' RDMs (rsatoolbox's ``boot_noise_ceiling``).

    Parameters
    ----------
    R : (subjects, pairs) condensed RDMs, NaN where a subject has no data for a pair.
    method : the correlation (:data:`METHODS`).

    Returns
    -------
    {"lower", "upper", "n_subjects", "method"}; None bounds with fewer than two subjects.
    """
    R = np.atleast_2d(np.asarray(R, dtype=np.float64))
    s = len(R)
    if s < 2:
        return {"lower": None, "upper": None, "n_subjects": s, "method": method}
    everyone = pool(R, method)
    lower = [correlation(pool(np.delete(R, i, axis=0), method), R[i], method) for i in range(s)]
    upper = [correlation(everyone, R[i], method) for i in range(s)]
    return {"lower": float(np.mean(lower)), "upper": float(np.mean(upper)), "n_subjects": s, "method": method}


def rdm_score(R: np.ndarray, d: np.ndarray, method: str) -> float:
    """A feature set's score against the subjects' RDMs *R* (rows): the mean over subjects of the correlation
    of its condensed RDM *d* with each (one subject: the correlation with it)."""
    return float(np.mean([correlation(d, r, method) for r in np.atleast_2d(R)]))


def _resampled_pairs(idx: np.ndarray, n: int) -> np.ndarray:
    """Condensed positions of the pairs of a resample *idx* of items (pairs of an item with its own copy left out)."""
    i, j = np.triu_indices(len(idx), 1)
    a, b = idx[i], idx[j]
    keep = a != b
    a, b = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
    return n * a - a * (a + 1) // 2 + (b - a - 1)


def item_draws(n: int, *, n_boot: int = 200, seed: int = 0) -> np.ndarray:
    """The bootstrap's item resamples, drawn once and shared by every feature set of a split.

    Parameters
    ----------
    n : the number of items (images).
    n_boot : the number of draws.
    seed : the seed (``numpy.random.default_rng``).

    Returns
    -------
    (n_boot, n) int array: row b holds the items of draw b (with replacement).
    """
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, n, n) for _ in range(int(n_boot))]) if n_boot else np.zeros((0, n), np.int64)


def _subject_rng(seed: int) -> np.random.Generator:
    """The subjects' draws: a stream of their own, apart from the item draws of :func:`item_draws`."""
    return np.random.default_rng([int(seed), 1])


def rdm_draws(R, d, items, *, method: str = "spearman") -> np.ndarray:
    """A feature set's RDM score on each item resample (the statistic of :func:`rdm_score`, redone on the pairs
    of the resample: pair (a, b) counted as often as it occurs, a pair of an item with its own copy left out).

    Parameters
    ----------
    R : (subjects, pairs) condensed human RDMs (NaN = no data).
    d : the feature set's condensed RDM.
    items : (n_boot, n) item resamples (:func:`item_draws`).
    method : the correlation (:data:`METHODS`).

    Returns
    -------
    (n_boot,) array
    """
    R = np.atleast_2d(np.asarray(R, dtype=np.float64))
    d = np.asarray(d, dtype=np.float64)
    items = np.asarray(items)
    n = items.shape[1]
    values = np.empty(len(items))
    for b, idx in enumerate(items):
        p = _resampled_pairs(idx, n)
        values[b] = rdm_score(R[:, p], d[p], method)
    return values


def rdm_scores(R, F, *, n_boot: int = 200, seed: int = 0, methods=METHODS, items=None) -> dict:
    """RDM correlations of the feature set *F* with the human RDMs *R*, with bootstrap CIs.

    Parameters
    ----------
    R : (subjects, pairs) condensed human RDMs (NaN = no data), or one condensed RDM.
    F : (n, d) the feature set, rows in the human data's item order.
    n_boot : bootstrap draws (over items, and over subjects when there are several).
    seed : the draws' seed.
    methods : the correlations computed.
    items : the item resamples (:func:`item_draws`), shared with the other feature sets of the split; None:
        ``item_draws(n, n_boot=n_boot, seed=seed)`` (the same draws).

    Returns
    -------
    {method: {"value", "ci95_items", "ci95_subjects"}, "n_pairs_observed"}
    """
    from scipy.spatial.distance import pdist

    R = np.atleast_2d(np.asarray(R, dtype=np.float64))
    F = np.asarray(F, dtype=np.float64)
    d = pdist(F)
    items = item_draws(len(F), n_boot=n_boot, seed=seed) if items is None else np.asarray(items)
    rng = _subject_rng(seed)
    subj = [rng.integers(0, len(R), len(R)) for _ in range(len(items))] if len(R) > 1 else []
    out: dict = {"n_pairs_observed": int(np.isfinite(R).any(axis=0).sum()), "n_subjects": len(R)}
    for m in methods:
        subjects = [rdm_score(R[s], d, m) for s in subj]
        out[m] = {
            "value": rdm_score(R, d, m),
            "ci95_items": _ci(rdm_draws(R, d, items, method=m)),
            "ci95_subjects": _ci(subjects) if subjects else None,
        }
    return out


def _ci(values) -> list[float] | None:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return [float(x) for x in np.percentile(v, [2.5, 97.5])] if v.size else None


def triplet_hits(T, F) -> np.ndarray:
    """Which human triplet choices the feature set *F* reproduces: 1 where i is closer to j than to k in *F*, 0.5
    on a tie, 0 otherwise.

    Parameters
    ----------
    T : (m, 3) triplets: item i is closer to j than to k (human choices).
    F : (n, d) the feature set, rows in the human data's item order.

    Returns
    -------
    (m,) array
    """
    T = np.asarray(T, dtype=np.int64)
    F = np.asarray(F, dtype=np.float64)
    dj = ((F[T[:, 0]] - F[T[:, 1]]) ** 2).sum(axis=1)
    dk = ((F[T[:, 0]] - F[T[:, 2]]) ** 2).sum(axis=1)
    return (dj < dk) + 0.5 * (dj == dk)


def _counts(items: np.ndarray, n: int) -> np.ndarray:
    """(draws, n) how often each item occurs in each resample."""
    B = len(items)
    return np.bincount((items + n * np.arange(B)[:, None]).ravel(), minlength=B * n).reshape(B, n).astype(np.float64)


def triplet_draws(T, hits, items) -> np.ndarray:
    """Triplet accuracy on each item resample: a triplet weighs the product of its three items' counts in the draw
    (the triplets among the resampled items, repeats counted), NaN where no triplet survives.

    Parameters
    ----------
    T : (m, 3) triplets.
    hits : (m,) :func:`triplet_hits` of one feature set, or (m, r) of r feature sets (columns).
    items : (n_boot, n) item resamples (:func:`item_draws`).

    Returns
    -------
    (n_boot,) array, or (n_boot, r) for several feature sets.
    """
    T = np.asarray(T, dtype=np.int64)
    hits = np.asarray(hits, dtype=np.float64)
    items = np.asarray(items)
    n = items.shape[1]
    out = np.empty((len(items),) + hits.shape[1:])
    step = max(1, _CHUNK_ELEMENTS // max(1, len(T)))
    for start in range(0, len(items), step):
        C = _counts(items[start : start + step], n)
        W = C[:, T[:, 0]] * C[:, T[:, 1]] * C[:, T[:, 2]]
        total = W.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + step] = (W @ hits) / (total if hits.ndim == 1 else total[:, None])
    return out


def triplet_scores(T, F, *, subjects=None, n_boot: int = 200, seed: int = 0, items=None) -> dict:
    """Triplet accuracy of the feature set *F* on the human triplets *T*, with bootstrap CIs.

    Parameters
    ----------
    T : (m, 3) triplets: item i is closer to j than to k (human choices).
    F : (n, d) the feature set, rows in the human data's item order.
    subjects : the subject of each triplet, or None.
    n_boot, seed : the bootstrap (items: :func:`triplet_draws`; subjects: a triplet weighs the count of its
        subject).
    items : the item resamples (:func:`item_draws`), shared with the other feature sets of the split; None:
        ``item_draws(n, n_boot=n_boot, seed=seed)`` (the same draws).

    Returns
    -------
    {"value", "ci95_items", "ci95_subjects", "n_triplets"}
    """
    T = np.asarray(T, dtype=np.int64)
    hit = triplet_hits(T, F)
    items = item_draws(len(F), n_boot=n_boot, seed=seed) if items is None else np.asarray(items)
    subj_ci = None
    if subjects is not None and len(set(subjects)) > 1:
        rng = _subject_rng(seed)
        names, code = np.unique(np.asarray(subjects).astype(str), return_inverse=True)
        draws = []
        for _ in range(len(items)):
            w = np.bincount(rng.integers(0, len(names), len(names)), minlength=len(names))[code.ravel()]
            draws.append(float(w @ hit / w.sum()))
        subj_ci = _ci(draws)
    return {
        "value": float(hit.mean()),
        "ci95_items": _ci(triplet_draws(T, hit, items)),
        "ci95_subjects": subj_ci,
        "n_triplets": len(T),
    }


def _repeated_agreement(T: np.ndarray) -> dict | None:
    """The leave-one-answer-out majority agreement on repeated triplets (:func:`triplet_ceiling`); None when no
    triplet is repeated."""
    key = np.column_stack([T[:, 0], np.minimum(T[:, 1], T[:, 2]), np.maximum(T[:, 1], T[:, 2])])
    first = (T[:, 1] < T[:, 2]).astype(np.int64)  # which of the pair was chosen
    _, group, count = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    group = group.ravel()
    rep = count[group] > 1
    if not rep.any():
        return None
    ones = np.bincount(group, weights=first)[group] - first  # the other answers choosing the first of the pair
    others = count[group] - 1
    agree = np.where(first == 1, ones, others - ones)
    score = np.where(2 * agree > others, 1.0, np.where(2 * agree == others, 0.5, 0.0))
    return {
        "value": float(score[rep].mean()),
        "n_repeated_triplets": int((count > 1).sum()),
        "n_answers": int(rep.sum()),
        "method": "leave-one-answer-out majority on repeated triplets",
    }


MIN_ANSWERS_PER_REPEAT = 5  # answers per repeated triplet (mean) for the agreement to be the triplet ceiling


def triplet_ceiling(T, *, subjects=None, n_repeats: int = 20, seed: int = 0) -> dict:
    """The noise ceiling of triplet accuracy: the agreement on repeated triplets where they exist (each answer to a
    triplet asked several times predicted by the majority of the other answers to it, a tie counting one half,
    averaged over those answers), or else the split-half estimate with its Spearman–Brown correction
    (:func:`imagespace.human.splithalf.triplet_split_half`).

    Parameters
    ----------
    T : (m, 3) triplets (i closer to j than to k); a repeat is the same i with the same pair {j, k}.
    subjects : the subject of each triplet, or None (the split-half estimate splits the subjects when there are
        at least four, else the triplets).
    n_repeats, seed : the split-half estimate's random splits.

    Returns
    -------
    {"value", "n_repeated_triplets", "n_answers", "method", ...}: ``method`` names the estimate (the split-half
    one adds its uncorrected value, reliabilities and units); value None when neither estimate is possible. The
    repeated-triplet agreement carries the split-half estimate as ``split_half``, a cross-check. The agreement is
    the ceiling only where the repeated triplets have at least :data:`MIN_ANSWERS_PER_REPEAT` answers on average
    (a repeat design): with one or two other answers per repeated triplet the majority of the others is a noisy
    prediction, and the agreement falls below what the true space reaches (0.73 against 0.82 in a simulation where
    18 % of the answers were incidental repeats; the split-half estimate 0.82), so there the split-half estimate is
    the ceiling and the agreement is kept as ``repeated_agreement``.
    """
    from .splithalf import triplet_split_half

    T = np.asarray(T, dtype=np.int64).reshape(-1, 3)
    repeated = _repeated_agreement(T)
    half = triplet_split_half(T, subjects=subjects, n_repeats=n_repeats, seed=seed)
    if repeated is not None:
        per = repeated["n_answers"] / max(1, repeated["n_repeated_triplets"])
        if per >= MIN_ANSWERS_PER_REPEAT or half["value"] is None:  # a repeat design: its agreement is the ceiling
            return {**repeated, "split_half": half}
        # incidental repeats (few answers each): their agreement is biased low; the split-half estimate instead
        return {
            **half,
            "n_repeated_triplets": repeated["n_repeated_triplets"],
            "n_answers": int(len(T)),
            "repeated_agreement": repeated,
        }
    return {**half, "n_repeated_triplets": 0, "n_answers": int(len(T))}


def share_of_ceiling(score: float | None, ceiling: float | None) -> float | None:
    """*score* as a share of the ceiling (a bound for RDMs, the triplet ceiling for triplets); None where there is
    no ceiling (coordinates alone, one subject, no triplet ceiling)."""
    if score is None or ceiling is None or not np.isfinite(score) or not ceiling:
        return None
    return float(score / ceiling)
