"""The leaderboard: which representation matches the human space, how it was chosen, and how every choice that
decides a reported number was made."""

from __future__ import annotations

from pathlib import Path


def alignment(out: dict, inputs, settings) -> None:
    """Section builder: alignment_splits, alignment_selection, alignment_paired and the leaderboard (alignment)."""
    compare = out["compare"]
    out["alignment_splits"] = split_order({sp for v in compare.values() for sp in v}, settings.train_split)
    out["alignment_selection"] = select_representation(compare, settings.train_split, settings.fitted_on)
    chosen = (out["alignment_selection"] or {}).get("chosen")
    tables = paired_tables(inputs.compare, out["alignment_splits"]) if inputs.paired is None else list(inputs.paired)
    out["alignment_paired"] = paired_summary(tables, compare, chosen)
    out["alignment"] = (
        leaderboard(
            compare, out["alignment_splits"], paired=out["alignment_paired"], selection=out["alignment_selection"]
        )
        if compare
        else []
    )


def choices_section(out: dict, inputs, settings) -> None:
    """Section builder: choices (:func:`choices`), the settings fixed in the config among them."""
    out["choices"] = choices(out, settings.fixed or {})


def split_order(splits, train_split: str = "train") -> list[str]:
    """The splits in leaderboard order: those the maps into the human space were not trained on first
    (held out from every map and every network trained on human coordinates), the training split last.

    Parameters
    ----------
    splits : iterable of str
        The splits compared with the human space.
    train_split : str
        The split the maps into the human space are trained on.

    Returns
    -------
    list of str
        The splits, sorted by name within each group.
    """
    return sorted(splits, key=lambda sp: (sp == train_split, sp))


def choices(s: dict, settings: dict) -> list[dict]:
    """How every setting that decides a reported number was made.

    Parameters
    ----------
    s : dict
        The summary, its alignment, human maps, ensembles, fine-tuning and CNN sections filled.
    settings : dict
        Settings fixed in the config that a user may have tuned ({name: value}).

    Returns
    -------
    list of dict
        ``{what, value, how, data}`` per choice, where data says which rows the choice looked at ("training split,
        out-of-fold", "none: fixed in the config", ...).
    """
    out = []
    sel = s.get("alignment_selection")
    if sel:
        out.append(
            {
                "what": "chosen representation (leaderboard top row)",
                "value": sel["chosen"],
                "how": sel["how"],
                "data": f"split {sel['split']} (out-of-fold)",
            }
        )
    out += _map_choices(s) + _finetune_choices(s)
    for v, c in s["cnn"].items():
        if c.get("checkpoint_split"):
            out.append(
                {
                    "what": f"{v}: checkpoint (epoch)",
                    "value": c.get("best_epoch"),
                    "how": "best epoch on the checkpoint split",
                    "data": f"split {c['checkpoint_split']}",
                }
            )
    for name, value in settings.items():
        out.append(
            {
                "what": name,
                "value": value,
                "how": "fixed in the config",
                "data": "none seen by the workflow (if it was tuned by comparing held-out scores, those scores are "
                "optimistic)",
            }
        )
    return out


def _map_choices(s: dict) -> list[dict]:
    """The choices of the maps into the human space (their penalty) and of the greedy ensembles (their weights)."""
    out = []
    for fs, r in s["human_maps"].items():
        fp = r.get("final_penalty") or {}
        value = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in fp.items())
        out.append(
            {
                "what": f"{fs}: map and its penalty",
                "value": value or r.get("method"),
                "how": f"{r.get('method')}: inner cross-validation within each of the {r.get('outer_folds')} outer "
                f"folds (out-of-fold rows), then on all {r.get('n_train')} training rows",
                "data": f"split {r.get('train_split')}",
            }
        )
    for fs, r in s["ensemble_weights"].items():
        w = ", ".join(f"{k} {v:.2f}" for k, v in (r.get("weights") or {}).items() if v)
        out.append(
            {
                "what": f"{fs}: members and weights",
                "value": w,
                "how": f"{r.get('select')} forward selection on out-of-fold predictions; the training rows' own "
                "predictions use weights chosen without their fold",
                "data": r.get("chosen_on"),
            }
        )
    return out


