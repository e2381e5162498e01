"""`postroom security blocks`: the sources and mailboxes refused for a while after repeated
failed logins, and lifting them (`--clear VALUE`, `--clear-all`); `postroom security policy
[set]`: the organization's policy that starts them.

The commands hang on security_app, added to cli.app; cli.py imports this module once its helpers exist.
"""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from .cli import DEFAULT_DATA, Data, Json, _opt, app, fail, run
from .cli_output import console, emit, show_record, show_table
from .errors import ValidationError
from .service import security as security_ops

security_app = typer.Typer(help="Login security: blocks after repeated failed logins.", no_args_is_help=True)
app.add_typer(security_app, name="security")
policy_app = typer.Typer(help="The login block policy (every server): thresholds, times, trusted networks.",
                         invoke_without_command=True)
security_app.add_typer(policy_app, name="policy")
BLOCK_COLUMNS = ["kind", "value", "since", "until", "failures", "service", "server"]


@security_app.command("blocks")
def security_blocks(data: Data = DEFAULT_DATA, json_out: Json = False,
                    clear: Annotated[Optional[str], typer.Option(
                        "--clear", help="Lift the blocks on this source IP or mailbox.")] = None,
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
    emit(view) if json_out else show_record(view)


@policy_app.command("set")
def security_policy_set(
    data: Data = DEFAULT_DATA, json_out: Json = False,
    max_source_failures: Annotated[Optional[str], _opt("Failed logins from one IP address that block it (1..1000; "
                                                       "default 10).")] = None,
    max_mailbox_failures: Annotated[Optional[str], _opt("Failed logins on one mailbox, from untrusted sources, that "
                                                        "block it for them (1..1000; default 20).")] = None,
    window: Annotated[Optional[str], _opt("Time within which failures count: 1m..24h (e.g. 15m, 900, "
                                          "00:15:00; default 15m).")] = None,
    block_time: Annotated[Optional[str], _opt("How long a block lasts: 1m..168h (default 15m).")] = None,
    max_delay: Annotated[Optional[str], _opt("Longest wait before a failed login's reply: 1s..60s "
                                             "(default 15s).")] = None,
    trusted_networks: Annotated[Optional[str], _opt("Sources never blocked nor delayed beyond the base delay: CIDR "
                                                    "blocks, comma-separated, or none (default "
                                                    "127.0.0.0/8,::1/128).")] = None,
) -> None:
    """Change the login block policy; running nodes apply it within a second, without a restart."""
    given = {"max_source_failures": max_source_failures, "max_mailbox_failures": max_mailbox_failures,
             "window": window, "block_time": block_time, "max_delay": max_delay, "trusted_networks": trusted_networks}
    changes = {name: value for name, value in given.items() if value is not None}
    view = run(data, lambda ctx: security_ops.set_login_policy(ctx, changes))
    emit(view) if json_out else show_record(view)
