"""Pretrained backbones (keras.applications) as feature sets bb_<name>, offline: nothing is downloaded.

A randomly initialised MobileNetV2 (batch-norm scales raised so that the activations do
not vanish) stands in for the ImageNet network: its weights are saved to a file that
weights_path names, or that a faked download puts into a private Keras cache.
"""

from __future__ import annotations

import json
import socket
import urllib.error

import numpy as np
import pytest
import yaml
from conftest import ROOT, random_mobilenetv2, snakemake

pytest.importorskip("tensorflow")

from imagespace import config as iscfg  # noqa: E402
from imagespace.io import load_features  # noqa: E402
from imagespace.nets import backbones_keras as backbones  # noqa: E402

NAME, SIZE = "mobilenetv2", 64


def spec(**changes) -> dict:
    s = iscfg.with_defaults({}, "backbones")[NAME]
    s.update(size=SIZE, **changes)
    return s


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    """(model, its weights file): a random MobileNetV2 whose activations stay O(1) through every block."""
    return random_mobilenetv2(SIZE, 3, tmp_path_factory.mktemp("weights") / "mobilenetv2.weights.h5")


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    base = (
        rng.integers(0, 256, (7, 1, 1, 3)) * np.linspace(0.2, 1, 40)[None, :, None, None]
    )  # gradients, varied colours
    return np.clip(base + rng.normal(0, 20, (7, 40, 40, 3)), 0, 255).astype(np.uint8)


def direct(model, images, layer):
    """The reference: Keras itself on preprocess_input(resized RGB images), the layer's output averaged over space."""
    import keras

    x = images.astype(np.float32)
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    x = keras.ops.convert_to_numpy(keras.ops.image.resize(x, (SIZE, SIZE), interpolation="bilinear", antialias=True))
    x = keras.applications.mobilenet_v2.preprocess_input(x)
    sub = keras.Model(model.inputs, model.get_layer(layer).output)
    return keras.ops.convert_to_numpy(sub(x, training=False)).mean(axis=(1, 2))


def test_schema_names_every_backbone_of_the_library_table():
    props = iscfg.load_schema()["properties"]["backbones"]["properties"]
    assert props["enabled"]["items"]["enum"] == list(backbones.BACKBONES)
    assert set(backbones.BACKBONES) <= set(props)


def test_features_equal_a_direct_keras_call_at_the_last_and_at_a_named_layer(network, images):
    model, path = network
    F, info = backbones.extract(images, NAME, spec(weights="none", weights_path=str(path), batch_size=3))
    ref = direct(model, images, "out_relu")
    assert F.shape == (7, 1280) and F.dtype == np.float32 and info["layer"] == "out_relu"
    assert ref.std(axis=0).mean() > 0.01  # real signal, not vanished activations
    np.testing.assert_allclose(F, ref, rtol=1e-4, atol=1e-5)
    assert info["dims"] == 1280 and info["input_size"] == [SIZE, SIZE] and "weights_path" in info["weights"]
    # a named intermediate layer, max pooling; gray images become 3 equal channels
    gray = images[..., :1]
    F, info = backbones.extract(
        gray, NAME, spec(weights="none", weights_path=str(path), layer="block_6_expand_relu", pooling="max")
    )
    x = np.repeat(gray, 3, axis=-1)
    import keras

    xr = keras.applications.mobilenet_v2.preprocess_input(
        keras.ops.convert_to_numpy(
            keras.ops.image.resize(x.astype(np.float32), (SIZE, SIZE), interpolation="bilinear", antialias=True)
        )
    )
    sub = keras.Model(model.inputs, model.get_layer("block_6_expand_relu").output)
    ref = keras.ops.convert_to_numpy(sub(xr, training=False)).max(axis=(1, 2))
    assert F.shape == (7, 192) and info["pooling"] == "max"
    np.testing.assert_allclose(F, ref, rtol=1e-4, atol=1e-5)


