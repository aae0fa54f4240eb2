"""The ``liqcascade`` command line.  A thin shell over :mod:`liqcascade.liqprice`: parse flags,
call the library, print.

Bad input never shows a traceback: :class:`~liqcascade.errors.InputError` (and the usage errors
of the flag parser) become one line ``liqcascade: error: <message>`` on stderr, exit code 2.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Iterator, List, Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from . import liqprice as lp
from .errors import InputError
from .market_files import MAP_COLUMNS

# Click's base exception, whether Typer vendors Click (>= 0.17) or depends on it: found through
# the public BadParameter rather than a private import path.
_ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
_Abort = typer.Abort

PROG = "liqcascade"

app = typer.Typer(
    name=PROG,
    help="Liquidation-cascade engine for leveraged crypto markets.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        from . import __version__

        print(f"{PROG} {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the installed version and exit."
    ),
) -> None:
    """Liquidation-cascade engine for leveraged crypto markets."""


# ============================================================================ errors
def _error_line(message: str) -> str:
    return f"{PROG}: error: {' '.join(str(message).split())}"


@contextlib.contextmanager
def _guard() -> Iterator[None]:
    """Turn InputError into the one-line message and exit code 2."""
    try:
        yield
    except InputError as exc:
        print(_error_line(str(exc)), file=sys.stderr)
        raise typer.Exit(2) from None


def _finite_flags(**flags: Any) -> None:
    """Refuse NaN or infinity in a number flag (``--bin nan``), naming the flag and NaN/inf."""
    for name, value in flags.items():
        values = value if isinstance(value, (tuple, list)) else (value,)
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                what = "NaN (not a number)" if math.isnan(v) else f"{v} (infinite)"
                raise InputError(f"--{name.replace('_', '-')}: got {what}; give a finite number", field=name)


def _not_empty(**flags: Optional[str]) -> None:
    """Refuse an empty text flag (``--mode ''``): it would otherwise read as the default."""
    for name, value in flags.items():
        if value is not None and not str(value).strip():
            raise InputError(f"--{name.replace('_', '-')}: empty value", field=name)


def _writable_dir(directory: Path, flag: str = "--out", *, create: bool = True, target: Optional[Path] = None) -> None:
    """Create ``directory`` if needed (``create``) and check that a file can be created in it,
    before any work; an impossible or read-only path is one line naming it."""
    import tempfile

    if not create and not directory.is_dir():
        raise InputError(f"directory {str(directory)!r} does not exist", field=flag.lstrip("-"))
    try:
        if create:
            directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise InputError(
            f"{flag} {target or directory}: cannot write there: {exc.strerror or exc}", field=flag.lstrip("-")
        ) from None


# ============================================================================ formatting
def _console() -> Console:
    # A terminal gets its own width; a pipe or file gets room for the widest table (rich would
    # otherwise assume 80 columns and truncate cells).
    width = None if sys.stdout.isatty() else max(120, shutil.get_terminal_size((120, 24)).columns)
    return Console(highlight=False, markup=False, soft_wrap=False, width=width)


def _price(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    if abs(x) >= 100:
        return f"{x:,.2f}"
    if abs(x) >= 1:
        return f"{x:,.4f}"
    return f"{x:.6g}"


def _usd(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"-${-x:,.2f}" if x < 0 else f"${x:,.2f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:+.2f}%"


def _qty(x: float) -> str:
    s = f"{x:,.6f}".rstrip("0").rstrip(".")
    return s if s not in ("", "0") else f"{x:.6g}"


def _lev(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:,.4g}x"


def _liq(r: dict[str, Any]) -> str:
    if r["side"] == "long" and r["liquidation_price"] <= 0:
        return "never"
    return _price(r["liquidation_price"])


def _base(symbol: str) -> str:
    return symbol.split("/")[0]


def _print_json(obj: Any) -> None:
    from .store import _clean  # NaN and infinity → null: the output is valid JSON

    sys.stdout.write(json.dumps(_clean(obj), indent=2, allow_nan=False, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    try:
        return float(o)
    except (TypeError, ValueError):
        return str(o)


def _print_single(r: dict[str, Any]) -> None:
    con = _console()
    base = _base(r["symbol"])
    t = Table(title=f"{r['venue']} {r['symbol']} · {r['side']} · {r['mode']}", show_header=False, title_justify="left")
    t.add_column("quantity", style="bold")
    t.add_column("value", justify="right")
    t.add_column("", style="dim")
    t.add_row("position", f"{_qty(r['size'])} {base} at {_price(r['entry'])}", f"notional {_usd(r['notional_usd'])}")
    t.add_row(
        "margin",
        _usd(r["margin_usd"]),
        f"leverage {_lev(r['leverage'])}"
        + (
            f" (effective {_lev(r['effective_leverage'])})"
            if abs(r["effective_leverage"] - r["leverage"]) > 1e-9 * r["leverage"]
            else ""
        ),
    )
    t.add_row("liquidation price", _liq(r), f"{_pct(r['liquidation_distance_pct'])} from entry")
    t.add_row(
        "bankruptcy price",
        _price(r["bankruptcy_price"]),
        f"{_pct(r['bankruptcy_distance_pct'])} from entry: the margin is gone",
    )
    t.add_row(
        "maintenance margin",
        _usd(r["maintenance_margin"]),
        f"at liquidation; {_usd(r['maintenance_margin_at_entry'])} at entry",
    )
    tier = "pinned" if r["pinned"] else str(r["tier"])
    t.add_row("tier", tier, f"MMR {r['mmr'] * 100:.4g}%, maintenance amount {_usd(r['maintenance_amount'])}")
    t.add_row("max leverage", _lev(r["max_leverage"]), "the cap of the opening check (tier at entry)")
    if r.get("taker_fee") is not None:
        t.add_row("taker fee", f"{r['taker_fee'] * 100:.4g}%", "added to the maintenance rate")
    con.print(t)
    p = r["procedure"]
    con.print(f"On liquidation: {p['partial']}; backstop: {p['backstop']}; fee to {p['fee_recipient']}.")


def _print_comparison(results: dict[str, dict[str, Any]]) -> None:
    con = _console()
    ok = [r for r in results.values() if "error" not in r]
    r0 = ok[0]
    base = _base(r0["symbol"])
    lev = r0["leverage"]
    con.print(
        f"{_usd(r0['margin_usd'])} margin at {_lev(lev)} = a {_usd(r0['notional_usd'])} position "
        f"({_qty(r0['size'])} {base} {r0['side']} at {_price(r0['entry'])}, {r0['mode']})."
    )
    con.print(
        f"A {_pct(r0['bankruptcy_distance_pct'])} move (to {_price(r0['bankruptcy_price'])}) wipes the margin "
        "out; each venue liquidates earlier:"
    )
    t = Table(box=box.SIMPLE_HEAD)
    t.add_column("venue")
    t.add_column("symbol")
    t.add_column("tier", justify="right")
    t.add_column("MMR", justify="right")
    t.add_column("MM", justify="right")
    t.add_column("liq. price", justify="right")
    t.add_column("move", justify="right")
    for name, r in results.items():
        if "error" in r:
            t.add_row(name, "", "", "", "", "refused", "", style="dim")
            continue
        t.add_row(
            name,
            r["symbol"],
            "pinned" if r["pinned"] else str(r["tier"]),
            f"{r['mmr'] * 100:.3g}%",
            _usd(r["maintenance_margin"]),
            _liq(r),
            "" if _liq(r) == "never" else _pct(r["liquidation_distance_pct"]),
        )
    t.add_row(
        "margin gone",
        "",
        "",
        "",
        "$0.00",
        _price(r0["bankruptcy_price"]),
        _pct(r0["bankruptcy_distance_pct"]),
        style="bold",
    )
    con.print(t)
    con.print("MM: maintenance margin at the liquidation price; move: from entry.")
    for name, r in results.items():
        if "error" in r:
            con.print(f"{name}: refused: {r['error']}", style="dim")


def _print_account(frame, info: dict[str, Any]) -> None:
    con = _console()
    t = Table(
        box=box.SIMPLE_HEAD,
        title=f"{info['venue']} cross account · wallet {_usd(info['wallet_balance'])} · equity "
        f"{_usd(info['equity'])} · maintenance {_usd(info['maintenance_margin'])}",
        title_justify="left",
    )
    for col, j in (
        ("symbol", "left"),
        ("side", "left"),
        ("size", "right"),
        ("entry", "right"),
        ("mark", "right"),
        ("uPnL", "right"),
        ("MM", "right"),
        ("collateral", "right"),
        ("liq. price", "right"),
        ("from mark", "right"),
    ):
        t.add_column(col, justify=j, no_wrap=True)  # type: ignore[arg-type]
    for rec in lp.frame_records(frame):
        liq = "never" if rec["side"] == "long" and rec["liquidation_price"] <= 0 else _price(rec["liquidation_price"])
        t.add_row(
            rec["symbol"],
            rec["side"],
            _qty(rec["size"]),
            _price(rec["entry"]),
            _price(rec["mark"]),
            _usd(rec["upnl"]),
            _usd(rec["maintenance_margin"]),
            _usd(rec["collateral_usd"]),
            liq,
            _pct(rec["liquidation_distance_pct"]),
        )
    con.print(t)
    con.print("MM: maintenance margin at the mark.  Each liquidation price holds the other positions at their marks:")
    con.print("collateral = wallet + the others' (uPnL - MM).")
    if info["liquidatable"]:
        con.print(
            "The account's equity is at or below its maintenance margin: it is liquidatable now.", style="bold red"
        )


# ============================================================================ liqprice
_HELP = f"""Liquidation, bankruptcy and maintenance figures of a position, venue-exact.

