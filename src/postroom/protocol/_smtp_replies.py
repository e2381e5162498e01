"""SMTP reply values and texts, and command-argument parsing (message content: `_smtp_content`).

Kept apart from the state machine in `smtp.py`; the public names are exported from there.
Every 2xx/4xx/5xx reply carries an RFC 3463 enhanced status code (RFC 2034), except the
greeting and the HELO/EHLO replies, as RFC 2034 section 3 asks.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._common import LocalProtocolError
from ._smtp_dsn import NO_DSN, DsnSyntax, MailDsn, RecipientDsn, mail_parameter, rcpt_parameters
from ._smtp_types import SmtpConfig

__all__ = [
    "RELAY_DENIED", "RELAY_NOT_PERMITTED", "STORAGE_FULL", "TEMPORARY_FAILURE",
    "UNKNOWN_MAILBOX", "RemoteProtocolError", "Reply", "reply",
]

MAX_REPLY_LINE = 512  # RFC 5321 4.5.3.1.5, CRLF included
_ENHANCED = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
_CONTROL_TEXT = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BYTES = re.compile(rb"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Reply:
    """One SMTP reply: code, enhanced status code ("" for none), text, and for a multi-line
    reply (EHLO) the further lines. Validated at construction, so a bad adapter reply fails
    where it is built, not on the wire."""

    code: int
    enhanced: str = ""
    text: str = ""
    more: tuple[str, ...] = ()
    _wire: bytes = field(init=False, repr=False, compare=False, default=b"")

    def __post_init__(self) -> None:
        if not 200 <= self.code <= 599:
            raise ValueError(f"reply code {self.code} is not 2xx-5xx")
        if self.enhanced and not (
            _ENHANCED.fullmatch(self.enhanced) and self.enhanced[0] == str(self.code)[0]
        ):
            raise ValueError(f"enhanced status {self.enhanced!r} does not fit code {self.code}")
        if any(_CONTROL_TEXT.search(line) for line in (self.text, *self.more)):
            raise ValueError("reply text must be single lines without control characters")
        # Built once, here: a reply is made to be sent (most are module constants sent again
        # and again). Not a cached_property: on Python 3.11 that takes a lock on every first use.
        lines = (self.text, *self.more)
        last = len(lines) - 1
        status = f"{self.enhanced} " if self.enhanced else ""
        object.__setattr__(self, "_wire", b"".join(
            _wire_line(f"{self.code}{'-' if i < last else ' '}{status}{text}")
            for i, text in enumerate(lines)
        ))

    def to_bytes(self) -> bytes:
        return self._wire


def _wire_line(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > MAX_REPLY_LINE - 2:
        raw = raw[: MAX_REPLY_LINE - 2].decode("utf-8", "ignore").encode("utf-8")
    return raw + b"\r\n"


def reply(code: int, enhanced: str, text: str) -> Reply:
    """A single-line reply, for adapters (e.g. `recipient_rejected(reply(550, "5.7.1", ...))`)."""
    return Reply(code, enhanced, text)


class RemoteProtocolError(Exception):
    """The peer broke the protocol; `reply` is what to send. Never escapes `next_event()`."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.text)
        self.reply = reply


# ------------------------------------------------------------------ for adapters (answers)
UNKNOWN_MAILBOX = reply(550, "5.1.1", "Recipient address rejected: unknown mailbox")
TEMPORARY_FAILURE = reply(451, "4.3.0", "Temporary failure, try again later")
STORAGE_FULL = reply(452, "4.3.1", "Insufficient system storage")
SHUTTING_DOWN = reply(421, "4.3.2", "Service shutting down")
ENDED_BY_ADMIN = reply(421, "4.3.2", "Session ended by an administrator")


def RELAY_DENIED(domain: str) -> Reply:  # noqa: N802 (a constant-like reply with an argument)
    """No send connector routes `domain` (Exchange's 5.7.1 'Unable to relay'), with how to add one."""
    return reply(550, "5.7.1", f"Relaying to {domain} denied: no send connector for this domain "
                               f"(postroom send-connector new NAME --address-spaces {domain})")


