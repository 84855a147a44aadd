"""The feature-set registry, without Snakemake: kinds, producing rules, coverage, and the configs it rejects."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from imagespace import config as iscfg  # noqa: E402
from imagespace.featuresets import Registry, RegistryError  # noqa: E402

BASE = {
    "datasets": {
        "shapes": {
            "source": {"type": "synthetic", "n_per_class": 10, "size": 16},
            "validation_fraction": 0.25,
            "human": {"builtin": True, "dims": 3},
        },
        "new": {"source": {"type": "synthetic", "n_per_class": 5, "size": 16, "seed": 9}},
    },
    "embeddings": {"methods": ["tsne", "lle", "isomap"], "fit_split": "train"},
    "stats": {"enabled": True},
    "backbones": {"enabled": []},  # the default (auto: efficientnet_lite0) has tests of its own below
}


def registry(**changes) -> Registry:
    cfg = copy.deepcopy(BASE)
    for path, value in changes.items():
        node = cfg
        *parents, last = path.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    iscfg.validate(cfg)
    return Registry(cfg)


def test_kinds_rules_and_what_each_set_is():
    reg = registry(
        cnn={"enabled": True, "variants": {"cnn": {}, "cnn_h": {"target": "human"}}},
        datasets__shapes__alignment={"ensembles": {"both": ["human_pred_pca", "cnn_h"]}},
    )
    sets = reg.sets("shapes")
    assert [s.kind for s in sets.values()][:2] == ["pixels", "descriptor"]
    assert sets["tsne"].kind == "embedding" and sets["tsne"].rule == "embed"
    assert sets["cnn"].kind == "cnn" and not sets["cnn"].human
    assert sets["cnn_h"].human and sets["cnn_h"].trained_on_human
    # mapped: pca, stats and the class CNN; the network trained on the human space is not mapped again
    assert [fs for fs, s in sets.items() if s.kind == "prediction"] == [
        "human_pred_pca",
        "human_pred_stats",
        "human_pred_cnn",
    ]
    assert sets["human_pred_pca"].base == "pca" and sets["human_pred_pca"].rule == "human_map"
    assert sets["ensemble_both"].members == ("human_pred_pca", "cnn_h") and sets["ensemble_both"].trained_on_human


def test_coverage_follows_transforms_and_training_split():
    reg = registry(cnn={"enabled": True, "variants": {"cnn_h": {"target": "human"}}})
    assert reg.covers("shapes", "lle", "validation")  # out-of-sample transform
    assert not reg.covers("shapes", "tsne", "validation")  # fitted on train only, no transform
    assert reg.covers("shapes", "tsne", "train")
    assert not reg.covers("shapes", "cnn_h", "train")  # never scored on the split it was trained on
    assert reg.covers("shapes", "cnn_h", "validation")
    assert ("tsne", "validation") not in reg.compare_pairs("shapes")


def test_every_enabled_embedding_is_compared_by_default_and_cnn_means_every_variant_everywhere():
    reg = registry(
        cnn={"enabled": True, "variants": {"cnn": {}, "cnn_b": {"seed": 2}}},
        clustering={"feature_sets": ["cnn"], "methods": ["kmeans"]},
    )
    compared = {fs for fs, _ in reg.compare_pairs("shapes")}
    assert {"pca", "stats", "lle", "isomap", "cnn", "cnn_b"} <= compared
    clustered = {fs for fs, _ in reg.cluster_targets("shapes")}
    assert {"cnn", "cnn_b"} <= clustered  # not only the variant literally named cnn
    assert "isomap" in reg.kd_embeddings("shapes")


def test_all_keyword_and_typos_in_feature_set_lists():
    reg = registry(clustering={"feature_sets": ["all"], "methods": ["kmeans"]})
    assert {fs for fs, _ in reg.cluster_targets("shapes")} == set(reg.feature_sets("shapes"))
    with pytest.raises(
        RegistryError, match=r"clustering.feature_sets: 'tnse' is not a feature set; did you mean 'tsne'"
    ):
        registry(clustering={"feature_sets": ["tnse"]})
    with pytest.raises(RegistryError, match=r"probes.feature_sets: 'pcaa' .*did you mean 'pca'"):
        registry(probes={"enabled": True, "feature_sets": ["pcaa"]})
    # a set that could exist but is not computed here (stats disabled) is ignored, as the defaults need
    reg = registry(stats={"enabled": False}, clustering={"feature_sets": ["pca", "stats"]})
    assert {fs for fs, _ in reg.cluster_targets("shapes")} == {"pca"}


def test_ensemble_cycles_unknown_members_and_members_that_do_not_predict_the_space():
    with pytest.raises(RegistryError, match=r"cycle: ensemble_a -> ensemble_b -> ensemble_a"):
        registry(
            datasets__shapes__alignment={"ensembles": {"a": ["ensemble_b", "human_pred_pca"], "b": ["ensemble_a"]}}
        )
    with pytest.raises(
        RegistryError,
        match=r"alignment.ensembles.a: member 'human_pred_pcaa' is not a feature set.*did you mean 'human_pred_pca'",
    ):
        registry(datasets__shapes__alignment={"ensembles": {"a": ["human_pred_pcaa"]}})
    with pytest.raises(RegistryError, match=r"member 'tsne' does not predict the human space"):
        registry(datasets__shapes__alignment={"ensembles": {"a": ["tsne"]}})


def test_greedy_ensembles_object_form_candidates_and_what_they_may_contain():
    reg = registry(
        datasets__shapes__alignment={
            "ensembles": {
                "best": {"candidates": ["human_pred_pca", "human_pred_stats"]},
                "avg": ["human_pred_pca", "ensemble_best"],
            }
        }
    )
    sets = reg.sets("shapes")
    best = sets["ensemble_best"]
    assert best.kind == "ensemble" and best.rule == "ensemble" and best.select == "greedy" and best.human
    assert best.members == ("human_pred_pca", "human_pred_stats")  # every candidate is an input
    # the defaults of the object form, also for an entry only the dataset sets (validation fills no override block)
    e = reg.ensemble_settings("shapes", "ensemble_best")
    assert e["select"] == "greedy" and e["max_rounds"] == 25 and e["key"] == "datasets.shapes.alignment.ensembles.best"
    assert e["owner"] == "shapes" and e["train_split"] == "train"
    # its training rows get weights chosen without their own fold (nested): scored on every split, as its members
    assert reg.covers("shapes", "ensemble_best", "train") and reg.covers("shapes", "ensemble_best", "validation")
    assert reg.covers("shapes", "ensemble_avg", "train") and sets["ensemble_avg"].select == "equal"
    assert not best.trained_on_human
    # the list form, and the object form with select: equal, average with equal weights as before
    reg2 = registry(
        datasets__shapes__alignment={
            "ensembles": {
                "eq": {"candidates": ["human_pred_pca", "human_pred_stats"], "select": "equal"},
                "lst": ["human_pred_pca", "human_pred_stats"],
            }
        }
    )
    for name in ("ensemble_eq", "ensemble_lst"):
        s = reg2.spec("shapes", name)
        assert s.select == "equal" and s.members == ("human_pred_pca", "human_pred_stats") and not s.trained_on_human
        assert reg2.covers("shapes", name, "train")


def test_greedy_ensemble_errors_name_the_key_and_the_candidate():
    cnn = {"enabled": True, "variants": {"cnn": {}, "cnn_h": {"target": "human"}}}
    with pytest.raises(
        RegistryError,
        match=r"datasets\.shapes\.alignment\.ensembles\.best: candidate 'cnn_h' is in-sample on the "
        r"training split \(it was fitted",
    ):
        registry(
            cnn=cnn, datasets__shapes__alignment={"ensembles": {"best": {"candidates": ["human_pred_stats", "cnn_h"]}}}
        )
    # a map of a network trained on the training split's labels: its out-of-fold rows there are still fitted rows
    with pytest.raises(
        RegistryError,
        match=r"ensembles\.best: candidate 'human_pred_cnn' is not out-of-fold on the training "
        r"split \(maps cnn, a network trained on the train split",
    ):
        registry(
            cnn=cnn,
            datasets__shapes__alignment={"ensembles": {"best": {"candidates": ["human_pred_cnn", "human_pred_pca"]}}},
        )
    # a greedy ensemble is out-of-fold on the training split (nested folds), so it may be a candidate itself
    registry(
        datasets__shapes__alignment={
            "ensembles": {
                "best": {"candidates": ["human_pred_pca"]},
                "top": {"candidates": ["ensemble_best", "human_pred_stats"]},
            }
        }
    )
    # equal weights choose nothing on those rows: the network may be averaged in (not scored on train)
    registry(
        cnn=cnn,
        datasets__shapes__alignment={
            "ensembles": {"both": {"candidates": ["human_pred_cnn", "cnn_h"], "select": "equal"}}
        },
    )
    with pytest.raises(
        RegistryError,
        match=r"ensembles\.best: candidate 'human_pred_pcaa' is not a feature set.*did you mean 'human_pred_pca'",
    ):
        registry(datasets__shapes__alignment={"ensembles": {"best": {"candidates": ["human_pred_pcaa"]}}})
    with pytest.raises(RegistryError, match=r"candidate 'tsne' does not predict the human space"):
        registry(datasets__shapes__alignment={"ensembles": {"best": {"candidates": ["tsne"]}}})
    with pytest.raises(RegistryError, match=r"cycle: ensemble_a -> ensemble_b -> ensemble_a"):
        registry(datasets__shapes__alignment={"ensembles": {"a": {"candidates": ["ensemble_b"]}, "b": ["ensemble_a"]}})
    # unknown keys and values of the object form are schema errors
    with pytest.raises(
        iscfg.ConfigError, match=r"alignment\.ensembles\.best\.selec: unknown key; did you mean `select`"
    ):
        registry(
            datasets__shapes__alignment={"ensembles": {"best": {"candidates": ["human_pred_pca"], "selec": "greedy"}}}
        )
    with pytest.raises(
        iscfg.ConfigError,
        match=r"datasets\.shapes\.alignment\.ensembles\.best\.select: 'gready' is not valid here "
        r"\('gready' is not one of \['greedy', 'equal'\]\)",
    ):
        registry(
            datasets__shapes__alignment={"ensembles": {"best": {"candidates": ["human_pred_pca"], "select": "gready"}}}
        )
    with pytest.raises(iscfg.ConfigError, match=r"ensembles\.best: .*'candidates' is a required property"):
        registry(datasets__shapes__alignment={"ensembles": {"best": {"select": "greedy"}}})


def test_a_predicting_dataset_uses_the_owners_greedy_ensemble():
    reg = registry(
        cnn={"enabled": True},
        datasets__shapes__alignment={
            "ensembles": {
                "best": {"candidates": ["human_pred_stats", "ensemble_eq"]},
                "eq": ["human_pred_stats"],
                "both": ["ensemble_best", "human_pred_cnn"],
            }
        },
        datasets__new__predict_human_space_from={"dataset": "shapes", "feature_sets": ["ensemble_both"]},
    )
    s = reg.spec("new", "ensemble_best")
    assert s.transferred and s.select == "greedy" and s.members == ("human_pred_stats", "ensemble_eq")
    e = reg.ensemble_settings("new", "ensemble_best")
    assert e["owner"] == "shapes" and e["key"] == "datasets.shapes.alignment.ensembles.best"
    assert reg.transferred("new") == [
        "stats",
        "human_pred_stats",
        "ensemble_eq",
        "ensemble_best",
        "cnn",
        "human_pred_cnn",
        "ensemble_both",
    ]


def test_predict_human_space_from_is_checked():
    with pytest.raises(RegistryError, match=r"datasets.new.predict_human_space_from: 'nope' is not another dataset"):
        registry(datasets__new__predict_human_space_from="nope")
    with pytest.raises(RegistryError, match=r"'new' is not another dataset"):
        registry(datasets__new__predict_human_space_from="new")
    with pytest.raises(RegistryError, match=r"feature_sets: 'human_pred_tsne' is not a transferable"):
        registry(datasets__new__predict_human_space_from={"dataset": "shapes", "feature_sets": ["human_pred_tsne"]})
    reg = registry(datasets__new__predict_human_space_from="shapes")
    # stats transfers (a fixed descriptor); the pca map does not (new images have their own PCA)
    assert reg.predicted_sets("new") == ["human_pred_stats"]
    assert reg.transferred("new") == ["stats", "human_pred_stats"]
    s = reg.spec("new", "human_pred_stats")
    assert s.transferred and s.rule == "human_map_apply" and s.human
    assert reg.model_owner("new") == "shapes"


def test_backbones_are_fixed_feature_sets_with_their_keyword_and_transfer_to_new_images():
    reg = registry(
        backbones={"enabled": ["resnet50", "vgg16"]},
        clustering={"feature_sets": ["bb"], "methods": ["kmeans"]},
        alignment={"map_feature_sets": ["stats", "bb"]},
        datasets__new__predict_human_space_from="shapes",
    )
    sets = reg.sets("shapes")
    bb = [fs for fs, s in sets.items() if s.kind == "backbone"]
    assert bb == ["bb_resnet50", "bb_vgg16"] and {sets[fs].rule for fs in bb} == {"backbone_features"}
    assert not sets["bb_resnet50"].human and reg.covers("shapes", "bb_resnet50", "train")  # nothing fitted: every split
    assert {fs for fs, _ in reg.cluster_targets("shapes")} == {"bb_resnet50", "bb_vgg16"}  # bb = every backbone
    assert {"bb_resnet50", "bb_vgg16"} <= {fs for fs, _ in reg.compare_pairs("shapes")}  # compare: all
    assert {"bb_resnet50", "human_pred_bb_vgg16"} <= set(reg.probe_sets("shapes"))
    assert reg.mapped_feature_sets("shapes") == ["stats", "bb_resnet50", "bb_vgg16"]
    # like stats, a backbone is not fitted on the data: its map into the human space predicts new images
    assert reg.predicted_sets("new") == ["human_pred_stats", "human_pred_bb_resnet50", "human_pred_bb_vgg16"]
    assert "bb_vgg16" in reg.transferred("new")
    s = reg.spec("new", "bb_vgg16")
    assert s.transferred and s.kind == "backbone" and s.rule == "backbone_features"
    assert reg.backbone_spec("shapes", "vgg16")["weights"] == "imagenet"


def test_backbone_settings_overrides_and_names_in_feature_set_lists():
    reg = registry(
        backbones={"enabled": ["resnet50"], "resnet50": {"layer": "conv4_block6_out"}},
        datasets__shapes__backbones={"enabled": ["mobilenetv2"], "mobilenetv2": {"pooling": "max"}},
        compare={"feature_sets": ["pca", "bb_resnet50", "bb_mobilenetv2"]},
    )
    assert reg.backbones("shapes") == ["mobilenetv2"] and reg.backbones("new") == ["resnet50"]
    assert reg.backbone_spec("shapes", "mobilenetv2")["pooling"] == "max"
    assert reg.backbone_spec("new", "resnet50")["layer"] == "conv4_block6_out"
    # a backbone that could be enabled but is not is ignored; a name that cannot be one is an error
    assert {fs for fs, _ in reg.compare_pairs("shapes") if not fs.startswith("human_pred_")} == {
        "pca",
        "bb_mobilenetv2",
    }
    with pytest.raises(
        RegistryError, match=r"compare.feature_sets: 'bb_resnet5' is not a feature set; did you mean 'bb_resnet50'"
    ):
        registry(compare={"feature_sets": ["bb_resnet5"]})
    with pytest.raises(iscfg.ConfigError, match=r"backbones.resnet50.pool: unknown key; did you mean `pooling`"):
        registry(backbones={"resnet50": {"pool": "avg"}})
    with pytest.raises(iscfg.ConfigError, match=r"datasets.shapes.backbones.enabled.0: 'resnet18' is not one of"):
        registry(datasets__shapes__backbones={"enabled": ["resnet18"]})


def test_finetune_schema_defaults_are_the_library_defaults():
    """The schema's finetune block and imagespace.nets.finetune.DEFAULTS (which rejects unknown keys) agree."""
    from imagespace.nets import finetune as finetune_torch

    props = iscfg.load_schema()["properties"]["finetune"]["properties"]
    assert set(props) - {"enabled", "variants"} == set(finetune_torch.DEFAULTS)
    for k, v in finetune_torch.DEFAULTS.items():
        assert props[k]["default"] == v, k


