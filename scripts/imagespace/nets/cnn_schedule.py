"""The Keras CNN's learning-rate schedules, early stopping and choice of the checkpoint: functions of the settings
and the training history only, so that a run resumed from a checkpoint takes the decisions the uninterrupted run
took.
"""

from __future__ import annotations

import numpy as np


def learning_rate_for(
    schedule: dict, base_lr: float, epoch: int, *, epochs: int, history: list[dict], monitor: str
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

    Parameters
    ----------
    schedule : dict
        ``cnn.schedule`` (schema defaults for missing keys).
    base_lr : float
        ``cnn.optimizer.learning_rate``.
    epoch : int
        The epoch, 0-based.
    epochs : int
        Epochs of the run.
    history : list of dict
        The history rows of the epochs before.
    monitor : str
        The history column a plateau is judged by.

    Returns
    -------
    float
        The learning rate.
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
    """The history column that stands for *monitor*.

    Parameters
    ----------
    monitor : str
        The metric asked for (``cnn.monitor``).
    row : dict
        A history row.

    Returns
    -------
    str
        *monitor* itself, the class head's column of a joint model (val_output_accuracy), else val_loss, else
        loss (regression targets, no validation).
    """
    for m in (monitor, monitor.replace("accuracy", "output_accuracy"), "val_loss", "loss"):
        if m in row:
            return m
    raise ValueError(f"no metric to monitor in the training history (columns: {sorted(row)})")


def _monitored(row: dict, monitor: str):
    v = row.get(monitor)
    return None if v is None or not np.isfinite(v) else float(v)


def _improves(v: float, best: float, monitor: str, min_delta: float = 0.0) -> bool:
    return v > best + min_delta if "acc" in monitor else v < best - min_delta


def stop_early(history: list[dict], monitor: str, patience: int, *, min_delta: float = 0.0) -> bool:
    """Whether training stops: *monitor* has not improved for *patience* epochs, or the loss is NaN.

    Parameters
    ----------
    history : list of dict
        The history rows so far.
    monitor : str
        The metric judged (:func:`resolve_monitor`).
    patience : int
        Epochs without improvement (0: never stop).
    min_delta : float
        The least change that counts as an improvement.

    Returns
    -------
    bool
        Whether to stop.
    """
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


def choose_epoch(history: list[dict], monitor: str) -> tuple[int, str]:
    """The best epoch by *monitor* (max for accuracy, min for loss).

    Accuracy ties go to the lower val_loss, then the earliest. When *monitor* was not recorded (no validation
    data, or a regression target without accuracy) the first available of val_loss, loss is used, and the
    reason says so.

    Parameters
    ----------
    history : list of dict
        The history rows.
    monitor : str
        The metric (``cnn.monitor``).

    Returns
    -------
    tuple
        (epoch, 1-based; why it was chosen).
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
