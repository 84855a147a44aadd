"""Ensembles of predictions of the human space: equal weights, or weights chosen by greedy forward selection.

* :func:`greedy_selection` — Caruana et al. (2004), "Ensemble selection from
  libraries of models": start with an empty ensemble and repeatedly add (with
  replacement) the candidate whose addition gives the averaged prediction with the
  lowest Procrustes disparity against the human space; stop after ``max_rounds``
  additions or when no addition lowers it. The weights are the counts over their
  total.
* :func:`select` — that, or equal weights, with the record stored next to the
  dataset's models (``results/<dataset>/alignment/ensemble_<name>.json``).
* :func:`check_out_of_fold` — selection is honest only on out-of-fold predictions:
  a candidate whose rows of the training split are in-sample fits is refused.
* :func:`combine` — the weighted average of the members' predictions.

The selection only ever sees the out-of-fold predictions of the training split;
validation and test rows play no part in it.
"""

from __future__ import annotations

import logging
from typing import Mapping

import numpy as np

from .procrustes import disparity  # the one Procrustes: a constant prediction scores 1

log = logging.getLogger("imagespace.human.ensemble")

SELECTIONS = ("greedy", "equal")
DEFAULT_MAX_ROUNDS = 25


class SelectionError(ValueError):
    """An ensemble whose weights cannot be chosen honestly; the message names the config key and the candidate."""