def RELAY_NOT_PERMITTED(domain: str) -> Reply:  # noqa: N802
    """A session that may not relay: anonymous on a connector without anonymous-relay, or logged in
    on one without the users group (Exchange's 5.7.1 'Unable to relay')."""
    return reply(550, "5.7.1", f"Relaying to {domain} denied: log in (AUTH) on the submission connector "
                               "to send to other domains")


# ------------------------------------------------------------------------- core replies
OK = reply(250, "2.0.0", "OK")
SENDER_OK = reply(250, "2.1.0", "Sender OK")
RECIPIENT_OK = reply(250, "2.1.5", "Recipient OK")
START_DATA = Reply(354, "", "Start mail input; end with <CRLF>.<CRLF>")
READY_FOR_TLS = reply(220, "2.0.0", "Ready to start TLS")
AUTH_SUCCEEDED = reply(235, "2.7.0", "Authentication successful")
CANNOT_VRFY = reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery")
HELP = reply(214, "2.0.0", "Commands: HELO EHLO STARTTLS AUTH MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP")
# Answers to the adapter's refusals and to policy limits: not protocol errors.
BAD_CREDENTIALS = reply(535, "5.7.8", "Authentication credentials invalid")
AUTH_TEMPORARY = reply(454, "4.7.0", "Temporary authentication failure, try again later")
AUTH_CANCELLED = reply(501, "5.0.0", "Authentication cancelled")
SIZE_EXCEEDED = reply(552, "5.3.4", "Message size exceeds fixed maximum message size")
TOO_MANY_RECIPIENTS = reply(452, "4.5.3", "Too many recipients")
NO_VALID_RECIPIENTS = reply(554, "5.5.1", "No valid recipients")
# Submission policy (_smtp_policy): not protocol errors, not counted.
SEND_AS_DENIED = reply(550, "5.7.1", "Client does not have permission to send as this sender")
HOP_COUNT_EXCEEDED = reply(554, "5.4.6", "Hop count exceeded - possible mail loop")
EXPN_NOT_AVAILABLE = reply(502, "5.5.1", "EXPN not available")
TLS_NOT_AVAILABLE = reply(502, "5.5.1", "STARTTLS not available")
# Protocol errors: each counts towards max_errors.
UNKNOWN_COMMAND = reply(500, "5.5.2", "Command not recognized")
LINE_TOO_LONG = reply(500, "5.5.2", "Line too long")
BAD_CHARACTERS = reply(500, "5.5.2", "Command is not valid UTF-8 text")
NEED_HELO = reply(503, "5.5.1", "Send HELO/EHLO first")
NESTED_MAIL = reply(503, "5.5.1", "Sender already specified")
NEED_MAIL = reply(503, "5.5.1", "Need MAIL command")
DATA_AFTER_BDAT = reply(503, "5.5.1", "DATA not allowed after BDAT")
RCPT_AFTER_BDAT = reply(503, "5.5.1", "RCPT not allowed after BDAT")
TLS_ACTIVE = reply(503, "5.5.1", "TLS already active")
STARTTLS_IN_TRANSACTION = reply(503, "5.5.1", "STARTTLS not allowed during a mail transaction")
AUTH_NOT_AVAILABLE = reply(503, "5.5.1", "AUTH not available")
ALREADY_AUTHENTICATED = reply(503, "5.5.1", "Already authenticated")
AUTH_IN_TRANSACTION = reply(503, "5.5.1", "AUTH not allowed during a mail transaction")
UNKNOWN_MECHANISM = reply(504, "5.5.4", "Unrecognized authentication type")
BAD_BASE64 = reply(501, "5.5.2", "Invalid base64 data")
MALFORMED_AUTH = reply(501, "5.5.2", "Malformed authentication response")
TLS_FIRST = reply(530, "5.7.0", "Must issue a STARTTLS command first")
AUTH_FIRST = reply(530, "5.7.1", "Client was not authenticated")
ENCRYPTION_REQUIRED = reply(538, "5.7.11", "Encryption required for requested authentication mechanism")
BAD_SENDER = reply(501, "5.1.7", "Bad sender address syntax")
BAD_RECIPIENT = reply(501, "5.1.3", "Bad recipient address syntax")
UTF8_REQUIRED = reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8")
BAD_SIZE = reply(501, "5.5.4", "Invalid SIZE parameter")
UNSUPPORTED_PARAMETER = reply(555, "5.5.4", "Unsupported parameter")


