"""REST: GET/PATCH /api/v1/servers/{server}/imap-settings (Exchange: Get-/Set-ImapSettings) and a
mailbox's imap_enabled (Set-CASMailbox -ImapEnabled): answers, the one error shape, audit."""
from __future__ import annotations

from .conftest import SERVER, error_of

IMAP = f"/api/v1/servers/{SERVER}/imap-settings"


def test_get_and_patch_imap_settings(api, principals, run, store) -> None:
    org = principals["organization-management"].bearer
    shown = api.get(IMAP, headers=principals["view-only"].bearer).json()
    assert (shown["server"], shown["bindings"], shown["max_command_size"]) == (SERVER, ["127.0.0.1:1143"], 10240)
    answer = api.patch(IMAP, headers=org, json={"login_type": "plain-text-login", "authenticated_timeout": "10m",
                                                "ssl_bindings": ["127.0.0.1:1993", "[::1]:1993"]})
    assert answer.status_code == 200
    assert (answer.json()["login_type"], answer.json()["authenticated_timeout"]) == ("plain-text-login", 600)
    assert api.get(IMAP, headers=org).json() == answer.json()
    stored = run(store.get_imap_settings(SERVER))
    assert stored.ssl_bindings == ("127.0.0.1:1993", "[::1]:1993")
    entry = run(store.list_audit(1))[0]
    assert (entry.action, entry.channel, entry.after) == ("imap.set", "api", {
        "login_type": "plain-text-login", "ssl_bindings": ["127.0.0.1:1993", "[::1]:1993"],
        "authenticated_timeout": 600})


def test_refusals_name_the_field_and_change_nothing(api, principals, run, store) -> None:
    org = principals["organization-management"].bearer
    before = run(store.get_imap_settings(SERVER))
    error = error_of(api.patch(IMAP, headers=org, json={"max_command_size": 100000}), 400)
    assert error["field"] == "max_command_size" and "1024..16384" in error["message"]
    error = error_of(api.patch(IMAP, headers=org, json={"bindings": ["127.0.0.1:1110"]}), 400)
    assert error["field"] == "bindings" and "a POP3 binding" in error["message"]
    error_of(api.patch(IMAP, headers=org, json={"sort_order": "descending"}), 400)  # POP3's, not IMAP4's
    error_of(api.patch(IMAP, headers=principals["view-only"].bearer, json={"banner": "x"}), 403)
    error_of(api.get("/api/v1/servers/EX09/imap-settings", headers=org), 404)
    assert run(store.get_imap_settings(SERVER)) == before


def test_a_mailbox_s_imap4_feature(api, principals, run, store) -> None:
    org = principals["organization-management"].bearer
    made = api.post("/api/v1/mailboxes", headers=org, json={"address": "app@example.com", "password": "pw-app-1",
                                                             "imap_enabled": False})
    assert made.status_code == 201 and (made.json()["imap_enabled"], made.json()["pop_enabled"]) == (False, True)
    assert not run(store.get_mailbox("app@example.com")).imap_enabled
    answer = api.patch("/api/v1/mailboxes/app@example.com", headers=org, json={"imap_enabled": True})
    assert answer.status_code == 200 and answer.json()["imap_enabled"] is True
    assert api.get("/api/v1/mailboxes/app@example.com", headers=org).json()["imap_enabled"] is True
    listed = api.get("/api/v1/mailboxes", headers=org).json()["items"]
    assert all("imap_enabled" in m for m in listed)
    error = error_of(api.patch("/api/v1/mailboxes/app@example.com", headers=org, json={"imap_enabled": "maybe"}), 400)
    assert error["field"] == "imap_enabled"