def test_finetune_variants_are_routed_and_only_out_of_fold_ones_are_eligible_or_greedy_candidates():
    base = {
        "datasets": {
            "d": {"source": {"type": "synthetic"}, "human": {"builtin": True, "dims": 3}, "validation_fraction": 0.25}
        },
        "stats": {"enabled": True},
        "finetune": {
            "enabled": True,
            "variants": {
                "ft": {},
                "ft_oof": {"out_of_fold": True},
                "ft_cls": {"target": "class"},
                "ft_tri": {"target": "triplet"},
            },
        },
    }
    reg = Registry(iscfg.validate(copy.deepcopy(base)))
    sets = reg.sets("d")
    assert {sets[v].rule for v in ("ft", "ft_oof", "ft_cls")} == {"finetune_features"}
    assert sets["ft"].human and sets["ft"].trained_on_human  # in-sample on the training split
    assert sets["ft_oof"].human and not sets["ft_oof"].trained_on_human  # out-of-fold there, like a map
    assert sets["ft_cls"].kind == "cnn" and not sets["ft_cls"].human
    # predictions of the human space are not mapped again; the class network's features are
    assert "human_pred_ft" not in sets and "human_pred_ft_oof" not in sets and "human_pred_ft_cls" in sets
    pairs = reg.compare_pairs("d")
    assert ("ft", "train") not in pairs and ("ft", "validation") in pairs and ("ft_oof", "train") in pairs
    fitted = reg.fitted_on("d", "train")
    assert set(fitted) == {"ft", "ft_cls", "human_pred_ft_cls", "ft_tri", "human_pred_ft_tri"}
    assert "labels" in fitted["ft_cls"] and "labels" in fitted["ft_tri"] and not sets["ft_tri"].human
    assert reg.fixed_settings("d")["finetune.variants.ft_oof.unfreeze"] == 2
    # the library's checks run at start-up and name the variant's key
    bad = copy.deepcopy(base)
    bad["finetune"]["variants"]["ft_x"] = {"target": "class", "out_of_fold": True}
    with pytest.raises(RegistryError, match=r"datasets\.d\.finetune\.variants\.ft_x: finetune\.out_of_fold"):
        Registry(iscfg.validate(bad))
    # a dataset predicting from d trains nothing: it applies d's networks
    pred = copy.deepcopy(base)
    pred["datasets"]["new"] = {
        "source": {"type": "synthetic"},
        "predict_human_space_from": {"dataset": "d", "feature_sets": ["ft_oof"]},
    }
    reg = Registry(iscfg.validate(pred))
    assert reg.finetune_variants("new") == [] and reg.sets("new")["ft_oof"].transferred
    assert "ft" not in reg.sets("new") and "ft_cls" not in reg.sets("new")
    ok = copy.deepcopy(base)
    ok["alignment"] = {"ensembles": {"g": {"candidates": ["human_pred_stats", "ft_oof"], "select": "greedy"}}}
    assert Registry(iscfg.validate(ok)).sets("d")["ensemble_g"].members == ("human_pred_stats", "ft_oof")
    for bad, why in (("ft", "in-sample"), ("human_pred_ft_cls", "not out-of-fold")):
        cfg = copy.deepcopy(base)
        cfg["alignment"] = {"ensembles": {"g": {"candidates": ["human_pred_stats", bad], "select": "greedy"}}}
        with pytest.raises(RegistryError, match=rf"ensembles\.g: candidate '{bad}' is {why}"):
            Registry(iscfg.validate(cfg))
    cfg = copy.deepcopy(base)
    cfg["finetune"]["variants"]["ft_x"] = {"unfreez": 3}
    with pytest.raises(iscfg.ConfigError, match="unfreez"):
        iscfg.validate(cfg)


