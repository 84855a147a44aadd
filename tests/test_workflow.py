"""End-to-end Snakemake runs on small real data: outputs, summary, and what reruns after a change."""

from __future__ import annotations

import json
import os
import re
import shutil
import time

import numpy as np
import pytest
import yaml
from conftest import copy_project, planned_jobs, snakemake
from PIL import Image

from imagespace.ingest import synthetic

pytestmark = pytest.mark.workflow

CONFIG = {
    "targets": [],
    "threads": 2,
    "datasets": {
        # built-in synthetic shapes with their generating-factor "human" space
        "synth": {
            "source": {"type": "synthetic", "n_per_class": 20, "size": 16, "seed": 1},
            "images": {"size": None, "color": "rgb"},
            "validation_fraction": 0.25,
            "human": {"builtin": True, "dims": 4},
        },
        # the same kind of images as a class-subfolder tree on disk
        "shapes": {
            "source": {"type": "class_folders", "root": "input/shapes"},
            "images": {"size": [16, 16], "color": "gray", "resize": "pad"},
        },
    },
    "embeddings": {"methods": ["tsne", "lle", "mds"], "tsne": {"max_iter": 250}, "mds": {"n_init": 1, "max_iter": 100}},
    "clustering": {"kmeans": {"k_max": 4}, "gmm": {"k_max": 4, "covariance_type": "diag"}},
    "compare": {"n_permutations": 199},
}


def write_config(workdir, cfg):
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    work = copy_project(tmp_path_factory.mktemp("project"))
    synthetic.write_folder(work / "input" / "shapes", n_per_class=15, size=20, seed=3)
    write_config(work, CONFIG)
    snakemake(work)
    return work


def test_complete_run_writes_summary_and_figures(project):
    for ds in ("synth", "shapes"):
        s = json.loads((project / f"results/{ds}/summary.json").read_text())
        assert s["n_images"] == (60 if ds == "synth" else 45)
        assert 0 < s["pca"]["threshold"] <= 1 and s["pca"]["n_components_for_threshold"] >= 1
        for m in ("kmeans", "gmm", "dbscan", "agglomerative"):
            c = s["clustering"][m]
            assert 0 <= c["accuracy"] <= 1 and -1 <= c["ari"] <= 1 and 0 <= c["nmi"] <= 1 and c["k"] >= 1
        # every cluster but noise has a medoid: one of its own members
        r = json.loads((project / f"results/{ds}/clustering/pca/kmeans/result.json").read_text())
        a = {
            row.split("\t")[0]: row.split("\t")[-1]
            for row in (project / f"results/{ds}/clustering/pca/kmeans/assignments.tsv").read_text().splitlines()[1:]
        }
        assert sorted(r["medoids"]) == sorted({v for v in a.values()}, key=int)
        assert all(a[m["id"]] == c and m["n"] == list(a.values()).count(c) for c, m in r["medoids"].items())
        assert (project / f"results/{ds}/summary.md").read_text().startswith("# imagespace summary")
        for fig in (
            "pca/variance.png",
            "pca/reconstruction.png",
            "maps/tsne_labels.png",
            "maps/pca_thumbnails.png",
            "clustering/pca/kmeans/silhouette.png",
            "clustering/pca/agglomerative/dendrogram.png",
            "clustering/pca/dbscan/gallery.png",
            "clustering/pca/gmm/samples.png",
            "clustering/pca/kmeans/silhouettes.png",
            "clustering/pca/kmeans/medoids.png",
            "clustering/maps.png",
            "maps/pca_kmeans.png",
            "maps/pca_gmm.png",
        ):
            assert (project / f"results/{ds}/{fig}").read_bytes()[:4] == b"\x89PNG"
    s = json.loads((project / "results/synth/summary.json").read_text())
    for fs in ("pca", "tsne", "lle", "mds"):
        for split in ("train", "validation"):
            r = s["compare"][fs][split]
            assert 0 <= r["disparity"] <= 1 and r["permutation_p"] >= 1 / 200
    # the synthetic "human" space is a function of the images: PCA must beat shuffled rows
    assert s["compare"]["pca"]["train"]["permutation_p"] < 0.01
    # a leaderboard only where there is a human space to rank against
    assert (project / "results/synth/leaderboard.png").read_bytes()[:4] == b"\x89PNG"
    assert (
        not (project / "results/shapes/leaderboard.png").exists()
        and not (project / "results/shapes/leaderboard.tsv").exists()
    )
    assert (
        "compare" not in json.loads((project / "results/shapes/summary.json").read_text())
        or not json.loads((project / "results/shapes/summary.json").read_text())["compare"]
    )


