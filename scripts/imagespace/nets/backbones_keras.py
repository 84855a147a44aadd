"""Pretrained backbones of ``keras.applications`` as feature sets (``bb_<name>``).

Each enabled backbone of the ``backbones`` config block turns every ingested image
into one feature row: the uint8 image (gray repeated to 3 channels) resized to the
network's input size, the network's own ``preprocess_input``, the network up to
a named layer, and a global average/max pooling when that layer's output still has
spatial axes. Nothing is fitted on the data, so a map trained on these features
transfers to new images (like ``stats``).

Weights (``weights`` / ``weights_path`` of a backbone's block):

* ``imagenet`` without ``weights_path``: Keras' own file in its cache
  (``$KERAS_HOME/models``, default ``~/.keras/models``), put there once by rule
  ``backbone_weights`` (:func:`fetch_weights`, the only code that downloads, with a
  short network timeout); the features job (:func:`extract`) never downloads.
* ``imagenet`` with ``weights_path``: a local copy of that same file (offline use);
  the network is built exactly as for ImageNet weights.
* ``none``: random initialisation seeded by ``seed``, or with ``weights_path`` the
  weights saved (``model.save_weights``) from a network built without pretrained weights.

TensorFlow/Keras are imported inside the functions only. The table of backbones
(:data:`BACKBONES`, also the PyTorch ones of :mod:`imagespace.nets.backbones_torch`) lives in
:mod:`imagespace.nets.backbone_table`, which the workflow reads at DAG time.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import socket
import time
from pathlib import Path

import numpy as np

# the table, framework-free: shared with imagespace.nets.backbones_torch and the workflow
from .backbone_table import BACKBONES, BackboneError, as_rgb, input_size, key, seen, sha256

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- devices, sizes
def configure(threads: int) -> str:
    """TensorFlow thread pools, GPU memory growth; returns a description of the device that runs
    (the CNN rules' set-up, without op determinism: inference is deterministic without it).

    Parameters
    ----------
    threads : int
        Threads.

    Returns
    -------
    str
        A description of the device that runs.
    """
    from .cnn_train import configure_tensorflow

    return configure_tensorflow(threads, deterministic=False)


# --------------------------------------------------------------------------- weights
def cache_dir() -> Path:
    """The folder Keras keeps downloaded model weights in (what keras.utils.get_file uses for cache_subdir models).

    Returns
    -------
    Path
        ``<keras home>/models``.
    """
    try:
        from keras.src.backend.config import keras_home

        home = keras_home()
    except ImportError:  # another Keras layout: its documented default
        home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    base = os.path.expanduser(home)
    if not os.access(base, os.W_OK):  # as get_file does
        base = os.path.join("/tmp", ".keras")
    return Path(base) / "models"


@contextlib.contextmanager
def _weights_file_hook(handler):
    """Route keras.applications' weight downloads (keras.utils.get_file) through
    *handler*(fname, origin, kw, original)."""
    from keras.src.utils import file_utils

    original = file_utils.get_file

    def get_file(fname=None, origin=None, **kw):
        return handler(fname, origin, kw, original)

    file_utils.get_file = get_file
    try:
        yield
    finally:
        file_utils.get_file = original


def _constructor(name: str):
    import keras

    return getattr(keras.applications, BACKBONES[name].constructor)


def _arch_kwargs(name: str, spec: dict) -> dict:
    h, w = input_size(name, spec)
    return {"include_top": bool(spec["include_top"]), "input_shape": (h, w, 3)}


def _reason(exc: BaseException, origin) -> str:
    """The network's own words for a failed download (Keras wraps URLError in an Exception that repeats the URL)."""
    inner = exc
    while inner is not None and not isinstance(inner, (OSError, ValueError)):
        inner = inner.__cause__ or inner.__context__
    inner = inner if inner is not None else exc
    text = str(getattr(inner, "reason", None) or inner).replace(str(origin), "<url>")
    text = " ".join(text.split())
    return (text[:157] + "...") if len(text) > 160 else (text or type(inner).__name__)


def fetch_weights(name: str, spec: dict, timeout: float) -> dict:
    """Rule backbone_weights: the ImageNet weights of backbone *name* in Keras' cache, downloaded if missing.

    Builds the network with ``weights="imagenet"`` (which also checks that the file
    loads), every network operation limited to *timeout* seconds. Returns what the
    features job needs: {path, origin, downloaded, bytes, sha256, seconds}. Offline,
    raises :class:`BackboneError` naming the backbone, the file, the cache path and
    how to give ``weights_path`` instead.

    Parameters
    ----------
    name : str
        The backbone.
    spec : dict
        Its ``backbones.<name>`` settings.
    timeout : float
        Seconds each network operation may take.

    Returns
    -------
    dict
        path, origin, downloaded, bytes, sha256, include_top, input_size, seconds.
    """
    t0 = time.perf_counter()
    seen: dict = {}

    def handler(fname, origin, kw, original):
        target = cache_dir() / str(fname)
        seen.update(fname=str(fname), origin=origin, path=str(target), downloaded=not target.is_file())
        if seen["downloaded"]:
            log.info("%s: downloading %s into %s (network timeout %s s)", name, origin, target.parent, timeout)
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(float(timeout))
        try:
            path = original(fname, origin, **kw)
        except Exception as e:  # noqa: BLE001 - any failure to fetch: offline, timeout, proxy, bad hash
            reason = _reason(e, origin)
            raise BackboneError(
                f"backbone {name}: downloading its ImageNet weights from {origin} failed ({reason}). "
                f"Without internet: copy that file to {target} (the Keras cache), "
                f"or set {key(name, 'weights_path')} to a local copy of it"
            ) from e
        finally:
            socket.setdefaulttimeout(previous)
        seen["path"] = str(path)
        return path

    with _weights_file_hook(handler):
        try:
            _constructor(name)(weights="imagenet", **_arch_kwargs(name, spec))
        except BackboneError:
            raise
        except Exception as e:  # noqa: BLE001 - a cached file that does not load
            where = seen.get("path", str(cache_dir()))
            raise BackboneError(
                f"backbone {name}: its ImageNet weights in {where} do not load ({e}); delete that file and run again"
            ) from e
    if not seen:
        raise BackboneError(
            f"backbone {name}: Keras did not ask for a weights file (include_top "
            f"{spec['include_top']}, size {spec['size']}); set {key(name, 'weights_path')}"
        )
    path = Path(seen["path"])
    return {
        "backbone": name,
        "path": str(path.resolve()),
        "origin": seen["origin"],
        "downloaded": seen["downloaded"],
        "bytes": path.stat().st_size,
        "sha256": sha256(path),
        "include_top": bool(spec["include_top"]),
        "input_size": list(input_size(name, spec)),
        "seconds": round(time.perf_counter() - t0, 2),
    }


def build(name: str, spec: dict, cached: str | None = None):
    """The whole network of backbone *name* with its weights, never downloading.

    *cached*: with ``weights: imagenet`` and no ``weights_path``, the cache file that
    rule backbone_weights recorded. Returns (model, description of the weights).

    Parameters
    ----------
    name : str
        The backbone.
    spec : dict
        Its ``backbones.<name>`` settings (weights, weights_path, size, include_top, seed).
    cached : str, optional
        With ``weights: imagenet`` and no ``weights_path``: the cache file rule backbone_weights recorded.

    Returns
    -------
    tuple
        (model, description of the weights).
    """
    import keras

    kwargs = _arch_kwargs(name, spec)
    path = spec["weights_path"]
    if spec["weights"] == "imagenet":
        source = path or cached
        if not source:
            raise BackboneError(
                f"backbone {name}: weights imagenet, but neither {key(name, 'weights_path')} nor the "
                "Keras cache file (rule backbone_weights) was given"
            )
        if not Path(source).is_file():
            where = key(name, "weights_path") if path else "the Keras cache (recorded by rule backbone_weights)"
            raise BackboneError(
                f"backbone {name}: weights file {source} from {where} does not exist"
                + ("" if path else f"; run again with --forcerun backbone_weights, or set {key(name, 'weights_path')}")
            )

        def handler(fname, origin, kw, original):  # the file Keras would download: the local one instead
            return str(source)

        desc = f"imagenet ({'weights_path' if path else 'Keras cache'}: {source})"
        with _weights_file_hook(handler):
            try:
                model = _constructor(name)(weights="imagenet", **kwargs)
            except Exception as e:  # noqa: BLE001
                raise BackboneError(
                    f"backbone {name}: ImageNet weights {source} do not fit the network "
                    f"(include_top {spec['include_top']}): {e}"
                ) from e
        return model, desc
    if path:
        if not Path(path).is_file():
            raise BackboneError(f"{key(name, 'weights_path')}: {path} does not exist")
        try:
            model = _constructor(name)(weights=None, **kwargs)
            model.load_weights(path)
        except Exception as e:  # noqa: BLE001
            raise BackboneError(
                f"{key(name, 'weights_path')}: {path} does not fit backbone {name} built without "
                f"pretrained weights (include_top {spec['include_top']}): {e}"
            ) from e
        return model, f"weights_path: {path}"
    keras.utils.set_random_seed(int(spec["seed"]))
    return _constructor(name)(weights=None, **kwargs), f"random initialisation (seed {spec['seed']})"


def default_layer(model, include_top: bool) -> str:
    """The penultimate representation: the last layer without the classifier head, else the layer before it.

    Parameters
    ----------
    model : keras.Model
        The backbone.
    include_top : bool
        Whether it has its classifier.

    Returns
    -------
    str
        The layer's name.
    """
    return model.layers[-2].name if include_top else model.layers[-1].name


def feature_model(name: str, spec: dict, model):
    """*model* up to backbone.<name>.layer, its output pooled over the spatial axes: (model, layer name, pooled).
    A list of layers: their pooled outputs concatenated, in the order listed (name: the layers joined by +).

    Parameters
    ----------
    name : str
        The backbone.
    spec : dict
        Its settings (layer, pooling, include_top).
    model : keras.Model
        The network (:func:`build`).

    Returns
    -------
    tuple
        (model, layer name, whether an output was pooled).
    """
    import keras

    names = [layer.name for layer in model.layers]
    layer = spec["layer"] or default_layer(model, spec["include_top"])
    layers = [layer] if isinstance(layer, str) else list(layer)
    if len(set(layers)) != len(layers):
        raise BackboneError(f"{key(name, 'layer')}: {layers} names a layer twice")
    outs, pooled = [], False
    for i, one in enumerate(layers):
        if one not in names:
            near = difflib.get_close_matches(one, names, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(repr(n) for n in near)}?" if near else ""
            top = "" if spec["include_top"] else " (the classifier's layers exist only with include_top: true)"
            raise BackboneError(
                f"{key(name, 'layer')}: {one!r} is not a layer of backbone {name}{hint}{top}. "
                f"Its layers: {', '.join(names)}"
            )
        out = model.get_layer(one).output
        pooled = pooled or len(out.shape) > 2
        suffix = "" if len(layers) == 1 else f"_{i}"
        if len(out.shape) == 4:
            pool = keras.layers.GlobalAveragePooling2D if spec["pooling"] == "avg" else keras.layers.GlobalMaxPooling2D
            out = pool(name=f"bb_pool{suffix}")(out)
        elif len(out.shape) == 3:
            pool = keras.layers.GlobalAveragePooling1D if spec["pooling"] == "avg" else keras.layers.GlobalMaxPooling1D
            out = pool(name=f"bb_pool{suffix}")(out)
        elif len(out.shape) != 2:
            raise BackboneError(
                f"{key(name, 'layer')}: layer {one!r} has output shape {tuple(out.shape)}; "
                "only 2-D (vector) and 3-D/4-D (pooled) outputs make features"
            )
        outs.append(out)
    out = outs[0] if len(outs) == 1 else keras.layers.Concatenate(name="bb_layers")(outs)
    label = "+".join(layers)
    return keras.Model(model.inputs, out, name=f"bb_{name}_{'_'.join(layers)}"), label, pooled


#: test-time augmentations (option tta): views of a uint8 batch (n, H, W, C) whose features are averaged with the
#: original's
TTA = {
    "hflip": lambda b: b[:, :, ::-1],
    "vflip": lambda b: b[:, ::-1],
    "rot180": lambda b: b[:, ::-1, ::-1],
}


def preprocess(name: str, batch, size: tuple[int, int]) -> np.ndarray:
    """uint8 images (n, H, W, C), C 1 or 3 -> the network's input: RGB, resized (bilinear), its preprocess_input.

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
    ndarray
        float32 (n, h, w, 3): RGB, resized (bilinear), the network's preprocess_input.
    """
    import importlib

    from keras import ops

    x = as_rgb(name, batch)
    x = x.astype(np.float32)
    if tuple(x.shape[1:3]) != tuple(size):
        x = ops.convert_to_numpy(ops.image.resize(x, size, interpolation="bilinear", antialias=True))
    x = np.clip(x, 0.0, 255.0)  # antialiased down-scaling may overshoot slightly
    module = importlib.import_module(f"keras.applications.{BACKBONES[name].module}")
    return np.asarray(module.preprocess_input(x), dtype=np.float32)


def extract(images, name: str, spec: dict, *, cached: str | None = None) -> tuple[np.ndarray, dict]:
    """Features of backbone *name* for *images* (n, H, W, C) uint8, in batches of backbones.<name>.batch_size.

    Returns (float32 matrix n x dims, info: backbone, layer, pooling, dims, input size, weights, seconds).

    Parameters
    ----------
    images : ndarray or FileImages
        uint8 images (n, H, W, C).
    name : str
        The backbone.
    spec : dict
        Its ``backbones.<name>`` settings.
    cached : str, optional
        The Keras cache file of its ImageNet weights (rule backbone_weights).

    Returns
    -------
    tuple
        (float32 features (n, dims), info).
    """
    if name not in BACKBONES or BACKBONES[name].framework != "keras":
        known = ", ".join(n for n, b in BACKBONES.items() if b.framework == "keras")
        raise BackboneError(
            f"backbones: {name!r} is not a keras.applications backbone (known: {known}; "
            "framework torch: imagespace.nets.backbones_torch)"
        )
    t0 = time.perf_counter()
    size = input_size(name, spec)
    model, weights = build(name, spec, cached)
    fmodel, layer, pooled = feature_model(name, spec, model)
    bs = int(spec["batch_size"])
    views = ["none", *spec["tta"]]

    def batch_features(batch):  # the features of every view, averaged (one view: the image itself)
        batch = np.asarray(batch)
        return np.mean(
            [
                np.asarray(
                    fmodel.predict_on_batch(
                        preprocess(name, batch if v == "none" else np.ascontiguousarray(TTA[v](batch)), size)
                    ),
                    dtype=np.float32,
                )
                for v in views
            ],
            axis=0,
            dtype=np.float32,
        )

    rows = [batch_features(images[i : i + bs]) for i in range(0, len(images), bs)]
    F = np.concatenate(rows) if rows else np.zeros((0, int(fmodel.output.shape[-1])), np.float32)
    info = {
        "backbone": name,
        "network": BACKBONES[name].constructor,
        "layer": layer,
        "pooling": spec["pooling"] if pooled else None,
        "include_top": bool(spec["include_top"]),
        "input_size": list(size),
        "input": seen(images, size),
        "tta": list(spec["tta"]),
        "weights": weights,
        "n": len(F),
        "dims": int(F.shape[1]),
        "batch_size": bs,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    log.info(
        "%s: %d images x %d features from layer %s (%s) in %.1f s",
        name,
        len(F),
        F.shape[1],
        layer,
        weights,
        info["seconds"],
    )
    return F, info
