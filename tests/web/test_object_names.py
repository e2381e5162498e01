"""Names over the REST API and in the console, as on the CLI (the service layer decides once):
a short name or a unique start of a name is enough, several matches are a 400 listing them, an
unknown name a 404 listing the names that exist, and service names take any case."""
from __future__ import annotations

from urllib.parse import quote

from queue_support import OTHER, PARTNER

from .conftest import SERVER, error_of
from .test_console_pages_ops import console  # noqa: F401 (fixture)

C = f"/api/v1/servers/{SERVER}"


def test_a_short_name_or_a_start_of_one_finds_the_connector(api, principals) -> None:
    who = principals["server-management"].bearer
    changed = api.patch(f"{C}/receive-connectors/Client", headers=who, json={"enabled": False})
    assert changed.status_code == 200 and changed.json()["name"] == f"Client {SERVER}"
    assert changed.json()["enabled"] is False
    shown = api.get(f"{C}/receive-connectors/{quote('default ex')}", headers=who)
    assert shown.status_code == 200 and shown.json()["name"] == f"Default {SERVER}"


def test_a_start_of_two_names_is_a_400_listing_them(api, principals, run, store) -> None:
    who = principals["server-management"].bearer
    assert api.post(f"{C}/receive-connectors", headers=who, json={
        "name": "Client relay", "usage": "custom", "bindings": "127.0.0.1:2600"}).status_code == 201
    error = error_of(api.patch(f"{C}/receive-connectors/Cli", headers=who, json={"enabled": False}), 400)
    assert (error["code"], error["field"], error["allowed"]) == ("validation_error", "name",
                                                                 [f"Client {SERVER}", "Client relay"])
    assert error["message"] == (f"name: 'Cli' matches more than one receive connector on server {SERVER}: give "
                                f"more of the name (allowed: Client {SERVER}, Client relay)")
    assert all(c.enabled for c in run(store.list_connectors(SERVER)))


def test_an_unknown_name_is_a_404_listing_the_names_there_are(api, principals) -> None:
    who = principals["view-only"].bearer
    error = error_of(api.get(f"{C}/receive-connectors/Clinet", headers=who), 404)
    assert (error["code"], error["field"], error["allowed"]) == ("not_found", None,
                                                                 [f"Client {SERVER}", f"Default {SERVER}"])
    assert error["message"] == (f"receive connector 'Clinet' does not exist on server {SERVER} "
                                f"(existing: 'Client {SERVER}', 'Default {SERVER}')")
    error = error_of(api.get("/api/v1/send-connectors/Internet", headers=who), 404)
    assert error["allowed"] == ["Spare"]
    assert api.get("/api/v1/send-connectors/sp", headers=who).json()["name"] == "Spare"


def test_a_queue_by_its_next_hop_and_an_unknown_one_lists_the_queues(api, principals) -> None:
    who = principals["server-management"].bearer
    answer = api.post("/api/v1/queues/partner.example/suspend", headers=who)
    assert answer.status_code == 200 and answer.json()["name"] == PARTNER.name
    error = error_of(api.post("/api/v1/queues/parnter.example/retry", headers=who), 404)
    assert error["allowed"] == [OTHER.name, PARTNER.name]


def test_service_names_take_any_case(api, principals) -> None:
    who = principals["server-management"].bearer
    answer = api.post(f"{C}/services/POP3/stop", headers=who)
    assert answer.status_code == 200 and (answer.json()["name"], answer.json()["status"]) == ("pop3", "stopped")
    answer = api.patch(f"{C}/services/Smtp", headers=who, json={"startup": "manual"})
    assert answer.status_code == 200 and answer.json()["startup"] == "manual"
    error = error_of(api.post(f"{C}/services/pop4/start", headers=who), 400)
    assert (error["field"], error["allowed"]) == ("service", ["pop3", "imap4", "smtp", "admin"])


def test_the_console_finds_a_connector_by_its_short_name(console) -> None:  # noqa: F811 (fixture)
    client = console("server-management")
    page = client.get(f"/console/servers/{SERVER}/connectors/Client")
    assert page.status_code == 200 and f"Client {SERVER}" in page.text
    # the form on that page saves the connector under its whole name
    assert f'action="/console/servers/{SERVER}/connectors/Client%20{SERVER}' in page.text
    missing = client.get(f"/console/servers/{SERVER}/connectors/Clinet")
    assert missing.status_code == 404 and f"'Client {SERVER}', 'Default {SERVER}'" in missing.text.replace(
        "&#39;", "'")
