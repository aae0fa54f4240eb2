"""MkDocs hook: tables read at build time from the files the package ships, so the pages never
drift from them.  ``<!-- model-parameters -->`` becomes the global model parameters
(``src/liqcascade/scenarios/model-parameters.toml``), one row per key with its value, unit, source
and whether it was fitted, read by ``liqcascade.parameters_table`` from the file's trailing
comments (a file that breaks the rule fails the build); ``<!-- tier-tables VENUE -->`` becomes
the venue's bundled tier tables (``src/liqcascade/venues/tables/VENUE.json``) with each symbol's
date and source."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import tomllib
from pathlib import Path

MARKER = "<!-- model-parameters -->"
PACKAGE = Path(__file__).resolve().parents[2] / "src" / "liqcascade"
SOURCE = PACKAGE / "scenarios" / "model-parameters.toml"
TIERS = re.compile(r"<!-- tier-tables (\w+) -->")


def _table_module():
    """``liqcascade.parameters_table`` of this checkout, loaded by path (the installed package may
    be another checkout's)."""
    spec = importlib.util.spec_from_file_location("_parameters_table", PACKAGE / "parameters_table.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _value(v) -> str:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return f"{v:.6g}"
    return f"`{v}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("*", "\\*")


def parameter_table() -> str:
    table = _table_module()
    text = SOURCE.read_text("utf-8")
    problems = table.problems(text)
    if problems:
        raise ValueError(f"{SOURCE}: every parameter needs a unit and a source:\n" + "\n".join(problems))
    rows = ["| key | value | unit | source | fitted? |", "|---|---|---|---|---|"]
    for r in table.parameter_rows(text):
        fitted = "fitted" if r.fitted else ""
        rows.append(f"| `{r.key}` | {_value(r.value)} | {_cell(r.unit)} | {_cell(r.source)} | {fitted} |")
    prov = tomllib.loads(text).get("provenance", {})
    tail = (
        f"\n\nFitted on {prov.get('fitted_at', '?')} to the targets {', '.join(prov.get('targets', []))} "
        f"(seed {prov.get('seed', '?')}, objective J = {prov.get('objective', '?')}; in-sample).  Sources: "
        "*data:* a data file and the method that measured it; *ref:* a reference figure; *fitted:* fitted by "
        "`liqcascade calibrate` to the data named; *prior:* set from a reference's range or statement; "
        "*assumption:* no source yet.  *targets*: the target bands of both February 2026 episodes "
        "(`scenarios/targets/feb-2026.toml`, `feb-2026-weekend.toml`), fitted jointly at the real position count.  "
        "Documents named by file alone are the project's reference notes.  Read "
        "from `src/liqcascade/scenarios/model-parameters.toml` when this site was built; how the fitted values "
        "were searched is in the [changelog](changelog.md)."
    )
    return "\n".join(rows) + tail


def _number(x) -> str:
    if x is None:
        return ""
    x = float(x)
    if x >= 1e12:
        return "no cap"
    return f"{x:,.0f}" if x == int(x) else f"{x:,.6g}"


def tier_tables(venue: str) -> str:
    data = json.loads((PACKAGE / "venues" / "tables" / f"{venue}.json").read_text("utf-8"))
    out = [f"*{data.get('notes', '')}*"]
    for symbol, entry in data["symbols"].items():
        # a symbol holds one table or its dated versions ({"versions": [...]}): each is shown
        for table in entry.get("versions", [entry]):
            out.append(_one_table(symbol, table))
    return "\n".join(out)


def _one_table(symbol: str, table: dict) -> str:
    out = []
    unit = "contracts" if table.get("basis") == "contracts" else "USD notional"
    out.append(f"\n#### {symbol} (as of {table.get('as_of', '?')})\n")
    out.append(f"Source: {table.get('source', '?')}\n")
    out.append(f"| tier | floor ({unit}) | cap ({unit}) | max leverage | MMR | maintenance amount (USD) |")
    out.append("|---|---|---|---|---|---|")
    for i, t in enumerate(table["tiers"], 1):
        amount = _number(t.get("maintenance_amount")) if "maintenance_amount" in t else "none"
        out.append(
            f"| {i} | {_number(t['floor'])} | {_number(t['cap'])} | {_number(t['max_leverage'])}x "
            f"| {float(t['mmr']) * 100:.4g} % | {amount} |"
        )
    if table.get("basis") == "contracts":
        out.append(f"\nOne contract = {_number(table.get('contract_size'))} base units.")
    return "\n".join(out)


def on_page_markdown(markdown: str, **kwargs) -> str:
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, parameter_table())
    return TIERS.sub(lambda m: tier_tables(m.group(1)), markdown)
