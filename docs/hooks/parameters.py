"""MkDocs hook: tables read at build time from the files the package ships, so the pages never
drift from them.  ``<!-- model-parameters -->`` becomes the global model parameters
(``src/liqcascade/scenarios/model-parameters.toml``) with each one's source, fitted or prior;
``<!-- tier-tables VENUE -->`` becomes the venue's bundled tier tables
(``src/liqcascade/venues/tables/VENUE.json``) with each symbol's date and source."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

MARKER = "<!-- model-parameters -->"
PACKAGE = Path(__file__).resolve().parents[2] / "src" / "liqcascade"
SOURCE = PACKAGE / "scenarios" / "model-parameters.toml"
TIERS = re.compile(r"<!-- tier-tables (\w+) -->")


def _comments(text: str) -> dict[str, str]:
    """The comment beside or above each key, by its dotted path (tables and keys as written)."""
    out: dict[str, str] = {}
    table = ""
    above: list[str] = []
    last = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            if line[0].isspace() and last:  # an indented comment continues the key's comment above
                out[last] = f"{out[last]} {stripped.lstrip('# ').rstrip()}".strip()
            else:
                above.append(stripped.lstrip("# ").rstrip())
            continue
        last = ""
        m = re.match(r"^\[([\w.]+)\]\s*$", stripped)
        if m:
            table, above = m.group(1), []
            continue
        m = re.match(r"^(\w+)\s*=\s*(.*)$", stripped)
        if m:
            key = f"{table}.{m.group(1)}" if table else m.group(1)
            beside = m.group(2).split("#", 1)[1].strip() if "#" in m.group(2) and '"' not in m.group(2) else ""
            out[key] = " ".join(x for x in [" ".join(above), beside] if x)
            above, last = [], key
        elif not stripped:
            above = []
    return out


def _value(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list):
        return f"{len(v)} entries (below)"
    return f"`{v}`"


def parameter_table() -> str:
    text = SOURCE.read_text("utf-8")
    data = tomllib.loads(text)
    notes = _comments(text)
    fitted = set(data.get("provenance", {}).get("fitted", []))
    rows = ["| parameter | value | source | meaning (the file's comment) |", "|---|---|---|---|"]

    def walk(prefix: str, table: dict) -> None:
        for key, value in table.items():
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                walk(path, value)
                continue
            source = "fitted" if path in fitted else "prior"
            if key == "leverage_mix":
                source = "per entry"
            rows.append(f"| `{path}` | {_value(value)} | {source} | {notes.get(path, '').replace('|', '/')} |")
            if key == "leverage_mix":
                for i, c in enumerate(value):
                    for k, v in c.items():
                        p = f"{path}.{i}.{k}"
                        rows.append(f"| `{p}` | {_value(v)} | {'fitted' if p in fitted else 'prior'} | |")

    walk("", {k: v for k, v in data.items() if k != "provenance"})
    prov = data.get("provenance", {})
    tail = (
        f"\n\nFitted on {prov.get('fitted_at', '?')} to the targets {', '.join(prov.get('targets', []))} "
        f"(seed {prov.get('seed', '?')}, objective J = {prov.get('objective', '?')}); every other value is a "
        "prior (from the project's reference notes on markets and cascades, as the file's header "
        "says).  Read from `src/liqcascade/scenarios/model-parameters.toml` when this site was built."
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