def _finetune_choices(s: dict) -> list[dict]:
    """The fine-tuned networks' epochs: chosen on an inner hold-out of the training rows, or fixed."""
    out = []
    for v, f in (s.get("finetune") or {}).items():
        auto = f.get("epochs_setting") == "auto"
        how = (
            f"{f['epochs_why']}, on an inner hold-out of the training rows; then trained on all of them"
            if auto
            else "fixed in the config"
        )
        if f.get("out_of_fold_folds"):
            how += (
                f"; each of {f['out_of_fold_folds']} outer folds has its own network"
                + (" (its epochs chosen the same way without the fold)" if auto else "")
                + ", which predicts the fold's training rows"
            )
        out.append(
            {
                "what": f"{v}: fine-tuning epochs",
                "value": f.get("epochs"),
                "how": how,
                "data": f"split {f.get('train_split')}" + ("" if auto else " (none: fixed)"),
            }
        )
    return out


def select_representation(compare: dict, split: str, fitted_on: dict | None = None) -> dict | None:
    """The representation the leaderboard recommends, chosen on the maps' training split *split* alone.

    Its rows are out-of-fold predictions (``human_pred_<x>``, ensembles of them) or representations
    fitted without any human data, so the lowest disparity there is an honest choice; the held-out
    splits then measure the chosen row without having selected it.

    Parameters
    ----------
    compare : dict
        {feature set: {split: comparison}} (the summary's ``compare``).
    split : str
        The split the choice looks at (the maps' training split).
    fitted_on : dict, optional
        {feature set: reason} of feature sets whose rows of *split* are fitted, not held out (e.g. a CNN trained on
        that split's labels): not eligible.

    Returns
    -------
    dict or None
        ``split``, ``chosen``, its ``disparity``, the eligible feature sets ``ranked``, those ``excluded`` (with
        why), those ``not_scored`` and ``how`` it was chosen; None when no feature set is compared on *split*.
    """
    scored = {
        fs: v[split]["disparity"] for fs, v in compare.items() if split in v and v[split].get("disparity") is not None
    }
    excluded = {fs: why for fs, why in (fitted_on or {}).items() if fs in scored}
    eligible = {fs: d for fs, d in scored.items() if fs not in excluded}
    if not eligible:
        return None
    ranked = sorted(eligible, key=lambda fs: (eligible[fs], fs))
    return {
        "split": split,
        "chosen": ranked[0],
        "disparity": eligible[ranked[0]],
        "ranked": ranked,
        "excluded": excluded,
        "not_scored": sorted(fs for fs in compare if fs not in scored),
        "how": f"lowest Procrustes disparity on split {split!r} among {len(ranked)} feature sets whose rows of it are "
        "out-of-fold predictions or representations fitted without them; no other split was looked at",
    }


def paired_tables(compare_paths, splits) -> list[str]:
    """The paired-bootstrap tables next to the compare results that exist.

    Parameters
    ----------
    compare_paths : iterable of str
        The compare results (results/<d>/compare/<feature set>/comparison.json).
    splits : iterable of str
        The splits compared (the summary's ``compare`` already holds them: no result is read again).

    Returns
    -------
    list of str
        results/<d>/compare/paired_<split>.tsv of every split compared, where it exists.
    """
    out = []
    for path in compare_paths:
        for split in splits:
            table = Path(path).parents[1] / f"paired_{split}.tsv"
            if table.exists() and str(table) not in out:
                out.append(str(table))
    return out


def paired_summary(paths, compare: dict, chosen: str | None = None) -> dict:
    """The paired bootstrap of every two feature sets of each split, and the top row against every other row.

    Parameters
    ----------
    paths : iterable of str
        The paired-bootstrap tables (compare/paired_<split>.tsv).
    compare : dict
        {feature set: {split: comparison}} (the summary's ``compare``).
    chosen : str, optional
        The row :func:`select_representation` chose: the top row of a split where it is compared (else the
        split's lowest disparity).

    Returns
    -------
    dict
        {split: {n, n_bootstrap, alpha, correction, top, top_is, top_beats, not_beaten, not_compared, beat_top,
        versus_top, pairs}}: ``pairs`` has one entry per statistic and pair, as in the table; ``versus_top``:
        {statistic: {other: diff = top - other, CI, p, p_adjusted (corrected over the top row's comparisons),
        beaten}}; ``top_beats`` / ``not_beaten``: the rows the top row is / is not significantly closer to the
        human space than (disparity).
    """
    import pandas as pd

    from imagespace.human.paired import METRICS, versus_top

    out = {}
    for path in paths:
        split = Path(path).stem.removeprefix("paired_")
        df = pd.read_csv(path, sep="\t")
        rows = df.astype(object).where(df.notna(), None).to_dict("records")
        names = sorted((fs for fs in compare if split in compare[fs]), key=lambda fs: compare[fs][split]["disparity"])
        if not rows or len(names) < 2:
            continue
        alpha, correction = float(rows[0]["alpha"]), str(rows[0]["correction"])
        top = chosen if chosen in names else names[0]
        others = [o for o in names if o != top]
        vs = {m: versus_top(rows, top, others, m, alpha, correction) for m in METRICS}
        out[split] = {
            "n": int(rows[0]["n"]),
            "n_bootstrap": int(rows[0]["n_bootstrap"]),
            "alpha": alpha,
            "correction": correction,
            "top": top,
            "top_is": "chosen" if top == chosen else "lowest disparity",
            "top_beats": [o for o in others if vs["disparity"].get(o, {}).get("beaten")],
            "not_beaten": [o for o in others if o in vs["disparity"] and not vs["disparity"][o]["beaten"]],
            # rows the paired comparison left out (every row the same: a collapsed network)
            "not_compared": [o for o in others if o not in vs["disparity"]],
            # rows significantly closer than a top row chosen on another split
            "beat_top": [
                o
                for o in others
                if (e := vs["disparity"].get(o)) and not e["top_better"] and e["diff"] != 0 and e["p_adjusted"] < alpha
            ],
            "versus_top": vs,
            "pairs": [{k: v for k, v in r.items() if k not in ("split", "alpha", "correction")} for r in rows],
        }
    return out


