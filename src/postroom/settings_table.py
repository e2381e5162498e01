"""One declaration per setting: the metadata every front end generates its part from.

A settings class (a frozen dataclass, e.g. `PopSettings`) declares each setting once, as a
dataclass field made by `setting(...)`: its Python type and default (the field), its parser
(a validator of `postroom.validation`), the help text with the allowed values (the CLI option
and the API document), the Exchange parameter it mirrors, and its console tab, label, form
label and hint. From that table:
  - the model validates (`ValidatedSettings.with_changes`) and renders (`to_dict`),
  - the service takes a typed `Changes` object (only the table's names, nothing else),
  - the CLI builds its options, each value named (`value_name`), and shows values as `set` takes
    them back (`text`) (cli/setting_options.py, cli/output.py),
  - the REST API its request and response models (web/settings_models.py), the console its form
    fields, notices and display forms.
This module imports nothing but the error set, so model, service and every front end can use it.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Iterator, Mapping

from .errors import ValidationError

Parser = Callable[[str, Any], Any]  # (field name, raw value) -> clean value, or ValidationError


def size_text(octets: int) -> str:
    """250MB rather than 262144000, and unlimited for 0: what the admin would type."""
    if not octets:
        return "unlimited"
    for unit, factor in (("GB", 1024 ** 3), ("MB", 1024 ** 2), ("KB", 1024)):
        if octets % factor == 0:
            return f"{octets // factor}{unit}"
    return str(octets)


def age_text(seconds: int) -> str:
    """30d rather than 2592000, 90s rather than 90 (0: keep)."""
    for unit, factor in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % factor == 0:
            return f"{seconds // factor}{unit}"
    return f"{seconds}s" if seconds else "0"


def _bare_type(annotation: Any) -> Any:
    """`int` for `int`, `str` for `str | None`, `tuple` for `tuple[str, ...]`."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(arg for arg in typing.get_args(annotation) if arg is not type(None))
    return typing.get_origin(annotation) or annotation


@dataclass(frozen=True)
class Setting:
    """One setting. `name`, `type` and `default` come from the dataclass field it annotates."""

    parse: Parser
    help: str  # the CLI option's help: what it is and the allowed values or range
    exchange: str | None = None  # the Exchange parameter it mirrors (Set-PopSettings -MaxCommandSize)
    tab: str | None = None  # the console tab that edits it (None: not on a tab)
    label: str | None = None  # the console's name for it in notices ("maximum command size")
    form_label: str | None = None  # the console form's label, when the form is generated from the table
    hint: str = ""  # the console form's hint below the field
    unit: str = ""  # seconds, octets, ...: the value is stored in it (the CLI shows seconds as 30m: `text`)
    display: Callable[[Any], str] | None = None  # the display form the console shows (size_text)
    metavar: str = ""  # what the CLI option's value is (IP:PORT,...), when `value_name` would not say it
    cli_type: type = str  # the CLI option's type (the parser still has the last word)
    cli_flag: str = ""  # a boolean's on/off flags ("--enabled/--disabled"), instead of --name VALUE
    # an older CLI name still accepted beside --name (--pop for --pop-enabled, as the article
    # types it); the option itself is always the field's name, as the API field is (one vocabulary)
    cli_alias: str = ""
    api_type: Any = None  # the REST body's type, when not the one derived from `type` (web/settings_models.py)
    # Inputs (CLI options, request body, console forms) come in declaration order, sorted by
    # this rank: for a setting shown first but asked for last (the policy's trusted networks).
    input_rank: int = 0
    # console: text, number, checkbox, list (one input per item), lines (a textarea, one value a
    # line), checkboxes (one box per allowed value) or choice
    widget: str = "text"
    unchecked: str = ""  # checkboxes: the value sent when no box is ticked
    tab_rank: int = 0  # the order on its console tab, when it differs from the input order
    name: str = ""
    type: Any = None
    default: Any = None

    @property
    def notice_label(self) -> str:
        return self.label or self.name.replace("_", " ")

    @property
    def inputmode(self) -> str:
        """The form input's inputmode: numeric for a plain count (not for sizes or durations)."""
        return "numeric" if self.widget == "number" else ""

    @property
    def value_name(self) -> str:
        """What the CLI option's value is, in its help (`--authenticated-timeout DURATION`): the
        declared metavar, else from the type and unit (enabled|disabled, the enum's values, SIZE...)."""
        kind = _bare_type(self.type)
        if self.metavar:
            return self.metavar
        if kind is bool:
            return "enabled|disabled"
        if isinstance(kind, type) and issubclass(kind, Enum):
            return "|".join(member.value for member in kind)
        if self.unit == "seconds":
            return "DURATION"
        if self.unit == "octets" and self.display:
            return "SIZE"
        return {int: "N", tuple: "LIST"}.get(kind, "TEXT")

    def text(self, value: Any) -> str:
        """`value` (as `render` gives it) in the form `set` takes back, for the CLI's show: the
        display form (250MB, 30d), a duration for seconds (30m, not 1800), enabled/disabled for
        on/off, a comma-separated list, '' for none. --json and the API keep the raw value."""
        if value is None:
            return ""
        if self.display:
            return self.display(value)
        if isinstance(value, bool):
            return "enabled" if value else "disabled"
        if self.unit == "seconds":
            return age_text(value)
        if isinstance(value, (list, tuple)):
            return ",".join(str(self.render(item)) for item in value)
        return str(self.render(value))

    def render(self, value: Any) -> Any:
        """The JSON value (`to_dict`, --json, the API's answer): enums by value, tuples as lists."""
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, tuple):
            return list(value)
        return value


