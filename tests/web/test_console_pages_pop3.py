"""Console pages of Server configuration: POP3 properties (Exchange's tabs, client settings) and
receive connectors; each tab posts only its own fields; CSRF and roles on every form."""
from __future__ import annotations

import re
import time
from typing import Any

import pytest

from postroom.model import NodeReport

from .conftest import SERVER, Api
from .test_console_pages_recipients import field_error, notice_of, post, sign_in

POP3 = f"/console/servers/{SERVER}/pop3"
CLIENT = f"/console/servers/{SERVER}/connectors/Client%20{SERVER}"
TABS = ("general", "binding", "authentication", "connection", "retrieval", "certificate")


@pytest.fixture
def org(api: Api, principals) -> str:
    return sign_in(api, principals["organization-management"])


def pop_settings(run, store) -> Any:
    return run(store.get_pop_settings(SERVER))


def client_connector(run, store) -> Any:
    return run(store.get_connector(SERVER, f"Client {SERVER}"))


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# POP3 properties -----------------------------------------------------------------------------------
@pytest.mark.parametrize("tab", TABS)
def test_every_tab_renders_with_the_client_settings(api: Api, org: str, tab: str) -> None:
    html = api.get(f"{POP3}?tab={tab}").text
    assert f'href="?tab={tab}" aria-selected="true"' in html
    assert f'<input type="hidden" name="tab" value="{tab}">' in html
    settings = text_of(html.split('id="client-settings-text">', 1)[1].split("</pre>", 1)[0])
    assert "POP3 localhost port 1995 SSL" in settings and "POP3 localhost port 1110 STARTTLS" in settings
    assert "SMTP localhost port 2587 STARTTLS" in settings
    assert 'id="copy-client-settings" data-copy="client-settings-text"' in html  # static/console.js copies it


def test_tab_contents(api: Api, org: str) -> None:
    general = text_of(api.get(POP3).text)
    assert "The postroom POP3 service is ready." in api.get(POP3).text
    assert "Start, stop or set the startup type in Services" in general
    binding = api.get(f"{POP3}?tab=binding").text
    assert "Unencrypted or TLS connections" in binding and "Secure SSL connections" in binding
    assert 'name="bindings" value="127.0.0.1:1110"' in binding
    assert 'name="ssl_bindings" value="127.0.0.1:1995"' in binding
    assert 'name="remove" value="bindings:0"' in binding
    auth = text_of(api.get(f"{POP3}?tab=authentication").text)
    for wording in ("Plain text logon (Basic authentication)",
                    "Plain text authentication logon (Integrated Windows authentication)", "Secure logon"):
        assert wording in auth
    assert re.search(r'value="secure-login"[^>]*checked', api.get(f"{POP3}?tab=authentication").text)
    connection = api.get(f"{POP3}?tab=connection").text
    for name, value in (("max_connections_per_user", 16), ("max_command_size", 512), ("authenticated_timeout", 1800),
                        ("preauthenticated_timeout", 60), ("max_connections", 2147483647),
                        ("max_connections_from_single_ip", 2147483647)):
        assert f'name="{name}" value="{value}"' in connection
    assert 'name="max_message_size"' not in connection  # IMAP4's APPEND only
    retrieval = api.get(f"{POP3}?tab=retrieval").text
    assert re.search(r'value="ascending"[^>]*checked', retrieval) and 'name="protocol_log"' in retrieval
    certificate = text_of(api.get(f"{POP3}?tab=certificate").text)
    assert "localhost, EX01, 127.0.0.1" in certificate  # the subject names of init's certificate
    assert "Valid until" in certificate and "days left" in certificate and "self-signed" in certificate
    assert api.get("/console/servers/NOPE/pop3").status_code == 404


def test_the_authentication_tab_sets_the_login_type(api: Api, org: str, store, run) -> None:
    answer = post(api, POP3, org, tab="authentication", login_type="plain-text-login")
    assert notice_of(answer) == f"POP3 Authentication settings of {SERVER} saved: logon method: plain-text-login."
    assert answer.headers["location"] == f"{POP3}?tab=authentication"
    assert pop_settings(run, store).login_type.value == "plain-text-login"
    assert re.search(r'value="plain-text-login"[^>]*checked', api.get(answer.headers["location"]).text)
    # saving the same again changes nothing, and says so
    again = post(api, POP3, org, tab="authentication", login_type="plain-text-login")
    assert notice_of(again) == f"Nothing changed on the POP3 Authentication tab of {SERVER}."
    answer = post(api, POP3, org, tab="authentication", login_type="kerberos")
    assert answer.status_code == 400 and "secure-login" in field_error(answer.text, "login_type")


