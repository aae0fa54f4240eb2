"""Shared test helpers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from liqcascade.scenario import bundled_text


def write_small_scenario(path: Path, *, sell: bool = True) -> Path:
    """``feb-2026`` cut to 2 hours, written to ``path``; with ``sell`` a sell programme in each
    asset from 15 min to 1 h (BTC $600M, ETH $300M)."""
    text = re.sub(r"(?m)^horizon_hours = .*$", "horizon_hours = 2.0", bundled_text("feb-2026"))
    if sell:
        for asset, usd in (("BTC", 6.0e8), ("ETH", 3.0e8)):
            text += (f'\n[[flows]]\nkind = "sell_programme"\nasset = "{asset}"\nusd = {usd}\n'
                     "start_hour = 0.25\nend_hour = 1.0\n")
    path.write_text(text, "utf-8")
    return path


@pytest.fixture(scope="session")
def small_scenario_file():
    """The function :func:`write_small_scenario`."""
    return write_small_scenario
