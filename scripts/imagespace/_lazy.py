"""Lazy re-exports for the sub-packages: a package names its public functions and modules, and each loads from its
module on first use. Importing a package then costs nothing, a rule script loads only the modules it calls, and
:mod:`imagespace.deps` (which follows import statements) sees a rule depend only on the modules it imports."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping


def attach(package: str, names: Mapping[str, str], namespace: dict) -> tuple[Callable, Callable]:
    """``__getattr__`` and ``__dir__`` for *package*.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : mapping
        ``{public name: "module"}`` for a name defined in ``package.module``, ``{name: "module:original"}`` for a
        name re-exported under another name, and ``{module: ""}`` for a module of the package (any module of the package
        loads on first use too).
    namespace : dict
        The package's ``globals()`` (a loaded name is stored there, so the next use is a plain lookup).

    Returns
    -------
    (__getattr__, __dir__)
    """

    def __getattr__(name: str):
        if name not in names:
            if name.startswith("__") or importlib.util.find_spec(f"{package}.{name}") is None:
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            value = importlib.import_module(f"{package}.{name}")  # a module of the package
        elif not names[name]:
            value = importlib.import_module(f"{package}.{name}")
        else:
            module, _, original = names[name].partition(":")
            value = getattr(importlib.import_module(f"{package}.{module}"), original or name)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
