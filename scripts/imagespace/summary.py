"""The per-dataset summary: one machine-readable JSON and one human-readable Markdown page."""

from __future__ import annotations

from pathlib import Path

from imagespace import headline
from imagespace.util import read_json

COMPARE_KEYS = (
    "disparity",
    "permutation_mean",
    "permutation_sd",
    "permutation_p",
    "z",
    "significant",
    "mean_r",
    "per_dim_r",
    "per_dim_r2",
    "ci95",
    "bootstrap_sd",
    "rdm",
    "cka",
    "category_rdm",
    "n",
    "k",
    "feature_dims",
    "reduction",
    "verdict",
)
BACKBONE_KEYS = (
    "framework",
    "network",
    "layer",
    "pooling",
    "input_size",
    "input",
    "source",
    "weights",
    "weights_sha256",
    "dims",
    "n",
    "n_constant",
    "device",
    "seconds",
)
CLUSTER_KEYS = (
    "k",
    "accuracy",
    "majority_accuracy",
    "ari",
    "nmi",
    "ari_subtype",
    "nmi_subtype",
    "n_noise",
    "sizes",
    "n",
    "strategy",
    "eps",
    "min_samples",
    "noise_fraction",
    "selection",
    "scale",
)


def build(
    dataset: str,
    ingest: str,
    pca: str,
    embed: list[str],
    maps: list[str],
    clustering: list[str],
    compare: list[str],
    human: list[str],
    cnn: list[str] = (),
    maps_human: list[str] = (),
    predicted: list[str] = (),
    predicted_from: str | None = None,
    train_split: str = "train",
    evaluation: list[str] = (),
    probes: list[str] = (),
    small_class_warning: int = 0,
    min_trustworthiness: float = 0.0,
    paired: list[str] | None = None,
    fitted_on: dict | None = None,
    backbones: list[str] = (),
    ensembles: list[str] = (),
    settings: dict | None = None,
    finetune: list[str] = (),
    retrieval: list[str] = (),
    explore: list[str] = (),
    notes: list[str] = (),
    degeneracy: dict | None = None,
) -> dict:
    """The summary of one dataset; *train_split* is the split the maps into the human space are trained on:
    the leaderboard's chosen representation is the one with the lowest out-of-fold disparity there
    (:func:`select_representation`; *fitted_on*: {feature set: why its *train_split* score is not held out},
    those are not chosen), so no held-out split ever selects. Classes with fewer than *small_class_warning*
    images (augmented copies not counted) and maps with a trustworthiness under *min_trustworthiness* are
    warnings. *paired*: the paired-bootstrap tables (compare/paired_<split>.tsv); None = those next to the
    *compare* results, where they exist. *backbones*: the backbones' features.json (network, layer, weights
    and their sha256). *ensembles*: the weights files of greedy ensembles (alignment/ensemble_<name>.json).
    *settings*: settings fixed in the config that a user may have tuned ({name: value}), listed under
    ``choices`` as "fixed in the config". *finetune*: the fine-tuned networks' training.json (epochs, how
    they were chosen, the out-of-fold disparity of the training rows). *retrieval*: the retrieval results
    (precision@k per split; every precision@k within 0.05 of chance is a warning). *explore*: the interactive
    map's description (explore/map.json, next to map.html). *notes*: what the defaults left out and why (a
    backbone skipped), listed atop summary.md after the warnings. *degeneracy*: the warning thresholds of
    ``embeddings.degeneracy`` (min_spread_ratio, max_far_share, max_spot_share) applied to every map's and
    embedding's stored degeneracy numbers (:func:`imagespace.degeneracy.problems`)."""
    ing = read_json(ingest)
    pc = read_json(pca)
    out = {
        "dataset": dataset,
        "n_images": ing["n_images"],
        "n_skipped": ing["n_skipped"],
        "skipped_by_kind": ing["skipped_by_kind"],
        "splits": ing["splits"],
        "classes": ing["classes"],
        "image_shape": ing["shape"],
        "ingest": {
            k: (ing.get("duplicates") or {}).get(k)
            for k in (
                "duplicate_groups",
                "duplicate_images",
                "identical_groups",
                "cross_split_duplicates",
                "mixed_label_duplicates",
                "dropped",
                "cross_split_remaining",
            )
        }
        | {"selection": ing.get("selection")},
        "pca": pc,
        "embeddings": {},
        "maps": {},
        "trustworthiness": {},
        "degeneracy": {},
        "clustering": {},
        "clustering_by_feature_set": {},
        "compare": {},
        "human_checks": {},
        "cnn": {},
        "human_maps": {},
        "predicted_human_space": {},
        "classification": {},
        "probes": {},
        "backbones": {},
        "warnings": [],
        "notes": list(notes),
    }
    for path in backbones:
        r = read_json(path)
        out["backbones"][r.get("feature_set") or f"bb_{r['backbone']}"] = {k: r.get(k) for k in BACKBONE_KEYS}
    out["ensemble_weights"] = {}
    for path in ensembles:
        r = read_json(path)
        out["ensemble_weights"][r["ensemble"]] = {
            k: r.get(k)
            for k in ("select", "weights", "rounds", "disparity", "candidate_disparity", "chosen_on", "n_rows")
        } | {"out_of_fold_disparity": (r.get("out_of_fold") or {}).get("disparity")}
    out["finetune"] = {}
    for path in finetune:
        r = read_json(path)
        inner, oof = r.get("inner") or {}, r.get("out_of_fold") or {}
        out["finetune"][r["variant"]] = {
            "backbone": r.get("backbone"),
            "target": r.get("target"),
            "unfreeze": (r.get("settings") or {}).get("unfreeze"),
            "epochs": r.get("epochs"),
            "epochs_setting": r.get("epochs_setting"),
            "epochs_why": inner.get("why"),
            "n_train": r.get("n_train"),
            "train_split": r.get("train_split"),
            "out_of_fold_disparity": oof.get("disparity"),
            "out_of_fold_folds": oof.get("folds"),
            "fold_epochs": [f["epochs"] for f in oof.get("per_fold", [])] or None,
            "weights_sha256": r.get("weights_sha256"),
            "seconds": r.get("seconds"),
        }
    add_classification(out, evaluation)
    add_probes(out, probes)
    add_retrieval(out, retrieval, train_split, fitted_on)
    out["interactive_map"] = None
    for path in explore:
        r = read_json(path)
        out["interactive_map"] = {"page": str(Path(path).with_suffix(".html")), **r}
    for path in predicted:
        fs = Path(path).stem
        n = sum(1 for _ in open(path, encoding="utf-8")) - 1
        out["predicted_human_space"][fs] = {
            "table": str(path),
            "map": str(Path(path).with_name(f"{fs}_map.png")),
            "n_images": n,
            "models_from": predicted_from,
        }
    for path in maps_human:
        r = read_json(path)
        out["human_maps"][f"human_pred_{r['base']}"] = r
        far = r.get("extreme_rows") or []
        if far:
            out["warnings"].append(
                f"human_pred_{r['base']}: {len(far)} image(s) predicted at least 10x the median distance of the training "
                f"predictions from their centre (farthest: {far[0]['id']}, {far[0]['ratio']:g}x): they dominate the "
                "disparity of their split; their features lie outside the range the map was fitted on"
            )
    for path in cnn:
        r = read_json(path)
        entry = out["cnn"].setdefault(r["variant"], {})
        if Path(path).name == "training.json":
            entry.update(
                {
                    k: r.get(k)
                    for k in (
                        "val_accuracy",
                        "best_epoch",
                        "epochs_run",
                        "train_seconds",
                        "n_params",
                        "n_bias_params",
                        "train_accuracy",
                        "why",
                        "device",
                        "n_train",
                        "n_val",
                        "validation",
                        "checkpoint_split",
                        "target",
                        "stopped_early",
                    )
                }
            )
            if r.get("nan_loss"):
                out["warnings"].append(
                    f"cnn {r['variant']}: the training loss became NaN (training diverged); "
                    "lower cnn.optimizer.learning_rate"
                )
        else:
            entry["dead_units"] = r["dead_units"]
            entry["feature_dims"] = r["dims"]
            if r["dead_units"] and len(r["dead_units"]) == r["dims"]:
                out["warnings"].append(
                    f"cnn {r['variant']}: all {r['dims']} penultimate units are dead (the same value for "
                    "every image): the network collapsed and its features carry no information; "
                    "try another cnn.seed or a lower cnn.optimizer.learning_rate"
                )
            elif r["dead_units"]:
                out["warnings"].append(
                    f"cnn {r['variant']}: {len(r['dead_units'])} of {r['dims']} penultimate units dead: {r['dead_units']}"
                )
    for path in embed:
        info = read_json(path)
        out["embeddings"][info["method"]] = {k: v for k, v in info.items() if k != "input"}
        if info.get("trustworthiness"):
            out["trustworthiness"][f"{info['method']} ({info['n_components']}-D)"] = info["trustworthiness"]
        if info.get("degeneracy"):
            out["degeneracy"][f"{info['method']} ({info['n_components']}-D)"] = info["degeneracy"]
    for path in maps:
        info = read_json(path)
        for name, t in (info.get("trustworthiness_by_map") or {}).items():  # the PCA and t-SNE maps of a CNN's features
            out["trustworthiness"][f"{info['method']} {name} map"] = t
        for name, d in (info.get("degeneracy_by_map") or {}).items():
            out["degeneracy"][f"{info['method']} {name} map"] = d
        if info.get("trustworthiness"):
            out["trustworthiness"][f"{info['method']} map"] = info["trustworthiness"]
        if info.get("degeneracy"):
            out["degeneracy"][f"{info['method']} map"] = info["degeneracy"]
        if "params" in info:  # an embedding method's map (the PCA map has no parameters)
            out["maps"][info["method"]] = {k: v for k, v in info.items() if k != "input"}
    for path in clustering:
        r = read_json(path)
        fs, method = Path(path).parts[-3], Path(path).parts[-2]
        entry = {"feature_set": fs, **{k: r.get(k) for k in CLUSTER_KEYS}}
        out["clustering_by_feature_set"].setdefault(fs, {})[method] = entry
        out["clustering"].setdefault(method, entry)  # the first configured feature set
    for path in compare:
        r = read_json(path)
        out["compare"].setdefault(r["feature_set"], {})[r["split"]] = {k: r.get(k) for k in COMPARE_KEYS}
        if not r["significant"]:
            out["warnings"].append(f"compare {r['feature_set']}/{r['split']}: {r['verdict']}")
    for path in human:
        r = read_json(path)
        out["human_checks"][r["split"]] = r
        for key in ("label", "subtype"):
            if key in r and not r[key]["significant"]:
                out["warnings"].append(f"human space {r['split']}: no {key} structure — {r[key]['verdict']}")
    out["alignment_splits"] = split_order({sp for v in out["compare"].values() for sp in v}, train_split)
    out["alignment_selection"] = select_representation(out["compare"], train_split, fitted_on)
    chosen = (out["alignment_selection"] or {}).get("chosen")
    out["alignment_paired"] = paired_summary(
        paired_tables(compare) if paired is None else list(paired), out["compare"], chosen
    )
    out["alignment"] = (
        leaderboard(out["compare"], out["alignment_splits"], out["alignment_paired"], out["alignment_selection"])
        if out["compare"]
        else []
    )
    out["choices"] = choices(out, settings or {})
    # outside_root and too_large have warnings of their own (ingest.json); hidden files are only counted
    problems = {
        k: v
        for k, v in ing["skipped_by_kind"].items()
        if k not in (*CHOSEN_SKIPS, "outside_root", "too_large", "hidden")
    }
    if problems:
        out["warnings"].append(
            f"{sum(problems.values())} files/rows skipped at ingest ({problems}); see ingest/skipped.tsv"
        )
    out["warnings"] += ing.get("warnings", [])  # safety skips, one class, a class from one folder
    out["warnings"] += small_class_warnings(ing, small_class_warning)
    out["warnings"] += degeneracy_warnings(out, degeneracy or {})
    out["warnings"] += trustworthiness_warnings(out, min_trustworthiness)
    out["warnings"] += duplicate_warnings(ing.get("duplicates") or {})
    out["warnings"] += clustering_warnings(out)
    out["headline"] = headline.best(out)  # the answer summary.md leads with
    out["warnings"] += headline.warnings(out)
    return out


