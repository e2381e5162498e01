"""Value validators shared by the domain model: one place that refuses bad input, naming the
field and the allowed values, so every front end says the same thing."""
from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import fields, replace
from enum import Enum
from typing import Any, Callable, ClassVar, Self

from .errors import ValidationError
from .settings_table import Changes, SettingsTable


def enum_value(enum: type[Enum], field_name: str, value: Any) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise ValidationError(field_name, f"{value!r} is not allowed", [m.value for m in enum]) from None


def int_in_range(field_name: str, value: Any, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError(field_name, f"{value!r} is not a whole number (allowed: {low}..{high})") from None
    if not low <= number <= high:
        raise ValidationError(field_name, f"{number} is out of range (allowed: {low}..{high})")
    return number


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(field_name: str, value: Any, low: int, high: int) -> int:
    """Seconds from `90`, `90s`, `30m`, `1h`, `7d` or Exchange's `00:30:00`; checked against a range.
    (Days too, because `show` prints a week as 7d: the form `set` must take back.)"""
    if isinstance(value, int):
        seconds = value
    else:
        text = str(value).strip().lower()
        try:
            if ":" in text:
                parts = [int(p) for p in text.split(":")]
                if len(parts) != 3:
                    raise ValueError
                seconds = parts[0] * 3600 + parts[1] * 60 + parts[2]
            elif text and text[-1] in _DURATION_UNITS:
                seconds = int(text[:-1]) * _DURATION_UNITS[text[-1]]
            else:
                seconds = int(text)
        except ValueError:
            raise ValidationError(
                field_name, f"{value!r} is not a duration (use seconds, 30s, 5m, 1h, 1d or hh:mm:ss)"
            ) from None
    if not low <= seconds <= high:
        raise ValidationError(field_name, f"{seconds}s is out of range (allowed: {low}s..{high}s)")
    return seconds


_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(field_name: str, value: Any, high: int = 2147483647) -> int:
    """Seconds from `0`, `90s`, `12h`, `30d`, `hh:mm:ss` or Exchange's TimeSpan `30.00:00:00`;
    0 means no limit (Exchange's 00:00:00). The largest is Exchange's 24855.03:14:07."""
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    else:
        text = str(value).strip().lower()
        try:
            match = re.fullmatch(r"(?:(\d+)\.)?(\d+):(\d{1,2}):(\d{1,2})", text)
            if match:
                days, hours, minutes, secs = (int(g or 0) for g in match.groups())
                seconds = days * 86400 + hours * 3600 + minutes * 60 + secs
            elif text and text[-1] in _AGE_UNITS:
                seconds = int(text[:-1]) * _AGE_UNITS[text[-1]]
            else:
                seconds = int(text)
        except ValueError:
            raise ValidationError(
                field_name, f"{value!r} is not an age (use seconds, 12h, 30d or 30.00:00:00; 0 keeps files)"
            ) from None
    if not 0 <= seconds <= high:
        raise ValidationError(field_name, f"{seconds}s is out of range (allowed: 0 (no limit)..{high}s)")
    return seconds


# Protocol-log limits: Exchange's transport defaults (Set-TransportService -ReceiveProtocolLog*).
DEFAULT_LOG_MAX_AGE = 30 * 86400  # ReceiveProtocolLogMaxAge 30.00:00:00
DEFAULT_LOG_MAX_DIRECTORY_SIZE = 250 * 1024 ** 2  # ReceiveProtocolLogMaxDirectorySize 250 MB
DEFAULT_LOG_MAX_FILE_SIZE = 10 * 1024 ** 2  # ReceiveProtocolLogMaxFileSize 10 MB
LOG_SIZE_LIMITS = (1024, 1024 ** 4)  # a size limit other than 0 (none): 1KB..1TB
_QUOTA_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024 ** 2, "mb": 1024 ** 2, "g": 1024 ** 3,
                "gb": 1024 ** 3, "t": 1024 ** 4, "tb": 1024 ** 4}