def syntax(usage: str) -> Reply:
    return reply(501, "5.5.4", f"Syntax: {usage}")


EHLO_SYNTAX, HELO_SYNTAX = syntax("EHLO hostname"), syntax("HELO hostname")
MAIL_SYNTAX, RCPT_SYNTAX = syntax("MAIL FROM:<address>"), syntax("RCPT TO:<address>")
DATA_SYNTAX, BDAT_SYNTAX = syntax("DATA"), syntax("BDAT <size> [LAST]")
RSET_SYNTAX, QUIT_SYNTAX = syntax("RSET"), syntax("QUIT")
STARTTLS_SYNTAX, AUTH_SYNTAX = syntax("STARTTLS"), syntax("AUTH mechanism [initial-response]")


def ehlo(config: SmtpConfig, starttls: bool, auth: tuple[str, ...]) -> Reply:
    extensions = ["PIPELINING", f"SIZE {config.max_message_size}", "8BITMIME", "ENHANCEDSTATUSCODES",
                  "SMTPUTF8", "DSN", "CHUNKING"]
    if starttls:
        extensions.append("STARTTLS")
    if auth:
        extensions.append("AUTH " + " ".join(auth))
    ip = config.remote_ip
    return Reply(250, "", f"{config.fqdn} Hello [{ip}]" if ip else f"{config.fqdn} Hello", tuple(extensions))


def closing(fqdn: str) -> Reply:
    return reply(221, "2.0.0", f"{fqdn} closing connection")


def too_many_errors(fqdn: str) -> Reply:
    return reply(421, "4.7.0", f"{fqdn} Too many errors, closing connection")


def too_many_auth_failures(fqdn: str) -> Reply:
    return reply(421, "4.7.0", f"{fqdn} Too many authentication failures, closing connection")


def chunk_received(size: int) -> Reply:
    return reply(250, "2.0.0", f"{size} octets received")


def accepted(queue_id: str) -> Reply:
    return reply(250, "2.6.0", f"Message accepted for delivery, queue id {queue_id}")


# ---------------------------------------------------------------------- argument parsing
def check_refusal(refusal: Reply) -> None:
    """The adapter refuses with `refusal`: it must be a 4xx or 5xx reply."""
    if not (isinstance(refusal, Reply) and refusal.code >= 400):
        raise LocalProtocolError("a refusal needs a 4xx or 5xx reply")


def decode_command(line: bytes) -> str:
    """A command line as text: UTF-8 (RFC 6531) without control characters, which would let
    a HELO name or an address inject header lines downstream."""
    if _CONTROL_BYTES.search(line):
        raise RemoteProtocolError(BAD_CHARACTERS)
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteProtocolError(BAD_CHARACTERS) from None


def no_args(arg: str | None, usage: Reply) -> None:
    if arg is not None and arg.strip():  # trailing blanks are forgiven
        raise RemoteProtocolError(usage)


# <...> with quoted strings, whose ">" do not close the path.
_PATH = re.compile(r'<((?:"(?:[^"\\]|\\.)*"|[^<>"])*)>')
# RFC 5321 source route "@a,@b:", to be ignored (RFC 5321 C).
_ROUTE = re.compile(r"@[^,:]+(?:,@[^,:]+)*:")
_LOCAL = r'(?:"(?:[^"\\]|\\.)*"|[^\s"<>()\[\]\\,;:@]+)'
_DOMAIN = r'(?:\[[^\[\]\s\\]+\]|[^\s"<>()\[\]\\,;:@]+)'
_MAILBOX = re.compile(rf"{_LOCAL}@{_DOMAIN}")


def parse_path(arg: str | None, keyword: str, usage: Reply) -> tuple[str, list[str]]:
    """("mailbox inside <>", [parameters]) of MAIL FROM:/RCPT TO:; a space after the colon is
    accepted, as many clients send one."""
    text = (arg or "").strip()
    if text[: len(keyword)].upper() != keyword:
        raise RemoteProtocolError(usage)
    rest = text[len(keyword):].lstrip(" ")
    match = _PATH.match(rest)
    if match is None or rest[match.end():match.end() + 1] not in ("", " "):
        raise RemoteProtocolError(usage)
    inner = match.group(1)
    route = _ROUTE.match(inner)
    return inner[route.end():] if route else inner, rest[match.end():].split()


