"""Shared plumbing: logging to the rule's log file, atomic writes, feature-set I/O.

Everything here is plain Python so that tests and interactive sessions can use it
without Snakemake.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

log = logging.getLogger("imagespace")


class InputError(Exception):
    """Bad user input. The message always names the offending file and the problem."""


# --------------------------------------------------------------------------- logging
_CONSOLE = None  # the terminal's stderr after a rule's stderr went to its log: for the one-line cause
_LOGFILE = None


def setup_logging(
    logfile: str | os.PathLike | None = None, level: int = logging.INFO, rule_stderr: bool = False
) -> logging.Logger:
    """Send all log records (and Python warnings) to *logfile*, or to stderr without one.

    Uncaught exceptions are written to the log as well, so a failed rule's log
    explains the failure. With *rule_stderr* (the rule scripts), everything written
    to stderr, by TensorFlow and C libraries too, goes to the log file; a failure
    then prints only its one-line cause on the console (see :func:`logged_errors`).
    """
    global _CONSOLE, _LOGFILE
    root = logging.getLogger()
    root.setLevel(level)
    for h in list(root.handlers):
        root.removeHandler(h)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    if logfile:
        Path(logfile).parent.mkdir(parents=True, exist_ok=True)
        open(logfile, "w").close()  # truncate once; both writers below append
        handlers: list[logging.Handler] = [logging.FileHandler(logfile, mode="a", encoding="utf-8")]
        _LOGFILE = str(logfile)
        if rule_stderr:
            sys.stderr.flush()
            _CONSOLE = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
            fd = os.open(logfile, os.O_WRONLY | os.O_APPEND)
            os.dup2(fd, 2)
            os.close(fd)
    else:
        handlers = [logging.StreamHandler(sys.stderr)]
    for h in handlers:
        h.setFormatter(fmt)
        root.addHandler(h)
    logging.captureWarnings(True)
    for noisy in ("matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    def _hook(exc_type, exc, tb):
        logging.getLogger("imagespace").error("failed: %s", exc, exc_info=(exc_type, exc, tb))
        console_cause(exc)

    sys.excepthook = _hook
    return logging.getLogger("imagespace")


def console(text: str) -> None:
    """Write *text* on the console (the terminal's stderr, also after a rule's stderr went to its log)."""
    stream = _CONSOLE if _CONSOLE is not None else sys.stderr
    stream.write(text.rstrip("\n") + "\n")
    stream.flush()


def console_cause(exc: BaseException) -> None:
    """The failure's cause in one line on the console (the traceback is in the log)."""
    if _CONSOLE is None:
        return
    text = " ".join(str(exc).split()) or type(exc).__name__
    kind = "" if isinstance(exc, (InputError, ValueError)) else f"{type(exc).__name__}: "
    if len(text) > 500:
        text = text[:497] + "..."
    console(f"imagespace error: {kind}{text} (traceback: {_LOGFILE})")


def die_with_parent(parent_pid: int) -> None:
    """Initializer of a worker process: end when its parent ends, however the parent was killed.

    A pool's workers otherwise wait for work forever once their parent is SIGKILLed
    (a job killed by pid, not by process group). Linux: PR_SET_PDEATHSIG; elsewhere
    only the check that the parent is still there.
    """
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)


