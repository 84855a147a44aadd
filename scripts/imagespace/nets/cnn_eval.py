"""Evaluation of a trained CNN as a classifier, on every split it was not trained on.

Class networks are scored through their softmax; metric-learning networks
(``target: triplet``) through a nearest-centroid and a small MLP classifier fitted
on the training split's embeddings. Every score is computed in inference mode,
the mode every later use of the model runs in. Alongside: the accuracy on the
training split in inference and in training mode (a gap above
``MODE_GAP`` means the saved model does not behave like the one that was
trained, e.g. unsettled batch-normalisation statistics), and the warnings of
:func:`imagespace.evaluation.degenerate_warnings`.
"""

from __future__ import annotations

import logging

import numpy as np

from imagespace import evaluation

from .cnn_features import inference_batch, penultimate_model

log = logging.getLogger("imagespace.nets.cnn_eval")

MODE_GAP = 0.15


def _batched(fn, x, batch_size: int | None = None) -> np.ndarray:
    batch_size = batch_size or inference_batch(np.shape(x)[1:])
    return np.concatenate([np.asarray(fn(np.asarray(x[a : a + batch_size]))) for a in range(0, len(x), batch_size)])


STOCHASTIC = (
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "RandomTranslation",
    "RandomContrast",
    "RandomBrightness",
)


class batch_statistics_mode:
    """Context: calls with ``training=True`` normalise with each batch's own statistics, as in training,
    while dropout and augmentation stay off (they would only add noise to the comparison). What
    differs from inference mode is then exactly what the batch-normalisation layers do."""

    def __init__(self, model):
        self.layers = [
            layer for layer in model._flatten_layers(include_self=False) if type(layer).__name__ in STOCHASTIC
        ]

    def __enter__(self):
        for layer in self.layers:
            orig = layer.call
            layer.call = (lambda f: lambda inputs, *a, training=None, **kw: f(inputs, *a, training=False, **kw))(orig)
        return self

    def __exit__(self, *exc):
        for layer in self.layers:
            del layer.call  # back to the class's own method
        return False