def test_a_tab_posts_only_its_own_fields(api: Api, org: str, store, run) -> None:
    before = pop_settings(run, store)
    # a field of another tab in the post is ignored: only the banner is the General tab's
    answer = post(api, POP3, org, tab="general", banner="Welcome to EX01.", login_type="plain-text-login")
    assert notice_of(answer) == f"POP3 General settings of {SERVER} saved: banner: Welcome to EX01.."
    after = pop_settings(run, store)
    assert after.banner == "Welcome to EX01." and after.login_type == before.login_type
    answer = post(api, POP3, org, tab="retrieval", sort_order="descending")  # protocol log stays unticked
    assert notice_of(answer).endswith("sort order: descending.")
    assert pop_settings(run, store).sort_order.value == "descending" and not pop_settings(run, store).protocol_log
    answer = post(api, POP3, org, tab="connection", max_connections="100", max_connections_from_single_ip="10",
                  max_connections_per_user="4", max_command_size="1024", authenticated_timeout="30m",
                  preauthenticated_timeout="00:00:45")
    assert notice_of(answer).startswith(f"POP3 Connection settings of {SERVER} saved: max connections: 100;")
    stored = pop_settings(run, store)
    assert (stored.max_connections_per_user, stored.authenticated_timeout,
            stored.preauthenticated_timeout) == (4, 1800, 45)


def test_bindings_are_added_edited_and_removed(api: Api, org: str, store, run) -> None:
    # add: the rows as they are, plus the new one in the empty input
    answer = post(api, POP3, org, tab="binding", bindings=["127.0.0.1:1110", "127.0.0.1:2110"],
                  ssl_bindings=["127.0.0.1:1995", ""])
    assert notice_of(answer) == (f"POP3 Binding settings of {SERVER} saved: "
                                 "unencrypted or TLS bindings: 127.0.0.1:1110, 127.0.0.1:2110.")
    assert pop_settings(run, store).bindings == ("127.0.0.1:1110", "127.0.0.1:2110")
    # edit a row in place
    post(api, POP3, org, tab="binding", bindings=["127.0.0.1:1110", "127.0.0.1:3110", ""],
         ssl_bindings="127.0.0.1:1995")
    assert pop_settings(run, store).bindings == ("127.0.0.1:1110", "127.0.0.1:3110")
    # a row's Remove button: the form without that row
    answer = post(api, POP3, org, tab="binding", bindings=["127.0.0.1:1110", "127.0.0.1:3110", ""],
                  ssl_bindings=["127.0.0.1:1995", ""], remove="bindings:0")
    assert notice_of(answer).endswith("unencrypted or TLS bindings: 127.0.0.1:3110.")
    # Remove counts rows as the form has them, an emptied row included
    post(api, POP3, org, tab="binding", bindings=["", "127.0.0.1:3110", "127.0.0.1:4110", ""],
         ssl_bindings="127.0.0.1:1995", remove="bindings:2")
    assert pop_settings(run, store).bindings == ("127.0.0.1:3110",)
    # emptying a list is expressible: no plain POP3 at all
    post(api, POP3, org, tab="binding", bindings="", ssl_bindings="127.0.0.1:1995")
    assert pop_settings(run, store).bindings == ()
    assert "No bindings: POP3 does not listen for these connections." in api.get(f"{POP3}?tab=binding").text


@pytest.mark.parametrize("field, bad, problem", [
    ("bindings", "127.0.0.1:99999", "port 99999 is out of range"),
    ("bindings", "pop.example.com:110", "is not IP:port"),
    ("ssl_bindings", "not-an-address", "'not-an-address' is not IP:port"),
    ("ssl_bindings", "127.0.0.1:1110", "is also a plain/STLS binding"),
    ("bindings", "127.0.0.1:2587", "receive connector 'Client EX01'"),
])
def test_a_bad_binding_is_shown_next_to_its_field(api: Api, org: str, store, run, field, bad, problem) -> None:
    before = pop_settings(run, store)
    good = {"bindings": ["127.0.0.1:1110", ""], "ssl_bindings": ["127.0.0.1:1995", ""]}
    good[field] = [good[field][0], bad]
    answer = post(api, POP3, org, tab="binding", **good)
    assert answer.status_code == 400
    assert problem in field_error(answer.text, field)
    assert f'name="{field}" value="{bad}" aria-invalid="true" aria-describedby="error-{field}"' in answer.text
    assert "Not saved: correct the field marked below." in answer.text
    assert pop_settings(run, store) == before


