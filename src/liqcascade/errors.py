"""Errors that reach a user.

`InputError` is raised for anything a user supplied that cannot be used: an unknown venue, a
non-positive price, a CSV with a missing column.  Its message is one line that names the field (and,
for files, the row).  The CLI turns it into that line on stderr and exit code 2.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input; the message names the offending field in one line."""

    def __init__(self, message: str, *, field: str | None = None, row: int | None = None):
        self.field = field
        self.row = row
        parts = []
        if row is not None:
            parts.append(f"row {row}")
        if field is not None:
            parts.append(f"field '{field}'")
        prefix = ", ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)


def from_validation_error(err, where: str) -> InputError:
    """One line from a Pydantic ``ValidationError``: ``where: path.to[2].field: message``.

    The path joins the error's location (list indices in brackets); an unknown key reads as
    "unknown key"; further errors are counted, not listed.
    """
    first = err.errors()[0]
    path = ""
    for part in first["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"].removeprefix("Value error, ")
    more = f" (and {len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return InputError(f"{where}: {path or 'file'}: {msg}{more}", field=path or None)


def reject_non_finite(doc, where: str, path: str = "") -> None:
    """Refuse NaN or infinity anywhere in a parsed file (TOML allows ``nan`` and ``inf``), naming
    the key: ``where: markets[0].open_interest_usd: got NaN; give a finite number``.  A schema's
    own message ("should be greater than 0") would not say that the value was NaN."""
    import math

    if isinstance(doc, float) and not math.isfinite(doc):
        what = "NaN (not a number)" if math.isnan(doc) else f"{doc} (infinite)"
        raise InputError(f"{where}: {path or 'value'}: got {what}; give a finite number", field=path or None)
    if isinstance(doc, dict):
        for k, v in doc.items():
            reject_non_finite(v, where, f"{path}.{k}" if path else str(k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            reject_non_finite(v, where, f"{path}[{i}]")
