"""Fine-tuning's training: targets, the optimizer, the losses, one seed's run, and the inner hold-out.

PyTorch is imported inside the functions only. See :mod:`imagespace.nets.finetune` for what is trained.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from imagespace.io import Progress

from ._finetune_net import FinetuneError, FrozenFeatures, _frozen_modules, _make_trainable, _n_blocks, _nhwc
from .backbone_table import BACKBONES

log = logging.getLogger("imagespace.nets.finetune")


def _targets(targets, s: dict, labels=None):
    """(y tensor, kind info: mean/sd or classes, stratification labels)."""
    import torch

    from imagespace.io import natural_key

    if s["target"] == "human":
        Y = np.asarray(targets, dtype=np.float64)
        if Y.ndim != 2 or not np.isfinite(Y).all():
            raise FinetuneError("finetune target human: targets must be a finite (n, k) array")
        return Y, None, labels
    lab = np.asarray(targets).astype(str)
    if lab.ndim != 1:
        raise FinetuneError("finetune target class: targets must be n labels")
    classes = sorted(set(lab.tolist()), key=natural_key)
    if len(classes) < 2:
        raise FinetuneError(f"finetune target class: {len(classes)} class(es); at least 2 are needed")
    y = np.array([classes.index(c) for c in lab], dtype=np.int64)
    return torch.from_numpy(y), classes, lab if labels is None else labels


def _standardise(Y: np.ndarray):
    import torch

    mean, sd = Y.mean(axis=0), Y.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return torch.from_numpy(((Y - mean) / sd).astype(np.float32)), mean, sd


def _optimizer(net, s: dict):
    import torch

    lr = float(s["learning_rate"])
    blr = lr if s["backbone_learning_rate"] is None else float(s["backbone_learning_rate"])
    groups = {}
    for name, p in net.named_parameters():
        part = "head" if name.startswith("fc.") else "backbone"
        decay = p.ndim > 1
        groups.setdefault((part, decay), []).append(p)
    params = [
        {"params": ps, "lr": lr if part == "head" else blr, "weight_decay": float(s["weight_decay"]) if decay else 0.0}
        for (part, decay), ps in groups.items()
    ]
    return torch.optim.AdamW(params, lr=lr, weight_decay=float(s["weight_decay"]), fused=True)  # one kernel per tensor


def triplet_loss(emb, y, margin: float):
    """Triplet loss with online semi-hard negative mining, as the Keras CNN's (:func:`imagespace.nets.metric.
    semihard_triplet_loss`, after tensorflow_addons' TripletSemiHardLoss), of embeddings *emb* with labels *y*.

    Every ordered anchor-positive pair (a, p) with the same label is one triplet; its negative is the closest
    one farther from the anchor than the positive (semi-hard), or the farthest negative when there is none.
    Loss = mean over the pairs whose anchor has a negative of max(d(a,p) - d(a,n) + margin, 0), d Euclidean
    (0 for a batch without such a pair). Batch-hard mining collapses a new head here (every embedding the
    same, the loss stuck at the margin); semi-hard does not.

    Parameters
    ----------
    emb : torch.Tensor
        (B, d) embeddings.
    y : torch.Tensor
        (B,) labels.
    margin : float
        The margin.

    Returns
    -------
    torch.Tensor
        The scalar loss.
    """
    import torch

    sq = ((emb[:, None, :] - emb[None, :, :]) ** 2).sum(-1)
    d = torch.sqrt(sq.clamp_min(1e-12))
    same = y[:, None] == y[None, :]
    negative = ~same
    positive = same & ~torch.eye(len(y), dtype=torch.bool)
    d_ap, d_an = d[:, :, None], d[:, None, :]
    semihard = negative[:, None, :] & (d_an > d_ap)
    big = d.max().detach() + 1.0
    semihard_min = torch.where(semihard, d_an, big).min(dim=2).values
    farthest = torch.where(negative, d, torch.full_like(d, -1.0)).max(dim=1).values
    d_neg = torch.where(semihard.any(dim=2), semihard_min, farthest[:, None])
    valid = positive & negative.any(dim=1)[:, None]
    if not valid.any():
        return (emb * 0).sum()
    return torch.relu(d - d_neg + float(margin))[valid].mean()


def _loss(out, y, s: dict):
    import torch.nn.functional as F

    if s["target"] == "triplet":
        return triplet_loss(F.normalize(out, dim=1), y, s["margin"])
    return F.mse_loss(out, y) if s["target"] == "human" else F.cross_entropy(out, y)


def _evaluate(net, ff: FrozenFeatures, target: str, tta: bool = True, batch: int = 64):
    """(outputs averaged over augmentations: standardised predictions, class probabilities, or the unit-length
    embedding (triplet: the normalised mean of the views' normalised embeddings); pooled features)."""
    import torch
    import torch.nn.functional as F

    net.eval()
    x = ff.x if tta else ff.x[:, :1]
    n, A = x.shape[:2]
    outs, feats = [], []
    with torch.no_grad():
        for a in range(0, n, batch):
            xb = x[a : a + batch]
            o, f = net(_nhwc(xb.reshape(-1, *xb.shape[2:])))
            o = o.reshape(len(xb), A, -1)
            if target == "triplet":
                outs.append(F.normalize(F.normalize(o, dim=-1).mean(dim=1), dim=-1))
            else:
                outs.append(o.mean(dim=1) if target == "human" else torch.softmax(o, dim=-1).mean(dim=1))
            feats.append(f.reshape(len(xb), A, -1).mean(dim=1))
    return torch.cat(outs), torch.cat(feats)


def _inner_loss(pred, y, target: str, margin: float = 0.2) -> float:
    import torch
    import torch.nn.functional as F

    if target == "triplet":  # all inner rows as one batch
        return float(triplet_loss(F.normalize(pred, dim=1), y, margin))
    if target == "human":
        return float(((pred - y) ** 2).mean())
    p = pred.clamp_min(1e-12)
    return float(-torch.log(p[torch.arange(len(y)), y]).mean())


def _fit_one(
    model,
    cut,
    ff: FrozenFeatures,
    y,
    s: dict,
    seed: int,
    epochs: int,
    prog: Progress,
    run: str,
    inner: tuple | None = None,
):
    """Train one network (seed) for *epochs* on ff/y; with *inner* = (ff_inner, y_inner) its predictions
    on the inner rows after every epoch. Returns (net, history, inner predictions per epoch)."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    out_dim = {
        "human": lambda: y.shape[1],
        "class": lambda: int(s["_n_classes"]),
        "triplet": lambda: int(s["embedding_dims"]),
    }[s["target"]]()
    net = _make_trainable(model, cut, out_dim, s)
    opt = _optimizer(net, s)
    n, A = ff.x.shape[:2]
    bs = int(s["batch_size"])
    history, inner_preds = [], []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        net.train()
        order = rng.permutation(n)
        aug = rng.integers(0, A, size=n)
        total, seen = 0.0, 0
        for a in range(0, n, bs):
            idx = torch.from_numpy(order[a : a + bs])
            xb = _nhwc(ff.x[idx, torch.from_numpy(aug[a : a + bs])])
            out, _ = net(xb)
            loss = _loss(out, y[idx], s)
            if not torch.isfinite(loss):
                raise FinetuneError(
                    f"{run}: the training loss is {float(loss)} at epoch {epoch + 1}; lower finetune.learning_rate"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
            prog.add(len(idx), f"{run}, epoch {epoch + 1}/{epochs}")
        row = {"epoch": epoch + 1, "loss": total / seen}
        if inner is not None:
            pred, _ = _evaluate(net, inner[0], s["target"], s["tta"])
            inner_preds.append(pred)
            row["inner_loss"] = _inner_loss(pred, inner[1], s["target"], s["margin"])
            prog.add(len(inner[0]) * (inner[0].x.shape[1] if s["tta"] else 1) / 3)
        row["seconds"] = round(time.perf_counter() - t0, 3)
        history.append(row)
        prog.add(
            0,
            force=True,
            extra=f"{run}, epoch {epoch + 1}/{epochs}: "
            + ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch",)),
        )
    return net, history, inner_preds


def _inner_rows(n: int, s: dict, strata) -> np.ndarray:
    """Boolean mask of the inner hold-out among the n training rows (seeded by the first seed)."""
    from imagespace.sampling import stratified_holdout

    frac, seed = float(s["inner_fraction"]), s["seeds"][0]
    if strata is not None:
        mask = stratified_holdout(np.asarray(strata).astype(str), frac, seed)
    else:
        mask = np.zeros(n, bool)
        mask[np.random.default_rng(seed).permutation(n)[: int(round(frac * n))]] = True
    if mask.all() or not mask.any():
        raise FinetuneError(f"finetune.inner_fraction {frac}: holds out {int(mask.sum())} of {n} training rows")
    return mask


def procrustes_disparity(H, P) -> float:
    """scipy.spatial.procrustes disparity of predictions P against the human space H (lower is better).

    The fine-tuning's own helper, for now: the one Procrustes of the human package replaces it.

    Parameters
    ----------
    H : array-like
        (n, k) human coordinates.
    P : array-like
        (n, k) predictions.

    Returns
    -------
    float
        The disparity.
    """
    from scipy.spatial import procrustes

    return float(procrustes(np.asarray(H, float), np.asarray(P, float))[2])


def _epochs_auto(model, cut: int, ff: FrozenFeatures, y_raw, s: dict, *, strata, targets_of):
    """``epochs: auto``: every seed trained on the training rows but an inner hold-out for ``max_epochs``; the
    epoch whose seed-averaged inner loss is lowest. Returns (epochs, the progress of the whole fine-tuning,
    what the inner runs found)."""
    import torch

    n, seeds = len(y_raw), s["seeds"]
    mask = _inner_rows(n, s, strata)
    fit_r, in_r = np.flatnonzero(~mask), np.flatnonzero(mask)
    E = int(s["max_epochs"])
    eval_units = len(in_r) * (len(s["augment"]) if s["tta"] else 1) / 3
    total = len(seeds) * E * (len(fit_r) + eval_units) + len(seeds) * E * n  # the retrain: at most E
    prog = Progress("fine-tune", total, s["log_every"], logger=log, heartbeat=False)
    y_fit, mean_fit, sd_fit = targets_of(fit_r)
    if s["target"] == "human":
        y_in = torch.from_numpy(((y_raw[in_r] - mean_fit) / sd_fit).astype(np.float32))
    else:
        y_in = y_raw[torch.from_numpy(in_r)]
    ff_fit, ff_in = ff.subset(fit_r), ff.subset(in_r)
    t0 = time.perf_counter()
    curves, preds = {}, []
    for seed in seeds:
        _, hist, p = _fit_one(model, cut, ff_fit, y_fit, s, seed, E, prog, f"inner run, seed {seed}", (ff_in, y_in))
        curves[str(seed)] = hist
        preds.append(p)
    ens = [
        _inner_loss(torch.stack([p[e] for p in preds]).mean(dim=0), y_in, s["target"], s["margin"]) for e in range(E)
    ]
    best = int(np.argmin(ens)) + 1
    extra = {}
    if s["target"] == "human":
        extra["inner_disparity"] = []
        for e in range(E):
            P = torch.stack([p[e] for p in preds]).mean(dim=0).numpy() * sd_fit + mean_fit
            extra["inner_disparity"].append(procrustes_disparity(y_raw[in_r], P))
    info_inner = {
        "n_fit": len(fit_r),
        "n_inner": len(in_r),
        "rows": in_r.tolist(),
        "fraction": s["inner_fraction"],
        "stratified": strata is not None,
        "seed": seeds[0],
        "max_epochs": E,
        "curves": curves,
        "ensemble_inner_loss": ens,
        **extra,
        "chosen_epoch": best,
        "why": f"lowest inner loss of the {len(seeds)}-seed average, {ens[best - 1]:.4f} at epoch {best} of {E}",
        "seconds": round(time.perf_counter() - t0, 2),
    }
    log.info("epochs auto: epoch %d chosen (%s)", best, info_inner["why"])
    prog.total = prog.done + len(seeds) * best * n
    return best, prog, info_inner


def _targets_of(s: dict, y_raw):
    """rows -> (targets of those rows, their mean, sd): target human standardised on the rows, else the labels."""
    import torch

    def targets_of(rows):
        if s["target"] == "human":
            yt, mean, sd = _standardise(y_raw[rows])
            return yt, mean, sd
        return y_raw[torch.from_numpy(np.asarray(rows))], None, None

    return targets_of


def _final_members(model, cut: int, ff: FrozenFeatures, y_all, s: dict, epochs: int, prog):
    """Every seed's network trained on all rows: (members, curves, trainable parameters, seconds)."""
    members, curves, t0 = [], {}, time.perf_counter()
    n_trainable = 0
    for seed in s["seeds"]:
        net, hist, _ = _fit_one(model, cut, ff, y_all, s, seed, epochs, prog, f"final run, seed {seed}")
        curves[str(seed)] = hist
        n_trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
        members.append({"seed": seed, "state_dict": {k: v.detach().clone() for k, v in net.state_dict().items()}})
    return members, curves, n_trainable, time.perf_counter() - t0


def _info(s: dict, model, cut: int, ff: FrozenFeatures, state: dict, **run) -> dict:
    """What a fine-tuning did: settings, network, weights, the cache, the epochs, the curves, seconds."""
    import efficientnet_lite_pytorch
    import torch

    public = state["settings"]
    return {
        "settings": public,
        "target": s["target"],
        "n_train": run["n"],
        "dims": 1280 if s["target"] == "class" else state["out_dim"],
        "classes": state["classes"],
        "backbone": s["backbone"],
        "input_size": list(run["size"]),
        "network": f"{BACKBONES[s['backbone']].constructor} "
        f"(efficientnet-lite-pytorch {efficientnet_lite_pytorch.__version__})",
        "weights": run["weights_desc"],
        "weights_sha256": state["weights_sha256"],
        "torch_version": str(torch.__version__),
        "threads": torch.get_num_threads(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "unfrozen": (
            [f"_blocks.{i}" for i in range(cut, _n_blocks(model))]
            + (["_conv_head", "_bn1"] if cut <= _n_blocks(model) else [])
            + ["new head (dropout + linear)"]
        ),
        "trainable_parameters": int(run["n_trainable"]),
        "frozen_parameters": int(sum(p.numel() for m in _frozen_modules(model, cut).values() for p in m.parameters())),
        "frozen_checksum": ff.checksum,
        "augmentations": list(ff.augs),
        "cache": {"shape": list(ff.x.shape), "megabytes": round(ff.megabytes, 1), "seconds": round(ff.seconds, 2)},
        "epochs": state["epochs"],
        "epochs_setting": s["epochs"],
        "inner": run["info_inner"],
        "curves": run["curves"],
        "target_mean": state["mean"],
        "target_sd": state["sd"],
        "train_seconds": round(run["train_seconds"], 2),
        "seconds": round(time.perf_counter() - run["t_start"], 2),
    }
