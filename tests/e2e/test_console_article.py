"""The article's four steps, done in the console in a real browser, then proved with real clients.

Before each step the CLI puts the setting in the wrong state, so the console's change is real:
1. Services: POP3 stopped and manual -> started and automatic.
2. POP3 properties: a new plain binding (Binding tab), plain-text-login -> secure login
   (Authentication tab).
3. Mailbox Features: POP3 disabled on the application's mailbox -> enabled.
4. Receive connector "Client EX01": basic auth allowed before TLS -> basic only after TLS.
Then poplib and smtplib, against the live node, show that every step took effect.
"""
from __future__ import annotations

import poplib
import smtplib
import ssl

import pytest

from .console_browser import browser_fixture, node_fixture, notice, page_fixture, screenshot, set_list, sign_in, submit  # noqa: F401 (fixtures)
from .harness import free_port, port_open, wait_until

pytestmark = pytest.mark.e2e

APP = "workfront@example.com"  # the business application's mailbox
APP_PASSWORD = "app-password-1"
SERVER = "EX01"


def service(node, name: str) -> dict:
    return next(s for s in node.cli_json("service", "list") if s["name"] == name)


def pop_login(node, port: int) -> poplib.POP3:
    """STLS then USER/PASS, as an application configured for 'secure login' does."""
    client = poplib.POP3("127.0.0.1", port, timeout=10)
    client.stls(context=ssl.create_default_context(cafile=node.cert))
    client.user(APP)
    client.pass_(APP_PASSWORD)
    return client


def pop_refused(node, port: int) -> str:
    """A login attempt that must fail; the server's -ERR reply."""
    try:
        pop_login(node, port).quit()
    except poplib.error_proto as error:
        return error.args[0].decode()
    raise AssertionError("the POP3 login was accepted")


def test_article_steps_in_the_console(page, node):
    node.new_mailbox(APP, APP_PASSWORD)
    sign_in(page, "admin", node.admin_password, shot="sign-in")
    screenshot(page, "dashboard")

    # 1. Services: start POP3 and make its startup automatic -----------------------------------
    node.cli("service", "stop", "pop3")
    node.cli("service", "set", "pop3", "--startup", "manual")
    wait_until(lambda: not port_open(node.pop_port), what="POP3 to stop")
    page.goto("/console/services")
    screenshot(page, "services-pop3-stopped")
    submit(page, button="Start", action="/console/services/pop3/start")
    assert "pop3" in notice(page).lower()
    page.select_option("form[action$='/services/pop3/startup'] select[name=startup]", "automatic")
    submit(page, button="Save", action="/console/services/pop3/startup")
    notice(page)
    screenshot(page, "services-pop3-started")
    wait_until(lambda: port_open(node.pop_port), what="POP3 to listen again")
    assert (service(node, "pop3")["status"], service(node, "pop3")["startup"]) == ("running", "automatic")

    # 2. POP3 properties: bindings (Binding tab) and secure login (Authentication tab) ---------
    node.cli("pop", "set", "--login-type", "plain-text-login")
    new_port = free_port()
    page.goto(f"/console/servers/{SERVER}/pop3?tab=general")
    screenshot(page, "pop3-general")
    page.goto(f"/console/servers/{SERVER}/pop3?tab=binding")
    set_list(page, "bindings", [f"127.0.0.1:{new_port}"])
    screenshot(page, "pop3-binding-edited")
    assert submit(page, "bindings").status == 303
    notice(page)
    screenshot(page, "pop3-binding-saved")
    page.goto(f"/console/servers/{SERVER}/pop3?tab=authentication")
    page.check("input[name=login_type][value=secure-login]")
    screenshot(page, "pop3-authentication")
    assert submit(page, "login_type").status == 303
    notice(page)
    assert page.is_checked("input[name=login_type][value=secure-login]")
    settings = node.cli_json("pop", "show")
    assert settings["bindings"] == [f"127.0.0.1:{new_port}"]
    assert settings["login_type"] == "secure-login"
    for tab in ("connection", "retrieval", "certificate"):
        page.goto(f"/console/servers/{SERVER}/pop3?tab={tab}")
        screenshot(page, f"pop3-{tab}")

    # 3. Mailbox Features: enable POP3 on the application's mailbox ----------------------------
    wait_until(lambda: port_open(new_port), what="POP3 on its new binding")
    node.cli("mailbox", "set", APP, "--pop", "disabled")
    assert pop_refused(node, new_port).startswith("-ERR")  # really disabled before the console
    page.goto(f"/console/mailboxes?search={APP.split('@')[0]}")
    screenshot(page, "mailboxes-search")
    page.goto(f"/console/mailboxes/{APP}?tab=general")
    screenshot(page, "mailbox-general")
    page.goto(f"/console/mailboxes/{APP}?tab=features")
    assert page.inner_text("#feature-pop3") == "Disabled"
    screenshot(page, "mailbox-features")
    assert submit(page, "pop_enabled", "Enable POP3").status == 303
    notice(page)
    assert page.inner_text("#feature-pop3") == "Enabled"
    screenshot(page, "mailbox-features-enabled")
    assert node.cli_json("mailbox", "show", APP)["pop_enabled"] is True

    # 4. Receive connector "Client EX01": TLS, and basic authentication only after TLS ---------
    node.cli("connector", "set", f"Client {SERVER}", "--auth", "tls,basic")
    page.goto(f"/console/servers/{SERVER}/connectors")
    screenshot(page, "connectors")
    page.get_by_role("link", name=f"Client {SERVER}").first.click()
    page.wait_for_load_state()
    screenshot(page, "connector-general")
    page.get_by_role("tab", name="Authentication").click()
    page.wait_for_url("**tab=authentication")
    assert page.is_checked("input[name=auth][value=tls]")
    assert not page.is_checked("input[name=auth][value=basic-require-tls]")
    page.check("input[name=auth][value=basic-require-tls]")
    screenshot(page, "connector-authentication")
    assert submit(page, "auth").status == 303
    notice(page)
    for value in ("tls", "basic", "basic-require-tls"):
        assert page.is_checked(f"input[name=auth][value={value}]"), value
    assert set(node.cli_json("connector", "show", f"Client {SERVER}")["auth"]) == {"tls", "basic", "basic-require-tls"}
    for tab, title in (("network", "Network"), ("permissions", "Permission groups")):
        page.get_by_role("tab", name=title).click()
        page.wait_for_url(f"**tab={tab}")
        screenshot(page, f"connector-{tab}")

    # proof with real clients ----------------------------------------------------------------
    prove_pop3(node, new_port)
    prove_submission(node, new_port)

    # the rest of the navigation: every change above is in the audit log, as the console's admin
    page.goto("/console/logs/audit")
    rows = page.locator("main table tbody tr").all_inner_texts()
    for action in ("service.start", "service.set", "pop.set", "mailbox.set", "connector.set"):
        assert any(action in row and "admin" in row and "console" in row for row in rows), f"{action}: {rows}"
    screenshot(page, "audit")
    for name, url in (("tracking", "/console/logs/tracking"), ("domains", "/console/domains"),
                      ("troubleshooting", "/console/troubleshooting"), ("dashboard-after", "/console/")):
        assert page.goto(url).status == 200, url
        screenshot(page, name)


