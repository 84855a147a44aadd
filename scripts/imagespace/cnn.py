"""CNN stage: architectures from config, resumable seeded training, penultimate-layer features.

Keras 3 on TensorFlow. Training runs one epoch at a time; before each epoch the
global seed is set to ``seed + epoch`` and the epoch's sample order comes from
``numpy.random.default_rng(seed + epoch)``. Everything random inside an epoch
therefore depends only on (seed, epoch, weights, optimizer state), so resuming
from the checkpoint written after epoch e reproduces the uninterrupted run.
Checkpoints are written atomically (temporary file + rename) together with a
fingerprint of the training inputs; a checkpoint whose fingerprint differs (other
config, other data) is never resumed from.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from imagespace.util import Progress

log = logging.getLogger("imagespace.cnn")

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
    # a keras.applications network (imagespace.transfer): its settings are backbones.<backbone>
    "backbone": {"backbone", "unfreeze"},
}
LAYER_REQUIRED = {"conv": ("filters",), "dense": ("units",), "backbone": ("backbone",)}


def spatial_problem(layers: list[dict], hw: tuple[int, int]) -> str | None:
    """Why images of *hw* (height, width) cannot pass through *layers* (checked layers, no backbone): a
    convolution or pooling whose output would have no pixels left; None when they fit."""
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


def check_architecture(layers, where: str) -> list[dict]:
    """The layer list of a preset name or a list, checked: known types, known keys, required keys, a backbone
    (keras.applications) only as the first layer. Errors name *where* (the config key) and the layer."""
    import difflib

    if isinstance(layers, str):
        if layers not in PRESETS:
            raise ValueError(f"{where}: unknown preset {layers!r} (presets: {', '.join(PRESETS)})")
        return PRESETS[layers]
    from imagespace.backbone_table import names

    keras_nets = names("keras")
    for i, spec in enumerate(layers):
        at = f"{where}[{i}]"
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
        if t == "backbone":
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
    """The keras.applications backbones an architecture's layers use (empty for presets)."""
    return (
        []
        if isinstance(layers, str)
        else [s["backbone"] for s in layers if isinstance(s, dict) and s.get("type") == "backbone"]
    )


