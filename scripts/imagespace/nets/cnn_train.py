"""Training of the Keras CNN: resumable seeded epochs, learning-rate schedules, early stopping, the checkpoint choice.

Keras 3 on TensorFlow (imported inside the functions only). Training runs one epoch at a time; before each epoch
the global seed is set to ``seed + epoch`` and the epoch's sample order comes from
``numpy.random.default_rng(seed + epoch)``. Everything random inside an epoch therefore depends only on (seed,
epoch, weights, optimizer state), so resuming from the checkpoint written after epoch e reproduces the
uninterrupted run. Checkpoints are written atomically (temporary file + rename) together with a fingerprint of
the training inputs; a checkpoint whose fingerprint differs (other config, other data) is never resumed from.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from imagespace.io import Progress

from .cnn_features import features, inference_batch, recalibrate_batchnorm
from .cnn_layers import load_model
from .cnn_schedule import learning_rate_for, stop_early

log = logging.getLogger("imagespace.cnn")


def configure_tensorflow(threads: int, deterministic: bool = True) -> str:
    """TensorFlow's thread pools, op determinism and GPU memory growth.

    Parameters
    ----------
    threads : int
        Threads within an op (between ops: at most 2).
    deterministic : bool
        Enable TensorFlow's op determinism (training; inference is deterministic without it).

    Returns
    -------
    str
        A description of the device that will run.
    """
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


# the code that builds and trains a network: part of every training run's fingerprint
_CODE = tuple(Path(__file__).with_name(f"cnn_{m}.py") for m in ("layers", "train", "schedule", "features"))


def fingerprint(*parts) -> str:
    """Identity of a training run: settings, input files (size, mtime), code (bytes) and the source of the modules
    that build and train the network. Checkpoints carry it; a checkpoint with another fingerprint is never resumed
    from.

    Parameters
    ----------
    *parts
        Bytes (hashed as they are), paths of files (their name, size and mtime), or JSON-able settings.

    Returns
    -------
    str
        16 hex digits.
    """
    h = hashlib.sha256(b"".join(f.read_bytes() for f in _CODE))
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


def balanced_class_weights(y: np.ndarray, n_classes: int) -> dict[int, float]:
    """scikit-learn's 'balanced' weights n / (k * count) for the classes present in *y*.

    Parameters
    ----------
    y : ndarray
        Class indices of the training rows.
    n_classes : int
        Classes of the network's output.

    Returns
    -------
    dict
        class index -> weight (1 for a class absent from *y*).
    """
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(y)
    w = compute_class_weight("balanced", classes=present, y=y)
    out = {int(c): 1.0 for c in range(n_classes)}
    out.update({int(c): float(v) for c, v in zip(present, w)})
    return out


def _resume(model, state_dir: Path, fp: str, epochs: int):
    """(model, first epoch to run, history) from the newest valid checkpoint of *state_dir*, or from scratch."""
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
    return model, start, history


def _epoch_order(settings: dict, y_train, n: int, seed: int, epoch: int, batch_size: int):
    """(the rows of one epoch in order, batch size): class-balanced batches for target triplet, else a
    permutation seeded by ``seed + epoch``."""
    if settings["target"] == "triplet":
        from .metric import class_balanced_batches

        tri = settings["triplet"]
        P, K = int(tri["classes_per_batch"]), int(tri["per_class"])
        batches = class_balanced_batches(np.asarray(y_train), P, K, seed=int(seed) + epoch)
        return batches.reshape(-1), batches.shape[1]
    return np.random.default_rng(int(seed) + epoch).permutation(n), int(batch_size)


def _checkpoint(model, state_dir: Path, epoch: int, fp: str, history: list[dict]) -> None:
    """The model after *epoch* (1-based) and the state (epoch, fingerprint, history), each written atomically."""
    _save_atomic(model, state_dir / f"epoch_{epoch:03d}.keras")
    meta_path = state_dir / "state.json"
    tmp = meta_path.with_name(".state.json.tmp")
    tmp.write_text(json.dumps({"epoch": epoch, "fingerprint": fp, "history": history}))
    os.replace(tmp, meta_path)


def _class_weight(settings: dict, model, y_train):
    if settings["target"] == "class" and settings["class_weight"] == "balanced":
        class_weight = balanced_class_weights(np.asarray(y_train), int(model.output_shape[-1]))
        log.info("class weights (balanced): %s", {k: round(v, 3) for k, v in class_weight.items()})
        return class_weight
    return None


def train(
    model,
    train: tuple,
    val: tuple | None,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    state_dir: Path,
    fp: str,
    monitor: str = "val_accuracy",
    settings: dict | None = None,
    on_epoch=None,
):
    """Train epoch by epoch with atomic per-epoch checkpoints in *state_dir*; resume from the last valid one.

    After every epoch the batch-normalisation statistics are recalibrated on the
    training images and the validation split is scored in inference mode (the
    mode every later use of the model runs in), so the numbers that choose the
    checkpoint are the numbers the saved model gives. For ``target: triplet`` the
    validation score is nearest-centroid accuracy (centroids of the training
    embeddings), recorded as ``val_accuracy``.

    Parameters
    ----------
    model : keras.Model
        A compiled model (:func:`imagespace.nets.build_model`).
    train : tuple
        (x_train, y_train): images and targets (class indices, or a dict of targets per output).
    val : tuple or None
        (x_val, y_val) scored after every epoch; None or empty: no validation.
    epochs : int
        Epochs to run (a resumed run continues from its checkpoint).
    batch_size : int
        Images per step (target triplet: the class-balanced batches' size instead).
    seed : int
        Epoch e runs with seed + e (:func:`reseed`).
    state_dir : Path
        Folder of the checkpoints and ``state.json``.
    fp : str
        The run's :func:`fingerprint`: checkpoints with another one are not resumed from.
    monitor : str
        The metric of early stopping and the plateau schedule.
    settings : dict, optional
        The cnn block: ``target``, ``optimizer.learning_rate`` and ``schedule`` (see
        :func:`learning_rate_for`), ``early_stopping: {patience, min_delta}``, ``class_weight``
        (``balanced`` or ``none``; class targets), ``recalibrate_batchnorm`` (see
        :func:`imagespace.nets.recalibrate_batchnorm`), and for target triplet
        ``triplet: {classes_per_batch, per_class, margin}``.
    on_epoch : callable, optional
        Called with the epoch number after each completed epoch (tests use it to kill a run mid-way).

    Returns
    -------
    tuple
        (model, history rows).
    """
    from imagespace.config import with_defaults

    (x_train, y_train), (x_val, y_val) = train, (val if val is not None else (None, None))
    settings = with_defaults(settings, "cnn")
    base_lr = float(settings["optimizer"]["learning_rate"])
    es = settings["early_stopping"]
    patience, min_delta = int(es["patience"]), float(es["min_delta"])
    class_weight = _class_weight(settings, model, y_train)
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    model, start, history = _resume(model, state_dir, fp, epochs)
    has_val = x_val is not None and len(x_val) > 0
    # percent done and ETA with every epoch, and every 30 s within a long one (early stopping may end sooner)
    prog = Progress(f"CNN training, epochs {start + 1}..{epochs}", max(epochs - start, 1), logger=log)
    try:
        for epoch in range(start, epochs):
            if stop_early(history, monitor, patience, min_delta=min_delta):
                log.info(
                    "early stopping after epoch %d: %s did not improve for %d epochs", len(history), monitor, patience
                )
                break
            reseed(model, int(seed), epoch)
            lr = learning_rate_for(
                settings["schedule"], base_lr, epoch, epochs=epochs, history=history, monitor=monitor
            )
            model.optimizer.learning_rate.assign(lr)
            t0 = time.perf_counter()
            order, bs = _epoch_order(settings, y_train, len(x_train), seed, epoch, batch_size)
            y_ord = {k: v[order] for k, v in y_train.items()} if isinstance(y_train, dict) else y_train[order]
            h = model.fit(
                x_train[order], y_ord, batch_size=bs, epochs=1, shuffle=False, verbose=0, class_weight=class_weight
            )
            row = {
                "epoch": epoch + 1,
                **{k: float(v[-1]) for k, v in h.history.items() if k != "learning_rate"},
                "learning_rate": lr,
            }
            if settings["recalibrate_batchnorm"]:
                recalibrate_batchnorm(model, x_train, seed=int(seed) + epoch)
            if has_val:
                row.update(validation_scores(model, x_val, y_val, target=settings["target"], train=(x_train, y_train)))
            dt = time.perf_counter() - t0
            row["seconds"] = dt
            history.append(row)
            _checkpoint(model, state_dir, epoch + 1, fp, history)
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


def validation_scores(model, x_val, y_val, *, target: str, train: tuple | None = None) -> dict:
    """Validation metrics in inference mode, named ``val_<metric>`` as Keras names them.

    Parameters
    ----------
    model : keras.Model
        The network.
    x_val, y_val : ndarray
        Validation images and targets.
    target : str
        The network's target (:data:`imagespace.nets.TARGETS`).
    train : tuple, optional
        (x_train, y_train): target triplet scores nearest-centroid accuracy with the centroids of their embeddings.

    Returns
    -------
    dict
        ``val_<metric>`` -> value (target triplet: ``val_accuracy``).
    """
    if target == "triplet":
        from .metric import nearest_centroid_accuracy

        x_train, y_train = train
        e_tr = features(model, x_train)
        e_va = features(model, x_val)
        return {
            "val_accuracy": float(nearest_centroid_accuracy(e_tr, np.asarray(y_train), e_va, y_eval=np.asarray(y_val)))
        }
    r = model.evaluate(x_val, y_val, batch_size=inference_batch(np.shape(x_val)[1:]), verbose=0, return_dict=True)
    return {f"val_{k}": float(v) for k, v in r.items()}


def reseed(model, seed: int, epoch: int) -> None:
    """Make all randomness of one epoch a function of (seed, epoch) only.

    Sets the global seeds and resets the state of every layer's seed generator
    (dropout, augmentation), so that an epoch run after resuming from a checkpoint
    draws exactly the random numbers the uninterrupted run drew.

    Parameters
    ----------
    model : keras.Model
        The network.
    seed : int
        The run's seed.
    epoch : int
        The epoch, 0-based.
    """
    import keras

    keras.utils.set_random_seed(seed + epoch)
    for i, layer in enumerate(model._flatten_layers(include_self=False)):
        gens = [v for v in vars(layer).values() if isinstance(v, keras.random.SeedGenerator)]
        for j, gen in enumerate(gens):
            gen.state.assign(np.array([seed + 7919 * (i + 1) + j, epoch], dtype=gen.state.dtype))
