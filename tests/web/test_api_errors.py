"""The API's one error shape for every status, authentication edge cases, CSRF and sessions."""
from __future__ import annotations

import logging
import re
import secrets
from datetime import datetime, timedelta, timezone

import pytest

from postroom.errors import Unavailable
from postroom.model import ApiToken
from postroom.service.admins import TOKEN_PREFIX, hash_secret

from .conftest import MAILBOX_USER, SERVER, Api, basic_auth, error_of

POP = f"/api/v1/servers/{SERVER}/pop-settings"
CHALLENGE = 'Bearer, Basic realm="postroom"'


@pytest.fixture
def org(principals):
    return principals["organization-management"]


# 400 -----------------------------------------------------------------------------------------
def test_a_refused_value_names_the_field_and_the_allowed_values(api, org) -> None:
    error = error_of(api.patch(POP, headers=org.bearer, json={"login_type": "nope"}), 400)
    assert error["code"] == "validation_error"
    assert error["field"] == "login_type"
    assert error["allowed"] == ["plain-text-login", "plain-text-authentication", "secure-login"]
    assert error["message"].startswith("login_type: 'nope' is not allowed")


def test_a_value_the_service_parses_keeps_the_service_message(api, org) -> None:
    error = error_of(api.patch(POP, headers=org.bearer, json={"max_command_size": "huge"}), 400)
    assert error["field"] == "max_command_size"
    assert "40..1024" in error["message"]


def test_an_unknown_field_is_refused_with_the_fields_there_are(api, org, store, run) -> None:
    before = run(store.get_pop_settings(SERVER))
    error = error_of(api.patch(POP, headers=org.bearer, json={"login_type": "plain-text-login", "colour": "red"}), 400)
    assert error["field"] == "colour"
    assert "login_type" in error["allowed"] and "ssl_bindings" in error["allowed"]
    assert run(store.get_pop_settings(SERVER)) == before  # nothing of the request was applied


def test_malformed_json_is_a_400(api, org) -> None:
    response = api.patch(POP, headers={**org.bearer, "Content-Type": "application/json"},
                         content=b'{"login_type": ')
    error = error_of(response, 400)
    assert error["code"] == "validation_error" and error["field"] is None
    assert "not valid JSON" in error["message"]


@pytest.mark.parametrize("path, body, field", [
    ("/api/v1/mailboxes/demo@example.com", {"pop_enabled": [1]}, "pop_enabled"),
    (POP, {"max_connections": {"n": 1}}, "max_connections"),  # a union (int or text): still the field's name
    (POP, {"bindings": [1, 2]}, "bindings"),
    ("/api/v1/mailboxes", {"address": 5, "password": "pw"}, "address"),
])
def test_a_wrong_type_names_the_field(api, org, path: str, body: dict, field: str) -> None:
    method = api.post if path == "/api/v1/mailboxes" else api.patch
    error = error_of(method(path, headers=org.bearer, json=body), 400)
    assert error["field"] == field
    assert error["message"].startswith(f"{field}: ")


def test_a_missing_field_is_named(api, org) -> None:
    error = error_of(api.post("/api/v1/mailboxes", headers=org.bearer, json={"address": "bob@example.com"}), 400)
    assert error["field"] == "password" and error["message"] == "password: is required"


@pytest.mark.parametrize("content", [b"[]", b'"text"', b"null", b""])
def test_a_body_that_is_not_an_object_is_a_400(api, org, content: bytes) -> None:
    response = api.post("/api/v1/domains", headers={**org.bearer, "Content-Type": "application/json"},
                        content=content)
    assert error_of(response, 400)["field"] is None


def test_a_body_that_is_not_json_is_a_400(api, org) -> None:
    response = api.post("/api/v1/domains", headers={**org.bearer, "Content-Type": "text/plain"},
                        content=b'{"name": "example.org"}')
    error_of(response, 400)


def test_a_body_too_large_is_refused_in_the_error_shape(api, org) -> None:
    big = b'{"name": "' + b"a" * (1 << 20) + b'"}'
    declared = api.post("/api/v1/domains", headers={**org.bearer, "Content-Type": "application/json"}, content=big)
    assert "larger than" in error_of(declared, 400)["message"]

    async def chunks():  # no Content-Length: refused once the limit is passed
        for _ in range(3):
            yield b"x" * (1 << 19)
    chunked = api.post("/api/v1/session", headers={"Content-Type": "application/json"}, content=chunks())
    assert "larger than" in error_of(chunked, 400)["message"]


@pytest.mark.parametrize("query, field", [("limit=abc", "limit"), ("limit=0", "limit"), ("channel=fax", "channel"),
                                          ("since=yesterday", "since")])
