"""Shared pieces of the permutation and bootstrap tests: reproducible permutations, chunked work, p and z."""

from __future__ import annotations

import contextlib

import numpy as np

from imagespace.io import Progress

# Relative tolerance for "permutation statistic <= observed": the identity
# permutation (or one that only permutes within a label) must count as a tie
# even though summation order differs.
_TIE_RTOL = 1e-12
# Bound on the number of float64 elements materialised per permutation chunk.
_CHUNK_ELEMENTS = 4_000_000


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
