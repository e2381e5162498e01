"""The REST API for sending mail out: a smart-host password goes in and never comes back (not
in the answer, a later GET, the audit log or the OpenAPI examples' answers), and refusals use
the one error shape naming the field."""
from __future__ import annotations

from .conftest import SERVER, error_of

PASSWORD = "api relay password 9"
RELAY = {"name": "Relay", "address_spaces": ["partner.example"], "dns_routing": False,
         "smart_hosts": ["relay.example.net:587"], "smart_host_auth": "basic", "auth_username": "app",
         "auth_password": PASSWORD, "require_tls": True}


def test_the_password_goes_in_and_never_comes_back(api, principals, run, store) -> None:
    org = principals["organization-management"].basic
    created = api.post("/api/v1/send-connectors", headers=org, json=RELAY)
    assert created.status_code == 201 and created.json()["auth_password"] == "********"
    for answer in (created, api.get("/api/v1/send-connectors/relay", headers=org),
                   api.get("/api/v1/send-connectors", headers=org), api.get("/api/v1/audit", headers=org)):
        assert PASSWORD not in answer.text and "aesgcm:" not in answer.text
    stored = run(store.get_send_connector("Relay"))
    assert stored.auth_password.startswith("aesgcm:v1:") and PASSWORD not in stored.auth_password
    # "" removes it (once basic authentication no longer needs it); null leaves it as it is
    kept = api.patch("/api/v1/send-connectors/Relay", headers=org, json={"auth_password": None, "port": 2525})
    assert kept.status_code == 200 and run(store.get_send_connector("Relay")).auth_password == stored.auth_password
    refused = api.patch("/api/v1/send-connectors/Relay", headers=org, json={"auth_password": ""})
    assert error_of(refused, 400)["field"] == "auth_password"
    cleared = api.patch("/api/v1/send-connectors/Relay", headers=org,
                        json={"auth_password": "", "smart_host_auth": "none"})
    assert cleared.json()["auth_password"] is None and run(store.get_send_connector("Relay")).auth_password is None


def test_refusals_use_the_error_shape(api, principals) -> None:
    org = principals["organization-management"].basic
    error = error_of(api.post("/api/v1/send-connectors", headers=org,
                              json={"name": "X", "address_spaces": "*", "smart_hosts": "relay.example.net"}), 400)
    assert error["field"] == "smart_hosts" and "DNS routing" in error["message"]
    error = error_of(api.post("/api/v1/send-connectors", headers=org, json={"name": "X", "colour": "blue"}), 400)
    assert "colour" in str(error)
    assert error_of(api.get("/api/v1/send-connectors/Nope", headers=org), 404)
    assert error_of(api.patch(f"/api/v1/servers/{SERVER}/transport", headers=org,
                              json={"message_expiration_timeout": "91d"}), 400)["field"] == \
        "message_expiration_timeout"
    view = principals["view-only"].basic
    assert error_of(api.delete("/api/v1/send-connectors/Spare", headers=view), 403)


def test_the_document_describes_both(api) -> None:
    document = api.get("/api/v1/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert "auth_password" in schemas["NewSendConnector"]["properties"]
    assert "auth_password" in schemas["SendConnectorView"]["properties"]
    assert "message_expiration_timeout" in schemas["TransportSettingsView"]["properties"]
    assert {"get", "post"} <= set(document["paths"]["/api/v1/send-connectors"])
    assert {"get", "patch"} <= set(document["paths"]["/api/v1/servers/{server}/transport"])