Give --side, --entry and two of --size, --margin, --leverage.  Without --venue the position is shown
on every venue side by side.  --batch FILE.csv (columns: {",".join(lp.BATCH_COLUMNS)}) or
--account FILE.json (a cross-margin account) need --venue.
"""


@app.command("liqprice", help=_HELP)
def liqprice(
    venue: Optional[str] = typer.Option(
        None,
        "--venue",
        help="binance, bybit, okx or hyperliquid; omitted: every venue side by side (single position only).",
    ),
    side: Optional[str] = typer.Option(None, "--side", help="long or short."),
    entry: Optional[float] = typer.Option(None, "--entry", help="Entry price, USD."),
    size: Optional[float] = typer.Option(
        None, "--size", help="Size in base units (BTC); default margin*leverage/entry."
    ),
    margin: Optional[float] = typer.Option(
        None,
        "--margin",
        help="Collateral, USD; default size*entry/leverage. "
        "With --leverage and --size it may exceed that (extra margin).",
    ),
    leverage: Optional[float] = typer.Option(None, "--leverage", help="Leverage the position is opened at."),
    mode: Optional[str] = typer.Option(None, "--mode", help="isolated (default) or cross."),
    symbol: Optional[str] = typer.Option(
        None,
        "--symbol",
        help=f"ccxt unified symbol, default {lp.DEFAULT_SYMBOL} "
        "(the venue's own perp of that base asset where the quote differs).",
    ),
    max_leverage: Optional[float] = typer.Option(
        None,
        "--max-leverage",
        help="Pin the leverage cap.  Default: the table tier's cap at entry, or 1/mmr "
        "when the venue has no table for the symbol.",
    ),
    mmr: Optional[float] = typer.Option(
        None,
        "--mmr",
        help="Pin the maintenance-margin rate (fraction, 0.005 = "
        "0.5 %): one tier replaces the table; parameters not given come from the "
        "table's tier at entry.",
    ),
    maintenance_amount: Optional[float] = typer.Option(
        None, "--maintenance-amount", help="Pin the maintenance amount D (Binance cum, Bybit MMD), USD."
    ),
    taker_fee: Optional[float] = typer.Option(
        None,
        "--taker-fee",
        help="Taker fee (fraction) where the venue puts it in the maintenance margin (OKX); default the venue's.",
    ),
    batch: Optional[Path] = typer.Option(
        None, "--batch", help="CSV of positions, columns named as the flags.", dir_okay=False
    ),
    account: Optional[Path] = typer.Option(
        None, "--account", help="JSON cross account: wallet_balance, positions.", dir_okay=False
    ),
    out: Optional[Path] = typer.Option(
        None, "--out", help="Write the batch result here (atomically) instead of stdout.", dir_okay=False
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    as_of: Optional[str] = typer.Option(
        None, "--as-of", help="The positions' date (2024-10-15): tier tables in force then (default: the latest)."
    ),
) -> None:
    with _guard():
        _finite_flags(
            entry=entry,
            size=size,
            margin=margin,
            leverage=leverage,
            max_leverage=max_leverage,
            mmr=mmr,
            maintenance_amount=maintenance_amount,
            taker_fee=taker_fee,
        )
        _not_empty(venue=venue, side=side, mode=mode, symbol=symbol)
        pins = dict(max_leverage=max_leverage, mmr=mmr, maintenance_amount=maintenance_amount, taker_fee=taker_fee)
        position = dict(side=side, entry=entry, size=size, margin=margin, leverage=leverage)
        if batch is not None and account is not None:
            raise InputError("give either --batch or --account, not both", field="account")
        if out is not None and batch is None:
            raise InputError("--out applies to --batch only", field="out")
        if batch is not None or account is not None:
            what = "--batch" if batch is not None else "--account"
            if venue is None:
                raise InputError(f"{what} needs --venue (one of binance, bybit, okx, hyperliquid)", field="venue")
            given = [f"--{k}" for k, v in position.items() if v is not None]
            if given:
                raise InputError(
                    f"{', '.join(given)} cannot be combined with {what}: the file gives the positions",
                    field=given[0].lstrip("-"),
                )
        if batch is not None:
            _run_batch(batch, venue, out, as_json, dict(pins, mode=mode, symbol=symbol), as_of)
            return
        if account is not None:
            given = [
                f"--{k.replace('_', '-')}"
                for k, v in dict(pins, mode=mode, symbol=symbol).items()
                if v is not None and not (k == "mode" and v == "cross")
            ]
            if given:
                raise InputError(
                    f"{', '.join(given)} cannot be combined with --account: the file gives the positions' parameters",
                    field=given[0].lstrip("-").replace("-", "_"),
                )
            _run_account(account, venue, as_json, as_of)
            return
        kw = dict(position, mode=mode, symbol=symbol, as_of=as_of, **pins)
        if venue is not None:
            r = lp.position_figures(venue=venue, **kw)
            _print_json(r) if as_json else _print_single(r)
        else:
            results = lp.compare_venues(**kw)
            _print_json(results) if as_json else _print_comparison(results)


def _run_batch(
    path: Path, venue: str, out: Optional[Path], as_json: bool, defaults: dict[str, Any], as_of: Optional[str] = None
) -> None:
    frame = lp.read_batch_csv(path)
    try:
        result = lp.batch_figures(
            frame, venue, defaults={k: v for k, v in defaults.items() if v is not None}, as_of=as_of
        )
    except InputError as exc:
        if exc.row is not None:  # point at the file and its line too (the header is line 1)
            raise InputError(f"{path}: {exc} (CSV line {exc.row + 1})") from None
        raise InputError(f"{path}: {exc}") from None
    if as_json:
        text = json.dumps(lp.frame_records(result), allow_nan=False) + "\n"
    else:
        text = result.to_csv(index=False, lineterminator="\n")
    if out is not None:
        lp.write_atomic(out, text)
    else:
        sys.stdout.write(text)


def _run_account(path: Path, venue: str, as_json: bool, as_of: Optional[str] = None) -> None:
    doc = lp.read_account_json(path)
    frame = lp.account_figures(doc, venue, as_of=as_of)
    if as_json:
        _print_json(lp.frame_records(frame))
    else:
        _print_account(frame, frame.attrs["account"])


# ============================================================================ scenarios
scenario_app = typer.Typer(help="Inspect the bundled scenarios; build one from market data.", no_args_is_help=True)
app.add_typer(scenario_app, name="scenario")


@app.command("scenarios")
def scenarios_cmd() -> None:
    """List the bundled scenarios (the first is the default)."""
    from .scenario import list_scenarios

    for name, title in list_scenarios():
        print(f"{name:20s} {title}")


@scenario_app.command("show")
def scenario_show(name: str = typer.Argument(..., help="a bundled scenario's name")) -> None:
    """Print a bundled scenario as a TOML file to copy and edit."""
    from .scenario import BUNDLED, bundled_text

    with _guard():
        if name not in BUNDLED:
            raise InputError(f"no bundled scenario {name!r} (bundled: {', '.join(BUNDLED)})", field="scenario")
        sys.stdout.write(bundled_text(name))


_BUILD_HELP = """Derive an event scenario from market files and write NAME.toml and NAME.series.csv.gz to
--out: start prices (Binance perpetual opens at --start), the 5-minute look-back and event series
(prices, open interest, funding), open interest per venue (Binance's x stated venue shares), Binance
BTC depth within 1 % and kappa fitted to a bookDepth archive.  --data is a folder laid out like
../shared/data (see liqcascade.scenario_build).  Times are UTC ISO-8601 (2026-02-05T00:00Z).
"""


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


@scenario_app.command("build", help=_BUILD_HELP)
def scenario_build_cmd(
    name: str = typer.Argument(..., help="the scenario's name (and the files' stem)"),
    data: Path = typer.Option(..., "--data", help="market data folder (e.g. ../shared/data)"),
    start: str = typer.Option(..., "--start", help="event start, UTC (the scenario's start)"),
    end: str = typer.Option(..., "--end", help="event end, UTC"),
    out: Path = typer.Option(Path("."), "--out", help="folder to write NAME.toml and NAME.series.csv.gz to"),
    lookback_start: str = typer.Option("2026-01-01T00:00Z", "--lookback-start", help="first bar of the look-back, UTC"),
    assets: str = typer.Option("BTC,ETH,SOL,DOGE", "--assets", help="comma-separated assets"),
    venues: str = typer.Option("binance,bybit,okx,hyperliquid", "--venues", help="comma-separated venues"),
    minute_assets: str = typer.Option("BTC", "--minute-assets", help="assets with 1-minute bars over the event"),
    template: Optional[str] = typer.Option(
        None,
        "--template",
        help="scenario (bundled name or TOML file) whose "
        "flows, cohorts, large positions, insurance funds and spot books are copied",
    ),
    title: str = typer.Option("", "--title", help="the scenario's title"),
    note: str = typer.Option("", "--note", help="comment lines for the top of the TOML"),
) -> None:
    from .scenario_build import build_event_scenario

    with _guard():
        built = build_event_scenario(
            data,
            out,
            name=name,
            event_start=start,
            event_end=end,
            title=title,
            lookback_start=lookback_start,
            assets=_names(assets),
            venues=_names(venues),
            minute_assets=_names(minute_assets),
            template=template,
            notes=note,
        )
    con = _console()
    t = Table(box=box.SIMPLE_HEAD, title=f"{name}: markets at {start}", title_justify="left")
    for col in ("venue", "asset", "start price", "open interest", "depth 1 %", "kappa"):
        t.add_column(col, justify="left" if col in ("venue", "asset") else "right")
    for m in built.markets:
        t.add_row(
            m["venue"],
            m["asset"],
            _price(built.start_prices[m["asset"]]),
            f"${m['open_interest_usd'] / 1e9:,.3f}B",
            f"${m['depth_1pct_usd'] / 1e6:,.1f}M",
            f"{m['kappa']:.3f}",
        )
    con.print(t)
    b = built.book
    con.print(
        f"Binance BTC book fitted over {b.snapshots:,} bookDepth snapshots: depth ${b.depth_1pct_usd / 1e6:,.1f}M "
        f"per side within 1 %, kappa {b.kappa:.3f}"
    )
    sys.stdout.flush()
    print(f"wrote {built.toml_path} and {built.series_path} ({len(built.series):,} bars)")


_FLOWS_HELP = """Measure a scenario's free-run exogenous flow and write it into OUT/NAME.toml: its observed
replay's implied exogenous flow plus the positions' own openings and closings, summed per
--window-hours per asset (USD, + bought), replacing the scenario's flow_schedule flows (other flows
are kept).  The scenario must have a market series (observed mode).
"""


@scenario_app.command("flows", help=_FLOWS_HELP)
def scenario_flows_cmd(
    name: str = typer.Argument(..., help="bundled scenario or TOML file"),
    out: Path = typer.Option(..., "--out", help="folder to write NAME.toml to"),
    seed: int = typer.Option(0, "--seed", help="seed of the observed replay's population (>= 0)"),
    positions: Optional[int] = typer.Option(None, "--positions", help="positions to draw; default the real count"),
    window_hours: float = typer.Option(1.0, "--window-hours", help="hours summed per schedule value (> 0, <= 24)"),
) -> None:
    from .pipeline import check_run_request, load
    from .replay import measured_flow_schedule
    from .scenario import BUNDLED, bundled_text
    from .scenario_build import replace_flow_schedule

    with _guard():
        if not (math.isfinite(window_hours) and 0 < window_hours <= 24):
            raise InputError(f"must be in (0, 24] hours, got {window_hours!r}", field="window_hours")
        check_run_request(positions=positions, seed=seed, out_dir=out)
        sc = load(name)
        text = bundled_text(name) if name in BUNDLED else Path(name).read_text("utf-8")
        schedule, source = measured_flow_schedule(sc, seed=seed, n_positions=positions, window_s=window_hours * 3600.0)
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{sc.name}.toml"
        path.write_text(replace_flow_schedule(text, schedule, window_hours, source), "utf-8")
    for a, usd in schedule.items():
        print(f"{a}: {len(usd)} windows, net ${sum(usd) / 1e9:+,.3f}B")
    print(f"wrote {path}")


# ============================================================================ run and runs
_RUN_HELP = """Replay a scenario: synthesize the positions, run the cascade engine, store the run in
OUT/runs/<run_id>/ (Parquet frames, summary.json; catalogued in OUT/runs.duckdb) and write its
report (report.html, self-contained, and PNGs).  SCENARIO is a bundled name (see `liqcascade
scenarios`; default feb-2026) or a scenario TOML file.  The simulated figures are compared with
the scenario's bundled targets (or --targets FILE).
"""


@app.command("run", help=_RUN_HELP)
def run_cmd(
    scenario: str = typer.Argument("feb-2026", metavar="[SCENARIO|FILE]", help="bundled scenario or TOML file"),
    out: Path = typer.Option(Path("out"), "--out", help="Output directory (runs/ and runs.duckdb go here)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the population and the flows (>= 0)."),
    positions: Optional[int] = typer.Option(
        None,
        "--positions",
        help="Number of positions to draw; default the real count the open interest implies (millions).",
    ),
    targets: Optional[str] = typer.Option(
        None, "--targets", help="Targets file or bundled name; default the scenario's own bundled targets, if any."
    ),
    parameters: Optional[Path] = typer.Option(
        None,
        "--parameters",
        help="A global model-parameters file (e.g. one written by `liqcascade calibrate`); default the bundled one.",
    ),
    mode: Optional[str] = typer.Option(
        None,
        "--mode",
        help="observed: the real path (the scenario's market "
        "series) drives the price; free: the scenario's flows do. Default: "
        "observed where the scenario has a series.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the run's summary as JSON."),
) -> None:
    from .pipeline import load, resolve_targets, scenario_mode
    from .report import STAGES, run_and_report

    with _guard():
        if positions is not None and positions <= 0:
            raise InputError(f"must be a positive number of positions, got {positions}", field="positions")
        if seed < 0:
            raise InputError(f"must be a non-negative integer, got {seed}", field="seed")
        if out.exists() and not out.is_dir():
            raise InputError(f"{out} exists and is not a directory", field="out")
        from .store import check_catalogue

        check_catalogue(out)
        # everything the user gave is checked before the progress bar starts
        sc = load(scenario, parameters=parameters)
        tg = resolve_targets("auto" if targets is None else targets, sc)
        mode = scenario_mode(sc, mode)
        err = Console(stderr=True, highlight=False)
        show = err.is_terminal
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from ._jit import compile_watch, engine_in_disk_cache

        # the first run on a machine compiles the kernels into Numba's disk cache: say so, and
        # show the steps (off a terminal too, where the progress bar is not drawn)
        compiling = engine_in_disk_cache() is False
        progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<12}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} stages"),
            TimeElapsedColumn(),
            console=err,
            disable=not show,
            transient=False,
        )
        task = progress.add_task("loading", total=len(STAGES))
        seen: list[str] = []
        # a second process compiles the engine while this one draws the population
        from . import _warm

        warm = _warm.start(scenario, mode=mode, seed=seed, parameters=parameters) if compiling else _warm.Warm(None)

        def compiled(name: str, n: int) -> None:
            progress.update(task, description=f"{seen[-1] if seen else 'loading'} · compiled {n} kernels")

        with progress, compile_watch(compiled) as watch:
            t0 = time.perf_counter()

            def tell(stage: str) -> None:
                if compiling and stage == "engine":  # after the population: its errors stay one line
                    err.print("compiling the engine (once, about a minute)")
                    progress.update(task, description="compiling")
                    warm.wait()
                if seen:
                    progress.advance(task)
                    if compiling and not show:
                        err.print(
                            f"  {len(seen)}/{len(STAGES)} {seen[-1]} done ({time.perf_counter() - t0:.0f} s; "
                            f"{watch.count} kernels compiled)"
                        )
                seen.append(stage)
                progress.update(task, description=stage)

            try:
                res = run_and_report(
                    sc, out_dir=out, seed=seed, n_positions=positions, targets=tg, progress=tell, mode=mode
                )
            except KeyboardInterrupt:
                warm.stop()
                progress.stop()
                print(
                    _error_line("interrupted: nothing was stored (a run is stored whole or not at all)"),
                    file=sys.stderr,
                )
                raise typer.Exit(130) from None
            finally:
                warm.stop()
            progress.update(task, completed=len(STAGES), description="done")
            if compiling and not show:
                err.print(
                    f"  {len(STAGES)}/{len(STAGES)} {seen[-1]} done ({time.perf_counter() - t0:.0f} s; "
                    f"{watch.count} kernels compiled)"
                )
    if as_json:
        _print_json(dict(res.summary, run_dir=str(res.path), report=str(res.report)))
        return
    _print_run(res)


def _print_run(res) -> None:
    from .targets import fmt

    con = _console()
    s = res.summary
    con.print(
        f"{s['scenario']} · {s.get('mode', 'free')} · seed {s['seed']} · {s['positions']:,} positions · "
        f"{s['horizon_hours']:g} h · run {res.run_id}"
    )
    if res.rows:
        t = Table(box=box.SIMPLE_HEAD, title=f"simulated vs reported ({res.targets.name})", title_justify="left")
        for col, j in (
            ("figure", "left"),
            ("simulated", "right"),
            ("band", "right"),
            ("reported", "left"),
            ("", "center"),
        ):
            t.add_column(col, justify=j)  # type: ignore[arg-type]
        for r in res.rows:
            rep = r.reported if len(r.reported) <= 48 else r.reported[:47] + "…"
            t.add_row(r.label, r.simulated_text, r.band, rep, r.mark, style=None if r.ok else "red")
        con.print(t)
        met = sum(r.ok for r in res.rows)
        con.print(
            f"{met} of {len(res.rows)} figures inside the reported band"
            + ("; the global parameters are priors, not calibrated yet." if s.get("parameters_fitted") == [] else ".")
        )
    con.print(
        f"liquidations: {fmt(s['liquidations_usd'], 'USD')} true, "
        f"{fmt(s['liquidations_usd_reported'], 'USD')} as reported"
    )
    for a, x in (s.get("attribution") or {}).items():
        if x.get("share_of_fall") is None:
            continue
        cf = s.get("counterfactual") or {}
        lows = ", ".join(
            f"{k.replace('_', ' ')} {c[a]['low']:,.6g}" for k, c in cf.items() if k != "consistency" and a in c
        )
        con.print(
            f"{a}: low {x['low']:,.6g}; the liquidations' forced flow explains "
            f"{100 * x['share_of_fall_transient']:.0f}-{100 * x['share_of_fall']:.0f} % of the fall"
            + (f"; counterfactual lows: {lows}" if lows else "")
        )
    sys.stdout.flush()
    print(f"report: {res.report}")  # never wrapped: scripts read this line


_CALIBRATE_HELP = """Fit the global behavioural parameters to a scenario's target figures.

