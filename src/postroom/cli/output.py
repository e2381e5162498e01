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
    table = Table(*[c.replace("_", " ") for c in columns])
    for row in rows:
        table.add_row(*[_cell(row.get(c)) for c in columns])
    console.print(table)


def show_record(record: dict[str, Any]) -> None:
    table = Table("setting", "value", show_header=False)
    for key, value in record.items():
        table.add_row(key.replace("_", "-"), _cell(value))
    console.print(table)
