"""The noise ceiling of triplet accuracy when no triplet was asked twice: a split-half estimate, corrected.

Where triplets are repeated, :func:`imagespace.human.direct.triplet_ceiling` uses the agreement on them. Without
repeats, the data are split in halves (by subject, or by the set of three items), each half's pair similarities
predict the other half's choices, and the resulting split-half accuracy is extrapolated to perfectly reliable
similarities with the Spearman–Brown formula (:func:`triplet_split_half` states how and why).
"""

from __future__ import annotations

import numpy as np

#: below this split-half reliability of the pair similarities the corrected ceiling is flagged as uncertain
LOW_RELIABILITY = 0.5
#: below this one there is no ceiling: the extrapolation factor (2 - r) / r (over 5.7) would mostly amplify noise
MIN_RELIABILITY = 0.3


def _pair_ids(T: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Ids (0..P-1, over the pairs occurring in *T*) of each triplet's chosen pair {i, j} and rejected pair {i, k}."""
    n = int(T.max()) + 1 if T.size else 1
    code = lambda a, b: np.minimum(a, b) * n + np.maximum(a, b)  # noqa: E731
    both = np.concatenate([code(T[:, 0], T[:, 1]), code(T[:, 0], T[:, 2])])
    uniq, inv = np.unique(both, return_inverse=True)
    inv = inv.ravel()
    return inv[: len(T)], inv[len(T) :], len(uniq)


def _similarity(wins: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Each pair's share of wins (NaN where the pair was never compared)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(seen > 0, wins / np.maximum(seen, 1), np.nan)


def _predict(pj: np.ndarray, pk: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hit, predictable) of triplets with pair ids (pj chosen, pk rejected) by pair similarities *s*: hit 1 when the
    chosen pair is the more similar, 0.5 on a tie; predictable where both pairs have a similarity."""
    a, b = s[pj], s[pk]
    return (a > b) + 0.5 * (a == b), np.isfinite(a) & np.isfinite(b)


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if x.size else float("nan")


def _split_units(T: np.ndarray, subjects) -> tuple[np.ndarray, str]:
    """(unit of each triplet, what the units are): subjects when there are at least four, else the sets of three
    items (an odd-one-out answer's two triplets, and every answer about the same three items, stay together)."""
    if subjects is not None:
        names, code = np.unique(np.asarray(subjects).astype(str), return_inverse=True)
        if len(names) >= 4:
            return code.ravel(), "subjects"
    _, code = np.unique(np.sort(T, axis=1), axis=0, return_inverse=True)
    return code.ravel(), "triplets"


def _split_half_round(pj, pk, unit: np.ndarray, P: int, rng: np.random.Generator) -> list[float]:
    """One random split of the units into quarters (halves: quarters 0+1 and 2+3): [split-half accuracy, the same
    on the triplets a quarter also predicts, the quarter's accuracy on them, split-half reliability]."""
    n_units = int(unit.max()) + 1
    quarter = np.empty(n_units, np.int64)
    quarter[rng.permutation(n_units)] = np.arange(n_units) % 4
    g = quarter[unit]
    wins = np.stack([np.bincount(pj[g == q], minlength=P) for q in range(4)]).astype(np.float64)
    seen = wins + np.stack([np.bincount(pk[g == q], minlength=P) for q in range(4)])
    sim = lambda parts: _similarity(wins[parts].sum(axis=0), seen[parts].sum(axis=0))  # noqa: E731
    acc, same, quarter_acc = [], [], []
    for test, train in (([0, 1], [2, 3]), ([2, 3], [0, 1])):
        te = np.isin(g, test)
        hit, ok = _predict(pj[te], pk[te], sim(train))
        acc.append(_mean(hit[ok]))
        for part in train:
            hq, okq = _predict(pj[te], pk[te], sim([part]))
            both = ok & okq
            same.append(_mean(hit[both]))
            quarter_acc.append(_mean(hq[both]))
    a, b = sim([0, 1]), sim([2, 3])
    ok = np.isfinite(a) & np.isfinite(b)
    r = float(np.corrcoef(a[ok], b[ok])[0, 1]) if ok.sum() > 2 and a[ok].std() > 0 and b[ok].std() > 0 else float("nan")
    return [float(np.nanmean(acc)), float(np.nanmean(same)), float(np.nanmean(quarter_acc)), r]


def corrected_ceiling(a_half: float, a_quarter: float, r: float, *, min_reliability: float = MIN_RELIABILITY):
    """The split-half accuracy extrapolated to perfectly reliable pair similarities (the formula of
    :func:`triplet_split_half`): ``a_half + (a_half - a_quarter) (2 - r) / r``, clipped to [a_half, 1].

    Parameters
    ----------
    a_half : the accuracy of one half's pair similarities on the other half's triplets.
    a_quarter : the accuracy of a quarter's pair similarities on the same triplets.
    r : the split-half reliability of the pair similarities (their correlation between the halves).
    min_reliability : below it no value: the extrapolation would be too long to mean anything.

    Returns
    -------
    float, or None where *r* is below *min_reliability* (or a value is not finite).
    """
    if not all(np.isfinite([a_half, a_quarter, r])) or r < min_reliability or r <= 0:
        return None
    return float(np.clip(a_half + (a_half - a_quarter) * (2 - r) / r, a_half, 1.0))


def triplet_split_half(T, *, subjects=None, n_repeats: int = 20, seed: int = 0) -> dict:
    """The triplet ceiling without repeated triplets: a split-half estimate and its Spearman–Brown correction.

    Each of *n_repeats* random splits (seeded) deals the units (the subjects when there are at least four, else
    the sets of three items) into four quarters; halves A (quarters 1, 2) and B (3, 4). From a set of triplets
    every pair's similarity is its share of wins: for "i closer to j than to k" pair {i, j} wins over {i, k}, and
    a pair's share is its wins over the triplets in which it is one of the two compared pairs. Each triplet of A
    is predicted by B's similarities (the chosen pair the more similar: 1; a tie: 0.5; only triplets whose two
    pairs B has seen) and vice versa: the split-half accuracy ``a_half`` (both directions averaged, then the
    repeats), reported as ``uncorrected``. ``r`` is the split-half reliability of the similarities: their Pearson
    correlation between A and B over the pairs both have seen.

    The correction. ``a_half`` is below the ceiling because one half's similarities are noisy estimates; with
    perfectly reliable similarities the prediction would be as good as the data allow. Spearman–Brown gives the
    reliability of similarities from a share k of the data, ``r_k = k r / (1 + (k - 1) r)``: for the whole data
    ``r_full = 2 r / (1 + r)`` (reported), for a quarter ``r_q = r / (2 - r)``. The same triplets of A are also
    predicted from each quarter of B (``a_quarter``); near the top, the loss of accuracy grows with the noise
    variance of the similarities, i.e. linearly in 1 - reliability, so the line through (r_q, a_quarter) and
    (r, a_half), extended to reliability 1, is the ceiling::

        ceiling = a_half + (a_half - a_quarter) * (1 - r) / (r - r_q) = a_half + (a_half - a_quarter) (2 - r) / r

    (clipped to [a_half, 1]; here ``a_half`` is taken on the triplets the quarters predict too). In simulations
    with a logistic choice rule (tests/test_human_direct.py) it lands within 0.02 of the agreement on triplets
    asked 20 times and of the true space's accuracy when ``r`` >= 0.65 (0.03 above them at r = 0.58); below
    :data:`LOW_RELIABILITY` the extrapolation is long and the result says it is uncertain, and below
    :data:`MIN_RELIABILITY` there is no value (random answers give r near 0).

    Parameters
    ----------
    T : (m, 3) triplets (i closer to j than to k).
    subjects : the subject of each triplet, or None.
    n_repeats : random splits averaged.
    seed : their seed.

    Returns
    -------
    {"value" (None when the split-half reliability is below :data:`MIN_RELIABILITY` or there are fewer than four
    units),
    "uncorrected", "accuracy_quarter", "reliability_half", "reliability_full", "n_repeats", "units", "n_units",
    "method", "warning" (None or why the value is uncertain)}
    """
    T = np.asarray(T, dtype=np.int64).reshape(-1, 3)
    unit, units = _split_units(T, subjects)
    n_units = int(unit.max()) + 1 if unit.size else 0
    method = f"split-half, Spearman–Brown corrected, {int(n_repeats)} repeats (halves of the {units})"
    out = {"value": None, "uncorrected": None, "accuracy_quarter": None, "reliability_half": None}
    out |= {"reliability_full": None, "n_repeats": int(n_repeats), "units": units, "n_units": n_units}
    if n_units < 4 or n_repeats < 1:
        return {**out, "method": f"{method}: impossible with {n_units} {units}", "warning": None}
    pj, pk, P = _pair_ids(T)
    rng = np.random.default_rng(seed)
    rounds = np.array([_split_half_round(pj, pk, unit, P, rng) for _ in range(int(n_repeats))])
    with np.errstate(invalid="ignore"):
        a_half, a_same, a_quarter, r = (float(v) for v in np.nanmean(rounds, axis=0))
    value = corrected_ceiling(a_same, a_quarter, r)
    warning = None
    if value is None:
        warning = (
            f"the halves' pair similarities agree too little (split-half reliability {r:.2f} < {MIN_RELIABILITY}) "
            "to extrapolate a ceiling: more triplets per pair, or repeated triplets, would give one"
        )
    elif r < LOW_RELIABILITY:
        warning = f"split-half reliability {r:.2f} < {LOW_RELIABILITY}: a long extrapolation, the ceiling is uncertain"
    r_full = 2 * r / (1 + r) if np.isfinite(r) and r > -1 else None
    return {
        **out,
        "value": value,
        "uncorrected": a_half,
        "accuracy_quarter": a_quarter,
        "reliability_half": r,
        "reliability_full": r_full,
        "method": method,
        "warning": warning,
    }
