"""Which feature sets the curation rests on, and which probe classifier of each gives the probabilities."""

from __future__ import annotations

#: a probe within this much of chance (the majority-class rate or the shuffled-label accuracy) is at chance
#: (the margin of :mod:`imagespace.report.headline`)
CHANCE_MARGIN = 0.05
#: by default only the sets whose best probe is within this much of the best set's are used: a weak representation
#: beside a strong one only blurs the probabilities, and alone it takes its own mistakes for label errors
NEAR_BEST = 0.05
#: the probes whose probabilities are averaged where both are near the set's best: a linear and a local classifier
#: (nearest centroid's probabilities are a softmax of distances, far from calibrated: used only where it is the best)
BLENDED = ("logistic", "knn")
#: the kinds of feature set chosen by default: not the maps (embeddings), not the human-space predictions
DEFAULT_KINDS = ("pixels", "descriptor", "backbone", "cnn")


def probe_verdict(result: dict) -> dict | None:
    """The best classifier of one feature set's probes and whether it is at chance.

    Parameters
    ----------
    result : dict
        One ``results/<dataset>/probes/<feature set>.json`` (:func:`imagespace.evaluation.probe_feature_set`).

    Returns
    -------
    dict or None
        ``{classifier, classifiers, accuracy, chance, split, at_chance}``; None where no probe was fitted.
        ``classifiers``: the probes whose probabilities are averaged: those of :data:`BLENDED` within
        :data:`NEAR_BEST` of the best one's accuracy, else the best one alone.
    """
    from imagespace.evaluation import probe_scores

    scores = probe_scores(result)
    if not scores:
        return None
    best = max(scores, key=lambda p: scores[p]["accuracy"])
    chance = max(
        max(v["majority_rate"] for v in scores.values()),
        max((v["shuffled_accuracy"] or 0.0) for v in scores.values()),
    )
    acc = float(scores[best]["accuracy"])
    blend = [p for p in BLENDED if p in scores and scores[p]["accuracy"] >= acc - NEAR_BEST]
    return {
        "classifier": best,
        "classifiers": blend or [best],
        "accuracy": acc,
        "chance": float(chance),
        "split": scores[best]["split"],
        "at_chance": acc <= chance + CHANCE_MARGIN,
    }


def choose_feature_sets(probes: dict, requested=(), *, key: str = "curation.feature_sets") -> tuple[dict, list[str]]:
    """The feature sets the curation uses, each with the probe classifier that gives its probabilities.

    Parameters
    ----------
    probes : dict
        ``{feature set: probe result}`` of the candidate sets.
    requested : sequence of str
        The sets named by the user (every one is used, a note says where one is at chance); empty: every
        candidate whose best probe is not at chance and within :data:`NEAR_BEST` of the best set's accuracy.
    key : str
        The config key named in errors.

    Returns
    -------
    chosen : dict
        ``{feature set: verdict}`` (:func:`probe_verdict`), in the candidates' order.
    notes : list of str
        Why a set was left out or is weak.
    """
    missing = [fs for fs in requested if fs not in probes]
    if missing:
        raise ValueError(f"{key}: {missing} not probed (probed: {sorted(probes)})")
    chosen, notes = {}, []
    for fs, result in probes.items():
        if requested and fs not in requested:
            continue
        v = probe_verdict(result)
        if v is None:
            notes.append(f"{fs}: no probe was fitted (left out)")
        elif v["at_chance"] and not requested:
            notes.append(f"{fs}: left out, its best probe ({v['classifier']} {v['accuracy']:.3f}) is at chance")
        else:
            if v["at_chance"]:
                notes.append(f"{fs}: its best probe ({v['classifier']} {v['accuracy']:.3f}) is at chance")
            chosen[fs] = v
    if not requested and chosen:
        top = max(v["accuracy"] for v in chosen.values())
        for fs in [f for f, v in chosen.items() if v["accuracy"] < top - NEAR_BEST]:
            v = chosen.pop(fs)
            notes.append(
                f"{fs}: left out, its best probe ({v['classifier']} {v['accuracy']:.3f}) is over "
                f"{NEAR_BEST} below the best set's ({top:.3f})"
            )
    return chosen, notes