def parse_quota(field_name: str, value: Any, low: int, high: int) -> int:
    """Octets from `10485760`, `64KB`, `10MB`, `1GB` or `1TB` (binary units, as Exchange's
    ByteQuantifiedSize); `0` or `unlimited` give 0, which means no limit."""
    if isinstance(value, int) and not isinstance(value, bool):
        octets = value
    elif str(value).strip().lower() == "unlimited":
        octets = 0
    else:
        match = re.fullmatch(r"\s*(\d+)\s*([kKmMgGtT]?[bB]?)\s*", str(value))
        if not match:
            raise ValidationError(field_name, f"{value!r} is not a size (use octets, 64KB, 10MB, 1GB or unlimited)")
        octets = int(match.group(1)) * _QUOTA_UNITS[match.group(2).lower()]
    if octets != 0 and not low <= octets <= high:
        raise ValidationError(field_name, f"{octets} octets is out of range (allowed: 0 or unlimited, {low}..{high})")
    return octets


def parse_binding(field_name: str, text: str) -> tuple[str, int]:
    """`IP:port` or `[IPv6]:port` -> (ip, port). Host names are refused, as in Exchange."""
    text = text.strip()
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([0-9.]+):(\d{1,5})", text)
    if not match:
        raise ValidationError(field_name, f"{text!r} is not IP:port (e.g. 0.0.0.0:110 or [::]:110)")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValidationError(field_name, f"{host!r} is not an IP address") from None
    if not 1 <= port <= 65535:
        raise ValidationError(field_name, f"port {port} is out of range (allowed: 1..65535)")
    return address.compressed, port  # one spelling per address, so duplicates and clashes show


class ValidatedSettings:
    """`from_dict` and `with_changes` for a frozen dataclass of settings. Each field is declared
    with `settings_table.setting(...)` (parser, help, console metadata: see `table()`), or, for a
    class not yet declared that way, has a validator in `_validators` (set after the class).
    An unknown name is refused."""

    _validators: ClassVar[dict[str, Callable[[str, Any], Any]]] = {}
    _kind: ClassVar[str] = "a setting"

    @classmethod
    def table(cls) -> SettingsTable:
        """The class's settings table (built once, from its `setting(...)` fields)."""
        table = cls.__dict__.get("_settings_table")
        if table is None:
            table = SettingsTable(cls, cls._kind)
            cls._settings_table = table  # type: ignore[attr-defined]  # a cache set on each subclass
        return table

    @classmethod
    def changes(cls, values: dict[str, Any] | None = None, /, **more: Any) -> Changes:
        """A typed change object for this class's set operation (unknown names refused)."""
        return cls.table().changes(values, **more)

    @classmethod
    def _declared(cls) -> bool:
        return any("setting" in f.metadata for f in fields(cls))  # type: ignore[arg-type]  # subclasses are dataclasses

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls().with_changes(**{k: v for k, v in data.items() if k in known})

    def with_changes(self, **changes: Any) -> Self:
        """A validated copy. Unknown names and bad values raise ValidationError."""
        clean: dict[str, Any] = {}
        if self._declared():
            table = self.table()
            clean = {name: table.parse(name, value) for name, value in changes.items()}
        else:
            known = {f.name for f in fields(self)}  # type: ignore[arg-type]  # subclasses are dataclasses
            for name, value in changes.items():
                if name not in known:
                    raise ValidationError(name, f"is not {self._kind}", sorted(known))
                clean[name] = self._validators[name](name, value)
        result = replace(self, **clean)  # type: ignore[type-var]  # subclasses are dataclasses
        result._check_rules()
        return result

    def apply(self, changes: Changes) -> Self:
        """A validated copy with a set operation's typed changes (of this class's table only)."""
        return self.with_changes(**changes.of(self.table()))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (enums by value, lists): what show answers and the audit log records."""
        return self.table().to_dict(self)

    def _check_rules(self) -> None:
        """Rules across fields, checked on the changed copy (subclasses add theirs)."""


def utf8_text(field_name: str, value: str) -> str:
    """Refuse text that cannot be stored as UTF-8 (lone surrogates from undecodable argv bytes)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(field_name, "is not valid UTF-8 text") from None
    return value


