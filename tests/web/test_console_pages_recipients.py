"""Console pages of Recipient configuration › Mailbox: list (search, paging, bulk POP3), create,
properties (General, Mailbox Features), reset password, remove; CSRF and roles on every form.

`sign_in` and `form` are shared with the POP3 and connector page tests.
"""
from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import unquote

import pytest

from .conftest import MAILBOX_USER, Api, Principal

ALICE = MAILBOX_USER[0]


def sign_in(api: Api, principal: Principal) -> str:
    """Sign in through the console's form; the session's CSRF token."""
    answer = api.post("/console/sign-in", data={"name": principal.name, "password": principal.password,
                                                 "next": "/console/"})
    assert answer.status_code == 303 and answer.headers["location"] == "/console/", answer.text
    return api.get("/api/v1/session").json()["csrf_token"]


def post(api: Api, path: str, token: str | None, **fields: Any) -> Any:
    """A console form POST (with the token unless None); redirects are not followed."""
    data = {**fields, **({"csrf_token": token} if token is not None else {})}
    return api.post(path, data=data)


def notice_of(answer: Any) -> str:
    assert answer.status_code == 303, (answer.status_code, answer.text[:2000])
    # a value with '/' travels in double quotes (RFC 6265 quoted cookie value); the browser sends it back so
    return unquote(answer.cookies.get("postroom_notice", "").strip('"'))


def field_error(page: str, field: str) -> str:
    """The text of the error shown next to FIELD."""
    match = re.search(rf'<p class="field-error" id="error-{field}">(.*?)</p>', page, re.S)
    assert match, f"no error next to {field}"
    return html.unescape(match.group(1))


@pytest.fixture
def org(api: Api, principals: dict[str, Principal]) -> str:
    return sign_in(api, principals["organization-management"])


def mailbox(run, store, address: str) -> Any:
    return run(store.get_mailbox(address))


# the list ------------------------------------------------------------------------------------------
def test_a_visitor_is_sent_to_sign_in(api: Api) -> None:
    answer = api.get("/console/mailboxes?search=x")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/sign-in?next=")


def test_search_and_paging_ask_the_store_for_one_page(api: Api, org: str, store, run, monkeypatch) -> None:
    for number in range(120):
        run(store.create_mailbox(f"user{number:03d}@example.com", f"User {number}", None))
    total = 120 + 2  # and alice, and the dev profile's demo mailbox
    asked: list[tuple[Any, ...]] = []
    original = store.list_mailboxes

    async def spy(search=None, offset=0, limit=None):
        asked.append((search, offset, limit))
        return await original(search, offset, limit)

    monkeypatch.setattr(store, "list_mailboxes", spy)
    first = api.get("/console/mailboxes").text
    assert f"Showing 1–50 of {total} mailboxes" in first
    assert first.count('type="checkbox" name="address"') == 50
    assert 'href="/console/mailboxes?page=2"' in first and 'rel="prev"' not in first
    last = api.get("/console/mailboxes?page=3").text
    assert f"Showing 101–{total} of {total}" in last and last.count('type="checkbox" name="address"') == total - 100
    assert 'href="/console/mailboxes?page=2" rel="prev"' in last and 'rel="next"' not in last
    assert asked == [(None, 0, 50), (None, 100, 50)]  # never the whole table

    found = api.get("/console/mailboxes?search=user11").text
    assert "Showing 1–10 of 10 mailboxes matching “user11”" in found
    assert re.findall(r'name="address" value="([^"]+)"', found) == [f"user{n}@example.com" for n in range(110, 120)]
    assert "Page 1 of 1" in found
    nothing = api.get("/console/mailboxes?search=nobody-here").text
    assert "No mailboxes match “nobody-here”" in nothing
    # a page past the end shows the last one; garbage is page 1
    assert f"Showing 101–{total}" in api.get("/console/mailboxes?page=99").text
    assert "Showing 1–50" in api.get("/console/mailboxes?page=x").text


