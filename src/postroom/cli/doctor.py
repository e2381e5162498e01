"""`postroom doctor pop|imap ADDRESS` and `postroom test pop|imap|smtp ADDRESS`: the article's
checklist on the live system, with the fix for each problem, and Exchange's Test-PopConnectivity
(Test-ImapConnectivity);
`postroom doctor send ADDRESS`: why mail to a remote address does not arrive.

cli/__init__.py adds doctor_app and test_app to the `postroom` app. Exit status: 0 when nothing
failed (warnings allowed), 1 when a check or a scenario failed, and the CLI's usual codes for
refused input (2), not found (3), and so on.
"""
from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import ValidationError
from .common import DEFAULT_DATA, Data, Json, PasswordStdin, ServerOpt, fail, opt, run
from .output import console, emit, err_console, print_table

doctor_app = typer.Typer(help="The doctor: check everything a POP3 (pop) or IMAP4 (imap) application needs, or "
                              "why mail to a remote address does not arrive (send), and name each fix.",
                         no_args_is_help=True)
test_app = typer.Typer(help="Connectivity tests (Exchange: Test-PopConnectivity, Test-ImapConnectivity, "
                            "Test-SmtpConnectivity).",
                       no_args_is_help=True)

Address = Annotated[str, typer.Argument(help="The mailbox the application reads, e.g. crm@example.com.")]
ClientMode = Annotated[Optional[str], opt("How the application connects: plain, stls (starttls) or ssl (default: not "
                                           "known: the doctor probes every binding, each way, and says which work).")]
TestClientMode = Annotated[Optional[str], opt("How the application connects: plain, stls (starttls) or ssl "
                                               "(default: ssl, or what --port is).")]
Host = Annotated[Optional[str], opt("Host name or IP the application connects to (certificate names are checked "
                                     "against it).")]
Port = Annotated[Optional[int], opt("Port the application connects to.")]
TrustAny = Annotated[bool, typer.Option(
    "--trust-any-certificate", help="Do not verify the server's certificate (Exchange: -TrustAnySSLCertificate).")]
Light = Annotated[bool, typer.Option("--light", help="Log in only; without it a test message is also sent, "
                                                     "retrieved and deleted.")]
Bundle = Annotated[Optional[str], opt("Also write a support bundle (tar.gz) to this file: settings, the checks, the "
                                      "last hour's logs; no secrets.")]


def _doctor_ops() -> Any:
    # Imported on use: the diagnostics (probes, checks, support bundle) are a sixth of the
    # CLI's start-up, which every other command would pay.
    from ..service import doctor
    return doctor


STYLES = {"pass": "green", "warn": "yellow", "fail": "red", "Success": "green", "Skipped": "yellow", "Failure": "red"}