def test_a_list_of_layers_is_their_pooled_outputs_side_by_side_and_tta_averages_the_views(network, images):
    _, path = network
    s = dict(weights="none", weights_path=str(path), batch_size=4)
    a, _ = backbones.extract(images, NAME, spec(layer="block_6_expand_relu", **s))
    b, _ = backbones.extract(images, NAME, spec(**s))  # out_relu
    both, info = backbones.extract(images, NAME, spec(layer=["block_6_expand_relu", "out_relu"], **s))
    assert info["layer"] == "block_6_expand_relu+out_relu" and both.shape == (len(images), a.shape[1] + b.shape[1])
    np.testing.assert_allclose(both, np.hstack([a, b]), rtol=1e-4, atol=1e-5)
    mirror = np.ascontiguousarray(images[:, ::-1])
    m, _ = backbones.extract(mirror, NAME, spec(**s))
    t, info = backbones.extract(images, NAME, spec(tta=["vflip"], **s))
    assert info["tta"] == ["vflip"] and np.abs(b - m).max() > 0.1 * np.abs(b).max()  # not flip-invariant
    np.testing.assert_allclose(t, (b + m) / 2, rtol=1e-4, atol=1e-5)


def test_unknown_layer_is_a_config_error_listing_the_layers(network, images):
    _, path = network
    with pytest.raises(backbones.BackboneError) as e:
        backbones.extract(images[:2], NAME, spec(weights="none", weights_path=str(path), layer="block_6_expand_rel"))
    msg = str(e.value)
    assert msg.startswith("backbones.mobilenetv2.layer: 'block_6_expand_rel' is not a layer of backbone mobilenetv2")
    assert "did you mean 'block_6_expand_relu'" in msg and "Its layers: input_layer" in msg and "out_relu" in msg
    with pytest.raises(backbones.BackboneError, match=r"backbones.mobilenetv2.size: 64 with include_top true"):
        backbones.input_size(NAME, spec(include_top=True))