def test_query_parameters_are_named_when_refused(api, org, query: str, field: str) -> None:
    error = error_of(api.get(f"/api/v1/audit?{query}", headers=org.bearer), 400)
    assert error["field"] == field


@pytest.mark.parametrize("method, path, body, field", [
    ("POST", "/api/v1/mailboxes", b'{"address": "a@example.com", "password": "\\ud800"}', "password"),
    ("POST", "/api/v1/mailboxes", b'{"address": "a@example.com", "password": "pw", "display_name": "x\\udfff"}',
     "display_name"),
    ("POST", "/api/v1/admins/org/tokens", b'{"description": "\\ud800"}', "description"),
    ("PATCH", POP, b'{"bindings": ["127.0.0.1:1110", "\\ud800"]}', "bindings"),
    ("POST", "/api/v1/session", b'{"name": "org", "password": "\\ud800"}', "password"),
], ids=["password", "display-name", "token-description", "list-item", "sign-in"])
def test_text_that_is_not_unicode_is_a_400(api, org, method: str, path: str, body: bytes, field: str) -> None:
    """JSON can escape half a surrogate pair; such text could be neither hashed nor stored."""
    response = api.request(method, path, headers={**org.bearer, "Content-Type": "application/json"}, content=body)
    assert error_of(response, 400)["field"] == field


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/api/v1/mailboxes?offset=100000000000000000000", None),
    ("GET", "/api/v1/mailboxes?limit=100000000000000000000", None),
    ("GET", "/api/v1/message-tracking?since=9999-12-31T23:59:59-05:00", None),
    ("POST", "/api/v1/admins/org/tokens", {"expires": "9999999999d"}),
    ("GET", "/api/v1/audit?since=99999999d", None),
    ("GET", "/api/v1/audit?limit=100000000000000000000000", None),
    ("PATCH", POP, {"max_connections": 10 ** 30}),
    ("PATCH", POP, {"authenticated_timeout": "99999999999999999999999h"}),
    ("POST", "/api/v1/admins/org/tokens", {"expires": "9999-12-31T23:59:59"}),
], ids=["mailbox-offset", "mailbox-limit", "tracking-since-year-9999", "token-expires-huge", "audit-since-huge",
        "audit-limit-huge", "huge-count", "huge-duration", "token-expires-year-9999"])
def test_extreme_values_are_never_a_500(api, org, method: str, path: str, body) -> None:
    response = api.request(method, path, headers=org.bearer, json=body)
    assert response.status_code < 500, response.text


# 401 -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer postroom_nope.nope"},
    {"Authorization": "Bearer "},
    {"Authorization": "Basic !!!not base64"},
    {"Authorization": "Basic " + "bm9jb2xvbg=="},  # "nocolon"
    {"Authorization": "Digest username=org"},
    basic_auth("org", "wrong password"),
    basic_auth("nobody", "org password"),
    basic_auth(*MAILBOX_USER),  # a mailbox is not an admin
], ids=["none", "unknown-token", "empty-bearer", "bad-base64", "no-colon", "other-scheme", "wrong-password",
        "unknown-admin", "mailbox-user"])
def test_no_or_bad_credentials_are_a_401_with_a_challenge(api, headers: dict) -> None:
    response = api.get("/api/v1/mailboxes", headers=headers)
    error = error_of(response, 401)
    assert error["code"] == "unauthenticated"
    assert response.headers["WWW-Authenticate"] == CHALLENGE


def test_credentials_are_checked_before_the_body(api) -> None:
    response = api.patch(POP, headers={"Content-Type": "application/json"}, content=b"{not json")
    error_of(response, 401)


def test_basic_with_admin_credentials_works(api, org) -> None:
    assert api.get("/api/v1/session", headers=org.basic).json()["name"] == "org"


def test_an_expired_token_is_a_401_that_says_so(api, store, run) -> None:
    secret = secrets.token_urlsafe(32)
    past = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat(timespec="microseconds")
    run(store.add_token(ApiToken("expired0001", "org", hash_secret(secret), "old", expires_at=past)))
    expired = {"Authorization": f"Bearer {TOKEN_PREFIX}expired0001.{secret}"}
    error = error_of(api.get("/api/v1/mailboxes", headers=expired), 401)
    assert "expired" in error["message"]


def test_a_token_with_an_expiry_works_until_then(api, org) -> None:
    created = api.post("/api/v1/admins/org/tokens", headers=org.bearer, json={"expires": "1h", "description": "ci"})
    assert created.status_code == 201, created.text
    token = created.json()
    assert token["token"].startswith(TOKEN_PREFIX) and token["expires_at"]
    assert api.get("/api/v1/tokens", headers={"Authorization": f"Bearer {token['token']}"}).status_code == 200
    assert created.headers["Cache-Control"] == "no-store"  # the secret must not stay in any cache
    listed = api.get("/api/v1/admins/org/tokens", headers=org.bearer).json()
    assert all("token" not in t and "secret_hash" not in t for t in listed)  # shown once, never again