def test_bulk_pop3_disable_and_enable(api: Api, org: str, store, run) -> None:
    run(store.create_mailbox("bob@example.com", "Bob", None))
    selection = [ALICE, "bob@example.com"]
    answer = post(api, "/console/mailboxes/bulk", org, address=selection, action="pop-disable",
                  search="", page="1")
    assert notice_of(answer) == f"POP3 disabled for 2 mailboxes: {ALICE}, bob@example.com."
    assert answer.headers["location"] == "/console/mailboxes"
    assert [mailbox(run, store, a).pop_enabled for a in selection] == [False, False]
    assert mailbox(run, store, "demo@example.com").pop_enabled  # not selected: untouched
    listed = api.get("/console/mailboxes").text
    assert listed.count(">Disabled</td>") == 2

    answer = post(api, "/console/mailboxes/bulk", org, address=ALICE, action="pop-enable", search="bo", page="2")
    assert notice_of(answer) == f"POP3 enabled for 1 mailbox: {ALICE}."
    assert answer.headers["location"] == "/console/mailboxes?search=bo&page=2"  # back where the admin was
    assert mailbox(run, store, ALICE).pop_enabled and not mailbox(run, store, "bob@example.com").pop_enabled


def test_bulk_imap4_disable_leaves_pop3_alone(api: Api, org: str, store, run) -> None:
    answer = post(api, "/console/mailboxes/bulk", org, address=ALICE, action="imap-disable", search="", page="1")
    assert notice_of(answer) == f"IMAP4 disabled for 1 mailbox: {ALICE}."
    assert (mailbox(run, store, ALICE).imap_enabled, mailbox(run, store, ALICE).pop_enabled) == (False, True)
    assert mailbox(run, store, "demo@example.com").imap_enabled  # not selected: untouched
    listed = api.get("/console/mailboxes").text
    assert ">IMAP4</th>" in listed and listed.count(">Disabled</td>") == 1
    answer = post(api, "/console/mailboxes/bulk", org, address=ALICE, action="imap-enable", search="", page="1")
    assert notice_of(answer) == f"IMAP4 enabled for 1 mailbox: {ALICE}." and mailbox(run, store, ALICE).imap_enabled


def test_bulk_without_a_selection_says_so(api: Api, org: str) -> None:
    answer = post(api, "/console/mailboxes/bulk", org, action="pop-enable")
    assert answer.status_code == 400
    assert "select at least one mailbox" in field_error(answer.text, "address")
    answer = post(api, "/console/mailboxes/bulk", org, action="explode", address=ALICE)
    assert answer.status_code == 400 and "pop-enable" in field_error(answer.text, "action")


# create, properties, password, remove ---------------------------------------------------------------
def test_create_a_mailbox(api: Api, org: str, store, run) -> None:
    form = api.get("/console/mailboxes/new").text
    for name in ("address", "display_name", "password", "pop_enabled", "imap_enabled"):
        assert f'name="{name}"' in form
    answer = post(api, "/console/mailboxes/new", org, address="Carol@Example.com", display_name="Carol",
                  password="carol's password")  # pop_enabled, imap_enabled unchecked
    assert notice_of(answer) == "Mailbox carol@example.com created (POP3 disabled, IMAP4 disabled)."
    assert answer.headers["location"] == "/console/mailboxes/carol@example.com"
    created = mailbox(run, store, "carol@example.com")
    assert (created.display_name, created.pop_enabled, created.imap_enabled,
            created.password_hash is not None) == ("Carol", False, False, True)
    answer = post(api, "/console/mailboxes/new", org, address="dan@example.com", password="pw", imap_enabled="on")
    assert notice_of(answer) == "Mailbox dan@example.com created (POP3 disabled, IMAP4 enabled)."
    assert mailbox(run, store, "dan@example.com").imap_enabled


@pytest.mark.parametrize("fields, field, problem", [
    ({"address": "dave@nowhere.example", "password": "pw"}, "address", "is not an accepted domain"),
    ({"address": "not an address", "password": "pw"}, "address", "is not an email address"),
    ({"address": "dave@example.com", "password": ""}, "password", "must not be empty"),
    ({"address": ALICE, "password": "pw"}, "address", "already exists"),
])
def test_create_refused_next_to_the_field(api: Api, org: str, store, run, fields, field, problem) -> None:
    before = run(store.count_mailboxes())
    answer = post(api, "/console/mailboxes/new", org, display_name="Dave D.", pop_enabled="on", **fields)
    assert answer.status_code == 400
    assert problem in field_error(answer.text, field)
    assert 'value="Dave D."' in answer.text and f'value="{fields["address"]}"' in answer.text  # kept as typed
    assert 'name="password" value=""' in answer.text  # never echoed
    assert run(store.count_mailboxes()) == before