def _legacy_h5(model, path):
    """The weights in the legacy HDF5 layout of the files keras.applications downloads."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


def test_imagenet_weights_come_from_the_cache_or_weights_path_and_offline_fails_fast(
    network, images, tmp_path, monkeypatch
):
    import keras.src.backend.config as kconfig
    from keras.src.utils import file_utils

    model, _ = network
    monkeypatch.setattr(kconfig, "_KERAS_DIR", str(tmp_path / "keras"))  # a private, empty Keras cache
    (tmp_path / "keras").mkdir()
    calls = []

    def offline(url, target, *a):
        calls.append((url, socket.getdefaulttimeout()))
        raise urllib.error.URLError("[Errno 101] Network is unreachable")

    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    with pytest.raises(backbones.BackboneError) as e:
        backbones.fetch_weights(NAME, spec(), timeout=7)
    msg, cached = (
        str(e.value),
        tmp_path / "keras" / "models" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
    )
    assert calls and calls[0][1] == 7  # the short network timeout was in force
    assert (
        msg.startswith("backbone mobilenetv2: downloading its ImageNet weights from https://")
        and "Network is unreachable" in msg
    )
    assert f"copy that file to {cached} (the Keras cache)" in msg and "set backbones.mobilenetv2.weights_path" in msg
    assert not cached.exists()

    def download(url, target, *a):  # the "download": the legacy-format file of the stand-in network
        _legacy_h5(model, target)

    monkeypatch.setattr(file_utils, "urlretrieve", download)
    info = backbones.fetch_weights(NAME, spec(), timeout=7)
    assert info["downloaded"] and info["path"] == str(cached.resolve()) and info["bytes"] > 0
    assert not backbones.fetch_weights(NAME, spec(), timeout=7)["downloaded"]  # found in the cache
    monkeypatch.setattr(file_utils, "urlretrieve", offline)  # the features job never downloads
    F, info = backbones.extract(images, NAME, spec(), cached=info["path"])
    np.testing.assert_allclose(F, direct(model, images, "out_relu"), rtol=1e-4, atol=1e-5)
    assert info["weights"].startswith("imagenet (Keras cache: ")
    F2, info = backbones.extract(images, NAME, spec(weights_path=str(cached)))  # the same file as weights_path
    np.testing.assert_array_equal(F, F2)
    with pytest.raises(
        backbones.BackboneError, match=r"from the Keras cache .* does not exist; run again with --forcerun"
    ):
        backbones.extract(images, NAME, spec(), cached=str(tmp_path / "gone.h5"))
    assert len(calls) == 1


@pytest.mark.workflow
def test_backbone_features_flow_into_clustering_compare_probes_and_the_human_map(network, tmp_path):
    _, path = network
    cfg = {
        "datasets": {
            "tiny": {
                "source": {"type": "synthetic", "n_per_class": 8, "size": 16, "seed": 2},
                "images": {"size": None, "color": "rgb"},
                "validation_fraction": 0.25,
                "human": {"builtin": True, "dims": 3},
                "backbones": {"enabled": [NAME], NAME: {"weights": "none", "weights_path": str(path), "size": 32}},
            },
            # ImageNet weights from the Keras cache: only planned here (a dry run downloads nothing)
            "imnet": {
                "source": {"type": "synthetic", "n_per_class": 4, "size": 16},
                "backbones": {"enabled": ["resnet50"]},
            },
        },
        "embeddings": {"methods": []},
        "clustering": {"feature_sets": ["bb"], "methods": ["kmeans"], "kmeans": {"k_max": 3}, "on_maps": False},
        "compare": {"n_permutations": 19, "n_bootstrap": 10},
        "retrieval": {"enabled": False},
        "explore": {"enabled": False},
        "alignment": {"map_feature_sets": ["bb"], "folds": 2},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    d = "results/tiny"
    snakemake(tmp_path, f"{d}/clustering/bb_{NAME}/kmeans/result.json")
    fs = load_features(tmp_path / d / f"features/bb_{NAME}.npz")
    assert fs.X.shape == (24, 1280) and fs.meta["kind"] == "backbone" and fs.meta["layer"] == "out_relu"
    info = json.loads((tmp_path / d / f"backbones/{NAME}/features.json").read_text())
    assert info["input_size"] == [32, 32] and info["weights"] == f"weights_path: {path}" and info["seconds"] >= 0
    assert not (tmp_path / d / f"backbones/{NAME}/imagenet_weights.json").exists()  # weights_path: nothing fetched
    assert -1 <= json.loads((tmp_path / d / f"clustering/bb_{NAME}/kmeans/result.json").read_text())["ari"] <= 1
    assert (tmp_path / f"benchmarks/runs/tiny/features_bb_{NAME}.tsv").exists()
    # the registry puts the set (keyword bb) and its map into the human space into every stage the summary collects
    plan = snakemake(tmp_path, "-n", f"{d}/summary.json", "results/imnet/features/bb_resnet50.npz").stdout
    for out in (
        f"compare/bb_{NAME}/comparison.json",
        f"compare/human_pred_bb_{NAME}/comparison.json",
        f"probes/bb_{NAME}.json",
        f"probes/human_pred_bb_{NAME}.json",
        f"alignment/human_pred_bb_{NAME}.json",
    ):
        assert f"{d}/{out}" in plan, out
    # weights_path: nothing to fetch for tiny; imnet's weights are fetched once, on the submitting machine
    assert plan.count("rule backbone_weights:") == 1
    assert "results/imnet/backbones/resnet50/imagenet_weights.json" in plan


def test_rule_file_declares_gpu_and_the_tensorflow_env():
    smk = (ROOT / "workflow/rules/backbones.smk").read_text()
    block = smk.split("rule backbone_features:")[1]
    assert "gpu=1" in block and '"../../envs/tensorflow.yaml"' in block and 'lib=lib("backbone_features")' in block
    # the only job that downloads runs on the submitting machine, not as a cluster job
    assert "localrule: True" in smk.split("rule backbone_weights:")[1].split("rule ")[0]
