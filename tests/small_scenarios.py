"""A two-hour cut of the bundled ``feb-2026`` scenario, shared by the report, store and CLI tests.

(A helper module, not a conftest: a root ``conftest`` module would clash with tests/data/conftest.py.)"""

from __future__ import annotations

import re
from pathlib import Path

from liqcascade.scenario import bundled_text, load_scenario


def cut_text(hours: float, *, series: bool = False, flows: bool = True) -> str:
    """The bundled ``feb-2026`` TOML cut to ``hours``; without its market series (the last table:
    a free-running cut on the synthetic population, whose sidecar would not sit beside a copy)
    unless ``series``; without its ``[[flows]]`` unless ``flows``."""
    text = re.sub(r"(?m)^horizon_hours = .*$", f"horizon_hours = {hours}", bundled_text("feb-2026"))
    if not series:
        text = text.split("\n[series]", 1)[0] + "\n"
    if not flows:
        text = re.sub(r"(?m)^\[\[flows\]\]\n(?:(?!\[).*\n)*", "", text)
    return text


def small_scenario_file(path: Path, *, sell: bool = True, assets=(("BTC", 6.0e8), ("ETH", 3.0e8))) -> Path:
    """Write ``feb-2026`` cut to 2 hours and without its market series (free mode) to ``path``;
    with ``sell``, a sell programme in each of ``assets`` (asset, USD) from 15 min to 1 h."""
    text = cut_text(2.0)
    if sell:
        for asset, usd in assets:
            text += (
                f'\n[[flows]]\nkind = "sell_programme"\nasset = "{asset}"\nusd = {usd}\n'
                "start_hour = 0.25\nend_hour = 1.0\n"
            )
    path.write_text(text, "utf-8")
    return path


def small_scenario(path: Path, *, sell: bool = True):
    """The loaded scenario of :func:`small_scenario_file`."""
    return load_scenario(small_scenario_file(path, sell=sell))
