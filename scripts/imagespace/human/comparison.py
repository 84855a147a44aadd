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

import logging

import numpy as np

from imagespace.io import rows_all_equal, to_jsonable

# some names are imported only for the alias of the former module imagespace.human.comparison
# (scripts/imagespace/human/comparison.py), until every import is updated
from ._resampling import _CHUNK_ELEMENTS, _TIE_RTOL, _chunks, _p_value, _permutations, _z  # noqa: F401
from .figures import plot_aligned, plot_permutation  # noqa: F401
from .procrustes import (  # noqa: F401
    as_finite_matrix,
    check_pair,
    fast_disparity,
    procrustes_disparity,
    reduce_to,
    standardise,
    thin_svd,
)
from .rdm import (  # noqa: F401
    category_rdm,
    category_rdms,
    category_tau_a_max,
    kendall_tau_a,
    rdm_compare,
    spearman_rho_a,
)

log = logging.getLogger("imagespace.human.comparison")


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
    H, F = check_pair(H, F)
    F_k, _ = reduce_to(F, H.shape[1])
    Hs = standardise(H, "human space H")
    Fs = standardise(F_k, "feature matrix F")
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
    H, F = check_pair(H, F)
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
    if refit and F.shape[1] > F.shape[0]:
        # F = (U S) Vt with orthonormal rows Vt, so every resample's centred rows are those of U S times Vt and
        # have the same principal-component scores up to sign, which the disparity ignores: the PCA of each
        # resample runs on n columns instead of d (a 1,280-wide backbone on 180 images: 7 times faster)
        U, S, _ = thin_svd(F)
        F = U * S
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
    H, F = check_pair(H, F)
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
            "H_aligned": standardise(H, "human space H"),
            "F_aligned": np.zeros((n, k)),
        },
    }