def configure_tensorflow(threads: int, deterministic: bool = True) -> str:
    """Thread pools and determinism; returns a description of the device that will run."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ chatter off; the device used is logged below
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(max(1, int(threads)))
    tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, int(threads))))
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        for g in gpus:
            try:
                tf.config.experimental.set_memory_growth(g, True)
            except RuntimeError:
                pass
        names = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
        msg = f"GPU: {', '.join(names)}"
    else:
        msg = f"no GPU visible: running on CPU with {threads} threads"
    log.info("TensorFlow %s, %s", tf.__version__, msg)
    return msg


def build_model(
    input_shape,
    n_classes: int,
    layers: list[dict] | str,
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
    """A Keras model from a layer list (or a preset name); the softmax output is added here.

    *backbones*: for a list with a backbone layer (:mod:`imagespace.transfer`), name -> (the
    ``backbones.<name>`` settings, the Keras cache file of its ImageNet weights or None)."""
    import keras
    from keras import layers as L

    layers = check_architecture(layers, "cnn.architecture")
    keras.utils.set_random_seed(int(seed))
    reg = keras.regularizers.L2(l2) if l2 else None
    inp = keras.Input(shape=tuple(input_shape), name="image")
    x = L.Rescaling(1.0 / 255.0, name="rescale")(inp)
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
        act = spec.get("activation", "relu")
        bn = spec.get("batchnorm", False)
        init = spec.get("init", "he_normal" if bn else "glorot_uniform")
        if t in ("conv", "dense"):
            kw = {"kernel_initializer": init, "kernel_regularizer": reg if spec.get("l2", True) else None}
            if "bias_init" in spec:  # e.g. a large negative bias forces dead ReLU units (tests)
                kw["bias_initializer"] = keras.initializers.Constant(float(spec["bias_init"]))
            core_name = f"{name}_linear" if (name and bn) else name
            act_in_layer = None if bn else act
            if t == "conv":
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
        elif t == "maxpool":
            x = L.MaxPooling2D(int(spec.get("size", 2)), name=name)(x)
        elif t == "avgpool":
            x = L.AveragePooling2D(int(spec.get("size", 2)), name=name)(x)
        elif t == "globalpool":
            x = L.GlobalAveragePooling2D(name=name)(x)
        elif t == "globalmaxpool":
            x = L.GlobalMaxPooling2D(name=name)(x)
        elif t == "globalavgmaxpool":  # both: how much of a pattern (texture) and whether it occurs at all (parts)
            x = L.Concatenate(name=name)([L.GlobalAveragePooling2D()(x), L.GlobalMaxPooling2D()(x)])
        elif t == "flatten":
            x = L.Flatten(name=name)(x)
        elif t == "batchnorm":
            x = L.BatchNormalization(name=name)(x)
        elif t == "dropout":
            x = L.Dropout(float(spec.get("rate", 0.5)), seed=int(seed) + i, name=name)(x)
        elif t == "backbone":  # a keras.applications network on the image (after rescaling to 0..1 and augmentation)
            from imagespace import transfer

            x = transfer.backbone_block(x, spec, backbones or {}, scale=255.0)
            keras.utils.set_random_seed(int(seed) + i)  # the head's initialisation does not depend on the backbone's
    from imagespace.config import with_defaults

    opt = with_defaults(optimizer, "cnn.optimizer")
    optimizer = keras.optimizers.get(
        {"class_name": opt["name"], "config": {"learning_rate": float(opt["learning_rate"])}}
    )
    if target == "triplet":
        # metric learning: the architecture's penultimate layer is replaced by an L2-normalised
        # embedding of triplet.embedding_dims, which is the model's output
        from imagespace.metric import add_embedding_head, make_loss

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
    if human_dims < 1:
        raise ValueError(f"target {target!r} needs the human space's dimensionality")
    outputs = {"human": L.Dense(int(human_dims), name="human")(x)}
    losses, weights, metrics = {"human": "mse"}, {"human": float(human_weight)}, {"human": ["mse"]}
    if target == "joint":
        outputs["output"] = L.Dense(int(n_classes), activation="softmax", name="output")(x)
        losses["output"], weights["output"], metrics["output"] = "sparse_categorical_crossentropy", 1.0, ["accuracy"]
    elif target != "human":
        raise ValueError(f"unknown cnn target {target!r} (class, human, joint or triplet)")
    model = keras.Model(inp, outputs, name="imagespace_cnn")
    model.compile(optimizer=optimizer, loss=losses, loss_weights=weights, metrics=metrics)
    return model


def load_model(path):
    """A saved network, with the project's own layers and losses (imagespace.metric) registered first."""
    import keras

    import imagespace.metric  # noqa: F401 - registers L2Normalize and the metric-learning losses
    import imagespace.transfer  # noqa: F401 - registers BackboneInput

    return keras.models.load_model(path)


def count_parameters(model) -> dict:
    n = int(sum(int(np.prod(w.shape)) for w in model.weights if w.trainable))
    non = int(sum(int(np.prod(w.shape)) for w in model.weights if not w.trainable))
    bias = int(sum(int(np.prod(w.shape)) for w in model.trainable_weights if w.path.endswith("bias")))
    return {"n_params": n + non, "n_trainable_params": n, "n_non_trainable_params": non, "n_bias_params": bias}


def model_summary(model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda s, **_: lines.append(s), line_length=100)
    c = count_parameters(model)
    lines += [
        "",
        f"parameters: {c['n_params']:,} (trainable {c['n_trainable_params']:,}), bias parameters: {c['n_bias_params']:,}",
    ]
    return "\n".join(lines)


