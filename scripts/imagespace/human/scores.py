"""The direct comparisons of one split, for every feature set, with the split's ceiling, and what the summary shows.

* :func:`observed` reads the split's human data (any kind but coordinates) in the row order of its human table;
* :func:`split_scores` scores every feature set against it (:mod:`imagespace.human.direct`) and states the ceiling;
* :func:`summary_section` and :func:`summary_markdown`: the summary's part (the leaderboard's direct columns, each
  score as a share of the ceiling, and the chosen representation's share for the first lines).
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


def ceiling(obs: dict | None, method: str = "spearman") -> dict:
    """The split's noise ceiling: RDM bounds (several subjects), repeated-triplet agreement, or a statement why
    there is none.

    Parameters
    ----------
    obs : :func:`observed`'s result.
    method : the RDM correlation the ceiling is for.

    Returns
    -------
    {"lower", "upper", "note", ...}
    """
    if obs is None:
        return {"lower": None, "upper": None, "note": NO_CEILING}
    if obs["kind"] == "triplets":
        c = direct.triplet_ceiling(obs["T"])
        note = c["method"] if c["value"] is not None else "no ceiling: no triplet was asked more than once"
        return {"lower": c["value"], "upper": c["value"], "note": note, **c}
    nc = direct.noise_ceiling(obs["R"], method)
    note = "rsatoolbox bounds (leave one subject out / all subjects)"
    if nc["lower"] is None:
        note = "no ceiling: one RDM (a single participant or an averaged matrix) gives no between-subject consistency"
    return {**nc, "note": note}


def split_scores(obs: dict, features: dict, *, n_boot: int = 200, seed: int = 0) -> dict:
    """Every feature set's direct scores on the split, with the ceiling and each score's share of it.

    Parameters
    ----------
    obs : :func:`observed`'s result (not None).
    features : {feature set: (n, d) matrix, rows in the human table's order}.
    n_boot, seed : the bootstrap.

    Returns
    -------
    {"kind", "ceiling", "feature_sets": {name: scores}}; a score's ``share_of_ceiling`` is its value over the
    ceiling's lower bound (1 = as good as a left-out participant) and ``share_of_upper`` over the upper bound.
    """
    ceil = ceiling(obs)
    out = {}
    for name, F in features.items():
        if obs["kind"] == "triplets":
            s = {
                "triplet_accuracy": direct.triplet_scores(
                    obs["T"], F, subjects=obs["subjects"], n_boot=n_boot, seed=seed
                )
            }
        else:
            s = direct.rdm_scores(obs["R"], F, n_boot=n_boot, seed=seed)
        main = s["triplet_accuracy" if obs["kind"] == "triplets" else "spearman"]
        main["share_of_ceiling"] = direct.share_of_ceiling(main["value"], ceil["lower"])
        main["share_of_upper"] = direct.share_of_ceiling(main["value"], ceil["upper"])
        out[name] = s
    return {"kind": obs["kind"], "ceiling": ceil, "feature_sets": out}


def summary_section(splits: dict, *, chosen: str | None = None) -> dict:
    """What the summary shows of the direct comparisons.

    Parameters
    ----------
    splits : {split: :func:`split_scores`' result, or None for a split given as coordinates}.
    chosen : the chosen representation (its share of the ceiling goes to the summary's first lines).

    Returns
    -------
    {"rows": [{split, feature_set, metric, value, ci95_items, ci95_subjects, share_of_ceiling}], "ceilings":
    {split: ceiling}, "headline": str | None, "warnings": [...]}
    """
    rows, ceilings, warnings = [], {}, []
    for split, res in splits.items():
        if res is None:
            ceilings[split] = {"note": NO_CEILING}
            continue
        ceilings[split] = res["ceiling"]
        metric = "triplet_accuracy" if res["kind"] == "triplets" else "spearman"
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
    rows.sort(key=lambda r: (r["split"], -(r["value"] if r["value"] is not None else -np.inf)))
    headline = None
    for r in rows:
        if r["feature_set"] == chosen and r["share_of_ceiling"] is not None:
            headline = (
                f"{chosen} reaches {r['share_of_ceiling']:.0%} of the noise ceiling on {r['split']} "
                f"({r['metric']} {r['value']:.3f}, ceiling {ceilings[r['split']]['lower']:.3f})"
            )
            break
    return {"rows": rows, "ceilings": ceilings, "headline": headline, "warnings": warnings}


def summary_markdown(section: dict) -> list[str]:
    """Markdown lines of :func:`summary_section`: the headline, the ceilings, and the direct leaderboard.

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
    return lines
