"""The doctor's probe per protocol: how to open a session the application's way, log in (and
look at the mailbox: STAT, SELECT INBOX), end it, and try a binding every way."""
from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any, Callable

from . import probe, probe_imap
from .probe import Steps

Client = Any  # probe.Pop3Client or probe_imap.ImapClient
LogIn = Callable[[Client, Steps], None]


@dataclass(frozen=True)
class Prober:
    session: Callable[[Steps, str, int, str, ssl.SSLContext], Client]
    log_in: Callable[[str, str, bool], LogIn]  # (address, password, cleartext allowed)
    quit: Callable[[Steps, Client, ssl.SSLContext], None]
    ways: Callable[[Steps, str, int, bool, ssl.SSLContext, LogIn | None], dict[str, str | None]]
    no_login_before_tls: str


def _pop3_log_in(address: str, password: str, cleartext: bool) -> LogIn:
    def log_in(client: probe.Pop3Client, steps: Steps) -> None:
        with steps.step("login"):
            client.login(address, password)
        with steps.step("STAT") as step:
            count, size = client.command("STAT").split()[1:3]
            step.info = f"{count} messages, {size} octets"
    return log_in


def _imap_log_in(address: str, password: str, cleartext: bool) -> LogIn:
    def log_in(client: probe_imap.ImapClient, steps: Steps) -> None:
        with steps.step("login") as step:
            step.info = client.login(address, password, allow_cleartext=cleartext)
        with steps.step("SELECT") as step:
            step.info = f"INBOX: {client.select('INBOX')}"
    return log_in


PROBERS = {
    "pop3": Prober(probe.pop3_session, _pop3_log_in, probe.quit_pop3, probe.pop3_ways, probe.NO_LOGIN_BEFORE_TLS),
    "imap4": Prober(probe_imap.imap_session, _imap_log_in, probe_imap.logout, probe_imap.imap_ways,
                    probe_imap.NO_LOGIN_BEFORE_TLS),
}