def test_backbone_variants_are_feature_sets_with_the_base_settings_overridden():
    base = {
        "datasets": {
            "d": {"source": {"type": "synthetic"}, "human": {"builtin": True, "dims": 3}, "validation_fraction": 0.25}
        },
        "backbones": {
            "enabled": ["efficientnet_lite0", "resnet50"],
            "efficientnet_lite0": {
                "size": 96,
                "tta": ["hflip"],
                "variants": {"b6": {"layer": "_blocks.6"}, "big": {"size": 160}},
            },
            "resnet50": {"variants": {"c4": {"layer": "conv4_block6_out"}}},
        },
    }
    reg = Registry(iscfg.validate(copy.deepcopy(base)))
    assert [fs for fs, _, _ in reg.backbone_sets("d")] == [
        "bb_efficientnet_lite0",
        "bb_efficientnet_lite0_b6",
        "bb_efficientnet_lite0_big",
        "bb_resnet50",
        "bb_resnet50_c4",
    ]
    b6 = reg.backbone_spec("d", "efficientnet_lite0", "b6")
    assert b6["layer"] == "_blocks.6" and b6["size"] == 96 and b6["tta"] == ["hflip"] and "variants" not in b6
    assert reg.backbone_spec("d", "efficientnet_lite0", "big")["layer"] is None
    sets = reg.sets("d")
    assert (
        sets["bb_resnet50_c4"].rule == "backbone_features"
        and sets["bb_efficientnet_lite0_b6"].rule == "backbone_features_torch"
    )
    # every variant is mapped into the human space (keyword bb) and compared on the training split: the chosen row can
    # be any
    assert {"human_pred_bb_efficientnet_lite0_b6", "human_pred_bb_resnet50_c4"} <= set(sets)
    assert ("human_pred_bb_efficientnet_lite0_big", "train") in reg.compare_pairs("d")
    fixed = reg.fixed_settings("d")
    assert (
        fixed["backbones.efficientnet_lite0.variants.b6.layer"] == "_blocks.6"
        and fixed["backbones.efficientnet_lite0.size"] == 96
    )
    assert "backbones.efficientnet_lite0.variants.b6.size" not in fixed  # a variant lists what it changes
    cfg = copy.deepcopy(base)
    cfg["backbones"]["resnet50"]["variants"]["c4"]["size"] = 128  # Keras: one weights file per network and size
    with pytest.raises(RegistryError, match=r"backbones\.resnet50\.variants\.c4: \['size'\] cannot differ"):
        Registry(iscfg.validate(cfg))
    cfg = copy.deepcopy(base)
    cfg["backbones"]["efficientnet_lite0"]["variants"]["b6"]["layr"] = "_blocks.6"
    with pytest.raises(iscfg.ConfigError, match="layr"):
        iscfg.validate(cfg)


