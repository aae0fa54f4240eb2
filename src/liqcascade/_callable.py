"""Modules that are also the function of the same name: ``liqcascade.replay`` and
``liqcascade.sweep``.

``liqcascade.replay`` (the function, :func:`liqcascade.pipeline.replay`) and ``liqcascade.sweep``
(:func:`liqcascade.sweep.sweep`) share their names with modules of the package.  Python's import
system sets the package's attribute to the *module* whenever that module is first imported
(``from liqcascade.replay import bridge``, or the pipeline itself importing it), after which
``lc.replay(...)`` would call a module.  :func:`callable_module` makes such a module callable:
calling it calls the function, so ``lc.replay(...)`` and ``lc.sweep(...)`` work in any import
order, and ``from liqcascade.replay import …`` keeps working.
"""

from __future__ import annotations

import sys
import types
from importlib import import_module
from typing import Any


class _CallableModule(types.ModuleType):
    """A module whose call is its ``__call_target__`` (``"module:function"``)."""

    __call_target__: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        module, _, name = self.__call_target__.partition(":")
        return getattr(import_module(module), name)(*args, **kwargs)


def callable_module(name: str, target: str) -> None:
    """Make the module ``name`` callable as ``target`` (``"package.module:function"``)."""
    module = sys.modules[name]
    module.__class__ = _CallableModule
    module.__call_target__ = target  # type: ignore[attr-defined]
