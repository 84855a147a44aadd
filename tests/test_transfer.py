"""Transfer learning in the Keras CNN: a keras.applications backbone as the first layer of a CNN variant.

Offline, as in test_backbones: a randomly initialised MobileNetV2 (batch-norm scales raised so that
activations do not vanish), saved to a weights file that backbones.mobilenetv2.weights_path names,
stands in for the ImageNet network.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from conftest import random_mobilenetv2, snakemake

pytest.importorskip("tensorflow")

from imagespace import config as iscfg  # noqa: E402
from imagespace import featuresets, nets  # noqa: E402
from imagespace.nets import backbones_keras as backbones  # noqa: E402

NAME, SIZE = "mobilenetv2", 32


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return random_mobilenetv2(SIZE, 5, tmp_path_factory.mktemp("weights") / "mobilenetv2.weights.h5")[1]


def bb_spec(path) -> dict:
    s = iscfg.with_defaults({}, "backbones")[NAME]
    s.update(size=SIZE, weights="none", weights_path=str(path), batch_size=8)
    return s


def layers(unfreeze: int) -> list[dict]:
    return [
        {"type": "backbone", "backbone": NAME, "unfreeze": unfreeze},
        {"type": "dense", "units": 16, "batchnorm": True},
        {"type": "dense", "units": 8, "activation": "tanh", "name": "penultimate"},
    ]


def _nested(model):
    import keras

    return next(layer for layer in model.layers if isinstance(layer, keras.Model))


def _data(channels: int, n: int = 24, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    base = (y[:, None, None, None] * 90 + 20) * np.linspace(0.3, 1, 40)[None, :, None, None]
    x = np.clip(base + rng.normal(0, 25, (n, 40, 40, channels)), 0, 255).astype(np.uint8)
    return x, y.astype(np.int32)


def _snapshot(layers_):
    return {(layer.name, i): np.array(w) for layer in layers_ for i, w in enumerate(layer.weights)}


@pytest.mark.parametrize("unfreeze,channels", [(0, 1), (3, 3)])
def test_backbone_layer_is_the_feature_set_network_and_trains_only_its_unfrozen_layers(
    weights, tmp_path, unfreeze, channels
):
    import keras

    from imagespace.nets import transfer

    x, y = _data(channels)
    spec = bb_spec(weights)
    model = nets.build_model(
        x.shape[1:],
        3,
        layers(unfreeze),
        seed=1,
        optimizer={"name": "adam", "learning_rate": 0.01},
        backbones={NAME: (spec, None)},
    )
    inner = _nested(model)
    # before training, the backbone's pooled output is the bb_mobilenetv2 feature set of the same images (the same
    # preprocessing, here inside the graph, and the same weights file)
    F, info = backbones.extract(x, NAME, spec)
    pooled = model.layers[model.layers.index(inner) + 1].input  # the backbone's output in the CNN's graph
    got = keras.ops.convert_to_numpy(keras.Model(model.inputs, pooled)(x.astype(np.float32), training=False))
    np.testing.assert_allclose(got, F, rtol=1e-4, atol=1e-4 * float(np.abs(F).max()))
    assert info["layer"] == "out_relu" and got.shape == (len(x), 1280)
    trained = [layer for layer in transfer.weighted_layers(inner)][-unfreeze:] if unfreeze else []
    frozen = [layer for layer in inner.layers if layer.weights and layer not in trained]
    assert len(trained) == unfreeze and all(not layer.trainable for layer in frozen)
    before_frozen, before_trained = _snapshot(frozen), _snapshot(trained)
    head_before = _snapshot([model.get_layer("penultimate")])
    model, history = nets.train(
        model,
        (x, y),
        (x[:9], y[:9]),
        epochs=2,
        batch_size=8,
        seed=1,
        state_dir=tmp_path / "state",
        fp="t",
        settings={"class_weight": "none", "early_stopping": {"patience": 0}, "schedule": {"type": "constant"}},
    )
    inner = _nested(model)
    frozen_after = _snapshot([inner.get_layer(n) for n in dict.fromkeys(k[0] for k in before_frozen)])
    for k, w in before_frozen.items():  # every frozen weight, batch-norm statistics included, is unchanged
        np.testing.assert_array_equal(frozen_after[k], w, err_msg=str(k))
    if unfreeze:  # the unfrozen layers learned
        after = _snapshot([inner.get_layer(n) for n in dict.fromkeys(k[0] for k in before_trained)])
        assert any(not np.array_equal(after[k], w) for k, w in before_trained.items())
    assert any(
        not np.array_equal(np.array(w), head_before[("penultimate", i)])
        for i, w in enumerate(model.get_layer("penultimate").weights)
    )
    assert len(history) == 2 and all(np.isfinite(h["loss"]) for h in history)
    # the checkpoint loads (BackboneInput is registered) and predicts what the trained network predicts
    loaded = nets.load_model(tmp_path / "state" / "epoch_002.keras")
    np.testing.assert_allclose(nets.features(loaded, x), nets.features(model, x), rtol=1e-5, atol=1e-5)


def test_layer_lists_are_checked_naming_the_key_and_the_layer():
    where = "datasets.d.cnn.architecture"
    with pytest.raises(
        ValueError, match=r"architecture\[0\]: unknown key 'filter' for a conv layer; did you mean 'filters'\?"
    ):
        nets.check_architecture([{"type": "conv", "filter": 8}], where)
    with pytest.raises(ValueError, match=r"architecture\[1\]: unknown layer type 'denes'; did you mean 'dense'\?"):
        nets.check_architecture([{"type": "conv", "filters": 8}, {"type": "denes", "units": 4}], where)
    with pytest.raises(ValueError, match=r"architecture\[0\]: a dense layer needs 'units'"):
        nets.check_architecture([{"type": "dense"}], where)
    with pytest.raises(
        ValueError, match=r"architecture\[1\]: a backbone layer reads the image, so it must be the first"
    ):
        nets.check_architecture([{"type": "conv", "filters": 8}, {"type": "backbone", "backbone": NAME}], where)
    with pytest.raises(ValueError, match=r"backbone 'resnet51' is not a keras.applications backbone"):
        nets.check_architecture([{"type": "backbone", "backbone": "resnet51"}], where)
    with pytest.raises(ValueError, match=r"unfreeze must be a whole number >= 0"):
        nets.check_architecture([{"type": "backbone", "backbone": NAME, "unfreeze": -1}], where)
    with pytest.raises(ValueError, match=r"unknown preset 'vgg16'"):
        nets.check_architecture("vgg16", where)
    assert nets.check_architecture("notebook", where) == nets.NOTEBOOK_LAYERS
    # at start-up, through the registry: the variant's own key is named
    cfg = iscfg.validate(
        {
            "datasets": {
                "d": {
                    "source": {"type": "synthetic", "n_per_class": 4},
                    "cnn": {
                        "enabled": True,
                        "variants": {
                            "cnn": {},
                            "cnn_tl": {"architecture": [{"type": "backbone", "backbone": NAME, "unfreez": 2}]},
                        },
                    },
                }
            }
        }
    )
    with pytest.raises(
        featuresets.RegistryError,
        match=r"datasets.d.cnn.variants.cnn_tl.architecture\[0\]: unknown key 'unfreez' "
        r"for a backbone layer; did you mean 'unfreeze'\?",
    ):
        featuresets.Registry(cfg)


def test_a_transfer_variant_runs_in_the_workflow_from_a_weights_file(weights, tmp_path):
    cfg = {
        "datasets": {
            "tiny": {
                "source": {"type": "synthetic", "n_per_class": 10, "size": 24, "seed": 2},
                "images": {"size": None, "color": "rgb"},
                "validation_fraction": 0.3,
                "backbones": {NAME: {"weights": "none", "weights_path": str(weights), "size": SIZE}},
                "cnn": {
                    "enabled": True,
                    "epochs": 2,
                    "batch_size": 8,
                    "early_stopping": {"patience": 0},
                    "variants": {"cnn_tl": {"architecture": layers(2)}},
                },
            },
            # ImageNet weights from the Keras cache: planned only (a dry run downloads nothing)
            "imnet": {
                "source": {"type": "synthetic", "n_per_class": 4, "size": 16},
                "cnn": {
                    "enabled": True,
                    "variants": {
                        "cnn_tl": {
                            "architecture": [
                                {"type": "backbone", "backbone": "resnet50"},
                                {"type": "dense", "units": 8, "name": "penultimate"},
                            ]
                        }
                    },
                },
            },
        },
        "embeddings": {"methods": []},
        "clustering": {"methods": []},
        "retrieval": {"enabled": False},
        "explore": {"enabled": False},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    d = "results/tiny"
    snakemake(tmp_path, f"{d}/features/cnn_tl.npz", f"{d}/cnn/cnn_tl/evaluation.json")
    info = json.loads((tmp_path / d / "cnn/cnn_tl/training.json").read_text())
    assert info["epochs_run"] == 2 and info["n_trainable_params"] < info["n_params"]  # the frozen part is not trained
    summary = (tmp_path / d / "cnn/cnn_tl/model_summary.txt").read_text()
    assert "mobilenetv2_input" in summary and "bb_mobilenetv2_out_relu" in summary
    from imagespace.io import load_features

    fs = load_features(tmp_path / d / "features/cnn_tl.npz")
    assert fs.X.shape == (30, 8) and np.isfinite(fs.X).all()
    plan = snakemake(tmp_path, "-n", "results/imnet/cnn/cnn_tl/model.keras").stdout
    assert "rule backbone_weights:" in plan and "results/imnet/backbones/resnet50/imagenet_weights.json" in plan