def format_binding(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def normalise_bindings(field_name: str, values: Any) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    result: list[str] = []
    for value in values:
        binding = format_binding(*parse_binding(field_name, value))
        if binding not in result:
            result.append(binding)
    return tuple(result)


def _optional_text(name: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    return str(value)


def _banner(name: str, value: Any) -> str:
    text = str(value)
    if not 1 <= len(text) <= 200 or not text.isprintable():
        raise ValidationError(name, "must be 1 to 200 printable characters on one line")
    return text


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "on", "yes", "1", "enabled"):
        return True
    if text in ("false", "off", "no", "0", "disabled"):
        return False
    raise ValidationError(name, f"{value!r} is not allowed", ["enabled", "disabled"])


_MAX_INT32 = 2147483647  # Exchange's 'unlimited'


def proxy_networks(name: str, value: Any) -> tuple[str, ...]:
    """The load balancers allowed to send a PROXY header: addresses or CIDR blocks, comma-separated."""
    items = [v for v in value.split(",") if v.strip()] if isinstance(value, str) else list(value)
    result: list[str] = []
    for item in items:
        try:
            network = ipaddress.ip_network(str(item).strip(), strict=False).compressed
        except ValueError:
            raise ValidationError(name, f"{str(item).strip()!r} is not an IP address or CIDR block (e.g. 10.0.0.5"
                                        " or 10.0.0.0/24)") from None
        if network not in result:
            result.append(network)
    return tuple(result)


def check_proxy(proxy_protocol: bool, networks: tuple[str, ...]) -> None:
    if proxy_protocol and not networks:
        raise ValidationError("proxy_trusted_networks", "name the load balancers allowed to send a PROXY header"
                                                        " (e.g. 10.0.0.5,10.0.0.6) before enabling proxy_protocol")


# RFC 1123 host names: labels of letters, digits and inner hyphens; the last label not all digits.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = rf"(?:{_LABEL}\.)+(?=[A-Za-z0-9-]*[A-Za-z])(?:{_LABEL})"
_DOMAIN = re.compile(_HOST)
MAX_DOMAIN = 253  # RFC 1035's 255 octets on the wire: 253 characters written without the final dot

# RFC 5321 4.1.2: Local-part = Dot-string / Quoted-string; 4.5.3.1: at most 64 octets, and a path
# (the address in angle brackets) at most 256, so an address is at most 254.
_ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_DOT_STRING = re.compile("[" + _ATEXT + "]+(?:\\.[" + _ATEXT + "]+)*")
_QUOTED_STRING = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*)"')
MAX_LOCAL_PART = 64
MAX_ADDRESS = 254
ADDRESS_RULE = ("use local-part@domain like alice@example.com: the local part is words of letters, digits and "
                "!#$%&'*+-/=?^_`{|}~ joined by single dots (or a \"quoted string\"), at most 64 octets; the domain "
                "is labels of letters, digits and hyphens joined by dots (no label starts or ends with a hyphen, "
                "each at most 63); at most 254 octets in all")


def normalise_address(value: str, field_name: str = "address") -> str:
    """The one check of a mailbox address (RFC 5321 Mailbox, ASCII: an IDN domain in its xn--
    form), for every front end: lower-case (addresses compare case-insensitively here), and a
    quoted local part in its shortest form (`"alice"` is `alice`, RFC 5321 4.1.2)."""
    text = str(value).strip(" ")
    local, _, domain = text.rpartition("@")
    problem, canonical = _address_problem(text, local, domain)
    if problem:
        raise ValidationError(field_name, f"{value!r} is not an email address ({problem}); {ADDRESS_RULE}")
    return canonical.lower()


