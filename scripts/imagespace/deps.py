"""What a rule script imports: the imagespace modules it depends on and the third-party packages it needs.

Used by the workflow (library modules become rule inputs, so editing one reruns
exactly the rules whose scripts import it, directly or indirectly) and by the
static check of the per-rule conda environments. Standard library only.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import sys
from pathlib import Path

LIBDIR = Path(__file__).resolve().parent


def _is_main_guard(node) -> bool:
    """``if __name__ == "__main__":``: what runs only when a script is started by hand (mock_snakemake)."""
    t = getattr(node, "test", None)
    return (
        isinstance(node, ast.If)
        and isinstance(t, ast.Compare)
        and isinstance(t.left, ast.Name)
        and t.left.id == "__name__"
        and len(t.comparators) == 1
        and isinstance(t.comparators[0], ast.Constant)
        and t.comparators[0].value == "__main__"
    )


def _walk(tree):
    """ast.walk without the bodies of main guards: a rule's run never executes them."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        todo.extend(c for c in ast.iter_child_nodes(node) if not _is_main_guard(c))


def _package(path: Path, libdir: Path) -> str | None:
    """The package a library file belongs to (imagespace, imagespace.<sub>), for its relative imports."""
    try:
        rel = path.resolve().parent.relative_to(libdir.resolve())
    except ValueError:
        return None
    return ".".join(("imagespace", *rel.parts))


@functools.lru_cache(maxsize=None)
def _modules(path: Path, package: str | None = None) -> tuple[str, ...]:
    """Absolute module names imported anywhere in *path* (inside functions too; not under a main guard).

    Relative imports are resolved against *package* (the file's own). ``from imagespace.<sub> import x``
    gives ``imagespace.<sub>.x`` (a module of the sub-package, or a name it re-exports) instead of the whole
    sub-package. Cached per process: the workflow asks for every rule's modules while it parses, and the rule
    scripts share most library modules (each job of a cluster run parses the workflow again)."""
    found = []
    for node in _walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
            continue
        if not isinstance(node, ast.ImportFrom) or (node.level and not package) or not (node.level or node.module):
            continue
        module = node.module
        if node.level:  # relative: against the file's own package
            base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
            module = f"{base}.{node.module}" if node.module else base
        if module == "imagespace" or (module.startswith("imagespace.") and module.count(".") == 1):
            # the package's modules (or sub-packages), or the modules of a sub-package / the names it re-exports
            found += [f"{module}.{a.name}" for a in node.names] + (["imagespace"] if module == "imagespace" else [])
        else:
            found.append(module)
    return tuple(found)


def _files(mod: str, libdir: Path) -> list[Path]:
    """The library files an imported module name stands for: a module; a module of a sub-package with the
    sub-package's ``__init__``; a whole sub-package where the name is the package or a name it re-exports."""
    parts = mod.split(".")[1:]
    if not parts:
        return [libdir / "__init__.py"]
    if (libdir / parts[0]).is_dir():  # a sub-package
        pkg = libdir / parts[0]
        if len(parts) > 1 and (pkg / f"{parts[1]}.py").exists():
            return [pkg / "__init__.py", pkg / f"{parts[1]}.py"]
        return sorted(pkg.glob("*.py"))  # the package itself, or a name it re-exports: all its modules
    return [libdir / f"{parts[0]}.py"] if (libdir / f"{parts[0]}.py").exists() else []


def scan(script, libdir: Path = LIBDIR) -> tuple[list[Path], set[str]]:
    """(imagespace module files, third-party top-level module names) reachable from *script*."""
    libdir = Path(libdir)
    todo, seen, third = [Path(script)], [], set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.append(path)
        for mod in _modules(path, _package(path, libdir) if libdir in path.parents else None):
            top = mod.partition(".")[0]
            if top == "imagespace":
                todo += _files(mod, libdir)
            elif top not in sys.stdlib_module_names and top != "snakemake":
                third.add(top)
    lib = [p for p in seen if libdir in p.parents]
    init = libdir / "__init__.py"
    return sorted(set(lib) | {init}), third


def library_modules(script, libdir: Path = LIBDIR) -> list[Path]:
    return scan(script, libdir)[0]


def third_party(script, libdir: Path = LIBDIR) -> set[str]:
    return scan(script, libdir)[1]


def _digest(script: Path, root: Path, libdir: Path) -> str:
    h = hashlib.sha256()
    for p in library_modules(script, libdir):
        for part in (os.path.relpath(p, root).encode(), b"\0", p.read_bytes()):
            h.update(part)
    return h.hexdigest()[:16]


@functools.lru_cache(maxsize=None)
def _fingerprint(root: Path) -> str:
    """Content hash of every Python file under *root* (paths and bytes): the key of the digest cache."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(os.path.relpath(p, root).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def fingerprint(root) -> str:
    """Content hash of every Python file under *root*: it changes with any edit of the code there."""
    return _fingerprint(Path(root).resolve())


_CACHES: dict[Path, dict] = {}


def rule_digest(script, *, root, libdir: Path = LIBDIR, cache_dir=None) -> str:
    """A digest of the library modules *script* imports (at any depth): their paths (relative to *root*) and contents.

    Snakemake parses the workflow for every run, dry run and cluster job; parsing the imports of every rule
    script costs about a second, so the digests are kept in ``<cache_dir>/imagespace-deps.json`` under the
    content hash of every Python file under *root*: any edit there changes the key and recomputes them.

    Parameters
    ----------
    script : str or Path
        The rule script.
    root : str or Path
        The folder of the scripts (paths in the digest are relative to it).
    libdir : Path
        The library's folder.
    cache_dir : str or Path, optional
        Where the cache file lives (the workflow's ``.snakemake``); None computes without a cache.

    Returns
    -------
    str
        16 hex digits.
    """
    script, root = Path(script), Path(root)
    if cache_dir is None:
        return _digest(script, root, libdir)
    path = Path(cache_dir) / "imagespace-deps.json"
    key = _fingerprint(root.resolve())
    cache = _CACHES.get(path)
    if cache is None:
        try:
            cache = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            cache = {}
        cache = cache if isinstance(cache, dict) and cache.get("key") == key else {"key": key, "digests": {}}
        _CACHES[path] = cache
    name = os.path.relpath(script, root)
    if name not in cache["digests"]:
        cache["digests"][name] = _digest(script, root, libdir)
        try:  # atomic: cluster jobs parse the workflow side by side
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(cache, sort_keys=True), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass
    return cache["digests"][name]
