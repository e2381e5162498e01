"""Rendering for the CLI: Rich tables for people, JSON for scripts.

No value is ever cut short. Piped or redirected, a table is printed at its full width, one
line per row whatever the terminal; on a terminal too narrow for it, each row is printed as a
record of its own (psql's `\\x auto`) rather than squeezed into columns a few letters wide.
Settings are shown in the form `set` takes back (`Setting.text`: 30m, 250MB, enabled), while
--json keeps the raw values (1800, 262144000, true).
"""
from __future__ import annotations

import json
from typing import Any, Iterable

from rich.console import Console
from rich.table import Table

from ..settings_table import SettingsTable

console = Console(highlight=False)
# Messages are not folded at a width when piped, so each stays one line for grep (on a
# terminal Rich wraps them at word boundaries).
console.soft_wrap = not console.is_terminal
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
_UNBOUNDED = 1_000_000


def emit(value: Any) -> None:
    """JSON on stdout, nothing else: safe to pipe into jq."""
    print(json.dumps(value, indent=2, default=str))


def _cell(value: Any) -> str:
    """A value on one line, so a piped row stays one line: lists comma-separated."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return "; ".join(f"{k}={_cell(v)}" for k, v in value.items()) or "-"
    return str(value)


def print_table(table: Table) -> bool:
    """Print `table` whole: at its full width when stdout is not a terminal; on a terminal if it
    fits, folding over more lines what does not (never cut with "…"). False, printing nothing,
    when it does not fit the terminal and `table` has headers and rows: the caller shows records."""
    for column in table.columns:
        column.overflow = "fold"
    width = console.measure(table, options=console.options.update_width(_UNBOUNDED)).maximum
    if not console.is_terminal:
        Console(highlight=False, width=max(width, 1)).print(table)
    elif width <= console.width or not table.show_header or not table.row_count:
        console.print(table, soft_wrap=False)
    else:
        return False
    return True


def show_table(rows: Iterable[dict[str, Any]], columns: list[str]) -> None:
    """Rows under column headers; on a terminal too narrow for them, one record per row."""
    rows = list(rows)
    table = Table()
    for column in columns:
        table.add_column(column.replace("_", " "))
    for row in rows:
        table.add_row(*[_cell(row.get(c)) for c in columns])
    if not print_table(table):
        for row in rows:
            show_record({column: row.get(column) for column in columns}, separator=" ")  # as the headers


def show_record(record: dict[str, Any], separator: str = "-") -> None:
    """One name and value a line (names as the options spell them: max-command-size)."""
    table = Table(show_header=False)
    table.add_column("name", no_wrap=True)
    table.add_column("value")
    for key, value in record.items():
        table.add_row(key.replace("_", separator), _cell(value))
    print_table(table)


def show_settings(view: dict[str, Any], settings: SettingsTable) -> None:
    """A `show` (or `set`) view whose settings are printed as `set` takes them back."""
    show_record({**view, **settings.texts(view)})
