"""The reports' HTML templates (``liqcascade/templates/*.html.j2``, Jinja2, autoescaped).

:func:`render` renders one with the filters the templates use: ``fmt`` (a figure in its unit,
:func:`liqcascade.targets.fmt`), ``num`` (Python's format specification: ``x|num(',.0f')``) and
``ledger`` (the ledger's imbalance, USD to the micro-dollar).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any


def _num(x: Any, spec: str = "") -> str:
    return format(x, spec)


def _ledger(x: Any) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:,.6f} USD"


@lru_cache(maxsize=1)
def environment() -> Any:
    """The templates' Jinja2 environment (loaded once)."""
    import jinja2

    from .targets import fmt

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("liqcascade", "templates"),
        autoescape=jinja2.select_autoescape(["html", "html.j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(fmt=fmt, num=_num, ledger=_ledger)
    return env


def render(name: str, **context: Any) -> str:
    """The template ``name`` rendered with ``context``."""
    return str(environment().get_template(name).render(**context))


def plot_divs(figs: dict[str, Any]) -> dict[str, str]:
    """Each Plotly figure as an HTML ``<div id="fig-NAME">`` without Plotly's script (a report
    loads it once), for the templates."""
    return {
        name: f.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"fig-{name}",
            config={"displaylogo": False, "responsive": True},
        )
        for name, f in figs.items()
    }