def test_properties_general_and_features(api: Api, org: str, store, run) -> None:
    general = api.get(f"/console/mailboxes/{ALICE}").text
    assert 'aria-selected="true">General</a>' in general and 'id="mailbox-messages">0<' in general
    features = api.get(f"/console/mailboxes/{ALICE}?tab=features").text
    assert 'id="feature-pop3" class="ok">Enabled<' in features and 'id="feature-imap4" class="ok">Enabled<' in features
    assert 'aria-label="Disable POP3"' in features and 'aria-label="Disable IMAP4"' in features

    answer = post(api, f"/console/mailboxes/{ALICE}", org, tab="features", pop_enabled="false")
    assert notice_of(answer) == f"POP3 disabled for {ALICE}."
    assert answer.headers["location"] == f"/console/mailboxes/{ALICE}?tab=features"
    assert not mailbox(run, store, ALICE).pop_enabled
    assert 'id="feature-pop3" class="bad">Disabled<' in api.get(answer.headers["location"]).text
    # IMAP4 has its own button, and leaves POP3 as it is (Set-CASMailbox -ImapEnabled)
    answer = post(api, f"/console/mailboxes/{ALICE}", org, tab="features", imap_enabled="false")
    assert notice_of(answer) == f"IMAP4 disabled for {ALICE}."
    assert (mailbox(run, store, ALICE).imap_enabled, mailbox(run, store, ALICE).pop_enabled) == (False, False)
    page = api.get(answer.headers["location"]).text
    assert 'id="feature-imap4" class="bad">Disabled<' in page and 'aria-label="Enable IMAP4"' in page
    answer = post(api, f"/console/mailboxes/{ALICE}", org, tab="features", imap_enabled="true")
    assert notice_of(answer) == f"IMAP4 enabled for {ALICE}." and mailbox(run, store, ALICE).imap_enabled

    answer = post(api, f"/console/mailboxes/{ALICE}", org, tab="general", display_name="Alice A.")  # enabled unticked
    assert notice_of(answer) == f"Mailbox {ALICE} saved: display name: Alice A.; mailbox enabled: off."
    assert (mailbox(run, store, ALICE).display_name, mailbox(run, store, ALICE).enabled) == ("Alice A.", False)

    answer = post(api, f"/console/mailboxes/{ALICE}", org, tab="general", display_name="  ", enabled="on")
    assert answer.status_code == 400 and "must be 1 to 256" in field_error(answer.text, "display_name")
    assert mailbox(run, store, ALICE).display_name == "Alice A."
    assert api.get("/console/mailboxes/nobody@example.com").status_code == 404


def test_mailbox_delegation_send_as(api: Api, org: str, store, run) -> None:
    page = api.get(f"/console/mailboxes/{ALICE}?tab=delegation").text
    assert 'aria-selected="true">Mailbox Delegation</a>' in page and 'name="send_as"' in page
    answer = post(api, f"/console/mailboxes/{ALICE}", org, tab="delegation",
                  send_as="Sales@Example.com\r\n*@apps.example\r\n")
    assert notice_of(answer) == f"Mailbox {ALICE} saved: send as: sales@example.com, *@apps.example."
    assert answer.headers["location"] == f"/console/mailboxes/{ALICE}?tab=delegation"
    assert mailbox(run, store, ALICE).send_as == ("sales@example.com", "*@apps.example")
    shown = api.get(answer.headers["location"]).text
    assert ">sales@example.com\n*@apps.example</textarea>" in shown

    answer = post(api, f"/console/mailboxes/{ALICE}", org, tab="delegation", send_as="ok@example.com\nnot an address")
    assert answer.status_code == 400 and "is not an email address" in field_error(answer.text, "send_as")
    assert ">ok@example.com\nnot\nan\naddress</textarea>" in answer.text  # as typed, one a line
    assert mailbox(run, store, ALICE).send_as == ("sales@example.com", "*@apps.example")

    answer = post(api, f"/console/mailboxes/{ALICE}", org, tab="delegation", send_as="")  # emptied: no grant
    assert notice_of(answer) == f"Mailbox {ALICE} saved: send as: (none)."
    assert mailbox(run, store, ALICE).send_as == ()


