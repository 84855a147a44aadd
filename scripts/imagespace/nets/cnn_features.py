"""What a trained Keras CNN gives: batch-normalisation statistics recalibrated, penultimate-layer features, the
human head's predictions, dead units, and the training curves.

Keras 3 on TensorFlow, imported inside the functions only.
"""

from __future__ import annotations

import logging

import numpy as np

from .cnn_layers import PENULTIMATE

log = logging.getLogger("imagespace.cnn")


def recalibrate_batchnorm(
    model, x, *, batch_size: int = 256, max_images: int = 4096, seed: int = 0, cache_mb: float = 256.0
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

    Parameters
    ----------
    model : keras.Model
        The network; its trainable batch-normalisation layers are recalibrated in place.
    x : ndarray
        The training images.
    batch_size : int
        Images per forward pass.
    max_images : int
        At most this many images (a seeded sample when there are more).
    seed : int
        Seeds the sample.
    cache_mb : float
        Memory for a layer's kept inputs.

    Returns
    -------
    list of str
        The names of the layers recalibrated.
    """
    import keras

    # trained ones only: a frozen backbone's layers (imagespace.nets.transfer) keep their pretrained statistics
    bns = [
        b
        for b in model._flatten_layers(include_self=False)
        if isinstance(b, keras.layers.BatchNormalization) and b.trainable
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
    return [b.name for b in bns]


def inference_batch(image_shape, most: int = 256, budget_mb: float = 256.0) -> int:
    """Images per forward pass, so that memory stays flat as images grow.

    Parameters
    ----------
    image_shape : tuple of int
        (height, width, ...) of one image.
    most : int
        The most images per pass.
    budget_mb : float
        A full-resolution activation of 64 float32 channels stays within it.

    Returns
    -------
    int
        At least 8 (a 128 x 128 image: 64; 28 x 28: 256).
    """
    pixels = int(np.prod(image_shape[:2])) if len(image_shape) >= 2 else 1
    return int(max(8, min(most, budget_mb * 2**20 // (pixels * 64 * 4))))


def penultimate_model(model):
    """The network up to its penultimate layer.

    Parameters
    ----------
    model : keras.Model
        The network (a layer named :data:`PENULTIMATE`).

    Returns
    -------
    keras.Model
        A model whose output is that layer's.
    """
    import keras

    return keras.Model(model.inputs, model.get_layer(PENULTIMATE).output)


def features(model, x, batch_size: int = 64) -> np.ndarray:
    """Penultimate-layer activations (target triplet: the L2-normalised embedding) in inference mode.

    Parameters
    ----------
    model : keras.Model
        The network.
    x : ndarray
        Images (n, height, width, channels).
    batch_size : int
        Images per forward pass.

    Returns
    -------
    ndarray
        float32 (n, units).
    """
    return np.asarray(penultimate_model(model).predict(x, batch_size=batch_size, verbose=0), dtype=np.float32)


def human_predictions(model, x, *, mean, sd, batch_size: int = 64) -> np.ndarray:
    """The human head's predictions, back on the human space's own scale.

    Parameters
    ----------
    model : keras.Model
        A network of target human or joint.
    x : ndarray
        Images.
    mean, sd : array-like
        The standardisation of the human coordinates it was trained on.
    batch_size : int
        Images per forward pass.

    Returns
    -------
    ndarray
        float32 (n, dims).
    """
    import keras

    head = keras.Model(model.inputs, model.get_layer("human").output)
    z = np.asarray(head.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)
    return (z * np.asarray(sd) + np.asarray(mean)).astype(np.float32)


def dead_units(F: np.ndarray, tol: float = 1e-6) -> list[int]:
    """Units whose activation is (numerically) constant over all images: they carry no information.

    Parameters
    ----------
    F : ndarray
        Activations, one row per image.
    tol : float
        Constant: a standard deviation at most tol times the largest absolute activation (at least 1).

    Returns
    -------
    list of int
        The dead units' columns.
    """
    F = np.asarray(F, dtype=np.float64)
    if F.ndim > 2:
        F = F.reshape(len(F), -1)
    return [int(j) for j in np.flatnonzero(F.std(axis=0) <= tol * max(1.0, float(np.abs(F).max(initial=0))))]


def plot_curves(history: list[dict], best_epoch: int, path, *, title: str = "") -> None:
    """Per-epoch curves: accuracy (train in training mode; validation in inference mode, for
    target triplet the nearest-centroid accuracy), loss, and the learning rate.

    Parameters
    ----------
    history : list of dict
        The history rows.
    best_epoch : int
        The chosen epoch, marked by a line.
    path : str or Path
        The figure file.
    title : str
        The figure's title.
    """
    from matplotlib.figure import Figure

    from imagespace.io import save_figure

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
