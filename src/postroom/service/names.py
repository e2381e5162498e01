"""Finding an object by the name an administrator typed, the one way for the CLI, REST and console.

Exchange names a server's receive connectors `Default EX01` and `Client EX01`; typing
`Client` on EX01 means `Client EX01`, and `Cli` can only mean it too. So a typed name is, in
this order: a whole name (any case, as names compare everywhere in postroom); a short name
the object also answers to (`Client` for `Client EX01` on EX01, a queue's next hop); or the
start of exactly one name. Several matches are refused listing them, and an unknown name is
answered with the names that do exist, so a typo never ends at "does not exist" alone.
"""
from __future__ import annotations

from typing import Iterable

from ..errors import NotFound, ValidationError


def find_name(names: Iterable[str], typed: str, *, kind: str, field: str = "name", where: str = "",
              aliases: Iterable[tuple[str, str]] = (), whole: bool = False) -> str:
    """The one name of `names` that `typed` means (see the module docstring). `kind` and
    `where` ("receive connector", " on server EX01") word the refusals; `aliases` are the
    (short name, name) pairs. `whole`: a bare start of a name is not enough (a removal needs
    the name, whole or short)."""
    known = sorted(names, key=str.casefold)
    wanted = typed.strip().casefold()
    match = next((name for name in known if name.casefold() == wanted), None)
    if match is not None:
        return match
    by_alias = sorted({name for alias, name in aliases if alias.casefold() == wanted}, key=str.casefold)
    starting = by_alias or [name for name in known if wanted and name.casefold().startswith(wanted)]
    if len(starting) > 1:
        raise ValidationError(field, f"{typed!r} matches more than one {kind}{where}: give more of the name",
                              starting)
    if starting and whole and not by_alias:
        raise ValidationError(field, f"{typed!r} is only the start of {kind} {starting[0]!r}{where}: give its "
                                     "whole name", starting)
    if starting:
        return starting[0]
    raise NotFound(kind, typed, where=where, existing=known)


def short_names(names: Iterable[str], server: str) -> list[tuple[str, str]]:
    """(`Client`, `Client EX01`) for each name that ends in the server's name, as Exchange
    names a server's receive connectors."""
    tail = f" {server}".casefold()
    return [(name[:-len(tail)], name) for name in names if name.casefold().endswith(tail) and len(name) > len(tail)]
