"""The summary page's leaderboard: the chosen representation, the table, the paired comparisons, how each choice
was made and the category structure."""

from __future__ import annotations

from imagespace.report.md_format import num, pvalue

#: rows of the split's leaderboard whose pairwise comparisons the summary page lists
PAIRED_TOP = 5


def alignment(s: dict) -> list[str]:
    """Renderer: the leaderboard section ("" without a comparison with a human space)."""
    if not s["alignment"]:
        return []
    lines = ["## Leaderboard: which representation matches the human space", ""]
    lines += _chosen(s) + _table(s)
    for v, c in s["cnn"].items():
        if c.get("checkpoint_split") in s["alignment_splits"]:
            how = "nearest-centroid accuracy" if c.get("target") == "triplet" else "label accuracy"
            lines.append(
                f"Note: `{v}` chose its checkpoint by {how} on split {c['checkpoint_split']!r}, so its rows "
                "of that split (and those of maps and ensembles built on it) are not fully held out."
            )
            lines.append("")
    lines += markdown_paired(s)
    if s.get("choices"):
        lines += [
            "### How each choice was made",
            "",
            "| choice | value | how | data it looked at |",
            "|---|---|---|---|",
        ]
        lines += [f"| {c['what']} | {c['value']} | {c['how']} | {c['data']} |" for c in s["choices"]]
        lines.append("")
    return lines + _categories(s)


def _chosen(s: dict) -> list[str]:
    """The chosen representation, on which split, and its held-out scores."""
    sel = s.get("alignment_selection")
    if not sel:
        return []
    held = [sp for sp in s["alignment_splits"] if sp != sel["split"]]
    r0 = next(r for r in s["alignment"] if r["feature_set"] == sel["chosen"])
    return [
        f"**Chosen representation: `{sel['chosen']}`**, the lowest out-of-fold disparity on `{sel['split']}` "
        f"({sel['disparity']:.3f}) among {len(sel['ranked'])} eligible feature sets; "
        + (
            f"no other split was looked at, so its {', '.join(held)} "
            + " / ".join(
                f"disparity {num(r0.get(f'{sp}_disparity'))} [{num(r0.get(f'{sp}_ci95_low'))}, "
                f"{num(r0.get(f'{sp}_ci95_high'))}]"
                for sp in held
                if f"{sp}_disparity" in r0
            )
            + " is an unbiased estimate for new images of these classes."
            if held
            else "there is no held-out split."
        )
        + (
            f" Not eligible: {', '.join(f'`{fs}` ({why})' for fs, why in sel['excluded'].items())}."
            if sel["excluded"]
            else ""
        ),
        "",
    ]


