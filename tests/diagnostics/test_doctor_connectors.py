"""The doctor against a live server, SMTP side: the Client connector the application submits
through, the smtp service, and whether mail for the mailbox's domain is accepted at all."""
from __future__ import annotations

import pytest

from .conftest import ADDRESS, assert_healthy, fails_only

pytestmark = pytest.mark.e2e
CLIENT = "Client EX01"


def test_a_healthy_install_proves_mail_arrives(live):
    checks = assert_healthy(live)
    assert "accepts mail for crm@example.com" in checks["default-connector"]["detail"]
    assert checks["client-connector"]["page"] == "/console/servers/EX01/connectors/Client%20EX01"


def test_client_connector_disabled(live):
    live.ok("connector", "set", CLIENT, "--disabled")
    check = fails_only(live, "client-connector")
    assert "is disabled: the application cannot send" in check["detail"]
    assert check["fix"] == "postroom connector set 'Client EX01' --enabled"
    live.apply(check["fix"])
    assert_healthy(live)


def test_client_connector_without_tls(live):
    live.ok("connector", "set", CLIENT, "--auth", "basic")
    check = fails_only(live, "client-connector")
    assert "offers no TLS" in check["detail"]
    assert check["fix"] == "postroom connector set 'Client EX01' --auth tls,basic,basic-require-tls"
    live.apply(check["fix"])
    assert_healthy(live)


def test_basic_auth_before_tls_is_a_warning(live):
    live.ok("connector", "set", CLIENT, "--auth", "tls,basic")
    code, checks = live.doctor()
    assert code == 0 and checks["client-connector"]["status"] == "warn"
    live.apply(checks["client-connector"]["fix"])
    assert live.doctor()[1]["client-connector"]["status"] == "pass"


def test_domain_not_accepted(live):
    # The service layer refuses to remove a domain that still has mailboxes; an older install
    # or a hand-edited store can still end up like this.
    live.sql("DELETE FROM domains WHERE name = 'example.com'")
    check = fails_only(live, "default-connector")
    assert "example.com is not an accepted domain: mail for crm@example.com is refused" in check["detail"]
    assert check["fix"] == "postroom domain add example.com"
    live.apply(check["fix"])
    assert_healthy(live)


def test_smtp_service_stopped(live):
    live.ok("service", "stop", "smtp")
    check = fails_only(live, "smtp-service")
    assert check["fix"] == "postroom service start smtp"
    live.apply(check["fix"])
    assert_healthy(live)


def test_default_connector_disabled(live):
    live.ok("connector", "set", "Default EX01", "--disabled")
    check = fails_only(live, "default-connector")
    assert check["fix"] == "postroom connector set 'Default EX01' --enabled"
    live.apply(check["fix"])
    assert_healthy(live)
    assert ADDRESS in live.doctor()[1]["default-connector"]["detail"]