def prove_pop3(node, port: int) -> None:
    # step 1 and 2: POP3 runs, and answers on the binding set in the console
    assert port_open(port) and not port_open(node.pop_port), "the old plain binding still answers"
    # step 2: secure login: USER on the plain connection before STLS is refused ...
    plain = poplib.POP3("127.0.0.1", port, timeout=10)
    try:
        with pytest.raises(poplib.error_proto) as refused:
            plain.user(APP)
            plain.pass_(APP_PASSWORD)
        assert refused.value.args[0].startswith(b"-ERR")
    finally:
        plain.close()
    # ... and STLS then USER/PASS succeeds; step 3: the mailbox may use POP3 and STAT works
    client = pop_login(node, port)
    assert client.stat() == (0, 0)  # a new mailbox: nothing in it yet
    client.quit()
    # the SSL binding, untouched, still serves the same mailbox
    secure = poplib.POP3_SSL("127.0.0.1", node.pops_port, context=ssl.create_default_context(cafile=node.cert),
                             timeout=10)
    secure.user(APP)
    secure.pass_(APP_PASSWORD)
    secure.quit()


def prove_submission(node, pop_port: int) -> None:
    """Step 4: the Client connector offers STARTTLS, and AUTH only once TLS is on."""
    with smtplib.SMTP("127.0.0.1", node.submission_port, timeout=10) as smtp:
        smtp.ehlo("app.example.com")
        assert smtp.has_extn("starttls")
        assert not smtp.has_extn("auth"), f"AUTH offered before STARTTLS: {smtp.esmtp_features}"
        smtp.starttls(context=ssl.create_default_context(cafile=node.cert))
        smtp.ehlo("app.example.com")
        assert smtp.has_extn("auth")
        smtp.login(APP, APP_PASSWORD)
        smtp.sendmail(APP, [APP], b"Subject: via the Client connector\r\n\r\nHello.\r\n")
    client = pop_login(node, pop_port)
    assert client.stat()[0] == 1  # the message just submitted arrived
    client.quit()

