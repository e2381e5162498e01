"""The console's rules, in a real browser: roles, CSRF, field errors, published client settings,
and a mailbox list that stays usable with 10,000 mailboxes."""
from __future__ import annotations

import poplib
import ssl
import time
import xml.etree.ElementTree as ET

import pytest

from .console_browser import (  # noqa: F401 (fixtures)
    browser_fixture,
    bulk_mailboxes,
    console_url,
    csrf_token,
    enabled_controls,
    field_error,
    form_action,
    form_of,
    hidden_fields,
    node_fixture,
    page_fixture,
    post_form,
    screenshot,
    set_list,
    sign_in,
    sign_out,
    submit,
)
from .harness import free_port, port_open, wait_until

pytestmark = pytest.mark.e2e

SERVER = "EX01"
APP = "reader@example.com"
VIEWER_PASSWORD = "viewer-password-1"
AUTOCONFIG = ("/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml")
AUTODISCOVER = "/autodiscover/autodiscover.xml"


def state(node) -> tuple:
    """What a console change could touch, as the CLI sees it."""
    return (node.cli_json("pop", "show"), node.cli_json("mailbox", "show", APP)["pop_enabled"],
            node.cli_json("connector", "show", f"Client {SERVER}")["auth"])


def test_view_only_admin_sees_read_only_controls_and_cannot_change_anything(page, node):
    node.new_mailbox(APP, "reader-password-1")
    node.cli("admin", "new", "viewer", "--roles", "view-only", "--password-stdin", input=VIEWER_PASSWORD + "\n")
    before = state(node)
    sign_in(page, "viewer", VIEWER_PASSWORD)
    pages = [  # (screenshot, page, a field of its form, a forged change to that form)
        ("pop3-general", f"/console/servers/{SERVER}/pop3?tab=general", "banner", {"banner": "Forged"}),
        ("pop3-binding", f"/console/servers/{SERVER}/pop3?tab=binding", "bindings",
         {"bindings": f"127.0.0.1:{free_port()}"}),
        ("pop3-authentication", f"/console/servers/{SERVER}/pop3?tab=authentication", "login_type",
         {"login_type": "plain-text-login"}),
        ("mailboxes", "/console/mailboxes", "address", {"address": APP, "action": "pop-disable"}),
        ("mailbox-features", f"/console/mailboxes/{APP}?tab=features", "pop_enabled", {"pop_enabled": "false"}),
        ("connector-authentication", f"/console/servers/{SERVER}/connectors/Client {SERVER}?tab=authentication",
         "auth", {"auth": "tls"}),
    ]
    for name, url, field, forged in pages:
        page.goto(url)
        assert form_of(page, field).locator("button").count(), f"{url}: no form with {field}"
        assert enabled_controls(page) == [], f"{url}: controls a view-only admin could use"
        reason = page.locator("main .readonly-reason").first
        assert reason.is_visible() and "read-only" in reason.inner_text().lower(), reason.inner_text()
        screenshot(page, f"view-only-{name}")
        # the form is disabled in the page; a forged POST with the page's own token is refused too
        answer = post_form(page, form_action(page, field), {**hidden_fields(page, field), **forged})
        assert answer.status == 403, f"{url}: forged POST answered {answer.status}"
    page.goto("/console/services")
    assert page.locator("form[action$='/services/pop3/stop'] button").is_disabled()
    screenshot(page, "view-only-services")
    csrf_token_before = csrf_token(page)
    answer = post_form(page, "/console/services/pop3/stop", {"csrf_token": csrf_token_before})
    assert answer.status == 403
    assert state(node) == before
    assert next(s for s in node.cli_json("service", "list") if s["name"] == "pop3")["status"] == "running"
    # the session cookie is out of scripts' and other sites' reach; signing out ends it
    cookie = next(c for c in page.context.cookies() if c["httpOnly"])
    assert cookie["sameSite"] in ("Strict", "Lax"), cookie
    sign_out(page)
    page.goto("/console/services")
    assert "/console/sign-in" in page.url
    answer = post_form(page, "/console/services/pop3/stop", {"csrf_token": csrf_token_before})
    assert answer.status == 303 and "/console/sign-in" in answer.headers["location"], answer.status
    assert state(node) == before


