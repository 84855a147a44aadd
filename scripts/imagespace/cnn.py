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

log = logging.getLogger("imagespace.cnn")

PENULTIMATE = "penultimate"

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

# Default: the same shape of network, made robust: He initialisation, batch normalisation,
# global average pooling instead of a 3.7M-weight flatten, and a penultimate layer that
# cannot die (batch-normalised, tanh).
DEFAULT_LAYERS = [
    {"type": "conv", "filters": 16, "kernel": 3, "activation": "relu", "batchnorm": True, "padding": "same"},
    {"type": "maxpool", "size": 2},
    {"type": "conv", "filters": 32, "kernel": 3, "activation": "relu", "batchnorm": True, "padding": "same"},
    {"type": "maxpool", "size": 2},
    {"type": "conv", "filters": 64, "kernel": 3, "activation": "relu", "batchnorm": True, "padding": "same"},
    {"type": "globalpool"},
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

PRESETS = {"notebook": NOTEBOOK_LAYERS, "default": DEFAULT_LAYERS, "fashion": FASHION_LAYERS}


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


def build_model(input_shape, n_classes: int, layers: list[dict] | str, seed: int, l2: float = 0.0, augment: dict | None = None,
                optimizer: dict | None = None, target: str = "class", human_dims: int = 0, human_weight: float = 1.0):
    """A Keras model from a layer list (or a preset name); the softmax output is added here."""
    import keras
    from keras import layers as L

    if isinstance(layers, str):
        layers = PRESETS[layers]
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
                x = L.Conv2D(int(spec["filters"]), int(spec.get("kernel", 3)), padding=spec.get("padding", "valid"),
                             strides=int(spec.get("stride", 1)), activation=act_in_layer, name=core_name, **kw)(x)
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
        elif t == "flatten":
            x = L.Flatten(name=name)(x)
        elif t == "batchnorm":
            x = L.BatchNormalization(name=name)(x)
        elif t == "dropout":
            x = L.Dropout(float(spec.get("rate", 0.5)), seed=int(seed) + i, name=name)(x)
        else:
            raise ValueError(f"unknown layer type {t!r} in layer {i}")
    if PENULTIMATE not in names:
        raise ValueError(f"the architecture needs a layer named {PENULTIMATE!r}")
    opt = dict(optimizer or {})
    optimizer = keras.optimizers.get({"class_name": opt.get("name", "adam"), "config": {"learning_rate": float(opt.get("learning_rate", 1e-3))}})
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
        raise ValueError(f"unknown cnn target {target!r} (class, human or joint)")
    model = keras.Model(inp, outputs, name="imagespace_cnn")
    model.compile(optimizer=optimizer, loss=losses, loss_weights=weights, metrics=metrics)
    return model


def count_parameters(model) -> dict:
    n = int(sum(int(np.prod(w.shape)) for w in model.weights if w.trainable))
    non = int(sum(int(np.prod(w.shape)) for w in model.weights if not w.trainable))
    bias = int(sum(int(np.prod(w.shape)) for w in model.trainable_weights if w.path.endswith("bias")))
    return {"n_params": n + non, "n_trainable_params": n, "n_non_trainable_params": non, "n_bias_params": bias}


def model_summary(model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda s, **_: lines.append(s), line_length=100)
    c = count_parameters(model)
    lines += ["", f"parameters: {c['n_params']:,} (trainable {c['n_trainable_params']:,}), bias parameters: {c['n_bias_params']:,}"]
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


def train(model, x_train, y_train, x_val, y_val, epochs: int, batch_size: int, seed: int, state_dir: Path, fp: str,
          monitor: str = "val_accuracy", on_epoch=None):
    """Train epoch by epoch with atomic per-epoch checkpoints in *state_dir*; resume from the last valid one.

    Returns (model, history rows). ``on_epoch(epoch)`` is called after each
    completed epoch (tests use it to kill a run mid-way).
    """
    import keras

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
                    model = keras.models.load_model(ck)
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
    for epoch in range(start, epochs):
        reseed(model, int(seed), epoch)
        order = np.random.default_rng(int(seed) + epoch).permutation(n)
        t0 = time.perf_counter()
        y_ord = {k: v[order] for k, v in y_train.items()} if isinstance(y_train, dict) else y_train[order]
        h = model.fit(x_train[order], y_ord, batch_size=int(batch_size), epochs=1, shuffle=False, verbose=0,
                      validation_data=(x_val, y_val) if x_val is not None and len(x_val) else None)
        dt = time.perf_counter() - t0
        row = {"epoch": epoch + 1, **{k: float(v[-1]) for k, v in h.history.items()}, "seconds": dt}
        history.append(row)
        ck = state_dir / f"epoch_{epoch + 1:03d}.keras"
        _save_atomic(model, ck)
        tmp = meta_path.with_name(".state.json.tmp")
        tmp.write_text(json.dumps({"epoch": epoch + 1, "fingerprint": fp, "history": history}))
        os.replace(tmp, meta_path)
        log.info("epoch %d/%d: %s (%.1f s)", epoch + 1, epochs,
                 ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k not in ("epoch", "seconds")), dt)
        if on_epoch is not None:
            on_epoch(epoch + 1)
    return model, history


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
    """Best epoch by *monitor* (max for accuracy, min for loss); ties go to the earliest.

    When *monitor* was not recorded (no validation data, or a regression target
    without accuracy) the first available of val_loss, loss is used, and the
    reason says so.
    """
    if not history:
        raise ValueError("no training history")
    reason = ""
    if monitor not in history[0]:
        fallback = next(m for m in ("val_loss", "loss") if m in history[0])
        reason = f"{monitor} not recorded: chose by {fallback}"
        monitor = fallback
    vals = np.array([h[monitor] for h in history], dtype=float)
    if np.isnan(vals).all():
        raise ValueError(f"{monitor} is NaN in every epoch: training diverged")
    best = int(np.nanargmax(vals) if "acc" in monitor else np.nanargmin(vals))
    why = f"best {monitor} = {vals[best]:.4f} at epoch {best + 1} of {len(history)}"
    return best + 1, (reason + "; " if reason else "") + why


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
    split = manifest["split"].to_numpy()
    tr_name, va_name = spec.get("train_split", "train"), spec.get("validation_split", "validation")
    val = np.flatnonzero(split == va_name)
    train = np.flatnonzero(split == tr_name) if tr_name != "all" else np.setdiff1d(np.arange(len(split)), val)
    if len(train) == 0:
        raise ValueError(f"cnn.train_split {tr_name!r}: no images in that split (splits: {sorted(set(split))})")
    if len(val):
        return train, val, f"split {va_name!r}"
    from imagespace.util import stratified_holdout

    frac = float(spec.get("validation_fraction", 0.2))
    val_mask = stratified_holdout(manifest["label"].to_numpy()[train], frac, int(spec.get("seed", 42)))
    return train[~val_mask], train[val_mask], f"stratified {frac:.0%} of {tr_name!r} (seed {spec.get('seed', 42)})"


def plot_curves(history: list[dict], best_epoch: int, path, title: str = "") -> None:
    from matplotlib.figure import Figure

    from imagespace.util import save_figure

    ep = [h["epoch"] for h in history]
    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    first = next((m for m in ("accuracy", "output_accuracy", "human_mse") if m in history[0]), "loss")
    for ax, metric in zip(axes, (first, "loss")):
        ax.plot(ep, [h[metric] for h in history], "o-", label="train")
        if f"val_{metric}" in history[0]:
            ax.plot(ep, [h[f"val_{metric}"] for h in history], "s-", label="validation")
        ax.axvline(best_epoch, color="k", ls="--", lw=1)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.legend()
    fig.suptitle(title)
    save_figure(fig, path)