def test_stats_variants_are_descriptor_sets_that_only_change_size_or_groups():
    base = {
        "datasets": {
            "d": {"source": {"type": "synthetic"}, "human": {"builtin": True, "dims": 3}, "validation_fraction": 0.25}
        },
        "stats": {
            "enabled": True,
            "size": [128, 128],
            "variants": {"s256": {"size": [256, 256]}, "tex": {"groups": ["lbp"]}},
        },
    }
    reg = Registry(iscfg.validate(copy.deepcopy(base)))
    assert reg.stats_sets("d") == [("stats", None), ("stats_s256", "s256"), ("stats_tex", "tex")]
    assert reg.stats_spec("d", "s256")["size"] == [256, 256] and reg.stats_spec("d", "tex")["size"] == [128, 128]
    assert "variants" not in reg.stats_spec("d") and reg.sets("d")["stats_tex"].kind == "descriptor"
    assert "human_pred_stats_s256" in reg.sets("d")
    fixed = reg.fixed_settings("d")  # a variant lists what it changes
    assert fixed["stats.size"] == [128, 128] and fixed["stats.variants.s256.size"] == [256, 256]
    assert fixed["stats.groups"] == reg.stats_spec("d")["groups"]  # the base lists its settings
    assert fixed["stats.variants.tex.groups"] == ["lbp"] and "stats.variants.tex.size" not in fixed
    assert "stats.variants.s256.groups" not in fixed
    cfg = copy.deepcopy(base)
    cfg["stats"]["variants"]["bad"] = {"enabled": False}
    with pytest.raises(RegistryError, match=r"stats\.variants\.bad: \['enabled'\] cannot be set per variant"):
        Registry(iscfg.validate(cfg))


