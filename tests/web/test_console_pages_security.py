"""The console's Security page (/console/security): the failed-login blocks with Clear and Clear
all, and the login block policy as a form (all through service/security.py, so roles and
audit are the CLI's and the API's).

The web fixtures' install (tests/web/conftest.py) holds one block: source 192.0.2.7, from pop3
on EX01, for a day.
"""
from __future__ import annotations

import re
import time
from html import unescape
from typing import Any

import pytest

from postroom.model import Block, LoginPolicy
from postroom.web.console.pages.security import duration

from .conftest import SERVER
from .test_console_pages_ops import CSRF, console, csrf, notice_after, post  # noqa: F401 (fixture)

URL = "/console/security"
SEEDED = "192.0.2.7"
ODD_MAILBOX = "o'brien/x?y@example.com"  # a name as tried: quotes, a slash, a question mark


def blocks(run, store) -> list[tuple[str, str]]:
    return sorted((b.kind, b.value) for b in run(store.list_blocks()))


def add_mailbox_block(run, store, value: str = "crm@example.com", server: str = "EX02") -> None:
    now = time.time()
    run(store.add_blocks(server, [Block("mailbox", value, now - 60, now + 600, 20, "smtp")]))


def row_of(page: str, value: str) -> str:
    found = re.search(rf'<tr data-block-kind="\w+" data-block-value="{re.escape(value)}".*?</tr>', page, re.S)
    assert found, f"no row for {value}"
    return found.group(0)