def fingerprint(*parts) -> str:
    """Identity of a training run: settings, input files (size, mtime), code (bytes) and this module's source.

    Checkpoints carry it; a checkpoint with another fingerprint is never resumed from.
    """
    h = hashlib.sha256(Path(__file__).read_bytes())
    for p in parts:
        if isinstance(p, bytes):  # content, e.g. source code
            h.update(p)
        elif isinstance(p, Path) or (isinstance(p, str) and len(p) < 4096 and Path(p).is_file()):
            st = Path(p).stat()
            h.update(f"{Path(p).name}:{st.st_size}:{st.st_mtime_ns}".encode())
        else:
            h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def _save_atomic(model, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def learning_rate_for(
    schedule: dict, base_lr: float, epoch: int, epochs: int, history: list[dict], monitor: str
) -> float:
    """Learning rate of epoch *epoch* (0-based), a function of the settings and the history so far only.

    Because it is recomputed from the history, a run resumed from a checkpoint uses
    exactly the rates the uninterrupted run would have used.

    - ``constant``: *base_lr* throughout.
    - ``plateau`` (default): multiplied by ``factor`` when *monitor* has not improved
      by ``min_delta`` for ``patience`` epochs, not below ``min_lr``.
    - ``cosine``: half a cosine from *base_lr* to ``min_lr`` over *epochs*, after
      ``warmup`` epochs of linear warm-up.
    - ``rounds``: ``rounds: [[n_epochs, lr], ...]`` rounds of decreasing rate; after
      the last round its rate is kept.
    """
    from imagespace.config import with_defaults

    schedule = with_defaults(schedule, "cnn.schedule")
    kind = schedule["type"]
    min_lr = float(schedule["min_lr"])
    if kind == "constant":
        return float(base_lr)
    if kind == "cosine":
        warm = int(schedule["warmup"])
        if epoch < warm:
            return float(base_lr) * (epoch + 1) / (warm + 1)
        span = max(1, epochs - warm - 1)
        t = min(1.0, (epoch - warm) / span)
        return float(min_lr + 0.5 * (base_lr - min_lr) * (1 + np.cos(np.pi * t)))
    if kind == "rounds":
        rounds = schedule.get("rounds") or [[epochs, base_lr]]
        e = 0
        for n, lr in rounds:
            e += int(n)
            if epoch < e:
                return float(lr)
        return float(rounds[-1][1])
    if kind == "plateau":
        monitor = resolve_monitor(monitor, history[0]) if history else monitor
        factor, patience = float(schedule["factor"]), int(schedule["patience"])
        min_delta = float(schedule["min_delta"])
        lr, wait, best = float(base_lr), 0, None
        for row in history[:epoch]:
            v = _monitored(row, monitor)
            if v is None:
                continue
            if best is None or _improves(v, best, monitor, min_delta):
                best, wait = v, 0
            else:
                wait += 1
                if wait >= patience:
                    lr, wait = max(lr * factor, min_lr), 0
        return lr
    raise ValueError(f"cnn.schedule.type {kind!r}: one of constant, plateau, cosine, rounds")


def resolve_monitor(monitor: str, row: dict) -> str:
    """The history column that stands for *monitor*: itself, the class head's column of a joint
    model (val_output_accuracy), else val_loss, else loss (regression targets, no validation)."""
    for m in (monitor, monitor.replace("accuracy", "output_accuracy"), "val_loss", "loss"):
        if m in row:
            return m
    raise ValueError(f"no metric to monitor in the training history (columns: {sorted(row)})")


def _monitored(row: dict, monitor: str):
    v = row.get(monitor)
    return None if v is None or not np.isfinite(v) else float(v)


def _improves(v: float, best: float, monitor: str, min_delta: float = 0.0) -> bool:
    return v > best + min_delta if "acc" in monitor else v < best - min_delta


def stop_early(history: list[dict], monitor: str, patience: int, min_delta: float = 0.0) -> bool:
    """Whether *monitor* has not improved for *patience* epochs (patience 0: never); NaN loss stops at once."""
    if history and not np.isfinite(history[-1].get("loss", 0.0)):
        return True
    if patience <= 0 or len(history) <= patience:
        return False
    monitor = resolve_monitor(monitor, history[0])
    best, best_at = None, 0
    for i, row in enumerate(history):
        v = _monitored(row, monitor)
        if v is not None and (best is None or _improves(v, best, monitor, min_delta)):
            best, best_at = v, i
    return len(history) - 1 - best_at >= patience


def balanced_class_weights(y: np.ndarray, n_classes: int) -> dict[int, float]:
    """scikit-learn's 'balanced' weights n / (k * count) for the classes present in *y*."""
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(y)
    w = compute_class_weight("balanced", classes=present, y=y)
    out = {int(c): 1.0 for c in range(n_classes)}
    out.update({int(c): float(v) for c, v in zip(present, w)})
    return out


def train(
    model,
    x_train,
    y_train,
    x_val,
    y_val,
    epochs: int,
    batch_size: int,
    seed: int,
    state_dir: Path,
    fp: str,
    monitor: str = "val_accuracy",
    on_epoch=None,
    settings: dict | None = None,
):
    """Train epoch by epoch with atomic per-epoch checkpoints in *state_dir*; resume from the last valid one.

    *settings* (the cnn block): ``optimizer.learning_rate`` and ``schedule`` (see
    :func:`learning_rate_for`), ``early_stopping: {patience, min_delta}``,
    ``class_weight`` (``balanced`` or ``none``; class targets), ``recalibrate_batchnorm``
    (default true, see :func:`recalibrate_batchnorm`), and for ``target: triplet``
    ``triplet: {classes_per_batch, per_class, margin}``.

    After every epoch the batch-normalisation statistics are recalibrated on the
    training images and the validation split is scored in inference mode (the
    mode every later use of the model runs in), so the numbers that choose the
    checkpoint are the numbers the saved model gives. For ``target: triplet`` the
    validation score is nearest-centroid accuracy (centroids of the training
    embeddings), recorded as ``val_accuracy``.

    Returns (model, history rows). ``on_epoch(epoch)`` is called after each
    completed epoch (tests use it to kill a run mid-way).
    """

    from imagespace.config import with_defaults

    settings = with_defaults(settings, "cnn")
    target = settings["target"]
    base_lr = float(settings["optimizer"]["learning_rate"])
    schedule = settings["schedule"]
    es = settings["early_stopping"]
    patience, min_delta = int(es["patience"]), float(es["min_delta"])
    recal = bool(settings["recalibrate_batchnorm"])
    class_weight = None
    if target == "class" and settings["class_weight"] == "balanced":
        class_weight = balanced_class_weights(np.asarray(y_train), int(model.output_shape[-1]))
        log.info("class weights (balanced): %s", {k: round(v, 3) for k, v in class_weight.items()})
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    meta_path = state_dir / "state.json"
    history: list[dict] = []
    start = 0
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("fingerprint") == fp:
            # the newest readable checkpoint not beyond the requested epochs (more epochs: continue;
            # fewer: stop at that epoch); an unreadable checkpoint is never trusted
            for e in range(min(int(meta["epoch"]), epochs), 0, -1):
                ck = state_dir / f"epoch_{e:03d}.keras"
                if not ck.exists():
                    continue
                try:
                    model = load_model(ck)
                except Exception as exc:  # noqa: BLE001
                    log.warning("checkpoint %s unreadable (%s): trying an earlier one", ck, exc)
                    continue
                start, history = e, meta["history"][:e]
                log.info("resuming from %s (epoch %d of %d)", ck, start, epochs)
                break
        else:
            log.info("checkpoints in %s belong to other inputs/settings/code: training from scratch", state_dir)
    if start == 0:
        for f in state_dir.glob("epoch_*.keras"):
            f.unlink()
        history = []
    n = len(x_train)
    has_val = x_val is not None and len(x_val) > 0
    # percent done and ETA with every epoch, and every 30 s within a long one (early stopping may end sooner)
    prog = Progress(f"CNN training, epochs {start + 1}..{epochs}", max(epochs - start, 1), logger=log)
    try:
        for epoch in range(start, epochs):
            if stop_early(history, monitor, patience, min_delta):
                log.info(
                    "early stopping after epoch %d: %s did not improve for %d epochs", len(history), monitor, patience
                )
                break
            reseed(model, int(seed), epoch)
            lr = learning_rate_for(schedule, base_lr, epoch, epochs, history, monitor)
            model.optimizer.learning_rate.assign(lr)
            t0 = time.perf_counter()
            if target == "triplet":
                from imagespace.metric import class_balanced_batches

                tri = settings["triplet"]
                P, K = int(tri["classes_per_batch"]), int(tri["per_class"])
                batches = class_balanced_batches(np.asarray(y_train), P, K, int(seed) + epoch)
                order = batches.reshape(-1)
                bs = batches.shape[1]
            else:
                order = np.random.default_rng(int(seed) + epoch).permutation(n)
                bs = int(batch_size)
            y_ord = {k: v[order] for k, v in y_train.items()} if isinstance(y_train, dict) else y_train[order]
            h = model.fit(
                x_train[order], y_ord, batch_size=bs, epochs=1, shuffle=False, verbose=0, class_weight=class_weight
            )
            row = {
                "epoch": epoch + 1,
                **{k: float(v[-1]) for k, v in h.history.items() if k != "learning_rate"},
                "learning_rate": lr,
            }
            if recal:
                recalibrate_batchnorm(model, x_train, seed=int(seed) + epoch)
            if has_val:
                row.update(validation_scores(model, x_val, y_val, target, x_train, y_train))
            dt = time.perf_counter() - t0
            row["seconds"] = dt
            history.append(row)
            ck = state_dir / f"epoch_{epoch + 1:03d}.keras"
            _save_atomic(model, ck)
            tmp = meta_path.with_name(".state.json.tmp")
            tmp.write_text(json.dumps({"epoch": epoch + 1, "fingerprint": fp, "history": history}))
            os.replace(tmp, meta_path)
            prog.add(
                1,
                force=True,
                extra=f"epoch {epoch + 1}/{epochs}: "
                + ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "seconds"))
                + f", {dt:.1f} s",
            )
            if on_epoch is not None:
                on_epoch(epoch + 1)
    finally:
        prog.close()
    return model, history


