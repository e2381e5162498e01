"""`postroom domain add|list|remove`: accepted domains."""
from __future__ import annotations

import typer

from ..service import domains as domain_ops
from .common import DEFAULT_DATA, Data, Json, run
from .output import console, emit, show_table

domain_app = typer.Typer(help="Accepted domains.", no_args_is_help=True)


@domain_app.command("add")
def domain_add(name: str, data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Accept mail for a domain (mailboxes can then be created in it)."""
    domain = run(data, lambda ctx: domain_ops.add_domain(ctx, name))
    emit({"name": domain}) if json_out else console.print(f"Added accepted domain {domain}")


@domain_app.command("list")
def domain_list(data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """List accepted domains."""
    names = run(data, domain_ops.list_domains)
    emit([{"name": n} for n in names]) if json_out else show_table([{"name": n} for n in names], ["name"])


@domain_app.command("remove")
def domain_remove(name: str, data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Stop accepting a domain (refused while it still has mailboxes)."""
    domain = run(data, lambda ctx: domain_ops.remove_domain(ctx, name))
    emit({"name": domain}) if json_out else console.print(f"Removed accepted domain {domain}")