def cells(row: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", unescape(c)).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]


def security_audit(run, store) -> list[Any]:
    return [e for e in run(store.list_audit(50)) if e.action == "security.block.clear"]


# the list -----------------------------------------------------------------------------------

def test_the_page_lists_every_block_with_its_details(console, run, store):
    add_mailbox_block(run, store)
    page = console("view-only").get(URL)
    assert page.status_code == 200, page.text[:3000]
    text = page.text
    assert '<a href="/console/security" aria-current="page">Security</a>' in text
    source = cells(row_of(text, SEEDED))
    assert source[:4] == ["Source IP", SEEDED, "pop3", "10"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", source[4]) and source[5] > source[4]
    # remaining of a day-long block, seeded when this test process started
    assert re.fullmatch(r"23 h \d\d? min|24 h", source[6]), source[6]
    assert source[7] == SERVER and source[8] == "Clear"
    mailbox = cells(row_of(text, "crm@example.com"))
    assert mailbox[:4] == ["Mailbox", "crm@example.com", "smtp", "20"]
    # a ten-minute block seeded just before the page was read (a loaded machine takes seconds)
    assert re.fullmatch(r"9 min \d\d? s|10 min", mailbox[6]), mailbox[6]
    assert mailbox[7] == "EX02"
    assert "Clear all" in text and "lifts all 2 blocks" in text


def test_without_blocks_the_page_says_so(console, run, store):
    run(store.remove_blocks(None))
    text = console("organization-management").get(URL).text
    empty = re.search(r'<tr class="empty">(.*?)</tr>', text, re.S)
    assert empty and "No blocks: no source or mailbox is being refused now." in empty.group(1)
    assert "blocked after 10 failed logins within 15 min, a mailbox after 20" in " ".join(empty.group(1).split())
    assert "Clear all" not in text and "data-block-value" not in text


def test_a_visitor_is_sent_to_sign_in(api):
    answer = api.get(URL)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/console/sign-in?next=")


# the policy ---------------------------------------------------------------------------------

POLICY_FORM = re.compile(r'<form method="post" action="/console/security/policy".*?</form>', re.S)
STRICT = {"max_source_failures": "3", "max_mailbox_failures": "7", "window": "30m", "block_time": "5400",
          "max_delay": "5", "trusted_networks": "10.0.0.0/8, 2001:db8::/32"}


def policy_inputs(page: str) -> dict[str, str]:
    """The policy form's text inputs: name -> value as shown."""
    form = POLICY_FORM.search(page)
    assert form, "no policy form"
    return {m.group(1): unescape(m.group(2))
            for m in re.finditer(r'<input type="text" name="(\w+)" value="([^"]*)"', form.group(0))}


def policy_audit(run, store) -> list[Any]:
    return [e for e in run(store.list_audit(50)) if e.action == "security.policy.set"]


def test_the_policy_form_shows_the_stored_policy(console, run, store):
    run(store.put_login_policy(LoginPolicy(trusted_networks=("10.0.0.0/8", "2001:db8::/32"), max_source_failures=5,
                                           block_time=5400)))
    page = console("view-only").get(URL).text
    assert policy_inputs(page) == {"max_source_failures": "5", "max_mailbox_failures": "20", "window": "900",
                                   "block_time": "5400", "max_delay": "15",
                                   "trusted_networks": "10.0.0.0/8, 2001:db8::/32"}
    run(store.put_login_policy(LoginPolicy(trusted_networks=())))
    assert policy_inputs(console("view-only").get(URL).text)["trusted_networks"] == "none"


@pytest.mark.parametrize("role", ["organization-management", "server-management"])
def test_saving_the_policy_form_stores_it_and_audits_before_and_after(console, run, store, role):
    client = console(role)
    page = client.get(URL).text
    form = POLICY_FORM.search(page).group(0)
    assert 'name="csrf_token"' in form and " disabled" not in form
    text = notice_after(client, post(client, "/console/security/policy", CSRF.search(page).group(1), **STRICT))
    assert text.startswith("Login block policy saved: failed logins that block a source: 3; ")
    assert "trusted networks: 10.0.0.0/8, 2001:db8::/32" in text and "within a second" in text
    assert run(store.get_login_policy()) == LoginPolicy(
        trusted_networks=("10.0.0.0/8", "2001:db8::/32"), max_source_failures=3, max_mailbox_failures=7, window=1800,
        block_time=5400, max_delay=5)
    [entry] = policy_audit(run, store)
    assert (entry.channel, entry.outcome, entry.target) == ("console", "success", "security/policy")
    assert entry.before == {"trusted_networks": ["127.0.0.0/8", "::1/128"], "max_source_failures": 10,
                            "max_mailbox_failures": 20, "window": 900, "block_time": 900, "max_delay": 15}
    assert entry.after["max_source_failures"] == 3 and entry.after["window"] == 1800
    # the same values again: nothing changes, nothing is audited
    again = post(client, "/console/security/policy", CSRF.search(page).group(1), **STRICT)
    assert notice_after(client, again) == "Nothing changed in the login block policy."
    assert len(policy_audit(run, store)) == 1
    # "none" trusts no network
    post(client, "/console/security/policy", CSRF.search(page).group(1), **dict(STRICT, trusted_networks="none"))
    assert run(store.get_login_policy()).trusted_networks == ()


@pytest.mark.parametrize("field, value, message", [
    ("max_source_failures", "0", "0 is out of range (allowed: 1..1000)"),
    ("window", "5s", "5s is out of range (allowed: 60s..86400s)"),
    ("trusted_networks", "10.0.0.0/8, lots", "'lots' is not an IP address or CIDR block"),
])
def test_an_invalid_policy_is_shown_next_to_its_field_and_nothing_is_saved(console, run, store, field, value,
                                                                            message):
    client = console("server-management")
    answer = post(client, "/console/security/policy", csrf(client, URL), **dict(STRICT, **{field: value}))
    assert answer.status_code == 400
    found = re.search(rf'<p class="field-error" id="error-{field}">(.*?)</p>', answer.text, re.S)
    assert found and message in unescape(found.group(1)), answer.text[-3000:]
    assert "Not saved: correct the field marked below." in answer.text
    assert policy_inputs(answer.text)[field] == value, "what was typed is shown again"
    assert run(store.get_login_policy()) == LoginPolicy() and policy_audit(run, store) == []
    assert f'data-block-value="{SEEDED}"' in answer.text, "the blocks still list"


@pytest.mark.parametrize("role", ["view-only", "recipient-management"])
def test_without_the_server_right_the_policy_is_read_only_and_saving_is_refused(console, run, store, role):
    client = console(role)
    page = client.get(URL).text
    form = POLICY_FORM.search(page).group(0)
    controls = re.findall(r"<(?:input|button|select|textarea)\b[^>]*>", form)
    assert any(" disabled" in control for control in controls), form
    for control in controls:
        assert 'type="hidden"' in control or " disabled" in control, control
    assert "Read-only: changing this needs the organization-management or server-management role group." in form
    answer = post(client, "/console/security/policy", CSRF.search(page).group(1), max_source_failures="3")
    assert answer.status_code == 403
    alert = re.search(r'<p class="error" role="alert">(Not saved: .*?)</p>', answer.text, re.S)
    assert alert and "may not do this" in alert.group(1)
    assert run(store.get_login_policy()) == LoginPolicy()
    [entry] = policy_audit(run, store)
    assert (entry.outcome, entry.channel, entry.after) == ("refused", "console", None)


def test_a_policy_form_without_its_csrf_token_is_refused_and_changes_nothing(console, run, store):
    client = console("organization-management")
    for token in (None, "not-the-session-token"):
        answer = post(client, "/console/security/policy", token, **STRICT)
        assert answer.status_code == 403 and "security token (CSRF)" in answer.text
    assert run(store.get_login_policy()) == LoginPolicy() and policy_audit(run, store) == []


# clearing -----------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["organization-management", "server-management"])
def test_clear_one_block_through_the_form(console, run, store, role):
    add_mailbox_block(run, store)
    client = console(role)
    page = client.get(URL).text
    assert "readonly-reason" not in page
    form = re.search(r'<form class="inline" method="post" action="/console/security/blocks/clear">.*?</form>',
                     row_of(page, SEEDED), re.S).group(0)
    assert f'name="value" value="{SEEDED}"' in form and 'name="csrf_token"' in form
    text = notice_after(client, post(client, "/console/security/blocks/clear", CSRF.search(page).group(1),
                                     value=SEEDED))
    assert text == f"Block on source {SEEDED} cleared: logins from it are accepted again within a second."
    assert blocks(run, store) == [("mailbox", "crm@example.com")]
    assert "lifts the one block" in client.get(URL).text
    [entry] = security_audit(run, store)
    assert (entry.channel, entry.outcome, entry.target) == ("console", "success", f"block/{SEEDED}")
    assert entry.actor == {"organization-management": "org", "server-management": "server"}[role]
    assert [b["value"] for b in entry.before["blocks"]] == [SEEDED] and entry.after is None


def test_clear_a_mailbox_name_with_odd_characters(console, run, store):
    add_mailbox_block(run, store, ODD_MAILBOX)
    client = console("server-management")
    page = client.get(URL).text
    assert "data-block-value=\"o&#39;brien/x?y@example.com\"" in page
    text = notice_after(client, post(client, "/console/security/blocks/clear", CSRF.search(page).group(1),
                                     value=ODD_MAILBOX))
    assert f"Block on mailbox {ODD_MAILBOX} cleared" in text
    assert blocks(run, store) == [("source", SEEDED)]


def test_clear_all(console, run, store):
    add_mailbox_block(run, store)
    client = console("server-management")
    token = csrf(client, URL)
    text = notice_after(client, post(client, "/console/security/blocks/clear-all", token))
    assert text.startswith("2 blocks cleared: ") and text.endswith(".")  # oldest first
    assert sorted(text[len("2 blocks cleared: "):-1].split(", ")) == [SEEDED, "crm@example.com"]
    assert blocks(run, store) == []
    [entry] = security_audit(run, store)
    assert (entry.channel, entry.outcome, entry.target) == ("console", "success", "block/*")
    assert "No blocks:" in client.get(URL).text
    # nothing left: says so, and audits nothing (as the CLI's --clear-all)
    assert notice_after(client, post(client, "/console/security/blocks/clear-all", token)) == \
        "There were no blocks to clear."
    assert len(security_audit(run, store)) == 1


def test_a_block_gone_meanwhile_or_an_empty_value_is_said_above_the_table(console, run, store):
    client = console("server-management")
    token = csrf(client, URL)
    answer = post(client, "/console/security/blocks/clear", token, value="198.51.100.1")
    assert answer.status_code == 404
    error = re.search(r'<p class="error" role="alert" id="error-value">(.*?)</p>', answer.text, re.S)
    assert error and "no block on 198.51.100.1 now" in error.group(1)
    assert f'data-block-value="{SEEDED}"' in answer.text, "the list is shown again"
    answer = post(client, "/console/security/blocks/clear", token, value="  ")
    assert answer.status_code == 400 and 'id="error-value"' in answer.text
    assert blocks(run, store) == [("source", SEEDED)] and security_audit(run, store) == []


@pytest.mark.parametrize("url, fields", [("/console/security/blocks/clear", {"value": SEEDED}),
                                         ("/console/security/blocks/clear-all", {})])
def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(console, run, store, url, fields):
    client = console("organization-management")
    for token in (None, "not-the-session-token"):
        answer = post(client, url, token, **fields)
        assert answer.status_code == 403 and "security token (CSRF)" in answer.text
    assert blocks(run, store) == [("source", SEEDED)] and security_audit(run, store) == []


@pytest.mark.parametrize("role", ["view-only", "recipient-management"])
def test_without_the_server_right_the_list_is_read_only_and_clearing_is_refused(console, run, store, role):
    add_mailbox_block(run, store)
    client = console(role)
    page = client.get(URL).text
    assert f'data-block-value="{SEEDED}"' in page and 'data-block-value="crm@example.com"' in page
    assert "Read-only: changing this needs the organization-management or server-management role group." in page
    main = page.split("<main>", 1)[1]
    forms = re.findall(r'<form [^>]*method="post".*?</form>', main, re.S)
    assert len(forms) == 4  # Clear on each row, Clear all, and the policy
    for form in forms:
        controls = re.findall(r"<(?:input|button|select|textarea)\b[^>]*>", form)
        assert any(" disabled" in control for control in controls), form
        for control in controls:
            assert 'type="hidden"' in control or " disabled" in control, control
    token = CSRF.search(page).group(1)
    for url, fields in (("/console/security/blocks/clear", {"value": SEEDED}),
                        ("/console/security/blocks/clear-all", {})):
        answer = post(client, url, token, **fields)
        assert answer.status_code == 403 and "may not do this" in answer.text, (url, answer.status_code)
    assert blocks(run, store) == [("mailbox", "crm@example.com"), ("source", SEEDED)]
    refused = security_audit(run, store)
    assert [(e.outcome, e.channel, e.target) for e in refused] == [
        ("refused", "console", "block/*"), ("refused", "console", f"block/{SEEDED}")]


# the duration helper ------------------------------------------------------------------------

def test_duration():
    assert [duration(s) for s in (0, -5, 1, 59.6, 60, 900, 961, 3600, 5400, 5461, 86399)] == [
        "0 s", "0 s", "1 s", "1 min", "1 min", "15 min", "16 min 1 s", "1 h", "1 h 30 min", "1 h 31 min",
        "23 h 59 min"]
