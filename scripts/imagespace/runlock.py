"""One run per working folder: a lock taken when the workflow starts, held until its process ends.

Snakemake locks the output files of a running workflow only once it has built its DAG; a second run
started beside a running one first trips over the first run's files in flight
(``IncompleteFilesException``) and lists them. The workflow takes this lock first, while it parses,
so the second run stops with one line naming the holder and what to do.

The lock is an advisory ``flock`` on a file in ``.snakemake/``: the kernel drops it when the holding
process ends, however it ends, so a killed run leaves no stale lock of this kind behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time

#: command-line flags of Snakemake that run no job (dry runs, reports, listings, unlocking): they take no lock
NO_JOB_FLAGS = frozenset(
    {
        "-n",
        "--dry-run",
        "--dryrun",
        "--unlock",
        "--report",
        "--report-stylesheet",
        "-l",
        "--list",
        "--list-rules",
        "--list-target-rules",
        "--lt",
        "-S",
        "--summary",
        "-D",
        "--detailed-summary",
        "--cleanup-metadata",
        "--cm",
        "--lint",
        "--dag",
        "--rulegraph",
        "--filegraph",
        "--d3dag",
        "--list-changes",
        "--lc",
        "--list-input-changes",
        "--li",
        "--list-params-changes",
        "--lp",
        "--list-code-changes",
        "--list-version-changes",
        "--lv",
        "--containerize",
        "--print-compilation",
        "--archive",
        "--generate-unit-tests",
        "--delete-all-output",
        "--delete-temp-output",
        "--conda-create-envs-only",
        "--conda-cleanup-envs",
        "--cleanup-shadow",
        "--version",
        "-v",
        "--help",
        "-h",
        "--list-untracked",
        "--lu",
        "--export-cwl",
        "--deploy-sources",
    }
)


class RunLocked(RuntimeError):
    """Another live process holds the run lock of this folder; the message names it and what to do."""


def runs_jobs(argv: list[str]) -> bool:
    """False when the Snakemake command line *argv* runs no job (a dry run, a report, --unlock, ...)."""
    for a in argv[1:]:
        flag = a.split("=", 1)[0]
        if flag in NO_JOB_FLAGS:
            return False
        if a.startswith("-") and not a.startswith("--") and len(a) > 2 and "n" in a[1:] and a[1:].isalpha():
            return False  # combined short flags such as -np
    return True


def acquire(path: str | os.PathLike, *, command: list[str] | None = None):
    """Take the lock file *path* for this process, or raise :class:`RunLocked`.

    Parameters
    ----------
    path
        The lock file (created with its folder).
    command
        The command line recorded for the next run to show; default ``sys.argv``.

    Returns
    -------
    The open lock file: the lock lasts as long as it stays open (keep a reference).
    """
    os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the life of the run
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.seek(0)
        try:
            holder = json.loads(fh.read() or "{}")
        except ValueError:
            holder = {}
        fh.close()
        raise RunLocked(describe(holder, path)) from None
    fh.seek(0)
    fh.truncate()
    fh.write(
        json.dumps(
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                "command": " ".join(command if command is not None else sys.argv),
            }
        )
    )
    fh.flush()
    return fh


def describe(holder: dict, path) -> str:
    """The one line a refused run prints: who holds the lock and what to do."""
    who = (
        (
            f"process {holder.get('pid', '?')} on {holder.get('host', '?')}, started {holder.get('started', '?')}"
            f" (`{holder.get('command', '?')}`)"
        )
        if holder
        else f"another process (lock file {path})"
    )
    return (
        f"another run holds this folder: {who}. Wait for it to finish or stop it; a dry run (-n) works meanwhile. "
        "(If it was killed, the lock is released by itself; Snakemake may then ask for `snakemake --unlock`.)"
    )