def clustering_warnings(out: dict) -> list[str]:
    """Degenerate clusterings, and DBSCAN scans whose best score is no better than on structureless data."""
    warn = []
    for fs, by_method in out["clustering_by_feature_set"].items():
        for method, e in by_method.items():
            w = degenerate_clustering(e)
            if w:
                warn.append(f"clustering {method} on {fs}: {w}")
            sel = e.get("selection") or {}
            if sel.get("beats_null") is False:
                warn.append(
                    f"clustering {method} on {fs}: its best scan score ({sel['score']:.3f}) is no higher than the same "
                    f"scan gives on structureless Gaussian data of the same covariance ({sel['null_score']:.3f}): "
                    f"its {e.get('k')} clusters need not be structure"
                )
    return warn


# images left out on purpose by a selection setting (listed in skipped.tsv, not a problem of the input)
CHOSEN_SKIPS = ("small_class", "not_selected", "balance", "duplicate")


def small_class_warnings(ing: dict, threshold: int) -> list[str]:
    """A warning naming the classes with fewer than *threshold* images of their own (augmented copies not counted)."""
    copies = ((ing.get("selection") or {}).get("balance") or {}).get("per_class") or {}
    own = {c: n - (copies.get(c) or {}).get("added", 0) for c, n in ing["classes"].items()}
    small = {c: n for c, n in own.items() if n < threshold}
    if not small:
        return []
    listed = ", ".join(f"{c} ({n})" for c, n in sorted(small.items(), key=lambda kv: kv[1])[:10])
    more = f" and {len(small) - 10} more" if len(small) > 10 else ""
    return [
        f"{len(small)} of {len(own)} classes have fewer than {threshold} images (small_class_warning): {listed}{more}; "
        "their per-class scores rest on very few images"
    ]


