"""The web console in a real browser: Playwright's sync API driving Debian's Chromium.

Fixtures (bring them into a test module with
`from .console_browser import browser_fixture, node_fixture, page_fixture  # noqa: F401`):
- `browser`: one headless Chromium per test module, started from /usr/bin/chromium (Playwright
  never downloads a browser here; scripts/test-deps.sh installs Debian's `chromium`). Per module,
  not per session: each importing module gets its own copy of the fixture, and Playwright's sync
  API allows one running instance at a time, which module scope guarantees.
- `node`: a fresh served postroom (harness.Postroom) per test; its admin service answers plain
  HTTP on 127.0.0.1:`node.http_port`, and `node.admin_password` is the dev admin's password.
- `page`: a page in a fresh browser context per test, whose relative URLs go to `node`'s
  console. A JavaScript error on any page fails the test, and so does anything the page's
  Content-Security-Policy refuses (an inline script or style, eval).

Helpers: `sign_in(page, name, password)`, `screenshot(page, name)` (a full-page PNG under
test-output/console-screenshots/ at the repo root, or $POSTROOM_SCREENSHOTS), and the console's
conventions (`notice`, `field_error`, `csrf_token`, `form_of`, `post_form`).
"""
from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import pytest

from .harness import Postroom, port_open, wait_until

CHROMIUM = "/usr/bin/chromium"  # Debian's package; see scripts/test-deps.sh
REPO = Path(__file__).resolve().parents[2]
# The probe's flags: without the background-networking ones Chromium keeps dialling out of this
# machine's closed network. Playwright adds --headless and --no-sandbox (we run as root) itself.
CHROMIUM_ARGS = ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
TIMEOUT_MS = 10_000  # one page action; a console page that needs longer is a bug

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")  # never fetch a browser build


