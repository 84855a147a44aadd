"""Representational dissimilarity matrices (RDMs): the correlation of two spaces' RDMs with a Mantel test, the rank
correlations without tie correction that rsatoolbox uses (Kendall's tau-a, Spearman's rho-a), and category RDMs.

Plain library code: no Snakemake, deterministic for a given seed.
"""

from __future__ import annotations

import numpy as np

from ._resampling import _chunks


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def rdm_compare(H, F, n_perm: int = 1000, seed: int = 0) -> dict:
    """Correlation of the two representational dissimilarity matrices (Euclidean) with a Mantel test.

    The null permutes the images of one RDM (rows and columns together), the
    same row-shuffling scheme as the Procrustes baseline. p = (1 + #null >= observed) / (1 + n_perm).
    A permutation of the images only reorders the pairwise distances, so their mean
    and spread stay those of the observed ones: each null correlation is one dot
    product, computed for a block of permutations at a time.
    """
    from scipy.spatial.distance import pdist, squareform
    from scipy.stats import rankdata

    dh = pdist(np.asarray(H, dtype=np.float64))
    df = pdist(np.asarray(F, dtype=np.float64))
    n = len(H)
    out = {"n_pairs": int(len(dh))}
    rng = np.random.default_rng(seed)
    perms = np.array([rng.permutation(n) for _ in range(n_perm)]).reshape(n_perm, n)
    iu, ju = np.triu_indices(n, 1)
    for name, a, b in (("pearson", dh, df), ("spearman", rankdata(dh), rankdata(df))):
        obs = _corr(a, b)
        ac, bc = a - a.mean(), squareform(b - b.mean()).ravel()
        scale = np.sqrt((ac @ ac) * (bc @ bc) / 2)  # bc holds every pair twice
        null = np.empty(n_perm)
        for sl in _chunks(n_perm, len(a), f"RDM permutation test, {name} ({n_perm} permutations, n={n})"):
            P = perms[sl]
            null[sl] = bc[P[:, iu] * n + P[:, ju]] @ ac / scale  # row p: the RDM of F with images permuted by p
        out[name] = obs
        out[f"{name}_p"] = float((1 + np.sum(null >= obs)) / (1 + n_perm))
        out[f"{name}_null_mean"] = float(null.mean())
        out[f"{name}_null_sd"] = float(null.std(ddof=1))
    return out


