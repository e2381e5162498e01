"""The console's DKIM page (Accepted domains › a domain › DKIM signing): the TXT records to
publish, making and removing keys (organization-management only), errors where they belong,
and never a private key in the page."""
from __future__ import annotations

import re
from html import unescape

import pytest

from .test_console_pages_ops import CSRF, console, csrf, notice_after, post  # noqa: F401  (fixture)

PAGE = "/console/domains/example.com/dkim"


def keys(run, store) -> list[tuple[str, str, str]]:
    return [(k.domain, k.selector, k.algorithm.value) for k in run(store.list_dkim_keys())]


def test_the_domains_page_says_which_domains_sign(console):
    page = console("view-only").get("/console/domains").text
    row = re.search(r'<tr data-domain="example.com".*?</tr>', page, re.S).group(0)
    assert f'href="{PAGE}"' in row and "on (ed25519)" in row  # the web fixtures' key
    row = re.search(r'<tr data-domain="spare.example".*?</tr>', page, re.S).group(0)
    assert ">off</a>" in row


def test_the_dkim_page_shows_the_records_to_publish(console, run, store):
    page = console("view-only").get(PAGE)
    assert page.status_code == 200 and 'aria-current="page"' in page.text
    [key] = run(store.list_dkim_keys("example.com"))
    text = unescape(page.text)
    assert "DKIM signing: on" in text
    assert f"{key.dns_name}" in text and key.txt_value in text
    assert f'{key.dns_name}. IN TXT ( "{key.txt_value}" )' in text
    assert "PRIVATE" not in text and key.private_key_pem.splitlines()[1] not in text
    assert console("view-only").get("/console/domains/spare.example/dkim").text.count("DKIM signing: off") == 1
    assert console("view-only").get("/console/domains/nowhere.example/dkim").status_code == 404


def test_make_and_remove_keys(console, run, store):
    client = console("organization-management")
    token = csrf(client, PAGE)
    text = notice_after(client, post(client, PAGE, token, algorithm="rsa-2048", selector=""))
    assert "rsa-2048 key postroom-" in text and "publish" in text
    assert sorted(k[2] for k in keys(run, store)) == ["ed25519", "rsa-2048"]
    [rsa] = [k for k in run(store.list_dkim_keys()) if k.algorithm.value == "rsa-2048"]
    page = unescape(client.get(PAGE).text)
    strings = re.findall(r'"(v=DKIM1; k=rsa[^"]*|[^"]+)"', page.split(f"{rsa.dns_name}. IN TXT (", 1)[1])[:2]
    assert "".join(strings) == rsa.txt_value and all(len(s) <= 255 for s in strings)  # split in 255-octet strings
    text = notice_after(client, post(client, f"{PAGE}/spare/remove", token))
    assert "spare removed" in text and "spare._domainkey.example.com" in text
    assert keys(run, store) == [("example.com", rsa.selector, "rsa-2048")]
    entries = run(store.list_audit(3))
    assert [e.action for e in entries[:2]] == ["domain.dkim.remove", "domain.dkim.new"]
    assert all(e.channel == "console" for e in entries[:2]) and "PRIVATE" not in repr(entries)


def test_dkim_errors_are_shown_where_they_belong(console, run, store):
    client = console("organization-management")
    token = csrf(client, PAGE)
    before = keys(run, store), run(store.config_version())
    answer = post(client, PAGE, token, algorithm="rsa-1024", selector="")
    assert answer.status_code == 400 and re.search(r'id="error-algorithm">[^<]*rsa-1024', unescape(answer.text))
    answer = post(client, PAGE, token, algorithm="ed25519", selector="bad selector")
    assert answer.status_code == 400 and 'id="error-selector"' in answer.text
    assert 'value="bad selector"' in answer.text, "what was typed is kept"
    answer = post(client, PAGE, token, algorithm="ed25519", selector="")
    assert answer.status_code == 409 and 'id="error-new"' in answer.text and "already has an ed25519" in answer.text
    answer = post(client, f"{PAGE}/nope/remove", token)
    assert answer.status_code == 404 and 'id="error-remove"' in answer.text
    assert (keys(run, store), run(store.config_version())) == before


@pytest.mark.parametrize("role", ["view-only", "server-management", "recipient-management"])
def test_dkim_keys_are_read_only_without_organization_management(console, run, store, role):
    client = console(role)
    page = client.get(PAGE).text
    assert 'class="readonly-reason"' in page and "organization-management" in page
    main = page.split("<main>", 1)[1]
    controls = re.findall(r"<(?:button|select|input(?! type=\"hidden\"))[^>]*>", main)
    assert controls and all(" disabled" in c for c in controls), controls
    before = keys(run, store)
    token = CSRF.search(page).group(1)
    assert post(client, PAGE, token, algorithm="rsa-2048").status_code == 403
    assert post(client, f"{PAGE}/spare/remove", token).status_code == 403
    assert keys(run, store) == before
    refused = run(store.list_audit(2))
    assert [(e.action, e.outcome) for e in refused] == [("domain.dkim.remove", "refused"),
                                                       ("domain.dkim.new", "refused")]


@pytest.mark.parametrize("url, fields", [(PAGE, {"algorithm": "ed25519"}), (f"{PAGE}/spare/remove", {})])
def test_a_dkim_form_without_its_csrf_token_is_refused(console, run, store, url, fields):
    client = console("organization-management")
    before = keys(run, store)
    for token in (None, "not-the-session-token"):
        assert post(client, url, token, **fields).status_code == 403
    assert keys(run, store) == before