def test_an_error_of_another_tab_is_shown_on_top(api: Api, org: str, store, run) -> None:
    run(store.put_pop_settings(SERVER, pop_settings(run, store).with_changes(certificate=None, ssl_bindings="")))
    answer = post(api, POP3, org, tab="binding", bindings="127.0.0.1:1110", ssl_bindings="127.0.0.1:1995")
    assert answer.status_code == 400
    assert "Not saved: certificate: SSL bindings need a certificate" in answer.text
    assert pop_settings(run, store).ssl_bindings == ()


def test_a_bind_error_the_node_reports_is_a_warning_next_to_the_binding(api: Api, org: str, store, run) -> None:
    pop3 = {"state": "running", "listening": ["127.0.0.1:1995 (TLS)"], "applied_version": 1,
            "errors": ["127.0.0.1:1110: Address already in use"]}
    run(store.put_node_report(NodeReport(SERVER, time.time(), 4242, {"pop3": pop3})))
    html = api.get(f"{POP3}?tab=binding").text
    row = html.split('value="127.0.0.1:1110"', 1)[1].split("</li>", 1)[0]
    assert "Warning: 127.0.0.1:1110: Address already in use" in row
    ssl_row = html.split('value="127.0.0.1:1995"', 1)[1].split("</li>", 1)[0]
    assert "listening" in ssl_row and "Warning" not in ssl_row
    assert "Address already in use" in api.get(POP3).text  # and on the General tab's service state


def test_certificate_problems_are_named(api: Api, org: str, store, run, tmp_path) -> None:
    answer = post(api, POP3, org, tab="certificate", certificate=str(tmp_path / "missing.pem"), certificate_key="")
    assert answer.status_code == 400 and "does not exist" in field_error(answer.text, "certificate")
    assert pop_settings(run, store).certificate.endswith("postroom.pem")


def test_connection_limits_are_checked(api: Api, org: str, store, run) -> None:
    answer = post(api, POP3, org, tab="connection", max_connections="1", max_connections_from_single_ip="1",
                  max_connections_per_user="1", max_command_size="20", authenticated_timeout="30",
                  preauthenticated_timeout="30")
    assert answer.status_code == 400 and "allowed: 40..1024" in field_error(answer.text, "max_command_size")
    assert 'name="max_command_size" value="20"' in answer.text  # as typed
    assert pop_settings(run, store).max_connections == 2147483647


# the admin service ---------------------------------------------------------------------------------
ADMIN_SERVICE = f"/console/servers/{SERVER}/admin-service"


def test_admin_service_page_shows_and_sets_caps_and_timeouts(api: Api, org: str, store, run) -> None:
    html = api.get(ADMIN_SERVICE).text
    for name, value in (("max_connections", 500), ("max_connections_per_source", 20), ("request_timeout", 20),
                        ("keep_alive_timeout", 30), ("session_timeout", 28800)):
        assert f'name="{name}" value="{value}"' in html
    assert f'href="{ADMIN_SERVICE}" aria-current="page"' in html
    answer = post(api, ADMIN_SERVICE, org, max_connections="200", max_connections_per_source="5",
                  request_timeout="1m", keep_alive_timeout="10", session_timeout="8h")
    assert notice_of(answer) == (f"Admin service settings of {SERVER} saved: maximum connections: 200; maximum "
                                 "connections from a single IP address: 5; request time-out: 60; "
                                 "keep-alive time-out: 10.")
    stored = run(store.get_web_settings(SERVER))
    assert (stored.max_connections, stored.max_connections_per_source, stored.request_timeout,
            stored.keep_alive_timeout) == (200, 5, 60, 10)
    answer = post(api, ADMIN_SERVICE, org, max_connections_per_source="0")
    assert answer.status_code == 400 and "allowed: 1..1000000" in field_error(answer.text, "max_connections_per_source")
    assert 'name="max_connections_per_source" value="0"' in answer.text  # as typed
    assert run(store.get_web_settings(SERVER)).max_connections_per_source == 5


