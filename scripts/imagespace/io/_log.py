"""The rule log: every record (and a rule's stderr) to its log file, a failure's cause in one line on the console,
and progress lines while long work runs."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Iterator

from ._text import InputError

log = logging.getLogger("imagespace")


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

    Parameters
    ----------
    logfile
        The rule's log file (truncated); None: stderr.
    level
        The root logger's level.
    rule_stderr
        Send the process's stderr (file descriptor 2) to *logfile* too.

    Returns
    -------
    logging.Logger
        The ``imagespace`` logger.
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
    """Write *text* on the console (the terminal's stderr, also after a rule's stderr went to its log).

    Parameters
    ----------
    text
        One line (a trailing newline is added).
    """
    stream = _CONSOLE if _CONSOLE is not None else sys.stderr
    stream.write(text.rstrip("\n") + "\n")
    stream.flush()


def console_cause(exc: BaseException) -> None:
    """The failure's cause in one line on the console (the traceback is in the log).

    Parameters
    ----------
    exc
        The exception; nothing is written unless :func:`setup_logging` redirected a rule's stderr.
    """
    if _CONSOLE is None:
        return
    text = " ".join(str(exc).split()) or type(exc).__name__
    kind = "" if isinstance(exc, (InputError, ValueError)) else f"{type(exc).__name__}: "
    if len(text) > 500:
        text = text[:497] + "..."
    console(f"imagespace error: {kind}{text} (traceback: {_LOGFILE})")


@contextlib.contextmanager
def logged_errors() -> Iterator[None]:
    """Log any exception (with traceback) and show its cause on the console before re-raising it.

    Parameters
    ----------
    None

    Returns
    -------
    Iterator[None]
        A context manager around a rule's work.
    """
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - re-raised
        logging.getLogger("imagespace").error("failed: %s", exc, exc_info=True)
        console_cause(exc)
        sys.excepthook = lambda *exc_info: None  # logged and shown once: no second traceback
        raise


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
