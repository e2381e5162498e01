"""`postroom domain add|list|remove`: accepted domains; `postroom domain dkim new|show|remove`:
their DKIM signing keys."""
from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer

from ..service import dkim_keys as dkim_ops
from ..service import domains as domain_ops
from .common import DEFAULT_DATA, Data, Json, run
from .output import console, emit, show_table

domain_app = typer.Typer(help="Accepted domains (Exchange: Get-/New-/Remove-AcceptedDomain).", no_args_is_help=True)


@domain_app.command("add")
def domain_add(name: str, data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Accept mail for a domain; mailboxes can then be created in it (Exchange: New-AcceptedDomain)."""
    domain = run(data, lambda ctx: domain_ops.add_domain(ctx, name))
    emit({"name": domain}) if json_out else console.print(f"Added accepted domain {domain}")


@domain_app.command("list")
def domain_list(data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """List accepted domains (Exchange: Get-AcceptedDomain)."""
    names = run(data, domain_ops.list_domains)
    emit([{"name": n} for n in names]) if json_out else show_table([{"name": n} for n in names], ["name"])


@domain_app.command("remove")
def domain_remove(name: str, data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Stop accepting a domain, refused while it still has mailboxes (Exchange: Remove-AcceptedDomain)."""
    domain = run(data, lambda ctx: domain_ops.remove_domain(ctx, name))
    emit({"name": domain}) if json_out else console.print(f"Removed accepted domain {domain}")


# DKIM signing keys ---------------------------------------------------------------------------
dkim_app = typer.Typer(help="DKIM signing keys of a domain (Exchange Online: New-DkimSigningConfig).",
                       no_args_is_help=True)
domain_app.add_typer(dkim_app, name="dkim")

Algorithm = Annotated[str, typer.Option("--algorithm", help="rsa-2048 (read by every verifier) or ed25519 "
                                        "(RFC 8463: small and fast; add it next to an RSA key).")]
Selector = Annotated[Optional[str], typer.Option("--selector", help="DNS label(s) naming the key "
                                                 "(default: postroom-<yyyymm>-rsa or -ed25519).")]


def print_records(domain: str, keys: list[dict[str, Any]]) -> None:
    """The TXT records to publish, in zone-file form (the value split into 255-octet strings)
    and as name and value for a DNS provider's web form. Printed unwrapped: a folded line
    would break the copy."""
    for key in keys:
        typer.echo(f"\n{key['algorithm']} key, selector {key['selector']}, created {key['created_at']}")
        typer.echo(f"Publish this TXT record in the {domain} zone:")
        strings = " ".join(f'"{part}"' for part in key["txt_strings"])
        typer.echo(f"  {key['dns_name']}. IN TXT ( {strings} )")
        typer.echo(f"  name:  {key['dns_name']}")
        typer.echo(f"  value: {key['txt_value']}")


@dkim_app.command("new")
def dkim_new(domain: str, algorithm: Algorithm = dkim_ops.DEFAULT_ALGORITHM, selector: Selector = None,
             data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Make a signing key for an accepted domain and print the DNS record to publish."""
    key = run(data, lambda ctx: dkim_ops.new_dkim_key(ctx, domain, algorithm, selector))
    if json_out:
        emit(key)
        return
    console.print(f"Made a DKIM {key['algorithm']} key for {key['domain']}: outgoing mail from "
                  f"{key['domain']} is signed with it from now on.")
    print_records(key["domain"], [key])
    typer.echo("\nUntil this record is published, receivers cannot verify the signature (DKIM result: "
               f"temperror or permerror). Check it with: dig +short TXT {key['dns_name']}")


@dkim_app.command("show")
def dkim_show(domain: str, data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Show a domain's signing keys and the DNS TXT records to publish for them."""
    shown = run(data, lambda ctx: dkim_ops.show_dkim(ctx, domain))
    if json_out:
        emit(shown)
        return
    if not shown["keys"]:
        console.print(f"DKIM signing for {shown['domain']}: off (no key). Outgoing mail from {shown['domain']} "
                      f"is sent unsigned; make a key with: postroom domain dkim new {shown['domain']}")
        return
    count = len(shown["keys"])
    console.print(f"DKIM signing for {shown['domain']}: on ({count} key{'s' if count > 1 else ''}; "
                  "outgoing mail is signed with each)")
    print_records(shown["domain"], shown["keys"])


@dkim_app.command("remove")
def dkim_remove(domain: str, selector: Selector = None, data: Data = DEFAULT_DATA, json_out: Json = False,
                yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False) -> None:
    """Remove a domain's signing key (--selector), or all its keys: its mail is then sent unsigned."""
    which = f"the DKIM key {selector} of {domain}" if selector else f"every DKIM key of {domain}"
    if not yes and sys.stdin.isatty() and not typer.confirm(f"Remove {which}?"):
        raise typer.Exit(1)
    removed = run(data, lambda ctx: dkim_ops.remove_dkim_keys(ctx, domain, selector))
    if json_out:
        emit(removed)
        return
    for key in removed:
        console.print(f"Removed the DKIM {key['algorithm']} key {key['selector']} of {key['domain']}.")
    names = ", ".join(key["dns_name"] for key in removed)
    if len(removed) == 1:
        typer.echo(f"Keep its TXT record published for a few days (mail already sent is verified with it), "
                   f"then delete it: {names}")
    else:
        typer.echo(f"Keep their TXT records published for a few days (mail already sent is verified with them), "
                   f"then delete them: {names}")