def leaderboard(
    compare: dict, splits: list[str], *, paired: dict | None = None, selection: dict | None = None
) -> list[dict]:
    """One row per feature set, columns split x metric.

    Parameters
    ----------
    compare : dict
        {feature set: {split: comparison}} (the summary's ``compare``).
    splits : list of str
        The splits, in order (:func:`split_order`: the held-out splits first).
    paired : dict, optional
        :func:`paired_summary`: each row's paired comparison with the split's top row (``<split>_vs_top_p``:
        corrected p of the disparity difference; ``<split>_beaten_by_top``: the top row is significantly closer;
        ``<split>_rho_vs_top_p``: the same for the RDM Spearman rho).
    selection : dict, optional
        :func:`select_representation`: the rows are ranked by the selection split's out-of-fold disparity (the
        chosen row first, ``chosen`` true), and rows not eligible there follow, by the other splits; without it,
        best first by the disparity on *splits* in order.

    Returns
    -------
    list of dict
        The rows, best first, each with ``feature_set``, ``selection_rank`` and ``chosen``.
    """
    rows = [_leaderboard_row(fs, by_split, splits, paired) for fs, by_split in compare.items()]
    key = [f"{sp}_disparity" for sp in splits]
    rank = {fs: i for i, fs in enumerate((selection or {}).get("ranked", []))}
    for r in rows:
        r["selection_rank"] = rank[r["feature_set"]] + 1 if r["feature_set"] in rank else None
        r["chosen"] = bool(selection) and r["feature_set"] == selection["chosen"]
    rows.sort(key=lambda r: (rank.get(r["feature_set"], len(rank)), tuple(r.get(k, 2.0) for k in key)))
    return rows


def _leaderboard_row(fs: str, by_split: dict, splits: list[str], paired: dict | None) -> dict:
    """One feature set's leaderboard row: per split its disparity (CI, p), RDM rho, CKA, mean r, paired tests
    against the top row and category-RDM taus."""
    row = {"feature_set": fs}
    for sp in splits:
        r = by_split.get(sp)
        if r is None:
            continue
        ci, rdm = r.get("ci95") or [None, None], r.get("rdm") or {}
        row.update(
            {
                f"{sp}_disparity": r["disparity"],
                f"{sp}_ci95_low": ci[0],
                f"{sp}_ci95_high": ci[1],
                f"{sp}_permutation_p": r["permutation_p"],
                f"{sp}_rdm_spearman": rdm.get("spearman"),
                f"{sp}_mantel_p": rdm.get("spearman_p"),
                f"{sp}_cka": r.get("cka"),
                f"{sp}_mean_r": r.get("mean_r"),
            }
        )
        pr = (paired or {}).get(sp)
        if pr:
            d, rho = pr["versus_top"]["disparity"].get(fs), pr["versus_top"]["rdm_spearman"].get(fs)
            row.update(
                {
                    f"{sp}_vs_top_p": d["p_adjusted"] if d else None,
                    f"{sp}_beaten_by_top": d["beaten"] if d else None,
                    f"{sp}_rho_vs_top_p": rho["p_adjusted"] if rho else None,
                }
            )
        for group, v in (r.get("category_rdm") or {}).items():
            # Kendall tau-a (a category RDM is all ties); older results hold Spearman only
            row[f"{sp}_tau_a_{group}"] = v.get("features_tau_a")
            row[f"{sp}_human_tau_a_{group}"] = v.get("human_tau_a")
            row[f"{sp}_tau_a_max_{group}"] = v.get("tau_a_max")
    return row
