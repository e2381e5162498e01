"""The `postroom` command line: a thin translation onto the service layer.

Every command takes --data (default ./var or POSTROOM_DATA); read commands take --json.
Errors name the field and the allowed values, and exit non-zero (see common.EXIT_CODES).

This module assembles the app: each command group is a module with its own Typer (or, for the
top-level commands, plain functions), added here explicitly; the groups share common.py and
output.py and never import this module.
"""
from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from . import (
    admins, backup, config, connectors, doctor, domains, imap, logs, mailbox_messages, mailboxes, migrate, pop,
    queue, security, send_connectors, services, sessions, setup,
)
from .common import EXIT_CODES, StoreOpt, exit_code, fail, run, use_store
from .help import HelpGroup
from .output import console

__all__ = ["EXIT_CODES", "app", "exit_code", "fail", "main", "run"]

# Help and usage errors in plain text (help.py), not Rich panels: readable at 80 columns and piped.
app = typer.Typer(help="postroom: a mail server for applications that read a mailbox over POP3 or IMAP4.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  cls=HelpGroup, rich_markup_mode=None)


def version_callback(value: bool) -> None:
    if value:
        console.print(f"postroom {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: Annotated[bool, typer.Option("--version", callback=version_callback, is_eager=True,
                                               help="Show the version and exit.")] = False,
         store: StoreOpt = None) -> None:
    """postroom administration."""
    use_store(store)  # None clears what an earlier invocation in this process set


app.command()(setup.init)
app.command()(setup.serve)
app.add_typer(services.service_app, name="service")
app.add_typer(pop.pop_app, name="pop")
app.add_typer(imap.imap_app, name="imap")
app.add_typer(mailboxes.mailbox_app, name="mailbox")
mailboxes.mailbox_app.command("messages")(mailbox_messages.messages)
mailboxes.mailbox_app.command("message")(mailbox_messages.message)
app.add_typer(domains.domain_app, name="domain")
app.add_typer(connectors.connector_app, name="connector")
app.add_typer(send_connectors.send_connector_app, name="send-connector")
app.add_typer(send_connectors.transport_app, name="transport")
app.add_typer(queue.queue_app, name="queue")
app.add_typer(queue.message_app, name="message")
app.add_typer(logs.log_app, name="log")
app.add_typer(admins.admin_app, name="admin")
app.add_typer(admins.web_app, name="web")
app.add_typer(doctor.doctor_app, name="doctor")
app.add_typer(doctor.test_app, name="test")
app.command()(backup.backup)
app.command()(backup.restore)
app.command("migrate")(migrate.migrate)
app.add_typer(security.security_app, name="security")
app.add_typer(config.config_app, name="config")
app.add_typer(sessions.session_app, name="session")


def main() -> None:
    app()