def degeneracy_warnings(out: dict, thresholds: dict) -> list[str]:
    """Warnings for degenerate maps and embeddings (collapsed, piled onto spots, dominated by far points), from the
    numbers stored beside their trustworthiness and the ``embeddings.degeneracy`` *thresholds*."""
    from imagespace.degeneracy import problems, settings

    limits = {**settings(), **thresholds}
    keys = ("min_spread_ratio", "max_far_share", "max_spot_share")
    warn = []
    for name, d in sorted((out.get("degeneracy") or {}).items()):
        found = problems(d, **{k: limits[k] for k in keys})
        if found:
            warn.append(f"{name} is degenerate: {'; '.join(found)}")
    return warn


def trustworthiness_warnings(out: dict, threshold: float) -> list[str]:
    """Warnings for maps and embeddings whose trustworthiness is under *threshold*."""
    warn = []
    for name, t in sorted(out["trustworthiness"].items()):
        if t.get("value") is not None and t["value"] < threshold:
            warn.append(
                f"{name}: trustworthiness {t['value']:.3f} < {threshold:g} (embeddings.trustworthiness.warn_below): "
                f"many of the neighbours it shows are not neighbours in {t.get('space') or 'its input'}; "
                "read its layout with care"
            )
    return warn


def duplicate_warnings(d: dict) -> list[str]:
    """Warnings for duplicate images that cross splits (leakage) or carry different labels (label noise)."""
    out = []
    if d.get("cross_split_remaining"):
        out.append(
            f"{d['cross_split_remaining']} groups of duplicate images span splits: held-out images were also trained on, "
            "so held-out scores are optimistic (ingest/duplicates.tsv; duplicates.dedupe: keep_first drops the copies)"
        )
    if d.get("mixed_label_duplicates"):
        out.append(
            f"{d['mixed_label_duplicates']} groups of duplicate images carry different labels (ingest/duplicates.tsv)"
        )
    return out


# a clustering is degenerate when it has one cluster or one cluster holds more than this share of the images
DOMINANT_SHARE = 0.9


def degenerate_clustering(e: dict) -> str | None:
    """Why a clustering result says nothing about structure (one cluster, or one cluster holding > 90%), or None."""
    sizes = {k: v for k, v in (e.get("sizes") or {}).items() if k != "-1"}
    n = e.get("n") or sum((e.get("sizes") or {}).values())
    if e.get("k") == 0 or (e.get("sizes") and not sizes):
        return f"no cluster: all {n} images are noise"
    if e.get("k") == 1 or len(sizes) == 1:
        noise = f", {e.get('n_noise')} noise points" if e.get("n_noise") else ""
        return f"one cluster (k = 1{noise}): no structure found"
    if sizes and n and max(sizes.values()) > DOMINANT_SHARE * n:
        return f"one cluster holds {max(sizes.values())} of {n} images (> {DOMINANT_SHARE:.0%}): hardly any structure found"
    return None


EVAL_KEYS = (
    "n",
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "majority_rate",
    "majority_class",
    "chance_rate",
    "per_class",
    "confusion",
    "confusion_normalized",
    "most_confused",
    "chose_checkpoint",
)


def add_classification(out: dict, paths) -> None:
    """classification.<model>.<split> from the CNNs' evaluation.json files (the class CNN is <variant>; a
    metric-learning variant gives <variant>_nearest_centroid and <variant>_mlp), and their warnings."""
    from imagespace.util import read_json

    for path in paths:
        r = read_json(path)
        v = r["variant"]
        for clf, by_split in r["classifiers"].items():
            name = v if clf == "softmax" else f"{v}_{clf}"
            out["classification"][name] = {sp: {k: m.get(k) for k in EVAL_KEYS} for sp, m in by_split.items()}
            out["classification"][name]["headline_split"] = r["headline_split"]
        out["cnn"].setdefault(v, {})["train_modes"] = r["train_modes"]
        out["warnings"].extend(r["warnings"])


