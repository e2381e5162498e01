"""The API reference (/api/v1/docs) in a real browser, on a real node: Swagger UI renders every
operation of the OpenAPI document from this server's own files (no request leaves the origin, and
the page's Content-Security-Policy refuses nothing: the `page` fixture fails on any refusal or
script error), and "Try it out" follows the API's rules: 401 until Authorize, then the answer."""
from __future__ import annotations

import pytest

from .console_browser import browser_fixture, console_url, node_fixture, page_fixture, screenshot  # noqa: F401

pytestmark = pytest.mark.e2e

OPERATIONS = """() => [...document.querySelectorAll('.opblock')].map(block =>
    block.querySelector('.opblock-summary-method').textContent.trim() + ' ' +
    block.querySelector('.opblock-summary-path').dataset.path)"""


def open_reference(page, node) -> list[str]:
    """Open /api/v1/docs; the URLs of every request the page made."""
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto("/api/v1/docs")
    page.locator(".opblock").first.wait_for()
    return requests


def test_the_reference_lists_every_operation_from_this_server_alone(page, node) -> None:
    requests = open_reference(page, node)
    document = page.request.get("/api/v1/openapi.json").json()  # public, as the page is
    expected = {f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item}
    assert set(page.evaluate(OPERATIONS)) == expected
    assert page.locator(".info .title").inner_text().startswith("postroom admin API")
    own = console_url(node)
    assert f"{own}/api/v1/openapi.json" in requests and f"{own}/static/swagger-ui/swagger-ui-bundle.js" in requests
    assert [url for url in requests if not url.startswith((own + "/", "data:"))] == []
    screenshot(page, "api-docs")


def test_try_it_out_needs_credentials_like_any_api_call(page, node) -> None:
    open_reference(page, node)
    operation = page.locator("#operations-mailboxes-list_mailboxes")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()

    def execute() -> str:
        from playwright.sync_api import expect

        with page.expect_response(lambda r: r.url.split("?")[0].endswith("/api/v1/mailboxes")) as answer:
            operation.locator("button.execute").click()
        assert answer.value.request.headers.get("origin") in (None, console_url(node))
        # The page shows the answer a moment after it arrives: wait for the table to show this
        # one (read at once, it can still show the previous answer's status).
        status = str(answer.value.status)
        expect(operation.locator(".live-responses-table tbody .response-col_status")).to_have_text(status)
        return status

    assert execute() == "401"
    page.locator("button.authorize").first.click()
    basic = page.locator(".modal-ux .auth-container").filter(has_text="basic")
    basic.locator("input[type=text]").fill("admin")
    basic.locator("input[type=password]").fill(node.admin_password)
    basic.locator("button.authorize").click()
    page.locator(".modal-ux button.close-modal").click()
    assert execute() == "200"
    assert "demo@example.com" in operation.locator(".live-responses-table tbody .response-col_description").inner_text()
    screenshot(page, "api-docs-try-it-out")
