"""Lazy public names for the subpackages: a name's module is imported when the name is first used.

A notebook imports a handful of names from a subpackage; importing every submodule (and the
scikit-learn, lifelines, SciPy or pandera behind them) for those few names made the notebooks'
import cell cost several times ``import pandas, numpy``. Each subpackage's ``__init__`` lists its
public names and the module each comes from; :func:`install` gives the package a module-level
``__getattr__`` (PEP 562) that imports that module on first access and keeps the value.

``from crm_research.churn import BetaGeoModel``, ``crm_research.churn.BetaGeoModel``,
``from crm_research.churn import *`` and ``dir()`` work exactly as with eager imports.

A public function named like a submodule (``crm_research.data.load`` the function, in
``crm_research/data/load.py``) stays the function: importing the submodule, which makes Python
set the package's attribute of that name to the module, leaves the function in place (as the
eager ``from .load import load`` did).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable, Mapping

__all__ = ["install"]


class _LazyPackage(types.ModuleType):
    """A package module whose lazily exported names are not replaced by same-named submodules."""

    def __setattr__(self, name: str, value) -> None:
        exports = self.__dict__.get("_lazy_exports", {})
        if isinstance(value, types.ModuleType) and name in exports:
            target = exports[name]
            if target.partition(":")[2]:  # the public name is an attribute of a module, not the module
                return
        super().__setattr__(name, value)


def install(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """Make the public names of ``package`` lazy.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping of str to str
        Public name → ``"module:attribute"`` (the attribute of that module) or ``"module"`` (the
        module itself); module names are absolute (``crm_research.churn.btyd``).

    Returns
    -------
    (callable, callable)
        The package's ``__getattr__`` and ``__dir__``; assign both at module level.
    """
    module = sys.modules[package]
    exports = dict(exports)
    module.__dict__["_lazy_exports"] = exports
    module.__class__ = _LazyPackage

    def __getattr__(name: str) -> object:
        target = exports.get(name)
        if target is None:
            # a submodule read as an attribute (``kpi.scans``): eager imports had made it one
            if name.startswith("__") or importlib.util.find_spec(f"{package}.{name}") is None:
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            return importlib.import_module(f"{package}.{name}")
        mod_name, _, attr = target.partition(":")
        mod = importlib.import_module(mod_name)
        value = getattr(mod, attr) if attr else mod
        module.__dict__[name] = value  # later look-ups are plain attribute reads
        return value

    def __dir__() -> list[str]:
        return sorted(set(module.__dict__) | set(exports))

    return __getattr__, __dir__
