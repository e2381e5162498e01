"""`postroom admin ...` (principals, role groups, API tokens) and `postroom web show|set`
(where the admin service, i.e. the REST API and the console, listens).

cli/__init__.py adds admin_app and web_app to the `postroom` app.
"""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..model import ROLE_GROUPS, WebSettings
from ..service import admins as admin_ops
from ..service import web as web_ops
from .common import DEFAULT_DATA, Data, Json, PasswordStdin, ServerOpt, opt, read_password, run
from .output import console, emit, show_record, show_settings, show_table
from .setting_options import Changes, setting_options

admin_app = typer.Typer(help="Admin principals, their role groups and API tokens (Exchange: role groups, "
                             "Add-RoleGroupMember).", no_args_is_help=True)
web_app = typer.Typer(help="The admin service (REST API and console): bindings and sessions.",
                      no_args_is_help=True)

token_app = typer.Typer(help="API tokens of admin principals (shown once, stored hashed).", no_args_is_help=True)
admin_app.add_typer(token_app, name="token")

Name = Annotated[str, typer.Argument(help="Admin principal name, e.g. alice or alice@example.com.")]
Roles = Annotated[str, typer.Option("--roles", "--role", metavar="GROUP,...",
                                    help=f"Role groups, comma-separated: {', '.join(ROLE_GROUPS)}.")]
ADMIN_COLUMNS = ["name", "roles", "password_set", "created_at"]
TOKEN_COLUMNS = ["id", "admin", "description", "created_at", "expires_at", "last_used_at"]


@admin_app.command("new")
def admin_new(name: Name, role: Roles, data: Data = DEFAULT_DATA, json_out: Json = False,
              password_stdin: PasswordStdin = False) -> None:
    """Create an admin principal in one or more role groups; the password comes from a prompt or stdin
    (Exchange: Add-RoleGroupMember)."""
    password = read_password(password_stdin)
    view = run(data, lambda ctx: admin_ops.new_admin(ctx, name, password, role))
    emit(view) if json_out else show_record(view)


@admin_app.command("list")
def admin_list(data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Admin principals and their role groups (Exchange: Get-RoleGroupMember)."""
    rows = run(data, admin_ops.list_admins)
    emit(rows) if json_out else show_table(rows, ADMIN_COLUMNS)


@admin_app.command("show")
def admin_show(name: Name, data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """One admin principal."""
    view = run(data, lambda ctx: admin_ops.show_admin(ctx, name))
    emit(view) if json_out else show_record(view)


@admin_app.command("set-role")
def admin_set_role(name: Name, role: Roles, data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Replace a principal's role groups; its rights are their union (Exchange: Add-/Remove-RoleGroupMember)."""
    view = run(data, lambda ctx: admin_ops.set_roles(ctx, name, role))
    emit(view) if json_out else show_record(view)


@admin_app.command("password")
def admin_password(name: Name, data: Data = DEFAULT_DATA, json_out: Json = False,
                   password_stdin: PasswordStdin = False) -> None:
    """Set a principal's password (from a prompt or stdin, never from the command line)."""
    password = read_password(password_stdin)
    view = run(data, lambda ctx: admin_ops.set_admin_password(ctx, name, password))
    emit(view) if json_out else console.print(f"Password changed for admin {view['name']}")


@admin_app.command("remove")
def admin_remove(name: Name, data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Remove a principal; its API tokens and console sessions end with it."""
    view = run(data, lambda ctx: admin_ops.remove_admin(ctx, name))
    emit(view) if json_out else console.print(
        f"Removed admin {view['name']} ({view['tokens_revoked']} API tokens revoked)")


@token_app.command("new")
def token_new(name: Name, data: Data = DEFAULT_DATA, json_out: Json = False,
              description: Annotated[Optional[str], opt("What the token is for, e.g. 'ticket system'.")] = None,
              expires: Annotated[Optional[str], opt("30d, 12h, 1w, an ISO-8601 time, or never (default).")] = None,
              ) -> None:
    """Create an API token that acts as NAME; it is printed once and only its hash is kept."""
    view = run(data, lambda ctx: admin_ops.new_token(ctx, name, description=description, expires=expires))
    if json_out:
        emit(view)
        return
    show_record({k: v for k, v in view.items() if k != "token"})
    console.print(f"Token (shown once, send it as 'Authorization: Bearer ...'): [bold]{view['token']}[/bold]")


@token_app.command("list")
def token_list(name: Annotated[Optional[str], typer.Argument(help="Only this admin's tokens.")] = None,
               data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """API tokens (never their secret), with expiry and last use."""
    rows = run(data, lambda ctx: admin_ops.list_tokens(ctx, name))
    emit(rows) if json_out else show_table(rows, TOKEN_COLUMNS)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(metavar="ID", help="The token's id (from token list).")],
                 data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Revoke an API token at once."""
    view = run(data, lambda ctx: admin_ops.revoke_token(ctx, token_id))
    emit(view) if json_out else console.print(f"Revoked API token {view['id']} of {view['admin']}")


@web_app.command("show")
def web_show(data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False) -> None:
    """Where the admin service (REST API and console) of a server listens, and its limits, as
    `web set` takes them."""
    view = run(data, lambda ctx: web_ops.show_web(ctx, server))
    emit(view) if json_out else show_settings(view, WebSettings.table())


@web_app.command("set")
@setting_options(WebSettings.table())
def web_set(data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False,
            changes: Changes = WebSettings.changes()) -> None:
    """Change the admin service's bindings, session timeout, connection caps or timeouts; applies live."""
    view = run(data, lambda ctx: web_ops.set_web(ctx, server, changes))
    emit(view) if json_out else show_settings(view, WebSettings.table())