def _missing(message: str) -> None:
    """Skip with the reason, except under CI=true, where a missing browser is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def screenshot_dir() -> Path:
    folder = Path(os.environ.get("POSTROOM_SCREENSHOTS") or REPO / "test-output" / "console-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(page, name: str) -> Path:
    """A full-page PNG of what the admin sees now, as NAME.png in the screenshot folder."""
    path = screenshot_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="module", name="browser")
def browser_fixture() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        _missing(f"{CHROMIUM} is not installed (make test installs Debian's chromium when run as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(name="node")
def node_fixture(tmp_path) -> Iterator[Postroom]:
    """A served install of its own: the console tests change server-wide settings."""
    instance = Postroom(tmp_path)
    instance.init()
    instance.start()
    wait_until(lambda: port_open(instance.http_port), 10, "the admin service to answer HTTP")
    yield instance
    instance.stop()


def console_url(node: Postroom) -> str:
    return f"http://127.0.0.1:{node.http_port}"


@pytest.fixture(name="page")
def page_fixture(browser, node) -> Iterator[Any]:
    context = browser.new_context(base_url=console_url(node), viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(f"{tab.url}: {error}"))
    tab.on("console", lambda message: errors.append(f"{tab.url}: {message.text}")  # a CSP refusal is logged so
           if message.type == "error" and "Content Security Policy" in message.text else None)
    yield tab
    context.close()
    assert not errors, f"JavaScript errors in the console: {errors}"


def sign_in(page, name: str, password: str, landing: str = "/console/", shot: str | None = None) -> None:
    """Sign in through the sign-in form; lands on LANDING (the dashboard), or fails saying why not.
    SHOT: also screenshot the filled-in form under that name."""
    page.goto(f"/console/sign-in?next={quote(landing)}")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    if shot:
        screenshot(page, shot)
    with page.expect_navigation():
        page.locator("form:has(input[name=password]) [type=submit]").click()
    assert "/console/sign-in" not in page.url, f"sign-in as {name} failed: {page.inner_text('main')}"
    assert page.url.endswith(landing), page.url
    assert page.locator("header form button:text-is('Sign out')").is_visible(), page.content()[:1000]


def sign_out(page) -> None:
    with page.expect_navigation():
        page.locator("header form button:text-is('Sign out')").click()
    assert "/console/sign-in" in page.url, page.url


# the console's conventions (see src/postroom/web/console/base.py) ------------------------------
def notice(page) -> str:
    """The confirmation a successful change shows after its redirect."""
    box = page.locator("p.notice[role=status]")
    box.wait_for(state="visible")
    return box.inner_text()


def field_error(page, field: str) -> str:
    """The validation error shown next to FIELD (it must be visible)."""
    box = page.locator(f"#error-{field}")
    box.wait_for(state="visible")
    return box.inner_text()


def form_of(page, field: str | None = None, action: str | None = None):
    """The POST form holding the control named FIELD, or the one whose action ends with ACTION."""
    where = f"[action$='{action}']" if action else f":has([name='{field}'])"
    return page.locator(f"form[method=post i]{where}").first


def csrf_token(page, field: str | None = None) -> str:
    """The CSRF token of the form holding FIELD (or of the page's first form)."""
    scope = form_of(page, field) if field else page
    return scope.locator("input[name=csrf_token]").first.get_attribute("value") or ""


def hidden_fields(page, field: str) -> dict[str, str]:
    """The hidden inputs (csrf_token, tab, ...) of the form holding FIELD, as it would send them."""
    return form_of(page, field).evaluate(
        "f => Object.fromEntries([...f.querySelectorAll('input[type=hidden]')].map(e => [e.name, e.value]))")


def form_action(page, field: str) -> str:
    """Where the form holding FIELD posts to (its action, or the page's own URL)."""
    return form_of(page, field).get_attribute("action") or page.url


def post_form(page, url: str, fields: dict[str, Any]):
    """A form POST from the signed-in browser context, not through the page (a forged submit).
    Redirects are not followed: the answer's own status is returned."""
    return page.request.post(url, form=fields, max_redirects=0, fail_on_status_code=False)


def submit(page, field: str | None = None, button: str = "Save", *, action: str | None = None):
    """Click the button labelled BUTTON of the form holding FIELD, or of the form whose action
    ends with ACTION; the response to that POST (before any redirect). By role, so a button
    hidden from assistive technology (a form's off-screen default button) is never the one."""
    form = form_of(page, field, action)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        form.get_by_role("button", name=button, exact=True).click()
    page.wait_for_load_state()
    return answer.value


def set_list(page, field: str, values: list[str]) -> None:
    """Replace a list field's values (bindings, ssl_bindings): the form has one input per item
    plus an empty one to add; fill them in order and empty the rest (an empty input is no item)."""
    inputs = form_of(page, field).locator(f"input[name='{field}']")
    count = inputs.count()
    assert count >= len(values), f"{field}: {count} inputs for {len(values)} values"
    for index in range(count):
        inputs.nth(index).fill(values[index] if index < len(values) else "")


def enabled_controls(page) -> list[str]:
    """Visible controls of the page's POST forms that can still be used (the sign-out form aside)."""
    return page.evaluate("""() => [...document.querySelectorAll('main form')]
        .filter(f => (f.getAttribute('method') || 'get').toLowerCase() === 'post')
        .flatMap(f => [...f.elements])
        .filter(e => ['INPUT', 'SELECT', 'TEXTAREA', 'BUTTON'].includes(e.tagName))
        .filter(e => e.type !== 'hidden' && !e.disabled && e.offsetParent !== null)
        .map(e => `${e.tagName.toLowerCase()}[name=${e.name}] ${e.value || e.textContent.trim()}`)""")


# fast set-up for scale tests ------------------------------------------------------------------
def bulk_mailboxes(node: Postroom, count: int, domain: str = "bulk.example.com") -> list[str]:
    """COUNT mailboxes (no password, POP3 enabled) through the Store API in one group commit:
    10,000 take well under a second, where the CLI would hash a password for each."""
    from postroom.storage import open_store

    node.cli("domain", "add", domain)
    addresses = [f"user{number:05d}@{domain}" for number in range(count)]

    async def insert() -> None:
        store = open_store(str(node.data))
        await store.open()
        try:
            await asyncio.gather(*(store.create_mailbox(address, f"Bulk user {number}", None)
                                   for number, address in enumerate(addresses)))
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as thread:  # its own event loop, beside Playwright's
        thread.submit(asyncio.run, insert()).result()
    return addresses