def test_human_map_scores_its_training_split_out_of_fold(project):
    # human_pred_pca's training rows are the out-of-fold predictions (recomputed here), not the
    # stored map applied in-sample; the other split gets the stored map
    from imagespace.human import alignment
    from imagespace.io import load_features, load_human_table

    d = project / "results/synth"
    pred, base = load_features(d / "features/human_pred_pca.npz"), load_features(d / "features/pca.npz")
    ids, H = load_human_table(d / "human/train.tsv")
    val_ids, _ = load_human_table(d / "human/validation.tsv")
    with np.load(d / "alignment/human_pred_pca_map.npz") as m:
        W, b = m["W"], m["b"]
    X = base.rows(ids).astype(np.float64)
    oof, _, _ = alignment.cross_val_map(X, H, folds=5, seed=0)
    scale = np.abs(oof).max()
    assert np.abs(pred.rows(ids) - oof).max() < 1e-4 * scale
    assert np.abs(pred.rows(ids) - alignment.apply_map(X, W, b)).max() > 1e-2 * scale
    assert np.abs(pred.rows(val_ids) - alignment.apply_map(base.rows(val_ids), W, b)).max() < 1e-4 * scale


def test_find_similar_images_and_precision_at_k(project):
    """Every feature set's neighbours: the validation images' come from the training images, nobody is their own
    neighbour, and the precision@k in the summary is the neighbours table's label agreement."""
    import pandas as pd

    d = project / "results/synth"
    s = json.loads((d / "summary.json").read_text())
    assert {"pca", "tsne", "lle", "mds"} <= set(s["retrieval"])
    r = s["retrieval"]["pca"]
    assert r["headline"] == "validation" and r["gallery_split"] == "train" and r["ks"] == [1, 5, 10]
    t = pd.read_csv(d / "retrieval/pca_neighbours.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert len(t) == 60 * 10 and (t["id"] != t["neighbour_id"]).all()
    train = set(t.loc[t["split"] == "train", "id"])
    assert set(t["neighbour_id"]) <= train and len(train) == r["n_gallery"]
    val = t[(t["split"] == "validation") & (t["rank"].astype(int) <= 5)]
    assert r["splits"]["validation"]["precision"]["5"]["mean"] == pytest.approx(
        (val["label"] == val["neighbour_label"]).mean()
    )
    # synthetic shapes: PCA retrieves far above chance (3 classes of 15 training images: chance 1/3)
    assert r["splits"]["validation"]["precision"]["1"]["mean"] > r["splits"]["validation"]["chance"] + 0.2
    md = (d / "summary.md").read_text()
    assert "## Find similar images: retrieval precision@k" in md and "| pca | validation | 15 | 45 |" in md
    assert (d / "retrieval/pca_gallery.png").read_bytes()[:4] == b"\x89PNG"


def test_interactive_map_in_a_real_browser(project, tmp_path):
    """The page the workflow writes, in headless Chromium, offline: every image is a point, hovering one shows its
    thumbnail, choosing a class highlights exactly its images, and every map and colouring is offered."""
    import browser

    d = project / "results/synth"
    info = json.loads((d / "explore/map.json").read_text())
    s = json.loads((d / "summary.json").read_text())
    assert "explore/map.html" in (d / "summary.md").read_text()
    with browser.page((d / "explore/map.html").as_uri()) as (pg, outside, errors):
        got = browser.points(pg)
        assert got["n"] == got["shown"] == s["n_images"] == 60
        assert got["maps"][:4] == ["pca", "tsne", "lle", "mds"] and "human space" in got["maps"]
        assert "human_pred_pca" in got["maps"] and got["maps"] == list(info["maps"])
        assert {"label", "split", "clusters pca/kmeans", "clusters pca/hdbscan", "human dim_1"} <= set(
            got["colourings"]
        )
        # hover: the real mouse on a point; the tooltip shows that image's thumbnail and name
        tip = browser.hover(pg, 7)
        assert len(tip["tips"]) >= 1
        t0 = tip["tips"][0]
        assert t0["src"].startswith("data:image/png;base64,") and t0["width"] > 8 and tip["point"]["name"] in t0["text"]
        # highlight: choose a class; exactly its images are selected, and they stay so on another map
        classes = got["highlight"][1:]
        browser.choose(pg, "highlight_select", classes[0])
        assert browser.points(pg)["selected"] == 20
        browser.choose(pg, "map_select", "tsne")
        assert browser.points(pg)["selected"] == 20
        # the screenshot: t-SNE map, one class highlighted, the tooltip of one of its images
        labels = pg.evaluate("() => Bokeh.documents[0].get_model_by_name('points').data_source.data.label")
        tip = browser.hover(pg, labels.index(classes[0]))
        assert tip["tips"] and tip["point"]["name"] in tip["tips"][0]["text"]
        shot = tmp_path / "map.png"
        pg.screenshot(path=str(shot))
        if os.environ.get("IMAGESPACE_SCREENSHOT"):  # keep it, to look at
            shutil.copy(shot, os.environ["IMAGESPACE_SCREENSHOT"])
        pg.mouse.move(5, 5)
        browser.choose(pg, "colour_select", "clusters pca/kmeans")
        assert browser.points(pg)["highlight"][0] == "(none)" and browser.points(pg)["selected"] == 0
        assert not outside, f"the page asked the network for {outside[:3]}"
        assert not errors, errors
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    # the canvas is drawn: many distinct colours (points in the categorical palette), not a blank page
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50


def test_nothing_reruns_after_a_complete_run(project):
    assert planned_jobs(project) == []


def test_resaving_the_config_with_sorted_keys_and_other_spellings_reruns_nothing(project):
    """As a YAML tool may re-save it: keys sorted, 30 for the default 30.0, a default written out."""
    cfg = json.loads(json.dumps(CONFIG))
    cfg["embeddings"]["tsne"]["perplexity"] = 30  # the schema's default is 30.0
    cfg["compare"]["alpha"] = 0.05  # the default, now explicit
    (project / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=True))
    try:
        assert planned_jobs(project) == []
    finally:
        write_config(project, CONFIG)


