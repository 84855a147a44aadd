"""Fine-tuning's network, split in two: the frozen part (computed once per image and augmentation, kept as a
:class:`FrozenFeatures` cache) and the trained part (the last blocks, the head conv and a new linear head).

PyTorch is imported inside the functions only. See :mod:`imagespace.nets.finetune` for what is trained.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import time
from dataclasses import dataclass

import numpy as np

from imagespace.io import Progress

log = logging.getLogger("imagespace.nets.finetune")

AUGMENTS = ("identity", "hflip", "vflip", "rot90", "rot180", "rot270", "transpose", "transverse")
SQUARE_ONLY = {"rot90", "rot270", "transpose", "transverse"}  # they swap height and width


class FinetuneError(ValueError):
    """Settings or inputs that cannot be fine-tuned; the message names the key (finetune.<key>)."""


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
    """SHA-256 of the frozen part's parameters and buffers (names, shapes, bytes) up to *cut*.

    Parameters
    ----------
    model : torch.nn.Module
        The backbone.
    cut : int
        The first block not frozen (:func:`_cut`).

    Returns
    -------
    str
        Hex SHA-256.
    """
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
    """Frozen blocks start..stop-1 on x (the stem first when start is 0, the pooled head when stop is past the
    blocks)."""
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
    from . import backbones_torch

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

    from . import backbones_torch

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


def _compute_frozen_quiet(model, batch, s, augs, cut, size) -> FrozenFeatures:
    import torch

    from . import backbones_torch

    _check_augs_fit(augs, size)
    with torch.no_grad():
        x = backbones_torch.preprocess(s["backbone"], batch, size)
        h = torch.stack([_run_frozen(model, _nhwc(_transform(x, aug)), 0, cut) for aug in augs], dim=1)
    return FrozenFeatures(h, tuple(augs), cut, "", tuple(size))
