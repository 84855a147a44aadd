"""Likely label errors: cleanlab's confident learning on the feature sets' averaged class probabilities."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

LABEL_COLUMNS = ["row", "given", "suggested", "quality", "issue", "agree", "evidence"]
#: a flagged image counts as a label issue only where its suggested label is at least this many times as probable as
#: the given one: confident learning on a representation that confuses two classes (shirt and T-shirt) takes that
#: confusion for label noise, while a flipped label is typically far less probable than the true one. Chosen on the
#: injected-noise measurements of benchmarks/curation_noise.py (digits, Fashion-MNIST).
MIN_ODDS = 7.0


def _flag(y, P) -> np.ndarray:
    """cleanlab's confident-learning filter; a split too small or too uniform for it: argmax disagrees."""
    from cleanlab.filter import find_label_issues

    present = np.unique(y)
    if len(present) < 2 or len(y) < 10:
        return np.argmax(P, axis=1) != y
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(find_label_issues(labels=y, pred_probs=P, filter_by="prune_by_noise_rate"), bool)
    except (ValueError, IndexError):
        return np.argmax(P, axis=1) != y


def _suggest(y, P) -> np.ndarray:
    """The most probable class other than the given one."""
    Q = P.copy()
    Q[np.arange(len(y)), y] = -np.inf
    return np.argmax(Q, axis=1)


def label_issues(y, probs: dict, classes, *, groups=None) -> pd.DataFrame:
    """Rank every image by how likely its label is wrong.

    Parameters
    ----------
    y : numpy.ndarray, shape (n,)
        Given label indices.
    probs : dict
        ``{feature set: class probabilities (n x K)}``, out of fold (training rows) or from models fitted on
        the training rows (others); their mean is what cleanlab judges.
    classes : list of str
        Class names (K).
    groups : numpy.ndarray, shape (n,), optional
        The split of each row: each split is filtered on its own (its own class balance and thresholds).

    Returns
    -------
    pandas.DataFrame
        One row per image (:data:`LABEL_COLUMNS`): ``quality`` is cleanlab's self-confidence (the mean
        probability of the given label, low = suspect), ``issue`` its confident-learning verdict (where the
        suggested label is at least :data:`MIN_ODDS` times as probable as the given one),
        ``suggested`` the most probable other class, ``agree`` the feature sets whose own most probable
        class is not the given one, ``evidence`` each set's most probable class and its probability.
    """
    from cleanlab.rank import get_label_quality_scores

    if not probs:
        raise ValueError("no feature set gives class probabilities")
    y = np.asarray(y, dtype=np.int64)
    names = list(probs)
    P = np.mean([np.asarray(probs[f], dtype=np.float64) for f in names], axis=0)
    P = np.clip(P, 0.0, None)
    P = P / np.maximum(P.sum(axis=1, keepdims=True), 1e-12)
    groups = np.zeros(len(y), dtype=object) if groups is None else np.asarray(groups)
    issue = np.zeros(len(y), bool)
    for g in pd.unique(groups):
        sel = groups == g
        issue[sel] = _flag(y[sel], P[sel])
    suggested = _suggest(y, P)
    rows = np.arange(len(y))
    issue &= P[rows, suggested] >= MIN_ODDS * P[rows, y]
    quality = get_label_quality_scores(y, P, method="self_confidence")
    top = {f: np.argmax(probs[f], axis=1) for f in names}
    classes = [str(c) for c in classes]
    agree = [",".join(f for f in names if top[f][i] != y[i]) for i in range(len(y))]
    evidence = [
        "; ".join(f"{f}: {classes[top[f][i]]} {float(probs[f][i, top[f][i]]):.2f}" for f in names)
        for i in range(len(y))
    ]
    return pd.DataFrame(
        {
            "row": np.arange(len(y)),
            "given": np.asarray(classes, dtype=object)[y],
            "suggested": np.asarray(classes, dtype=object)[suggested],
            "quality": np.asarray(quality, dtype=float),
            "issue": issue,
            "agree": agree,
            "evidence": evidence,
        },
        columns=LABEL_COLUMNS,
    )


def noise_rate(table: pd.DataFrame, train) -> float:
    """The estimated label-noise rate: the share of the training images flagged as label issues.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`label_issues`.
    train : numpy.ndarray of bool
        The training rows.

    Returns
    -------
    float
    """
    train = np.asarray(train, bool)
    return float(table["issue"].to_numpy()[train].mean()) if train.any() else 0.0
