"""Paired inference between representations compared with the same human space on the same images.

Two leaderboard rows of one split describe the same images, so the question "is row A really
closer to the human space than row B?" has a paired answer: resample the images once per
bootstrap draw and recompute *both* rows' statistics on that same resample; the spread of the
difference then includes the (large) part of the sampling noise the two rows share.

Statistics, as :mod:`imagespace.human.comparison` computes them:

* ``disparity``: Procrustes disparity of the feature set against the human space, the whole
  procedure of :func:`imagespace.human.procrustes.procrustes_disparity` redone on every resample: the
  reduction to the human space's ``k`` dimensions (:func:`imagespace.human.procrustes.reduce_to`, a PCA
  when the set is wider) and the alignment (translation, scale, rotation/reflection), as
  :func:`imagespace.human.comparison.bootstrap_disparity` does. (With the PCA fitted once on the full
  split the paired p-values came out too small: 22 of 200 null datasets rejected at 0.05.)
* ``rdm_spearman``: Spearman correlation of the two Euclidean RDMs of the raw feature set and the
  human space (``rdm.spearman`` of :func:`imagespace.human.rdm.rdm_compare`). In a resample the
  pairs of an image with its own copy are left out (their distance is 0 in both RDMs and says
  nothing about the representation; rsatoolbox does the same).

Both are computed from the per-image resampling *counts* ``c`` (no resampled matrices are
built): the resampled Procrustes cross-product is ``H^T diag(c) F`` (and the resampled PCA the top
eigenvectors of the count-weighted covariance), and the resampled RDM holds
image pair ``(i, j)`` ``c_i c_j`` times, so its Spearman correlation is a weighted Pearson
correlation of weighted mid-ranks, computed from one sort per representation made up front.
Both equal the statistic on the explicitly resampled data (tested).

Inference for a difference ``delta = stat_a - stat_b``: the bootstrap standard error ``se`` (sd of
the paired bootstrap differences), a normal 95% CI ``delta ± 1.96 se`` and a two-sided normal
p-value ``2 Phi(-|delta| / se)``. The normal interval is centred on the observed difference
because a resample holds repeated images (about 63% distinct), which biases both statistics
(comparison.py's ``bootstrap_bias``); the bias largely cancels in a paired difference, but the
percentile interval would inherit what is left. The percentile interval and the sign p-value
(twice the share of draws on the other side of 0) are reported too. The normal p also resolves
values below ``2 / (B + 1)``, which a Holm correction over many pairs needs.

The direct statistic of a split given as human data (RDM Spearman on the observed pairs, triplet accuracy) gets
the same inference (:func:`pairs_table`, :func:`difference`, :func:`holm`) from its own paired draws
(:func:`imagespace.human.scores.paired_rows`).

Plain library code: no Snakemake, deterministic for a given seed.
"""

from __future__ import annotations

import numpy as np

from .procrustes import as_finite_matrix, reduce_to, standardise, thin_svd

#: the statistics compared; for each, whether larger is better
METRICS = {"disparity": False, "rdm_spearman": True}
# Bound on the float64 elements of one block of draws x RDM entries.
_CHUNK_ELEMENTS = 4_000_000


# --------------------------------------------------------------------------- one representation
class _Prepared:
    """What one representation needs for the resampled statistics: its centred coordinates (for the
    Procrustes side: reduced to the human space's k dimensions, or the principal-component scores to
    redo that reduction on every resample) and the sort of its RDM."""

    def __init__(self, X: np.ndarray, k: int | None = None, rdm: bool = True):
        from scipy.spatial.distance import pdist

        X = as_finite_matrix(X, "representation")
        self.pca = False
        if k is not None and X.shape[1] > k:
            # the PCA of compare.reduce_to is redone on each resample (a reduction fitted once on the full
            # split would hide its own sampling variability: paired p-values come out too small). The
            # scores U S of the centred matrix carry every distance and every resample's PCA (a rotation).
            U, S, _ = thin_svd(X - X.mean(axis=0))
            r = int(np.sum(S > S[0] * 1e-12)) if S.size and S[0] > 0 else 0
            if r > k:
                X, self.pca, self.k = U[:, :r] * S[:r], True, int(k)
            else:
                X = reduce_to(X, k)[0]
        elif k is not None:
            X = reduce_to(X, k)[0]
        self.X = X - X.mean(axis=0)  # centring does not change the statistics, it keeps the sums well conditioned
        if not rdm:
            return
        self.d = pdist(X)
        self.order = np.argsort(self.d, kind="stable")
        sd = self.d[self.order]
        new = np.r_[True, sd[1:] != sd[:-1]]
        self.starts = np.flatnonzero(new)
        self.gid = np.cumsum(new) - 1
        self.ties = self.starts.size < sd.size

    def reduced(self, C: np.ndarray) -> np.ndarray:
        """The k-D coordinates used for Procrustes on each resample (rows of counts C): (n, k), or (B, n, k)
        when the reduction is a PCA refitted on the resample (top-k eigenvectors of its weighted covariance)."""
        if not self.pca:
            return self.X
        n = C.shape[1]
        Y = self.X
        m = C @ Y / n  # (B, r)
        cov = np.matmul((C[:, :, None] * Y[None]).transpose(0, 2, 1), Y) - n * m[:, :, None] * m[:, None, :]
        V = np.linalg.eigh(cov)[1][:, :, -self.k :]  # (B, r, k), eigenvalues ascending
        return np.matmul(Y[None], V)