def _table(s: dict) -> list[str]:
    """The leaderboard table, its legend first."""
    splits, paired, sel = s["alignment_splits"], s.get("alignment_paired") or {}, s.get("alignment_selection")
    # splits given as human data (not coordinates): their direct score (RDM Spearman or triplet accuracy)
    direct = {r["split"] for r in (s.get("human_data") or {}).get("rows", [])}
    lines = [
        "Procrustes disparity (bootstrap 95% CI, permutation p against shuffled rows), RDM Spearman ρ and linear "
        "CKA; "
        + (
            f"ranked by the out-of-fold disparity on `{sel['split']}` (rows not eligible last), never by a held-out "
            "split. "
            if sel
            else "best first. "
        )
        + "`human_pred_<x>` rows are cross-validated linear maps of <x> into the human space "
        "(out-of-fold on the split they were trained on). "
        "vs top: the paired-bootstrap p of the disparity difference to the split's top row (the chosen one) "
        + (
            f"({next(iter(paired.values()))['correction']}-corrected over the top row's comparisons); "
            "**✓** = the top row is significantly closer to the human space; **closer** = this row is "
            "significantly closer than the chosen top row on that split (which the choice, made on the training "
            "split, cannot see)."
            if paired
            else "(not computed)."
        ),
        "",
        "| feature set | "
        + " | ".join(
            f"{sp}: disparity [95% CI] | ρ | CKA | vs top" + (" | direct (share of ceiling)" if sp in direct else "")
            for sp in splits
        )
        + " |",
        "|---|" + "".join("---|---|---|---|" + ("---|" if sp in direct else "") for sp in splits),
    ]
    for r in s["alignment"]:
        cells = [_cells(r, sp, paired.get(sp) or {}) + (_direct_cell(r, sp) if sp in direct else "") for sp in splits]
        name = f"**{r['feature_set']}** (chosen)" if r.get("chosen") else r["feature_set"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def _direct_cell(r: dict, sp: str) -> str:
    """A row's direct score on split *sp* (the human data, no embedding) and its share of the noise ceiling."""
    if r.get(f"{sp}_direct") is None:
        return " | –"
    share = r.get(f"{sp}_share_of_ceiling")
    return f" | {num(r[f'{sp}_direct'])} ({'no ceiling' if share is None else f'{share:.0%}'})"


def _cells(r: dict, sp: str, pr: dict) -> str:
    """A leaderboard row's cells of split *sp* (*pr*: the split's paired comparisons)."""
    if f"{sp}_disparity" not in r:
        return "– | – | – | –"
    closer = r["feature_set"] in (pr.get("beat_top") or [])
    mark = "**✓** " if r.get(f"{sp}_beaten_by_top") else ("**closer** " if closer else "")
    vs = (
        "top"
        if r["feature_set"] == pr.get("top")
        else f"{mark}p {pvalue(r.get(f'{sp}_vs_top_p'), relation=True)}"
        if r.get(f"{sp}_vs_top_p") is not None
        else "–"
    )
    return (
        f"{num(r[f'{sp}_disparity'])} [{num(r[f'{sp}_ci95_low'])}, {num(r[f'{sp}_ci95_high'])}], "
        f"p {pvalue(r[f'{sp}_permutation_p'], relation=True)} | "
        f"{num(r[f'{sp}_rdm_spearman'])} | {num(r[f'{sp}_cka'])} | {vs}"
    )


def _categories(s: dict) -> list[str]:
    """Kendall tau-a of every row's RDM (and the human space's) with the category RDMs, per split."""
    splits = s["alignment_splits"]
    groups = [g for g in ("label", "subtype") if any(f"{sp}_tau_a_{g}" in r for r in s["alignment"] for sp in splits)]
    if not groups:
        return []

    def first(key):
        return next((x.get(key) for x in s["alignment"] if x.get(key) is not None), None)

    lines = [
        "### Category structure: Kendall τa of each RDM with the category RDMs (same group = 0, else 1)",
        "",
        "τa counts tied pairs as neither concordant nor discordant, so a 0/1 category RDM is not rewarded for its "
        "ties; its ceiling (an RDM with every between-group pair farther than every within-group pair) is the "
        "share of untied pairs, given in the header.",
        "",
        "| feature set | "
        + " | ".join(f"{sp}: {g} (max {num(first(f'{sp}_tau_a_max_{g}'))})" for sp in splits for g in groups)
        + " |",
        "|---|" + "---|" * (len(splits) * len(groups)),
    ]
    human = {
        "feature_set": "**human space**",
        **{f"{sp}_tau_a_{g}": first(f"{sp}_human_tau_a_{g}") for sp in splits for g in groups},
    }
    for r in [human] + s["alignment"]:
        lines.append(
            f"| {r['feature_set']} | "
            + " | ".join(num(r.get(f"{sp}_tau_a_{g}")) for sp in splits for g in groups)
            + " |"
        )
    lines.append("")
    return lines


def markdown_paired(s: dict) -> list[str]:
    """Per split: which rows the top row beats, and the paired differences among the top :data:`PAIRED_TOP` rows.

    Parameters
    ----------
    s : dict
        The summary, its alignment sections filled.

    Returns
    -------
    list of str
        The lines of the paired comparisons (none without paired-bootstrap tables).
    """
    paired = s.get("alignment_paired") or {}
    lines = []
    for sp in s["alignment_splits"]:
        pr = paired.get(sp)
        if not pr:
            continue
        top5 = [r["feature_set"] for r in s["alignment"] if f"{sp}_disparity" in r][:PAIRED_TOP]  # leaderboard order
        lines += _paired_intro(sp, pr)
        by = {(r["metric"], r["a"], r["b"]): r for r in pr["pairs"]}
        for i, a in enumerate(top5):
            for b in top5[i + 1 :]:
                cells = [_paired_cells(by, metric, a, b) for metric in ("disparity", "rdm_spearman")]
                lines.append(f"| `{a}` − `{b}` | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _paired_intro(sp: str, pr: dict) -> list[str]:
    """The heading, legend, verdicts about the top row and table header of split *sp*'s paired comparisons."""
    top_is = "the chosen representation" if pr.get("top_is") == "chosen" else "lowest disparity here"
    not_beaten = [x for x in pr["not_beaten"] if x not in pr.get("beat_top", [])]
    return [
        f"### Paired comparisons on {sp} ({pr['n']} images, {pr['n_bootstrap']} paired bootstrap draws)",
        "",
        "Each draw resamples the images once and scores both rows on it; difference = first row − second row, "
        "normal 95% CI from the bootstrap standard error, two-sided p; "
        + (
            f"p adj. = Holm-corrected over all {len(pr['pairs']) // 2} pairs of the split, per statistic."
            if pr["correction"] == "holm"
            else "p adj. = p (compare.paired.correction: none)."
        ),
        "",
        f"- top row `{pr['top']}` ({top_is}) is significantly closer to the human space (disparity, "
        f"{pr['correction']} over its {len(pr['top_beats']) + len(pr['not_beaten'])} comparisons, "
        f"p < {pr['alpha']:g}) than {len(pr['top_beats'])}: {', '.join(f'`{x}`' for x in pr['top_beats']) or 'none'}",
        f"- not distinguishable from it: {', '.join(f'`{x}`' for x in not_beaten) or 'none'}",
        *(
            [
                f"- significantly closer than it here (not chosen, since the choice never looks at {sp}): "
                + ", ".join(f"`{x}`" for x in pr["beat_top"])
            ]
            if pr.get("beat_top")
            else []
        ),
        *(
            [
                "- not compared (every row the same, e.g. a collapsed network): "
                + ", ".join(f"`{x}`" for x in pr["not_compared"])
            ]
            if pr.get("not_compared")
            else []
        ),
        "",
        "| pair | Δ disparity [95% CI] | p | p adj. | Δ RDM ρ [95% CI] | p | p adj. |",
        "|---|---|---|---|---|---|---|",
    ]


def _paired_cells(by: dict, metric: str, a: str, b: str) -> str:
    """The difference a − b of *metric* [CI], p and corrected p (bold when significant); the table holds one order."""
    r, sign = by.get((metric, a, b)), 1
    if r is None and (metric, b, a) in by:
        r, sign = by[(metric, b, a)], -1
    if r is None:
        return "– | – | –"
    lo, hi = (r["ci95_low"], r["ci95_high"]) if sign > 0 else (-r["ci95_high"], -r["ci95_low"])
    bold = "**" if r["significant"] else ""
    return f"{sign * r['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}] | {pvalue(r['p'])} | {bold}{pvalue(r['p_adjusted'])}{bold}"