def add_probes(out: dict, paths) -> None:
    """probes.<feature set>.<probe> = headline scores (+ every split's full metrics under by_split). A feature set
    whose best probe is within 0.05 of chance (the majority-class rate or the shuffled-label accuracy), and a
    probe that could not be run, are warnings."""
    from imagespace.evaluation import probe_scores
    from imagespace.util import read_json

    for path in paths:
        r = read_json(path)
        fs = r["feature_set"]
        scores = probe_scores(r)
        for note in r.get("notes", []):
            out["warnings"].append(f"probes {fs}: {note}")
        if not scores:
            continue
        out["probes"][fs] = {
            p: {
                **sc,
                "by_split": {
                    **{sp: r["holdout"][sp][p] for sp in r["holdout"]},
                    **({"cv_" + r["train_split"]: r["cv"][p]} if p in r["cv"] else {}),
                },
            }
            for p, sc in scores.items()
        }
        best = max(sc["accuracy"] for sc in scores.values())
        base = max(
            max(sc["majority_rate"] for sc in scores.values()),
            max((sc["shuffled_accuracy"] or 0.0) for sc in scores.values()),
        )
        if best <= base + 0.05:
            out["warnings"].append(
                f"probes {fs}: best probe accuracy {best:.3f} on {r['headline']} is within 0.05 of chance "
                f"({base:.3f}, majority class or shuffled labels): this representation does not separate the classes"
            )


def add_retrieval(out: dict, paths, train_split: str = "train", fitted_on: dict | None = None) -> None:
    """retrieval.<feature set> = {metric, gallery_split, n_gallery, label, headline, ks, splits: {split: {n, chance,
    precision: {k: {mean, ci}}, in_sample}}}; the results' own warnings (every precision@k within 0.05 of chance) join the
    summary's. A split the feature set was fitted on (*fitted_on*: {feature set: why} for *train_split*: a network
    trained on its labels, say) gets ``in_sample``: its neighbours there are not those of new images."""
    out["retrieval"] = {}
    for path in paths:
        r = read_json(path)
        entry = {
            k: r.get(k)
            for k in ("metric", "gallery_split", "n_gallery", "label", "headline", "ks", "splits", "gallery_dataset")
        }
        why = (fitted_on or {}).get(r["feature_set"])
        for sp, v in entry["splits"].items():
            v["in_sample"] = why if (why and sp == train_split and not r.get("gallery_dataset")) else None
        out["retrieval"][r["feature_set"]] = entry
        out["warnings"].extend(r.get("warnings", []))


def split_order(splits, train_split: str = "train") -> list[str]:
    """The splits in leaderboard order: those the maps into the human space were not trained on first
    (held out from every map and every network trained on human coordinates), the training split last."""
    return sorted(splits, key=lambda sp: (sp == train_split, sp))


def choices(s: dict, settings: dict) -> list[dict]:
    """How every setting that decides a reported number was made: ``{what, value, how, data}``, where data
    says which rows the choice looked at ("training split, out-of-fold", "none: fixed in the config", ...)."""
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
    for fs, r in s["human_maps"].items():
        fp = r.get("final_penalty") or {}
        value = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in fp.items())
        out.append(
            {
                "what": f"{fs}: map and its penalty",
                "value": value or r.get("method"),
                "how": f"{r.get('method')}: inner cross-validation within each of the {r.get('outer_folds')} outer folds "
                f"(out-of-fold rows), then on all {r.get('n_train')} training rows",
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
                "data": "none seen by the workflow (if it was tuned by comparing held-out scores, those scores are optimistic)",
            }
        )
    return out


