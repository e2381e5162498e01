"""The console's Troubleshooting page runs the doctor: the checks in the doctor's order, each
failure's fix command and console page, the login with a posted password (CSRF-checked, never
shown again), and the support bundle as a download. Any role may use it; the web fixtures'
dev install has no node, so the checks also report that."""
from __future__ import annotations

import html
import io
import re
import tarfile

import pytest

from postroom.diagnostics.doctor import CHECK_NAMES, IMAP_CHECK_NAMES
from postroom.model import MailboxFeatures
from postroom.service import mailboxes

from .conftest import MAILBOX_USER, SERVER, Api
from .test_console_pages_recipients import field_error, post, sign_in

ALICE, ALICE_PASSWORD = MAILBOX_USER
PAGE = "/console/troubleshooting"


@pytest.fixture
def viewer(api: Api, principals) -> str:
    """The API client signed in to the console as view-only; its CSRF token."""
    return sign_in(api, principals["view-only"])


@pytest.fixture
def pop_disabled(run, operator) -> None:
    run(mailboxes.set_mailbox(operator, ALICE, MailboxFeatures.changes(pop_enabled=False)))


def rows(page: str) -> dict[str, str]:
    """Check name -> its table row, in the page's order."""
    found = re.findall(r'<tr class="health-\w+" data-check="([\w-]+)">(.*?)</tr>', page, re.S)
    return dict(found)


def test_without_an_address_the_form_waits_and_the_overview_stays(api, viewer):
    page = api.get(PAGE).text
    assert 'name="address"' in page and "Run the checks" in page
    assert "doctor-summary" not in page and "Download support bundle" not in page
    assert "When an application “cannot log in”" in page and "POP3 and IMAP4 logins in the last hour" in page


def test_the_checks_show_each_failures_fix_and_page(api, viewer, pop_disabled):
    answer = api.get(f"{PAGE}?address={ALICE}&client_mode=ssl&port=1995")
    assert answer.status_code == 200, answer.text[:3000]
    page = answer.text
    found = rows(page)
    assert list(found) == list(CHECK_NAMES)
    row = found["mailbox-pop3"]
    assert '<td class="bad">fail</td>' in row
    assert f'<code id="fix-9">postroom mailbox set {ALICE} --pop enabled</code>' in row
    assert 'class="copy-fix" data-copy="fix-9"' in row
    assert f'<a href="/console/mailboxes/{ALICE}">Mailbox properties</a>' in row
    assert '<a href="/console/services">Services</a>' in found["pop3-service"]  # no node serves EX01
    assert "<code" not in found["mailbox"] and '<td class="ok">pass</td>' in found["mailbox"]
    summary = re.search(r'<p id="doctor-summary"[^>]*>(.*?)</p>', page, re.S).group(1)
    assert "<strong>2 checks failed" in summary and ALICE in summary
    assert 'value="1995"' in page and '<option value="ssl" selected>' in page  # the form keeps what was asked


def test_a_bad_value_is_shown_next_to_its_field(api, viewer):
    answer = api.get(f"{PAGE}?address={ALICE}&client_mode=tls")
    assert answer.status_code == 400
    assert "'tls' is not a client mode" in field_error(answer.text, "client_mode")
    assert "is not a whole number" in field_error(api.get(f"{PAGE}?address={ALICE}&port=x").text, "port")
    assert "doctor-summary" not in answer.text


@pytest.fixture
def recipient_admin(api: Api, principals) -> str:
    """Signed in as recipient-management, a role that may check a mailbox's password."""
    return sign_in(api, principals["recipient-management"])


def test_the_login_is_posted_checked_and_never_echoed(api, recipient_admin):
    viewer = recipient_admin
    assert 'type="password" name="password" autocomplete="off" required>' in api.get(f"{PAGE}?address={ALICE}").text
    right = post(api, PAGE, viewer, address=ALICE, client_mode="", port="", password=ALICE_PASSWORD)
    assert right.status_code == 200, right.text[:3000]
    assert '<td class="ok">pass</td>' in rows(right.text)["mailbox-password"]
    assert "the probe logged in with the password given" in right.text
    wrong = post(api, PAGE, viewer, address=ALICE, password="not-alices-password")
    assert f"postroom mailbox password {ALICE}" in rows(wrong.text)["mailbox-password"]
    for answer in (right, wrong):
        assert ALICE_PASSWORD not in html.unescape(answer.text) and "not-alices-password" not in answer.text


