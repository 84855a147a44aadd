"""The curation section of summary.json and summary.md."""

from __future__ import annotations

import pandas as pd

TOP = 10


def summary_section(issues: pd.DataFrame, scores: pd.DataFrame, info: dict, *, warn_above: float = 0.02) -> dict:
    """summary.json ``curation``: counts, the top ten suspects, the estimated label-noise rate and a warning.

    Parameters
    ----------
    issues : pandas.DataFrame
        ``curation/issues.tsv``.
    scores : pandas.DataFrame
        ``curation/scores.tsv``.
    info : dict
        ``curation/curation.json`` (``noise_rate``, ``train_split``, ``n_train``, ``feature_sets``, ``notes``).
    warn_above : float
        ``curation.warn_above``.

    Returns
    -------
    dict
        ``{counts, noise_rate, n_train, feature_sets, top, warnings, notes}``.
    """
    counts = {k: int((issues["kind"] == k).sum()) for k in ("label", "outlier", "duplicate")}
    top = issues[issues["kind"] == "label"].head(TOP)
    rate = float(info.get("noise_rate") or 0.0)
    warnings = [info["warning"]] if info.get("warning") else []  # nothing assessed, and why
    if rate > warn_above:
        warnings.append(
            f"curation: an estimated {rate:.1%} of the {info.get('n_train', 0)} training labels are wrong "
            f"(above curation.warn_above {warn_above:.1%}): review curation/issues.tsv and curation/label_issues.png"
        )
    return {
        "counts": counts,
        "n_images": int(len(scores)),
        "noise_rate": rate,
        "warn_above": float(warn_above),
        "n_train": int(info.get("n_train", 0)),
        "feature_sets": info.get("feature_sets", {}),
        "top": [
            {k: r[k] for k in ("image", "split", "label", "suggestion", "score")} | {"score": float(r["score"])}
            for _, r in top.iterrows()
        ],
        "warnings": warnings,
        "notes": list(info.get("notes", [])),
        "assessed": info.get("assessed", True) is not False,
    }


def summary_markdown(section: dict) -> list[str]:
    """The lines of summary.md's curation section (its warnings first).

    Parameters
    ----------
    section : dict
        :func:`summary_section`.

    Returns
    -------
    list of str
    """
    c = section["counts"]
    sets = ", ".join(f"`{fs}` ({'+'.join(v['classifiers'])})" for fs, v in section["feature_sets"].items()) or "none"
    lines = ["## Curation: likely mislabels, outliers, duplicates", ""]
    lines += [f"**Warning:** {w}" for w in section["warnings"]] + ([""] if section["warnings"] else [])
    if not section.get("assessed", True):
        return lines
    lines += [
        f"{c['label']} suspected mislabels, {c['outlier']} outliers and {c['duplicate']} duplicates among "
        f"{section['n_images']} images; estimated label-noise rate of the training split "
        f"**{section['noise_rate']:.1%}** (of {section['n_train']}). Evidence: {sets}. "
        "See `curation/issues.tsv`, `curation/label_issues.png`, `curation/outliers.png`.",
        "",
    ]
    if section["top"]:
        lines += ["| image | split | given | suggested | score |", "|---|---|---|---|---|"]
        lines += [
            f"| {t['image']} | {t['split']} | {t['label']} | {t['suggestion']} | {t['score']:.3f} |"
            for t in section["top"]
        ]
        lines.append("")
    return lines