class Progress:
    """Percent done and the estimated time left in the log, at least every *every* seconds while work runs.

    ``add(units)`` records finished work (any unit: images, epochs, or a cost such as k for a
    mixture with k components); a line is logged when *every* seconds have passed since the
    last one. A background thread also logs while no unit finishes, so a step longer than
    *every* still reports (its percent then stays, the elapsed time grows). The ETA is the
    remaining work at the rate so far. Use as a context manager (the thread ends on exit)
    or call :meth:`close`; ``heartbeat=False`` starts no thread (lines only from :meth:`add`).
    """

    def __init__(
        self, what: str, total: float, every: float = 30.0, logger: logging.Logger | None = None, heartbeat: bool = True
    ):
        import threading
        import time

        self._time = time.perf_counter
        self.what, self.total, self.every = what, max(float(total), 1e-9), float(every)
        self.log = logger or log
        self.t0 = self.last = self._time()
        self.done = self._done_at_last = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True) if heartbeat else None
        if self._thread is not None:
            self._thread.start()

    def line(self, extra: str = "") -> str:
        el = self._time() - self.t0
        if self.total == float("inf"):  # work of unknown size: the elapsed time only
            return f"{self.what}: {el:.0f} s elapsed" + (f" ({extra})" if extra else "")
        frac = min(self.done / self.total, 1.0)
        eta = f"ETA {el / frac * (1 - frac):.0f} s" if frac > 0 else "ETA unknown"
        return f"{self.what}: {100 * frac:5.1f}% done, {el:.0f} s elapsed, {eta}" + (f" ({extra})" if extra else "")

    def _emit(self, extra: str = "") -> None:
        self.last, self._done_at_last = self._time(), self.done
        self.log.info("%s", self.line(extra))

    def add(self, units: float = 1.0, extra: str = "", force: bool = False) -> None:
        with self._lock:
            self.done += units
            if force or self._time() - self.last >= self.every:
                self._emit(extra)

    def _beat(self) -> None:
        while not self._stop.wait(min(max(self.every, 0.1), 5.0)):
            with self._lock:
                if not self._stop.is_set() and self._time() - self.last >= self.every:
                    self._emit("still working" if self.done == self._done_at_last else "")

    def close(self) -> None:
        """Stop the heartbeat; no line is logged after this returns."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _limit_threads_in_worker(parent_pid: int, threads: int) -> None:
    die_with_parent(parent_pid)
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)


def process_map(
    fn, tasks: list, n_jobs: int, costs: list[float] | None = None, progress: Progress | None = None
) -> list:
    """``[fn(t) for t in tasks]``, in *n_jobs* worker processes (each with one BLAS/OpenMP thread) when n_jobs > 1.

    Tasks start in decreasing *costs* (the longest first, so the processes finish together);
    results come back in the order of *tasks*. Each finished task adds its cost to *progress*.
    Workers end with their parent (:func:`die_with_parent`).
    """
    costs = [1.0] * len(tasks) if costs is None else [float(c) for c in costs]
    out: list = [None] * len(tasks)
    if n_jobs <= 1 or len(tasks) <= 1:
        for i, t in enumerate(tasks):
            out[i] = fn(t)
            if progress is not None:
                progress.add(costs[i])
        return out
    from concurrent.futures import ProcessPoolExecutor, as_completed

    order = sorted(range(len(tasks)), key=lambda i: -costs[i])
    with ProcessPoolExecutor(
        max_workers=min(n_jobs, len(tasks)), initializer=_limit_threads_in_worker, initargs=(os.getpid(), 1)
    ) as pool:
        futures = {pool.submit(fn, tasks[i]): i for i in order}
        for fut in as_completed(futures):
            i = futures[fut]
            out[i] = fut.result()
            if progress is not None:
                progress.add(costs[i])
    return out


@contextlib.contextmanager
def logged_errors() -> Iterator[None]:
    """Log any exception (with traceback) and show its cause on the console before re-raising it."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - re-raised
        logging.getLogger("imagespace").error("failed: %s", exc, exc_info=True)
        console_cause(exc)
        sys.excepthook = lambda *exc_info: None  # logged and shown once: no second traceback
        raise