def test_a_revoked_token_is_refused_at_once(api, principals) -> None:
    viewer = principals["view-only"]
    assert api.get("/api/v1/domains", headers=viewer.bearer).status_code == 200
    revoked = api.delete(f"/api/v1/tokens/{viewer.token_id}", headers=viewer.bearer)  # its own token
    assert revoked.status_code == 200 and revoked.json()["id"] == viewer.token_id
    error_of(api.get("/api/v1/domains", headers=viewer.bearer), 401)


def test_a_removed_admin_loses_access(api, principals) -> None:
    org, viewer = principals["organization-management"], principals["view-only"]
    assert api.delete("/api/v1/admins/viewer", headers=org.bearer).json()["tokens_revoked"] == 1
    error_of(api.get("/api/v1/domains", headers=viewer.bearer), 401)
    error_of(api.get("/api/v1/domains", headers=viewer.basic), 401)


# 403, 404, 405, 409 ----------------------------------------------------------------------------
def test_a_role_that_may_not_act_is_a_403(api, principals) -> None:
    error = error_of(api.patch(POP, headers=principals["view-only"].bearer, json={"banner": "hi"}), 403)
    assert error["code"] == "forbidden" and "viewer" in error["message"]


@pytest.mark.parametrize("path", ["/api/v1/mailboxes/nobody@example.com", "/api/v1/servers/EX99/receive-connectors",
                                  f"/api/v1/servers/{SERVER}/receive-connectors/Nope", "/api/v1/admins/nobody"])
def test_a_missing_object_is_a_404(api, org, path: str) -> None:
    assert error_of(api.get(path, headers=org.bearer), 404)["code"] == "not_found"


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/mailboxes/", "/nope", "/api/v2/mailboxes"])
def test_an_unknown_path_is_a_404_in_the_error_shape(api, org, path: str) -> None:
    assert error_of(api.get(path, headers=org.bearer), 404)["code"] == "not_found"


