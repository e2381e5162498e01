"""`postroom test pop|imap|smtp ADDRESS`: Exchange's Test-PopConnectivity (Test-ImapConnectivity:
connectivity_imap.py), as a list of scenarios with Result (Success, Failure, Skipped), latency
and error.

Light mode logs in only. Full mode also submits a test message through the Client connector
(STARTTLS, AUTH), retrieves it over POP3 and deletes it. Certificates are verified against the
system's trust store plus the certificate the server is configured with, for the name the
client connects to, unless --trust-any-certificate (Exchange: -TrustAnySSLCertificate).
"""
from __future__ import annotations

import asyncio
import email.utils
import secrets
import smtplib
import ssl
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import ValidationError
from ..model import parse_binding
from ..storage import ConfigReader
from . import netinfo
from .access import IMAP4
from .checks_smtp import client_connector_of
from .facts import node_report
from .probe import TIMEOUT, Pop3Client, StepFailed, Steps, client_context, close_smtp, pop3_session, quit_pop3
from .probe import auth as _auth
from .target import choose

SUCCESS, FAILURE, SKIPPED = "Success", "Failure", "Skipped"
SEARCH_NEWEST = 50  # messages looked at (newest first) for the test message


@dataclass
class Endpoints:
    # pop_*: the mailbox protocol's (POP3, or IMAP4 for `test imap`)
    pop_host: str
    pop_port: int | None
    pop_mode: str
    pop_context: ssl.SSLContext
    smtp_host: str | None
    smtp_port: int | None
    smtp_context: ssl.SSLContext
    smtp_connector: str | None
    cleartext: bool = False  # IMAP4: the password may be sent before TLS (plain-text-login, plain client)


@dataclass
class Run:
    """One test's shared state: the open clients and the test message's token."""

    address: str
    password: str
    ends: Endpoints
    token: str = field(default_factory=lambda: secrets.token_hex(8))
    pop: Pop3Client | None = None
    imap: Any = None  # probe_imap.ImapClient, for `test imap`
    smtp: smtplib.SMTP | None = None
    number: int | None = None  # the test message's number in the retrieving session
    refused: str | None = None  # why the login is not tried (the password was checked already)

    def close(self) -> None:
        if self.pop is not None:
            self.pop.close()
        if self.imap is not None:
            self.imap.close()
        if self.smtp is not None:
            self.smtp.close()


async def _endpoints(store: ConfigReader, server: str, local: bool, *, client_mode: str | None, host: str | None,
                     port: int | None, trust_any_certificate: bool, kind: str) -> Endpoints:
    pop = await store.get_pop_settings(server)
    fqdn = (await store.get_server(server)).fqdn
    connectors = await store.list_connectors(server)
    mailbox_settings: Any = pop
    standard = None
    if kind == "imap":
        mailbox_settings, standard = await store.get_imap_settings(server), IMAP4.ports
        certificate = mailbox_settings.certificate or pop.certificate  # IMAP4 uses POP3's when it names none
    else:
        certificate = pop.certificate
    pop_target = await asyncio.to_thread(choose, mailbox_settings, client_mode, host if kind != "smtp" else None,
                                         port if kind != "smtp" else None, fqdn, local, standard)
    connector = client_connector_of(connectors, server)
    smtp_host, smtp_port = (host, port) if kind == "smtp" else (None, None)
    if connector is not None and connector.bindings and smtp_port is None:
        bound_host, smtp_port = parse_binding("bindings", connector.bindings[0])
        smtp_host = smtp_host or netinfo.reach_host(bound_host, local, fqdn)
    if kind == "smtp" and (smtp_host is None or smtp_port is None):
        raise ValidationError("port", "no Client connector with a binding: give --host and --port")
    smtp_cert = (connector.certificate if connector and connector.certificate else pop.certificate)
    verify = not trust_any_certificate
    return Endpoints(pop_target.connect_host, pop_target.port, pop_target.mode,
                     client_context(verify, certificate), smtp_host, smtp_port,
                     client_context(verify, smtp_cert), connector.name if connector else None)


# scenarios: each raises StepFailed; its latency is the time it took -------------------------
def _pop_connect(run: Run, steps: Steps) -> None:
    ends = run.ends
    if ends.pop_port is None:
        raise StepFailed("connect", f"no POP3 binding for client mode {ends.pop_mode}")
    run.pop = pop3_session(steps, ends.pop_host, ends.pop_port, ends.pop_mode, ends.pop_context)


def _login(run: Run, steps: Steps) -> None:
    assert run.pop is not None
    if run.refused:
        raise StepFailed("login", run.refused)
    with steps.step("login"):
        run.pop.login(run.address, run.password)
    with steps.step("STAT"):
        run.pop.command("STAT")


def _pop_logon(run: Run, steps: Steps) -> None:
    _login(run, steps)
    _pop_quit(run, steps)  # and off again: the mailbox lock goes with the session


def _pop_quit(run: Run, steps: Steps) -> None:
    if run.pop is not None:
        client, run.pop = run.pop, None
        quit_pop3(steps, client)


def _smtp_connect(run: Run, steps: Steps) -> None:
    ends = run.ends
    if ends.smtp_host is None or ends.smtp_port is None:
        raise StepFailed("connect", "no Client connector with a binding")
    with steps.step("connect"):
        # Connecting in the constructor makes smtplib remember the host STARTTLS verifies.
        run.smtp = smtplib.SMTP(ends.smtp_host, ends.smtp_port, timeout=TIMEOUT)
    with steps.step("EHLO"):
        code, reply = run.smtp.ehlo("postroom-test.invalid")
        if code != 250:
            raise StepFailed("EHLO", f"{code} {reply.decode('utf-8', 'replace')}")