def _password(from_stdin: bool, *, required: bool) -> str | None:
    """The mailbox's password: first line of stdin, or (for the tests) a prompt without echo."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise fail(ValidationError("password", "standard input held no password"))
        return password
    if not required:
        return None
    if not sys.stdin.isatty():
        raise fail(ValidationError("password", "no terminal to prompt on; pass --password-stdin and pipe it in"))
    return typer.prompt("Mailbox password", hide_input=True)


def _show_checks(checks: list[dict[str, Any]]) -> None:
    for check in checks:
        style = STYLES[check["status"]]
        console.print(f"[{style}]{check['status'].upper():4}[/{style}]  [bold]{check['name']}[/bold]: "
                      f"{escape(check['detail'])}")
        if check["status"] != "pass" and check["fix"]:
            console.print(f"      fix: {escape(check['fix'])}")
        if check["status"] != "pass" and check["page"]:
            console.print(f"      console: {escape(check['page'])}")
    counts = {status: sum(c["status"] == status for c in checks) for status in ("pass", "warn", "fail")}
    console.print(f"{counts['pass']} passed, {counts['warn']} warnings, {counts['fail']} failed")


@doctor_app.command("pop")
def doctor_pop(address: Address, data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False,
               client_mode: ClientMode = None, host: Host = None, port: Port = None,
               password_stdin: PasswordStdin = False, bundle: Bundle = None) -> None:
    """Check everything an application needs to read ADDRESS over POP3, and name each fix."""
    _doctor(address, data, server, json_out, client_mode, host, port, password_stdin, bundle, "pop")


@doctor_app.command("imap")
def doctor_imap(address: Address, data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False,
                client_mode: ClientMode = None, host: Host = None, port: Port = None,
                password_stdin: PasswordStdin = False, bundle: Bundle = None) -> None:
    """Check everything an application needs to read ADDRESS over IMAP4, and name each fix."""
    _doctor(address, data, server, json_out, client_mode, host, port, password_stdin, bundle, "imap")


def _doctor(address: str, data: str, server: str | None, json_out: bool, client_mode: str | None,
            host: str | None, port: int | None, password_stdin: bool, bundle: str | None, protocol: str) -> None:
    password = _password(password_stdin, required=False)

    async def action(ctx: Any) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        checks = await _doctor_ops().doctor_pop(ctx, address, server=server, client_mode=client_mode,
                                                host=host, port=port, password=password, protocol=protocol)
        written = None
        if bundle:
            written = await _doctor_ops().write_support_bundle(ctx, address, checks, bundle, server=server,
                                                               extra_secrets=(password,) if password else ())
        return checks, written

    checks, written = run(data, action)
    emit(checks) if json_out else _show_checks(checks)
    if written:
        err_console.print(f"Support bundle written to {escape(written['path'])} ({written['bytes']} bytes)")
    raise typer.Exit(1 if any(c["status"] == "fail" for c in checks) else 0)


@doctor_app.command("send")
def doctor_send(address: Annotated[str, typer.Argument(help="The remote recipient, e.g. bob@partner.example.")],
                data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False,
                no_connect: Annotated[bool, typer.Option(
                    "--no-connect", help="Do not open a session with the next hop (DNS, queue and tracking only).")
                ] = False) -> None:
    """Why did mail to ADDRESS not arrive: the send connector, DNS, a live session with the next
    hop (EHLO, STARTTLS, DANE; no mail is sent), the queue and message tracking, each with its fix."""
    checks = run(data, lambda ctx: _doctor_ops().doctor_send(ctx, address, server=server, connect=not no_connect))
    emit(checks) if json_out else _show_checks(checks)
    raise typer.Exit(1 if any(c["status"] == "fail" for c in checks) else 0)


def _show_scenarios(rows: list[dict[str, Any]], json_out: bool) -> None:
    if json_out:
        emit(rows)
    else:
        table = Table("Scenario", "Result", "Latency(ms)", "Error")
        for row in rows:
            style = STYLES[row["result"]]
            latency = "-" if row["latency_ms"] is None else f"{row['latency_ms']:.1f}"
            table.add_row(escape(row["scenario"]), f"[{style}]{row['result']}[/{style}]", latency,
                          escape(row["error"] or ""))
        print_table(table)  # an error is never cut short
    raise typer.Exit(1 if any(r["result"] == "Failure" for r in rows) else 0)


@test_app.command("pop")
def test_pop(address: Address, data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False,
             light: Light = False, client_mode: TestClientMode = None, host: Host = None, port: Port = None,
             password_stdin: PasswordStdin = False, trust_any_certificate: TrustAny = False) -> None:
    """Log in over POP3 as the application does (Exchange: Test-PopConnectivity); without --light
    also send a test message through the Client connector, retrieve it and delete it."""
    password = _password(password_stdin, required=True)
    assert password is not None
    rows = run(data, lambda ctx: _doctor_ops().pop_connectivity(
        ctx, address, password, light=light, server=server, client_mode=client_mode, host=host, port=port,
        trust_any_certificate=trust_any_certificate))
    _show_scenarios(rows, json_out)


@test_app.command("imap")
def test_imap(address: Address, data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False,
              light: Light = False, client_mode: TestClientMode = None, host: Host = None, port: Port = None,
              password_stdin: PasswordStdin = False, trust_any_certificate: TrustAny = False) -> None:
    """Log in over IMAP4 and SELECT INBOX as the application does (Exchange: Test-ImapConnectivity);
    without --light also send a test message through the Client connector, find it, fetch it
    and delete it."""
    password = _password(password_stdin, required=True)
    assert password is not None
    rows = run(data, lambda ctx: _doctor_ops().imap_connectivity(
        ctx, address, password, light=light, server=server, client_mode=client_mode, host=host, port=port,
        trust_any_certificate=trust_any_certificate))
    _show_scenarios(rows, json_out)


@test_app.command("smtp")
def test_smtp(address: Address, data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False,
              light: Light = False,
              host: Annotated[Optional[str], opt("Host of the submission connector (default: the Client "
                                                  "connector's first binding).")] = None,
              port: Annotated[Optional[int], opt("Its port.")] = None,
              password_stdin: PasswordStdin = False, trust_any_certificate: TrustAny = False) -> None:
    """Submit as the application does (Exchange: Test-SmtpConnectivity): STARTTLS and AUTH on the
    Client connector; without --light also send a test message to ADDRESS, retrieve it over POP3
    and delete it."""
    password = _password(password_stdin, required=True)
    assert password is not None
    rows = run(data, lambda ctx: _doctor_ops().smtp_connectivity(
        ctx, address, password, light=light, server=server, host=host, port=port,
        trust_any_certificate=trust_any_certificate))
    _show_scenarios(rows, json_out)
