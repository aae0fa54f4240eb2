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