def validation_scores(model, x_val, y_val, target: str, x_train=None, y_train=None) -> dict:
    """Validation metrics in inference mode, named ``val_<metric>`` as Keras names them."""
    if target == "triplet":
        from imagespace.metric import nearest_centroid_accuracy

        e_tr = features(model, x_train)
        e_va = features(model, x_val)
        return {"val_accuracy": float(nearest_centroid_accuracy(e_tr, np.asarray(y_train), e_va, np.asarray(y_val)))}
    r = model.evaluate(x_val, y_val, batch_size=inference_batch(np.shape(x_val)[1:]), verbose=0, return_dict=True)
    return {f"val_{k}": float(v) for k, v in r.items()}


def reseed(model, seed: int, epoch: int) -> None:
    """Make all randomness of one epoch a function of (seed, epoch) only.

    Sets the global seeds and resets the state of every layer's seed generator
    (dropout, augmentation), so that an epoch run after resuming from a checkpoint
    draws exactly the random numbers the uninterrupted run drew.
    """
    import keras

    keras.utils.set_random_seed(seed + epoch)
    for i, layer in enumerate(model._flatten_layers(include_self=False)):
        gens = [v for v in vars(layer).values() if isinstance(v, keras.random.SeedGenerator)]
        for j, gen in enumerate(gens):
            gen.state.assign(np.array([seed + 7919 * (i + 1) + j, epoch], dtype=gen.state.dtype))