def test_reset_password_and_remove(api: Api, org: str, store, run) -> None:
    old = mailbox(run, store, ALICE).password_hash
    answer = post(api, f"/console/mailboxes/{ALICE}/password", org, password="")
    assert answer.status_code == 400 and "must not be empty" in field_error(answer.text, "password")
    answer = post(api, f"/console/mailboxes/{ALICE}/password", org, password="a new password")
    assert notice_of(answer) == f"Password of {ALICE} reset."
    assert mailbox(run, store, ALICE).password_hash != old

    answer = post(api, f"/console/mailboxes/{ALICE}/remove", org)
    assert notice_of(answer) == f"Mailbox {ALICE} removed, with its 0 messages."
    assert run(store.find_mailbox(ALICE)) is None
    assert post(api, f"/console/mailboxes/{ALICE}/remove", org).status_code == 404


def test_the_notice_is_shown_once(api: Api, org: str) -> None:
    post(api, f"/console/mailboxes/{ALICE}", org, tab="features", pop_enabled="false")
    assert f"POP3 disabled for {ALICE}." in api.get(f"/console/mailboxes/{ALICE}?tab=features").text
    assert f"POP3 disabled for {ALICE}." not in api.get(f"/console/mailboxes/{ALICE}?tab=features").text


# CSRF and roles ------------------------------------------------------------------------------------
CHANGES = [  # every mailbox form, as a browser would post it
    ("/console/mailboxes/bulk", {"address": ALICE, "action": "pop-disable"}),
    ("/console/mailboxes/new", {"address": "eve@example.com", "password": "pw"}),
    (f"/console/mailboxes/{ALICE}", {"tab": "features", "pop_enabled": "false"}),
    (f"/console/mailboxes/{ALICE}", {"tab": "general", "display_name": "Forged"}),
    (f"/console/mailboxes/{ALICE}", {"tab": "delegation", "send_as": "ceo@example.com"}),
    (f"/console/mailboxes/{ALICE}/password", {"password": "forged"}),
    (f"/console/mailboxes/{ALICE}/remove", {}),
]


def snapshot(run, store) -> Any:
    return [(m.address, m.display_name, m.enabled, m.pop_enabled, m.password_hash, m.send_as)
            for m in run(store.list_mailboxes())]


@pytest.mark.parametrize("path, fields", CHANGES)
def test_a_form_without_its_csrf_token_changes_nothing(api: Api, org: str, store, run, path, fields) -> None:
    before = snapshot(run, store)
    for token in (None, "x" * 32):
        answer = post(api, path, token, **fields)
        assert answer.status_code == 403 and "security token (CSRF)" in answer.text
    assert snapshot(run, store) == before


def test_view_only_sees_read_only_controls_and_forged_posts_are_refused(api: Api, principals, store, run) -> None:
    token = sign_in(api, principals["view-only"])
    for path in ("/console/mailboxes", "/console/mailboxes/new", f"/console/mailboxes/{ALICE}",
                 f"/console/mailboxes/{ALICE}?tab=features", f"/console/mailboxes/{ALICE}?tab=delegation"):
        html = api.get(path).text
        assert "Read-only: changing this needs the organization-management or recipient-management role group." in html
        main = html.split("<main>", 1)[1]
        posts = re.findall(r'<form method="post".*?</form>', main, re.S)
        assert posts, path
        for form in posts:  # every control of every POST form is disabled
            controls = re.findall(r"<(?:input|button|select|textarea)\b[^>]*>", form)
            assert any(" disabled" in control for control in controls), (path, form)
            for control in controls:
                assert 'type="hidden"' in control or " disabled" in control, (path, control)
    before = snapshot(run, store)
    for path, fields in CHANGES:
        answer = post(api, path, token, **fields)
        assert answer.status_code == 403, (path, answer.status_code)
        assert "may not do this" in answer.text
    assert snapshot(run, store) == before


def test_recipient_management_may_change_mailboxes(api: Api, principals, store, run) -> None:
    token = sign_in(api, principals["recipient-management"])
    assert "readonly-reason" not in api.get(f"/console/mailboxes/{ALICE}?tab=features").text
    assert notice_of(post(api, f"/console/mailboxes/{ALICE}", token, tab="features", pop_enabled="false"))
    assert not mailbox(run, store, ALICE).pop_enabled
