"""Rendering for the CLI: Rich tables for people, JSON for scripts."""
from __future__ import annotations

import json
from typing import Any, Iterable

from rich.console import Console
from rich.table import Table

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def emit(value: Any) -> None:
    """JSON on stdout, nothing else: safe to pipe into jq."""
    print(json.dumps(value, indent=2, default=str))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return "\n".join(_cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items()) or "-"
    return str(value)


def show_table(rows: Iterable[dict[str, Any]], columns: list[str]) -> None:
    """A table that folds long values onto more lines on a narrow terminal, never cutting one
    short (a queue name or an error cut to "dns-conn…" is no use to anyone)."""
    table = Table()
    for column in columns:
        table.add_column(column.replace("_", " "), overflow="fold")
    for row in rows:
        table.add_row(*[_cell(row.get(c)) for c in columns])
    console.print(table)


def show_record(record: dict[str, Any]) -> None:
    table = Table(show_header=False)
    table.add_column("setting", overflow="fold")
    table.add_column("value", overflow="fold")
    for key, value in record.items():
        table.add_row(key.replace("_", "-"), _cell(value))
    console.print(table)
