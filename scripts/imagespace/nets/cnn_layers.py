"""The Keras CNN's architecture: layer presets, the check of a layer list, and the model built from it.

Keras 3 on TensorFlow, imported inside the functions only. A layer list is a preset name (:data:`PRESETS`) or a
list of mappings (:data:`LAYER_KEYS` names the keys of each type); :func:`build_model` adds the rescaling, the
augmentation, the output head of the target and compiles the model.
"""

from __future__ import annotations

import numpy as np

PENULTIMATE = "penultimate"
# what a network learns (cnn.target): the class, the human space, both, or a metric embedding
TARGETS = ("class", "human", "joint", "triplet")

# The rock-classification notebook's network, exactly (3,700,131 parameters, 251 biases at 128x128x1).
NOTEBOOK_LAYERS = [
    {"type": "conv", "filters": 16, "kernel": 3, "activation": "relu"},
    {"type": "maxpool", "size": 2},
    {"type": "conv", "filters": 32, "kernel": 3, "activation": "relu"},
    {"type": "maxpool", "size": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 128, "activation": "relu"},
    {"type": "dense", "units": 64, "activation": "relu"},
    {"type": "dense", "units": 8, "activation": "relu", "name": PENULTIMATE},
]

# Default: small VGG-style blocks (conv-BN-ReLU), He initialisation, global average and max
# pooling side by side (how much of a pattern, texture; and whether it occurs anywhere, parts,
# corners, grains) instead of a 3.7M-weight flatten, and a
# penultimate layer that cannot die (batch-normalised, tanh). Batch-norm statistics are
# recalibrated after every epoch (train(): recalibrate_batchnorm).
DEFAULT_LAYERS = [
    {"type": "conv", "filters": 32, "kernel": 3, "activation": "relu", "batchnorm": True, "padding": "same"},
    {"type": "maxpool", "size": 2},
    {"type": "conv", "filters": 64, "kernel": 3, "activation": "relu", "batchnorm": True, "padding": "same"},
    {"type": "conv", "filters": 64, "kernel": 3, "activation": "relu", "batchnorm": True, "padding": "same"},
    {"type": "maxpool", "size": 2},
    {"type": "conv", "filters": 128, "kernel": 3, "activation": "relu", "batchnorm": True, "padding": "same"},
    {"type": "globalavgmaxpool"},
    {"type": "dense", "units": 64, "activation": "relu", "batchnorm": True},
    {"type": "dropout", "rate": 0.3},
    {"type": "dense", "units": 8, "activation": "tanh", "batchnorm": True, "name": PENULTIMATE},
]

# The deeper Fashion-MNIST notebook network.
FASHION_LAYERS = [
    {"type": "conv", "filters": 32, "kernel": 3, "activation": "relu", "padding": "same"},
    {"type": "conv", "filters": 128, "kernel": 3, "activation": "relu", "padding": "same"},
    {"type": "maxpool", "size": 2},
    {"type": "batchnorm"},
    {"type": "dropout", "rate": 0.25},
    {"type": "conv", "filters": 64, "kernel": 3, "activation": "relu", "padding": "same"},
    {"type": "maxpool", "size": 2},
    {"type": "batchnorm"},
    {"type": "dropout", "rate": 0.25},
    {"type": "flatten"},
    {"type": "dense", "units": 64, "activation": "relu", "name": PENULTIMATE},
]

# Five conv-BN-ReLU layers in VGG blocks (32-32, 64-64, 128) with a flatten and a 128-unit
# penultimate layer: 944,874 parameters at 28x28x1. For small grey images with fine detail
# (Fashion-MNIST: test accuracy 0.902 / 0.903 at seeds 42 / 7 in 10 epochs, configs/fashion_mnist.yaml,
# where the fashion preset reaches 0.890).
VGG_LAYERS = [
    {"type": "conv", "filters": 32, "kernel": 3, "activation": "relu", "batchnorm": True, "padding": "same"},
    {"type": "conv", "filters": 32, "kernel": 3, "activation": "relu", "batchnorm": True, "padding": "same"},
    {"type": "maxpool", "size": 2},
    {"type": "conv", "filters": 64, "kernel": 3, "activation": "relu", "batchnorm": True, "padding": "same"},
    {"type": "conv", "filters": 64, "kernel": 3, "activation": "relu", "batchnorm": True, "padding": "same"},
    {"type": "maxpool", "size": 2},
    {"type": "dropout", "rate": 0.25},
    {"type": "conv", "filters": 128, "kernel": 3, "activation": "relu", "batchnorm": True, "padding": "same"},
    {"type": "flatten"},
    {"type": "dropout", "rate": 0.25},
    {"type": "dense", "units": 128, "activation": "relu", "batchnorm": True, "name": PENULTIMATE},
    {"type": "dropout", "rate": 0.25},
]