# --------------------------------------------------------------------------- atomic writes
@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to *path*; rename it onto *path* only on success.

    A killed or failing job therefore never leaves a truncated file under the
    final name. ``suffix`` keeps the extension for writers that look at it
    (matplotlib, numpy).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sfx = suffix if suffix is not None else "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{sfx}", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the final file normal permissions
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path, obj) -> None:
    write_text(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n")


def read_json(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def write_table(path, df, **kw) -> None:
    """Write a pandas DataFrame as TSV atomically."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False, **kw)


def save_figure(fig, path, dpi: int = 110) -> None:
    """Write a matplotlib Figure atomically (figures are made with the Figure API: no pyplot state to close)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=Path(path).suffix.lstrip(".") or "png")


def save_npz(path, **arrays) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def to_jsonable(obj):
    """Convert numpy scalars/arrays and NaN into JSON-friendly values."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return None if (np.isnan(f) or np.isinf(f)) else f
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


# --------------------------------------------------------------------------- feature sets
@dataclass
class FeatureSet:
    """A named representation: one row per image, rows keyed by manifest ``id``."""

    X: np.ndarray
    ids: np.ndarray
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.ids = np.asarray(self.ids).astype(str)
        if self.X.ndim != 2 or self.X.shape[0] != len(self.ids):
            raise ValueError(f"feature matrix {self.X.shape} does not match {len(self.ids)} ids")
        if len(set(self.ids.tolist())) != len(self.ids):
            raise ValueError("feature set has duplicate ids")

    def rows(self, ids) -> np.ndarray:
        """Rows for *ids*, in that order. Missing ids are an error, never silently dropped."""
        index = {k: i for i, k in enumerate(self.ids.tolist())}
        ids = [str(i) for i in ids]
        missing = [i for i in ids if i not in index]
        if missing:
            raise KeyError(f"{len(missing)} ids not in feature set (first: {missing[:3]})")
        return self.X[[index[i] for i in ids]]


def save_features(path, X, ids, **meta) -> None:
    fs = FeatureSet(np.asarray(X, dtype=np.float32), ids, meta)
    save_npz(path, X=fs.X, ids=fs.ids, meta=np.array(json.dumps(to_jsonable(meta))))


def load_features(path) -> FeatureSet:
    with np.load(path, allow_pickle=False) as z:
        return FeatureSet(z["X"], z["ids"], json.loads(str(z["meta"])))


# --------------------------------------------------------------------------- ingest outputs
def natural_key(text) -> tuple:
    """Sort key that puts '2' before '10' (class names that are numbers)."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", str(text)) if t)


def load_manifest(path):
    """The manifest table written by ingest (a pandas DataFrame, ids and labels as text)."""
    import pandas as pd

    return pd.read_csv(
        path,
        sep="\t",
        dtype={"id": str, "name": str, "label": str, "subtype": str, "split": str},
        keep_default_na=False,
    )


def own_images(manifest) -> np.ndarray:
    """Boolean mask of the manifest rows that are images of the collection, not augmented copies made by
    ``balance`` (training material only: the CNN and the probes train on them; PCA, embeddings, clustering
    and the human comparison describe the collection's own images)."""
    if "augmented_from" not in manifest.columns:
        return np.ones(len(manifest), dtype=bool)
    return np.array(manifest["augmented_from"].fillna("").astype(str) == "", dtype=bool)  # a writable copy


def own_rows(ids, manifest) -> np.ndarray:
    """Boolean mask over *ids* (rows of a feature set or map): True for the collection's own images, False for
    ``balance``'s augmented copies (see :func:`own_images`)."""
    own_ids = set(manifest.loc[own_images(manifest), "id"].astype(str))
    return np.array([str(i) in own_ids for i in ids], dtype=bool)


def rows_all_equal(X) -> bool:
    """True when every row of *X* is the same (a collapsed network, constant features): such a set carries no
    information, and Procrustes, probes and paired comparisons are undefined on it."""
    X = np.asarray(X)
    return len(X) > 0 and not (X != X[0]).any()


def load_images(path) -> np.ndarray:
    """The ingested array, memory-mapped read-only (no copy in RAM)."""
    return np.load(path, mmap_mode="r")


def load_human_table(path) -> tuple[np.ndarray, np.ndarray]:
    """(ids, H) from a joined human-space table written by the human_space rule."""
    import pandas as pd

    df = pd.read_csv(path, sep="\t", dtype={"id": str, "name": str}, keep_default_na=False)
    return df["id"].to_numpy(dtype=str), df[[c for c in df.columns if c.startswith("dim_")]].to_numpy(dtype=np.float64)


def stratified_holdout(labels, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of a held-out share *fraction* of every label's items, reproducible by *seed*.

    Labels are visited in sorted order; within each, the items (in their given
    order) are shuffled and the first round(fraction * n) are held out.
    """
    labels = np.asarray(labels).astype(str)
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), bool)
    for lab in sorted(set(labels.tolist())):
        idx = np.flatnonzero(labels == lab)
        rng.shuffle(idx)
        mask[idx[: int(round(fraction * len(idx)))]] = True
    return mask


def stratified_sample(n: int, m: int, seed: int, strata=None) -> np.ndarray:
    """About m of n row indices (sorted), seeded; with *strata* (labels) the same fraction of every class."""
    if strata is None:
        return np.sort(np.random.default_rng(seed).choice(n, size=m, replace=False))
    return np.flatnonzero(stratified_holdout(strata, m / n, seed))
