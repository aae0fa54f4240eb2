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
