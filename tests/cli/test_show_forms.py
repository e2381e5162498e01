"""Every `show` prints each setting in the form its `set` takes back (30m, 2d, 250MB, enabled),
not the stored number (1800, 172800, 262144000, yes), while --json keeps the raw values: for
every setting of every settings table, the text a show prints is given back to `set`, which
then changes nothing."""
from __future__ import annotations

from typing import Any

import pytest

from postroom.model import (
    LoginPolicy, MailboxFeatures, PopSettings, ReceiveConnector, SendConnector, TransportSettings, WebSettings,
)

from .conftest import Admin

# (show command, set command, settings class, what a few settings show as against their --json value)
SHOWS = {
    "pop": (["pop", "show"], ["pop", "set"], PopSettings, {
        "authenticated-timeout": ("30m", 1800), "preauthenticated-timeout": ("1m", 60),
        "log-max-age": ("30d", 2592000), "log-max-directory-size": ("250MB", 262144000),
        "log-per-file-size-quota": ("unlimited", 0), "protocol-log": ("disabled", False),
        "max-command-size": ("512", 512)}),
    "connector": (["connector", "show", "Client EX01"], ["connector", "set", "Client EX01"], ReceiveConnector, {
        "connection-timeout": ("10m", 600), "max-message-size": ("36MB", 37748736), "enabled": ("enabled", True),
        "require-tls": ("disabled", False), "auth": ("tls,basic,basic-require-tls", ["tls", "basic",
                                                                                      "basic-require-tls"])}),
    "send-connector": (["send-connector", "show", "Internet"], ["send-connector", "set", "Internet"], SendConnector, {
        "connection-inactivity-timeout": ("10m", 600), "max-message-size": ("35MB", 36700160),
        "dane": ("enabled", True), "tls-auth-level": ("", None)}),
    "transport": (["transport", "show"], ["transport", "set"], TransportSettings, {
        "message-expiration-timeout": ("2d", 172800), "delay-notification-timeout": ("4h", 14400),
        "dns-servers": ("", [])}),
    "web": (["web", "show"], ["web", "set"], WebSettings, {
        "session-timeout": ("8h", 28800), "request-timeout": ("20s", 20), "http-bindings": ("127.0.0.1:8080",
                                                                                            ["127.0.0.1:8080"])}),
    "login policy": (["security", "policy"], ["security", "policy", "set"], LoginPolicy, {
        "window": ("15m", 900), "max-delay": ("15s", 15), "trusted-networks": ("127.0.0.0/8,::1/128",
                                                                              ["127.0.0.0/8", "::1/128"])}),
    "mailbox": (["mailbox", "show", "demo@example.com"], ["mailbox", "set", "demo@example.com"], MailboxFeatures, {
        "pop-enabled": ("enabled", True), "enabled": ("enabled", True), "send-as": ("", [])}),
}
WRITE_ONLY = {"auth_password"}  # a send connector's password: shown masked, never given back


def shown(admin: Admin, command: list[str]) -> dict[str, str]:
    """The `│ name │ value │` lines a show prints (piped: one line per setting, whatever its length)."""
    values: dict[str, str] = {}
    for line in admin.ok(*command).stdout.splitlines():
        cells = line.split("│")
        if len(cells) == 4 and cells[1].strip():
            values[cells[1].strip()] = cells[2].strip()
    return values


def as_set_arguments(cls: Any, displayed: dict[str, str]) -> list[str]:
    """`--name TEXT` for every setting, or its on/off flag, from the text the show printed."""
    arguments: list[str] = []
    for entry in cls.table():
        if entry.name in WRITE_ONLY:
            continue
        text = displayed[entry.name.replace("_", "-")]
        if entry.cli_flag:
            assert text in ("enabled", "disabled"), (entry.name, text)
            on, off = entry.cli_flag.split("/")
            arguments.append(on if text == "enabled" else off)
        else:
            arguments += [f"--{entry.name.replace('_', '-')}", text]
    return arguments


@pytest.fixture
def configured(admin: Admin) -> Admin:
    admin.ok("send-connector", "new", "Internet", "--address-spaces", "*")
    return admin


@pytest.mark.parametrize("which", list(SHOWS))
def test_show_prints_every_setting_as_set_takes_it_back(configured: Admin, which: str) -> None:
    show, set_command, cls, samples = SHOWS[which]
    raw = configured.json(*show)
    displayed = shown(configured, show)
    for option, (text, value) in samples.items():
        assert (displayed[option], raw[option.replace("-", "_")]) == (text, value), option
    for entry in cls.table():
        text = displayed[entry.name.replace("_", "-")]
        if entry.unit == "seconds":  # a duration with its unit, never a bare count of seconds
            assert text == "0" or text[-1] in "smhd", (entry.name, text)
        if entry.type is bool:
            assert text in ("enabled", "disabled"), (entry.name, text)

    answer = configured.json(*set_command, *as_set_arguments(cls, displayed))
    names = [entry.name for entry in cls.table()]
    assert {n: answer[n] for n in names} == {n: raw[n] for n in names}  # nothing changed
    assert configured.json(*show) == raw


def test_set_prints_the_same_forms_as_show(admin: Admin) -> None:
    after = shown(admin, ["pop", "set", "--authenticated-timeout", "00:45:00", "--log-max-directory-size", "1GB"])
    assert (after["authenticated-timeout"], after["log-max-directory-size"]) == ("45m", "1GB")
    assert admin.pop()["authenticated_timeout"] == 2700 and admin.pop()["log_max_directory_size"] == 1024 ** 3
    odd = shown(admin, ["transport", "set", "--message-retry-interval", "90"])
    assert odd["message-retry-interval"] == "90s"