def choose_epoch(history: list[dict], monitor: str) -> tuple[int, str]:
    """Best epoch by *monitor* (max for accuracy, min for loss); accuracy ties go to the lower val_loss, then the earliest.

    When *monitor* was not recorded (no validation data, or a regression target
    without accuracy) the first available of val_loss, loss is used, and the
    reason says so.
    """
    if not history:
        raise ValueError("no training history")
    reason = ""
    if monitor not in history[0]:
        fallback = resolve_monitor(monitor, history[0])
        reason = f"{monitor} not recorded: chose by {fallback}"
        monitor = fallback
    vals = np.array([h[monitor] for h in history], dtype=float)
    if np.isnan(vals).all():
        raise ValueError(f"{monitor} is NaN in every epoch: training diverged")
    if "acc" in monitor:
        # ties (common on small validation sets) go to the lower validation loss, then the earliest epoch
        tie = np.array([h.get("val_loss", h.get("loss", 0.0)) for h in history], dtype=float)
        tie = np.where(np.isfinite(tie), tie, np.inf)
        cand = np.flatnonzero(vals == np.nanmax(vals))
        best = int(cand[np.argmin(tie[cand])])
    else:
        best = int(np.nanargmin(vals))
    why = f"best {monitor} = {vals[best]:.4f} at epoch {best + 1} of {len(history)}"
    return best + 1, (reason + "; " if reason else "") + why


