"""The DSN extension (RFC 3461): MAIL's RET and ENVID, RCPT's NOTIFY and ORCPT.

Parsed here, used by `_smtp_replies.parse_mail` / `parse_rcpt`; a bad value raises `DsnSyntax`,
which the core answers `501 5.5.4 <text>` (a protocol error, counted). Choices:
- Keywords and the values RET, NOTIFY take are case-insensitive and kept in upper case; NOTIFY
  is kept in a fixed order ("SUCCESS,FAILURE,DELAY"), a word given twice once.
- Each parameter at most once per command (RFC 3461 4: a second one is refused); NEVER alone.
- xtext (RFC 3461 4): "+" and two hex digits (lower case forgiven, as Postfix does), any other
  character from "!" to "~" but "=" as it is. ENVID: at most 100 characters as sent (4.4);
  ORCPT: the whole parameter at most 500 (4.2). What xtext decodes to must be printable ASCII
  (tabs and spaces allowed, no control character: it ends up in a report's header fields).
- ORCPT's addr-type is an atom (rfc822, x400, utf-8, ...); its address is not checked against
  that type's syntax (RFC 3461 4.2). With SMTPUTF8, an `utf-8` address may be sent as RFC 6533
  unitext: UTF-8 as is and `\\x{HEX}` escapes. Kept decoded: "rfc822;user+tag@example.com".
"""
from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DsnSyntax", "MailDsn", "NO_DSN", "RecipientDsn", "mail_parameter", "rcpt_parameters", "xtext_decode"]

ENVID_MAX = 100
ORCPT_MAX = 500  # the whole "ORCPT=..." parameter
NOTIFY_WORDS = ("SUCCESS", "FAILURE", "DELAY")
_ADDR_TYPE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")
_HEX = re.compile(r"[0-9A-Fa-f]{2}")
_UNICODE_ESCAPE = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")
_PRINTABLE = re.compile(r"[\x20-\x7e]*")


class DsnSyntax(ValueError):
    """A DSN parameter the client got wrong; the text says what (for a 501 5.5.4 reply)."""


@dataclass(frozen=True)
class RecipientDsn:
    """RCPT's DSN parameters: `notify` "NEVER" or e.g. "SUCCESS,FAILURE" (None: not given, the
    server's default: failures and delays); `orcpt` "addr-type;address", decoded (None: not given)."""

    notify: str | None = None
    orcpt: str | None = None


NO_DSN = RecipientDsn()


@dataclass(frozen=True)
class MailDsn:
    """MAIL's DSN parameters: `ret` "FULL" or "HDRS", `envid` decoded (None: not given)."""

    ret: str | None = None
    envid: str | None = None


def mail_parameter(key: str, value: str | None, dsn: MailDsn) -> MailDsn:
    """`dsn` with MAIL's `key` (upper case: RET or ENVID) set to `value` (None: no "=")."""
    if key == "RET":
        if dsn.ret is not None:
            raise DsnSyntax("Duplicate RET parameter")
        ret = (value or "").upper()
        if ret not in ("FULL", "HDRS"):
            raise DsnSyntax("Invalid RET parameter: use RET=FULL or RET=HDRS")
        return MailDsn(ret, dsn.envid)
    if dsn.envid is not None:
        raise DsnSyntax("Duplicate ENVID parameter")
    if not value:
        raise DsnSyntax("Invalid ENVID parameter: ENVID=xtext expected")
    if len(value) > ENVID_MAX:
        raise DsnSyntax(f"ENVID parameter longer than {ENVID_MAX} characters")
    return MailDsn(dsn.ret, xtext_decode(value, "ENVID"))


def rcpt_parameters(params: list[str], smtputf8: bool) -> RecipientDsn:
    """RCPT's parameters (only NOTIFY and ORCPT exist) -> RecipientDsn. An unknown keyword
    raises KeyError(keyword): the caller answers it as an unsupported parameter."""
    notify = orcpt = None
    for param in params:
        key, eq, value = param.partition("=")
        key = key.upper()
        if key == "NOTIFY":
            if notify is not None:
                raise DsnSyntax("Duplicate NOTIFY parameter")
            notify = _notify(value if eq else "")
        elif key == "ORCPT":
            if orcpt is not None:
                raise DsnSyntax("Duplicate ORCPT parameter")
            if len(param) > ORCPT_MAX:
                raise DsnSyntax(f"ORCPT parameter longer than {ORCPT_MAX} characters")
            orcpt = _orcpt(value if eq else "", smtputf8)
        else:
            raise KeyError(key)
    return RecipientDsn(notify, orcpt) if notify is not None or orcpt is not None else NO_DSN


def _notify(value: str) -> str:
    words = [w.upper() for w in value.split(",")]
    if words == ["NEVER"]:
        return "NEVER"
    if "NEVER" in words:
        raise DsnSyntax("NOTIFY=NEVER cannot be combined with SUCCESS, FAILURE or DELAY")
    if not value or any(w not in NOTIFY_WORDS for w in words):
        raise DsnSyntax("Invalid NOTIFY parameter: use NEVER or a list of SUCCESS, FAILURE, DELAY")
    return ",".join(w for w in NOTIFY_WORDS if w in words)


def _orcpt(value: str, smtputf8: bool) -> str:
    kind, semi, address = value.partition(";")
    if not (semi and address and _ADDR_TYPE.fullmatch(kind)):
        raise DsnSyntax("Invalid ORCPT parameter: use ORCPT=addr-type;xtext, e.g. ORCPT=rfc822;user@example.com")
    kind = kind.lower()
    if kind == "utf-8" and (smtputf8 or address.isascii()):  # RFC 6533 utf-8-addr-xtext / -unitext
        decoded = _UNICODE_ESCAPE.sub(lambda m: _code_point(m.group(1)), xtext_decode(address, "ORCPT", True))
        if any(c < " " or c == "\x7f" for c in decoded):
            raise DsnSyntax("Invalid ORCPT parameter: control characters in the address")
        return f"{kind};{decoded}"
    return f"{kind};{xtext_decode(address, 'ORCPT')}"


def _code_point(hex_digits: str) -> str:
    value = int(hex_digits, 16)
    if value < 0x80 or 0xD800 <= value <= 0xDFFF or value > 0x10FFFF:
        raise DsnSyntax("Invalid ORCPT parameter: bad \\x{} escape")
    return chr(value)


def xtext_decode(value: str, keyword: str, unicode: bool = False) -> str:
    """RFC 3461 4 xtext to text (printable ASCII); `unicode`: non-ASCII characters kept as they are."""
    out, i, size = [], 0, len(value)
    while i < size:
        char = value[i]
        if char == "+":
            digits = value[i + 1:i + 3]
            if not _HEX.fullmatch(digits) or digits[0] > "7":
                raise DsnSyntax(f"Invalid {keyword} parameter: '+' must be followed by two hex digits (xtext)")
            out.append(chr(int(digits, 16)))
            i += 3
            continue
        if char == "=" or not ("!" <= char <= "~" or (unicode and not char.isascii() and char.isprintable())):
            raise DsnSyntax(f"Invalid {keyword} parameter: {char!r} must be sent as xtext (+{ord(char):02X})"
                            if char.isascii() and char.isprintable() else f"Invalid {keyword} parameter: not xtext")
        out.append(char)
        i += 1
    text = "".join(out)
    if not _PRINTABLE.fullmatch(text) and not unicode:
        raise DsnSyntax(f"Invalid {keyword} parameter: it decodes to control or non-ASCII characters")
    return text