def test_a_wrong_method_is_a_405_naming_the_methods_there_are(api, org) -> None:
    response = api.request("PUT", "/api/v1/mailboxes", headers=org.bearer, json={})
    error = error_of(response, 405)
    assert error["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "GET, POST"


@pytest.mark.parametrize("path, body", [
    ("/api/v1/domains", {"name": "example.com"}),
    ("/api/v1/mailboxes", {"address": MAILBOX_USER[0], "password": "pw"}),
    ("/api/v1/admins", {"name": "viewer", "password": "pw", "roles": "view-only"}),
    (f"/api/v1/servers/{SERVER}/receive-connectors", {"name": f"client {SERVER}", "usage": "client",
                                                       "bindings": "127.0.0.1:2999"}),
])
def test_a_clash_is_a_409(api, org, path: str, body: dict) -> None:
    assert error_of(api.post(path, headers=org.bearer, json=body), 409)["code"] == "conflict"


# 503, 500 -------------------------------------------------------------------------------------
def test_an_unavailable_store_is_a_503(api, org, store, monkeypatch) -> None:
    async def locked() -> list[str]:
        raise Unavailable("the store is unavailable, try again later: database is locked")
    monkeypatch.setattr(store, "list_domains", locked)
    error = error_of(api.get("/api/v1/domains", headers=org.bearer), 503)
    assert error["code"] == "unavailable" and "try again" in error["message"]


def test_an_unexpected_failure_is_a_500_with_a_ref_and_nothing_else(api, org, store, monkeypatch, caplog) -> None:
    async def broken() -> list[str]:
        raise RuntimeError("secret detail from deep inside")
    monkeypatch.setattr(store, "list_domains", broken)
    with caplog.at_level(logging.ERROR, logger="postroom.admin"):
        response = api.get("/api/v1/domains", headers=org.bearer)
    error = error_of(response, 500)
    assert error["code"] == "internal_error"
    ref = re.fullmatch(r"internal error, ref ([0-9a-f]{32})", error["message"]).group(1)
    assert ref == response.headers["X-Request-Id"]  # the ref is the request id
    assert "secret" not in response.text and "RuntimeError" not in response.text
    logged = [r for r in caplog.records if r.name == "postroom.admin" and ref in r.getMessage()]
    assert logged and logged[0].exc_info and "secret detail" in str(logged[0].exc_info[1])


# console sessions and CSRF ---------------------------------------------------------------------
def sign_in(api: Api, name: str, password: str) -> tuple[str, str]:
    response = api.post("/api/v1/session", json={"name": name, "password": password})
    assert response.status_code == 201, response.text
    return response.cookies["postroom_session"], response.json()["csrf_token"]


def test_sign_in_sets_a_strict_http_only_cookie(api, org) -> None:
    response = api.post("/api/v1/session", json={"name": "ORG", "password": org.password})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "org" and body["roles"] == ["organization-management"]
    assert body["csrf_token"] and body["expires_at"]
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("postroom_session=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP (loopback only)
    assert response.headers["Cache-Control"] == "no-store"


def test_the_cookie_is_secure_over_https(app, run, org) -> None:
    api = Api(app, run, scheme="https")
    response = api.post("/api/v1/session", json={"name": "org", "password": org.password})
    assert "Secure" in response.headers["set-cookie"]
    run(api.client.aclose())


@pytest.mark.parametrize("credentials", [("org", "wrong"), MAILBOX_USER, ("", "")])
def test_sign_in_with_bad_credentials_is_a_401(api, credentials) -> None:
    response = api.post("/api/v1/session", json={"name": credentials[0], "password": credentials[1]})
    error_of(response, 401)
    assert "set-cookie" not in response.headers


def test_a_session_reads_without_csrf_but_changes_only_with_it(api, org, store, run) -> None:
    cookie, csrf = sign_in(api, "org", org.password)
    api.client.cookies.set("postroom_session", cookie)
    who = api.get("/api/v1/session")
    assert who.status_code == 200 and who.json()["csrf_token"] == csrf
    assert api.get(POP).status_code == 200

    before = run(store.get_pop_settings(SERVER))
    for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": "é".encode("latin-1")}):
        error = error_of(api.patch(POP, headers=headers, json={"banner": "hello"}), 403)
        assert "X-CSRF-Token" in error["message"]
    assert run(store.get_pop_settings(SERVER)) == before

    changed = api.patch(POP, headers={"X-CSRF-Token": csrf}, json={"banner": "hello"})
    assert changed.status_code == 200 and changed.json()["banner"] == "hello"
    entry = run(store.list_audit(1))[0]
    assert (entry.actor, entry.action, entry.channel) == ("org", "pop.set", "console")


def test_an_authorization_header_wins_over_the_cookie(api, principals) -> None:
    cookie, _ = sign_in(api, "org", principals["organization-management"].password)
    api.client.cookies.set("postroom_session", cookie)
    who = api.get("/api/v1/session", headers=principals["view-only"].bearer).json()
    assert who == {"name": "viewer", "roles": ["view-only"], "csrf_token": None, "expires_at": None}


def test_sign_out_ends_the_session(api, org) -> None:
    cookie, csrf = sign_in(api, "org", org.password)
    api.client.cookies.set("postroom_session", cookie)
    error_of(api.delete("/api/v1/session"), 403)  # signing out is a change: it needs the CSRF token too
    response = api.delete("/api/v1/session", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200 and response.json() == {"name": "org", "signed_out": True}
    assert 'postroom_session=""' in response.headers["set-cookie"] and "Max-Age=0" in response.headers["set-cookie"]
    api.client.cookies.set("postroom_session", cookie)  # a client that kept the old cookie
    error_of(api.get("/api/v1/session"), 401)


def test_an_expired_session_is_a_401(api, org, store, run) -> None:
    cookie, _ = sign_in(api, "org", org.password)
    past = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat(timespec="microseconds")
    run(store.extend_session(hash_secret(cookie), past))
    api.client.cookies.set("postroom_session", cookie)
    assert "expired" in error_of(api.get("/api/v1/session"), 401)["message"]


def test_send_as_through_the_api_is_checked_role_checked_and_audited(api, principals, store, run) -> None:
    address = MAILBOX_USER[0]
    path = f"/api/v1/mailboxes/{address}"
    org, viewer = principals["organization-management"], principals["view-only"]
    error = error_of(api.patch(path, headers=org.bearer, json={"send_as": ["ok@example.com", "*@-bad-"]}), 400)
    assert error["field"] == "send_as" and "domain name" in error["message"]
    error_of(api.patch(path, headers=viewer.bearer, json={"send_as": ["ceo@example.com"]}), 403)
    assert run(store.find_mailbox(address)).send_as == ()
    answer = api.patch(path, headers=org.bearer, json={"send_as": "a@example.com, *@apps.example"})
    assert answer.status_code == 200 and answer.json()["send_as"] == ["a@example.com", "*@apps.example"]
    assert api.get(path, headers=viewer.bearer).json()["send_as"] == ["a@example.com", "*@apps.example"]
    [entry] = [e for e in run(store.list_audit(limit=5)) if e.action == "mailbox.set" and e.outcome == "success"]
    assert (entry.before["send_as"], entry.after["send_as"]) == ([], ["a@example.com", "*@apps.example"])
