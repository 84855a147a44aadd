"""The direct comparisons of one split, for every feature set, with the split's ceiling, and what the summary shows.

* :func:`observed` reads the split's human data (any kind but coordinates) in the row order of its human table;
* :func:`split_scores` scores every feature set against it (:mod:`imagespace.human.direct`) and states the ceiling;
* :func:`paired_rows`: every two feature sets compared on the split's direct statistic, both recomputed on the
  same item resamples (:func:`direct_bootstrap`), with the inference of :mod:`imagespace.human.paired`;
* :func:`summary_section` and :func:`summary_markdown`: the summary's part (the leaderboard's direct columns, each
  score as a share of the ceiling, the chosen representation's share for the first lines, and whether the best
  direct row beats the runner-up); :func:`split_markdown`: rule human_direct's page of one split.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: pandas loads in the functions that use it
    import pandas as pd

import numpy as np

from . import direct, kinds

NO_CEILING = "no ceiling: the human data are coordinates only (one summary, no repeated measurements)"


def observed(spec: dict, split: str, *, manifest: pd.DataFrame, skipped: pd.DataFrame, ids) -> dict | None:
    """The split's human data in the order of *ids* (the human table's rows); None for coordinates.

    Parameters
    ----------
    spec : the split's human spec.
    split : the split.
    manifest, skipped : the ingest tables.
    ids : the image ids of the human table, in its row order.

    Returns
    -------
    {"kind", "R" (subjects, pairs) | "T" (m, 3), "subjects"} or None
    """
    from scipy.spatial.distance import squareform

    from imagespace.config import with_defaults

    spec = {**with_defaults(spec, "human_spec"), "key": f"human.{split}"}
    if spec["kind"] == "coordinates":
        return None
    from .kinds import split_names

    names, _ = split_names(split, manifest, skipped)
    name_of = dict(zip(manifest["id"], manifest["name"]))
    rows = np.array([names.index(name_of[i]) for i in ids])
    if spec["kind"] == "triplets":
        T, subj, _ = kinds.read_triplets(spec["path"], spec, names)
        pos = np.full(len(names), -1)
        pos[rows] = np.arange(len(rows))
        keep = (pos[T] >= 0).all(axis=1)
        return {"kind": "triplets", "T": pos[T[keep]], "subjects": subj[keep]}
    if spec["kind"] == "ratings":
        R, subjects, _ = kinds.read_ratings(spec["path"], spec, names)
    else:
        R, subjects = kinds.read_square(spec["path"], spec, names)[0][None], ["all"]
    R = R[:, rows][:, :, rows]
    cond = np.array([squareform(np.nan_to_num(r, nan=-1.0), checks=False) for r in R])
    cond[cond == -1.0] = np.nan  # (squareform wants a zero diagonal; -1 marks the missing pairs meanwhile)
    return {"kind": spec["kind"], "R": cond, "subjects": subjects}


def ceiling(obs: dict | None, method: str = "spearman", *, seed: int = 0) -> dict:
    """The split's noise ceiling: RDM bounds (several subjects), the triplet ceiling (agreement on repeated
    triplets, else a corrected split-half estimate), or a statement why there is none.

    Parameters
    ----------
    obs : :func:`observed`'s result.
    method : the RDM correlation the ceiling is for.
    seed : the seed of the triplets' split-half estimate.

    Returns
    -------
    {"lower", "upper", "note", ...}
    """
    if obs is None:
        return {"lower": None, "upper": None, "note": NO_CEILING}
    if obs["kind"] == "triplets":
        c = direct.triplet_ceiling(obs["T"], subjects=obs.get("subjects"), seed=seed)
        return {"lower": c["value"], "upper": c["value"], "note": _triplet_note(c), **c}
    nc = direct.noise_ceiling(obs["R"], method)
    note = "rsatoolbox bounds (leave one subject out / all subjects)"
    if nc["lower"] is None:
        note = "no ceiling: one RDM (a single participant or an averaged matrix) gives no between-subject consistency"
    return {**nc, "note": note}


def _triplet_note(c: dict) -> str:
    """How the triplet ceiling *c* was estimated, in a line (the split-half one with its uncorrected value)."""
    half = c["split_half"] if "split_half" in c else c
    if c["value"] is None:
        return f"no ceiling: no triplet was asked twice, and {half['warning'] or half['method']}"
    extra = ""
    if half is not None and half.get("value") is not None:
        extra = (
            f"uncorrected split-half accuracy {half['uncorrected']:.3f}, reliability of the pair similarities "
            f"{half['reliability_half']:.2f} per half, {half['reliability_full']:.2f} whole"
        )
        if half is not c:
            extra = f"split-half cross-check {half['value']:.3f} ({extra})"
        if half.get("warning"):
            extra += f"; {half['warning']}"
    head = c["method"]
    if "split_half" in c:
        head = f"{c['method']} ({c['n_answers']} answers to {c['n_repeated_triplets']} repeated triplets)"
    elif c.get("repeated_agreement"):
        r = c["repeated_agreement"]
        head += (
            f" (the {r['n_repeated_triplets']} incidentally repeated triplets, {r['n_answers']} answers, agree "
            f"{r['value']:.3f}: too few answers each for a ceiling)"
        )
    return f"{head}; {extra}" if extra else head


def _metric(kind: str) -> str:
    """The direct statistic of a kind of human data (the one the leaderboard and the paired tests use)."""
    return "triplet_accuracy" if kind == "triplets" else "spearman"


def direct_bootstrap(obs: dict, features: dict, *, n_boot: int = 200, seed: int = 0, items=None) -> dict:
    """The split's direct statistic (:func:`_metric`: Spearman on the observed pairs, or triplet accuracy) of every
    feature set, observed and on every item resample, the resamples drawn once and shared by all feature sets.

    Parameters
    ----------
    obs : :func:`observed`'s result (not None).
    features : {feature set: (n, d) matrix, rows in the human table's order}.
    n_boot, seed : the bootstrap (:func:`imagespace.human.direct.item_draws`).
    items : the item resamples, if already drawn (then *n_boot* and *seed* only label the result).

    Returns
    -------
    {"names", "metric", "n", "n_boot", "seed", "observed": {metric: (r,)}, "draws": {metric: (r, n_boot)}}, the
    input of :func:`imagespace.human.paired.pairs_table`.
    """
    from scipy.spatial.distance import pdist

    names = list(features)
    if not names:
        raise ValueError("no feature sets to compare")
    n = len(features[names[0]])
    items = direct.item_draws(n, n_boot=n_boot, seed=seed) if items is None else np.asarray(items)
    metric = _metric(obs["kind"])
    if obs["kind"] == "triplets":
        hits = np.column_stack([direct.triplet_hits(obs["T"], features[m]) for m in names])
        observed, draws = hits.mean(axis=0), direct.triplet_draws(obs["T"], hits, items).T
    else:
        ds = [pdist(np.asarray(features[m], dtype=np.float64)) for m in names]
        observed = np.array([direct.rdm_score(obs["R"], d, metric) for d in ds])
        draws = np.stack([direct.rdm_draws(obs["R"], d, items, method=metric) for d in ds])
    return {
        "names": names,
        "metric": metric,
        "n": int(n),
        "n_boot": len(items),
        "seed": seed,
        "observed": {metric: observed},
        "draws": {metric: draws},
    }


def paired_rows(
    obs: dict,
    features: dict,
    *,
    n_boot: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
    correction: str = "holm",
    items=None,
) -> list[dict]:
    """Every two feature sets compared on the split's direct statistic, paired: both recomputed on the same item
    resamples (:func:`direct_bootstrap`); the difference gets a bootstrap se, a normal 95% CI and a two-sided
    normal p, Holm-corrected over the split's pairs (:func:`imagespace.human.paired.pairs_table`).

    Parameters
    ----------
    obs : :func:`observed`'s result (not None).
    features : {feature set: (n, d) matrix, rows in the human table's order}.
    n_boot, seed, items : the bootstrap (:func:`direct_bootstrap`).
    alpha : the significance level.
    correction : ``holm`` or ``none``.

    Returns
    -------
    [{"metric", "a", "b", "a_value", "b_value", "diff" (a - b), "se", "ci95_low", "ci95_high", "p", "p_adjusted",
    "better", "significant", "alpha", "correction", ...}]: a is the better-ranked of each pair (the feature
    sets in order of their observed value, best first); empty with fewer than two feature sets.
    """
    from . import paired

    if len(features) < 2:
        return []
    boot = direct_bootstrap(obs, features, n_boot=n_boot, seed=seed, items=items)
    metric = boot["metric"]
    value = np.nan_to_num(boot["observed"][metric], nan=-np.inf)
    rank = sorted(range(len(boot["names"])), key=lambda r: -value[r])
    boot["names"] = [boot["names"][r] for r in rank]
    boot["observed"] = {metric: boot["observed"][metric][rank]}
    boot["draws"] = {metric: boot["draws"][metric][rank]}
    rows = paired.pairs_table(boot, alpha=alpha, correction=correction, metrics={metric: True})
    for r in rows:
        r.update(alpha=float(alpha), correction=correction)
    return rows


def split_scores(
    obs: dict, features: dict, *, n_boot: int = 200, seed: int = 0, alpha: float = 0.05, correction: str = "holm"
) -> dict:
    """Every feature set's direct scores on the split, with the ceiling, each score's share of it, and the paired
    comparisons of the feature sets.

    Parameters
    ----------
    obs : :func:`observed`'s result (not None).
    features : {feature set: (n, d) matrix, rows in the human table's order}.
    n_boot, seed : the bootstrap: one set of item resamples for every feature set's CI and the paired tests.
    alpha, correction : the paired tests' level and multiple-comparison correction (:func:`paired_rows`).

    Returns
    -------
    {"kind", "ceiling", "feature_sets": {name: scores}, "paired": :func:`paired_rows`' rows}; a score's
    ``share_of_ceiling`` is its value over the ceiling's lower bound (1 = as good as a left-out participant) and
    ``share_of_upper`` over the upper bound.
    """
    ceil = ceiling(obs, seed=seed)
    n = len(next(iter(features.values()))) if features else 0
    items = direct.item_draws(n, n_boot=n_boot, seed=seed)
    out = {}
    for name, F in features.items():
        if obs["kind"] == "triplets":
            acc = direct.triplet_scores(obs["T"], F, subjects=obs["subjects"], seed=seed, items=items)
            s = {"triplet_accuracy": acc}
        else:
            s = direct.rdm_scores(obs["R"], F, seed=seed, items=items)
        main = s[_metric(obs["kind"])]
        main["share_of_ceiling"] = direct.share_of_ceiling(main["value"], ceil["lower"])
        main["share_of_upper"] = direct.share_of_ceiling(main["value"], ceil["upper"])
        out[name] = s
    pairs = paired_rows(obs, features, seed=seed, alpha=alpha, correction=correction, items=items)
    return {"kind": obs["kind"], "ceiling": ceil, "feature_sets": out, "paired": pairs}


def summary_section(splits: dict, *, chosen: str | None = None) -> dict:
    """What the summary shows of the direct comparisons.

    Parameters
    ----------
    splits : {split: :func:`split_scores`' result, or None for a split given as coordinates}.
    chosen : the chosen representation (its share of the ceiling goes to the summary's first lines).

    Returns
    -------
    {"rows": [{split, feature_set, metric, value, ci95_items, ci95_subjects, share_of_ceiling}], "ceilings":
    {split: ceiling}, "headline": str | None, "paired": {split: a line on whether the best direct row is
    significantly better than the runner-up}, "warnings": [...]}
    """
    rows, ceilings, warnings, versus = [], {}, [], {}
    for split, res in splits.items():
        if res is None:
            ceilings[split] = {"note": NO_CEILING}
            continue
        ceilings[split] = res["ceiling"]
        metric = _metric(res["kind"])
        for fs, s in res["feature_sets"].items():
            m = s[metric]
            rows.append(
                {
                    "split": split,
                    "feature_set": fs,
                    "metric": metric,
                    "value": m["value"],
                    "ci95_items": m["ci95_items"],
                    "ci95_subjects": m["ci95_subjects"],
                    "share_of_ceiling": m.get("share_of_ceiling"),
                }
            )
        if res["ceiling"].get("lower") is None:
            warnings.append(f"human data of split {split}: {res['ceiling']['note']}")
        elif res["ceiling"].get("warning"):
            warnings.append(f"human data of split {split}: {res['ceiling']['warning']}")
        line = versus_runner_up(res)
        if line:
            versus[split] = line
    rows.sort(key=lambda r: (r["split"], -_value(r["value"])))
    headline = None
    for r in rows:
        if r["feature_set"] == chosen and r["share_of_ceiling"] is not None:
            headline = (
                f"{chosen} reaches {r['share_of_ceiling']:.0%} of the noise ceiling on {r['split']} "
                f"({r['metric']} {r['value']:.3f}, ceiling {ceilings[r['split']]['lower']:.3f})"
            )
            break
    return {"rows": rows, "ceilings": ceilings, "headline": headline, "paired": versus, "warnings": warnings}


def _value(v) -> float:
    """A score for sorting (best = largest; None and NaN last)."""
    return -np.inf if v is None or not np.isfinite(v) else float(v)


def _ranked(res: dict) -> list[str]:
    """The split's feature sets by their direct statistic, best first."""
    metric = _metric(res["kind"])
    return sorted(res["feature_sets"], key=lambda fs: -_value(res["feature_sets"][fs][metric]["value"]))


def _pair(rows: list[dict], top: str, other: str) -> dict | None:
    """*rows*' comparison of *top* with *other*, signed as top - other."""
    for r in rows:
        if {r["a"], r["b"]} == {top, other}:
            if r["a"] == top:
                return r
            flip = {"diff": -r["diff"], "ci95_low": -r["ci95_high"], "ci95_high": -r["ci95_low"]}
            return {**r, **flip, "a": top, "b": other, "a_value": r["b_value"], "b_value": r["a_value"]}
    return None


def versus_runner_up(res: dict) -> str | None:
    """One line: is the split's best direct row significantly better than the runner-up (paired, corrected)?

    Parameters
    ----------
    res : :func:`split_scores`' result.

    Returns
    -------
    the line, or None with fewer than two feature sets (or no paired rows).
    """
    ranked = _ranked(res)
    r = _pair(res.get("paired") or [], *ranked[:2]) if len(ranked) > 1 else None
    if r is None:
        return None
    better = r["significant"] and r["diff"] > 0
    verdict = "significantly better than" if better else "not significantly better than"
    n_pairs = len(res["paired"])
    return (
        f"{r['a']} is {verdict} the runner-up {r['b']} on {r['metric']}: {r['diff']:+.3f} "
        f"(95% CI {r['ci95_low']:+.3f} to {r['ci95_high']:+.3f}, paired over {r['n_bootstrap']} item resamples; "
        f"{r['correction']}-adjusted p = {r['p_adjusted']:.3g} over {n_pairs} pair{'s' * (n_pairs != 1)}, "
        f"α = {r['alpha']:g})"
    )


def summary_markdown(section: dict) -> list[str]:
    """Markdown lines of :func:`summary_section`: the headline, the ceilings, the direct leaderboard, and whether
    the best direct row beats the runner-up.

    Parameters
    ----------
    section : :func:`summary_section`'s result.

    Returns
    -------
    list of lines
    """
    lines = [f"**{section['headline']}**", ""] if section["headline"] else []
    lines += [f"> WARNING: {w}" for w in section["warnings"]]
    lines += ["", "| split | ceiling (lower, upper) | note |", "|---|---|---|"]
    for split, c in section["ceilings"].items():
        bounds = "—" if c.get("lower") is None else f"{c['lower']:.3f}, {c['upper']:.3f}"
        lines.append(f"| {split} | {bounds} | {c['note']} |")
    lines += [
        "",
        "| split | feature set | metric | value | 95% CI (items) | share of ceiling |",
        "|---|---|---|---|---|---|",
    ]
    for r in section["rows"]:
        ci = "—" if not r["ci95_items"] else f"{r['ci95_items'][0]:.3f}–{r['ci95_items'][1]:.3f}"
        share = "no ceiling" if r["share_of_ceiling"] is None else f"{r['share_of_ceiling']:.0%}"
        lines.append(f"| {r['split']} | {r['feature_set']} | {r['metric']} | {r['value']:.3f} | {ci} | {share} |")
    if section.get("paired"):
        lines += ["", "Best direct row against the runner-up (paired bootstrap):", ""]
        lines += [f"- {split}: {line}" for split, line in section["paired"].items()]
    return lines


def paired_markdown(res: dict | None) -> list[str]:
    """Markdown lines of the split's paired comparisons: the best direct row against each other row.

    Parameters
    ----------
    res : :func:`split_scores`' result, or None (a split given as coordinates: no lines).

    Returns
    -------
    list of lines
    """
    if not res or not res.get("paired"):
        return []
    ranked, rows = _ranked(res), res["paired"]
    first = rows[0]
    lines = [
        "",
        f"## Paired comparisons on {first['metric']}: the best row against each other row",
        "",
        f"Both rows recomputed on the same {first['n_bootstrap']} item resamples; normal 95% CI from the bootstrap "
        f"standard error of the difference; two-sided p, {first['correction']}-adjusted over the split's "
        f"{len(rows)} pair{'s' * (len(rows) != 1)}; significant: adjusted p < {first['alpha']:g}.",
        "",
        "| best | other | best − other | 95% CI | se | p | adjusted p | significant |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for other in ranked[1:]:
        r = _pair(rows, ranked[0], other)
        if r is not None:
            lines.append(
                f"| {r['a']} | {r['b']} | {r['diff']:+.3f} | {r['ci95_low']:+.3f} to {r['ci95_high']:+.3f} | "
                f"{r['se']:.3f} | {r['p']:.3g} | {r['p_adjusted']:.3g} | {'yes' if r['significant'] else 'no'} |"
            )
    return lines


def split_markdown(split: str, res: dict | None) -> list[str]:
    """Rule human_direct's page of one split: :func:`summary_markdown` of the split, then :func:`paired_markdown`.

    Parameters
    ----------
    split : the split.
    res : :func:`split_scores`' result, or None for a split given as coordinates.

    Returns
    -------
    list of lines
    """
    return summary_markdown(summary_section({split: res})) + paired_markdown(res)
