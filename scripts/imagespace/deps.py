"""What a rule script imports: the imagespace modules it depends on and the third-party packages it needs.

Used by the workflow (library modules become rule inputs, so editing one reruns
exactly the rules whose scripts import it, directly or indirectly) and by the
static check of the per-rule conda environments. Standard library only.
"""

from __future__ import annotations

import ast
import functools
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


@functools.lru_cache(maxsize=None)
def _modules(path: Path) -> tuple[str, ...]:
    """Absolute module names imported anywhere in *path* (inside functions too; not under a main guard).

    Cached per process: the workflow asks for every rule's modules while it parses, and the rule scripts share
    most library modules (each job of a cluster run parses the workflow again)."""
    found = []
    for node in _walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            if node.module == "imagespace":
                found += [f"imagespace.{a.name}" for a in node.names]
    return tuple(found)


def scan(script, libdir: Path = LIBDIR) -> tuple[list[Path], set[str]]:
    """(imagespace module files, third-party top-level module names) reachable from *script*."""
    libdir = Path(libdir)
    todo, seen, third = [Path(script)], [], set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.append(path)
        for mod in _modules(path):
            top, _, rest = mod.partition(".")
            if top == "imagespace":
                name = rest.split(".")[0]
                if name and (libdir / name).is_dir():  # a sub-package: all its modules (they import each other)
                    todo += sorted((libdir / name).glob("*.py"))
                elif (libdir / (name + ".py" if name else "__init__.py")).exists():
                    todo.append(libdir / (name + ".py" if name else "__init__.py"))
            elif top not in sys.stdlib_module_names and top != "snakemake":
                third.add(top)
    lib = [p for p in seen if libdir in p.parents]
    init = libdir / "__init__.py"
    return sorted(set(lib) | {init}), third


def library_modules(script, libdir: Path = LIBDIR) -> list[Path]:
    return scan(script, libdir)[0]


def third_party(script, libdir: Path = LIBDIR) -> set[str]:
    return scan(script, libdir)[1]
