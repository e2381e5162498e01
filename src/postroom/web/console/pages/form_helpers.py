"""Form helpers the console's properties pages share (Client Access, mailboxes, connectors, ...)."""
from __future__ import annotations

from typing import Any, Iterable

from ....errors import ValidationError


def values_of(fields: dict[str, Any], name: str) -> list[str]:
    """A field that may repeat (checkboxes, one input per list item), as a list of non-empty texts."""
    value = fields.get(name, [])
    items = value if isinstance(value, list) else [value]
    return [str(v).strip() for v in items if str(v).strip()]


def form_errors(error: ValidationError, shown: Iterable[str]) -> tuple[dict[str, str], str]:
    """(field -> message, alert): the message goes next to its field when the form shows that
    field, and into the alert on top otherwise (e.g. a certificate needed by a new SSL binding)."""
    if error.field in set(shown):
        return {error.field: error.message}, "Not saved: correct the field marked below."
    return {}, f"Not saved: {error.message}"


def describe_changes(before: dict[str, Any], after: dict[str, Any], names: Iterable[str],
                     labels: dict[str, str]) -> list[str]:
    """'max command size: 1024' for every field among `names` whose value changed."""
    changed = []
    for name in names:
        if before.get(name) != after.get(name):
            value = after.get(name)
            text = ", ".join(value) if isinstance(value, list) else value
            if isinstance(value, bool):
                text = "on" if value else "off"
            shown = text if text not in (None, "") else "(none)"
            changed.append(f"{labels.get(name, name.replace('_', ' '))}: {shown}")
    return changed


def tab_of(tab: str | None, tabs: tuple[tuple[str, str], ...]) -> str:
    names = [name for name, _ in tabs]
    return tab if tab in names else names[0]