def _weighted_ranks(p: _Prepared, W: np.ndarray) -> np.ndarray:
    """Mid-ranks of each RDM entry in the resampled RDM where entry e appears W[b, e] times (rows b = draws)."""
    Ws = W[:, p.order]
    G = np.add.reduceat(Ws, p.starts, axis=1) if p.ties else Ws
    rank_g = np.cumsum(G, axis=1) - G + (G + 1) / 2
    out = np.empty_like(W)
    out[:, p.order] = rank_g[:, p.gid] if p.ties else rank_g
    return out


def _weighted_corr(ra: np.ndarray, rb: np.ndarray, W: np.ndarray) -> np.ndarray:
    sw = W.sum(axis=1, keepdims=True)
    a = ra - (W * ra).sum(axis=1, keepdims=True) / sw
    b = rb - (W * rb).sum(axis=1, keepdims=True) / sw
    den = np.sqrt((W * a * a).sum(axis=1) * (W * b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (W * a * b).sum(axis=1) / den, np.nan)


def _weighted_disparity(Hc: np.ndarray, F: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Procrustes disparity of H[idx] vs F[idx] for each row of counts C (draws x n), from the counts alone;
    F is (n, k) or one (n, k) matrix per draw (B, n, k)."""
    n = C.shape[1]
    mH = C @ Hc / n  # (B, k)
    sH = C @ (Hc**2).sum(axis=1) - n * (mH**2).sum(axis=1)
    if F.ndim == 2:
        mF = C @ F / n
        sF = C @ (F**2).sum(axis=1) - n * (mF**2).sum(axis=1)
    else:
        mF = np.einsum("bn,bnk->bk", C, F) / n
        sF = np.einsum("bn,bnk->b", C, F**2) - n * (mF**2).sum(axis=1)
    cross = np.matmul((C[:, :, None] * Hc[None]).transpose(0, 2, 1), F) - n * mH[:, :, None] * mF[:, None, :]
    s = np.linalg.svd(cross, compute_uv=False).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((sH > 0) & (sF > 0), 1.0 - s**2 / (sH * sF), np.nan)


# --------------------------------------------------------------------------- the bootstrap
def bootstrap(H, features: dict, n_boot: int = 1000, seed: int = 0) -> dict:
    """Observed and paired-bootstrap values of every statistic of :data:`METRICS` for every feature set.

    *features*: {name: feature matrix (n x d)}, rows aligned with ``H`` (n x k). Every draw
    resamples the n images with replacement (``numpy.random.default_rng(seed)``) once and
    evaluates every feature set on it. Returns ``names``, ``n``, ``k``, ``n_boot``, ``seed``,
    ``observed`` ({metric: array (R,)}) and ``draws`` ({metric: array (R, n_boot)}).
    """
    H = as_finite_matrix(H, "human space H")
    n, k = H.shape
    names = list(features)
    if not names:
        raise ValueError("no feature sets to compare")
    for name in names:
        if np.asarray(features[name]).shape[0] != n:
            raise ValueError(
                f"feature set {name!r} has {np.asarray(features[name]).shape[0]} rows, the human space {n}"
            )
    standardise(H, "human space H")
    ph = _Prepared(H)
    # the Procrustes side uses the k-D reduction; the RDM side the raw features (as compare.py)
    red = {m: _Prepared(features[m], k, rdm=False) for m in names}
    raw = {m: _Prepared(features[m]) for m in names}
    for m in names:
        standardise(red[m].X, f"feature set {m!r}")
    n_boot = int(n_boot)
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    rng = np.random.default_rng(seed)
    counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(n_boot)]).astype(np.float64)
    iu, ju = np.triu_indices(n, 1)

    def stats(C: np.ndarray) -> dict:
        out = {"disparity": np.empty((len(names), C.shape[0])), "rdm_spearman": np.empty((len(names), C.shape[0]))}
        for r, m in enumerate(names):
            p = red[m]
            step = (
                max(1, _CHUNK_ELEMENTS // max(1, p.X.shape[1] ** 2 + C.shape[1] * p.X.shape[1]))
                if p.pca
                else C.shape[0]
            )
            for start in range(0, C.shape[0], step):
                sl = slice(start, min(C.shape[0], start + step))
                out["disparity"][r, sl] = _weighted_disparity(ph.X, p.reduced(C[sl]), C[sl])
        step = max(1, _CHUNK_ELEMENTS // max(1, iu.size))
        for start in range(0, C.shape[0], step):
            sl = slice(start, min(C.shape[0], start + step))
            W = C[sl][:, iu] * C[sl][:, ju]
            rh = _weighted_ranks(ph, W)
            for r, m in enumerate(names):
                out["rdm_spearman"][r, sl] = _weighted_corr(rh, _weighted_ranks(raw[m], W), W)
        return out

    observed = {key: v[:, 0] for key, v in stats(np.ones((1, n))).items()}
    return {
        "names": names,
        "n": int(n),
        "k": int(k),
        "n_boot": n_boot,
        "seed": seed,
        "observed": observed,
        "draws": stats(counts),
    }


# --------------------------------------------------------------------------- tests of differences
def holm(p) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), in the input order; NaN stays NaN."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adj
    return out


def difference(delta: float, diffs: np.ndarray) -> dict:
    """Inference for one observed difference *delta* from its paired bootstrap differences *diffs*."""
    from scipy.stats import norm

    diffs = np.asarray(diffs, dtype=float)
    diffs = diffs[np.isfinite(diffs)]
    B = diffs.size
    se = float(diffs.std(ddof=1)) if B > 1 else float("nan")
    lo, hi = np.percentile(diffs, [2.5, 97.5]) if B else (np.nan, np.nan)
    if not np.isfinite(delta) or not np.isfinite(se):
        p = float("nan")
    elif se == 0:
        p = 1.0 if delta == 0 else 0.0
    else:
        p = float(2 * norm.sf(abs(delta) / se))
    if delta == 0 or not B:
        p_sign = 1.0
    else:
        other = np.count_nonzero(diffs * np.sign(delta) <= 0)
        p_sign = float(min(1.0, 2 * (1 + other) / (B + 1)))
    return {
        "diff": float(delta),
        "boot_mean_diff": float(diffs.mean()) if B else float("nan"),
        "se": se,
        "ci95_low": float(delta - 1.96 * se),
        "ci95_high": float(delta + 1.96 * se),
        "ci95_pct_low": float(lo),
        "ci95_pct_high": float(hi),
        "p": p,
        "p_sign": p_sign,
    }


def pairs_table(
    boot: dict, alpha: float = 0.05, correction: str = "holm", split: str | None = None, *, metrics: dict | None = None
) -> list[dict]:
    """One row per (metric, pair of feature sets a < b in *boot*'s order): the difference stat_a - stat_b
    with :func:`difference`'s inference, ``p_adjusted`` (Holm over all pairs of that metric, or = p with
    correction "none"), ``better`` (the feature set with the better observed value) and ``significant``
    (``p_adjusted < alpha``). *metrics*: {statistic of *boot*: whether larger is better}, by default
    :data:`METRICS` (those of :func:`bootstrap`); the direct comparisons pass theirs
    (:func:`imagespace.human.scores.paired_rows`)."""
    if correction not in ("holm", "none"):
        raise ValueError(f"unknown correction {correction!r} (holm, none)")
    names = boot["names"]
    rows = []
    for metric, larger_better in (METRICS if metrics is None else metrics).items():
        obs, draws = boot["observed"][metric], boot["draws"][metric]
        block = []
        for a in range(len(names)):
            for b in range(a + 1, len(names)):
                res = difference(obs[a] - obs[b], draws[a] - draws[b])
                better = None if res["diff"] == 0 else (names[a] if (res["diff"] > 0) == larger_better else names[b])
                block.append(
                    {
                        **({"split": split} if split is not None else {}),
                        "metric": metric,
                        "a": names[a],
                        "b": names[b],
                        "n": boot["n"],
                        "n_bootstrap": boot["n_boot"],
                        "a_value": float(obs[a]),
                        "b_value": float(obs[b]),
                        **res,
                        "better": better,
                    }
                )
        adj = holm([r["p"] for r in block]) if correction == "holm" else np.array([r["p"] for r in block])
        for r, pa in zip(block, adj):
            r["p_adjusted"] = float(pa)
            r["significant"] = bool(pa < alpha)
        rows += block
    return rows


def versus_top(
    pairs: list[dict],
    top: str,
    others: list[str],
    metric: str = "disparity",
    alpha: float = 0.05,
    correction: str = "holm",
) -> dict:
    """The top row against each other row on *metric*: {other: {diff (top - other), p, p_adjusted (Holm over
    these len(others) comparisons), top_better, beaten (top better and p_adjusted < alpha)}}."""
    larger_better = METRICS[metric]
    found = {}
    for r in pairs:
        if r["metric"] != metric or top not in (r["a"], r["b"]):
            continue
        other = r["b"] if r["a"] == top else r["a"]
        if other in others:
            sign = 1.0 if r["a"] == top else -1.0
            found[other] = {
                "diff": sign * r["diff"],
                "ci95_low": sign * (r["ci95_high"] if sign < 0 else r["ci95_low"]),
                "ci95_high": sign * (r["ci95_low"] if sign < 0 else r["ci95_high"]),
                "p": r["p"],
            }
    names = [o for o in others if o in found]
    adj = holm([found[o]["p"] for o in names]) if correction == "holm" else np.array([found[o]["p"] for o in names])
    for o, pa in zip(names, adj):
        e = found[o]
        e["p_adjusted"] = float(pa)
        e["top_better"] = bool((e["diff"] > 0) == larger_better and e["diff"] != 0)
        e["beaten"] = bool(e["top_better"] and pa < alpha)
    return {o: found[o] for o in names}


# --------------------------------------------------------------------------- heatmaps
def group_order(labels, subtypes=None, ids=None) -> np.ndarray:
    """Row order by label, then subtype, then id (or original position)."""
    labels = np.asarray(labels).astype(str)
    keys = [np.arange(labels.size) if ids is None else np.asarray(ids).astype(str)]
    if subtypes is not None:
        keys.append(np.asarray(subtypes).astype(str))
    keys.append(labels)
    return np.lexsort(keys)


def plot_rdm_heatmaps(
    H, features: dict, labels, path, subtypes=None, ids=None, title: str = "", rho: dict | None = None, ncols: int = 4
) -> None:
    """One panel per representation (the human space first): its Euclidean RDM as an image, rows and columns
    ordered by label then subtype (:func:`group_order`), each panel coloured by the dissimilarities' rank
    percentile (the scale the Spearman RDM correlation sees). Thin lines separate the labels; the labels
    name the blocks. *rho*: {name: RDM Spearman with the human space}, shown in the panel titles."""
    from matplotlib.figure import Figure
    from scipy.spatial.distance import pdist, squareform
    from scipy.stats import rankdata

    from imagespace.io import save_figure

    order = group_order(labels, subtypes, ids)
    lab = np.asarray(labels).astype(str)[order]
    change = np.flatnonzero(lab[1:] != lab[:-1]) + 1
    bounds = np.r_[0, change, lab.size]
    centres = (bounds[:-1] + bounds[1:]) / 2 - 0.5
    names = ["human space"] + list(features)
    mats = [np.asarray(H, dtype=float)] + [np.asarray(features[m], dtype=float) for m in features]
    ncols = min(ncols, len(names))
    nrows = int(np.ceil(len(names) / ncols))
    fig = Figure(figsize=(3.2 * ncols, 3.3 * nrows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    im = None
    for ax, name, X in zip(axes, names, mats):
        d = pdist(X[order])
        pct = (rankdata(d) - 0.5) / d.size
        D = squareform(pct)
        np.fill_diagonal(D, np.nan)
        im = ax.imshow(D, cmap="viridis", vmin=0, vmax=1, interpolation="antialiased")
        for b in change:
            ax.axhline(b - 0.5, color="white", lw=0.6)
            ax.axvline(b - 0.5, color="white", lw=0.6)
        ax.set_xticks(centres, [str(v) for v in lab[bounds[:-1]]], fontsize=7, rotation=90 if len(centres) > 6 else 0)
        ax.set_yticks(centres, [str(v) for v in lab[bounds[:-1]]], fontsize=7)
        ax.tick_params(length=0)
        sub = "" if rho is None or name not in rho else f"\nRDM ρ with human {rho[name]:.2f}"
        ax.set_title(f"{name}{sub}", fontsize=9)
    for ax in axes[len(names) :]:
        ax.set_axis_off()
    if im is not None:
        fig.colorbar(im, ax=list(axes[: len(names)]), shrink=0.6, label="dissimilarity (rank percentile)")
    fig.suptitle(title or f"RDMs of {lab.size} images, ordered by label then subtype")
    save_figure(fig, path)
