"""Exchange's Set-ImapSettings, per server: the IMAP4 service's settings, configured exactly as
POP3's (model/core.py PopSettings). Each field is the one declaration of a setting
(settings_table.py): CLI option, API field, console field and check.

Defaults and ranges are Exchange's (Exchange 2013+ documentation): 143 and 993, login type
secure-login, 16 connections per user, MaxCommandSize 10240 (1024..16384), time-outs 30 min
after and 1 min before login (each 30 s..1 h). The node reads these with
`store.get_imap_settings(server)` and serves IMAP4 when the `imap4` service runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import ValidationError
from ..settings_table import setting, size_text
from ..validation import (
    _MAX_INT32,
    ValidatedSettings,
    _banner,
    _bool,
    _optional_text,
    check_proxy,
    enum_value,
    int_in_range,
    normalise_bindings,
    parse_duration,
)
from ..values import DEFAULT_IMAP_BANNER, DEFAULT_MAX_LITERAL, LoginType
from .transport import parse_size
from .core import (
    LogFileRollOver, log_file_roll_over_setting, log_max_age_setting, log_max_directory_size_setting,
    log_per_file_size_quota_setting, proxy_trusted_networks_setting,
)

IMAP_COMMAND_SIZE_RANGE = (1024, 16384)  # Exchange's MaxCommandSize for IMAP4 (POP3's is 40..1024)


def imap_banner(name: str, value: Any) -> str:
    """The greeting's text follows `* OK [CAPABILITY ...]`: IMAP text is 7-bit (RFC 3501 TEXT-CHAR),
    and a leading '[' would read as a response code."""
    text = _banner(name, value)
    if not text.isascii():
        raise ValidationError(name, "must be ASCII: IMAP4 greetings are 7-bit text")
    if text.startswith("["):
        raise ValidationError(name, "must not start with '[' (a client would read it as a response code)")
    return text


@dataclass(frozen=True)
class ImapSettings(ValidatedSettings):
    """Exchange's Set-ImapSettings, per server. Defaults are Exchange's."""

    _kind: ClassVar[str] = "an IMAP setting"

    login_type: LoginType = setting(
        LoginType.SECURE_LOGIN, lambda n, v: enum_value(LoginType, n, v),
        "plain-text-login, plain-text-authentication or secure-login.", exchange="LoginType",
        tab="authentication", label="logon method", widget="choice")
    bindings: tuple[str, ...] = setting(
        ("0.0.0.0:143", "[::]:143"), normalise_bindings,
        "Plain/STARTTLS listeners, comma-separated IP:port ('' for none).", exchange="UnencryptedOrTLSBindings",
        metavar="IP:PORT,...", tab="binding", label="unencrypted or TLS bindings", widget="list")
    ssl_bindings: tuple[str, ...] = setting(
        ("0.0.0.0:993", "[::]:993"), normalise_bindings,
        "Implicit-TLS listeners, comma-separated IP:port ('' for none).", exchange="SSLBindings",
        metavar="IP:PORT,...", tab="binding", label="SSL bindings", widget="list")
    certificate: str | None = setting(
        None, _optional_text, "PEM file with the certificate (and key), or a name under DATA/tls.",
        exchange="X509CertificateName", metavar="FILE", tab="certificate", label="certificate")
    certificate_key: str | None = setting(
        None, _optional_text, "PEM file with the private key, if not inside --certificate.",
        metavar="FILE", tab="certificate", label="certificate key")
    banner: str = setting(DEFAULT_IMAP_BANNER, imap_banner, "Greeting text after * OK (ASCII).",
                          exchange="Banner", tab="general", label="banner")
    max_connections: int = setting(
        2147483647, lambda n, v: int_in_range(n, v, 1, _MAX_INT32), "Total connections (1..2147483647).",
        exchange="MaxConnections", tab="connection", widget="number", form_label="Maximum connections",
        hint="All sessions on this server, logged on or not (2147483647: unlimited).")
    max_connections_from_single_ip: int = setting(
        2147483647, lambda n, v: int_in_range(n, v, 1, _MAX_INT32), "Connections from one IP (1..2147483647).",
        exchange="MaxConnectionFromSingleIP", tab="connection",
        widget="number", form_label="Maximum connections from a single IP address")
    max_connections_per_user: int = setting(
        16, lambda n, v: int_in_range(n, v, 1, _MAX_INT32), "Connections per mailbox (1..2147483647).",
        exchange="MaxConnectionsPerUser", tab="connection", widget="number", form_label="Maximum connections per user",
        hint="Sessions one mailbox may have at once (Exchange's default: 16); mail clients open several.")
    max_command_size: int = setting(
        10240, lambda n, v: int_in_range(n, v, *IMAP_COMMAND_SIZE_RANGE),
        "Longest command line in bytes, literals excepted (1024..16384).",
        exchange="MaxCommandSize", tab="connection", unit="octets", widget="number",
        form_label="Maximum command size (bytes)",
        hint="1024 to 16384; 10240 by default. Literals (APPEND's message) do not count.")
    # Not one of Exchange's IMAP settings (Exchange bounds a message by its size limits elsewhere).
    max_message_size: int = setting(
        DEFAULT_MAX_LITERAL, lambda n, v: parse_size(n, v, 65536, _MAX_INT32),
        "Largest message a client may APPEND: 64KB to 2147483647 octets, e.g. 35MB (advertised as APPENDLIMIT).",
        tab="connection", unit="octets", display=size_text, form_label="Maximum message size (bytes)",
        hint="The largest message APPEND stores, announced to clients as APPENDLIMIT (RFC 7889); a bigger "
             "one is refused with NO [TOOBIG] before it is sent. 35MB by default, as Exchange's messages.")
    authenticated_timeout: int = setting(
        1800, lambda n, v: parse_duration(n, v, 30, 3600), "Idle time after login: 30s..1h (e.g. 30m, 00:30:00).",
        exchange="AuthenticatedConnectionTimeout", tab="connection", unit="seconds",
        form_label="Authenticated connection time-out (seconds)",
        hint="Idle time before a logged-on session is closed: 30 to 3600 (also 30m or 00:30:00). "
             "IDLE sessions count as active.")
    preauthenticated_timeout: int = setting(
        60, lambda n, v: parse_duration(n, v, 30, 3600), "Idle time before login: 30s..1h.",
        exchange="PreAuthenticatedConnectionTimeout", tab="connection", unit="seconds",
        form_label="Unauthenticated connection time-out (seconds)",
        hint="Idle time before a session that has not logged on is closed: 30 to 3600.")
    protocol_log: bool = setting(False, _bool, "Log each session's commands and replies (passwords and message "
                                 "contents never) in DATA/logs/imap4/.", exchange="ProtocolLogEnabled",
                                 tab="retrieval", label="protocol logging", widget="checkbox")
    log_file_roll_over: LogFileRollOver = log_file_roll_over_setting()
    log_per_file_size_quota: int = log_per_file_size_quota_setting()
    log_max_age: int = log_max_age_setting()
    log_max_directory_size: int = log_max_directory_size_setting()
    # Behind a TCP load balancer (not an Exchange setting), as POP3's.
    proxy_protocol: bool = setting(
        False, _bool, "Every IMAP4 binding expects a PROXY header (v1/v2) from a load balancer first.",
        tab="binding", label="PROXY protocol", widget="checkbox")
    proxy_trusted_networks: tuple[str, ...] = proxy_trusted_networks_setting()

    def _check_rules(self) -> None:
        check_proxy(self.proxy_protocol, self.proxy_trusted_networks)