def test_admin_service_page_is_read_only_without_server_rights(api: Api, principals, store, run) -> None:
    token = sign_in(api, principals["view-only"])
    assert 'name="request_timeout" value="20" disabled' in api.get(ADMIN_SERVICE).text
    assert post(api, ADMIN_SERVICE, token, request_timeout="5").status_code == 403
    assert run(store.get_web_settings(SERVER)).request_timeout == 20


# receive connectors --------------------------------------------------------------------------------
def test_connector_list_and_tabs(api: Api, org: str) -> None:
    listing = api.get(f"/console/servers/{SERVER}/connectors").text
    assert f'href="{CLIENT}"' in listing and f"Default {SERVER}" in listing and "127.0.0.1:2587" in listing
    for tab in ("general", "network", "authentication", "permissions"):
        html = api.get(f"{CLIENT}?tab={tab}").text
        assert f'href="?tab={tab}" aria-selected="true"' in html
        assert f'<input type="hidden" name="tab" value="{tab}">' in html
    general = api.get(CLIENT).text
    assert 'name="max_message_size" value="36MB"' in general
    permissions = text_of(api.get(f"{CLIENT}?tab=permissions").text)
    assert "Anonymous users" in permissions and "Authenticated users (mailboxes)" in permissions
    assert api.get(f"/console/servers/{SERVER}/connectors/Nope").status_code == 404


def test_the_retrieval_tab_shows_and_sets_the_protocol_log_limits(api: Api, org: str, store, run) -> None:
    retrieval = api.get(f"{POP3}?tab=retrieval").text
    assert re.search(r'<option value="daily" selected>', retrieval)  # Exchange 2010's LogFileRollOverSettings
    for name, value in (("log_per_file_size_quota", "unlimited"), ("log_max_age", "30d"),
                        ("log_max_directory_size", "250MB")):
        assert f'name="{name}" value="{value}"' in retrieval
    answer = post(api, POP3, org, tab="retrieval", sort_order="ascending", protocol_log="on",
                  log_file_roll_over="hourly", log_per_file_size_quota="10MB", log_max_age="7.00:00:00",
                  log_max_directory_size="250MB")
    assert notice_of(answer).endswith("protocol logging: on; log file roll-over: hourly; log file size limit: 10MB; "
                                      "log maximum age: 7d.")
    settings = pop_settings(run, store)
    assert (settings.protocol_log, settings.log_file_roll_over.value, settings.log_per_file_size_quota,
            settings.log_max_age, settings.log_max_directory_size) == (True, "hourly", 10 * 1024 ** 2, 7 * 86400,
                                                                       250 * 1024 ** 2)
    retrieval = api.get(f"{POP3}?tab=retrieval").text
    assert 'name="log_per_file_size_quota" value="10MB"' in retrieval and 'name="log_max_age" value="7d"' in retrieval
    answer = post(api, POP3, org, tab="retrieval", sort_order="ascending", log_max_age="a while")
    assert answer.status_code == 400 and "30.00:00:00" in field_error(answer.text, "log_max_age")
    assert 'name="log_max_age" value="a while"' in answer.text  # what was typed, to correct
    assert pop_settings(run, store) == settings


def test_the_connector_general_tab_shows_and_sets_the_protocol_log_limits(api: Api, org: str, store, run) -> None:
    general = api.get(CLIENT).text
    for name, value in (("protocol_log_max_file_size", "10MB"), ("protocol_log_max_age", "30d"),
                        ("protocol_log_max_directory_size", "250MB")):
        assert f'name="{name}" value="{value}"' in general
    view = client_connector(run, store)
    fields = {"tab": "general", "enabled": "on", "max_message_size": "36MB", "protocol_log": "on",
              "protocol_log_max_file_size": "unlimited", "protocol_log_max_age": "14d",
              "protocol_log_max_directory_size": "1GB"}
    answer = post(api, CLIENT, org, **fields)
    assert "log maximum age: 14d; log folder size limit: 1GB; log file size limit: unlimited" in notice_of(answer)
    after = client_connector(run, store)
    assert (after.protocol_log, after.protocol_log_max_file_size, after.protocol_log_max_age,
            after.protocol_log_max_directory_size) == (True, 0, 14 * 86400, 1024 ** 3)
    assert after.max_inbound_connections == view.max_inbound_connections
    answer = post(api, CLIENT, org, **{**fields, "protocol_log_max_file_size": "12"})
    assert answer.status_code == 400 and "0 or unlimited" in field_error(answer.text, "protocol_log_max_file_size")