def _smtp_starttls(run: Run, steps: Steps) -> None:
    assert run.smtp is not None
    with steps.step("STARTTLS"):
        if not run.smtp.has_extn("starttls"):
            raise StepFailed("STARTTLS", f"STARTTLS is not offered by {run.ends.smtp_connector or 'the connector'}")
        run.smtp.starttls(context=run.ends.smtp_context)
        run.smtp.ehlo("postroom-test.invalid")


def _smtp_auth(run: Run, steps: Steps) -> None:
    assert run.smtp is not None
    if run.refused:
        raise StepFailed("AUTH", run.refused)
    with steps.step("AUTH"):
        if not run.smtp.has_extn("auth"):
            raise StepFailed("AUTH", "AUTH is not offered after STARTTLS")
        _auth(run.smtp, run.address, run.password)


def make_test_message(address: str, token: str) -> bytes:
    lines = [f"From: <{address}>", f"To: <{address}>", f"Subject: postroom connectivity test {token}",
             f"Date: {email.utils.formatdate()}", f"Message-ID: <{token}@postroom-test.invalid>",
             f"X-Postroom-Test: {token}", "", "Sent by `postroom test`, which deletes it again at once."]
    return ("\r\n".join(lines) + "\r\n").encode()


def _submit(run: Run, steps: Steps) -> None:
    if run.smtp is None:  # the POP3 test submits in one scenario
        _smtp_connect(run, steps)
        _smtp_starttls(run, steps)
        _smtp_auth(run, steps)
    assert run.smtp is not None
    with steps.step("DATA"):
        for code, reply in (run.smtp.mail(run.address), run.smtp.rcpt(run.address)):
            if code not in (250, 251):
                raise StepFailed("MAIL/RCPT", f"{code} {reply.decode('utf-8', 'replace')}")
        code, reply = run.smtp.data(make_test_message(run.address, run.token))
        if code != 250:
            raise StepFailed("DATA", f"{code} {reply.decode('utf-8', 'replace')}")
    client, run.smtp = run.smtp, None
    close_smtp(client)


def _retrieve(run: Run, steps: Steps) -> None:
    _pop_connect(run, steps)
    _login(run, steps)
    client = run.pop
    assert client is not None
    with steps.step("find"):
        count = int(client.command("STAT").split()[1])
        for number in range(count, max(0, count - SEARCH_NEWEST), -1):
            client.command(f"TOP {number} 0")
            if any(run.token in line for line in client.lines()):
                run.number = number
                break
        else:
            raise StepFailed("find", "the test message is not in the mailbox (did a polling application take it?)")
    with steps.step("RETR"):
        client.command(f"RETR {run.number}")
        if not any(run.token in line for line in client.lines()):
            raise StepFailed("RETR", "the retrieved message is not the test message")


def _delete(run: Run, steps: Steps) -> None:
    assert run.pop is not None and run.number is not None
    with steps.step("DELE"):
        run.pop.command(f"DELE {run.number}")
    _pop_quit(run, steps)  # deletions apply at QUIT: +OK means it is gone


Scenario = tuple[str, Callable[[Run, Steps], None]]
POP_LIGHT: list[Scenario] = [("Connect", _pop_connect), ("Log on", _pop_logon)]
POP_FULL: list[Scenario] = [*POP_LIGHT, ("Send test message", _submit),
                            ("Retrieve test message", _retrieve), ("Delete test message", _delete)]
SMTP_LIGHT: list[Scenario] = [("Connect", _smtp_connect), ("Start TLS", _smtp_starttls), ("Authenticate", _smtp_auth)]
SMTP_FULL: list[Scenario] = [*SMTP_LIGHT, ("Submit test message", _submit), ("Retrieve test message", _retrieve),
                             ("Delete test message", _delete)]


def _run_scenarios(run: Run, scenarios: list[Scenario]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    failed = False
    try:
        for name, scenario in scenarios:
            if failed:
                rows.append({"scenario": name, "result": SKIPPED, "latency_ms": None, "error": None})
                continue
            steps = Steps()
            try:
                scenario(run, steps)
                rows.append({"scenario": name, "result": SUCCESS, "latency_ms": _total(steps), "error": None})
            except StepFailed as exc:
                failed = True
                rows.append({"scenario": name, "result": FAILURE, "latency_ms": _total(steps),
                             "error": f"{exc.step}: {exc.error}"})
    finally:
        run.close()
    return rows


def _total(steps: Steps) -> float:
    return round(sum(step.ms for step in steps.done), 1)


async def run_test(store: ConfigReader, kind: str, *, server: str, local: bool, address: str, password: str,
                   light: bool, client_mode: str | None = None, host: str | None = None, port: int | None = None,
                   trust_any_certificate: bool = False, refused: str | None = None) -> list[dict[str, Any]]:
    """`refused`: the login is not tried, and its scenario fails with this reason."""
    await node_report(store, server)  # test what a change made just before has become
    ends = await _endpoints(store, server, local, client_mode=client_mode, host=host, port=port,
                            trust_any_certificate=trust_any_certificate, kind=kind)
    from .connectivity_imap import IMAP_FULL, IMAP_LIGHT, cleartext_allowed  # it builds on this module
    scenarios = {("pop", True): POP_LIGHT, ("pop", False): POP_FULL, ("imap", True): IMAP_LIGHT,
                 ("imap", False): IMAP_FULL, ("smtp", True): SMTP_LIGHT, ("smtp", False): SMTP_FULL}[(kind, light)]
    if kind == "imap":
        ends.cleartext = await cleartext_allowed(store, server, ends.pop_mode)
    return await asyncio.to_thread(_run_scenarios, Run(address, password, ends, refused=refused), scenarios)
