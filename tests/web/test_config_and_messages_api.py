"""GET /api/v1/config (postconf, postconf -n) and a mailbox's messages over the API (doveadm
fetch / expunge): status codes, the one JSON error shape, the octets, audit; and the console's
Configuration page."""
from __future__ import annotations

from html import unescape

import pytest

from .conftest import ROLE_GROUPS, SERVER, error_of
from .test_console_pages_ops import console  # noqa: F401 (fixture)

ADDRESS = "demo@example.com"
M = f"/api/v1/mailboxes/{ADDRESS}/messages"
PASSWORD = "api-relay-secret-42"
STORED = b"From: App <app@example.net>\r\nSubject: api export\r\n\r\n.dot line\r\n\xff\xfe 8-bit\r\n"


def delivered(run, store, data: bytes = STORED) -> int:
    return run(store.deliver(run(store.get_mailbox(ADDRESS)).id, data)).id


# the configuration ---------------------------------------------------------------------------
@pytest.mark.parametrize("role", ROLE_GROUPS)
def test_every_role_reads_the_configuration_unaudited(api, principals, run, store, role):
    before = run(store.list_audit(1000))
    whole = api.get("/api/v1/config", headers=principals[role].bearer)
    assert whole.status_code == 200
    assert list(whole.json()) == ["organization", "servers"] and list(whole.json()["servers"]) == [SERVER]
    changed = api.get("/api/v1/config?changed=true", headers=principals[role].bearer).json()
    assert changed["servers"][SERVER]["pop"]["bindings"] == ["127.0.0.1:1110"]
    assert "login_type" not in changed["servers"][SERVER]["pop"]
    assert run(store.list_audit(1000)) == before


def test_config_after_a_change_with_a_password_and_an_unknown_server(api, principals):
    org = principals["organization-management"].bearer
    assert api.patch(f"/api/v1/servers/{SERVER}/pop-settings", headers=org,
                     json={"login_type": "plain-text-login"}).status_code == 200
    assert api.patch("/api/v1/send-connectors/Spare", headers=org, json={
        "dns_routing": False, "smart_hosts": ["relay.example.net"], "smart_host_auth": "basic",
        "auth_username": "app", "auth_password": PASSWORD}).status_code == 200
    changed = api.get("/api/v1/config?changed=true&server=all", headers=org)
    assert changed.json()["servers"][SERVER]["pop"]["login_type"] == "plain-text-login"
    assert changed.json()["organization"]["send_connectors"]["Spare"]["auth_password"] == "********"
    assert PASSWORD not in changed.text and PASSWORD not in api.get("/api/v1/config", headers=org).text
    error = error_of(api.get("/api/v1/config?server=EX09", headers=org), 404)
    assert error["message"] == "server 'EX09' does not exist"
    assert error_of(api.get("/api/v1/config?changed=maybe", headers=org), 400)["field"] == "changed"


def test_the_console_shows_the_document(console):  # noqa: F811 (fixture)
    page = console("view-only").get("/console/configuration?changed=1")
    assert page.status_code == 200
    text = unescape(page.text)
    assert "Configuration: what differs from the defaults" in text
    assert '        - "127.0.0.1:1110"' in text and "# default: 0.0.0.0:110, [::]:110" in text
    whole = unescape(console("view-only").get("/console/configuration").text)
    assert "max_command_size: 512" in whole


# a mailbox's messages ------------------------------------------------------------------------
def test_list_fetch_and_delete(api, principals, run, store):
    number = delivered(run, store)
    who = principals["recipient-management"].bearer
    listed = api.get(M, headers=who)
    assert listed.status_code == 200
    entry = listed.json()["items"][-1]
    assert (entry["id"], entry["size"], entry["subject"], entry["from"]) == (
        number, len(STORED), "api export", "App <app@example.net>")
    fetched = api.get(f"{M}/{number}", headers=who)
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "message/rfc822"
    assert fetched.content == STORED
    deleted = api.delete(f"{M}/{number}", headers=who)
    assert deleted.status_code == 200 and (deleted.json()["id"], deleted.json()["deleted"]) == (number, True)
    actions = [(e.action, e.actor, e.channel) for e in run(store.list_audit(5))][:3]
    name = principals["recipient-management"].name
    assert actions == [("mailbox.message.delete", name, "api"), ("mailbox.message.fetch", name, "api"),
                       ("mailbox.messages", name, "api")]
    gone = error_of(api.get(f"{M}/{number}", headers=who), 404)
    assert gone["message"] == f"mailbox {ADDRESS} has no message {number} (`postroom mailbox messages {ADDRESS}` " \
                              "lists them)"


def test_errors_keep_the_json_shape(api, principals, run, store):
    who = principals["organization-management"].bearer
    assert error_of(api.get("/api/v1/mailboxes/nobody@example.com/messages", headers=who), 404)["message"] == \
        "mailbox 'nobody@example.com' does not exist"
    assert error_of(api.get(f"{M}/abc", headers=who), 400)["field"] == "message_id"
    assert error_of(api.delete(f"{M}/0", headers=who), 400)["field"] == "message_id"
    assert error_of(api.get(f"{M}?limit=0", headers=who), 400)["field"] == "limit"
    refused = error_of(api.get(M, headers=principals["view-only"].bearer), 403)
    assert "recipient-management" in refused["message"]
    number = delivered(run, store)
    box = run(store.get_mailbox(ADDRESS)).id
    assert run(store.try_lock_mailbox(box, "pop3-session"))  # the node's own POP3 session
    busy = error_of(api.delete(f"{M}/{number}", headers=who), 409)
    assert busy["message"].startswith(f"mailbox {ADDRESS} is in use by a POP3 session")
    run(store.unlock_mailbox(box, "pop3-session"))
    assert api.delete(f"{M}/{number}", headers=who).status_code == 200