def recalibrate_batchnorm(
    model, x, batch_size: int = 256, max_images: int = 4096, seed: int = 0, cache_mb: float = 256.0
) -> list[str]:
    """Set every batch-normalisation layer's moving mean and variance to the exact statistics of its inputs.

    Keras updates the moving statistics with momentum 0.99 per training step: after
    the few hundred steps of a small data set they still lie far from the
    statistics of the trained network (measured on the synthetic shapes after 15
    epochs: moving variance 0.17-0.27 where the inputs' variance is 0.03-0.04), so
    inference mode normalises with the wrong numbers and the network predicts one
    class. This is the "precise BN" fix: layer by layer in network order, the
    inputs of each batch-normalisation layer are computed in inference mode (every
    earlier layer already recalibrated) over the training images (a seeded sample
    of *max_images* when there are more), and their per-channel mean and (biased)
    variance become the layer's moving statistics. Dropout and augmentation are off
    in inference mode, so the statistics are those inference will see.

    Each layer's inputs are kept (while they fit in *cache_mb*; each kept batch is
    released once the next layer has read it) and the next layer's are computed from
    them, through the layers in between only: about one forward pass in all instead
    of one per layer from the image. Where they do not fit, or the layers in between
    also read an earlier tensor (a skip connection), the inputs are computed from the
    image, or the last kept tensor, as before. The statistics are the same.

    Returns the names of the layers recalibrated.
    """
    import keras

    # trained ones only: a frozen backbone's layers (imagespace.transfer) keep their pretrained statistics
    bns = [
        l
        for l in model._flatten_layers(include_self=False)
        if isinstance(l, keras.layers.BatchNormalization) and l.trainable
    ]
    if not bns:
        return []
    n = len(x)
    rows = (
        np.arange(n) if n <= max_images else np.sort(np.random.default_rng(seed).choice(n, max_images, replace=False))
    )
    cached = None  # (a tensor of the graph, its values on the sampled rows): the nearest to the next layer that fits
    for layer in bns:
        sub, src = None, None
        if cached is not None:
            try:
                sub, src = keras.Model(cached[0], layer.input), cached[1]
            except Exception as exc:  # noqa: BLE001 - the layers in between need more than the cached tensor
                log.debug("batch-norm recalibration of %s from the image (%s)", layer.name, exc)
        if sub is None:
            sub = keras.Model(model.inputs, layer.input)
        per_image = int(np.prod(layer.input.shape[1:])) * 4
        keep = len(rows) * per_image <= cache_mb * 2**20
        kept = []
        s1 = s2 = None
        count = 0
        for i, a in enumerate(range(0, len(rows), batch_size)):
            batch = src[i] if src is not None else np.asarray(x[rows[a : a + batch_size]])
            out = np.asarray(sub(batch, training=False))
            if keep:  # this layer's inputs replace the kept tensor: each old batch goes once it has been read
                kept.append(out.astype(np.float32, copy=False))
                if src is not None:
                    src[i] = None
            v = out.reshape(-1, out.shape[-1])  # sums accumulated in float64 without a float64 copy (20x faster)
            b1, b2 = v.sum(axis=0, dtype=np.float64), np.einsum("ij,ij->j", v, v, dtype=np.float64)
            s1, s2 = (b1, b2) if s1 is None else (s1 + b1, s2 + b2)
            count += len(v)
        mean = s1 / count
        var = np.maximum(s2 / count - mean * mean, 0.0)
        layer.moving_mean.assign(mean.astype(np.float32))
        layer.moving_variance.assign(var.astype(np.float32))
        if keep:  # batch by batch: no copy into one array
            cached = (layer.input, kept)
    return [l.name for l in bns]