def test_the_authentication_tab_toggles_auth(api: Api, org: str, store, run) -> None:
    answer = post(api, f"/console/servers/{SERVER}/connectors/Client {SERVER}", org, tab="authentication",
                  auth=["tls", "basic"])
    assert notice_of(answer) == f"Receive connector Client {SERVER} saved: authentication: tls, basic."
    assert answer.headers["location"] == f"{CLIENT}?tab=authentication"
    assert client_connector(run, store).auth == ("tls", "basic")
    post(api, CLIENT, org, tab="authentication", auth=["tls", "basic", "basic-require-tls"], require_tls="on")
    assert (client_connector(run, store).auth, client_connector(run, store).require_tls) == \
        (("tls", "basic", "basic-require-tls"), True)
    post(api, CLIENT, org, tab="authentication")  # nothing ticked: Exchange's None
    assert (client_connector(run, store).auth, client_connector(run, store).require_tls) == (("none",), False)


@pytest.mark.parametrize("fields, field, problem", [
    ({"auth": ["tls", "basic-require-tls"]}, "auth", "basic-require-tls needs basic and tls"),
    ({"auth": "basic", "require_tls": "on"}, "require_tls", "needs tls"),
])
def test_exchange_rules_are_shown_next_to_the_field(api: Api, org: str, store, run, fields, field, problem) -> None:
    before = client_connector(run, store)
    answer = post(api, CLIENT, org, tab="authentication", **fields)
    assert answer.status_code == 400 and problem in field_error(answer.text, field)
    assert client_connector(run, store) == before


def test_permission_groups_network_and_general(api: Api, org: str, store, run) -> None:
    post(api, CLIENT, org, tab="permissions")  # nothing ticked: nobody may send
    assert client_connector(run, store).permission_groups == ()
    post(api, CLIENT, org, tab="permissions", permission_groups=["anonymous", "users"])
    assert client_connector(run, store).permission_groups == ("anonymous", "users")
    answer = post(api, CLIENT, org, tab="network", bindings="127.0.0.1:2587\r\n127.0.0.2:2587\r\n",
                  remote_ip_ranges="10.0.0.0/8\n192.0.2.1-192.0.2.9")
    assert notice_of(answer).startswith(
        f"Receive connector Client {SERVER} saved: bindings: 127.0.0.1:2587, 127.0.0.2:2587;")
    assert client_connector(run, store).remote_ip_ranges == ("10.0.0.0/8", "192.0.2.1-192.0.2.9")
    shown = api.get(answer.headers["location"]).text  # the notice, '/' and all, as the browser shows it
    assert '<p class="notice" role="status">Receive connector Client EX01 saved: bindings:' in shown
    assert "remote IP ranges: 10.0.0.0/8, 192.0.2.1-192.0.2.9." in shown
    answer = post(api, CLIENT, org, tab="network", bindings="127.0.0.1:1110", remote_ip_ranges="0.0.0.0/0")
    assert answer.status_code == 400 and "a POP3 binding" in field_error(answer.text, "bindings")
    assert "127.0.0.1:1110</textarea>" in answer.text  # as typed
    general = {"banner": "", "fqdn": "smtp.example.com", "max_message_size": "10MB", "max_recipients_per_message": "50",
               "max_inbound_connections": "100", "max_inbound_connections_per_source": "5",
               "connection_timeout": "600", "connection_inactivity_timeout": "60"}  # enabled unticked
    answer = post(api, CLIENT, org, tab="general", **general)
    assert "enabled: off" in notice_of(answer)
    stored = client_connector(run, store)
    assert (stored.enabled, stored.fqdn, stored.max_message_size) == (False, "smtp.example.com", 10 * 1024 * 1024)
    answer = post(api, CLIENT, org, tab="general", **{**general, "connection_inactivity_timeout": "900"})
    assert answer.status_code == 400
    assert "shorter than connection_timeout" in field_error(answer.text, "connection_inactivity_timeout")