def _address_problem(text: str, local: str, domain: str) -> tuple[str | None, str]:
    """(why `text` is not a mailbox, or None; its canonical spelling)."""
    if not local or not domain:
        return "it needs a local part, an @ and a domain", text
    if not text.isascii():
        return "only ASCII characters are allowed; write an international domain in its xn-- form", text
    if any(c < " " or c == "\x7f" for c in text):
        return "it has a control character or a line break", text
    quoted = _QUOTED_STRING.fullmatch(local)
    if quoted:
        content = re.sub(r"\\(.)", r"\1", quoted.group(1))
        if not content:
            return "the quoted local part is empty", text
        local = content if _DOT_STRING.fullmatch(content) else '"' + re.sub(r'(["\\])', r"\\\1", content) + '"'
    elif not _DOT_STRING.fullmatch(local):
        odd = next((c for c in local if c != "." and not _DOT_STRING.fullmatch(c)), None)
        if odd is not None:
            return f"the local part has {odd!r}, which is allowed only inside a quoted local part", text
        return "the local part starts or ends with a dot, or has two dots in a row", text
    if len(local) > MAX_LOCAL_PART:
        return f"the local part is longer than {MAX_LOCAL_PART} octets", text
    if domain.startswith("["):
        return "an address literal such as [192.0.2.1] is not accepted: name a domain", text
    if len(domain) > MAX_DOMAIN or not _DOMAIN.fullmatch(domain):
        return "the domain is not a domain name", text
    canonical = f"{local}@{domain}"
    if len(canonical) > MAX_ADDRESS:
        return f"it is longer than {MAX_ADDRESS} octets", text
    return None, canonical


def normalise_domain(value: str, field_name: str = "domain") -> str:
    text = str(value).strip().rstrip(".").lower()
    if len(text) > MAX_DOMAIN or not _DOMAIN.fullmatch(text):
        raise ValidationError(field_name, f"{value!r} is not a domain name like example.com (labels of letters, "
                                          "digits and hyphens joined by dots; no label starts or ends with a "
                                          "hyphen, each at most 63 characters)")
    return text


MAX_SEND_AS = 100  # addresses one mailbox may send as: a grant list, not a directory


def send_as_addresses(field_name: str, value: Any) -> tuple[str, ...]:
    """A mailbox's send-as grants (Exchange's Send As permission): addresses, or `*@domain` for
    every address of a domain (an application account sending for a whole domain). Comma- or
    space-separated text or a list; '' for none. Lower-case, each once, in the order given."""
    items = re.split(r"[\s,]+", value) if isinstance(value, str) else list(value)
    result: list[str] = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        if text.startswith("*@"):
            entry = "*@" + normalise_domain(text[2:], field_name)
        else:
            try:
                entry = normalise_address(text, field_name)
            except ValidationError as error:
                raise ValidationError(field_name, f"{error.reason}; or *@domain for a whole domain") from None
        if entry not in result:
            result.append(entry)
    if len(result) > MAX_SEND_AS:
        raise ValidationError(field_name, f"at most {MAX_SEND_AS} addresses (found {len(result)})")
    return tuple(result)


MAX_DISPLAY_NAME = 256  # Exchange's DisplayName limit
_LINE_BREAKS = "\u2028\u2029"  # Unicode's line and paragraph separators (categories Zl, Zp)


def check_display_name(value: Any, field_name: str = "display_name") -> str:
    """A mailbox's display name: 1 to 256 characters, no control characters (C0, DEL, C1) nor
    line breaks, so it can never split a header or a log line; surrounding spaces are dropped."""
    text = utf8_text(field_name, str(value))
    bad = next((c for c in text if unicodedata.category(c) == "Cc" or c in _LINE_BREAKS), None)
    if bad is not None:
        raise ValidationError(field_name, f"must not contain control characters or line breaks "
                                          f"(found U+{ord(bad):04X})")
    text = text.strip()
    if not 1 <= len(text) <= MAX_DISPLAY_NAME:
        raise ValidationError(field_name, f"must be 1 to {MAX_DISPLAY_NAME} characters")
    return text
