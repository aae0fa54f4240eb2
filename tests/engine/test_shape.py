"""The engine's functions take their state in a few named bundles (issue 20, item 1).

Every function of ``src/liqcascade/engine/*.py`` takes at most ``MAX_PARAMS`` positional
parameters (``*args`` counts as one more): anonymous arrays passed by position in long lists can
be swapped without a compiler noticing; bundles with named fields, and keyword-only parameters
(named at every call, as ``simulate``'s options), cannot.
"""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "src" / "liqcascade" / "engine"
MAX_PARAMS = 12


def n_params(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> int:
    a = node.args
    return len(a.posonlyargs) + len(a.args) + (a.vararg is not None)


def engine_functions():
    for path in sorted(ENGINE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield f"{path.name}:{node.lineno} {node.name}", n_params(node)


def test_engine_modules_are_found():
    names = {p.name for p in ENGINE.glob("*.py")}
    assert {"core.py", "run.py", "flows.py", "ledger.py"} <= names


def test_no_engine_function_takes_more_than_twelve_parameters():
    too_long = {name: n for name, n in engine_functions() if n > MAX_PARAMS}
    assert not too_long, f"functions with more than {MAX_PARAMS} parameters: {too_long}"