def test_retrieval_and_explore_sets_and_the_opentsne_dimension_limit():
    r = registry(embeddings__methods=["tsne", "opentsne"], compare__feature_sets=["pca", "tsne"])
    # retrieval: every set computed anyway (opentsne is only a map, so it is not searched); explore: no maps twice
    assert "opentsne" not in r.retrieval_sets("shapes") and {"pca", "tsne", "stats"} <= set(r.retrieval_sets("shapes"))
    assert "pca" not in r.explore_sets("shapes") and "stats" in r.explore_sets("shapes")
    assert registry(retrieval__feature_sets=["stats"]).retrieval_sets("shapes") == ["stats"]
    assert registry(retrieval__enabled=False).retrieval_sets("shapes") == []
    with pytest.raises(
        RegistryError, match=r"retrieval.feature_sets: 'stat' is not a feature set this dataset can search.*'stats'"
    ):
        registry(retrieval__feature_sets=["stat"])
    # the human space has 3 dimensions: openTSNE can give that k-D set; with 4 it cannot, said at start-up
    registry(embeddings__methods=["opentsne"], compare__feature_sets=["opentsne"])
    with pytest.raises(
        RegistryError, match=r"embedding 'opentsne' is named as a 4-D feature set .* at most 3 dimensions"
    ):
        registry(embeddings__methods=["opentsne"], embeddings__n_components=4, compare__feature_sets=["opentsne"])
    # `all` leaves it out: its 2-D map only
    r = registry(
        embeddings__methods=["tsne", "opentsne"],
        embeddings__n_components=4,
        compare__feature_sets=["all"],
        clustering__feature_sets=["all"],
    )
    assert "opentsne" not in {fs for fs, _ in r.compare_pairs("shapes")} | {fs for fs, _ in r.cluster_targets("shapes")}
    assert "tsne" in {fs for fs, _ in r.compare_pairs("shapes")} and "opentsne" in r.map_methods("shapes")


