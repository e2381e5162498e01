"""Another site's page may not change anything through a browser's console session (login CSRF
included), and every page tells the browser how it may be shown (CSP, framing, Referer).

Through the ASGI app (tests/web/conftest.py): the app answers at http://testserver, so that is
the console's own origin here.
"""
from __future__ import annotations

import re

import pytest

from .conftest import SERVER, Api, basic_auth, error_of
from .test_console_pages_ops import PAGES, console, csrf  # noqa: F401 (console: a fixture)

OWN = "http://testserver"
CROSS_SITE = [{"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
              {"Origin": "http://testserver:8080"},  # another port
              {"Origin": "http://testserver.evil.example"}, {"Origin": OWN, "Sec-Fetch-Site": "cross-site"}]
SAME_SITE = [{}, {"Origin": OWN}, {"Origin": "http://TestServer:80"},
             {"Origin": "https://testserver"},  # a reverse proxy that ends TLS: same host, plain HTTP behind it
             {"Origin": OWN, "Sec-Fetch-Site": "same-origin"},
             {"Sec-Fetch-Site": "none"}]  # none: typed by the user; no header at all: curl, old browsers
REFUSED = "another site may not change anything here"


def sign_in_form(api: Api, principals, headers: dict[str, str]):
    org = principals["organization-management"]
    return api.post("/console/sign-in", data={"name": org.name, "password": org.password, "next": "/console/"},
                    headers=headers)


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_a_sign_in_posted_from_another_site_is_refused_and_sets_no_cookie(api, principals, headers):
    answer = sign_in_form(api, principals, headers)
    assert answer.status_code == 403, answer.text[:500]
    assert answer.headers["content-type"].startswith("text/html")  # the console's error page
    assert REFUSED in answer.text
    assert "set-cookie" not in answer.headers and not api.client.cookies
    assert api.get("/console/").status_code == 303  # still signed out


@pytest.mark.parametrize("headers", SAME_SITE)
def test_a_sign_in_from_the_console_itself_or_without_origin_works(api, principals, headers):
    answer = sign_in_form(api, principals, headers)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/", answer.text[:500]
    assert "postroom_session=" in answer.headers["set-cookie"]
    assert api.get("/console/").status_code == 200


@pytest.mark.parametrize("headers", CROSS_SITE[:3])
def test_a_signed_in_change_from_another_site_is_refused_even_with_the_csrf_token(console, run, store, headers):
    client = console("organization-management")
    token = csrf(client, "/console/domains")
    answer = client.post("/console/domains", data={"name": "new.example", "csrf_token": token}, headers=headers)
    assert answer.status_code == 403 and REFUSED in answer.text
    assert "new.example" not in run(store.list_domains())
    answer = client.post("/console/sign-out", data={"csrf_token": token}, headers=headers)
    assert answer.status_code == 403
    assert client.get("/console/").status_code == 200  # still signed in
    # the same form from the console itself goes through
    answer = client.post("/console/domains", data={"name": "new.example", "csrf_token": token},
                         headers={"Origin": OWN, "Sec-Fetch-Site": "same-origin"})
    assert answer.status_code == 303 and "new.example" in run(store.list_domains())


def test_reading_a_page_with_a_foreign_origin_is_not_a_change(console):
    client = console("view-only")
    assert client.get("/console/domains", headers={"Origin": "https://evil.example",
                                                   "Sec-Fetch-Site": "cross-site"}).status_code == 200


# the REST API: a cookie session is a browser's; Basic and bearer callers are not -------------------
@pytest.mark.parametrize("headers", CROSS_SITE[:3])
def test_an_api_sign_in_from_another_site_is_refused(api, principals, headers):
    org = principals["organization-management"]
    answer = api.post("/api/v1/session", json={"name": org.name, "password": org.password}, headers=headers)
    error = error_of(answer, 403)
    assert REFUSED in error["message"] and error["code"] == "forbidden"
    assert "set-cookie" not in answer.headers


def test_a_cookie_session_change_from_another_site_is_refused_with_the_csrf_token(api, principals, run, store):
    org = principals["organization-management"]
    signed = api.post("/api/v1/session", json={"name": org.name, "password": org.password}, headers={"Origin": OWN})
    assert signed.status_code == 201, signed.text
    token = {"X-CSRF-Token": signed.json()["csrf_token"]}
    evil = {**token, "Origin": "https://evil.example"}
    assert error_of(api.post("/api/v1/domains", json={"name": "new.example"}, headers=evil), 403)
    assert error_of(api.delete("/api/v1/session", headers={**token, "Sec-Fetch-Site": "cross-site"}), 403)
    assert "new.example" not in run(store.list_domains())
    assert api.get("/api/v1/session", headers={"Origin": "https://evil.example"}).status_code == 200  # a read
    assert api.post("/api/v1/domains", json={"name": "new.example"}, headers={**token,
                                                                              "Origin": OWN}).status_code == 201
    assert api.delete("/api/v1/session", headers=token).status_code == 200  # no Origin: allowed


@pytest.mark.parametrize("how", ["basic", "bearer"])
def test_basic_and_bearer_callers_are_left_alone(api, principals, run, store, how):
    org = principals["organization-management"]
    auth = basic_auth(org.name, org.password) if how == "basic" else org.bearer
    answer = api.post("/api/v1/domains", json={"name": "new.example"},
                      headers={**auth, "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert answer.status_code == 201, answer.text
    assert "new.example" in run(store.list_domains())


# what every page tells the browser ----------------------------------------------------------------
BROWSER_HEADERS = {"x-frame-options": "DENY", "x-content-type-options": "nosniff", "referrer-policy": "same-origin"}
INLINE = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=|javascript:", re.I)


def csp_of(answer) -> dict[str, str]:
    policy = answer.headers["content-security-policy"]
    return {d.split()[0]: " ".join(d.split()[1:]) for d in policy.split(";") if d.strip()}


@pytest.mark.parametrize("url", ["/console/sign-in", *PAGES, "/console/mailboxes", "/console/mailboxes/new",
                                 f"/console/servers/{SERVER}/pop3", f"/console/servers/{SERVER}/connectors"])
def test_every_console_page_has_the_browser_headers_and_nothing_inline(console, url):
    answer = console("organization-management").get(url)
    assert answer.status_code == 200, (url, answer.status_code)
    assert {k: answer.headers.get(k) for k in BROWSER_HEADERS} == BROWSER_HEADERS
    csp = csp_of(answer)
    assert csp["default-src"] == "'self'" and csp["frame-ancestors"] == "'none'" and csp["form-action"] == "'self'"
    assert csp["base-uri"] == "'self'" and csp["object-src"] == "'none'"
    assert "unsafe-inline" not in answer.headers["content-security-policy"]
    assert "unsafe-eval" not in answer.headers["content-security-policy"]
    found = INLINE.search(answer.text)
    assert found is None, f"{url}: inline script or style the CSP would refuse: {answer.text[found.start():][:120]}"


def test_error_pages_and_api_answers_carry_them_too(api, console):
    for answer in (api.get("/api/v1/session"), console("view-only").get("/console/mailboxes/nobody@example.com")):
        assert answer.status_code in (401, 404)
        assert answer.headers["x-frame-options"] == "DENY" and csp_of(answer)["frame-ancestors"] == "'none'"