def inference_batch(image_shape, most: int = 256, budget_mb: float = 256.0) -> int:
    """Images per forward pass: at most *most*, and few enough that a full-resolution activation of 64 float32
    channels stays within *budget_mb* (a 128 x 128 image: 64; 28 x 28: 256). Memory then stays flat as images grow."""
    pixels = int(np.prod(image_shape[:2])) if len(image_shape) >= 2 else 1
    return int(max(8, min(most, budget_mb * 2**20 // (pixels * 64 * 4))))


def penultimate_model(model):
    import keras

    return keras.Model(model.inputs, model.get_layer(PENULTIMATE).output)


def features(model, x, batch_size: int = 64) -> np.ndarray:
    return np.asarray(penultimate_model(model).predict(x, batch_size=batch_size, verbose=0), dtype=np.float32)


def human_predictions(model, x, mean, sd, batch_size: int = 64) -> np.ndarray:
    """The human head's predictions, back on the human space's own scale."""
    import keras

    head = keras.Model(model.inputs, model.get_layer("human").output)
    z = np.asarray(head.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)
    return (z * np.asarray(sd) + np.asarray(mean)).astype(np.float32)


def dead_units(F: np.ndarray, tol: float = 1e-6) -> list[int]:
    """Units whose activation is (numerically) constant over all images: they carry no information."""
    F = np.asarray(F, dtype=np.float64)
    if F.ndim > 2:
        F = F.reshape(len(F), -1)
    return [int(j) for j in np.flatnonzero(F.std(axis=0) <= tol * max(1.0, float(np.abs(F).max(initial=0))))]


# --------------------------------------------------------------------------- rule-level helpers
def split_rows(manifest, spec: dict) -> tuple[np.ndarray, np.ndarray, str]:
    """(train rows, validation rows, how) from the manifest and the cnn settings."""
    from imagespace.config import with_defaults

    spec = with_defaults(spec, "cnn")
    split = manifest["split"].to_numpy()
    tr_name, va_name = spec["train_split"], spec["validation_split"]
    val = np.flatnonzero(split == va_name)
    train = np.flatnonzero(split == tr_name) if tr_name != "all" else np.setdiff1d(np.arange(len(split)), val)
    if len(train) == 0:
        raise ValueError(f"cnn.train_split {tr_name!r}: no images in that split (splits: {sorted(set(split))})")
    if len(val):
        return train, val, f"split {va_name!r}"
    from imagespace.util import stratified_holdout

    frac = float(spec["validation_fraction"])
    val_mask = stratified_holdout(manifest["label"].to_numpy()[train], frac, int(spec["seed"]))
    return train[~val_mask], train[val_mask], f"stratified {frac:.0%} of {tr_name!r} (seed {spec['seed']})"


def training_targets(manifest, y, spec: dict, human=None) -> dict:
    """Rows and targets of one training run from the manifest, the class indices *y* and the cnn settings.

    Class and triplet targets train on ``train_split`` and validate on
    ``validation_split`` (or a stratified share of the training split, see
    :func:`split_rows`). Human and joint targets regress on the human coordinates
    *human* = (ids, H) of the alignment's training split: they train and validate
    on two parts of it, so that every other split's human space stays a pure test set.

    Returns {train, val (manifest rows), y_train, y_val, how, checkpoint_split
    (the split whose labels choose the checkpoint, or None), human_stats}.
    """
    from imagespace.config import with_defaults

    spec = with_defaults(spec, "cnn")
    target = spec["target"]
    if target in ("class", "triplet"):
        train, val, how = split_rows(manifest, spec)
        # a split whose labels choose the checkpoint is not fully held out in the human comparison
        checkpoint = spec["validation_split"] if how.startswith("split ") else None
        return {
            "train": train,
            "val": val,
            "y_train": y[train],
            "y_val": y[val],
            "how": how,
            "checkpoint_split": checkpoint,
            "human_stats": {},
        }
    if human is None:
        raise ValueError(f"cnn target {target!r} needs the human space of the training split")
    ids_h, H = human
    row_of = {i: r for r, i in enumerate(manifest["id"])}
    rows_h = np.array([row_of[i] for i in ids_h])
    sub = manifest.iloc[rows_h].assign(split="train").reset_index(drop=True)
    fit_i, hold_i, _ = split_rows(sub, {**spec, "train_split": "train", "validation_split": "__none__"})
    train, val = rows_h[fit_i], rows_h[hold_i]
    mean, sd = H[fit_i].mean(axis=0), H[fit_i].std(axis=0)
    y_train, y_val = {"human": (H[fit_i] - mean) / sd}, {"human": (H[hold_i] - mean) / sd}
    if target == "joint":
        y_train["output"], y_val["output"] = y[train], y[val]
    return {
        "train": train,
        "val": val,
        "y_train": y_train,
        "y_val": y_val,
        "how": f"held-out {spec['validation_fraction']:.0%} of the human space's training images",
        "checkpoint_split": None,
        "human_stats": {"mean": mean.tolist(), "sd": sd.tolist(), "dims": int(H.shape[1])},
    }


def plot_curves(history: list[dict], best_epoch: int, path, title: str = "") -> None:
    """Per-epoch curves: accuracy (train in training mode; validation in inference mode, for
    target triplet the nearest-centroid accuracy), loss, and the learning rate."""
    from matplotlib.figure import Figure

    from imagespace.util import save_figure

    ep = [h["epoch"] for h in history]
    fig = Figure(figsize=(14, 4))
    axes = fig.subplots(1, 3)
    first = next((m for m in ("accuracy", "output_accuracy", "human_mse", "val_accuracy") if m in history[0]), "loss")
    for ax, metric in zip(axes, (first, "loss")):
        if metric in history[0] and not metric.startswith("val_"):
            ax.plot(ep, [h[metric] for h in history], "o-", label="train (training mode)")
        val = metric if metric.startswith("val_") else f"val_{metric}"
        if val in history[0]:
            # a metric-learning network has no training accuracy: its val_accuracy is nearest-centroid accuracy
            what = (
                "validation, nearest centroid"
                if val == "val_accuracy" and "accuracy" not in history[0]
                else "validation"
            )
            ax.plot(ep, [h[val] for h in history], "s-", label=f"{what} (inference mode)")
        ax.axvline(best_epoch, color="k", ls="--", lw=1)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric.replace("val_", ""))
        ax.legend(fontsize=8)
    lr = [h.get("learning_rate") for h in history]
    if all(v is not None for v in lr):
        axes[2].plot(ep, lr, "o-")
        axes[2].set_yscale("log")
    axes[2].set_xlabel("epoch")
    axes[2].set_ylabel("learning rate")
    fig.suptitle(title, fontsize=9)
    save_figure(fig, path)
