"""The summary page's result tables, one renderer per section: ``renderer(summary) -> lines`` (none when the
section is empty)."""

from __future__ import annotations

from imagespace.report.md_format import degeneracy_cells, num, pvalue, strategy


def backbones(s: dict) -> list[str]:
    """Renderer: the pretrained networks used as feature sets (network, layer, weights and their sha256)."""
    if not s.get("backbones"):
        return []
    lines = [
        "## Backbones (pretrained networks as feature sets bb_<name>, bb_<name>_<variant>)",
        "",
        "| backbone | network | layer (pooling) | input | weights (sha256) | features | device | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for b, r in s["backbones"].items():
        size = r.get("input") or "×".join(map(str, r.get("input_size") or []))
        size += f", {r['source']}" if r.get("source") else ""
        sha = f" (`{r['weights_sha256'][:12]}…`)" if r.get("weights_sha256") else ""
        lines.append(
            f"| {b} | {r.get('network')} | {r.get('layer')} ({r.get('pooling') or '–'}) | {size} | "
            f"{r.get('weights')}{sha} | {r.get('dims')} | {r.get('device') or '–'} | "
            f"{num(r.get('seconds'), '{:.1f}')} |"
        )
    return lines + [""]


def finetune(s: dict) -> list[str]:
    """Renderer: the fine-tuned networks (epochs, training rows, out-of-fold disparity)."""
    if not s.get("finetune"):
        return []
    lines = [
        "## Fine-tuned networks (feature sets ft, ft_<name>)",
        "",
        "| variant | backbone | target | unfrozen blocks | epochs | training rows | out-of-fold disparity (folds) "
        "| seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for v, r in s["finetune"].items():
        oof = (
            f"{num(r.get('out_of_fold_disparity'))} ({r['out_of_fold_folds']})"
            if r.get("out_of_fold_folds")
            else "– (in-sample on the training split)"
        )
        lines.append(
            f"| {v} | {r.get('backbone')} | {r.get('target')} | {r.get('unfreeze')} | {r.get('epochs')} "
            f"({r.get('epochs_setting')}) | {r.get('n_train')} ({r.get('train_split')}) | {oof} | "
            f"{num(r.get('seconds'), '{:.0f}')} |"
        )
    return lines + [""]


def probes(s: dict) -> list[str]:
    """Renderer: the linear probes of every feature set, best first."""
    if not s.get("probes"):
        return []
    probes = list(next(iter(s["probes"].values())))
    lines = [
        "## Probes: which representation separates the classes",
        "",
        "Classifiers on each feature set (standardised), fitted on the training split and scored on the held-out "
        "split named (test before validation; cv = cross-validation when there is none). Accuracy / macro-F1; the "
        "shuffled-label cross-validation gives the chance level.",
        "",
        "| feature set | split | " + " | ".join(f"{p}: acc / F1" for p in probes) + " | shuffled labels (best) |",
        "|---|---|" + "---|" * len(probes) + "---|",
    ]
    rows = sorted(s["probes"].items(), key=lambda kv: -max(v["accuracy"] for v in kv[1].values()))
    for fs, by_probe in rows:
        first = next(iter(by_probe.values()))
        cells = [
            f"{num(by_probe[p]['accuracy'])} / {num(by_probe[p]['macro_f1'])}" if p in by_probe else "–" for p in probes
        ]
        shuffled = [v["shuffled_accuracy"] for v in by_probe.values() if v["shuffled_accuracy"] is not None]
        lines.append(
            f"| {fs} | {first['split']} | " + " | ".join(cells) + f" | {num(max(shuffled) if shuffled else None)} |"
        )
    return lines + [""]


def retrieval(s: dict) -> list[str]:
    """Renderer: retrieval precision@k of every feature set and split, best first."""
    if not s.get("retrieval"):
        return []
    first = next(iter(s["retrieval"].values()))
    ks = sorted({k for r in s["retrieval"].values() for k in r["ks"]})
    where = ("its source's" if first.get("gallery_dataset") else "the") + f" {first['gallery_split']!r} split"
    lines = [
        "## Find similar images: retrieval precision@k",
        "",
        f"For every image, its nearest neighbours ({first['metric']} distance) among the images of {where} "
        "(an image is never its own neighbour; n gallery = how many it is ranked against). Precision@k = share of "
        f"the k nearest with the query's {first['label']}, averaged over a split's images [95% bootstrap interval]; "
        "chance = the share of the gallery with the query's label (a random ranking). Every image's neighbours: "
        "retrieval/<feature set>_neighbours.tsv; a gallery of examples: retrieval/<feature set>_gallery.png. † = the "
        "feature set was fitted on that split (its images are not new to it, so its neighbours there look better "
        "than new images' would).",
        "",
        "| feature set | split | n | n gallery | " + " | ".join(f"P@{k}" for k in ks) + " | chance |",
        "|---|---|---|---|" + "---|" * len(ks) + "---|",
    ]

    def key(item):
        r = item[1]
        sp = r["splits"].get(r["headline"]) if r["headline"] else None
        return -(sp["precision"][str(ks[0])]["mean"] if sp and str(ks[0]) in sp["precision"] else -1)

    for fs, r in sorted(s["retrieval"].items(), key=key):
        order = ([r["headline"]] if r["headline"] else []) + [sp for sp in r["splits"] if sp != r["headline"]]
        for sp in order:
            lines.append(_retrieval_row(fs, sp, r, ks))
    return lines + [""]


def _retrieval_row(fs: str, sp: str, r: dict, ks: list) -> str:
    """One feature set's precision@k row of split *sp*."""
    v = r["splits"][sp]
    cells = [
        f"{num(v['precision'][str(k)]['mean'])} [{num(v['precision'][str(k)]['ci'][0])}, "
        f"{num(v['precision'][str(k)]['ci'][1])}]"
        if str(k) in v["precision"]
        else "–"
        for k in ks
    ]
    loo = " (leave-one-out)" if v.get("leave_one_out") else ""
    loo += f" †in-sample: {v['in_sample']}" if v.get("in_sample") else ""
    return f"| {fs} | {sp}{loo} | {v['n']} | {r['n_gallery']} | " + " | ".join(cells) + f" | {num(v['chance'])} |"


def classification(s: dict) -> list[str]:
    """Renderer: the CNNs' classifiers on the held-out splits, and their training-mode accuracy."""
    if not s.get("classification"):
        return []
    lines = [
        "## Classifiers on held-out splits",
        "",
        "The chosen CNN checkpoints (metric-learning variants through a nearest-centroid and an MLP classifier on the "
        "embedding), in inference mode. A split marked * chose the checkpoint, so its numbers are optimistic.",
        "",
        "| model | split | n | accuracy | balanced accuracy | macro-F1 | majority rate | most confused (true → "
        "predicted, count) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model, by_split in s["classification"].items():
        for sp, m in by_split.items():
            if sp == "headline_split":
                continue
            mc = m.get("most_confused") or []
            conf = f"{mc[0]['true']} → {mc[0]['predicted']} ({mc[0]['count']})" if mc else "–"
            star = "*" if m.get("chose_checkpoint") else ""
            lines.append(
                f"| {model} | {sp}{star} | {m['n']} | {num(m['accuracy'])} | {num(m['balanced_accuracy'])} | "
                f"{num(m['macro_f1'])} | {num(m['majority_rate'])} | {conf} |"
            )
    modes = {v: c["train_modes"] for v, c in s["cnn"].items() if c.get("train_modes")}
    if modes:
        lines += [
            "",
            "Accuracy on the training split, inference mode vs training mode (each 256-image batch normalised by its "
            "own statistics; dropout and augmentation off): "
            + "; ".join(f"`{v}` {m['inference']:.3f} vs {m['training']:.3f}" for v, m in modes.items()),
        ]
    return lines + [""]


def compare(s: dict) -> list[str]:
    """Renderer: every representation against the human space (Procrustes), against shuffled rows."""
    if not s["compare"]:
        return []
    lines = [
        "## Representation vs human space (Procrustes)",
        "",
        "Disparity: 0 = identical up to translation, rotation and scale; 1 = unrelated. "
        "The shuffled-row baseline is the disparity after permuting rows; p = share of shuffles at least as good.",
        "",
        "| feature set | split | n | disparity | shuffled mean ± sd | p | mean r | |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for fs, splits in s["compare"].items():
        for sp, r in splits.items():
            flag = "ok" if r["significant"] else "**NOT above chance**"
            lines.append(
                f"| {fs} | {sp} | {r['n']} | {num(r['disparity'])} | {num(r['permutation_mean'])} ± "
                f"{num(r['permutation_sd'])} | {pvalue(r['permutation_p'])} | {num(r['mean_r'])} | {flag} |"
            )
    return lines + [""]


def clustering(s: dict) -> list[str]:
    """Renderer: every clustering against the labels."""
    if not s["clustering_by_feature_set"]:
        return []
    lines = [
        "## Clustering vs labels",
        "",
        "Accuracy after optimal one-to-one cluster-to-class matching (Hungarian); majority = many-to-one mapping.",
        "",
        "| feature set | method | k | noise | accuracy | majority | ARI | NMI | ARI subtype | NMI subtype | strategy |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for fs, methods in s["clustering_by_feature_set"].items():
        for m, r in methods.items():
            noise = f"{r['n_noise'] / r['n']:.0%}" if r.get("n_noise") and r.get("n") else "–"
            lines.append(
                f"| {fs} | {m} | {r['k']} | {noise} | {num(r['accuracy'], '{:.2%}')} | "
                f"{num(r['majority_accuracy'], '{:.2%}')} | {num(r['ari'])} | {num(r['nmi'])} | "
                f"{num(r['ari_subtype'])} | {num(r['nmi_subtype'])} | {strategy(r.get('strategy'))} |"
            )
    return lines + [""]


def human_checks(s: dict) -> list[str]:
    """Renderer: the label (and subtype) structure of the human space, per split."""
    if not s["human_checks"]:
        return []
    lines = [
        "## Human spaces",
        "",
        "| split | n | dims | label structure (within/between, p) | subtype structure |",
        "|---|---|---|---|---|",
    ]
    for sp, r in s["human_checks"].items():
        cells = [
            f"{num(r[k]['ratio'])}, p={pvalue(r[k]['permutation_p'])}" if k in r else "–" for k in ("label", "subtype")
        ]
        lines.append(f"| {sp} | {r['n']} | {r['dims']} | {cells[0]} | {cells[1]} |")
    return lines + [""]


def cnn(s: dict) -> list[str]:
    """Renderer: the trained CNNs (validation accuracy, epochs, parameters, dead units)."""
    if not s["cnn"]:
        return []
    lines = [
        "## CNN",
        "",
        "| variant | val accuracy | best epoch | epochs | train s | parameters | bias parameters | dead units | "
        "device |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for v, r in s["cnn"].items():
        lines.append(
            f"| {v} | {num(r.get('val_accuracy'))} | {r.get('best_epoch')} | {r.get('epochs_run')} | "
            f"{num(r.get('train_seconds'), '{:.1f}')} | {r.get('n_params'):,} | {r.get('n_bias_params'):,} | "
            f"{r.get('dead_units')} | {r.get('device')} |"
        )
    return lines + [""]


def predicted_human_space(s: dict) -> list[str]:
    """Renderer: human spaces predicted by another dataset's models."""
    if not s.get("predicted_human_space"):
        return []
    lines = [
        "## Predicted human space (no human data used)",
        "",
        "Coordinates from the maps and networks fitted on another dataset; one table and one 2-D map per prediction.",
        "",
        "| prediction | models from | images | table | map |",
        "|---|---|---|---|---|",
    ]
    for fs, r in s["predicted_human_space"].items():
        lines.append(f"| {fs} | {r['models_from']} | {r['n_images']} | `{r['table']}` | `{r['map']}` |")
    return lines + [""]


def trustworthiness(s: dict) -> list[str]:
    """Renderer: the trustworthiness and degeneracy numbers of every map and embedding."""
    if not s.get("trustworthiness"):
        return []
    lines = [
        "## Trustworthiness of the maps and embeddings",
        "",
        "sklearn.manifold.trustworthiness against the space each was computed from: 1 = every shown neighbour is a "
        "neighbour there, about 0.5 = a random layout.",
        "",
        "Spread ratio: the second principal axis' spread over the first's in the map's central box (each axis "
        "between its 10 % and 90 % quantiles; 0 = a line). Far: points beyond embeddings.degeneracy.far_factor "
        "times the radius around the median point that holds 95 % of them, which the map figures draw at their "
        "frame's edge (held out: rows placed by the method's transform). "
        "Spots: points piled onto one location.",
        "",
        "| map or embedding | trustworthiness | neighbours | rows scored | against | spread ratio | far | on spots |",
        "|---|---|---|---|---|---|---|---|",
    ]
    deg = s.get("degeneracy") or {}
    for name, t in sorted(s["trustworthiness"].items()):
        rows = f"{t['n_rows']} of {t['of']}" if t["n_rows"] < t["of"] else str(t["n_rows"])
        lines.append(
            f"| {name} | {t['value']:.3f} | {t['n_neighbors']} | {rows} | {t['space']} | "
            f"{degeneracy_cells(deg.get(name))} |"
        )
    return lines + [""]


def embeddings(s: dict) -> list[str]:
    """Renderer: how every embedding and map was computed (k, rows, strategy, parameters)."""
    emb = list(s["embeddings"].values()) + list(s["maps"].values())
    if not emb:
        return []
    lines = [
        "## Embeddings",
        "",
        "| method | k | fitted on | rows | strategy | parameters |",
        "|---|---|---|---|---|---|",
    ]
    for r in emb:
        lines.append(
            f"| {r['method']} | {r['n_components']} | {r['fit_split']} ({r['n_fit']}) | {r['n_rows']} | "
            f"{strategy(r.get('strategy'))} | {', '.join(f'{k}={v}' for k, v in r['params'].items())} |"
        )
    return lines + [""]


def human_data(s: dict) -> list[str]:
    """Renderer: the direct comparisons with the human data and their noise ceilings
    (:func:`imagespace.human.summary_markdown`)."""
    h = s.get("human_data")
    if not h:
        return []
    title = ["## Human data: direct comparisons and noise ceilings", ""]
    if not h["rows"]:  # every split given as coordinates: nothing to compare directly, and no ceiling
        notes = sorted({c["note"] for c in h["ceilings"].values()})
        return title + [
            f"Splits {', '.join(h['ceilings'])}: {'; '.join(notes)}. Human data as matrices, ratings or "
            "triplets give direct scores and a noise ceiling (docs/human-data.md).",
            "",
        ]
    from imagespace.human.scores import summary_markdown

    return [*title, *summary_markdown(h), ""]


def curation(s: dict) -> list[str]:
    """Renderer: likely mislabels, outliers and duplicates (:func:`imagespace.curation.summary_markdown`)."""
    if not s.get("curation"):
        return []
    from imagespace.curation import summary_markdown

    return summary_markdown(s["curation"])