def parse_mail(arg: str | None, esmtp: bool) -> tuple[str, int | None, str, bool, MailDsn]:
    """MAIL FROM:<sender> [params] -> (sender, SIZE, BODY, SMTPUTF8, RET and ENVID)."""
    sender, params = parse_path(arg, "FROM:", MAIL_SYNTAX)
    if sender and _MAILBOX.fullmatch(sender) is None:
        raise RemoteProtocolError(BAD_SENDER)
    if params and not esmtp:  # HELO: a plain RFC 821 client, no extensions
        raise RemoteProtocolError(UNSUPPORTED_PARAMETER)
    size, body, smtputf8, dsn = mail_params(params)
    if not (smtputf8 or sender.isascii()):
        raise RemoteProtocolError(UTF8_REQUIRED)
    return sender, size, body, smtputf8, dsn


def parse_rcpt(arg: str | None, smtputf8: bool, esmtp: bool = True) -> tuple[str, RecipientDsn]:
    """RCPT TO:<address> [NOTIFY=... ORCPT=...] -> (address, its DSN parameters); a bare
    "postmaster" is legal (RFC 5321 4.5.1)."""
    address, params = parse_path(arg, "TO:", RCPT_SYNTAX)
    if _MAILBOX.fullmatch(address) is None and address.lower() != "postmaster":
        raise RemoteProtocolError(BAD_RECIPIENT)
    if params and not esmtp:
        raise RemoteProtocolError(UNSUPPORTED_PARAMETER)
    try:
        dsn = rcpt_parameters(params, smtputf8) if params else NO_DSN
    except KeyError:
        raise RemoteProtocolError(UNSUPPORTED_PARAMETER) from None
    except DsnSyntax as exc:
        raise RemoteProtocolError(reply(501, "5.5.4", str(exc))) from None
    if not (smtputf8 or address.isascii()):
        raise RemoteProtocolError(UTF8_REQUIRED)
    return address, dsn


def mail_params(params: list[str]) -> tuple[int | None, str, bool, MailDsn]:
    """MAIL parameters -> (SIZE, BODY, SMTPUTF8, DSN's RET and ENVID). Keywords are case-insensitive."""
    size, body, smtputf8, dsn = None, "7BIT", False, MailDsn()
    for param in params:
        key, eq, value = param.partition("=")
        key = key.upper()
        if key == "SIZE":
            if not (value.isascii() and value.isdigit()):
                raise RemoteProtocolError(BAD_SIZE)
            size = int(value)
        elif key == "BODY" and value.upper() in ("7BIT", "8BITMIME"):
            body = value.upper()
        elif key == "SMTPUTF8" and not eq:
            smtputf8 = True
        elif key == "AUTH" and eq:
            pass  # RFC 4954 5: the original submitter is of no use to us
        elif key in ("RET", "ENVID"):
            try:
                dsn = mail_parameter(key, value if eq else None, dsn)
            except DsnSyntax as exc:
                raise RemoteProtocolError(reply(501, "5.5.4", str(exc))) from None
        else:  # unknown keyword, BODY=BINARYMIME (no BINARYMIME support), SMTPUTF8=x
            raise RemoteProtocolError(UNSUPPORTED_PARAMETER)
    return size, body, smtputf8, dsn


def auth_args(arg: str | None, mechanisms: tuple[str, ...]) -> tuple[str, str | None]:
    """AUTH mechanism [initial-response] -> (MECHANISM, initial response or None)."""
    args = (arg or "").split()
    if not 1 <= len(args) <= 2:
        raise RemoteProtocolError(AUTH_SYNTAX)
    if args[0].upper() not in mechanisms:
        raise RemoteProtocolError(UNKNOWN_MECHANISM)
    return args[0].upper(), args[1] if len(args) == 2 else None


def bdat_args(arg: str | None) -> tuple[int, bool] | None:
    """BDAT's (size, last), or None when the size cannot be read."""
    parts = (arg or "").split()
    if not 1 <= len(parts) <= 2 or not (parts[0].isascii() and parts[0].isdigit()):
        return None
    if len(parts) == 2 and parts[1].upper() != "LAST":
        return None
    return int(parts[0]), len(parts) == 2