def _outputs(sub, x, training: bool, batch_size: int) -> np.ndarray:
    if not training:
        return _batched(lambda b: sub(b, training=False), x)
    # training mode: batches of *batch_size* rows (a remainder is spread over them, never a batch of 1), drawn in a
    # seeded random order as training draws them: rows stored by class (a training archive sorted by label) would
    # otherwise give batches of one class, whose statistics no training batch had
    order = np.random.default_rng(0).permutation(len(x))
    groups = [np.sort(g) for g in np.array_split(order, max(1, len(x) // max(2, int(batch_size))))]
    with batch_statistics_mode(sub):
        result = np.concatenate([np.asarray(sub(np.asarray(x[g]), training=True)) for g in groups])
    out = np.empty_like(result)
    out[np.concatenate(groups)] = result  # back to the rows' own order
    return out


def softmax_outputs(model, x, *, training: bool = False, batch_size: int = 32) -> np.ndarray:
    """Class probabilities (the ``output`` layer of class and joint models), in inference or training mode.

    Parameters
    ----------
    model : keras.Model
        A network of target class or joint.
    x : ndarray
        Images.
    training : bool
        Training mode: batch-normalisation by each batch's statistics (dropout and augmentation off).
    batch_size : int
        Images per batch in training mode.

    Returns
    -------
    ndarray
        (n, classes).
    """
    import keras

    return _outputs(keras.Model(model.inputs, model.get_layer("output").output), x, training, batch_size)


def embeddings(model, x, *, training: bool = False, batch_size: int = 32) -> np.ndarray:
    """Penultimate-layer activations (the embedding of a metric-learning network), in inference or training mode.

    Parameters
    ----------
    model : keras.Model
        The network.
    x : ndarray
        Images.
    training : bool
        Training mode, as in :func:`softmax_outputs`.
    batch_size : int
        Images per batch in training mode.

    Returns
    -------
    ndarray
        (n, units).
    """
    return _outputs(penultimate_model(model), x, training, batch_size)


def evaluate(
    model,
    images,
    y,
    *,
    splits,
    class_names,
    target: str,
    train_split: str,
    checkpoint_split: str | None,
    seed: int = 0,
    batch_size: int = 256,
) -> dict:
    """Scores of every classifier the network provides, on every split but *train_split*.

    Training-mode accuracy normalises by the statistics of batches of *batch_size* training
    images (at most :func:`imagespace.nets.inference_batch`, the memory budget; dropout and
    augmentation off): large batches, so that what it measures is the
    difference between the data's own statistics and the stored moving statistics, not the
    noise of small-batch statistics.

    Parameters
    ----------
    model : keras.Model
        The chosen checkpoint.
    images : ndarray
        Every image of the manifest.
    y : ndarray
        Their class indices.
    splits : array-like
        Their splits: every one but *train_split* is held out, except ``evaluation.EXCLUDED_SPLIT`` (the images
        ``curation.exclude`` takes out), which is never scored.
    class_names : list of str
        The classes, in index order.
    target : str
        The network's target (class and joint: softmax; triplet: nearest centroid and an MLP).
    train_split : str
        The split it was trained on (not scored).
    checkpoint_split : str or None
        The split whose labels chose the checkpoint.
    seed : int
        Seeds the MLP classifier (target triplet).
    batch_size : int
        Images per batch of the training-mode accuracy.

    Returns
    -------
    dict
        {"classifiers": {name: {split: metrics}}, "predictions": {name: (pred, confidence)} (all rows),
        "train_modes": {"inference", "training", "gap"}, "headline_split", "warnings": [...]}.
    """
    splits = np.asarray(splits)
    y = np.asarray(y)
    batch_size = min(int(batch_size), inference_batch(np.shape(images)[1:]))  # large, within the memory budget
    tr = np.flatnonzero(splits == train_split)
    held = [sp for sp in dict.fromkeys(splits.tolist()) if sp not in (train_split, evaluation.EXCLUDED_SPLIT)]
    preds: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if target == "triplet":
        from .metric import mlp_classifier, nearest_centroid_with_confidence

        E = embeddings(model, images)
        E_tr_train_mode = embeddings(model, images[tr], training=True, batch_size=batch_size)
        nc_pred, nc_conf = nearest_centroid_with_confidence(E[tr], y[tr], E)
        preds["nearest_centroid"] = (nc_pred.astype(int), nc_conf)

        mlp = mlp_classifier(seed, n_train=len(tr)).fit(E[tr], y[tr])
        proba = mlp.predict_proba(E)
        preds["mlp"] = (np.asarray(mlp.classes_)[proba.argmax(1)].astype(int), proba.max(1))
        inf_acc = float((nc_pred[tr] == y[tr]).mean())
        trm_acc = float((nearest_centroid_with_confidence(E[tr], y[tr], E_tr_train_mode)[0] == y[tr]).mean())
    else:
        P = softmax_outputs(model, images)
        preds["softmax"] = (P.argmax(1).astype(int), P.max(1))
        inf_acc = float((preds["softmax"][0][tr] == y[tr]).mean())
        trm_acc = float(
            (softmax_outputs(model, images[tr], training=True, batch_size=batch_size).argmax(1) == y[tr]).mean()
        )
    out = {
        "classifiers": {},
        "predictions": preds,
        "held_out_splits": held,
        "checkpoint_split": checkpoint_split,
        "train_modes": {
            "split": train_split,
            "n": int(len(tr)),
            "inference": inf_acc,
            "training": trm_acc,
            "gap": abs(inf_acc - trm_acc),
            "batch": batch_size,
        },
        "warnings": [],
    }
    for name, (pred, _conf) in preds.items():
        out["classifiers"][name] = {}
        for sp in held:
            rows = np.flatnonzero(splits == sp)
            m = evaluation.classification_metrics(y[rows], pred[rows], class_names)
            m["chose_checkpoint"] = sp == checkpoint_split
            out["classifiers"][name][sp] = m
    # the headline: a split that chose nothing (test) before the split that chose the checkpoint
    clean = [sp for sp in held if sp != checkpoint_split]
    out["headline_split"] = (clean or held or [None])[0]
    for name, by_split in out["classifiers"].items():
        for sp, m in by_split.items():
            out["warnings"] += evaluation.degenerate_warnings(m, f"{name} classifier on split {sp!r}")
    if out["train_modes"]["gap"] > MODE_GAP:
        out["warnings"].append(
            f"accuracy on the training split is {inf_acc:.3f} in inference mode but {trm_acc:.3f} in training mode "
            f"(gap {out['train_modes']['gap']:.3f} > {MODE_GAP}): the saved model does not behave like the trained one"
        )
    return out