Runs the scenario many times (a seeded Latin-hypercube sample of the free parameters' ranges,
then coordinate refinement), scoring each run by J = sum of squared distances outside the target
bands (log scale for USD and counts; see liqcascade.calibrate).  Writes OUT/model-parameters.toml
(the complete parameters with the fitted values and a [provenance] table) and OUT/fit-report.{md,json}.
Use the result with `liqcascade run --parameters OUT/model-parameters.toml`.

The bundled parameters were fitted jointly to both February 2026 episodes at the real position
count; a fit of the same kind: `liqcascade calibrate feb-2026 --also feb-2026-weekend --full-scale
--free population.path_vol=0.3:1.0 --free prices.arbitrage_rate=0.1:1.0 ...`
"""


@app.command("calibrate", help=_CALIBRATE_HELP)
def calibrate_cmd(
    scenario: str = typer.Argument("feb-2026", metavar="[SCENARIO|FILE]", help="bundled scenario or TOML file"),
    targets: Optional[str] = typer.Option(
        None, "--targets", help="Targets file or bundled name; default the scenario's bundled targets."
    ),
    out: Path = typer.Option(Path("out/calibration"), "--out", help="Where the fitted file and report go."),
    positions: int = typer.Option(
        300_000,
        "--positions",
        help="Positions per run (dollar figures are at full scale whatever the count; counts are scaled).",
    ),
    samples: int = typer.Option(16, "--samples", help="Latin-hypercube samples before refinement."),
    mode: str = typer.Option(
        "free",
        "--mode",
        help="free: the scenarios' flows drive the price; observed: their real path does "
        "(the mode make run and validate report).",
    ),
    rounds: int = typer.Option(3, "--rounds", help="Coordinate-refinement rounds."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Population and flow seed used by every run (default 0)."),
    seeds: Optional[str] = typer.Option(
        None,
        "--seeds",
        metavar="N,N,...",
        help="Several seeds, comma-separated: every candidate runs each and the "
        "objective is the mean over them (a fit that holds beyond one "
        "realisation).  Instead of --seed.",
    ),
    parameters: Optional[Path] = typer.Option(None, "--parameters", help="Starting parameters file."),
    also: List[str] = typer.Option(
        [],
        "--also",
        metavar="SCENARIO[=TARGETS]",
        help="A further scenario fitted jointly with the same parameters (its bundled "
        "targets, or TARGETS); repeat for more.  The objective sums over all.",
    ),
    free: List[str] = typer.Option(
        [],
        "--free",
        metavar="PATH=LOW:HIGH",
        help="A parameter to fit and its range, e.g. population.path_vol=0.3:1.0 or "
        "population.leverage_mix.3.mean_notional_usd=1000:3000; repeat for more.  "
        "Default: the market makers' flow sensitivity, floor and refill half-life "
        "and the panic sellers' rate.",
    ),
    full_scale: bool = typer.Option(
        False,
        "--full-scale",
        help="Run every scenario at its real position count "
        "(as the bundled parameters were fitted) instead of --positions.",
    ),
) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from .calibrate import (
        DEFAULT_FREE,
        calibrate,
        check_mode,
        joint_scenarios,
        parse_free,
        parse_seeds,
        seed_list,
        write_result,
    )
    from .pipeline import load, resolve_targets

    with _guard():
        if positions <= 0:
            raise InputError(f"must be a positive number of positions, got {positions}", field="positions")
        if samples < 1 or rounds < 0:
            raise InputError("--samples must be >= 1 and --rounds >= 0", field="samples")
        check_mode(mode)
        if seed is not None and seeds is not None:
            raise InputError("give --seed or --seeds, not both", field="seeds")
        run_seeds = parse_seeds(seeds) if seeds is not None else seed_list(0 if seed is None else seed)
        if parameters is not None and not parameters.is_file():
            raise InputError(f"no such file: {parameters}", field="parameters")
        if out.exists() and not out.is_dir():
            raise InputError(f"{out} exists and is not a directory", field="out")
        sc = load(scenario, parameters=parameters)
        tg = resolve_targets("auto" if targets is None else targets, sc)
        if tg is None:
            raise InputError(f"no bundled targets for {sc.name}; give --targets FILE", field="targets")
        fit = [parse_free(f, sc.params) for f in free] or list(DEFAULT_FREE)
        if len({p.path for p in fit}) < len(fit):
            raise InputError("a parameter is given twice", field="free")
        joint = joint_scenarios(also, sc.params)
        from .resources import require_population

        for one in [sc, *(o for o, _ in joint)]:
            require_population(one, None if full_scale else positions)
        _writable_dir(out)  # checked before hours of fitting, not after
        err = Console(stderr=True, highlight=False)
        progress = Progress(
            TextColumn("calibrating"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} candidates"),
            TextColumn("best J {task.fields[best]}"),
            TimeElapsedColumn(),
            console=err,
            disable=not err.is_terminal,
        )
        best = [float("inf")]
        with progress:
            task = progress.add_task("calibrate", total=None, best="-")

            def tell(i: int, n: int, ev) -> None:
                best[0] = min(best[0], ev.objective)
                progress.update(task, completed=i, total=n, best=f"{best[0]:.4g}")

            res = calibrate(
                sc,
                tg,
                free=fit,
                n_positions=None if full_scale else positions,
                samples=samples,
                refine_rounds=rounds,
                seed=run_seeds,
                also=joint,
                progress=tell,
                mode=mode,
            )
        try:
            paths = write_result(res, sc, out)
        except OSError as exc:
            raise InputError(f"--out {out}: cannot write the result: {exc.strerror or exc}", field="out") from None
    met = sum(r.ok for r in res.best.rows)
    print(
        f"objective J = {res.best.objective:.4g} (start {res.start.objective:.4g}); "
        f"{met} of {len(res.best.rows)} figures inside their bands"
    )
    for p in res.free:
        print(f"  {p.path} = {res.best.values[p.path]:.6g}")
    print(f"parameters: {paths['parameters']}")
    print(f"fit report: {paths['md']}")


@app.command("runs")
def runs_cmd(
    out: Path = typer.Option(Path("out"), "--out", help="Output directory holding runs.duckdb."),
    as_json: bool = typer.Option(False, "--json", help="Print the catalogue as JSON (without full summaries)."),
) -> None:
    """List the stored runs (the catalogue OUT/runs.duckdb), oldest first."""
    from . import store
    from .targets import fmt

    with _guard():
        if out.exists() and not out.is_dir():
            raise InputError(f"{out} is not a directory", field="out")
        frame = store.list_runs(out)
    if as_json:
        _print_json(store.run_records(frame))
        return
    con = _console()
    if not sys.stdout.isatty():  # a pipe gets the whole table, unwrapped
        con = Console(highlight=False, markup=False, soft_wrap=False, width=200)
    if frame.empty:
        con.print(f"no runs in {out}")
        return
    t = Table(box=box.SIMPLE_HEAD, title=f"{len(frame)} run(s) in {out / store.CATALOGUE}", title_justify="left")
    for col, j in (
        ("run id", "left"),
        ("created (UTC)", "left"),
        ("scenario", "left"),
        ("seed", "right"),
        ("positions", "right"),
        ("parameters", "left"),
        ("liquidated", "right"),
        ("as reported", "right"),
        ("accounts", "right"),
        ("long share", "right"),
        ("targets", "right"),
    ):
        t.add_column(col, justify=j, no_wrap=True)  # type: ignore[arg-type]
    for rec in frame.to_dict(orient="records"):
        met = rec.get("targets_met")
        tg = "" if met is None or pd_isna(met) else f"{int(met)}/{int(rec['targets_total'])}"
        t.add_row(
            rec["run_id"],
            str(rec["created_utc"])[:16],
            rec["scenario"],
            str(rec["seed"]),
            f"{rec['positions']:,}",
            rec["parameters_hash"][:8],
            fmt(rec["liquidations_usd"], "USD"),
            fmt(rec["liquidations_usd_reported"], "USD"),
            fmt(rec["accounts_liquidated"], "accounts"),
            fmt(None if pd_isna(rec["long_share"]) else rec["long_share"], "fraction"),
            tg,
        )
    con.print(t)


def pd_isna(x: Any) -> bool:
    try:
        return bool(x is None or (isinstance(x, float) and math.isnan(x)) or str(x) == "<NA>")
    except (TypeError, ValueError):
        return False


# ============================================================================ market data: snapshot, analyze, liqmap
# ---------------------------------------------------------------------------- snapshot
_SNAPSHOT_HELP = """Fetch one perpetual's live state from a venue with ccxt: mark, index and last price, funding,
open interest (contracts and USD), the order book with its depth within ±1/2/5 %, and the leverage
tiers.  --out state.json writes JSON; --out DIR writes Parquet files into DIR (both atomically).
Needs the network; without it, one line says so and the exit code is 2.
"""


@app.command("snapshot", help=_SNAPSHOT_HELP)
def snapshot_cmd(
    exchange: str = typer.Option(..., "--exchange", help="binance, bybit, okx or hyperliquid."),
    symbol: str = typer.Option(
        "BTC/USDT:USDT",
        "--symbol",
        help="ccxt unified symbol (Hyperliquid: its own perpetual of the same base, BTC/USDC:USDC, is used).",
    ),
    out: Optional[Path] = typer.Option(None, "--out", help="state.json (JSON) or a directory (Parquet files)."),
    as_json: bool = typer.Option(False, "--json", help="Print the state as JSON (the document --out writes)."),
) -> None:
    from .snapshot import SnapshotError, fetch_market_state

    with _guard():
        _not_empty(exchange=exchange, symbol=symbol)
        if out is not None:  # checked before the network is asked
            _writable_dir(out.parent, create=False, target=out)
        try:
            state = fetch_market_state(exchange, symbol)
        except SnapshotError as exc:
            print(_error_line(str(exc)), file=sys.stderr)
            raise typer.Exit(2) from None
        written = None
        if out is not None:
            try:
                written = state.to_json(out) if out.suffix.lower() == ".json" else state.to_parquet(out)
            except OSError as exc:
                raise InputError(f"--out {out}: cannot write: {exc.strerror or exc}", field="out") from None
    if as_json:
        _print_json(state.to_dict())
    else:
        _print_snapshot(state)
    if written is not None:
        print(f"written to {written}", file=sys.stderr)


def _print_snapshot(s) -> None:
    con = _console()
    t = Table(title=f"{s.exchange} {s.symbol} · {s.datetime}", show_header=False, title_justify="left")
    t.add_column("quantity", style="bold")
    t.add_column("value", justify="right")
    t.add_column("", style="dim")
    t.add_row("mark / index / last", f"{_price(s.mark)} / {_price(s.index)} / {_price(s.last)}", "USD per base unit")
    if s.funding_rate is not None:
        per = f"per {s.funding_interval_hours:g} h" if s.funding_interval_hours else "per interval"
        t.add_row("funding", f"{s.funding_rate * 100:+.4f}%", per)
    if s.open_interest_contracts is not None:
        base = s.symbol.split("/")[0]
        t.add_row(
            "open interest",
            _usd(s.open_interest_usd),
            f"{_qty(s.open_interest_contracts)} contracts × {s.contract_size:g} = "
            f"{_qty(s.open_interest_base or 0.0)} {base}",
        )
    for pct, d in s.depth.items():
        if d["bid_usd"] is None:
            continue
        lower = " (book ends inside: at least)" if not (d["bid_complete"] and d["ask_complete"]) else ""
        t.add_row(f"depth ±{pct:g}%", f"{_usd(d['bid_usd'])} / {_usd(d['ask_usd'])}", f"bids / asks{lower}")
    t.add_row("book", f"{len(s.bids)} / {len(s.asks)} levels", f"mid {_price(s.mid)}")
    if s.leverage_tiers is not None:
        tt = s.leverage_tiers
        t.add_row("leverage tiers", f"{tt.n_tiers}", f"tier 1: {tt.max_leverage[0]:g}x, MMR {tt.mmr[0] * 100:.4g}%")
    else:
        t.add_row("leverage tiers", "n/a", "see notes")
    con.print(t)
    for note in s.notes:
        con.print(f"note: {note}", style="dim")


# ---------------------------------------------------------------------------- files of analyze and liqmap
@contextlib.contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    """Documented cleaning and fallbacks warn; show each warning as one line on stderr."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for w in caught:
                print(f"{PROG}: warning: {' '.join(str(w.message).split())}", file=sys.stderr)


