"""Console form fields generated from a settings table (settings_table.py): which fields a tab
posts, how each widget's form value becomes a change, the display form of a value, and the
labels of the notice after a save. Templates render a table entry with `f.setting(...)`
(pop3_macros.html): its form label, hint and input mode come from the table too."""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from ...settings_table import SettingsTable


def tab_fields(table: SettingsTable) -> dict[str, tuple[str, ...]]:
    return table.tab_fields()


def notice_labels(table: SettingsTable) -> dict[str, str]:
    """The console's names for the settings, in the notice after a save ("logon method: ...")."""
    return table.labels()


def form_changes(table: SettingsTable, names: Iterable[str], fields: Mapping[str, Any]) -> dict[str, Any]:
    """What a form with the settings `names` asks for, in the service's names; lists joined with ','.
    An unchecked box and an emptied list are sent too: that is how they are switched off. A list
    row whose Remove button was pressed (`remove` = "name:index") is left out."""
    remove = str(fields.get("remove", ""))
    changes: dict[str, Any] = {}
    for name in names:
        widget = table[name].widget
        if widget == "checkbox":
            changes[name] = name in fields
        elif widget == "checkboxes":  # one box per allowed value
            boxes = fields.get(name, [])
            chosen = [str(v).strip() for v in (boxes if isinstance(boxes, list) else [boxes]) if str(v).strip()]
            changes[name] = ",".join(chosen) or table[name].unchecked
        elif widget == "lines":  # a textarea: one value a line (commas and spaces separate too)
            lines = re.split(r"[\s,]+", str(fields.get(name, "")))
            changes[name] = ",".join(line for line in lines if line)
        elif widget == "list":
            rows = fields.get(name, [])
            rows = rows if isinstance(rows, list) else [rows]
            if remove.startswith(f"{name}:") and remove[len(name) + 1:].isdigit():  # the row's index in the form
                index = int(remove[len(name) + 1:])
                rows = [row for i, row in enumerate(rows) if i != index]
            changes[name] = ",".join(str(r).strip() for r in rows if str(r).strip())
        elif name in fields:
            changes[name] = str(fields[name]).strip()
    return changes


def typed_values(table: SettingsTable, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The form's values as the admin typed them, to show again after a refusal."""
    lists = ("list", "lines", "checkboxes")
    return {name: ([v for v in value.split(",") if v] if table[name].widget in lists else value)
            for name, value in changes.items()}


def display_values(table: SettingsTable, view: Mapping[str, Any], typed: Mapping[str, Any] | None) -> dict[str, str]:
    """The values of `view` with a display form (250MB, 30d), as the admin would type them,
    except those just typed."""
    return {name: text for name, text in table.display(view).items() if name not in (typed or {})}