PRESETS = {"notebook": NOTEBOOK_LAYERS, "default": DEFAULT_LAYERS, "fashion": FASHION_LAYERS, "vgg": VGG_LAYERS}

# the keys each layer type of an architecture reads (any other key is a config error)
_DENSE_KEYS = {"activation", "batchnorm", "init", "l2", "bias_init"}
LAYER_KEYS = {
    "conv": {"filters", "kernel", "padding", "stride"} | _DENSE_KEYS,
    "dense": {"units"} | _DENSE_KEYS,
    "maxpool": {"size"},
    "avgpool": {"size"},
    "globalpool": set(),
    "globalmaxpool": set(),
    "globalavgmaxpool": set(),
    "flatten": set(),
    "batchnorm": set(),
    "dropout": {"rate"},
    # a keras.applications network (imagespace.nets.transfer): its settings are backbones.<backbone>
    "backbone": {"backbone", "unfreeze"},
}
LAYER_REQUIRED = {"conv": ("filters",), "dense": ("units",), "backbone": ("backbone",)}


def spatial_problem(layers: list[dict], hw: tuple[int, int]) -> str | None:
    """Why images of *hw* cannot pass through *layers*.

    Parameters
    ----------
    layers : list of dict
        Checked layers (:func:`check_architecture`), no backbone.
    hw : tuple of int
        The images' (height, width).

    Returns
    -------
    str or None
        The first convolution or pooling whose output would have no pixels left; None when they fit.
    """
    h, w = int(hw[0]), int(hw[1])
    for i, spec in enumerate(layers):
        t = spec["type"]
        if t in ("flatten", "globalpool", "globalmaxpool", "globalavgmaxpool", "backbone"):
            return None
        if t == "conv":
            k, st, same = int(spec.get("kernel", 3)), int(spec.get("stride", 1)), spec.get("padding", "valid") == "same"
            h, w = (-(-h // st), -(-w // st)) if same else ((h - k) // st + 1, (w - k) // st + 1)
        elif t in ("maxpool", "avgpool"):
            s = int(spec.get("size", 2))
            h, w = h // s, w // s
        if h < 1 or w < 1:
            return f"layer {i} ({t}) leaves no pixels of a {hw[0]}x{hw[1]} image"
    return None


def _check_keys(spec, at: str) -> None:
    """A layer's type and keys are known, its required keys present; else a ValueError naming *at*."""
    import difflib

    if not isinstance(spec, dict) or "type" not in spec:
        raise ValueError(f"{at}: a layer is a mapping with a type ({', '.join(LAYER_KEYS)}), not {spec!r}")
    t = spec["type"]
    if t not in LAYER_KEYS:
        near = difflib.get_close_matches(str(t), list(LAYER_KEYS), n=1)
        raise ValueError(
            f"{at}: unknown layer type {t!r}"
            + (f"; did you mean {near[0]!r}?" if near else "")
            + f" (types: {', '.join(LAYER_KEYS)})"
        )
    allowed = LAYER_KEYS[t] | {"type", "name"}
    for k in spec:
        if k not in allowed:
            near = difflib.get_close_matches(str(k), sorted(allowed), n=1)
            raise ValueError(
                f"{at}: unknown key {k!r} for a {t} layer"
                + (f"; did you mean {near[0]!r}?" if near else "")
                + f" (its keys: {', '.join(sorted(allowed))})"
            )
    for k in LAYER_REQUIRED.get(t, ()):
        if k not in spec:
            raise ValueError(f"{at}: a {t} layer needs {k!r}")


def check_architecture(layers, where: str) -> list[dict]:
    """The layer list of a preset name or a list, checked.

    Known types, known keys, required keys, a backbone (keras.applications) only as the first layer.

    Parameters
    ----------
    layers : str or list of dict
        A preset name (:data:`PRESETS`) or a layer list.
    where : str
        The config key the layers come from: errors name it and the layer.

    Returns
    -------
    list of dict
        The layers.
    """
    if isinstance(layers, str):
        if layers not in PRESETS:
            raise ValueError(f"{where}: unknown preset {layers!r} (presets: {', '.join(PRESETS)})")
        return PRESETS[layers]
    from .backbone_table import names

    keras_nets = names("keras")
    for i, spec in enumerate(layers):
        at = f"{where}[{i}]"
        _check_keys(spec, at)
        if spec["type"] == "backbone":
            if spec["backbone"] not in keras_nets:
                raise ValueError(
                    f"{at}: backbone {spec['backbone']!r} is not a keras.applications backbone "
                    f"({', '.join(keras_nets)}; efficientnet_lite0 is fine-tuned by the finetune block)"
                )
            if i != 0:
                raise ValueError(f"{at}: a backbone layer reads the image, so it must be the first layer")
            u = spec.get("unfreeze", 0)
            if not isinstance(u, int) or isinstance(u, bool) or u < 0:
                raise ValueError(
                    f"{at}: unfreeze must be a whole number >= 0 (the backbone's last layers trained), not {u!r}"
                )
    return list(layers)


def backbone_layers(layers) -> list[str]:
    """The keras.applications backbones an architecture's layers use.

    Parameters
    ----------
    layers : str or list of dict
        A preset name or a layer list.

    Returns
    -------
    list of str
        The backbones' names (empty for presets).
    """
    return (
        []
        if isinstance(layers, str)
        else [s["backbone"] for s in layers if isinstance(s, dict) and s.get("type") == "backbone"]
    )


def _augmentation(x, augment: dict | None):
    """The augmentation layers of *augment* (flip, rotation, zoom, translation) applied to *x*, in that order."""
    from keras import layers as L

    if augment:
        if augment.get("flip"):
            x = L.RandomFlip(augment["flip"] if isinstance(augment["flip"], str) else "horizontal_and_vertical")(x)
        if augment.get("rotation"):
            x = L.RandomRotation(float(augment["rotation"]), fill_mode="nearest")(x)
        if augment.get("zoom"):
            x = L.RandomZoom(float(augment["zoom"]), fill_mode="nearest")(x)
        if augment.get("translation"):
            t = float(augment["translation"])
            x = L.RandomTranslation(t, t, fill_mode="nearest")(x)
    return x


def _weighted_layer(x, spec: dict, name, reg):
    """A conv or dense layer of *spec* on *x*; with batchnorm: linear, batch normalisation, then the activation."""
    import keras
    from keras import layers as L

    act = spec.get("activation", "relu")
    bn = spec.get("batchnorm", False)
    init = spec.get("init", "he_normal" if bn else "glorot_uniform")
    kw = {"kernel_initializer": init, "kernel_regularizer": reg if spec.get("l2", True) else None}
    if "bias_init" in spec:  # e.g. a large negative bias forces dead ReLU units (tests)
        kw["bias_initializer"] = keras.initializers.Constant(float(spec["bias_init"]))
    core_name = f"{name}_linear" if (name and bn) else name
    act_in_layer = None if bn else act
    if spec["type"] == "conv":
        x = L.Conv2D(
            int(spec["filters"]),
            int(spec.get("kernel", 3)),
            padding=spec.get("padding", "valid"),
            strides=int(spec.get("stride", 1)),
            activation=act_in_layer,
            name=core_name,
            **kw,
        )(x)
    else:
        x = L.Dense(int(spec["units"]), activation=act_in_layer, name=core_name, **kw)(x)
    if bn:
        x = L.BatchNormalization(name=f"{name}_bn" if name else None)(x)
        x = L.Activation(act, name=name)(x)
    return x


def _plain_layer(x, spec: dict, name, index: int, seed: int):
    """A layer without weights of its own (pooling, flatten, batch normalisation, dropout) on *x*."""
    from keras import layers as L

    t = spec["type"]
    if t == "maxpool":
        return L.MaxPooling2D(int(spec.get("size", 2)), name=name)(x)
    if t == "avgpool":
        return L.AveragePooling2D(int(spec.get("size", 2)), name=name)(x)
    if t == "globalpool":
        return L.GlobalAveragePooling2D(name=name)(x)
    if t == "globalmaxpool":
        return L.GlobalMaxPooling2D(name=name)(x)
    if t == "globalavgmaxpool":  # both: how much of a pattern (texture) and whether it occurs at all (parts)
        return L.Concatenate(name=name)([L.GlobalAveragePooling2D()(x), L.GlobalMaxPooling2D()(x)])
    if t == "flatten":
        return L.Flatten(name=name)(x)
    if t == "batchnorm":
        return L.BatchNormalization(name=name)(x)
    if t == "dropout":
        return L.Dropout(float(spec.get("rate", 0.5)), seed=int(seed) + index, name=name)(x)
    return x


def _body(x, layers: list[dict], *, seed: int, reg, target: str, backbones: dict | None):
    """The checked *layers* applied to *x* in order; returns (output tensor, the layer names used)."""
    import keras

    names = set()
    for i, spec in enumerate(layers):
        t = spec["type"]
        name = spec.get("name")
        if target == "triplet" and name == PENULTIMATE:
            continue  # the L2-normalised embedding takes the penultimate layer's place
        if name:
            if name in names:
                raise ValueError(f"duplicate layer name {name!r}")
            names.add(name)
        if t in ("conv", "dense"):
            x = _weighted_layer(x, spec, name, reg)
        elif t == "backbone":  # a keras.applications network on the image (after rescaling to 0..1 and augmentation)
            from . import transfer

            x = transfer.backbone_block(x, spec, backbones or {}, scale=255.0)
            keras.utils.set_random_seed(int(seed) + i)  # the head's initialisation does not depend on the backbone's
        else:
            x = _plain_layer(x, spec, name, i, seed)
    return x, names


def _human_heads(x, target: str, *, n_classes: int, human_dims: int, human_weight: float):
    """(outputs, losses, loss weights, metrics) of a regression on the human space, jointly with the class."""
    from keras import layers as L

    if human_dims < 1:
        raise ValueError(f"target {target!r} needs the human space's dimensionality")
    outputs = {"human": L.Dense(int(human_dims), name="human")(x)}
    losses, weights, metrics = {"human": "mse"}, {"human": float(human_weight)}, {"human": ["mse"]}
    if target == "joint":
        outputs["output"] = L.Dense(int(n_classes), activation="softmax", name="output")(x)
        losses["output"], weights["output"], metrics["output"] = "sparse_categorical_crossentropy", 1.0, ["accuracy"]
    elif target != "human":
        raise ValueError(f"unknown cnn target {target!r} (class, human, joint or triplet)")
    return outputs, losses, weights, metrics


def build_model(
    input_shape,
    n_classes: int,
    layers: list[dict] | str,
    *,
    seed: int,
    l2: float = 0.0,
    augment: dict | None = None,
    optimizer: dict | None = None,
    target: str = "class",
    human_dims: int = 0,
    human_weight: float = 1.0,
    triplet: dict | None = None,
    backbones: dict | None = None,
):
    """A compiled Keras model from a layer list (or a preset name); the output head of *target* is added here.

    Parameters
    ----------
    input_shape : tuple of int
        (height, width, channels) of the images.
    n_classes : int
        Classes of the softmax output (targets class and joint).
    layers : str or list of dict
        A preset name or a layer list (:func:`check_architecture`).
    seed : int
        Seeds the weights' initialisation and the dropout layers.
    l2 : float
        L2 penalty of the conv and dense kernels (0: none).
    augment : dict, optional
        ``cnn.augment``: flip, rotation, zoom, translation.
    optimizer : dict, optional
        ``cnn.optimizer``: name and learning_rate (schema defaults for missing keys).
    target : str
        One of :data:`TARGETS`.
    human_dims : int
        Dimensions of the human space (targets human and joint).
    human_weight : float
        Weight of the human loss (target joint).
    triplet : dict, optional
        ``cnn.triplet`` (target triplet): embedding_dims, loss, margin.
    backbones : dict, optional
        For a layer list with a backbone layer (:mod:`imagespace.nets.transfer`): name -> (the
        ``backbones.<name>`` settings, the Keras cache file of its ImageNet weights or None).

    Returns
    -------
    keras.Model
        The compiled model (for target triplet its output is the L2-normalised embedding).
    """
    import keras
    from keras import layers as L

    from imagespace.config import with_defaults

    layers = check_architecture(layers, "cnn.architecture")
    keras.utils.set_random_seed(int(seed))
    reg = keras.regularizers.L2(l2) if l2 else None
    inp = keras.Input(shape=tuple(input_shape), name="image")
    x = _augmentation(L.Rescaling(1.0 / 255.0, name="rescale")(inp), augment)
    x, names = _body(x, layers, seed=seed, reg=reg, target=target, backbones=backbones)
    opt = with_defaults(optimizer, "cnn.optimizer")
    optimizer = keras.optimizers.get(
        {"class_name": opt["name"], "config": {"learning_rate": float(opt["learning_rate"])}}
    )
    if target == "triplet":
        # metric learning: the architecture's penultimate layer is replaced by an L2-normalised
        # embedding of triplet.embedding_dims, which is the model's output
        from .metric import add_embedding_head, make_loss

        tri = with_defaults(triplet, "cnn.triplet")
        emb = add_embedding_head(x, int(tri["embedding_dims"]), name=PENULTIMATE, seed=int(seed))
        model = keras.Model(inp, emb, name="imagespace_cnn")
        model.compile(optimizer=optimizer, loss=make_loss(tri["loss"], float(tri["margin"])))
        return model
    if PENULTIMATE not in names:
        raise ValueError(f"the architecture needs a layer named {PENULTIMATE!r}")
    if target == "class":
        out = L.Dense(int(n_classes), activation="softmax", name="output")(x)
        model = keras.Model(inp, out, name="imagespace_cnn")
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model
    # regression on the (standardised) human coordinates, optionally jointly with the class
    outputs, losses, weights, metrics = _human_heads(
        x, target, n_classes=n_classes, human_dims=human_dims, human_weight=human_weight
    )
    model = keras.Model(inp, outputs, name="imagespace_cnn")
    model.compile(optimizer=optimizer, loss=losses, loss_weights=weights, metrics=metrics)
    return model


def load_model(path):
    """A saved network, with the project's own layers and losses registered first.

    Parameters
    ----------
    path : str or Path
        A ``.keras`` file written by ``model.save``.

    Returns
    -------
    keras.Model
        The model (its L2Normalize, BackboneInput layers and metric-learning losses are the project's own).
    """
    import keras

    from . import metric, transfer  # noqa: F401 - register L2Normalize, the metric-learning losses, BackboneInput

    return keras.models.load_model(path)


def count_parameters(model) -> dict:
    """Parameter counts of *model*.

    Parameters
    ----------
    model : keras.Model
        A built model.

    Returns
    -------
    dict
        n_params, n_trainable_params, n_non_trainable_params, n_bias_params (trainable biases).
    """
    n = int(sum(int(np.prod(w.shape)) for w in model.weights if w.trainable))
    non = int(sum(int(np.prod(w.shape)) for w in model.weights if not w.trainable))
    bias = int(sum(int(np.prod(w.shape)) for w in model.trainable_weights if w.path.endswith("bias")))
    return {"n_params": n + non, "n_trainable_params": n, "n_non_trainable_params": non, "n_bias_params": bias}


def model_summary(model) -> str:
    """Keras' summary of *model* with the parameter counts under it.

    Parameters
    ----------
    model : keras.Model
        A built model.

    Returns
    -------
    str
        The summary, lines of at most 100 characters.
    """
    lines: list[str] = []
    model.summary(print_fn=lambda s, **_: lines.append(s), line_length=100)
    c = count_parameters(model)
    lines += [
        "",
        f"parameters: {c['n_params']:,} (trainable {c['n_trainable_params']:,}), "
        f"bias parameters: {c['n_bias_params']:,}",
    ]
    return "\n".join(lines)