# CSRF and roles ------------------------------------------------------------------------------------
CHANGES = [
    (POP3, {"tab": "general", "banner": "Forged"}),
    (POP3, {"tab": "binding", "bindings": "127.0.0.1:4110", "ssl_bindings": "127.0.0.1:1995"}),
    (POP3, {"tab": "authentication", "login_type": "plain-text-login"}),
    (POP3, {"tab": "retrieval", "sort_order": "descending", "protocol_log": "on"}),
    (CLIENT, {"tab": "authentication", "auth": "tls"}),
    (CLIENT, {"tab": "permissions", "permission_groups": "anonymous"}),
    (CLIENT, {"tab": "general", "enabled": "", "banner": "Forged"}),
]


def state(run, store) -> Any:
    return pop_settings(run, store), client_connector(run, store)


@pytest.mark.parametrize("path, fields", CHANGES)
def test_a_form_without_its_csrf_token_changes_nothing(api: Api, org: str, store, run, path, fields) -> None:
    before = state(run, store)
    for token in (None, "x" * 32):
        answer = post(api, path, token, **fields)
        assert answer.status_code == 403 and "security token (CSRF)" in answer.text
    assert state(run, store) == before


@pytest.mark.parametrize("role", ["view-only", "recipient-management"])
def test_without_the_server_right_controls_are_read_only_and_posts_refused(api: Api, principals, store, run,
                                                                          role: str) -> None:
    token = sign_in(api, principals[role])
    pages = [f"{POP3}?tab={tab}" for tab in TABS] + [f"{CLIENT}?tab={tab}" for tab in
                                                      ("general", "network", "authentication", "permissions")]
    for path in pages:
        html = api.get(path).text
        assert "Read-only: changing this needs the organization-management or server-management role group." in html
        form = re.search(r'<form method="post" action="/console/servers.*?</form>', html, re.S)
        assert form, path
        controls = re.findall(r"<(?:input|button|select|textarea)\b[^>]*>", form.group(0))
        assert any(" disabled" in control for control in controls), (path, form.group(0))
        for control in controls:
            assert 'type="hidden"' in control or " disabled" in control, (path, control)
    before = state(run, store)
    audit_before = len(run(store.list_audit(1000)))
    for path, fields in CHANGES:
        answer = post(api, path, token, **fields)
        assert answer.status_code == 403 and "may not do this" in answer.text, (path, answer.status_code)
    assert state(run, store) == before
    refused = run(store.list_audit(1000, outcome="refused"))
    assert len(run(store.list_audit(1000))) - audit_before == len(CHANGES) == len(refused)
    assert {entry.channel for entry in refused} == {"console"}


def test_the_proxy_protocol_is_set_on_the_binding_and_network_tabs(api: Api, org: str, store, run) -> None:
    answer = post(api, POP3, org, tab="binding", bindings="127.0.0.1:1110", ssl_bindings="127.0.0.1:1995",
                  proxy_protocol="on", proxy_trusted_networks="10.0.0.5, 10.0.0.0/29")
    assert "PROXY protocol: on" in notice_of(answer) and "load balancers: 10.0.0.5/32, 10.0.0.0/29" in notice_of(answer)
    stored = pop_settings(run, store)
    assert (stored.proxy_protocol, stored.proxy_trusted_networks) == (True, ("10.0.0.5/32", "10.0.0.0/29"))
    assert 'value="10.0.0.5/32, 10.0.0.0/29"' in api.get(f"{POP3}?tab=binding").text
    # enabled with no balancer named: refused next to the field, nothing stored
    answer = post(api, POP3, org, tab="binding", bindings="127.0.0.1:1110", ssl_bindings="127.0.0.1:1995",
                  proxy_protocol="on", proxy_trusted_networks="")
    assert answer.status_code == 400 and "load balancers" in field_error(answer.text, "proxy_trusted_networks")
    assert pop_settings(run, store).proxy_trusted_networks == ("10.0.0.5/32", "10.0.0.0/29")
    # unticking turns it off
    post(api, POP3, org, tab="binding", bindings="127.0.0.1:1110", ssl_bindings="127.0.0.1:1995",
         proxy_trusted_networks="10.0.0.5")
    assert pop_settings(run, store).proxy_protocol is False

    answer = post(api, CLIENT, org, tab="network", bindings="127.0.0.1:2587", remote_ip_ranges="0.0.0.0/0",
                  proxy_protocol="on", proxy_trusted_networks="10.0.0.5\n10.0.0.6")
    assert "PROXY protocol: on" in notice_of(answer)
    assert client_connector(run, store).proxy_trusted_networks == ("10.0.0.5/32", "10.0.0.6/32")