def test_a_rule_script_runs_by_hand_with_the_workflows_inputs(project):
    """python scripts/<rule>.py dataset=...: the mock builds the job's snakemake object from the real workflow."""
    import subprocess
    import sys

    out = project / "results/synth/compare/pca/comparison.json"
    before = json.loads(out.read_text())
    out.unlink()
    r = subprocess.run(
        [sys.executable, "scripts/compare.py", "dataset=synth", "fs=pca"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(out.read_text()) == before  # same inputs and params: same result
    r = subprocess.run(
        [sys.executable, "scripts/compare.py", "dataset=synth"], cwd=project, capture_output=True, text=True
    )
    assert r.returncode != 0 and "give the wildcard(s) ['fs']" in r.stderr
    # a rule whose memory estimate reads its inputs' sizes (mem_from_input)
    fig = project / "results/synth/maps/tsne_labels.png"
    fig.unlink()
    r = subprocess.run(
        [sys.executable, "scripts/plot_map.py", "dataset=synth", "mapmethod=tsne"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0 and fig.read_bytes()[:4] == b"\x89PNG", r.stdout + r.stderr
    snakemake(project)  # what depends on the rewritten file is brought up to date


def test_same_config_gives_same_numbers(project, tmp_path):
    before = json.loads((project / "results/synth/summary.json").read_text())
    proc = snakemake(
        project,
        "--forcerun",
        "embed",
        "cluster_kmeans",
        "--allowed-rules",
        "embed",
        "cluster_kmeans",
        "compare",
        "summary",
    )
    after = json.loads((project / "results/synth/summary.json").read_text())
    # the summary's warnings reach the console, not only summary.md and the log (this tiny set has some)
    assert after["warnings"] and "warning(s) for dataset 'synth'" in proc.stdout + proc.stderr
    assert all(w in proc.stdout + proc.stderr for w in after["warnings"])
    assert after["compare"] == before["compare"]
    assert after["clustering"]["kmeans"] == before["clustering"]["kmeans"]


def test_parameter_change_reruns_only_that_method_of_that_dataset(project):
    cfg = json.loads(json.dumps(CONFIG))
    cfg["datasets"]["synth"]["embeddings"] = {"tsne": {"perplexity": 10.0}}
    write_config(project, cfg)
    jobs = planned_jobs(project)
    rules = {r for r, _ in jobs}
    assert {ds for _, ds in jobs} == {"synth"}
    assert {"embed", "map_embed", "plot_map", "compare", "summary"} <= rules
    assert not rules & {"ingest", "pca", "cluster_kmeans", "cluster_gmm", "human_space"}
    # one compare job for the t-SNE set, every split in it; one job draws every clustering on the maps
    names = [r for r, _ in jobs]
    assert names.count("compare") == 1 and names.count("cluster_on_maps") == 1
    # exactly the t-SNE jobs and what reads them: every planned job but the summary (and the leaderboard
    # drawn from it) and the paired comparison of all compared sets writes a t-SNE output
    dry = snakemake(project, "-n")
    for block in re.split(r"\n(?=rule \w+:)", dry.stdout + dry.stderr):
        m = re.match(r"rule (\w+):", block.strip())
        # paired reads every compared set, explore and cluster_on_maps every map
        if m and m.group(1) not in ("all", "summary", "leaderboard", "paired", "explore", "cluster_on_maps"):
            assert "tsne" in re.search(r"output: ([^\n]+)", block).group(1), block
    snakemake(project)
    s = json.loads((project / "results/synth/summary.json").read_text())
    assert s["embeddings"]["tsne"]["params"]["perplexity"] == 10.0


def test_replacing_one_image_reruns_that_dataset_only(project):
    img = sorted((project / "input/shapes/circle").glob("*.png"))[0]
    time.sleep(1)
    Image.fromarray(np.full((20, 20, 3), 200, np.uint8)).save(img)
    jobs = planned_jobs(project)
    assert {ds for _, ds in jobs} == {"shapes"}
    rules = {r for r, _ in jobs}
    assert {"ingest", "pca", "cluster_kmeans", "summary"} <= rules
    snakemake(project)
    assert planned_jobs(project) == []


def test_library_change_reruns_the_rules_that_import_it(project):
    lib = project / "scripts/imagespace/embed.py"
    time.sleep(1)
    lib.write_text(lib.read_text() + "\n# edited\n")
    rules = {r for r, _ in planned_jobs(project)}
    assert {"embed", "map_embed"} <= rules
    assert not rules & {"ingest", "pca", "human_space", "cluster_kmeans"}
    snakemake(project)


def test_lost_outputs_are_rebuilt_without_recomputing_upstream(project):
    # as after an interrupted run: one branch and the summary were never written
    for f in [
        "features/mds.npz",
        "compare/mds/comparison.json",
        "summary.json",
        "summary.md",
    ]:
        (project / "results/synth" / f).unlink()
    jobs = planned_jobs(project)
    rules = {r for r, _ in jobs}
    assert {"embed", "compare", "summary"} <= rules and not rules & {"ingest", "pca", "human_space"}
    assert {ds for _, ds in jobs} == {"synth"}
    snakemake(project)
    assert planned_jobs(project) == []


def test_bad_human_file_fails_with_its_name_and_keeps_other_results(tmp_path):
    synthetic.write_folder(tmp_path / "input/shapes", n_per_class=6, size=12, seed=0)
    (tmp_path / "human.txt").write_text("\n".join("0.1 0.2" for _ in range(5)) + "\n")  # 18 images, 5 rows
    cfg = {
        "datasets": {
            "shapes": {
                "source": {"type": "class_folders", "splits": {"train": "input/shapes"}},
                "images": {"size": [12, 12]},
                "human": {"train": {"path": "human.txt", "order": "sorted_filenames"}},
            }
        },
        "embeddings": {"methods": ["lle"]},
        "clustering": {"methods": ["kmeans"], "kmeans": {"k_max": 3}},
    }
    write_config(tmp_path, cfg)
    proc = snakemake(tmp_path, "--keep-going", check=False)
    assert proc.returncode != 0
    log = (tmp_path / "logs/shapes/human_space/train.log").read_text()
    assert "human.txt" in log and "5 rows" in log and "18 image files" in log
    # the cause is on the console too, in one line, not only in the log
    cause = [ln for ln in proc.stderr.splitlines() if ln.startswith("imagespace error:")]
    assert len(cause) == 1 and "human.txt" in cause[0] and "5 rows" in cause[0], proc.stderr[-3000:]
    # what did not depend on the human space was still computed
    assert (tmp_path / "results/shapes/clustering/pca/kmeans/result.json").exists()


def test_missing_label_column_shows_its_cause_on_the_console(tmp_path):
    """A real run: the console names the CSV and the missing column, and lists no image files."""
    folder = tmp_path / "input/products"
    synthetic.write_folder(folder, n_per_class=8, size=12, seed=0)
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
    (folder / "styles.csv").write_text("file,category\n" + "".join(f"{f},{f.split('/')[0]}\n" for f in files))
    cfg = {
        "datasets": {
            "products": {
                "source": {
                    "type": "csv_manifest",
                    "csv": "input/products/styles.csv",
                    "file_column": "file",
                    "label_column": "master_category",
                },
                "images": {"size": [12, 12]},
            }
        },
        "embeddings": {"methods": ["lle"]},
        "clustering": {"methods": ["kmeans"], "kmeans": {"k_max": 3}},
    }
    write_config(tmp_path, cfg)
    proc = snakemake(tmp_path, check=False)
    assert proc.returncode != 0
    console = proc.stdout + proc.stderr
    cause = [ln for ln in console.splitlines() if ln.startswith("imagespace error:")]
    assert len(cause) == 1 and "styles.csv" in cause[0] and "master_category" in cause[0], console[-3000:]
    assert files[0] not in console  # no list of every input image
    assert max(len(ln) for ln in console.splitlines()) < 1000


def test_greedy_ensemble_weights_are_chosen_on_out_of_fold_training_rows_and_reused_by_predicting_datasets(tmp_path):
    """A greedy ensemble of two ridge/PLS maps (method auto): its weights come from the training split's
    out-of-fold predictions only and are stored with the dataset; a dataset predicting from it reads that file."""
    from imagespace.human import ensemble
    from imagespace.io import load_features, load_human_table

    cfg = {
        "datasets": {
            "synth": {
                "source": {"type": "synthetic", "n_per_class": 20, "size": 16, "seed": 1},
                "images": {"size": None, "color": "rgb"},
                "validation_fraction": 0.25,
                "human": {"builtin": True, "dims": 4},
                # a variant: another feature set of descriptors, stats_tex (only the texture groups)
                "stats": {"enabled": True, "variants": {"tex": {"groups": ["lbp", "glcm"]}}},
                "alignment": {
                    "method": "auto",
                    "folds": 3,
                    "map_feature_sets": ["pca", "stats"],
                    "ensembles": {"best": {"candidates": ["human_pred_stats", "human_pred_pca"]}},
                },
            },
        },
        "embeddings": {"methods": []},
        "clustering": {"methods": ["kmeans"], "kmeans": {"k_max": 3}},
        "compare": {"n_permutations": 19, "n_bootstrap": 10},
    }
    write_config(tmp_path, cfg)
    d = tmp_path / "results/synth"
    targets = [
        "results/synth/features/ensemble_best.npz",
        "results/synth/compare/ensemble_best/comparison.json",
        "results/synth/compare/human_pred_stats_tex/comparison.json",
    ]
    snakemake(tmp_path, *targets)
    tex, full = load_features(d / "features/stats_tex.npz"), load_features(d / "features/stats.npz")
    assert tex.X.shape[1] < full.X.shape[1] and json.loads((d / "stats/stats_tex.json").read_text())["groups"] == [
        "lbp",
        "glcm",
    ]
    chosen = json.loads((d / "alignment/ensemble_best.json").read_text())
    assert chosen["candidates"] == ["human_pred_stats", "human_pred_pca"] and chosen["select"] == "greedy"
    assert sum(chosen["weights"].values()) == pytest.approx(1.0) and chosen["rounds"] >= 1
    assert (
        chosen["n_rows"] == 45 and "out-of-fold" in chosen["chosen_on"] and "validation not used" in chosen["chosen_on"]
    )
    assert chosen["disparity"] <= min(chosen["candidate_disparity"].values()) + 1e-12
    # the choice is the greedy selection on the training rows alone (validation rows play no part)
    ids, H = load_human_table(d / "human/train.tsv")
    members = {c: load_features(d / f"features/{c}.npz") for c in chosen["candidates"]}
    again = ensemble.greedy_selection(H, {c: m.rows(ids) for c, m in members.items()}, max_rounds=25)
    assert again["weights"] == pytest.approx(chosen["weights"])
    # held-out images get the weighted average; each training row the average with the weights chosen without its
    # fold (nested), so the training split stays out-of-fold and is scored
    ens = load_features(d / "features/ensemble_best.npz")
    w = [chosen["weights"][c] for c in chosen["candidates"]]
    other = np.array([i for i in ens.ids if i not in set(ids)])
    expected = ensemble.combine([m.rows(other) for m in members.values()], w)
    np.testing.assert_allclose(ens.rows(other), expected, rtol=1e-5, atol=1e-6)
    nested = ensemble.nested_greedy(H, {c: m.rows(ids) for c, m in members.items()}, 25, folds=3, seed=0)
    np.testing.assert_allclose(ens.rows(ids), nested["prediction"], rtol=1e-5, atol=1e-6)
    assert chosen["out_of_fold"]["disparity"] == pytest.approx(nested["disparity"])
    # the nested training rows are honest: a fold's rows never chose their own weights
    for f, fw in enumerate(chosen["out_of_fold"]["fold_weights"]):
        rest = np.array([chosen["out_of_fold"]["fold_of"][i] != f for i in ids])
        redo = ensemble.greedy_selection(H[rest], {c: m.rows(ids)[rest] for c, m in members.items()}, 25)["weights"]
        assert redo == pytest.approx(fw)
    assert ens.meta["in_sample_split"] is None and ens.meta["out_of_fold_rows"] == len(ids)
    assert ens.meta["weights_from"].endswith("alignment/ensemble_best.json")
    from imagespace import config as iscfg
    from imagespace.featuresets import Registry

    pairs = Registry(iscfg.validate(json.loads(json.dumps(cfg)))).compare_pairs("synth")
    assert ("ensemble_best", "train") in pairs and ("ensemble_best", "validation") in pairs  # scored on both splits
    # method auto: every fold and the final map say which method and penalty the inner CV chose
    info = json.loads((d / "alignment/human_pred_stats.json").read_text())
    assert info["method"] == "auto" and len(info["fold_penalties"]) == 3
    for p in info["fold_penalties"] + [info["final_penalty"]]:
        assert p["method"] in ("ridge", "pls") and ("alpha" in p or "n_components" in p)
    assert planned_jobs(tmp_path, *targets) == []
    # another ensemble is only that ensemble: the maps it averages are not refitted
    more = json.loads(json.dumps(cfg))
    more["datasets"]["synth"]["alignment"]["ensembles"]["eq2"] = ["human_pred_stats", "human_pred_pca"]
    write_config(tmp_path, more)
    assert {r for r, _ in planned_jobs(tmp_path, *targets, "results/synth/features/ensemble_eq2.npz")} == {"ensemble"}
    write_config(tmp_path, cfg)

    # a dataset predicting from it (with a network, planned only): the owner's weights file, no selection of its own
    cfg["datasets"]["synth"]["cnn"] = {"enabled": True}
    cfg["datasets"]["synth"]["alignment"]["map_feature_sets"].append("cnn")
    cfg["datasets"]["synth"]["alignment"]["ensembles"]["tr"] = {"candidates": ["human_pred_stats", "ensemble_eq"]}
    cfg["datasets"]["synth"]["alignment"]["ensembles"]["eq"] = ["human_pred_stats"]
    cfg["datasets"]["new"] = {
        "source": {"type": "synthetic", "n_per_class": 5, "size": 16, "seed": 9},
        "predict_human_space_from": {"dataset": "synth", "feature_sets": ["ensemble_tr"]},
    }
    write_config(tmp_path, cfg)
    plan = snakemake(tmp_path, "-n", "results/new/features/ensemble_tr.npz")
    blocks = re.split(r"\n(?=rule \w+:)", plan.stdout + plan.stderr)
    weights = [b for b in blocks if b.startswith("rule ensemble_weights:")]
    assert len(weights) == 1 and "output: results/synth/alignment/ensemble_tr.json" in weights[0]
    (new_ens,) = [
        b for b in blocks if b.startswith("rule ensemble:") and "output: results/new/features/ensemble_tr.npz" in b
    ]
    assert "results/synth/alignment/ensemble_tr.json" in new_ens and "results/new/features/ensemble_eq.npz" in new_ens


def test_a_degenerate_map_is_a_summary_warning_and_its_figure_frames_the_bulk(tmp_path):
    """Standard LLE with 5 neighbours on the digits (the old default) squeezes the map onto a line: the summary
    warns with the map's name, the stored numbers and the cause; the figure says how many points it leaves out."""
    cfg = {
        "targets": ["digits"],
        "datasets": {
            "digits": {
                "source": {"type": "sklearn_digits"},
                "images": {"size": None, "color": "gray"},
                "embeddings": {"methods": ["lle"], "n_components": 2, "lle": {"method": "standard", "n_neighbors": 5}},
                "clustering": {"methods": [], "on_maps": False},
                "probes": {"enabled": False},
                "retrieval": {"enabled": False},
                "explore": {"enabled": False},
            }
        },
    }
    write_config(tmp_path, cfg)
    snakemake(tmp_path)
    info = json.loads((tmp_path / "results/digits/maps/lle.json").read_text())
    d = info["degeneracy"]
    assert d["spread_ratio"] < 0.05 and "trustworthiness" in info
    s = json.loads((tmp_path / "results/digits/summary.json").read_text())
    assert s["degeneracy"]["lle map"]["spread_ratio"] == d["spread_ratio"]
    assert s["degeneracy"]["pca map"]["spread_ratio"] > 0.5  # the PCA map of the same run is fine
    lle_warn = [w for w in s["warnings"] if w.startswith("lle map is degenerate")]
    assert len(lle_warn) == 1 and f"{d['spread_ratio']:.3f}" in lle_warn[0] and "likely cause" in lle_warn[0]
    assert not [w for w in s["warnings"] if w.startswith("pca map")]
    md = (tmp_path / "results/digits/summary.md").read_text()
    head = md.split("## Warnings", 1)[1].split("\n## ", 1)[0]
    assert "lle map is degenerate" in head


# --------------------------------------------------------------------------- curation: acting on the review
CURATION_CONFIG = {
    "targets": ["small"],
    "datasets": {
        "small": {
            "source": {"type": "class_folders", "root": "imgs"},
            "images": {"size": [16, 16], "color": "gray"},
            "validation_fraction": 0.25,
        },
    },
    "embeddings": {"methods": []},
    "clustering": {"methods": ["kmeans"]},
    "compare": {"feature_sets": []},
    "retrieval": {"enabled": False},
    "backbones": {"enabled": []},
    "explore": {"thumbnails": 0},
}


def _files(root):
    return {p: p.stat().st_mtime_ns for p in (root / "results").rglob("*") if p.is_file()}


def test_curation_relabel_and_exclude_rerun_only_what_reads_the_curated_manifest(tmp_path):
    import pandas as pd

    work = copy_project(tmp_path / "project")
    rng = np.random.default_rng(0)
    for cls, level in {"dark": 40, "mid": 120, "light": 200}.items():
        (work / "imgs" / cls).mkdir(parents=True)
        for i in range(20):
            img = np.clip(level + rng.normal(scale=8, size=(16, 16)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(work / "imgs" / cls / f"{cls}_{i:02d}.png")
    light = np.clip(200 + rng.normal(scale=8, size=(16, 16)), 0, 255).astype(np.uint8)
    Image.fromarray(light).save(work / "imgs" / "dark" / "planted.png")  # a light image filed as dark
    write_config(work, CURATION_CONFIG)
    snakemake(work)
    d = work / "results/small"
    # the interactive map colours by the curation's scores and highlights the suspected mislabels
    explore_info = json.loads((d / "explore/map.json").read_text())
    assert {"label-issue score", "outlier score", "suspected mislabels"} <= set(explore_info["colourings"])
    assert "suspected mislabel" in (d / "explore/map.html").read_text()
    issues = pd.read_csv(d / "curation/issues.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert "dark/planted.png" in set(issues.loc[issues["kind"] == "label", "image"])
    assert not (d / "curation/manifest.tsv").exists()  # neither key: no curated manifest, no curated fits
    before = _files(work)

    # curation.relabel: the reviewer's correction reruns what reads the labels, and nothing else
    (work / "fixes.tsv").write_text("image\tlabel\ndark/planted.png\tlight\n")
    cfg = json.loads(json.dumps(CURATION_CONFIG)) | {"curation": {"relabel": "fixes.tsv"}}
    write_config(work, cfg)
    assert {r for r, _ in planned_jobs(work)} == {"curate_manifest", "probe_curated", "summary"}
    snakemake(work)
    m = pd.read_csv(d / "curation/manifest.tsv", sep="\t", dtype=str, keep_default_na=False)
    planted = m[m["name"] == "dark/planted.png"].iloc[0]
    assert planted["label"] == "light" and planted["label_before"] == "dark"
    assert (
        (
            m.drop(columns="label_before")
            == pd.read_csv(d / "ingest/manifest.tsv", sep="\t", dtype=str, keep_default_na=False).assign(
                label=m["label"]
            )
        )
        .all()
        .all()
    )
    s = json.loads((d / "summary.json").read_text())
    assert s["curation"]["applied"]["relabelled"] == 1
    assert "**Curated:**" in (d / "summary.md").read_text()
    after = _files(work)
    rewritten = {p.relative_to(d).as_posix() for p in before if after[p] != before[p]}
    assert rewritten == {"summary.json", "summary.md"}  # ingest, probes/, curation's own review, the map: untouched
    probe = json.loads((d / "curation/probes/pca.json").read_text())
    assert probe["n_train"] == json.loads((d / "probes/pca.json").read_text())["n_train"]

    # a name the dataset does not have: the job stops with one line naming the file and its line
    (work / "fixes.tsv").write_text("image\tlabel\ndark/planted.png\tlight\nnope.png\tmid\n")
    r = snakemake(work, check=False)
    assert r.returncode != 0
    assert "curation.relabel: fixes.tsv line 3: no image of the dataset has the name 'nope.png'" in r.stdout + r.stderr

    # curation.exclude: the flagged training images leave every fit on the training split, listed as curated
    cfg["curation"] = {"exclude": ["label_issues", "outliers"]}
    write_config(work, cfg)
    assert {r for r, _ in planned_jobs(work)} == {"curate_manifest", "probe_curated", "summary"}
    snakemake(work)
    skipped = pd.read_csv(d / "curation/skipped.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert "dark/planted.png" in set(skipped["name"]) and set(skipped["kind"]) == {"curated"}
    m = pd.read_csv(d / "curation/manifest.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert set(m.loc[m["split"] == "curated", "name"]) == set(skipped["name"])
    probe = json.loads((d / "curation/probes/pca.json").read_text())
    raw = json.loads((d / "probes/pca.json").read_text())
    assert probe["n_train"] == raw["n_train"] - len(skipped) and list(probe["holdout"]) == list(raw["holdout"])
    assert json.loads((d / "summary.json").read_text())["curation"]["applied"]["excluded"] == len(skipped)

    # neither key again: the fits read ingest's manifest; only the summary changes back
    write_config(work, CURATION_CONFIG)
    assert {r for r, _ in planned_jobs(work)} == {"summary"}