def test_a_form_without_its_csrf_token_is_refused(page, node):
    sign_in(page, "admin", node.admin_password, f"/console/servers/{SERVER}/pop3?tab=general")
    before = node.cli_json("pop", "show")
    page.fill("input[name=banner]", "Changed without a token")
    action = form_action(page, "banner")
    form_of(page, "banner").evaluate("f => f.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    answer = submit(page, "banner")
    assert answer.status == 403
    assert "token" in page.inner_text("main").lower()
    screenshot(page, "csrf-refused")
    # a stale or foreign token is no better than none
    assert post_form(page, action, {"csrf_token": "x" * 32, "banner": "Forged"}).status == 403
    assert node.cli_json("pop", "show") == before


def test_the_browser_shows_the_console_icon(page, node):
    """The icon every page links, and /favicon.ico (which browsers ask for whatever a page links:
    it was a 404 in the log of every console page), decode as the same square image."""
    page.goto("/console/sign-in")
    linked = page.locator('link[rel="icon"]').get_attribute("href")
    for href in (linked, "/favicon.ico"):
        width, height = page.evaluate("""async href => {
            const image = new Image(); image.src = href; await image.decode();
            return [image.naturalWidth, image.naturalHeight]; }""", href)
        assert width == height and width in (16, 32), (href, width, height)


def test_a_sign_in_form_on_another_site_is_refused(page, node):
    """Login CSRF: another site's page posts the console's sign-in form (with the attacker's
    credentials, to sign the visitor in as the attacker); the browser itself says where it came
    from (Origin, Sec-Fetch-Site), and the console refuses it without setting a cookie."""
    target = f"{console_url(node)}/console/sign-in"
    evil = ('<!doctype html><title>evil</title><form method="post" action="' + target + '">'
            '<input name="name" value="admin"><input name="password" value="' + node.admin_password + '">'
            '<button type="submit">Win a prize</button></form>')
    page.route("http://evil.test/", lambda route: route.fulfill(content_type="text/html", body=evil))
    page.goto("http://evil.test/")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Win a prize").click()
    page.wait_for_load_state()
    assert answer.value.status == 403
    assert answer.value.request.headers.get("origin") == "http://evil.test"
    assert "another site may not change anything here" in page.inner_text("main")
    assert not [c for c in page.context.cookies() if c["name"] == "postroom_session"]
    screenshot(page, "cross-site-sign-in-refused")
    sign_in(page, "admin", node.admin_password)  # the console's own form, with its same-origin Origin, works


@pytest.mark.parametrize("field, bad, problem", [
    ("bindings", "127.0.0.1:99999", "99999"),
    ("ssl_bindings", "not-an-address", "not-an-address"),
])
def test_a_bad_binding_is_shown_next_to_its_field(page, node, field, bad, problem):
    sign_in(page, "admin", node.admin_password, f"/console/servers/{SERVER}/pop3?tab=binding")
    before = node.cli_json("pop", "show")
    set_list(page, field, [bad])
    answer = submit(page, field)
    assert answer.status == 400
    message = field_error(page, field)
    assert problem in message, message
    control = form_of(page, field).locator(f"[name='{field}']").first
    assert control.get_attribute("aria-describedby") == f"error-{field}"
    screenshot(page, f"binding-error-{field}")
    assert node.cli_json("pop", "show") == before


OUTLOOK_REQUEST = (
    '<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/'
    'outlook/requestschema/2006"><Request><EMailAddress>{}</EMailAddress><AcceptableResponseSchema>'
    'http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>'
    '</Request></Autodiscover>')


def published(page, path: str, method: str = "GET") -> list[tuple[str, int, str]]:
    """(host, port, TLS mode) of every POP3 server a client-settings document names, fetched
    with the browser context's request API as a mail client would (no sign-in)."""
    if method == "POST":  # Outlook posts its request
        answer = page.request.post(path, data=OUTLOOK_REQUEST.format(APP), headers={"Content-Type": "text/xml"})
    else:
        answer = page.request.get(f"{path}?emailaddress={APP}")
    assert answer.status == 200, f"{method} {path}: {answer.status}"
    assert "xml" in answer.headers.get("content-type", "")
    found = []
    for element in ET.fromstring(answer.body()).iter():
        tag = element.tag.rsplit("}", 1)[-1]
        if tag == "incomingServer" and element.get("type") == "pop3":  # Thunderbird autoconfig
            found.append((element.findtext("hostname"), int(element.findtext("port")), element.findtext("socketType")))
        if tag == "Protocol" and child_text(element, "Type") == "POP3":  # Outlook autodiscover
            ssl_on, encryption = child_text(element, "SSL") == "on", child_text(element, "Encryption")
            mode = "STARTTLS" if encryption == "TLS" else "SSL" if ssl_on else "plain"
            found.append((child_text(element, "Server"), int(child_text(element, "Port")), mode))
    assert found, f"{path} names no POP3 server: {answer.text()[:500]}"
    return found


def child_text(element, name: str) -> str:
    return next((c.text or "" for c in element if c.tag.rsplit("}", 1)[-1] == name), "")


def greets(node, host: str, port: int, mode: str) -> bool:
    """A POP3 client that follows the published host, port and TLS mode gets the server's +OK."""
    context = ssl.create_default_context(cafile=node.cert)  # checks the host name against the certificate
    if mode == "SSL":
        client = poplib.POP3_SSL(host, port, context=context, timeout=10)
    else:
        client = poplib.POP3(host, port, timeout=10)
        client.stls(context=context)
    try:
        return client.getwelcome().startswith(b"+OK")
    finally:
        client.quit()


def test_published_client_settings_follow_the_live_bindings(page, node):
    sign_in(page, "admin", node.admin_password, f"/console/servers/{SERVER}/pop3?tab=general")
    screenshot(page, "pop3-client-settings")
    old: set[int] = set()
    for round, (plain, secure) in enumerate(((node.pop_port, node.pops_port), (free_port(), free_port()))):
        if round:  # the bindings change (with the CLI): the documents follow, no restart
            node.cli("pop", "set", "--bindings", f"127.0.0.1:{plain}", "--ssl-bindings", f"127.0.0.1:{secure}")
            wait_until(lambda: port_open(plain) and port_open(secure), what="POP3 on its new bindings")
        for path, method in [(path, "GET") for path in AUTOCONFIG] + [(AUTODISCOVER, "GET"), (AUTODISCOVER, "POST")]:
            servers = published(page, path, method)
            assert sorted((port, mode) for _, port, mode in servers) == sorted(
                [(plain, "STARTTLS"), (secure, "SSL")]), f"{method} {path}: {servers}"
            assert not old & {port for _, port, _ in servers}, f"{path} still names an old port: {servers}"
            for host, port, mode in servers:
                assert greets(node, host, port, mode), (host, port, mode)
        old = {plain, secure}
    page.reload()  # the page's client settings block follows too, and its copy button copies it
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy client settings").click()
    page.get_by_text("Copied.").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert f"port {secure} SSL" in copied and f"port {plain} STARTTLS" in copied, copied
    screenshot(page, "pop3-client-settings-changed")


def test_mailbox_list_search_and_paging_with_10000_mailboxes(page, node):
    started = time.monotonic()
    addresses = bulk_mailboxes(node, 10_000)
    assert time.monotonic() - started < 20
    sign_in(page, "admin", node.admin_password, "/console/mailboxes")  # as from a bookmark
    started = time.monotonic()
    page.goto("/console/mailboxes?page=1")
    first = page.locator("input[name=address]").evaluate_all("es => es.map(e => e.value)")
    assert time.monotonic() - started < 5, "the mailbox list took too long"
    assert 0 < len(first) <= 500, f"page 1 lists {len(first)} mailboxes: no paging"
    screenshot(page, "mailboxes-10000")
    with page.expect_navigation():
        page.locator("a[rel=next]").click()
    assert "page=2" in page.url
    second = page.locator("input[name=address]").evaluate_all("es => es.map(e => e.value)")
    assert second and not set(first) & set(second)
    page.goto("/console/mailboxes")
    page.fill("form[role=search] input[name=search]", "user04321")
    page.locator("form[role=search] button").click()
    page.wait_for_url("**search=user04321**")
    found = page.locator("input[name=address]").evaluate_all("es => es.map(e => e.value)")
    assert found == [addresses[4321]]
    screenshot(page, "mailboxes-search-one")
