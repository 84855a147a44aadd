"""Applying one dataset's fitted maps and networks to new images (predict_human_space_from), and the stats descriptor.

The "new" images are the rocks' validation photographs read as an unlabelled-by-humans
folder: every prediction for them must equal what the source dataset predicts for the
same photographs, although the new dataset never sees a human coordinate.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import shared, snakemake

from imagespace import image_stats
from imagespace.io import load_features


def test_descriptor_tracks_what_it_names():
    rng = np.random.default_rng(0)
    base = np.full((64, 64, 3), 255, np.uint8)
    dark, light = base.copy(), base.copy()
    dark[8:56, 8:56] = 60
    light[8:56, 8:56] = 180
    d, lt = image_stats.describe(dark), image_stats.describe(light)
    assert d["colour"][0] < lt["colour"][0]  # mean lightness of the object
    # textures filling the frame (no silhouette edge): roughness and banding
    smooth = np.full((64, 64, 3), 120, np.uint8)
    rough = np.repeat(rng.integers(40, 200, (64, 64, 1)), 3, axis=2).astype(np.uint8)
    assert image_stats.describe(rough)["gradient"][3] > 5 * image_stats.describe(smooth)["gradient"][3] + 0.1
    stripes = (
        np.repeat(np.where((np.arange(64) // 3) % 2, 60, 200)[None, :, None], 64, axis=0)
        .repeat(3, axis=2)
        .astype(np.uint8)
    )
    assert image_stats.describe(stripes)["orientation"][0] > image_stats.describe(rough)["orientation"][0] + 0.3
    # the background is not part of the statistics: a larger white margin leaves the colour unchanged
    small = np.full((96, 96, 3), 255, np.uint8)
    small[24:72, 24:72] = 60
    assert image_stats.describe(small)["colour"][:2] == pytest.approx(d["colour"][:2], abs=1e-6)
    names = image_stats.feature_names(3)
    assert len(names) == image_stats.describe_all([dark]).shape[1] and len(set(names)) == len(names)
    assert image_stats.describe_all([dark[..., :1]]).shape[1] == len(image_stats.feature_names(1))


def _config(rocks, new_images=None):
    src = {
        "type": "filename_labels",
        "label_regex": r"^(?P<subtype>(?P<label>[^_]+)_[^_]+)_",
        "classes": ["I", "M", "S"],
    }
    return {
        "targets": ["rocks_a", "rocks_new"],
        "datasets": {
            "rocks_a": {
                "source": {
                    **src,
                    "splits": {"train": str(rocks / "Training"), "validation": str(rocks / "Validation")},
                },
                "images": {"size": [32, 32], "color": "rgb", "resize": "pad"},
                "human": {
                    "train": {"path": str(rocks / "mds_360.txt"), "order": "sorted_filenames"},
                    "validation": {"path": str(rocks / "mds_120.txt"), "order": "sorted_filenames"},
                },
                "stats": {"enabled": True},
                "cnn": {"enabled": True, "epochs": 2, "batch_size": 32, "variants": {"cnn_h": {"target": "human"}}},
                # equal weights (with the network trained on the human space), and weights chosen by greedy
                # selection on out-of-fold training rows (human_pred_cnn may not be a candidate: its network was
                # trained on those rows' labels)
                "alignment": {
                    "ensembles": {
                        "both": ["human_pred_stats", "cnn_h"],
                        "best": {"candidates": ["human_pred_stats", "ensemble_eq"]},
                        "eq": ["human_pred_stats"],
                    }
                },
            },
            # a folder of new photographs, no human data: the rocks_a models predict their coordinates
            "rocks_new": {
                "source": {**src, "splits": {"new": str(rocks / "Validation")}},
                **({"images": new_images} if new_images else {}),
                "predict_human_space_from": "rocks_a",
            },
        },
        "embeddings": {"methods": []},
        "clustering": {"methods": ["kmeans"], "kmeans": {"k_max": 3}},
        "compare": {"n_permutations": 99, "n_bootstrap": 50, "paired": {"n_bootstrap": 100}},
        "probes": {"enabled": False},
        # a query folder: rocks_new's photos ranked against rocks_a's training rocks through rocks_a's models
        "retrieval": {"feature_sets": ["stats", "cnn"], "k": [1, 5], "n_bootstrap": 100},
        "explore": {"enabled": False},
        "backbones": {
            "enabled": []
        },  # stats and CNNs carry the transfer here; the default backbone: test_backbones_torch
    }


@pytest.mark.workflow
def test_new_images_get_the_source_datasets_predictions(tmp_path):
    rocks = shared("rocks")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(_config(rocks)))
    snakemake(tmp_path)
    a, new = tmp_path / "results/rocks_a", tmp_path / "results/rocks_new"
    s = json.loads((new / "summary.json").read_text())
    # the class network (variant cnn, the default) mapped by ridge, the human-target network, the stats map, the
    # ensembles
    predicted = {"human_pred_stats", "human_pred_cnn", "cnn_h", "ensemble_both", "ensemble_best", "ensemble_eq"}
    assert set(s["predicted_human_space"]) == predicted
    assert s["compare"] == {} and s["predicted_human_space"]["ensemble_both"]["models_from"] == "rocks_a"
    for fs in sorted(predicted):
        table = pd.read_csv(new / f"predicted/{fs}.tsv", sep="\t")
        assert len(table) == 120 and list(table.columns[:4]) == ["id", "name", "split", "label"]
        assert (new / f"predicted/{fs}_map.png").read_bytes()[:4] == b"\x89PNG"
        ref = load_features(a / f"features/{fs}.npz")
        expected = ref.rows([f"validation/{n}" for n in table["name"]])
        got = table.filter(like="dim_").to_numpy()
        assert got.shape == (120, 8)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    # the new dataset trained nothing and fitted no map of its own
    assert not (new / "cnn/cnn_h/model.keras").exists() and not (new / "alignment/human_pred_stats_map.npz").exists()
    assert (a / "alignment/human_pred_stats_map.npz").exists()
    # nor chose ensemble weights: the greedy ensemble averages with the weights chosen on rocks_a's training rocks
    assert not (new / "alignment/ensemble_best.json").exists()
    chosen = json.loads((a / "alignment/ensemble_best.json").read_text())
    assert chosen["n_rows"] == 360 and sum(chosen["weights"].values()) == pytest.approx(1.0)
    meta = load_features(new / "features/ensemble_best.npz").meta
    assert (
        meta["weights_from"] == "results/rocks_a/alignment/ensemble_best.json" and meta["weights"] == chosen["weights"]
    )
    assert meta["in_sample_split"] is None  # new images: the weights were not chosen on them
    # on rocks_a the training rocks are out-of-fold: weights chosen without each rock's fold
    assert load_features(a / "features/ensemble_best.npz").meta["in_sample_split"] is None
    assert chosen["out_of_fold"]["folds"] == 5 and len(chosen["out_of_fold"]["fold_of"]) == 360
    # the query folder: each new photo's nearest training rocks (through rocks_a's models) are exactly those the
    # same photo has as one of rocks_a's validation rocks, in the same order, at the same distances
    assert set(s["retrieval"]) == {"stats", "cnn", "cnn_h"}
    for fs in ("stats", "cnn"):
        q = pd.read_csv(new / f"retrieval/{fs}_neighbours.tsv", sep="\t", dtype=str, keep_default_na=False)
        own = pd.read_csv(a / f"retrieval/{fs}_neighbours.tsv", sep="\t", dtype=str, keep_default_na=False)
        own = own[own["split"] == "validation"].set_index(["name", "rank"])
        assert len(q) == 120 * 5 and q["neighbour_id"].str.startswith("train/").all()
        assert q["neighbour_id"].tolist() == own.loc[list(zip(q["name"], q["rank"])), "neighbour_id"].tolist()
        np.testing.assert_allclose(
            q["distance"].astype(float), own.loc[list(zip(q["name"], q["rank"])), "distance"].astype(float), atol=2e-5
        )
        r_new = s["retrieval"][fs]["splits"]["new"]["precision"]["1"]["mean"]
        r_own = json.loads((a / "summary.json").read_text())["retrieval"][fs]["splits"]["validation"]["precision"]["1"][
            "mean"
        ]
        assert r_new == r_own
    assert "its source's 'train' split" in (new / "summary.md").read_text()


@pytest.mark.workflow
def test_new_images_must_be_prepared_like_the_source(tmp_path):
    rocks = shared("rocks")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(_config(rocks, new_images={"size": [48, 48]})))
    proc = snakemake(tmp_path, "-n", check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "rocks_new" in text and "images.size" in text and "rocks_a" in text
