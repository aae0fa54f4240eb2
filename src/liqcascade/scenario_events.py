"""The out-of-sample event scenarios (``oct-2025``, ``aug-2024``): what each is built from.

The global model parameters were fitted to the two February 2026 episodes; these two events
are run with them unchanged (``liqcascade validate``).  Each is derived by
:func:`liqcascade.scenario_build.build_event_scenario` from the files under ``../shared/data``
plus the figures below that the data does not hold (open interest, venue shares, funding), each
:class:`~liqcascade.scenario_build.Stated` with its source or as an assumption.  Only the state
before each crash is used (``../shared/events/held-out-inputs.md``); nothing here was chosen by
looking at a run.

    >>> from liqcascade.scenario_events import build  # doctest: +SKIP
    >>> build("oct-2025", "../shared/data", "src/liqcascade/scenarios")  # doctest: +SKIP
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from .errors import InputError
from .scenario_build import KAPPAS, BuiltScenario, Stated, build_event_scenario

__all__ = ["EVENTS", "build"]

_HELD_OUT = "../shared/events/held-out-inputs.md"

# ------------------------------------------------------------------------------- 10 Oct 2025
#: Binance's share of all-venue BTC futures open interest: two CoinGlass breakdowns found
_BINANCE_SHARE = (
    "assumption: Binance holds 0.19 of all-venue open interest, between two CoinGlass breakdowns "
    "(20.73 % of $40.65B BTC OI, mid-2024, CryptoSlate via blackpeople.biz; 17.35 % of $106.6B, "
    "Aug 2025, TokenPost via followin.io/en/feed/20153697)"
)
_OCT_OI = {
    "BTC": Stated(
        0.19 * 67.0e9,
        f"all-venue BTC futures OI ~$67B before the crash (PANews/ARK, {_HELD_OUT}) x 0.19; {_BINANCE_SHARE}",
    ),
    "ETH": Stated(
        0.19 * 38.0e9,
        f"all-venue ETH futures OI ~$38B before the crash (PANews/ARK, {_HELD_OUT}) x 0.19; {_BINANCE_SHARE}",
    ),
}
_HL_TOTAL = 13.8e9  # Hyperliquid open interest before the crash, all assets (The Block, held-out-inputs.md)
_OCT_SHARES = {
    "hyperliquid": {
        "BTC": Stated(
            0.40 * _HL_TOTAL / _OCT_OI["BTC"].value,
            f"Hyperliquid OI ~$13.8B, all assets (The Block, {_HELD_OUT}) x 0.40 for BTC (assumption: "
            "the BTC/ETH split is not reported), over Binance's",
        ),
        "ETH": Stated(
            0.25 * _HL_TOTAL / _OCT_OI["ETH"].value,
            f"Hyperliquid OI ~$13.8B, all assets (The Block, {_HELD_OUT}) x 0.25 for ETH (assumption: "
            "the BTC/ETH split is not reported), over Binance's",
        ),
    },
}
#: the index's spot venues: Binance's USDⓈ-M BTCUSDT index has 7 spot constituents (binance, coinbase,
#: gateio, kucoin, mxc, bitget, bybit; the /fapi/v1/constituents example, developers.binance.com)
_INDEX_VENUES = 7
_SPOT_REF = "market-and-cascades.md §Order-book depth"


def _spot_books(btc_per_venue: float, eth_per_venue: float, when: str) -> str:
    """The spot books that anchor the index (every venue's index is a spot price): the index's 7
    spot venues x half the reference's depth within 1 % per major venue (both sides) for ``when``."""
    out = ["# The spot books that anchor the index (every venue's index is a spot price): USD per side within 1 %"]
    for a, per in (("BTC", btc_per_venue), ("ETH", eth_per_venue)):
        k = KAPPAS[a].value  # the perpetuals' reference exponent (Bybit books)
        src = (
            f"{_INDEX_VENUES} index spot venues (Binance's index constituents) x half of {_SPOT_REF}'s {a} depth"
            f" within 1 % per major venue, both sides, {when}"
        )
        out += [
            f"[assets.{a}]",
            f"spot_depth_1pct_usd = {_INDEX_VENUES * per / 2:.6g}",
            f"spot_kappa = {k}",
            f'spot_source = "{src}; kappa: {_SPOT_REF} (Bybit books, {a})"',
        ]
    return "\n".join(out) + "\n"


_OCT_FREE = (
    _spot_books(20e6, 8e6, "early Oct 2025 (BTC ~$20M; ETH > $8M)")
    + """# === Free mode: what the market files cannot give — insurance funds (assumptions: the figures of
# the feb-2026 scenario; no figure for Oct 2025 found).  No exogenous flows: this event is built
# for the observed replay (`liqcascade validate`), where the real path drives the price.
[insurance_fund_usd]           # assumptions
binance = 1.0e9
bybit = 4.0e8
okx = 4.0e8
hyperliquid = 3.0e8
"""
)
_OCT_NOTES = f"""10 October 2025, the US tariff crash (out-of-sample: the global parameters were fitted to February 2026).
Pre-crash state only ({_HELD_OUT}).  Window 10 Oct 12:00 - 11 Oct 00:00 UTC: the afternoon slide
after the 14:57 tariff threat, the ~20:50 100 % tariff post and the 21:00-21:20 cascade (BTC low
101,516.5, ETH 3,400.0 in the 21:20 5-minute bar).  SOL and DOGE are left out: ../shared/data has no
SOL or DOGE prices for October 2025.
Bars: Binance USD-M perpetual 1-hour bars (bar_s = 3600) for the look-back from 5 Sep 2025 (the
population needs 21 days of history before the start and no 5-minute file reaches that far), and
the 5-minute trade bars of 9-12 Oct over the event window (event_bar_s = 300): the observed replay
walks the 5-minute bars.  Open interest: no open-interest series covers Oct 2025; Binance's
figure at the start is given (all-venue totals x a stated Binance share, see each market) and the
contracts are held constant over the series (oi_usd = OI at the start / start price x each bar's
open): the population's positions are all opened over the first days of the look-back and none
open or close voluntarily during the event (the reports say most of the day's OI drop was
voluntary: the run cannot show it).
Bybit and OKX: the February 2026 shares of Binance's OI (assumption: they held in Oct 2025).
Book: Binance BTCUSDT bookDepth of 10 Oct, snapshots 00:00-12:00 UTC (before the event).
Rebuild: python -c "from liqcascade.scenario_events import build; build('oct-2025', '../shared/data', 'src/liqcascade/scenarios')\""""

# ------------------------------------------------------------------------------- 5 Aug 2024
_AUG_OI_SRC = (
    "CoinGlass via crypto.news (binance.com/es-AR/square/post/11753258730393, 5 Aug 2024): total crypto "
    "OI fell 18.7 % to $47B, i.e. ~$57.8B before"
)
_AUG_OI = {
    "BTC": Stated(
        0.2073 * 0.55 * 57.8e9,
        f"{_AUG_OI_SRC}; BTC 0.55 of it (assumption) x Binance's 20.73 % of BTC OI (CoinGlass, mid-2024, "
        "CryptoSlate via blackpeople.biz)",
    ),
    "ETH": Stated(
        0.2073 * 0.25 * 57.8e9,
        f"{_AUG_OI_SRC}; ETH 0.25 of it (assumption) x Binance's BTC share 20.73 % (assumption for ETH)",
    ),
}
_CS = (
    "CoinGlass BTC OI by exchange, mid-2024 (CryptoSlate via blackpeople.biz): Binance $8.43B, Bybit $6.02B, OKX $3.32B"
)
_AUG_SHARES = {
    "bybit": {"BTC": Stated(6.02 / 8.43, _CS), "ETH": Stated(6.02 / 8.43, f"assumption: BTC's ({_CS})")},
    "okx": {"BTC": Stated(3.32 / 8.43, _CS), "ETH": Stated(3.32 / 8.43, f"assumption: BTC's ({_CS})")},
}
_AUG_FREE = (
    _spot_books(
        14e6, 6e6, "assumption: no 2024 figure; the reference's lower, post-Oct 2025 level (BTC ~$14M; ETH < $6M)"
    )
    + """# === Free mode: what the market files cannot give — insurance funds (assumptions: the figures of
# the feb-2026 scenario; no figure for Aug 2024 found).  No exogenous flows: this event is built
# for the observed replay (`liqcascade validate`), where the real path drives the price.
[insurance_fund_usd]           # assumptions
binance = 1.0e9
bybit = 4.0e8
okx = 4.0e8
"""
)
_AUG_NOTES = f"""5 August 2024, the yen carry-trade unwind (out-of-sample: the global parameters were fitted to February 2026).
Pre-crash state only ({_HELD_OUT}).  Window 4 Aug 12:00 - 5 Aug 12:00 UTC: the Sunday afternoon slide and
the Asian session of Monday 5 Aug (BTC low 49,000.0 in the 06:00 hourly bar).
Bars: Binance SPOT (not perpetual) bars, the only ones here for Aug 2024: BTCUSDT hourly (bar_s =
3600), ETHUSDT 4-hourly (bar_s = 14400).  The observed replay bridges each bar's open, low, high and
close with a Brownian bridge (low first when the bar closed up), so within an hour (ETH: four hours)
the path's timing and its intrabar swings are drawn, not observed: the liquidations' timing within
a bar and any short spike beyond the bar's range are lost; the bar's extremes are kept.
Open interest: no series for Aug 2024; Binance's figure at the start is given (see each market) and
the contracts are held constant over the series (no openings or voluntary closes in the run).
Hyperliquid is left out (small in 2024; no pre-event figure found).  Funding: 0.01 % per 8 h
(assumption: Binance's baseline rate; no funding data for Aug 2024 here).
Book: no bookDepth archive for 2024: the Binance BTCUSDT bookDepth of 10 Oct 2025, 00:00-12:00 UTC,
stands in (assumption).  SOL and DOGE are left out (no prices here).
Rebuild: python -c "from liqcascade.scenario_events import build; build('aug-2024', '../shared/data', 'src/liqcascade/scenarios')\""""

#: the keyword arguments of :func:`~liqcascade.scenario_build.build_event_scenario` per event,
#: and its free-mode text
EVENTS: dict[str, dict[str, Any]] = {
    "oct-2025": {
        "free": _OCT_FREE,
        "kwargs": {
            "title": "10 October 2025: the US tariff crash (out-of-sample)",
            "event_start": "2025-10-10T12:00Z",
            "event_end": "2025-10-11T00:00Z",
            "lookback_start": "2025-09-05T00:00Z",
            "assets": ("BTC", "ETH"),
            "venues": ("binance", "bybit", "okx", "hyperliquid"),
            "minute_assets": (),
            "bar_s": {"BTC": 3600, "ETH": 3600},
            "event_bar_s": {"BTC": 300, "ETH": 300},
            "open_interest_usd": _OCT_OI,
            "venue_shares": _OCT_SHARES,
            "book_file": "theglory_oct10_2025/BTCUSDT-bookDepth-2025-10-10.csv",
            "book_window": ("2025-10-10T00:00Z", "2025-10-10T12:00Z"),
            "notes": _OCT_NOTES,
        },
    },
    "aug-2024": {
        "free": _AUG_FREE,
        "kwargs": {
            "title": "5 August 2024: the yen carry-trade unwind (out-of-sample)",
            "event_start": "2024-08-04T12:00Z",
            "event_end": "2024-08-05T12:00Z",
            "lookback_start": "2024-07-01T00:00Z",
            "assets": ("BTC", "ETH"),
            "venues": ("binance", "bybit", "okx"),
            "minute_assets": (),
            "bar_s": {"BTC": 3600, "ETH": 14400},
            "bar_files": {
                "BTC": {3600: "scofieldchen_daily/binance_btcusdt_1h.csv"},
                "ETH": {14400: "scofieldchen_daily/binance_ethusdt_4h_ohlcv.csv"},
            },
            "open_interest_usd": _AUG_OI,
            "funding_rate_8h": {
                a: Stated(1e-4, "assumption: Binance's baseline 0.01 % per 8 h (no funding data for Aug 2024)")
                for a in ("BTC", "ETH")
            },
            "venue_shares": _AUG_SHARES,
            "book_file": "theglory_oct10_2025/BTCUSDT-bookDepth-2025-10-10.csv",
            "book_window": ("2025-10-10T00:00Z", "2025-10-10T12:00Z"),
            "notes": _AUG_NOTES,
        },
    },
}


def build(name: str, data_dir: str | Path, out_dir: str | Path) -> BuiltScenario:
    """Build the out-of-sample event ``name`` (a key of :data:`EVENTS`) from ``data_dir`` (laid out
    like ``../shared/data``) into ``out_dir/<name>.toml`` and ``<name>.series.csv.gz``."""
    if name not in EVENTS:
        raise InputError(f"no event {name!r} (events: {', '.join(EVENTS)})", field="name")
    spec = EVENTS[name]
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template.toml"
        template.write_text(spec["free"], "utf-8")
        return build_event_scenario(data_dir, out_dir, name=name, template=template, **spec["kwargs"])
