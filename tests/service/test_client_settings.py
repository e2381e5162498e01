"""Client settings for applications: what clients are told, derived from the live bindings."""
from __future__ import annotations

import pytest

from postroom.errors import Forbidden
from postroom.model import PopSettings, ReceiveConnector, Server, Service, ServiceStatus, Startup, default_connectors
from postroom.service import client_settings as client_ops
from postroom.service import connectors, pop


def endpoints(entries: list[dict]) -> list[tuple[str, int, str]]:
    return [(e["host"], e["port"], e["mode"]) for e in entries]


def test_the_dev_profile(context, run) -> None:
    settings = run(client_ops.client_settings(context("view-only")))
    assert (settings["server"], settings["fqdn"]) == ("EX01", "localhost")
    # SSL first, as Exchange's InternalConnectionSettings default FQDN:995:SSL,FQDN:110:TLS;
    # loopback bindings are published as the FQDN (the certificate's name)
    assert endpoints(settings["pop3"]) == [("localhost", 1995, "SSL"), ("localhost", 1110, "STARTTLS")]
    assert settings["pop3"][0]["bindings"] == ["127.0.0.1:1995"]
    assert settings["smtp_connector"] == "Client EX01"
    assert endpoints(settings["smtp"]) == [("localhost", 2587, "STARTTLS")]
    assert settings["smtp"][0]["auth"] and settings["smtp"][0]["auth_requires_tls"]
    assert (settings["login_type"], settings["plain_login_allowed"]) == ("secure-login", False)


def test_a_production_like_server(context, store, run) -> None:
    """Wildcard bindings of both families are one endpoint at the FQDN; a specific address is
    published as itself."""
    name = "EX02"
    run(store.add_server(Server(name, "mail.example.com"),
                         [Service(name, "pop3", Startup.AUTOMATIC, ServiceStatus.RUNNING)],
                         PopSettings(), default_connectors(name)))
    ctx = context("server-management")
    settings = run(client_ops.client_settings(ctx, name))
    assert endpoints(settings["pop3"]) == [("mail.example.com", 995, "SSL"), ("mail.example.com", 110, "STARTTLS")]
    assert settings["pop3"][0]["bindings"] == ["0.0.0.0:995", "[::]:995"]
    assert endpoints(settings["smtp"]) == [("mail.example.com", 587, "STARTTLS")]

    run(store.put_pop_settings(name, PopSettings().with_changes(
        bindings="192.0.2.7:110,[2001:db8::7]:110", ssl_bindings="[::]:995", login_type="plain-text-login")))
    settings = run(client_ops.client_settings(ctx, name))
    assert endpoints(settings["pop3"]) == [("mail.example.com", 995, "SSL"), ("192.0.2.7", 110, "STARTTLS"),
                                           ("2001:db8::7", 110, "STARTTLS")]
    assert settings["plain_login_allowed"] is True


def test_the_settings_follow_a_pop_set(context, run) -> None:
    ctx = context("server-management")
    run(pop.set_pop(ctx, None, PopSettings.changes(bindings="127.0.0.1:2110", ssl_bindings="")))
    assert endpoints(run(client_ops.client_settings(ctx))["pop3"]) == [("localhost", 2110, "STARTTLS")]


def test_the_submission_connector(context, run) -> None:
    ctx = context("server-management")
    # the Client connector while enabled; then the first enabled connector granting users
    run(connectors.set_connector(ctx, "Client EX01", None, ReceiveConnector.changes(enabled=False)))
    settings = run(client_ops.client_settings(ctx))
    assert settings["smtp_connector"] == "Default EX01"
    assert endpoints(settings["smtp"]) == [("localhost", 2525, "STARTTLS")]
    # a connector that offers no TLS: published as such, never as STARTTLS
    run(connectors.set_connector(ctx, "Default EX01", None, ReceiveConnector.changes(auth="none",
                                                                                     permission_groups="users")))
    smtp = run(client_ops.client_settings(ctx))["smtp"]
    assert endpoints(smtp) == [("localhost", 2525, "none")] and not smtp[0]["auth"]
    # nobody may submit: no SMTP settings at all
    run(connectors.set_connector(ctx, "Default EX01", None, ReceiveConnector.changes(permission_groups="anonymous")))
    settings = run(client_ops.client_settings(ctx))
    assert (settings["smtp_connector"], settings["smtp"]) == (None, [])
    assert "no enabled connector grants authenticated users" in client_ops.settings_text(settings)


def test_a_connector_fqdn_names_its_host(context, run) -> None:
    ctx = context("server-management")
    run(connectors.set_connector(ctx, "Client EX01", None, ReceiveConnector.changes(fqdn="smtp.example.com",
                                                                                    bindings="0.0.0.0:2587")))
    assert endpoints(run(client_ops.client_settings(ctx))["smtp"]) == [("smtp.example.com", 2587, "STARTTLS")]


def test_settings_text_names_every_endpoint(context, run) -> None:
    text = client_ops.settings_text(run(client_ops.client_settings(context("view-only"))))
    assert text.splitlines() == [
        "POP3 localhost port 1995 SSL",
        "POP3 localhost port 1110 STARTTLS",
        "POP3 logon: only after STLS or on the SSL port (login type secure-login)",
        "IMAP4 localhost port 1993 SSL",
        "IMAP4 localhost port 1143 STARTTLS",
        "IMAP4 logon: only after STARTTLS or on the SSL port (login type secure-login)",
        "SMTP localhost port 2587 STARTTLS, password (AUTH) after STARTTLS",
    ]


@pytest.mark.parametrize("binding, host", [("0.0.0.0:110", "fqdn.example"), ("[::]:110", "fqdn.example"),
                                           ("127.0.0.1:110", "fqdn.example"), ("[::1]:110", "fqdn.example"),
                                           ("10.1.2.3:110", "10.1.2.3"), ("[2001:db8::1]:110", "2001:db8::1")])
def test_endpoint_host(binding: str, host: str) -> None:
    assert client_ops.endpoint_host(binding, "fqdn.example") == host


def test_reading_needs_the_read_right(context, run) -> None:
    with pytest.raises(Forbidden):
        run(client_ops.client_settings(context()))
