"""The two Client Access protocols the doctor checks alike (POP3, IMAP4): what differs between
them in the checks' words, commands and ports. Every check takes it from `Facts.access`."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Access:
    service: str  # the service's name: pop3, imap4 (also the console tab's path)
    command: str  # its settings command: `postroom pop|imap set`
    label: str  # POP3, IMAP4
    starttls: str  # the command that starts TLS on a plain port
    # A held port's alternatives, by binding kind (ssl?): the standard port, then the dev profile's.
    ports: dict[bool, tuple[int, int]]
    plain_refusal: str  # how a login before TLS is refused under secure-login
    tls_refusal: str  # that refusal's reply, in a sentence: "refused with ..."
    bad_login: str  # what a refused login (wrong password, no mailbox) looks like to the application
    disabled_reply: str  # the reply to the right password of a disabled mailbox
    feature_reply: str  # ... of a mailbox whose protocol is disabled (Mailbox Features)
    feature_reason: str  # the login failures' reason for that (recent-failed-logins)


POP3 = Access(
    "pop3", "pop", "POP3", "STLS", {False: (110, 1110), True: (995, 1995)},
    "refuses USER/PASS before TLS with -ERR [AUTH]", "-ERR [AUTH]", "-ERR [AUTH] Logon failure",
    "-ERR [AUTH] This mailbox is disabled", "-ERR [AUTH] POP3 access is disabled for this mailbox", "pop-disabled")
IMAP4 = Access(
    "imap4", "imap", "IMAP4", "STARTTLS", {False: (143, 1143), True: (993, 1993)},
    "advertises LOGINDISABLED before TLS and refuses LOGIN and AUTHENTICATE with NO [PRIVACYREQUIRED]",
    "NO [PRIVACYREQUIRED]",
    "NO [AUTHENTICATIONFAILED] Authentication failed.", "NO [AUTHORIZATIONFAILED] This mailbox is disabled.",
    "NO [AUTHORIZATIONFAILED] IMAP4 access is disabled for this mailbox.", "imap-disabled")
ACCESS = {"pop": POP3, "imap": IMAP4}