def combine(predictions, weights) -> np.ndarray:
    """The weighted average of same-shaped predictions (weights need not sum to 1; zero weights are skipped)."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 1 or len(weights) != len(predictions) or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(
            f"weights {weights.tolist()} do not fit {len(predictions)} predictions (non-negative, positive sum)"
        )
    out = None
    for P, w in zip(predictions, weights):
        if w == 0:
            continue
        term = w * np.asarray(P, dtype=np.float64)
        out = term if out is None else out + term
    return out / weights.sum()


def greedy_selection(H, candidates: Mapping[str, np.ndarray], max_rounds: int = DEFAULT_MAX_ROUNDS) -> dict:
    """Forward selection with replacement of the candidates' predictions (rows aligned with *H*).

    Returns ``{"weights", "counts", "rounds", "path", "disparity"}``: weights and counts
    per candidate (every candidate listed, zero if never added), the number of additions,
    the disparity after each addition (``path``: ``[{"added", "disparity"}]``) and the final
    disparity. Ties go to the candidate listed first, so the result is deterministic.
    """
    H = np.asarray(H, dtype=np.float64)
    names = list(candidates)
    if not names:
        raise ValueError("no candidates to select from")
    P = {k: np.asarray(v, dtype=np.float64) for k, v in candidates.items()}
    for k, v in P.items():
        if v.shape != H.shape:
            raise ValueError(f"candidate {k!r} has shape {v.shape}, the human space {H.shape}")
    counts = dict.fromkeys(names, 0)
    total = np.zeros_like(H)
    current, path = np.inf, []
    for r in range(int(max_rounds)):
        size = r + 1
        scores = [disparity(H, (total + P[k]) / size) for k in names]
        best = int(np.argmin(scores))  # first of equal scores
        if not scores[best] < current - 1e-12:
            break  # no addition improves the ensemble
        k = names[best]
        counts[k] += 1
        total += P[k]
        current = scores[best]
        path.append({"added": k, "disparity": float(current)})
    rounds = sum(counts.values())
    return {
        "weights": {k: c / rounds for k, c in counts.items()},
        "counts": counts,
        "rounds": rounds,
        "path": path,
        "disparity": float(current),
    }


def check_out_of_fold(in_sample: Mapping[str, str | None], key: str, train_split: str) -> None:
    """Refuse candidates whose training-split rows are in-sample (*in_sample*: candidate -> its in_sample_split meta
    or None)."""
    bad = {k: v for k, v in in_sample.items() if v}
    if bad:
        k, v = next(iter(bad.items()))
        raise SelectionError(
            f"{key}: candidate {k!r} is in-sample on the training split {train_split!r} ({v}); greedy selection "
            "needs out-of-fold predictions there (human_pred_<feature set> maps, or ensembles of them), otherwise it "
            f"prefers the candidate that memorised the rows it is judged on. Remove it from the candidates, or use the "
            f"list form (equal weights){'' if len(bad) == 1 else f'; also in-sample: {sorted(bad)[1:]}'}"
        )


def nested_greedy(
    H, candidates: Mapping[str, np.ndarray], max_rounds: int = DEFAULT_MAX_ROUNDS, folds: int = 5, seed: int = 0
) -> dict:
    """Greedy selection redone inside outer folds of the training rows, so that they get honest predictions too.

    For each fold the weights are chosen on the other folds' rows only and applied to the
    fold's own rows: every training row's ensemble prediction then comes from weights that
    never saw it (like the members' out-of-fold predictions), and the training split can be
    scored and can take part in choosing a representation. Returns ``{"folds", "seed",
    "fold_of" (row -> fold), "fold_weights" (per fold), "prediction", "disparity"}``.
    """
    from sklearn.model_selection import KFold

    H = np.asarray(H, dtype=np.float64)
    names = list(candidates)
    P = {k: np.asarray(v, dtype=np.float64) for k, v in candidates.items()}
    folds = max(2, min(int(folds), len(H)))
    fold_of = np.empty(len(H), dtype=int)
    pred = np.empty_like(H)
    fold_weights = []
    for f, (tr, te) in enumerate(KFold(folds, shuffle=True, random_state=seed).split(H)):
        w = greedy_selection(H[tr], {k: P[k][tr] for k in names}, max_rounds)["weights"]
        fold_weights.append(w)
        fold_of[te] = f
        pred[te] = combine([P[k][te] for k in names], [w[k] for k in names])
    return {
        "folds": folds,
        "seed": int(seed),
        "fold_of": fold_of,
        "fold_weights": fold_weights,
        "prediction": pred,
        "disparity": disparity(H, pred),
    }


def select(
    H,
    candidates: Mapping[str, np.ndarray],
    how: str = "greedy",
    max_rounds: int = DEFAULT_MAX_ROUNDS,
    in_sample: Mapping[str, str | None] | None = None,
    key: str = "ensemble",
    train_split: str = "train",
    ids=None,
    folds: int = 5,
    seed: int = 0,
) -> dict:
    """Weights of an ensemble chosen on the training split's out-of-fold predictions, with the record of the choice.

    *H*: the human coordinates of the training split; *candidates*: {name: that split's
    predictions, rows in H's order}; *in_sample*: {name: in_sample_split meta} (checked for
    ``greedy``); *key*: the config key, for messages. With *ids* (the rows' image ids), a
    greedy selection also records :func:`nested_greedy` (``out_of_fold``: each training
    row's fold and the weights chosen without that fold), so the ensemble's training rows
    are out-of-fold too.
    """
    if how not in SELECTIONS:
        raise ValueError(f"{key}: unknown select {how!r} ({', '.join(SELECTIONS)})")
    if how == "greedy":
        check_out_of_fold(in_sample or {}, key, train_split)
    H = np.asarray(H, dtype=np.float64)
    alone = {k: disparity(H, v) for k, v in candidates.items()}
    if how == "greedy":
        res = greedy_selection(H, candidates, max_rounds)
    else:
        w = 1.0 / len(candidates)
        res = {
            "weights": dict.fromkeys(candidates, w),
            "counts": dict.fromkeys(candidates, 1),
            "rounds": len(candidates),
            "path": [],
            "disparity": disparity(H, combine(list(candidates.values()), [1.0] * len(candidates))),
        }
    nested = None
    if how == "greedy" and ids is not None:
        n = nested_greedy(H, candidates, max_rounds, folds, seed)
        nested = {
            "folds": n["folds"],
            "seed": n["seed"],
            "disparity": n["disparity"],
            "fold_weights": n["fold_weights"],
            "fold_of": dict(zip(map(str, ids), n["fold_of"].tolist())),
            "note": "each training row's prediction uses the weights chosen on the other folds' rows",
        }
    out = {
        "select": how,
        "max_rounds": int(max_rounds) if how == "greedy" else None,
        **res,
        "out_of_fold": nested,
        "candidate_disparity": alone,
        "n_rows": len(H),
        "train_split": train_split,
        "chosen_on": (
            f"out-of-fold predictions of the training split {train_split!r} ({len(H)} rows); validation not used"
        ),
    }
    log.info(
        "%s: %s selection over %d rows: weights %s, out-of-fold disparity %.4f (best single %.4f)",
        key,
        how,
        len(H),
        {k: round(v, 3) for k, v in res["weights"].items() if v},
        res["disparity"],
        min(alone.values()),
    )
    return out
