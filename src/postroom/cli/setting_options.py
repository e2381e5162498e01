"""CLI options generated from a settings table (settings_table.py): one `--name` option per
setting, with the table's help text, so a `set` command never lists its options by hand nor
harvests `locals()` (where any new local variable would reach the service)."""
from __future__ import annotations

import functools
import inspect
from typing import Annotated, Any, Callable, Optional, get_type_hints

import typer

from ..settings_table import Changes, Setting, SettingsTable


def setting_options(table: SettingsTable, *, skip: tuple[str, ...] = ()) -> Callable[[Callable[..., Any]], Any]:
    """Decorate a command whose last parameter is `changes: Changes`: Typer sees the command's
    other parameters followed by one optional option per setting of `table` (except `skip`), and
    the command receives the options given as one typed change object."""
    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        hints = get_type_hints(command, include_extras=True)  # the module may use `from __future__ import annotations`
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints[p.name])
               for p in inspect.signature(command).parameters.values() if p.name != "changes"]
        names = [s.name for s in table.inputs if s.name not in skip]
        options = [inspect.Parameter(s.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                     annotation=Annotated[Optional[s.cli_type], _option(s)])
                   for s in table.inputs if s.name not in skip]

        @functools.wraps(command)
        def wrapper(**given: Any) -> Any:
            values = {name: given.pop(name) for name in names}
            return command(**given, changes=table.changes({k: v for k, v in values.items() if v is not None}))

        params = own + options
        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]  # read by Typer (inspect)
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        del wrapper.__wrapped__  # Typer must read the signature above, not the command's
        return wrapper
    return decorate


def _option(entry: Setting) -> Any:
    """--name (dashes for underscores): the API field's name, so a script moves between the two
    without a mapping, with what VALUE is (DURATION, enabled|disabled, SIZE...); an on/off flag
    pair, and an older alias, where the table declares one."""
    if entry.cli_flag:
        return typer.Option(entry.cli_flag, help=entry.help)
    names = [f"--{entry.name.replace('_', '-')}"]
    if entry.cli_alias:
        names.append(f"--{entry.cli_alias}")
    return typer.Option(*names, help=entry.help, metavar=entry.value_name)


__all__ = ["Changes", "setting_options"]
