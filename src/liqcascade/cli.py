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
from pathlib import Path
from typing import Any, Iterator, Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from . import liqprice as lp
from .errors import InputError

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


@app.callback()
def _root() -> None:
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
    sys.stdout.write(json.dumps(obj, indent=2, allow_nan=False, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    try:
        return float(o)
    except (TypeError, ValueError):
        return str(o)


def _print_single(r: dict[str, Any]) -> None:
    con = _console()
    base = _base(r["symbol"])
    t = Table(title=f"{r['venue']} {r['symbol']} · {r['side']} · {r['mode']}", show_header=False,
              title_justify="left")
    t.add_column("quantity", style="bold")
    t.add_column("value", justify="right")
    t.add_column("", style="dim")
    t.add_row("position", f"{_qty(r['size'])} {base} at {_price(r['entry'])}", f"notional {_usd(r['notional_usd'])}")
    t.add_row("margin", _usd(r["margin_usd"]),
              f"leverage {_lev(r['leverage'])}" + (
                  f" (effective {_lev(r['effective_leverage'])})"
                  if abs(r["effective_leverage"] - r["leverage"]) > 1e-9 * r["leverage"] else ""))
    t.add_row("liquidation price", _liq(r), f"{_pct(r['liquidation_distance_pct'])} from entry")
    t.add_row("bankruptcy price", _price(r["bankruptcy_price"]),
              f"{_pct(r['bankruptcy_distance_pct'])} from entry: the margin is gone")
    t.add_row("maintenance margin", _usd(r["maintenance_margin"]),
              f"at liquidation; {_usd(r['maintenance_margin_at_entry'])} at entry")
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
    con.print(f"{_usd(r0['margin_usd'])} margin at {_lev(lev)} = a {_usd(r0['notional_usd'])} position "
              f"({_qty(r0['size'])} {base} {r0['side']} at {_price(r0['entry'])}, {r0['mode']}).")
    con.print(f"A {_pct(r0['bankruptcy_distance_pct'])} move (to {_price(r0['bankruptcy_price'])}) wipes the margin "
              "out; each venue liquidates earlier:")
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
        t.add_row(name, r["symbol"], "pinned" if r["pinned"] else str(r["tier"]), f"{r['mmr'] * 100:.3g}%",
                  _usd(r["maintenance_margin"]), _liq(r),
                  "" if _liq(r) == "never" else _pct(r["liquidation_distance_pct"]))
    t.add_row("margin gone", "", "", "", "$0.00", _price(r0["bankruptcy_price"]),
              _pct(r0["bankruptcy_distance_pct"]), style="bold")
    con.print(t)
    con.print("MM: maintenance margin at the liquidation price; move: from entry.")
    for name, r in results.items():
        if "error" in r:
            con.print(f"{name}: refused: {r['error']}", style="dim")


def _print_account(frame, info: dict[str, Any]) -> None:
    con = _console()
    t = Table(box=box.SIMPLE_HEAD, title=f"{info['venue']} cross account · wallet {_usd(info['wallet_balance'])} · equity "
                    f"{_usd(info['equity'])} · maintenance {_usd(info['maintenance_margin'])}",
              title_justify="left")
    for col, j in (("symbol", "left"), ("side", "left"), ("size", "right"), ("entry", "right"), ("mark", "right"),
                   ("uPnL", "right"), ("MM", "right"), ("collateral", "right"), ("liq. price", "right"),
                   ("from mark", "right")):
        t.add_column(col, justify=j, no_wrap=True)  # type: ignore[arg-type]
    for rec in lp.frame_records(frame):
        liq = "never" if rec["side"] == "long" and rec["liquidation_price"] <= 0 else _price(rec["liquidation_price"])
        t.add_row(rec["symbol"], rec["side"], _qty(rec["size"]), _price(rec["entry"]), _price(rec["mark"]),
                  _usd(rec["upnl"]), _usd(rec["maintenance_margin"]), _usd(rec["collateral_usd"]), liq,
                  _pct(rec["liquidation_distance_pct"]))
    con.print(t)
    con.print("MM: maintenance margin at the mark.  Each liquidation price holds the other positions at their "
              "marks:")
    con.print("collateral = wallet + the others' (uPnL - MM).")
    if info["liquidatable"]:
        con.print("The account's equity is at or below its maintenance margin: it is liquidatable now.",
                  style="bold red")


# ============================================================================ liqprice
_HELP = f"""Liquidation, bankruptcy and maintenance figures of a position, venue-exact.

Give --side, --entry and two of --size, --margin, --leverage.  Without --venue the position is shown
on every venue side by side.  --batch FILE.csv (columns: {','.join(lp.BATCH_COLUMNS)}) or
--account FILE.json (a cross-margin account) need --venue.
"""


@app.command("liqprice", help=_HELP)
def liqprice(
    venue: Optional[str] = typer.Option(None, "--venue", help="binance, bybit, okx or hyperliquid; "
                                        "omitted: every venue side by side (single position only)."),
    side: Optional[str] = typer.Option(None, "--side", help="long or short."),
    entry: Optional[float] = typer.Option(None, "--entry", help="Entry price, USD."),
    size: Optional[float] = typer.Option(None, "--size", help="Size in base units (BTC); default margin*leverage/entry."),
    margin: Optional[float] = typer.Option(None, "--margin", help="Collateral, USD; default size*entry/leverage. "
                                           "With --leverage and --size it may exceed that (extra margin)."),
    leverage: Optional[float] = typer.Option(None, "--leverage", help="Leverage the position is opened at."),
    mode: Optional[str] = typer.Option(None, "--mode", help="isolated (default) or cross."),
    symbol: Optional[str] = typer.Option(None, "--symbol", help=f"ccxt unified symbol, default {lp.DEFAULT_SYMBOL} "
                                         "(the venue's own perp of that base asset where the quote differs)."),
    max_leverage: Optional[float] = typer.Option(
        None, "--max-leverage", help="Pin the leverage cap.  Default: the table tier's cap at entry, or 1/mmr "
        "when the venue has no table for the symbol."),
    mmr: Optional[float] = typer.Option(None, "--mmr", help="Pin the maintenance-margin rate (fraction, 0.005 = "
                                        "0.5 %): one tier replaces the table; parameters not given come from the "
                                        "table's tier at entry."),
    maintenance_amount: Optional[float] = typer.Option(
        None, "--maintenance-amount", help="Pin the maintenance amount D (Binance cum, Bybit MMD), USD."),
    taker_fee: Optional[float] = typer.Option(None, "--taker-fee", help="Taker fee (fraction) where the venue puts "
                                              "it in the maintenance margin (OKX); default the venue's."),
    batch: Optional[Path] = typer.Option(None, "--batch", help="CSV of positions, columns named as the flags.",
                                         dir_okay=False),
    account: Optional[Path] = typer.Option(None, "--account", help="JSON cross account: wallet_balance, positions.",
                                           dir_okay=False),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the batch result here (atomically) instead "
                                       "of stdout.", dir_okay=False),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    with _guard():
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
                raise InputError(f"{', '.join(given)} cannot be combined with {what}: the file gives the positions",
                                 field=given[0].lstrip("-"))
        if batch is not None:
            _run_batch(batch, venue, out, as_json, dict(pins, mode=mode, symbol=symbol))
            return
        if account is not None:
            given = [f"--{k.replace('_', '-')}" for k, v in dict(pins, mode=mode, symbol=symbol).items()
                     if v is not None and not (k == "mode" and v == "cross")]
            if given:
                raise InputError(f"{', '.join(given)} cannot be combined with --account: the file gives the "
                                 "positions' parameters", field=given[0].lstrip("-").replace("-", "_"))
            _run_account(account, venue, as_json)
            return
        kw = dict(position, mode=mode, symbol=symbol, **pins)
        if venue is not None:
            r = lp.position_figures(venue=venue, **kw)
            _print_json(r) if as_json else _print_single(r)
        else:
            results = lp.compare_venues(**kw)
            _print_json(results) if as_json else _print_comparison(results)


def _run_batch(path: Path, venue: str, out: Optional[Path], as_json: bool, defaults: dict[str, Any]) -> None:
    frame = lp.read_batch_csv(path)
    try:
        result = lp.batch_figures(frame, venue, defaults={k: v for k, v in defaults.items() if v is not None})
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


def _run_account(path: Path, venue: str, as_json: bool) -> None:
    doc = lp.read_account_json(path)
    frame = lp.account_figures(doc, venue)
    if as_json:
        _print_json(lp.frame_records(frame))
    else:
        _print_account(frame, frame.attrs["account"])


# ============================================================================ scenarios
scenario_app = typer.Typer(help="Inspect the bundled scenarios.", no_args_is_help=True)
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


# ============================================================================ entry point
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
        print(_error_line(exc.format_message()), file=sys.stderr)
        return exc.exit_code
    except _Abort:
        print(_error_line("aborted"), file=sys.stderr)
        return 1
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