# ---------------------------------------------------------------------------- analyze
_ANALYZE_HELP = """Measure a market the way the reports do: realised volatility, drawdown, fear & greed (daily
bars, >= 91 days), correlation with an index (--index), depth within ±x % and its collapse in an
event (--book-depth, --event), open-interest and funding changes.  --bars: a Binance kline archive
or any OHLCV CSV; --index: an OHLCV CSV (Nasdaq-100); --book-depth: a Binance bookDepth archive;
--open-interest: a Binance metrics archive or a Coinalyze export; --funding: a Coinalyze export.
"""


@app.command("analyze", help=_ANALYZE_HELP)
def analyze_cmd(
    bars: Path = typer.Option(..., "--bars", help="Price bars (kline archive or OHLCV CSV).", dir_okay=False),
    index: Optional[Path] = typer.Option(
        None, "--index", help="Index closes (OHLCV CSV) for the correlation.", dir_okay=False
    ),
    book_depth: Optional[Path] = typer.Option(None, "--book-depth", help="Binance bookDepth archive.", dir_okay=False),
    event: Optional[tuple[str, str]] = typer.Option(
        None, "--event", metavar="START END", help="Event window (UTC) for the depth collapse."
    ),
    depth_pct: float = typer.Option(1.0, "--depth-pct", help="Distance from mid, percent (a bucket of the file)."),
    open_interest: Optional[Path] = typer.Option(
        None, "--open-interest", help="Open-interest file (USD).", dir_okay=False
    ),
    funding: Optional[Path] = typer.Option(
        None, "--funding", help="Funding file (fraction per 8 h once read).", dir_okay=False
    ),
    symbol: Optional[str] = typer.Option(
        None,
        "--symbol",
        help="Market to pick from multi-market open-interest "
        "or funding files (ccxt symbol, the file's own name or the coin).",
    ),
    volatility_window: str = typer.Option("30D", "--volatility-window", help="Rolling window of the volatility."),
    correlation_window: int = typer.Option(30, "--correlation-window", help="Trading days of the correlation."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    from .market_files import analyze_files, event_window

    with _guard(), _warnings_to_stderr():
        event_window(event, book_depth)
        _finite_flags(depth_pct=depth_pct)
        _not_empty(volatility_window=volatility_window, symbol=symbol)
        result = analyze_files(
            bars,
            index=index,
            book_depth=book_depth,
            event=event,
            depth_pct=depth_pct,
            open_interest=open_interest,
            funding=funding,
            symbol=symbol,
            volatility_window=volatility_window,
            correlation_window=correlation_window,
        )
    if as_json:
        _print_json(result)
    else:
        _print_analysis(result)


def _print_analysis(r: dict[str, Any]) -> None:
    con = _console()
    t = Table(
        title=f"{r['bars']:,} bars · {r['start'][:19]} → {r['end'][:19]} UTC", show_header=False, title_justify="left"
    )
    t.add_column("measure", style="bold")
    t.add_column("value", justify="right")
    t.add_column("", style="dim")
    t.add_row("last close", _price(r["last_close"]), "")
    vol = (r.get("volatility") or {}).get("latest")
    t.add_row(
        "realised volatility",
        "n/a" if vol is None else f"{vol['value'] * 100:.1f}%",
        f"annualised, {r['volatility']['window']} window",
    )
    dd = r["drawdown"]
    t.add_row(
        "drawdown", f"{dd['latest'] * 100:.1f}%", f"deepest {dd['deepest'] * 100:.1f}% at {dd['deepest_at'][:10]}"
    )
    if r.get("fear_greed"):
        t.add_row("fear & greed", f"{r['fear_greed']['value']:.0f}", r["fear_greed"]["band"])
    if "correlation" in r:
        c = r["correlation"]["latest"]
        t.add_row(
            "correlation with the index",
            "n/a" if c is None else f"{c['value']:+.2f}",
            f"{r['correlation']['window_trading_days']} trading days",
        )
    if "depth" in r:
        d = r["depth"]
        t.add_row(
            "bookDepth cleaning",
            f"{d['rows_dropped']:,} of {d['rows_in']:,} rows",
            f"{d['frozen_rows_dropped']:,} frozen, {d['inverted_rows_dropped']:,} inverted",
        )
        for side in ("bid_usd", "ask_usd", "total_usd"):
            med = d["median_usd"].get(side)
            t.add_row(f"depth ±{d['pct']:g}% {side[:-4]}", _usd(med), "median")
            c = d.get(side)
            if isinstance(c, dict) and "ratio" in c:
                rec = (
                    "not recovered"
                    if c["time_to_recover_s"] is None
                    else f"recovered in {c['time_to_recover_s'] / 60:.0f} min"
                )
                t.add_row(
                    "",
                    f"{_usd(c['pre_event_level'])} → {_usd(c['trough'])}",
                    f"÷{c['ratio']:.2f} at {c['trough_time'][11:19]}; {rec}",
                )
            elif isinstance(c, dict):
                t.add_row("", "n/a", c["error"])
    if "open_interest" in r:
        oi = r["open_interest"]
        t.add_row(
            "open interest", _usd(oi.get("open_interest")), f"change 1 bar {_pct((oi.get('pct_change_1') or 0) * 100)}"
        )
    if "funding" in r:
        f = r["funding"]
        t.add_row("funding", f"{f['funding_rate'] * 100:+.4f}%", f"annualised {f['annualized'] * 100:+.1f}%")
    con.print(t)


# ---------------------------------------------------------------------------- liqmap
_LIQMAP_HELP = """Liquidation map: estimated from bars and open interest through a venue's rule book, or observed
from Hyperliquid positions (--observed clearinghouseState.json).  --out map.parquet | map.csv |
map.json (CoinGlass-shaped) | map.html (Plotly) writes the map atomically; without --out a summary
is printed.  --open-interest: a Binance metrics archive or a Coinalyze export (USD), interpolated
onto the bars.
"""


@app.command("liqmap", help=_LIQMAP_HELP)
def liqmap_cmd(
    bars: Optional[Path] = typer.Option(
        None, "--bars", help="Price bars (kline archive or OHLCV CSV).", dir_okay=False
    ),
    open_interest: Optional[Path] = typer.Option(
        None, "--open-interest", help="Open-interest file (USD).", dir_okay=False
    ),
    observed: Optional[Path] = typer.Option(
        None,
        "--observed",
        help="Hyperliquid clearinghouseState JSON: an observed map of real positions.",
        dir_okay=False,
    ),
    venue: str = typer.Option("binance", "--venue", help="Rule book of the estimated map."),
    symbol: Optional[str] = typer.Option(
        None,
        "--symbol",
        help="ccxt symbol: the tier table (default BTC/USDT:USDT) or, with --observed, the positions' market.",
    ),
    bin_size: float = typer.Option(100.0, "--bin", help="Height of a price level, USD."),
    price_range: Optional[tuple[float, float]] = typer.Option(
        None, "--range", metavar="LO HI", help="Price range of the map, USD."
    ),
    leverage_mix: str = typer.Option(
        "5:0.3,10:0.3,25:0.2,50:0.12,100:0.08", "--leverage-mix", help="LEVERAGE:SHARE pairs; shares sum to 1."
    ),
    long_share: float = typer.Option(0.5, "--long-share", help="Fraction of new open interest that is long."),
    every: Optional[int] = typer.Option(
        None,
        "--every",
        help="Bars per column of the written map (resampling). "
        f"Default: enough that the map has at most {MAP_COLUMNS} columns (said on "
        "stderr); --every 1 writes every bar.",
    ),
    out: Optional[Path] = typer.Option(
        None, "--out", help="map.parquet, map.csv, map.json or map.html.", dir_okay=False
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    from . import market_files as mf

    with _guard(), _warnings_to_stderr():
        if out is not None and out.suffix.lower() not in mf.MAP_FORMATS:
            raise InputError(f"{out}: the suffix picks the format: .parquet, .csv, .json, .html or .png", field="out")
        if out is not None:
            _writable_dir(out.parent, create=False, target=out)  # before the map is built
        _finite_flags(bin=bin_size, range=price_range, long_share=long_share)
        _not_empty(venue=venue, symbol=symbol, leverage_mix=leverage_mix)
        if every is not None and every < 1:
            raise InputError(f"must be a positive number of bars, got {every}", field="every")
        m = mf.liquidation_map_from_files(
            bars=bars,
            open_interest=open_interest,
            observed=observed,
            venue=venue,
            symbol=symbol,
            bin_size=bin_size,
            price_range=price_range,
            leverage_mix=leverage_mix,
            long_share=long_share,
        )
        written = None
        summary = mf.map_summary(m)
        if out is not None:
            n_bars = len(m.timestamps)
            every_used = mf.map_columns_every(n_bars, every)
            written = mf.write_map(m, out, every=every_used)
            summary["written_every_bars"] = int(every_used)
            if every is None and every_used > 1:
                print(
                    f"{PROG}: note: {written.name} holds one column per {every_used} bars "
                    f"({math.ceil(n_bars / every_used):,} columns for {n_bars:,} bars, each the map at the close "
                    "of its last bar); --every 1 writes every bar",
                    file=sys.stderr,
                )
    if as_json:
        _print_json(summary)
    else:
        _print_liqmap(summary)
    if written is not None:
        print(f"written to {written}", file=sys.stderr)


def _print_liqmap(s: dict[str, Any]) -> None:
    con = _console()
    rows = "one snapshot" if s["label"] == "observed" else f"{s['bars']:,} bars"
    con.print(
        f"{s['label']} liquidation map · {s['venue']} {s['symbol']} · {rows} × {s['levels']:,} "
        f"levels of ${s['bin_size']:g} ({_price(s['price_range'][0])}–{_price(s['price_range'][1])})"
    )
    close = "" if s["last_close"] is None else f", price {_price(s['last_close'])}"
    con.print(
        f"at {s['at']}{close}: longs {_usd(s['long_usd'])}, shorts {_usd(s['short_usd'])} on the map"
        + ("" if not s.get("out_of_range_usd") else f", {_usd(s['out_of_range_usd'])} outside its range")
    )
    if "liquidated_long_usd" in s:
        con.print(
            f"opened {_usd(s['opened_usd'])}; liquidated along the path: longs "
            f"{_usd(s['liquidated_long_usd'])}, shorts {_usd(s['liquidated_short_usd'])}"
        )
    t = Table(box=box.SIMPLE_HEAD, title="largest levels", title_justify="left")
    t.add_column("long level", justify="right")
    t.add_column("USD", justify="right")
    t.add_column("short level", justify="right")
    t.add_column("USD", justify="right")
    longs, shorts = s["largest_long_levels"], s["largest_short_levels"]
    for i in range(max(len(longs), len(shorts))):
        lo = longs[i] if i < len(longs) else None
        sh = shorts[i] if i < len(shorts) else None
        t.add_row(
            _price(lo[0]) if lo else "",
            _usd(lo[1]) if lo else "",
            _price(sh[0]) if sh else "",
            _usd(sh[1]) if sh else "",
        )
    con.print(t)


# ============================================================================ sweep
_SWEEP_HELP = """Monte Carlo sweep of a scenario: a grid of exogenous sell shocks (--shocks sizes in USD,
--shock-seconds, --shock-asset) times parameter ranges (--param section.key=v1,v2; depth.scale=0.5,1
scales every market's depth) times --paths seeded random paths per grid cell (--flow-noise USD per step,
--depth-noise lognormal sigma).  The population is built once and shared by every path.  Results stream
to OUT/sweeps/<sweep_id>/parts/ as paths finish; an interrupted sweep rerun with the same flags resumes.
Writes paths.parquet, the aggregates (cells, curve, critical shock, VaR/ES), report.html, and a row in
the sweeps table of OUT/runs.duckdb.  Backends: in-process (default), --workers N (a Dask LocalCluster of
N single-threaded worker processes; --backend processes for a process pool), --scheduler tcp://HOST:PORT
(a running Dask cluster).
"""


@app.command("sweep", help=_SWEEP_HELP)
def sweep_cmd(
    scenario: str = typer.Argument("feb-2026", metavar="[SCENARIO|FILE]", help="bundled scenario or TOML file"),
    shocks: Optional[str] = typer.Option(
        None, "--shocks", help="Shock sizes, USD sold, comma-separated (default 1e8,2e8,5e8,1e9,2e9,5e9,1e10)."
    ),
    shock_asset: str = typer.Option("BTC", "--shock-asset", help="Asset(s) shocked, comma-separated."),
    shock_venue: str = typer.Option(
        "all",
        "--shock-venue",
        help="Venue(s) whose book takes the shock, comma-separated; 'all' splits it across the venues by depth.",
    ),
    shock_seconds: str = typer.Option("600", "--shock-seconds", help="Shock duration(s), seconds, comma-separated."),
    shock_start: float = typer.Option(0.0, "--shock-start-hour", help="Hours after the start when shocks begin."),
    param: Optional[list[str]] = typer.Option(
        None, "--param", help="section.key=v1,v2 (repeatable); depth.scale=... scales every market's depth."
    ),
    paths: int = typer.Option(16, "--paths", help="Random paths per grid cell."),
    seed: int = typer.Option(0, "--seed", help="Seed of the population and the paths (>= 0)."),
    flow_noise: float = typer.Option(0.0, "--flow-noise", help="Std of random order flow, USD per step per asset."),
    depth_noise: float = typer.Option(0.0, "--depth-noise", help="Sigma of the lognormal factor on each depth."),
    steps: Optional[int] = typer.Option(1440, "--steps", help="Horizon in steps."),
    step_seconds: Optional[float] = typer.Option(60.0, "--step-seconds", help="Step, seconds."),
    positions: int = typer.Option(100_000, "--positions", help="Positions drawn (shared by every path)."),
    levels: str = typer.Option("0.95,0.99", "--levels", help="VaR / expected-shortfall levels."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Worker processes (Dask LocalCluster)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Address of a running Dask scheduler."),
    backend: Optional[str] = typer.Option(
        None,
        "--backend",
        help="inprocess, processes or dask (default: dask with --workers or --scheduler, else inprocess).",
    ),
    out: Path = typer.Option(Path("out"), "--out", help="Output directory (sweeps/ and runs.duckdb go here)."),
    as_json: bool = typer.Option(False, "--json", help="Print the sweep's summary as JSON."),
) -> None:
    from .sweep import spec_from_options, sweep

    with _guard():
        _finite_flags(
            flow_noise=flow_noise, depth_noise=depth_noise, step_seconds=step_seconds, shock_start_hour=shock_start
        )
        _not_empty(
            backend=backend,
            scheduler=scheduler,
            shock_asset=shock_asset,
            shock_venue=shock_venue,
            shocks=shocks,
            shock_seconds=shock_seconds,
            levels=levels,
        )
        if workers is not None and scheduler is not None:
            raise InputError("give either --workers or --scheduler, not both", field="workers")
        if workers is not None and workers <= 0:
            raise InputError(f"must be a positive number of workers, got {workers}", field="workers")
        be = backend or ("dask" if (workers is not None or scheduler is not None) else "inprocess")
        if scheduler is not None and be != "dask":
            raise InputError("--scheduler needs the dask backend", field="backend")
        spec = spec_from_options(
            scenario,
            shocks=shocks,
            shock_seconds=shock_seconds,
            shock_asset=shock_asset,
            shock_venue=shock_venue,
            shock_start_hour=shock_start,
            parameters=param or [],
            paths=paths,
            seed=seed,
            flow_noise=flow_noise,
            depth_noise=depth_noise,
            n_steps=steps,
            step_seconds=step_seconds,
            positions=positions,
            levels=levels,
        )
        err = Console(stderr=True, highlight=False)
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        bar = Progress(
            SpinnerColumn(),
            TextColumn("paths"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=not err.is_terminal,
            transient=False,
        )
        with bar:
            task = bar.add_task("paths", total=None)

            def tell(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            try:
                res = sweep(spec, backend=be, workers=workers, scheduler=scheduler, out_dir=out, progress=tell)
            except KeyboardInterrupt:
                bar.stop()
                print(
                    _error_line("interrupted: finished paths are on disk; run the same command again to resume"),
                    file=sys.stderr,
                )
                raise typer.Exit(130) from None
    if as_json:
        _print_json(dict(res.summary, directory=str(res.path), report=str(res.report) if res.report else None))
        return
    _print_sweep(res)


def _drawn(s: dict) -> str:
    drawn = s.get("positions_drawn") or {}
    if len(drawn) == 1:
        return f"{next(iter(drawn.values())):,}"
    return f"{s['positions']:,} requested" if s.get("positions") else "all"


def _print_sweep(res) -> None:
    from .targets import fmt

    con = _console()
    s = res.summary
    con.print(
        f"{s['scenario']} · {s['paths_total']:,} paths ({s['cells']:,} cells × {s['paths_per_cell']:,}) · "
        f"{_drawn(s)} positions · {s['n_steps']:,} steps of {s['step_seconds']:g} s · "
        f"{s['backend']} ({s['workers']} worker(s)) · {s['paths_computed_now']:,} computed now in "
        f"{s['seconds']:.1f} s"
    )
    t = Table(box=box.SIMPLE_HEAD, title="amplification curve (medians; first curve)", title_justify="left")
    for col in ("shock", "drawdown", "liquidated", "branching ratio"):
        t.add_column(col, justify="right")
    curve = res.curve
    crit = res.critical
    first = curve
    if len(crit):
        keys = [c for c in crit.columns if c in curve.columns and c != "shock_usd"]
        for k in keys:
            first = first[first[k] == crit.iloc[0][k]]
    for rec in first.to_dict(orient="records"):
        t.add_row(
            fmt(rec["shock_usd"], "USD"),
            f"{rec['drawdown_pct_median']:.2f} %",
            fmt(rec["liquidated_usd_median"], "USD"),
            f"{rec['branching_ratio_median']:.3g}",
        )
    con.print(t)
    if s.get("finding"):
        con.print(f"the grid shows: {s['finding']}.")
    elif s["critical_shock_usd"] is None:
        con.print("critical shock: not reached on this grid")
    else:
        con.print(f"critical shock: {fmt(s['critical_shock_usd'], 'USD')} ({s['critical_status']})")
    for lvl, v in s["liquidation_risk_pooled"].items():
        con.print(f"liquidation VaR {lvl}: {fmt(v['var_usd'], 'USD')}, expected shortfall {fmt(v['es_usd'], 'USD')}")
    sys.stdout.flush()
    print(f"sweep: {res.path}")
    print(f"report: {res.report}")


# ============================================================================ serve and monitor
_VALIDATE_HELP = """Validate the model: replay every bundled event that has targets (feb-2026 and
feb-2026-weekend, in-sample: the global parameters were fitted to them; oct-2025 and aug-2024,
out-of-sample) over --seeds with the global parameters UNCHANGED, and print per event and target
the simulated median and 10-90 % range over the seeds, the band, the reported figure and whether the
median is in the band.  Misses are reported as they come: nothing is tuned.

--positions defaults to 300,000, below every bundled event's real count (aug-2024 569k, oct-2025
808k, feb-2026 4.7M): USD totals, shares and prices are full scale at any count (a reduced draw
scales its notionals so every market holds its open interest), the liquidated accounts are an
estimate (x the population's scale factor: accounts_liquidated_full_scale), and the largest single
liquidation depends on the count (oct-2025, seeds 0-9: $65M at 300,000, $99M at the real count).
Measured: one run takes 2-16 s on one core once the kernels are compiled; the default (10 seeds x 4
events) 107 s on 2 workers (209 s with the kernels' first compile), under 2 GB per worker.
--positions real draws the real count (feb-2026: 4.7M positions, several GB per worker).
"""


def _seed_list(text: str) -> list[int]:
    from .validate import parse_seeds

    return parse_seeds(text)


@app.command("validate", help=_VALIDATE_HELP)
def validate_cmd(
    events: Optional[str] = typer.Option(
        None,
        "--events",
        help="Comma-separated bundled events or targets TOML files (default: every bundled event with targets).",
    ),
    seeds: str = typer.Option("0-9", "--seeds", help="Seeds: a range 0-9, a list 0,3,5, or both (0-2,7)."),
    positions: str = typer.Option(
        "300000", "--positions", help="Positions drawn per run (default 300,000; see above), or 'real'."
    ),
    mode: Optional[str] = typer.Option(None, "--mode", help="observed or free (default: each scenario's own)."),
    workers: int = typer.Option(2, "--workers", help="Runs at once, each in its own process (default 2)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the table as Markdown to this file."),
) -> None:
    from .validate import validate

    with _guard():
        _not_empty(mode=mode, events=events)
        seed_list = _seed_list(seeds)
        if out is not None:
            if out.exists() and out.is_dir():
                raise InputError(f"--out: {out} is a directory; give a file name (e.g. validation.md)", field="out")
            if not out.parent.is_dir():
                raise InputError(f"--out: no such directory: {out.parent}", field="out")
        names = None if events is None else list(_names(events))
        if names is not None and not names:
            raise InputError("--events: no event given", field="events")
        err = Console(stderr=True)

        def tell(rec: dict[str, Any]) -> None:
            if not as_json:
                err.print(
                    f"  {rec['event']} seed {rec['seed']}: {rec['seconds']:.0f} s ({rec['positions']:,} positions)"
                )

        res = validate(names, seeds=seed_list, positions=positions, mode=mode, workers=workers, progress=tell)
        if out is not None:
            from ._io import write_atomic

            write_atomic(out, res.to_markdown())
    if as_json:
        _print_json(res.as_dict())
        return
    con = _console()
    if not sys.stdout.isatty():  # a pipe or file: room for the whole table
        con.width = max(con.width, 180)
    pos = "real count" if res.positions is None else f"{res.positions:,} positions"
    t = Table(
        box=box.SIMPLE_HEAD,
        title=f"validation: seeds {', '.join(map(str, res.seeds))}; {pos}; global parameters unchanged",
        title_justify="left",
    )
    for col in res.HEADER:
        t.add_column(
            col,
            justify="right" if col in ("median", "10–90 %") else "left",
            overflow="fold",
            no_wrap=col != "reported",
        )
    for cells in res.table_rows():
        t.add_row(*cells)
    con.print(t)
    for e in res.events:
        k, n = res.met(e)
        con.print(f"{e} ({res.samples[e]}): {k} of {n} targets in band (median)")
    if out is not None:
        con.print(f"wrote {out}")


@app.command("serve")
def serve_cmd(
    out: Path = typer.Option(
        Path("out"),
        "--out",
        help="The run store it reads and writes (runs.duckdb, runs/, data/, snapshots/, jobs/, monitor/).",
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Interface to bind; anything but the loopback is warned about (no authentication)."
    ),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    max_jobs: int = typer.Option(1, "--max-jobs", help="Stress-test jobs running at once."),
    max_job_memory: float = typer.Option(4096.0, "--max-job-memory", help="A job's memory limit, MiB."),
) -> None:
    """The dashboard: a JSON API (/docs) and pages over the run store, served by Uvicorn."""
    from .web import serve

    with _guard():
        if max_jobs < 1:
            raise InputError(f"must be >= 1, got {max_jobs}", field="max_jobs")
        if not 1 <= port <= 65535:
            raise InputError(f"must be 1-65535, got {port}", field="port")
        print(f"liqcascade dashboard on http://{host}:{port}/ (store {out})", file=sys.stderr)
        serve(out, host=host, port=port, max_jobs=max_jobs, max_job_memory_mb=max_job_memory)


@app.command("monitor")
def monitor_cmd(
    exchange: Optional[str] = typer.Option(
        None, "--exchange", help="Poll this venue live with ccxt (binance, bybit, okx, hyperliquid)."
    ),
    symbol: str = typer.Option("BTC/USDT:USDT", "--symbol", help="ccxt unified symbol."),
    replay_bars: Optional[Path] = typer.Option(None, "--replay-bars", help="Replay: recorded bars.", dir_okay=False),
    replay_oi: Optional[Path] = typer.Option(
        None, "--replay-open-interest", help="Replay: open interest (USD).", dir_okay=False
    ),
    replay_depth: Optional[Path] = typer.Option(
        None, "--replay-depth", help="Replay: Binance bookDepth archive.", dir_okay=False
    ),
    start: Optional[str] = typer.Option(None, "--start", help="Replay from (UTC)."),
    end: Optional[str] = typer.Option(None, "--end", help="Replay until (UTC)."),
    interval: float = typer.Option(
        15.0, "--interval", help="Live: seconds between polls (at least the venue's rate limit allows)."
    ),
    polls: Optional[int] = typer.Option(None, "--polls", help="Stop after this many polls."),
    out: Path = typer.Option(
        Path("out"), "--out", help="Alerts go to OUT/monitor/alerts.jsonl, the state to OUT/monitor/state.json."
    ),
    webhook: Optional[str] = typer.Option(None, "--webhook", help="POST each alert as JSON to this URL."),
    oi_level_usd: Optional[float] = typer.Option(
        None,
        "--oi-level-usd",
        help="Replay: a stated open-interest level (USD) of the replayed market at --start; the file's "
        "series then gives only its relative changes (for a file of another market; state the level's source).",
    ),
) -> None:
    """Live cascade-risk monitor: liquidations within +-1/2/5 %, the book to absorb them, the branching ratio
    and the smallest shock that sets off a cascade; alerts when the branching ratio crosses 1."""
    from .monitor import live_monitor

    with _guard():
        _finite_flags(oi_level_usd=oi_level_usd)
        alerts = live_monitor(
            exchange=exchange,
            symbol=symbol,
            replay=(replay_bars, replay_oi, replay_depth),
            start=start,
            end=end,
            interval_s=interval,
            max_polls=polls,
            out_dir=out,
            webhook=webhook,
            oi_level_usd=oi_level_usd,
        )
    print(f"{len(alerts)} alert(s); {out / 'monitor' / 'alerts.jsonl'}")


# ============================================================================ entry point
def _given_value(exc: Exception, argv: Optional[list[str]]) -> str:
    """`` (got 'nan')``: the value a flag was given, when the parser's message does not say it."""
    param = getattr(exc, "param", None)
    args = list(sys.argv[1:] if argv is None else argv)
    for opt in getattr(param, "opts", None) or []:
        if opt.startswith("-") and opt in args[:-1]:
            value = args[args.index(opt) + 1]
            if repr(value) not in exc.format_message() and value not in exc.format_message():
                return f" (got {value!r})"
    return ""


def main(argv: Optional[list[str]] = None) -> int:
    """Console-script entry: run the app; bad input → one line on stderr and exit code 2."""
    try:
        rv = app(args=argv, prog_name=PROG, standalone_mode=False)
    except InputError as exc:
        print(_error_line(str(exc)), file=sys.stderr)
        return 2
    except _ClickException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `liqcascade`: the help, as usual
            print(exc.format_message(), file=sys.stderr)
            return exc.exit_code
        print(_error_line(exc.format_message() + _given_value(exc, argv)), file=sys.stderr)
        return exc.exit_code
    except _Abort:
        print(_error_line("aborted"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(_error_line("interrupted"), file=sys.stderr)
        return 130
    except MemoryError:
        print(
            _error_line("out of memory: the request did not fit in this machine's memory; ask for less"),
            file=sys.stderr,
        )
        return 2
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