def select_representation(compare: dict, split: str, fitted_on: dict | None = None) -> dict | None:
    """The representation the leaderboard recommends, chosen on the maps' training split *split* alone.

    Its rows are out-of-fold predictions (``human_pred_<x>``, ensembles of them) or representations
    fitted without any human data, so the lowest disparity there is an honest choice; the held-out
    splits then measure the chosen row without having selected it. Feature sets in *fitted_on*
    ({name: reason}: e.g. a CNN trained on that split's labels, whose rows of it are fitted, not
    held out) are not eligible. None when no feature set is compared on *split*.
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


def paired_tables(compare_paths) -> list[str]:
    """The paired-bootstrap tables next to the compare results (results/<d>/compare/paired_<split>.tsv) that exist."""
    out = []
    for path in compare_paths:
        p = Path(path)
        table = p.parents[1] / f"paired_{p.stem}.tsv"
        if table.exists() and str(table) not in out:
            out.append(str(table))
    return out


def paired_summary(paths, compare: dict, chosen: str | None = None) -> dict:
    """alignment_paired.<split>: the paired bootstrap of every two feature sets of the split (``pairs``, one
    entry per statistic and pair, as in compare/paired_<split>.tsv) and the top row (*chosen*, the row
    :func:`select_representation` chose, when it is compared on the split; else the split's lowest disparity) against
    every other row (``versus_top``: {statistic: {other: diff = top - other, CI, p, p_adjusted (corrected over
    the top row's comparisons), beaten}}), with ``top_beats`` / ``not_beaten``: the rows the top row is / is not
    significantly closer to the human space than (disparity)."""
    import pandas as pd

    from imagespace.paired import METRICS, versus_top

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
    compare: dict, splits: list[str], paired: dict | None = None, selection: dict | None = None
) -> list[dict]:
    """One row per feature set, columns split x metric. With *selection* (:func:`select_representation`)
    the rows are ranked by the selection split's out-of-fold disparity (the chosen row first, ``chosen``
    true), and rows not eligible there follow, by the other splits; without it, best first by the
    disparity on *splits* in order (:func:`split_order`: the held-out splits first). With *paired*
    (:func:`paired_summary`): each row's paired comparison with the split's top row
    (``<split>_vs_top_p``: corrected p of the disparity difference; ``<split>_beaten_by_top``: the top
    row is significantly closer; ``<split>_rho_vs_top_p``: the same for the RDM Spearman rho)."""
    rows = []
    for fs, by_split in compare.items():
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
        rows.append(row)
    key = [f"{sp}_disparity" for sp in splits]
    rank = {fs: i for i, fs in enumerate((selection or {}).get("ranked", []))}
    for r in rows:
        r["selection_rank"] = rank[r["feature_set"]] + 1 if r["feature_set"] in rank else None
        r["chosen"] = bool(selection) and r["feature_set"] == selection["chosen"]
    rows.sort(key=lambda r: (rank.get(r["feature_set"], len(rank)), tuple(r.get(k, 2.0) for k in key)))
    return rows


def _some(names, n: int = 6) -> str:
    names = list(names)
    return ", ".join(names[:n]) + (f", … {len(names) - n} more" if len(names) > n else "")


def _f(v, fmt="{:.3f}"):
    return "–" if v is None else (fmt.format(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v))


def _p(v, relation: bool = False) -> str:
    """A permutation p-value: below 0.001 (or 0.0001) as a bound, as the convention is, otherwise to 4 places
    (after "= " with *relation*)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        for bound in (0.0001, 0.001):
            if v < bound:
                return f"< {bound:g}"
    return ("= " if relation and v is not None else "") + _f(v, "{:.4f}")


def _strategy(st: dict | None) -> str:
    """How a method ran: exact, or the scalable strategy and on how many points."""
    if not st or st.get("name") == "exact":
        return "all points" + (f" ({st['solver'].replace('_', '-')})" if st and st.get("solver") else "")
    if st["name"] == "landmarks":
        return f"{st['n_landmarks']} landmarks + {st['extension']} for {st['n_extended']}"
    if st["name"] == "subsample" and "n_tree" in st:
        return f"tree on {st['n_tree']}, {st['n_assigned']} to the nearest centroid"
    if st["name"] == "subsample":
        return f"fitted on {st['n_fit']}, {st['n_assigned']} to the {st['assignment']}"
    if st["name"] == "sampled silhouettes":
        return f"silhouettes on a sample of {st['silhouette_sample']}"
    return str(st)


def selection_line(sel: dict) -> str:
    """What the selection settings left out and added (ingest.json selection), in words; "" when nothing."""
    parts = []
    if sel.get("small_classes_dropped"):
        parts.append(f"classes dropped (min_per_class): {', '.join(map(str, sel['small_classes_dropped']))}")
    for key, what in (("max_per_class_left_out", "max_per_class"), ("subsample_left_out", "subsample")):
        if sel.get(key):
            parts.append(f"{sel[key]} images left out by {what}")
    b = sel.get("balance")
    if b:
        parts.append(
            f"{b['split']} split balanced to {b['target']} per class: {b['dropped']} images left out, {b['added']} "
            f"flipped/turned copies added"
            + (f", {len(b['short_of_target'])} classes short" if b["short_of_target"] else "")
        )
    return "; ".join(parts)


def markdown(s: dict) -> str:
    pc = s["pca"]
    lines = [
        f"# imagespace summary: {s['dataset']}",
        "",
        *headline.markdown(s.get("headline") or {}),
        f"- images: **{s['n_images']}** ({', '.join(f'{k}: {v}' for k, v in s['splits'].items())}), "
        f"shape {s['image_shape']}, skipped {s['n_skipped']}"
        + (
            f" ({chosen} of them left out by the selection settings)"
            if (chosen := sum(v for k, v in s["skipped_by_kind"].items() if k in CHOSEN_SKIPS))
            else ""
        ),
        f"- classes: {', '.join(f'{k} ({v})' for k, v in s['classes'].items())}",
        *(
            [
                f"- duplicates: {d['duplicate_groups']} groups ({d['duplicate_images']} images), {d['cross_split_duplicates']} spanning "
                f"splits, {d['mixed_label_duplicates']} with different labels, {d['dropped']} dropped (ingest/duplicates.tsv)"
            ]
            if (d := s.get("ingest") or {}).get("duplicate_groups") is not None
            else []
        ),
        *(
            [f"- selection: {selection_line(sel)}"]
            if (sel := (s.get("ingest") or {}).get("selection") or {}) and selection_line(sel)
            else []
        ),
        f"- PCA ({pc['method']}, fitted on {pc['fit_split']}, {pc['n_fit']} × {pc['n_features']}): "
        f"**{pc['n_components_for_threshold']}** components for > {pc['threshold']:.0%} variance; "
        f"PC1 {pc['pc1_variance_ratio']:.3f}, PC2 {_f(pc['pc2_variance_ratio'])}",
        "",
    ]
    if s["warnings"]:
        lines += ["## Warnings", ""] + [f"- {w}" for w in s["warnings"]] + [""]
    if s.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in s["notes"]] + [""]
    if im := s.get("interactive_map"):
        lines += [
            f"**Interactive map: [{Path(im['page']).name}](explore/{Path(im['page']).name})** (open it in a browser, "
            f"offline): {im['n_points']} images on {len(im['maps'])} maps ({_some(im['maps'])}), coloured by any of "
            f"{len(im['colourings'])} variables ({_some(im['colourings'])}); hover a point for its image "
            f"({im['n_thumbnails']} with a thumbnail), highlight a class or cluster.",
            "",
        ]
    if s["alignment"]:
        splits = s["alignment_splits"]
        paired = s.get("alignment_paired") or {}
        sel = s.get("alignment_selection")
        lines += ["## Leaderboard: which representation matches the human space", ""]
        if sel:
            held = [sp for sp in splits if sp != sel["split"]]
            r0 = next(r for r in s["alignment"] if r["feature_set"] == sel["chosen"])
            lines += [
                f"**Chosen representation: `{sel['chosen']}`**, the lowest out-of-fold disparity on `{sel['split']}` "
                f"({sel['disparity']:.3f}) among {len(sel['ranked'])} eligible feature sets; "
                + (
                    f"no other split was looked at, so its {', '.join(held)} "
                    + " / ".join(
                        f"disparity {_f(r0.get(f'{sp}_disparity'))} [{_f(r0.get(f'{sp}_ci95_low'))}, "
                        f"{_f(r0.get(f'{sp}_ci95_high'))}]"
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
        lines += [
            "Procrustes disparity (bootstrap 95% CI, permutation p against shuffled rows), RDM Spearman ρ and linear CKA; "
            + (
                f"ranked by the out-of-fold disparity on `{sel['split']}` (rows not eligible last), never by a held-out split. "
                if sel
                else "best first. "
            )
            + "`human_pred_<x>` rows are cross-validated linear maps of <x> into the human space "
            "(out-of-fold on the split they were trained on). "
            "vs top: the paired-bootstrap p of the disparity difference to the split's top row (the chosen one) "
            + (
                f"({next(iter(paired.values()))['correction']}-corrected over the top row's comparisons); "
                "**✓** = the top row is significantly closer to the human space; **closer** = this row is significantly "
                "closer than the chosen top row on that split (which the choice, made on the training split, cannot see)."
                if paired
                else "(not computed)."
            ),
            "",
            "| feature set | " + " | ".join(f"{sp}: disparity [95% CI] | ρ | CKA | vs top" for sp in splits) + " |",
            "|---|" + "---|---|---|---|" * len(splits),
        ]
        for r in s["alignment"]:
            cells = []
            for sp in splits:
                if f"{sp}_disparity" in r:
                    top = (paired.get(sp) or {}).get("top")
                    closer = r["feature_set"] in ((paired.get(sp) or {}).get("beat_top") or [])
                    mark = "**✓** " if r.get(f"{sp}_beaten_by_top") else ("**closer** " if closer else "")
                    vs = (
                        "top"
                        if r["feature_set"] == top
                        else f"{mark}p {_p(r.get(f'{sp}_vs_top_p'), relation=True)}"
                        if r.get(f"{sp}_vs_top_p") is not None
                        else "–"
                    )
                    cells.append(
                        f"{_f(r[f'{sp}_disparity'])} [{_f(r[f'{sp}_ci95_low'])}, {_f(r[f'{sp}_ci95_high'])}], "
                        f"p {_p(r[f'{sp}_permutation_p'], relation=True)} | "
                        f"{_f(r[f'{sp}_rdm_spearman'])} | {_f(r[f'{sp}_cka'])} | {vs}"
                    )
                else:
                    cells.append("– | – | – | –")
            name = f"**{r['feature_set']}** (chosen)" if r.get("chosen") else r["feature_set"]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
        for v, c in s["cnn"].items():
            if c.get("checkpoint_split") in splits:
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
        groups = [
            g for g in ("label", "subtype") if any(f"{sp}_tau_a_{g}" in r for r in s["alignment"] for sp in splits)
        ]
        if groups:

            def first(key):
                return next((x.get(key) for x in s["alignment"] if x.get(key) is not None), None)

            lines += [
                "### Category structure: Kendall τa of each RDM with the category RDMs (same group = 0, else 1)",
                "",
                "τa counts tied pairs as neither concordant nor discordant, so a 0/1 category RDM is not rewarded for its "
                "ties; its ceiling (an RDM with every between-group pair farther than every within-group pair) is the "
                "share of untied pairs, given in the header.",
                "",
                "| feature set | "
                + " | ".join(f"{sp}: {g} (max {_f(first(f'{sp}_tau_a_max_{g}'))})" for sp in splits for g in groups)
                + " |",
                "|---|" + "---|" * (len(splits) * len(groups)),
            ]
            for r in [
                {
                    "feature_set": "**human space**",
                    **{f"{sp}_tau_a_{g}": first(f"{sp}_human_tau_a_{g}") for sp in splits for g in groups},
                }
            ] + s["alignment"]:
                lines.append(
                    f"| {r['feature_set']} | "
                    + " | ".join(_f(r.get(f"{sp}_tau_a_{g}")) for sp in splits for g in groups)
                    + " |"
                )
            lines.append("")
    if s.get("backbones"):
        lines += [
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
                f"{r.get('weights')}{sha} | {r.get('dims')} | {r.get('device') or '–'} | {_f(r.get('seconds'), '{:.1f}')} |"
            )
        lines.append("")
    if s.get("finetune"):
        lines += [
            "## Fine-tuned networks (feature sets ft, ft_<name>)",
            "",
            "| variant | backbone | target | unfrozen blocks | epochs | training rows | out-of-fold disparity (folds) | seconds |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for v, r in s["finetune"].items():
            oof = (
                f"{_f(r.get('out_of_fold_disparity'))} ({r['out_of_fold_folds']})"
                if r.get("out_of_fold_folds")
                else "– (in-sample on the training split)"
            )
            lines.append(
                f"| {v} | {r.get('backbone')} | {r.get('target')} | {r.get('unfreeze')} | {r.get('epochs')} "
                f"({r.get('epochs_setting')}) | {r.get('n_train')} ({r.get('train_split')}) | {oof} | "
                f"{_f(r.get('seconds'), '{:.0f}')} |"
            )
        lines.append("")
    lines += markdown_probes(s)
    lines += markdown_retrieval(s)
    lines += markdown_classification(s)
    if s["compare"]:
        lines += [
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
                    f"| {fs} | {sp} | {r['n']} | {_f(r['disparity'])} | {_f(r['permutation_mean'])} ± "
                    f"{_f(r['permutation_sd'])} | {_p(r['permutation_p'])} | {_f(r['mean_r'])} | {flag} |"
                )
        lines.append("")
    if s["clustering_by_feature_set"]:
        lines += [
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
                    f"| {fs} | {m} | {r['k']} | {noise} | {_f(r['accuracy'], '{:.2%}')} | {_f(r['majority_accuracy'], '{:.2%}')} | "
                    f"{_f(r['ari'])} | {_f(r['nmi'])} | {_f(r['ari_subtype'])} | {_f(r['nmi_subtype'])} | "
                    f"{_strategy(r.get('strategy'))} |"
                )
        lines.append("")
    if s["human_checks"]:
        lines += [
            "## Human spaces",
            "",
            "| split | n | dims | label structure (within/between, p) | subtype structure |",
            "|---|---|---|---|---|",
        ]
        for sp, r in s["human_checks"].items():
            cells = [
                f"{_f(r[k]['ratio'])}, p={_p(r[k]['permutation_p'])}" if k in r else "–" for k in ("label", "subtype")
            ]
            lines.append(f"| {sp} | {r['n']} | {r['dims']} | {cells[0]} | {cells[1]} |")
        lines.append("")
    if s["cnn"]:
        lines += [
            "## CNN",
            "",
            "| variant | val accuracy | best epoch | epochs | train s | parameters | bias parameters | dead units | device |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for v, r in s["cnn"].items():
            lines.append(
                f"| {v} | {_f(r.get('val_accuracy'))} | {r.get('best_epoch')} | {r.get('epochs_run')} | {_f(r.get('train_seconds'), '{:.1f}')} | "
                f"{r.get('n_params'):,} | {r.get('n_bias_params'):,} | {r.get('dead_units')} | {r.get('device')} |"
            )
        lines.append("")
    if s.get("predicted_human_space"):
        lines += [
            "## Predicted human space (no human data used)",
            "",
            "Coordinates from the maps and networks fitted on another dataset; one table and one 2-D map per prediction.",
            "",
            "| prediction | models from | images | table | map |",
            "|---|---|---|---|---|",
        ]
        for fs, r in s["predicted_human_space"].items():
            lines.append(f"| {fs} | {r['models_from']} | {r['n_images']} | `{r['table']}` | `{r['map']}` |")
        lines.append("")
    if s.get("trustworthiness"):
        lines += [
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
                f"| {name} | {t['value']:.3f} | {t['n_neighbors']} | {rows} | {t['space']} | {_degeneracy_cells(deg.get(name))} |"
            )
        lines.append("")
    emb = list(s["embeddings"].values()) + list(s["maps"].values())
    if emb:
        lines += [
            "## Embeddings",
            "",
            "| method | k | fitted on | rows | strategy | parameters |",
            "|---|---|---|---|---|---|",
        ]
        for r in emb:
            m = r["method"]
            lines.append(
                f"| {m} | {r['n_components']} | {r['fit_split']} ({r['n_fit']}) | {r['n_rows']} | {_strategy(r.get('strategy'))} | "
                f"{', '.join(f'{k}={v}' for k, v in r['params'].items())} |"
            )
        lines.append("")
    return "\n".join(lines)


def _degeneracy_cells(d: dict | None) -> str:
    """The spread ratio, far and spot cells of a map's row ("-" without the numbers)."""
    if not d:
        return "- | - | -"
    held = d.get("held_out") or {}
    far = f"{d['n_far']}" + (f" (+{held['n_far']} of {held['n']} held out)" if held.get("n_far") else "")
    spots = f"{d['n_in_spots']} on {d['n_spots']}" if d["n_spots"] else "0"
    return f"{d['spread_ratio']:.3f} | {far} | {spots}"


#: rows of the split's leaderboard whose pairwise comparisons the summary page lists
PAIRED_TOP = 5


def markdown_paired(s: dict) -> list[str]:
    """Per split: which rows the top row beats, and the paired differences among the top PAIRED_TOP rows."""
    paired = s.get("alignment_paired") or {}
    lines = []
    for sp in s["alignment_splits"]:
        pr = paired.get(sp)
        if not pr:
            continue
        top5 = [r["feature_set"] for r in s["alignment"] if f"{sp}_disparity" in r][:PAIRED_TOP]  # leaderboard order
        lines += [
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
            f"- top row `{pr['top']}` ({'the chosen representation' if pr.get('top_is') == 'chosen' else 'lowest disparity here'}) is significantly closer to the human space (disparity, {pr['correction']} over its "
            f"{len(pr['top_beats']) + len(pr['not_beaten'])} comparisons, p < {pr['alpha']:g}) than "
            f"{len(pr['top_beats'])}: {', '.join(f'`{x}`' for x in pr['top_beats']) or 'none'}",
            f"- not distinguishable from it: {', '.join(f'`{x}`' for x in pr['not_beaten'] if x not in pr.get('beat_top', [])) or 'none'}",
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
        by = {(r["metric"], r["a"], r["b"]): r for r in pr["pairs"]}
        for i, a in enumerate(top5):
            for b in top5[i + 1 :]:
                cells = []
                for metric in ("disparity", "rdm_spearman"):
                    r, sign = by.get((metric, a, b)), 1
                    if r is None and (metric, b, a) in by:
                        r, sign = by[(metric, b, a)], -1
                    if r is None:
                        cells.append("– | – | –")
                        continue
                    lo, hi = (r["ci95_low"], r["ci95_high"]) if sign > 0 else (-r["ci95_high"], -r["ci95_low"])
                    cells.append(
                        f"{sign * r['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}] | {_p(r['p'])} | "
                        f"{'**' if r['significant'] else ''}{_p(r['p_adjusted'])}{'**' if r['significant'] else ''}"
                    )
                lines.append(f"| `{a}` − `{b}` | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def markdown_probes(s: dict) -> list[str]:
    if not s.get("probes"):
        return []
    probes = list(next(iter(s["probes"].values())))
    lines = [
        "## Probes: which representation separates the classes",
        "",
        "Classifiers on each feature set (standardised), fitted on the training split and scored on the held-out split named "
        "(test before validation; cv = cross-validation when there is none). Accuracy / macro-F1; the shuffled-label "
        "cross-validation gives the chance level.",
        "",
        "| feature set | split | " + " | ".join(f"{p}: acc / F1" for p in probes) + " | shuffled labels (best) |",
        "|---|---|" + "---|" * len(probes) + "---|",
    ]
    rows = sorted(s["probes"].items(), key=lambda kv: -max(v["accuracy"] for v in kv[1].values()))
    for fs, by_probe in rows:
        first = next(iter(by_probe.values()))
        cells = [
            f"{_f(by_probe[p]['accuracy'])} / {_f(by_probe[p]['macro_f1'])}" if p in by_probe else "–" for p in probes
        ]
        shuffled = [v["shuffled_accuracy"] for v in by_probe.values() if v["shuffled_accuracy"] is not None]
        lines.append(
            f"| {fs} | {first['split']} | " + " | ".join(cells) + f" | {_f(max(shuffled) if shuffled else None)} |"
        )
    return lines + [""]


def markdown_retrieval(s: dict) -> list[str]:
    if not s.get("retrieval"):
        return []
    first = next(iter(s["retrieval"].values()))
    ks = sorted({k for r in s["retrieval"].values() for k in r["ks"]})
    where = ("its source's" if first.get("gallery_dataset") else "the") + f" {first['gallery_split']!r} split"
    lines = [
        "## Find similar images: retrieval precision@k",
        "",
        f"For every image, its nearest neighbours ({first['metric']} distance) among the images of {where} "
        f"(an image is never its own neighbour; n gallery = how many it is ranked against). Precision@k = share of the k nearest with "
        f"the query's {first['label']}, averaged over a split's images [95% bootstrap interval]; chance = the share of the "
        "gallery with the query's label (a random ranking). Every image's neighbours: retrieval/<feature set>_neighbours.tsv; "
        "a gallery of examples: retrieval/<feature set>_gallery.png. † = the feature set was fitted on that split "
        "(its images are not new to it, so its neighbours there look better than new images' would).",
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
            v = r["splits"][sp]
            cells = [
                f"{_f(v['precision'][str(k)]['mean'])} [{_f(v['precision'][str(k)]['ci'][0])}, "
                f"{_f(v['precision'][str(k)]['ci'][1])}]"
                if str(k) in v["precision"]
                else "–"
                for k in ks
            ]
            loo = " (leave-one-out)" if v.get("leave_one_out") else ""
            loo += f" †in-sample: {v['in_sample']}" if v.get("in_sample") else ""
            lines.append(
                f"| {fs} | {sp}{loo} | {v['n']} | {r['n_gallery']} | " + " | ".join(cells) + f" | {_f(v['chance'])} |"
            )
    return lines + [""]


def markdown_classification(s: dict) -> list[str]:
    if not s.get("classification"):
        return []
    lines = [
        "## Classifiers on held-out splits",
        "",
        "The chosen CNN checkpoints (metric-learning variants through a nearest-centroid and an MLP classifier on the "
        "embedding), in inference mode. A split marked * chose the checkpoint, so its numbers are optimistic.",
        "",
        "| model | split | n | accuracy | balanced accuracy | macro-F1 | majority rate | most confused (true → predicted, count) |",
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
                f"| {model} | {sp}{star} | {m['n']} | {_f(m['accuracy'])} | {_f(m['balanced_accuracy'])} | {_f(m['macro_f1'])} | "
                f"{_f(m['majority_rate'])} | {conf} |"
            )
    modes = {v: c["train_modes"] for v, c in s["cnn"].items() if c.get("train_modes")}
    if modes:
        lines += [
            "",
            "Accuracy on the training split, inference mode vs training mode (each 256-image batch normalised by its own "
            "statistics; dropout and augmentation off): "
            + "; ".join(f"`{v}` {m['inference']:.3f} vs {m['training']:.3f}" for v, m in modes.items()),
        ]
    return lines + [""]


def plot_leaderboard(rows: list[dict], path, title: str = "", splits: list[str] = ()) -> None:
    """Horizontal bars of the disparity per feature set and split, with the bootstrap CI."""
    import numpy as np
    from matplotlib.figure import Figure

    from imagespace.util import save_figure

    fig = Figure(figsize=(8, 0.45 * max(3, len(rows)) + 1.2))
    ax = fig.subplots()
    y = np.arange(len(rows))
    h = 0.8 / max(1, len(splits))
    for j, sp in enumerate(splits):
        vals = np.array([r.get(f"{sp}_disparity", np.nan) for r in rows])
        lo = vals - np.array([r.get(f"{sp}_ci95_low", np.nan) for r in rows])
        hi = np.array([r.get(f"{sp}_ci95_high", np.nan) for r in rows]) - vals
        ax.barh(y + j * h, vals, height=h, xerr=[lo, hi], label=sp, capsize=2)
        beaten = [r.get(f"{sp}_beaten_by_top") for r in rows]
        marked = any(b is not None for b in beaten)
        for i, b in enumerate(beaten):  # rows the split's top row does not significantly beat (paired bootstrap)
            if marked and b is False and np.isfinite(vals[i]):
                ax.text(
                    min(0.99, vals[i] + (hi[i] if np.isfinite(hi[i]) else 0) + 0.01),
                    y[i] + j * h,
                    "n.s.",
                    va="center",
                    fontsize=7,
                )
    ax.set_yticks(
        y + h * (len(splits) - 1) / 2,
        [f"{r['feature_set']} (chosen)" if r.get("chosen") else r["feature_set"] for r in rows],
    )
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    paired = any(r.get(f"{sp}_beaten_by_top") is not None for r in rows for sp in splits)
    ranked = any(r.get("selection_rank") for r in rows)
    ax.set_xlabel(
        "Procrustes disparity vs human space (lower = closer), 95% bootstrap CI"
        + (
            "\nranked by the out-of-fold disparity on the maps' training split (held-out splits never rank)"
            if ranked
            else ""
        )
        + (
            "\nn.s. = not significantly farther than the chosen (top) row (paired bootstrap, corrected)"
            if paired
            else ""
        )
    )
    ax.set_title(title)
    ax.legend()
    save_figure(fig, path)