def _tie_pairs(x: np.ndarray) -> int:
    """Number of pairs of entries of *x* with equal values: sum over tie groups of t (t - 1) / 2."""
    _, counts = np.unique(x, return_counts=True)
    counts = counts.astype(np.int64)
    return int((counts * (counts - 1) // 2).sum())


def kendall_tau_a(x, y) -> float:
    """Kendall's tau-a: (concordant - discordant pairs) / all n (n - 1) / 2 pairs; tied pairs count 0.

    Unlike tau-b (``scipy.stats.kendalltau``'s default) the denominator does not shrink with the
    ties, so a model that predicts ties (a category RDM of 0s and 1s) is not rewarded for them:
    its tau-a is at most the share of pairs it does not tie (Nili et al. 2014, rsatoolbox's
    ``tau-a``). Computed in O(n log n) from tau-b: ``con - dis = tau_b * sqrt((n0 - x_ties)
    (n0 - y_ties))`` with ``n0 = n (n - 1) / 2``. 0 when either vector is constant.
    """
    from scipy.stats import kendalltau

    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"tau-a needs vectors of equal length, got {x.size} and {y.size}")
    n = x.size
    n0 = n * (n - 1) // 2
    if n0 == 0:
        return float("nan")
    tx, ty = _tie_pairs(x), _tie_pairs(y)
    if tx == n0 or ty == n0:
        return 0.0
    tau_b = kendalltau(x, y, variant="b").statistic
    tau = tau_b * np.sqrt(float(n0 - tx)) * np.sqrt(float(n0 - ty)) / n0
    return float(min(1.0, max(-1.0, tau)))


def spearman_rho_a(x, y) -> float:
    """Spearman's rho without tie correction (rsatoolbox's ``rho-a``): 12 sum (r_x - m)(r_y - m) / (n^3 - n).

    The ranks are mid-ranks (ties share their mean rank) but the denominator is that of untied
    ranks, so ties lower the value as in tau-a; equal to Spearman's rho when there are no ties.
    """
    from scipy.stats import rankdata

    rx = rankdata(np.asarray(x, dtype=np.float64).ravel())
    ry = rankdata(np.asarray(y, dtype=np.float64).ravel())
    if rx.shape != ry.shape:
        raise ValueError(f"rho-a needs vectors of equal length, got {rx.size} and {ry.size}")
    n = rx.size
    if n < 2:
        return float("nan")
    m = (n + 1) / 2
    return float(12.0 * ((rx - m) @ (ry - m)) / (n**3 - n))


def _category_vectors(F, groups) -> tuple[np.ndarray, np.ndarray]:
    """(distances of F, category RDM: 0 = same group, 1 = different), both as condensed vectors."""
    from scipy.spatial.distance import pdist

    d = pdist(np.asarray(F, dtype=np.float64))
    g = np.asarray(groups).astype(str)
    codes = np.unique(g, return_inverse=True)[1].astype(np.float64)[:, None]
    cat = (pdist(codes, "hamming") > 0).astype(np.float64)
    return d, cat


def category_rdm(F, groups, method: str = "spearman") -> float:
    """Correlation of a representation's RDM (Euclidean) with a category RDM (0 = same group, 1 = different).

    How much of the representation's geometry is "same category close, different far";
    computed for the human space too, as the reference. *method*:

    * ``"tau_a"``: Kendall's tau-a (:func:`kendall_tau_a`), the measure for a model RDM full of
      ties (Nili et al. 2014); its maximum is the share of untied pairs, :func:`category_tau_a_max`.
    * ``"rho_a"``: Spearman without tie correction (:func:`spearman_rho_a`), as rsatoolbox.
    * ``"spearman"`` (default, kept for continuity): Pearson correlation of the mid-ranks, which
      with a two-valued category RDM is a rank-biserial-type correlation that treats the ties as
      information and reaches 1 for a perfectly categorical representation.

    NaN when there is a single group (no pair differs).
    """
    from scipy.stats import rankdata

    d, cat = _category_vectors(F, groups)
    if np.ptp(cat) == 0:
        return float("nan")
    if method == "spearman":
        return _corr(rankdata(d), rankdata(cat))
    if method == "tau_a":
        return kendall_tau_a(d, cat)
    if method == "rho_a":
        return spearman_rho_a(d, cat)
    raise ValueError(f"unknown category RDM method {method!r} (spearman, tau_a, rho_a)")


def category_tau_a_max(groups) -> float:
    """The largest tau-a any RDM can reach against the category RDM of *groups*: within x between pairs / all pairs.

    (A representation that puts every between-group pair farther apart than every within-group pair.)
    """
    g = np.asarray(groups).astype(str)
    _, counts = np.unique(g, return_counts=True)
    n = g.size
    n_pairs = n * (n - 1) // 2
    within = int((counts * (counts - 1) // 2).sum())
    between = n_pairs - within
    n0 = n_pairs * (n_pairs - 1) // 2
    return float(within * between / n0) if n0 else float("nan")


def category_rdms(H, F, labels=None, subtypes=None) -> dict:
    """{label|subtype: {...}} for the groupings that are given: ``features`` / ``human`` (Spearman, kept for
    continuity), ``features_tau_a`` / ``human_tau_a`` (Kendall tau-a, the headline), ``features_rho_a`` /
    ``human_rho_a`` and ``tau_a_max`` (the ceiling of tau-a for this grouping)."""
    out = {}
    for name, groups in (("label", labels), ("subtype", subtypes)):
        if groups is not None and len(set(map(str, groups))) > 1:
            entry = {"features": category_rdm(F, groups), "human": category_rdm(H, groups)}
            for method in ("tau_a", "rho_a"):
                entry[f"features_{method}"] = category_rdm(F, groups, method)
                entry[f"human_{method}"] = category_rdm(H, groups, method)
            entry["tau_a_max"] = category_tau_a_max(groups)
            out[name] = entry
    return out
