"""Compare a representation (feature matrix) with a human similarity space.

The caller is responsible for aligning rows: row ``i`` of the human space ``H``
(n x k) and row ``i`` of the feature matrix ``F`` (n x d) must describe the same
image. Everything here assumes that and offers two independent checks that it
is true:

* :func:`compare` runs Procrustes analysis (``scipy.spatial.procrustes``) of the
  feature space onto the human space and a row-permutation test. A disparity
  that is no better than shuffled rows is reported loudly, because the most
  common cause is a broken join between feature rows and image ids.
* :func:`imagespace.human.label_structure` checks that the human space clusters by the labels
  the caller believes belong to its rows (class labels, subtypes).

The permutation tests use a closed form of the Procrustes disparity: after
centring both matrices and scaling them to unit Frobenius norm,

    disparity = 1 - (sum of singular values of H_s^T F_s)^2,

so each permutation costs one k x k SVD (batched). :func:`fast_disparity`
implements that and is tested against ``scipy.spatial.procrustes``.

Plain library code: no Snakemake, deterministic for a given seed.
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np
import scipy.linalg
from scipy.spatial import procrustes as _scipy_procrustes
from scipy.spatial.distance import pdist, squareform
from scipy.stats import rankdata

from imagespace.util import Progress, rows_all_equal, save_figure, to_jsonable

log = logging.getLogger("imagespace.compare")

# Relative tolerance for "permutation statistic <= observed": the identity
# permutation (or one that only permutes within a label) must count as a tie
# even though summation order differs.
_TIE_RTOL = 1e-12
# Bound on the number of float64 elements materialised per permutation chunk.
_CHUNK_ELEMENTS = 4_000_000


# --------------------------------------------------------------------------- helpers
def _as_matrix(X, name: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {X.shape}")
    if X.shape[0] < 3 or X.shape[1] < 1:
        raise ValueError(f"{name} needs at least 3 rows and 1 column, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return X


def _check_pair(H, F) -> tuple[np.ndarray, np.ndarray]:
    H = _as_matrix(H, "human space H")
    F = _as_matrix(F, "feature matrix F")
    if H.shape[0] != F.shape[0]:
        raise ValueError(f"H has {H.shape[0]} rows but F has {F.shape[0]}: rows must be aligned one image per row")
    return H, F


def _standardise(X: np.ndarray, name: str) -> np.ndarray:
    """Centre columns and scale to unit Frobenius norm (as scipy's procrustes does)."""
    Xc = X - X.mean(axis=0)
    norm = np.linalg.norm(Xc)
    if norm == 0:
        raise ValueError(f"{name} has all rows identical (zero variance); Procrustes is undefined")
    return Xc / norm


def _p_value(null: np.ndarray, observed: float) -> float:
    """(1 + #{null <= observed}) / (1 + n_perm): small when observed is unusually low."""
    tol = _TIE_RTOL * max(1.0, abs(observed))
    return float((1 + np.count_nonzero(null <= observed + tol)) / (1 + null.size))


def _z(observed: float, null: np.ndarray) -> tuple[float, float, float]:
    mean = float(null.mean())
    sd = float(null.std(ddof=1)) if null.size > 1 else float("nan")
    z = (observed - mean) / sd if sd > 0 else float("nan")
    return mean, sd, float(z)


def _permutations(n: int, n_perm: int, seed) -> np.ndarray:
    """``n_perm`` row permutations of ``range(n)`` (n_perm x n), reproducible for *seed*."""
    if n_perm < 1:
        raise ValueError(f"n_perm must be >= 1, got {n_perm}")
    rng = np.random.default_rng(seed)
    return rng.permuted(np.tile(np.arange(n), (n_perm, 1)), axis=1)


def _chunks(total: int, per_item: int, what: str | None = None):
    """Slices of range(total) of about _CHUNK_ELEMENTS / per_item items; with *what*, progress every 30 s."""
    step = max(1, _CHUNK_ELEMENTS // max(1, per_item))
    with Progress(what, total) if what else contextlib.nullcontext() as prog:
        for start in range(0, total, step):
            sl = slice(start, min(total, start + step))
            yield sl
            if prog is not None:
                prog.add(sl.stop - sl.start)


# --------------------------------------------------------------------------- 1. dimensions
def thin_svd(X):
    """``scipy.linalg.svd(X, full_matrices=False)``; when LAPACK's divide-and-conquer driver (gesdd) does not
    converge, which happens on some matrices with repeated rows (bootstrap resamples), the slower QR-based
    gesvd, which does."""
    try:
        return scipy.linalg.svd(X, full_matrices=False, check_finite=False)
    except np.linalg.LinAlgError:
        log.info("gesdd did not converge on a %d x %d matrix; using gesvd", *X.shape)
        return scipy.linalg.svd(X, full_matrices=False, check_finite=False, lapack_driver="gesvd")


def reduce_to(F, k: int) -> tuple[np.ndarray, str]:
    """Bring the feature matrix ``F`` (n x d) to ``k`` columns.

    * ``d > k``: the first ``k`` principal-component scores of ``F``. PCA is
      fitted on these ``n`` rows (columns centred, SVD); each component's sign
      is fixed so that its loading of largest magnitude is positive, so the
      result is deterministic. If ``F`` has fewer than ``k`` non-trivial
      components (``n <= k``) the remaining columns are zero.
    * ``d == k``: returned unchanged (as float64).
    * ``d < k``: zero columns are appended. This is what Procrustes analysis
      standardly does with matrices of unequal width; the zero columns carry no
      variance and do not change the disparity's meaning.

    Returns ``(F_k, note)`` where *note* says briefly what happened.
    """
    F = _as_matrix(F, "feature matrix F")
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n, d = F.shape
    if d == k:
        return F.copy(), f"used as is ({d} dims)"
    if d < k:
        out = np.zeros((n, k))
        out[:, :d] = F
        return out, f"zero-padded from {d} to {k} dims (standard Procrustes padding)"
    Fc = F - F.mean(axis=0)
    U, S, Vt = thin_svd(Fc)
    m = min(k, S.size)
    U, S, Vt = U[:, :m], S[:m], Vt[:m]
    signs = np.sign(Vt[np.arange(m), np.argmax(np.abs(Vt), axis=1)])
    signs[signs == 0] = 1.0
    scores = U * (S * signs)
    total = float(np.sum(Fc**2))
    explained = float(np.sum(S**2) / total) if total > 0 else float("nan")
    out = np.zeros((n, k))
    out[:, :m] = scores
    note = f"PCA from {d} to {k} dims ({explained:.1%} of variance kept)"
    if m < k:
        note += f"; only {m} components exist, {k - m} zero columns added"
    return out, note


# --------------------------------------------------------------------------- 2. Procrustes
def fast_disparity(H, F) -> float:
    """Procrustes disparity of same-shaped ``H`` and ``F`` without forming the alignment.

    Equal (to rounding) to ``scipy.spatial.procrustes(H, F)[2]``.
    """
    H, F = _check_pair(H, F)
    if H.shape != F.shape:
        raise ValueError(f"H {H.shape} and F {F.shape} must have the same shape; use reduce_to first")
    Hs, Fs = _standardise(H, "H"), _standardise(F, "F")
    s = np.linalg.svd(Hs.T @ Fs, compute_uv=False).sum()
    return float(1.0 - s**2)


def _column_r(A: np.ndarray, B: np.ndarray) -> list[float]:
    Ac = A - A.mean(axis=0)
    Bc = B - B.mean(axis=0)
    den = np.sqrt((Ac**2).sum(axis=0) * (Bc**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (Ac * Bc).sum(axis=0) / den
    r[den == 0] = np.nan
    return [float(v) for v in r]


def procrustes_disparity(H, F) -> dict:
    """Procrustes analysis of the feature space ``F`` onto the human space ``H``.

    ``F`` is first brought to ``k = H.shape[1]`` columns with :func:`reduce_to`.
    ``scipy.spatial.procrustes(H, F_k)`` is called with the human space first,
    so the disparity is the residual sum of squares after optimally
    translating, scaling and rotating/reflecting the feature space onto the
    standardised (centred, unit-norm) human space; it lies in [0, 1].

    Returns a dict with ``disparity``, ``H_aligned`` (standardised human
    space), ``F_aligned`` (feature space after alignment), ``per_dim_r`` (list
    of ``k`` Pearson correlations between corresponding aligned columns; NaN
    where a column is constant), ``mean_r`` (mean of the finite ones),
    ``reduction`` and ``feature_dims``.
    """
    H, F = _check_pair(H, F)
    k = H.shape[1]
    F_k, note = reduce_to(F, k)
    _standardise(H, "human space H")
    _standardise(F_k, "feature matrix F")
    H_al, F_al, disparity = _scipy_procrustes(H, F_k)
    per_dim = _column_r(H_al, F_al)
    finite = [r for r in per_dim if np.isfinite(r)]
    return {
        "disparity": float(disparity),
        "H_aligned": H_al,
        "F_aligned": F_al,
        "per_dim_r": per_dim,
        "mean_r": float(np.mean(finite)) if finite else float("nan"),
        "reduction": note,
        "feature_dims": int(F.shape[1]),
    }


# --------------------------------------------------------------------------- 3. permutations
def _null_disparities(Hs: np.ndarray, Fs: np.ndarray, perms: np.ndarray) -> np.ndarray:
    """Disparities of standardised ``Hs`` vs. ``Fs[perm]`` for each row of *perms*."""
    n, k = Hs.shape
    out = np.empty(perms.shape[0])
    HsT = Hs.T
    for sl in _chunks(perms.shape[0], n * k, f"Procrustes permutation test ({perms.shape[0]} permutations, n={n})"):
        Fp = Fs[perms[sl]]  # (p, n, k)
        C = np.matmul(HsT, Fp)  # (p, k, k)
        s = np.linalg.svd(C, compute_uv=False).sum(axis=1)
        out[sl] = 1.0 - s**2
    return out


def permutation_test(H, F, n_perm: int = 1000, seed=0) -> dict:
    """Row-permutation test of the Procrustes disparity between ``H`` and ``F``.

    ``F`` is reduced once (:func:`reduce_to`) and both spaces standardised
    once; then the rows of ``F`` are shuffled relative to ``H`` ``n_perm``
    times (``numpy.random.default_rng(seed)``), each time computing the
    disparity from one k x k SVD. The p-value is
    ``(1 + #{null <= observed}) / (1 + n_perm)``: a small p means the real
    pairing of rows fits better than shuffled pairings.

    Returns ``observed``, ``null`` (array of n_perm disparities),
    ``permutation_mean``, ``permutation_sd`` (ddof=1), ``permutation_p``,
    ``z = (observed - mean) / sd`` (negative is good), ``n_perm`` and ``seed``.
    """
    H, F = _check_pair(H, F)
    F_k, _ = reduce_to(F, H.shape[1])
    Hs = _standardise(H, "human space H")
    Fs = _standardise(F_k, "feature matrix F")
    observed = float(1.0 - np.linalg.svd(Hs.T @ Fs, compute_uv=False).sum() ** 2)
    null = _null_disparities(Hs, Fs, _permutations(H.shape[0], int(n_perm), seed))
    mean, sd, z = _z(observed, null)
    return {
        "observed": observed,
        "null": null,
        "permutation_mean": mean,
        "permutation_sd": sd,
        "permutation_p": _p_value(null, observed),
        "z": z,
        "n_perm": int(n_perm),
        "seed": seed,
    }


# --------------------------------------------------------------------------- 4. compare
#: keys of :func:`compare`'s result that hold arrays (left out by :func:`summary`).
ARRAY_KEYS = ("null", "H_aligned", "F_aligned")


def compare(H, F, n_perm: int = 1000, seed=0, alpha: float = 0.05) -> dict:
    """Procrustes disparity of ``F`` against ``H`` with a shuffled-row baseline.

    Returns a dict with ``n``, ``k``, ``feature_dims``, ``reduction``,
    ``disparity``, ``per_dim_r``, ``mean_r``, ``permutation_mean``,
    ``permutation_sd``, ``permutation_p``, ``z``, ``n_perm``, ``seed``,
    ``alpha``, ``significant`` (``permutation_p < alpha``) and ``verdict`` (one
    plain sentence), plus the arrays ``null``, ``H_aligned`` and ``F_aligned``
    for plotting (see :func:`summary` for a JSON-ready version without them).

    A non-significant result starts with ``WARNING`` and says that the
    disparity is indistinguishable from shuffled rows, since that usually
    means rows are joined to the wrong images.
    """
    H, F = _check_pair(H, F)
    n, k = H.shape
    F_k, note = reduce_to(F, k)
    proc = procrustes_disparity(H, F_k)
    perm = permutation_test(H, F_k, n_perm=n_perm, seed=seed)
    p = perm["permutation_p"]
    significant = bool(p < alpha)
    d, m, sd = proc["disparity"], perm["permutation_mean"], perm["permutation_sd"]
    if significant:
        verdict = (
            f"Disparity {d:.3f} is below the shuffled-row baseline {m:.3f} ± {sd:.3f} "
            f"(z={perm['z']:.1f}, p={p:.3g}, {int(n_perm)} permutations): the representation "
            f"matches the human space better than chance (mean aligned r={proc['mean_r']:.2f})."
        )
        log.info(verdict)
    else:
        verdict = (
            f"WARNING: disparity {d:.3f} is within the shuffled-row baseline {m:.3f} ± {sd:.3f} "
            f"(p={p:.2g}): no better than chance — indistinguishable from shuffled rows; "
            f"rows may be misaligned, check that rows are joined to the right images."
        )
        if 1.0 / (1 + int(n_perm)) >= alpha:
            verdict += f" (Note: with {int(n_perm)} permutations p can never be below alpha={alpha}.)"
        log.warning(verdict)
    return {
        "n": int(n),
        "k": int(k),
        "feature_dims": int(F.shape[1]),
        "reduction": note,
        "disparity": d,
        "per_dim_r": proc["per_dim_r"],
        "mean_r": proc["mean_r"],
        "permutation_mean": m,
        "permutation_sd": sd,
        "permutation_p": p,
        "z": perm["z"],
        "n_perm": int(n_perm),
        "seed": seed,
        "alpha": float(alpha),
        "significant": significant,
        "verdict": verdict,
        "null": perm["null"],
        "H_aligned": proc["H_aligned"],
        "F_aligned": proc["F_aligned"],
    }


def summary(result: dict) -> dict:
    """JSON-ready copy of a :func:`compare` / :func:`label_structure` result without arrays."""
    return to_jsonable({key: v for key, v in result.items() if key not in ARRAY_KEYS})


# --------------------------------------------------------------------------- 5. beyond Procrustes
def bootstrap_disparity(H, F, n_boot: int = 1000, seed: int = 0) -> dict:
    """Uncertainty of the Procrustes disparity over images, by resampling images with replacement.

    Each resample goes through the whole procedure of :func:`procrustes_disparity`: the reduction of
    ``F`` to ``k`` columns (:func:`reduce_to`, a PCA when ``F`` is wider than the human space) is
    refitted on the resample, then the Procrustes alignment. (A PCA fitted once on all images would
    leave its own sampling variability out of the interval.)

    Resampled sets contain repeated images (about 63% distinct), which lets the
    rotation fit them better: the bootstrap distribution sits below the observed
    disparity (``bootstrap_bias``), and its percentile interval can miss the
    observed value. ``ci95`` is therefore the normal interval observed ± 1.96
    bootstrap sd (clipped to [0, 1]); the percentile interval is reported too.
    """
    H = np.asarray(H, dtype=np.float64)
    F = np.asarray(F, dtype=np.float64)
    k = H.shape[1]
    F = F if F.ndim == 2 and F.shape[1] > k else reduce_to(F, k)[0]  # no PCA: reduce once, nothing is fitted
    refit = F.shape[1] > k
    obs = fast_disparity(H, reduce_to(F, k)[0] if refit else F)
    rng = np.random.default_rng(seed)
    vals = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, len(H), len(H))
        vals[b] = fast_disparity(H[idx], reduce_to(F[idx], k)[0] if refit else F[idx])
    sd = float(vals.std(ddof=1))
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return {
        "bootstrap_sd": sd,
        "bootstrap_bias": float(vals.mean() - obs),
        "ci95": [max(0.0, obs - 1.96 * sd), min(1.0, obs + 1.96 * sd)],
        "ci95_percentile": [float(lo), float(hi)],
        "n_boot": n_boot,
    }


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


def linear_cka(H, F) -> float:
    """Linear centred kernel alignment (Kornblith et al. 2019): 1 = same geometry up to rotation and scale."""
    H = np.asarray(H, dtype=np.float64)
    F = np.asarray(F, dtype=np.float64)
    H = H - H.mean(axis=0)
    F = F - F.mean(axis=0)
    num = np.linalg.norm(F.T @ H, "fro") ** 2
    den = np.linalg.norm(H.T @ H, "fro") * np.linalg.norm(F.T @ F, "fro")
    return float(num / den) if den > 0 else float("nan")


def statistics(
    H, F, n_perm: int = 1000, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05, labels=None, subtypes=None
) -> dict:
    """Everything for one (feature set, split, human space): Procrustes + permutation + bootstrap, r, R², RDM, CKA,
    and (given labels/subtypes) both spaces' RDM correlation with the category RDMs.

    A constant feature set (every row the same, e.g. a collapsed network) explains nothing: see :func:`constant_result`.
    """
    H, F = _check_pair(H, F)
    if rows_all_equal(F):
        return constant_result(H, F, n_perm, seed)
    res = compare(H, F, n_perm=n_perm, seed=seed, alpha=alpha)
    Ha, Fa = res["H_aligned"], res["F_aligned"]
    ss = ((Ha - Ha.mean(axis=0)) ** 2).sum(axis=0)
    r2 = 1 - ((Ha - Fa) ** 2).sum(axis=0) / np.where(ss > 0, ss, np.nan)
    out = summary(res)
    out.update(
        {
            "per_dim_r2": [float(v) for v in r2],
            **bootstrap_disparity(H, F, n_boot, seed),
            "rdm": rdm_compare(H, F, n_perm, seed),
            "cka": linear_cka(H, F),
            "category_rdm": category_rdms(H, F, labels, subtypes),
        }
    )
    out["_arrays"] = {k: res[k] for k in ARRAY_KEYS}
    return out


def constant_result(H, F, n_perm: int, seed: int) -> dict:
    """The result of :func:`statistics` for a feature set whose rows are all the same.

    Procrustes is undefined for it (scipy raises), but its limit is exact: the centred features are
    0, so the best rotation and scale explain none of the human space and the disparity is 1, for
    the real rows and every permutation alike (p = 1). Correlations with it are undefined (None).
    ``degenerate`` says why; the summary lists it as a warning.
    """
    n, k = H.shape
    why = (
        f"every one of the {n} rows of the feature set is the same ({F.shape[1]} dims): it carries no "
        "information (a collapsed network, or constant features)"
    )
    log.warning("%s; disparity 1 (nothing of the human space explained), correlations undefined", why)
    return {
        "disparity": 1.0,
        "permutation_mean": 1.0,
        "permutation_sd": 0.0,
        "permutation_p": 1.0,
        "z": None,
        "significant": False,
        "mean_r": None,
        "per_dim_r": [None] * k,
        "per_dim_r2": [None] * k,
        "n_perm": int(n_perm),
        "seed": seed,
        "n": int(n),
        "k": int(k),
        "feature_dims": int(F.shape[1]),
        "reduction": "none (constant)",
        "ci95": [1.0, 1.0],
        "bootstrap_sd": 0.0,
        "rdm": {
            "n_pairs": int(n * (n - 1) // 2),
            "pearson": None,
            "pearson_p": None,
            "spearman": None,
            "spearman_p": None,
        },
        "cka": None,
        "category_rdm": {},
        "degenerate": why,
        "verdict": f"Undefined: {why}. Its disparity is 1 by the limit (nothing explained).",
        "_arrays": {
            "null": np.ones(int(n_perm)),
            "H_aligned": _standardise(H, "human space H"),
            "F_aligned": np.zeros((n, k)),
        },
    }


# --------------------------------------------------------------------------- 6. plots
def plot_permutation(null, observed: float, path, title: str = "Procrustes disparity vs shuffled rows") -> None:
    """Histogram of the null disparities with a vertical line at *observed*; p in the title."""
    from matplotlib.figure import Figure

    null = np.asarray(null, dtype=float)
    p = _p_value(null, float(observed))
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.hist(null, bins=min(50, max(10, null.size // 20)), color="0.6", edgecolor="0.3", label="shuffled rows")
    ax.axvline(observed, color="crimson", lw=2, label=f"observed {observed:.3f}")
    lo, hi = min(float(null.min()), observed), max(float(null.max()), observed)
    pad = 0.05 * (hi - lo) if hi > lo else 0.01
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_xlabel("Procrustes disparity")
    ax.set_ylabel("permutations")
    ax.set_title(f"{title}\np = {p:.3g} ({null.size} permutations)")
    ax.legend(frameon=False)
    save_figure(fig, path)


def plot_aligned(H_aligned, F_aligned, labels, path, title: str = "Human vs aligned feature space") -> None:
    """First two aligned dimensions: human points (o) and feature points (x) coloured by label.

    A thin grey line joins each image's human point to its feature point.
    """
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from imagespace.plots import class_legend, label_colors

    A = np.asarray(H_aligned, dtype=float)
    B = np.asarray(F_aligned, dtype=float)
    if A.ndim == 1:
        A = A[:, None]
    if B.ndim == 1:
        B = B[:, None]
    if A.shape[1] == 1:
        A = np.column_stack([A, np.zeros(len(A))])
    if B.shape[1] == 1:
        B = np.column_stack([B, np.zeros(len(B))])
    A, B = A[:, :2], B[:, :2]
    labels = np.asarray(labels).astype(str) if labels is not None else np.full(len(A), "all")
    uniq = np.unique(labels)
    colors = label_colors(uniq)
    fig = Figure(figsize=(6, 6))
    ax = fig.subplots()
    ax.add_collection(LineCollection(np.stack([A, B], axis=1), colors="0.6", linewidths=0.4, alpha=0.6))
    for i, lab in enumerate(uniq):
        m = labels == lab
        col = colors[str(lab)]
        ax.scatter(A[m, 0], A[m, 1], s=18, marker="o", color=col, alpha=0.8)
        ax.scatter(B[m, 0], B[m, 1], s=18, marker="x", color=col, alpha=0.8)
    kinds = [
        Line2D([], [], ls="", marker="o", color="k", label="human"),
        Line2D([], [], ls="", marker="x", color="k", label="features (aligned)"),
    ]
    ax.autoscale()
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("aligned dim 1")
    ax.set_ylabel("aligned dim 2")
    ax.set_title(title)
    class_legend(
        ax,
        labels,
        colors,
        extra_handles=kinds,
        outside=True,
        frameon=False,
        handle=lambda c, lab: Line2D([], [], ls="", marker="s", color=c, label=lab),
    )
    save_figure(fig, path)