def test_the_default_backbone_follows_the_image_size_and_pytorch():
    """backbones.enabled auto (the default): efficientnet_lite0 for images of at least backbones.min_side px, as the
    ingested size (images.size, else the source's native size), in probes, clustering, retrieval, the interactive
    page and the maps into the human space; smaller images and a machine without PyTorch skip it with one note."""
    cfg = copy.deepcopy(BASE)
    del cfg["backbones"]
    cfg["datasets"]["digits"] = {"source": {"type": "sklearn_digits"}, "images": {"size": None}}
    cfg["datasets"]["tiny"] = {"source": {"type": "synthetic", "size": 20}, "images": {"size": None}}
    cfg["datasets"]["wide"] = {"source": {"type": "npz", "path": "x.npz", "shape": [16, 40]}, "images": {"size": None}}
    cfg["datasets"]["files"] = {"source": {"type": "class_folders", "root": "imgs"}, "images": {"size": None}}
    iscfg.validate(cfg)
    reg = Registry(cfg, torch=True)
    fs = "bb_efficientnet_lite0"
    assert reg.image_min_side("shapes") == 64 and reg.image_min_side("tiny") == 20 and reg.image_min_side("digits") == 8
    assert reg.image_min_side("wide") == 16 and reg.image_min_side("files") is None
    assert reg.backbones("shapes") == ["efficientnet_lite0"] and reg.backbone_notes("shapes") == []
    assert reg.backbones("files") == ["efficientnet_lite0"]  # unknown before ingest: computed (schema: enabled)
    assert fs in reg.probe_sets("shapes") and fs in reg.retrieval_sets("shapes") and fs in reg.explore_sets("shapes")
    assert {(fs, "kmeans"), (fs, "agglomerative")} <= set(reg.cluster_targets("shapes"))
    assert (fs, "train") in reg.compare_pairs("shapes") and "human_pred_" + fs in reg.sets("shapes")
    for d, side in (("digits", 8), ("tiny", 20), ("wide", 16)):
        assert reg.backbones(d) == [] and fs not in reg.sets(d)
        assert reg.backbone_notes(d) == [
            f"backbone efficientnet_lite0 (a default feature set) skipped: the images are {side} "
            "px on their smaller side, under backbones.min_side 24"
        ]
    cfg["backbones"] = {"min_side": 16}
    iscfg.validate(cfg)
    assert Registry(cfg, torch=True).backbones("wide") == ["efficientnet_lite0"]
    # without PyTorch: skipped, one note saying how to get it, never an error; an explicit list too
    cfg["datasets"]["shapes"]["backbones"] = {"enabled": ["efficientnet_lite0", "resnet50"]}
    iscfg.validate(cfg)
    bare = Registry(cfg, torch=False)
    assert bare.backbones("shapes") == ["resnet50"] and bare.backbones("new") == []
    for d in ("shapes", "new"):
        (note,) = bare.backbone_notes(d)
        assert (
            note.startswith("backbone efficientnet_lite0 skipped: PyTorch is not installed")
            and "`make install`" in note
        )
    # a list is computed as listed, whatever the size; [] turns the default off
    cfg["datasets"]["digits"]["backbones"] = {"enabled": ["efficientnet_lite0"]}
    cfg["datasets"]["tiny"]["backbones"] = {"enabled": []}
    iscfg.validate(cfg)
    reg = Registry(cfg, torch=True)
    assert (
        reg.backbones("digits") == ["efficientnet_lite0"]
        and reg.backbones("tiny") == []
        and reg.backbone_notes("tiny") == []
    )
    with pytest.raises(iscfg.ConfigError, match=r"backbones.enabled"):
        iscfg.validate({**cfg, "backbones": {"enabled": "all"}})


def test_torch_available_finds_without_importing_and_a_refusing_finder_counts_as_missing(monkeypatch):
    from imagespace import featuresets

    class Refuse:  # what a machine without PyTorch looks like to importlib (tests/test_workflow hides it this way)
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name == "torch":
                raise ModuleNotFoundError("No module named 'torch'")
            return None

    before = "torch" in sys.modules
    assert featuresets.torch_available() is not None
    assert ("torch" in sys.modules) == before  # found, not imported
    monkeypatch.setattr(sys, "meta_path", [Refuse(), *sys.meta_path])
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert featuresets.torch_available() is False
