"""Console: Server configuration › Client Access › IMAP4, beside POP3 (Exchange's tabs), and the
mailbox's IMAP4 feature. Each tab posts only its own fields; roles and CSRF on every form."""
from __future__ import annotations

import re
from typing import Any

import pytest

from postroom.model import ImapSettings

from .conftest import SERVER, Api
from .test_console_pages_pop3 import TABS, text_of
from .test_console_pages_recipients import field_error, notice_of, post, sign_in

IMAP4 = f"/console/servers/{SERVER}/imap4"


@pytest.fixture
def org(api: Api, principals) -> str:
    return sign_in(api, principals["organization-management"])


def imap_settings(run, store) -> ImapSettings:
    return run(store.get_imap_settings(SERVER))


@pytest.mark.parametrize("tab", TABS)
def test_every_tab_renders_with_the_client_settings(api: Api, org: str, tab: str) -> None:
    html = api.get(f"{IMAP4}?tab={tab}").text
    assert f'href="?tab={tab}" aria-selected="true"' in html
    assert "Client Access › IMAP4" in html and "IMAP4 properties · server EX01" in html
    assert f'action="/console/servers/{SERVER}/imap4"' in html
    settings = text_of(html.split('id="client-settings-text">', 1)[1].split("</pre>", 1)[0])
    assert "IMAP4 localhost port 1993 SSL" in settings and "IMAP4 localhost port 1143 STARTTLS" in settings
    assert "IMAP4 logon: only after STARTTLS or on the SSL port" in settings
    assert f'href="/console/servers/{SERVER}/imap4" aria-current="page">IMAP4</a>' in html  # the menu, beside POP3


def test_tab_contents(api: Api, org: str) -> None:
    general = text_of(api.get(IMAP4).text)
    assert "The postroom IMAP4 service is ready." in api.get(IMAP4).text
    assert "IMAP4 service on EX01" in general and "after * OK when it connects" in general
    binding = api.get(f"{IMAP4}?tab=binding").text
    assert 'name="bindings" value="127.0.0.1:1143"' in binding
    assert 'name="ssl_bindings" value="127.0.0.1:1993"' in binding
    assert "switch to TLS with STARTTLS" in binding and 'placeholder="0.0.0.0:143"' in binding
    assert 'placeholder="0.0.0.0:993"' in binding and "with STLS" not in binding
    auth = api.get(f"{IMAP4}?tab=authentication").text
    assert re.search(r'value="secure-login"[^>]*checked', auth) and "only after STARTTLS or on an SSL port" in auth
    connection = api.get(f"{IMAP4}?tab=connection").text
    for name, value in (("max_connections_per_user", 16), ("max_command_size", 10240),
                        ("authenticated_timeout", 1800), ("preauthenticated_timeout", 60)):
        assert f'name="{name}" value="{value}"' in connection
    assert 'name="max_message_size" value="35MB"' in connection and "APPENDLIMIT" in connection
    retrieval = api.get(f"{IMAP4}?tab=retrieval").text
    assert 'name="protocol_log"' in retrieval and 'name="sort_order"' not in retrieval  # POP3's only
    certificate = text_of(api.get(f"{IMAP4}?tab=certificate").text)
    assert "localhost, EX01, 127.0.0.1" in certificate  # init gave IMAP4 the certificate it made
    assert api.get("/console/servers/NOPE/imap4").status_code == 404


def test_tabs_save_their_own_fields_only(api: Api, org: str, store, run) -> None:
    answer = post(api, IMAP4, org, tab="authentication", login_type="plain-text-authentication")
    assert notice_of(answer) == f"IMAP4 Authentication settings of {SERVER} saved: logon method: " \
                                "plain-text-authentication."
    assert answer.headers["location"] == f"{IMAP4}?tab=authentication"
    assert imap_settings(run, store).login_type.value == "plain-text-authentication"
    assert run(store.get_pop_settings(SERVER)).login_type.value == "secure-login", "POP3 untouched"
    answer = post(api, IMAP4, org, tab="general", banner="IMAP on EX01", login_type="plain-text-login")
    assert notice_of(answer) == f"IMAP4 General settings of {SERVER} saved: banner: IMAP on EX01."
    assert imap_settings(run, store).login_type.value == "plain-text-authentication"
    answer = post(api, IMAP4, org, tab="connection", max_connections="100", max_connections_from_single_ip="10",
                  max_connections_per_user="32", max_command_size="16384", authenticated_timeout="1h",
                  preauthenticated_timeout="45", max_message_size="20MB")
    assert notice_of(answer).startswith(f"IMAP4 Connection settings of {SERVER} saved: max connections: 100;")
    stored = imap_settings(run, store)
    assert (stored.max_connections_per_user, stored.max_command_size, stored.authenticated_timeout,
            stored.preauthenticated_timeout, stored.max_message_size) == (32, 16384, 3600, 45, 20 * 1024 ** 2)
    again = post(api, IMAP4, org, tab="authentication", login_type="plain-text-authentication")
    assert notice_of(again) == f"Nothing changed on the IMAP4 Authentication tab of {SERVER}."
    entry = run(store.list_audit(1))[0]
    assert (entry.action, entry.target, entry.channel) == ("imap.set", f"server/{SERVER}/imap", "console")


@pytest.mark.parametrize("tab, fields, field, problem", [
    ("connection", {"max_command_size": "512"}, "max_command_size", "allowed: 1024..16384"),
    ("general", {"banner": "[ALERT] hi"}, "banner", "must not start with '['"),
    ("general", {"banner": "Grüezi"}, "banner", "must be ASCII"),
    ("binding", {"bindings": "127.0.0.1:1110", "ssl_bindings": "127.0.0.1:1993"}, "bindings",
     "a POP3 binding of server EX01"),
    ("binding", {"bindings": "127.0.0.1:1143", "ssl_bindings": "127.0.0.1:1143"}, "ssl_bindings",
     "is also a plain/STARTTLS binding"),
])
def test_bad_values_are_shown_next_to_their_field(api: Api, org: str, store, run, tab: str, fields: dict[str, Any],
                                                  field: str, problem: str) -> None:
    before = imap_settings(run, store)
    answer = post(api, IMAP4, org, tab=tab, **fields)
    assert answer.status_code == 400 and problem in field_error(answer.text, field)
    assert imap_settings(run, store) == before


def test_the_page_is_read_only_without_server_rights(api: Api, principals, store, run) -> None:
    token = sign_in(api, principals["view-only"])
    assert re.search(r'name="banner" value="The postroom IMAP4 service is ready."[^>]* disabled', api.get(IMAP4).text)
    assert post(api, IMAP4, token, tab="general", banner="Hacked").status_code == 403
    assert post(api, IMAP4, None, tab="general", banner="No token").status_code == 403
    assert imap_settings(run, store).banner == "The postroom IMAP4 service is ready."
