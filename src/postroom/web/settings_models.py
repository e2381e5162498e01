"""REST request and response models generated from a settings table (settings_table.py), so
the OpenAPI document lists exactly the declared settings, with their JSON types.

Request fields stay loose where the service parses the value (bodies.py): a count, size or
duration is `int | str` ("36MB", "30m"), a flag `bool | str` ("enabled"), a list `list[str] | str`
(comma-separated), anything else text; each is optional (null: leave as it is).
"""
from __future__ import annotations

import types
import typing
from enum import Enum
from typing import Any

from pydantic import BaseModel

from ..settings_table import Setting, SettingsTable

Bindings = list[str] | str  # IP:port, e.g. ["0.0.0.0:110", "[::]:110"] or "0.0.0.0:110,[::]:110"
Number = int | str  # counts, sizes ("36MB") and durations ("30m", "00:30:00")
Flag = bool | str  # true/false, or "enabled"/"disabled" as on the command line


def _value_type(hint: Any) -> tuple[Any, bool]:
    """(the type without None, whether None is allowed)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return hint, False


def request_type(setting: Setting) -> Any:
    """What a PATCH body accepts for `setting` (the service's parser has the last word)."""
    if setting.api_type is not None:
        return setting.api_type
    kind, _ = _value_type(setting.type)
    if kind is bool:
        return Flag
    if kind is int:
        return Number
    if typing.get_origin(kind) is tuple:
        return Bindings
    return str


def response_type(setting: Setting) -> Any:
    """What the settings' JSON form (`to_dict`) holds for `setting`."""
    kind, optional = _value_type(setting.type)
    if isinstance(kind, type) and issubclass(kind, Enum):
        kind = str
    elif typing.get_origin(kind) is tuple:
        kind = types.GenericAlias(list, typing.get_args(kind)[:1])  # list[item type]
    return kind | None if optional else kind


def changes_model(name: str, table: SettingsTable, base: type[BaseModel], *, skip: tuple[str, ...] = (),
                  **extra: Any) -> Any:
    """A request body with one optional field per setting of `table` (class attributes in `extra`)."""
    annotations = {s.name: request_type(s) | None for s in table.inputs if s.name not in skip}
    namespace = {"__annotations__": annotations, "__module__": base.__module__, "__qualname__": name,
                 **{field: None for field in annotations}, **extra}
    return type(name, (base,), namespace)


def view_model(name: str, table: SettingsTable, *, before: dict[str, Any] | None = None,
               after: dict[str, Any] | None = None, doc: str | None = None) -> Any:
    """A response model: the fields of `before`, one per setting of `table`, then `after`."""
    annotations = {**(before or {}), **{s.name: response_type(s) for s in table}, **(after or {})}
    namespace: dict[str, Any] = {"__annotations__": annotations, "__module__": __name__, "__qualname__": name}
    if doc:
        namespace["__doc__"] = doc
    return type(name, (BaseModel,), namespace)