def test_view_only_may_not_check_a_password(api, viewer, run, store):
    page = api.get(f"{PAGE}?address={ALICE}").text
    assert 'type="password" name="password" autocomplete="off" required disabled>' in page
    assert "password is for the roles" in page and "that may set it" in page
    answer = post(api, PAGE, viewer, address=ALICE, password=ALICE_PASSWORD)
    assert answer.status_code == 403 and "recipients" in answer.text
    entry = run(store.list_audit(1))[0]
    assert (entry.action, entry.outcome, entry.target) == ("doctor.password-check", "refused", f"mailbox/{ALICE}")


def test_a_password_in_the_url_is_never_used(api, viewer):
    page = api.get(f"{PAGE}?address={ALICE}&password=url-secret").text
    assert "url-secret" not in page and "not verified" in rows(page)["mailbox-password"]


@pytest.mark.parametrize("url", [PAGE, f"{PAGE}/bundle"])
def test_the_posts_need_the_csrf_token(api, viewer, url):
    for token in (None, "not-the-session-token"):
        answer = post(api, url, token, address=ALICE, password=ALICE_PASSWORD)
        assert answer.status_code == 403, answer.text[:2000]
        assert "token" in answer.text.lower() and "doctor-summary" not in answer.text
        assert answer.headers["content-type"].startswith("text/html")


def test_the_support_bundle_downloads_without_secrets(api, viewer, run, store, principals):
    answer = post(api, f"{PAGE}/bundle", viewer, address=ALICE, client_mode="ssl", port="")
    assert answer.status_code == 200, answer.text[:2000]
    assert answer.headers["content-type"] == "application/gzip"
    assert re.fullmatch(rf'attachment; filename="postroom-support-{ALICE}-\d{{8}}T\d{{6}}Z\.tar\.gz"',
                        answer.headers["content-disposition"])
    with tarfile.open(fileobj=io.BytesIO(answer.content), mode="r:gz") as bundle:
        files = {m.name.split("/", 1)[-1]: bundle.extractfile(m).read().decode() for m in bundle if m.isfile()}
    assert {"doctor.json", "mailbox.json", "server.json"} <= set(files)
    assert ALICE in files["mailbox.json"] and SERVER in files["server.json"]
    hashes = [run(store.find_mailbox(ALICE)).password_hash, *(a.password_hash for a in run(store.list_admins()))]
    everything = "\n".join(files.values())
    assert all(h and h not in everything for h in hashes)
    assert "$argon2" not in everything and principals["view-only"].token not in everything


def test_the_imap4_doctor_runs_from_the_same_form(api, viewer, run, operator):
    run(mailboxes.set_mailbox(operator, ALICE, MailboxFeatures.changes(imap_enabled=False)))
    answer = api.get(f"{PAGE}?address={ALICE}&protocol=imap&client_mode=plain&port=1143")
    assert answer.status_code == 200, answer.text[:3000]
    page = answer.text
    found = rows(page)
    assert list(found) == list(IMAP_CHECK_NAMES)
    assert '<td class="bad">fail</td>' in found["mailbox-imap4"]
    assert f"postroom mailbox set {ALICE} --imap enabled</code>" in found["mailbox-imap4"]
    assert "postroom imap set --login-type plain-text-login</code>" in found["login-type"]
    assert f'<a href="/console/servers/{SERVER}/imap4">IMAP4 properties</a>' in found["login-type"]
    assert '<option value="imap" selected>IMAP4</option>' in page
    assert 'name="protocol" value="imap"' in page  # the login and bundle forms keep the protocol


def test_an_unknown_protocol_names_its_field(api, viewer):
    answer = api.get(f"{PAGE}?address={ALICE}&protocol=smtp")
    assert answer.status_code == 400
    assert "is not a protocol the doctor checks" in html.unescape(answer.text)