def setting(default: Any, parse: Parser, help: str, **meta: Any) -> Any:
    """A dataclass field declaring one setting (see `Setting` for the metadata)."""
    return dataclasses.field(default=default, metadata={"setting": Setting(parse=parse, help=help, **meta)})


class SettingsTable:
    """The settings of one settings class, in declaration order."""

    def __init__(self, cls: type, kind: str) -> None:
        self.cls = cls
        self.kind = kind  # "a POP setting": how an unknown name is refused
        hints = typing.get_type_hints(cls)
        entries = []
        for f in dataclasses.fields(cls):
            spec = f.metadata.get("setting")
            if spec is None:  # an identity field (a connector's name and server), not a setting
                continue
            entries.append(dataclasses.replace(spec, name=f.name, type=hints[f.name], default=f.default))
        self.settings: tuple[Setting, ...] = tuple(entries)
        self._by_name = {s.name: s for s in entries}

    def __iter__(self) -> Iterator[Setting]:
        return iter(self.settings)

    def __getitem__(self, name: str) -> Setting:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    @property
    def inputs(self) -> tuple[Setting, ...]:
        """The settings in the order front ends ask for them (see `Setting.input_rank`)."""
        return tuple(sorted(self.settings, key=lambda s: s.input_rank))

    def tab_fields(self) -> dict[str, tuple[str, ...]]:
        """Console tab -> its settings' names, in input order."""
        tabs: dict[str, tuple[str, ...]] = {}
        for s in sorted(self.inputs, key=lambda s: s.tab_rank):
            if s.tab:
                tabs[s.tab] = tabs.get(s.tab, ()) + (s.name,)
        return tabs

    def labels(self) -> dict[str, str]:
        return {s.name: s.notice_label for s in self.settings}

    def parse(self, name: str, value: Any) -> Any:
        if name not in self._by_name:
            raise ValidationError(name, f"is not {self.kind}", sorted(self._by_name))
        entry = self._by_name[name]
        return entry.parse(name, value)

    def to_dict(self, settings: Any) -> dict[str, Any]:
        return {s.name: s.render(getattr(settings, s.name)) for s in self.settings}

    def display(self, view: Mapping[str, Any]) -> dict[str, str]:
        """The values of `view` that have a display form (sizes, ages), as the admin would type them."""
        return {s.name: s.display(view[s.name]) for s in self.settings if s.display and s.name in view}

    def texts(self, view: Mapping[str, Any]) -> dict[str, str]:
        """Every setting of `view` as `set` takes it back (`Setting.text`): what the CLI shows."""
        return {s.name: s.text(view[s.name]) for s in self.settings if s.name in view}

    def changes(self, values: Mapping[str, Any] | None = None, /, **more: Any) -> "Changes":
        return Changes(self, {**(values or {}), **more})


class Changes:
    """The typed change object a set operation takes: settings of one table, by name, as given
    (raw text or values; the table's parsers check them). An unknown name is refused here, so
    nothing but a declared setting ever reaches the service."""

    __slots__ = ("table", "values")

    def __init__(self, table: SettingsTable, values: Mapping[str, Any]) -> None:
        for name in values:
            if name not in table:
                raise ValidationError(name, f"is not {table.kind}", sorted(table.names))
        self.table = table
        self.values: Mapping[str, Any] = types.MappingProxyType(dict(values))

    def __bool__(self) -> bool:
        return bool(self.values)

    def __repr__(self) -> str:
        return f"Changes({self.table.cls.__name__}, {dict(self.values)!r})"

    def of(self, table: SettingsTable) -> Mapping[str, Any]:
        """The values, after checking they are changes of `table` (not another table's)."""
        if table is not self.table:
            raise TypeError(f"changes of {self.table.cls.__name__} given where {table.cls.__name__} was expected")
        return self.values
