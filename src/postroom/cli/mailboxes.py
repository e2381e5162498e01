"""`postroom mailbox new|list|show|set|password|remove|import`: mailboxes and their POP3 and IMAP4
features."""
from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from ..errors import ValidationError
from ..model import MailboxFeatures
from ..service import mailboxes as mailbox_ops
from .common import DEFAULT_DATA, Data, Json, PasswordStdin, fail, opt, read_password, run
from .setting_options import Changes, setting_options
from .output import console, emit, err_console, show_settings, show_table

mailbox_app = typer.Typer(help="Mailboxes and their POP3 and IMAP4 features (Exchange: New-/Get-/Set-Mailbox, "
                               "Set-CASMailbox).", no_args_is_help=True)
FEATURES = MailboxFeatures.table()
MAILBOX_COLUMNS = ["address", "display_name", "enabled", "pop_enabled", "imap_enabled", "password_set"]


FEATURES = MailboxFeatures.table()


@mailbox_app.command("new")
def mailbox_new(address: str, data: Data = DEFAULT_DATA, json_out: Json = False,
                display_name: Annotated[Optional[str], opt("Display name (default: the local part).")] = None,
                pop_enabled: Annotated[Optional[str], typer.Option(
                    "--pop-enabled", "--pop", metavar="enabled|disabled",
                    help="POP3 access (default: enabled).")] = None,
                imap_enabled: Annotated[Optional[str], typer.Option(
                    "--imap-enabled", "--imap", metavar="enabled|disabled",
                    help="IMAP4 access (default: enabled).")] = None,
                password_stdin: PasswordStdin = False) -> None:
    """Create a mailbox in an accepted domain; the password comes from a prompt or stdin (Exchange:
    New-Mailbox)."""
    try:  # the feature's own check (MailboxFeatures), as `mailbox set` and the API make it
        pop = True if pop_enabled is None else FEATURES.parse("pop_enabled", pop_enabled)
        imap = True if imap_enabled is None else FEATURES.parse("imap_enabled", imap_enabled)
    except ValidationError as error:
        raise fail(error) from None
    password = read_password(password_stdin)
    view = run(data, lambda ctx: mailbox_ops.new_mailbox(
        ctx, address, password, display_name=display_name, pop_enabled=pop, imap_enabled=imap))
    emit(view) if json_out else show_settings(view, FEATURES)


@mailbox_app.command("list")
def mailbox_list(data: Data = DEFAULT_DATA, json_out: Json = False,
                 search: Annotated[Optional[str], opt("Substring of address or display name.")] = None,
                 offset: Annotated[int, opt("Skip this many.")] = 0,
                 limit: Annotated[Optional[int], opt("Show at most this many.")] = None) -> None:
    """List mailboxes, ordered by address (Exchange: Get-Mailbox)."""
    view = run(data, lambda ctx: mailbox_ops.list_mailboxes(ctx, search, offset, limit))
    if json_out:
        emit(view)
        return
    show_table(view["items"], MAILBOX_COLUMNS)
    console.print(f"{len(view['items'])} of {view['total']} mailboxes")


@mailbox_app.command("show")
def mailbox_show(address: str, data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Show one mailbox and its POP3 and IMAP4 features, as `mailbox set` takes them, and its message count
    (Exchange: Get-Mailbox, Get-CASMailbox)."""
    view = run(data, lambda ctx: mailbox_ops.show_mailbox(ctx, address))
    emit(view) if json_out else show_settings(view, FEATURES)


@mailbox_app.command("set")
@setting_options(FEATURES)
def mailbox_set(address: str, data: Data = DEFAULT_DATA, json_out: Json = False,
                changes: Changes = MailboxFeatures.changes()) -> None:
    """Change a mailbox: POP3 and IMAP4 features (Exchange: Set-CASMailbox -PopEnabled, -ImapEnabled),
    enabled state, display name, send-as addresses (Set-Mailbox, Add-ADPermission)."""
    try:  # a refused value is reported before the data directory is opened
        MailboxFeatures().apply(changes)
    except ValidationError as error:
        raise fail(error) from None
    view = run(data, lambda ctx: mailbox_ops.set_mailbox(ctx, address, changes))
    emit(view) if json_out else show_settings(view, FEATURES)


@mailbox_app.command("password")
def mailbox_password(address: str, data: Data = DEFAULT_DATA, json_out: Json = False,
                     password_stdin: PasswordStdin = False) -> None:
    """Set a mailbox's password, from a prompt or stdin, never from the command line (Exchange:
    Set-Mailbox -Password)."""
    password = read_password(password_stdin)
    view = run(data, lambda ctx: mailbox_ops.set_password(ctx, address, password))
    emit(view) if json_out else console.print(f"Password changed for {view['address']}")


@mailbox_app.command("remove")
def mailbox_remove(address: str, data: Data = DEFAULT_DATA, json_out: Json = False,
                   yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False) -> None:
    """Remove a mailbox and all its messages (Exchange: Remove-Mailbox)."""
    if not yes and sys.stdin.isatty() and not typer.confirm(f"Remove {address} and all its messages?"):
        raise typer.Exit(1)
    view = run(data, lambda ctx: mailbox_ops.remove_mailbox(ctx, address))
    emit(view) if json_out else console.print(f"Removed {view['address']} ({view['messages_removed']} messages)")


@mailbox_app.command("import")
def mailbox_import(address: str, path: str, data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Load an mbox file, a Maildir or .eml files into a mailbox (Exchange: New-MailboxImportRequest)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, disable=json_out or not err_console.is_terminal) as bar:
        task = bar.add_task("import", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        view = run(data, lambda ctx: mailbox_ops.import_messages(ctx, address, path, progress))
    emit(view) if json_out else console.print(
        f"Imported {view['imported']} messages ({view['format']}) into {view['address']}")
