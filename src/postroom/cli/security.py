"""`postroom security blocks`: the sources and mailboxes refused for a while after repeated
failed logins, and lifting them (`--clear VALUE`, `--clear-all`); `postroom security policy
[set]`: the organization's policy that starts them.

cli/__init__.py adds security_app to the `postroom` app.
"""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..errors import ValidationError
from ..model import LoginPolicy
from ..service import security as security_ops
from .common import DEFAULT_DATA, Data, Json, fail, run
from .output import console, emit, show_settings, show_table
from .setting_options import Changes, setting_options

security_app = typer.Typer(help="Login security: blocks after repeated failed logins.", no_args_is_help=True)
policy_app = typer.Typer(help="The login block policy (every server): thresholds, times, trusted networks.",
                         invoke_without_command=True)
security_app.add_typer(policy_app, name="policy")
BLOCK_COLUMNS = ["kind", "value", "since", "until", "failures", "service", "server"]


@security_app.command("blocks")
def security_blocks(data: Data = DEFAULT_DATA, json_out: Json = False,
                    clear: Annotated[Optional[str], typer.Option(
                        "--clear", metavar="IP|ADDRESS", help="Lift the blocks on this source IP or mailbox.")] = None,
                    clear_all: Annotated[bool, typer.Option("--clear-all", help="Lift every block.")] = False) -> None:
    """Sources, mailboxes and admin names (kind admin) blocked after repeated failed logins (until when, why);
    --clear VALUE or --clear-all lifts them (running nodes stop applying them within a second)."""
    if clear is not None and clear_all:
        raise fail(ValidationError("clear", "give --clear VALUE or --clear-all, not both"))
    if clear is not None or clear_all:
        lifted = run(data, (lambda ctx: security_ops.clear_block(ctx, clear)) if clear is not None
                     else security_ops.clear_all_blocks)
        if json_out:
            emit(lifted)
        else:
            console.print(f"Lifted {len(lifted)} block(s)" + (f" on {clear}" if clear is not None else ""))
        return
    rows = run(data, security_ops.list_blocks)
    emit(rows) if json_out else show_table(rows, BLOCK_COLUMNS)


@policy_app.callback()
def security_policy(context: typer.Context, data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """The login block policy every server applies (`postroom security policy set` changes it)."""
    if context.invoked_subcommand is not None:
        return
    view = run(data, security_ops.login_policy)
    emit(view) if json_out else show_settings(view, LoginPolicy.table())


@policy_app.command("set")
@setting_options(LoginPolicy.table())
def security_policy_set(data: Data = DEFAULT_DATA, json_out: Json = False,
                        changes: Changes = LoginPolicy.changes()) -> None:
    """Change the login block policy; running nodes apply it within a second, without a restart."""
    view = run(data, lambda ctx: security_ops.set_login_policy(ctx, changes))
    emit(view) if json_out else show_settings(view, LoginPolicy.table())
