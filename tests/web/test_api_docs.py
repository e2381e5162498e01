"""The API reference at /api/v1/docs: a page served from this server's own files (the server may
have no Internet access), under a Content-Security-Policy without inline script, public like the
OpenAPI document it shows, and showing no data. The browser renders it in
tests/e2e/test_console_api_docs.py."""
from __future__ import annotations

import fnmatch
import hashlib
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from postroom.web import create_app

from .conftest import SERVER
from .test_cross_site import BROWSER_HEADERS, INLINE, csp_of

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "src" / "postroom" / "web"
STATIC = WEB / "static"
OUR_OWN = {"console.css", "console.js", "api-docs.js", "favicon.ico", "VENDORED.md", "swagger-ui/README.md"}
JAVASCRIPT = ("text/javascript", "application/javascript")
NO_DATA = create_app(None, "OTHER", "", None)  # type: ignore[arg-type]  # an app only for its document


class References(HTMLParser):
    """Every URL a page makes the browser load or offer: src and href attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []  # (tag, url)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [(tag, value or "") for name, value in attrs if name in ("src", "href")]


def references(html: str) -> list[tuple[str, str]]:
    parser = References()
    parser.feed(html)
    return parser.urls


def test_the_reference_page_is_served_with_a_policy_that_allows_no_inline_code(api) -> None:
    answer = api.get("/api/v1/docs")  # no credentials: public, like /api/v1/openapi.json
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert '<div id="swagger-ui" data-openapi="/api/v1/openapi.json">' in answer.text
    assert {k: answer.headers.get(k) for k in BROWSER_HEADERS} == BROWSER_HEADERS
    assert answer.headers.get_list("content-security-policy") == [answer.headers["content-security-policy"]]  # one
    csp = csp_of(answer)
    assert csp["default-src"] == "'self'" and csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
    assert csp["img-src"] == "'self' data:"  # Swagger UI's CSS draws its icons from data: URLs; nothing else added
    assert "unsafe" not in answer.headers["content-security-policy"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert INLINE.search(answer.text) is None
    assert answer.headers["cache-control"] == "no-store"


def test_the_page_and_its_files_come_from_this_server_only(api) -> None:
    page = api.get("/api/v1/docs").text
    urls = references(page)
    assert {url for tag, url in urls if tag in ("script", "link") and not url.startswith("/api")} == {
        "/static/swagger-ui/swagger-ui.css", "/static/swagger-ui/swagger-ui-bundle.js", "/static/api-docs.js"}
    for tag, url in urls:  # a path on this origin: no scheme, no other host (not even //host/...)
        assert url.startswith("/") and not url.startswith("//"), (tag, url)
    assert "http://" not in page and "https://" not in page
    for url in ("/static/swagger-ui/swagger-ui-bundle.js", "/static/api-docs.js"):
        answer = api.get(url)
        assert answer.status_code == 200 and answer.headers["content-type"].split(";")[0] in JAVASCRIPT, url
        assert answer.headers["x-content-type-options"] == "nosniff"  # the browser runs it only as what it says
    script = api.get("/static/api-docs.js").text
    assert "SwaggerUIBundle(" in script and "://" not in script  # validatorUrl: null, no external validator
    css = api.get("/static/swagger-ui/swagger-ui.css")
    assert css.status_code == 200 and css.headers["content-type"].split(";")[0] == "text/css"
    assert set(re.findall(r"url\(\s*[\"']?([a-z]+):", css.text)) == {"data"}  # no font or image from elsewhere
    assert "@import" not in css.text


@pytest.mark.parametrize("who", ["nobody", "view-only", "organization-management"])
def test_the_page_and_the_document_follow_the_same_rule_and_show_no_data(api, principals, who: str) -> None:
    """Both public (the document always was): each describes the operations, the same for anyone,
    and names nothing of this install; the operations themselves still need credentials."""
    headers = {} if who == "nobody" else principals[who].bearer
    page, document = api.get("/api/v1/docs", headers=headers), api.get("/api/v1/openapi.json", headers=headers)
    assert (page.status_code, document.status_code) == (200, 200)
    assert page.text == api.get("/api/v1/docs").text and document.json() == api.get("/api/v1/openapi.json").json()
    assert document.json() == NO_DATA.openapi()  # the same as an app with no store and another server's name
    for private in ("spare.example", principals["spare"].token_id):  # a domain and a token of this install
        assert private not in page.text and private not in document.text, private
    assert SERVER not in page.text
    assert api.get("/api/v1/mailboxes").status_code == 401  # what "Try it out" gets without Authorize


def test_the_vendored_files_are_listed_with_their_version_licence_and_checksum() -> None:
    listed = (STATIC / "VENDORED.md").read_text()
    vendored = [p for p in STATIC.rglob("*") if p.is_file() and p.relative_to(STATIC).as_posix() not in OUR_OWN]
    assert {p.name for p in vendored} >= {"swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"}
    for path in vendored:
        assert path.name in listed, f"{path} is not in VENDORED.md"
        assert hashlib.sha256(path.read_bytes()).hexdigest() in listed, f"{path} differs from its published bytes"
    assert "swagger-ui-dist@5.36.0" in listed and "Apache-2.0" in listed
    assert "Apache License" in (STATIC / "swagger-ui" / "LICENSE").read_text()


def test_every_file_the_page_needs_is_in_the_package() -> None:
    """pyproject's package-data must ship the static files (an installed wheel has no source tree)."""
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["postroom"]
    needed = [STATIC / "swagger-ui" / "swagger-ui-bundle.js", STATIC / "swagger-ui" / "swagger-ui.css",
              STATIC / "swagger-ui" / "LICENSE", STATIC / "swagger-ui" / "NOTICE", STATIC / "api-docs.js",
              WEB / "templates" / "api" / "docs.html"]
    for path in needed:
        relative = path.relative_to(WEB.parent).as_posix()
        assert any(fnmatch.fnmatch(relative, p) and relative.count("/") == p.count("/") for p in patterns), relative
