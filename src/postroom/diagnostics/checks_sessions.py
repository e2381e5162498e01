"""The evidence of the POP3 (or IMAP4: `Facts.access`) sessions that ended without a login in
the last hour (the node records them: server/trail.py), for the mailbox's application: one that
never starts TLS where the login type requires it (curl without --ssl-reqd reads CAPA, finds no
USER and quits, or sees IMAP4's LOGINDISABLED; others send USER or LOGIN and are refused), or
that opens TLS on a plain port, fails here with its fix. Sessions that named another mailbox
are someone else's application and are left out.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

from ..model import (
    TLS_FAILED, TLS_NOT_STARTED, TLS_ON_PLAIN_PORT, TLS_REQUIRED, EndedSessions, LoginType, parse_binding,
)
from .checks_pop import pop3_page
from .facts import Facts
from .result import FAIL, PASS, WARN, Check, Findings, command

SHOWN = 5  # kinds of ending named one by one; the rest are counted


@dataclass
class _Kind:
    """Sessions from one source on one binding that ended alike."""

    remote_ip: str
    binding: str
    reason: str
    count: int = 0
    last: str = ""
    commands: Counter[str] = field(default_factory=Counter)
    mailbox: str = ""

    def add(self, row: EndedSessions) -> None:
        self.count += row.count
        self.last = max(self.last, row.at)
        self.commands[row.commands] += row.count
        self.mailbox = row.mailbox or self.mailbox

    def said(self) -> str:
        sessions = "1 session" if self.count == 1 else f"{self.count} sessions"
        return f"in the last hour, {sessions} from {self.remote_ip}"

    def facts(self) -> str:
        sent = self.commands.most_common(1)[0][0] or "nothing"
        return f"sent: {sent}; last at {self.last[11:19]} UTC"


def _kinds(f: Facts) -> list[_Kind]:
    kinds: dict[tuple[str, str, str, str], _Kind] = {}
    for row in f.sessions:
        if row.mailbox and row.mailbox.lower() != f.address:
            continue
        key = (row.remote_ip, row.binding, row.tls, row.reason)
        kinds.setdefault(key, _Kind(row.remote_ip, row.binding, row.reason)).add(row)
    return sorted(kinds.values(), key=lambda kind: (-kind.count, kind.remote_ip, kind.binding))


def _ports(bindings: Sequence[str]) -> str:
    return "/".join(dict.fromkeys(str(parse_binding("bindings", b)[1]) for b in bindings))


def _never_started_tls(f: Facts, kind: _Kind, earlier: dict[str, Check]) -> tuple[str, str, str | None]:
    """(status, text, fix) for sessions on a plain port that never started TLS."""
    port, access = parse_binding("bindings", kind.binding)[1], f.access
    if kind.reason == TLS_REQUIRED:
        who = f" as {kind.mailbox}" if kind.mailbox else ""
        what = f"tried to log in{who} before starting TLS, refused with {access.tls_refusal}"
    else:
        what = "ended without starting TLS, so no login was offered"
    text = f"{kind.said()} connected to the plain port {port} ({kind.binding}) and {what} ({kind.facts()})"
    login_type = f.cas.login_type
    if login_type == LoginType.PLAIN_TEXT_LOGIN:
        return WARN, f"{text}; the login type is plain-text-login now, which lets them log in", None
    text += f": the login type {login_type.value} requires TLS before any login"
    if earlier["login-type"].status == FAIL:
        return WARN, f"{text} (see login-type)", None
    if earlier["certificate"].status == FAIL or not f.certificate:
        return WARN, f"{text}, and without a usable certificate no TLS is offered (see certificate)", None
    ssl_bindings = f.cas.ssl_bindings
    ways = [f"{access.starttls} on port {port}"] + ([f"SSL on port {_ports(ssl_bindings)}"] if ssl_bindings else [])
    return FAIL, (f"{text}. Set the application to {' or to '.join(ways)}; only if it cannot use TLS at all, "
                  "the fix lets it log in with the password in clear"), \
        command(*f.on_server(access.command, "set", "--login-type", "plain-text-login"))


def _describe(f: Facts, kind: _Kind, earlier: dict[str, Check]) -> tuple[str, str, str | None] | None:
    """(status, text, fix) for an ending that says something is wrong, else None."""
    if kind.reason in (TLS_NOT_STARTED, TLS_REQUIRED):
        return _never_started_tls(f, kind, earlier)
    starttls = f.access.starttls
    if kind.reason == TLS_ON_PLAIN_PORT:
        ssl = f"to SSL on port {_ports(f.cas.ssl_bindings)}, or " if f.cas.ssl_bindings else ""
        return FAIL, (f"{kind.said()} opened a TLS handshake on the plain/{starttls} binding {kind.binding} "
                      f"({kind.facts()}): the application uses SSL (TLS from the first byte) on the wrong port. "
                      f"Set it {ssl}to {starttls} on port {parse_binding('bindings', kind.binding)[1]}"), None
    if kind.reason == TLS_FAILED:
        return WARN, (f"{kind.said()} sent {starttls} on {kind.binding}, but the TLS handshake failed "
                      f"({kind.facts()}): the application may refuse the certificate (see certificate, "
                      "certificate-names) or the TLS version"), None
    return None


def recent_sessions(f: Facts, earlier: dict[str, Check]) -> Check:
    name, page = "recent-sessions", pop3_page(f)
    findings = Findings()
    others: Counter[str] = Counter()
    for kind in _kinds(f):
        found = _describe(f, kind, earlier)
        if found is None:
            others[kind.reason] += kind.count
        elif len(findings.items) < SHOWN:
            findings.add(*found)
        else:
            others[kind.reason] += kind.count
    if others:
        counted = ", ".join(f"{n} {reason}" for reason, n in others.most_common())
        findings.add(PASS, f"none for want of TLS in the last hour; {sum(others.values())} ended without a login "
                     f"for other reasons ({counted}; refused logins: see recent-failed-logins)")
    return findings.check(name, f"no {f.access.label} session ended without a login in the last hour", page)
