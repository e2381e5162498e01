"""The console's operations pages: dashboard (with its chart), services, troubleshooting, logs and
accepted domains; and chart.py's arithmetic.

Through the ASGI app on the web fixtures' dev install (tests/web/conftest.py), reading the store
between requests: every page needs a session, every form its CSRF token, and a role that may
not change something sees it read-only and is refused if it posts anyway.
"""
from __future__ import annotations

import re
import time
from html import unescape
from typing import Any, Callable, Iterator
from urllib.parse import quote, unquote

import pytest

from postroom.activity import BUCKET_SECONDS, bucket_name
from postroom.model import NodeReport, PopSettings, TrackingEvent, TrackingEventId
from postroom.service.activity import bucket_names, fill_buckets
from postroom.web.console import chart

from .conftest import SERVER, Api

PAGES = ["/console/", "/console/services", "/console/troubleshooting", "/console/logs/audit",
         "/console/logs/tracking", "/console/domains", "/console/security"]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def console(app: Any, run, principals) -> Iterator[Callable[[str], Api]]:
    """`console(role)`: a client signed in to the console as that role group's principal."""
    clients: list[Api] = []

    def sign_in(role: str = "organization-management") -> Api:
        client = Api(app, run)
        clients.append(client)
        principal = principals[role]
        answer = client.post("/console/sign-in", data={"name": principal.name, "password": principal.password,
                                                       "next": "/console/"})
        assert answer.status_code == 303 and answer.headers["location"] == "/console/", answer.text
        return client

    yield sign_in
    for client in clients:
        run(client.client.aclose())


def csrf(client: Api, page: str = "/console/") -> str:
    return CSRF.search(client.get(page).text).group(1)


def post(client: Api, url: str, token: str | None, **fields: str):
    data = dict(fields, **({"csrf_token": token} if token is not None else {}))
    return client.post(url, data=data)


def notice_after(client: Api, answer) -> str:
    """The one-shot notice shown by the page a successful change redirected to."""
    assert answer.status_code == 303, (answer.status_code, answer.text[:2000])
    page = client.get(answer.headers["location"]).text
    found = re.search(r'<p class="notice" role="status">(.*?)</p>', page, re.S)
    assert found, "no notice after the redirect"
    return unescape(found.group(1))


def services_state(run, store) -> dict[str, tuple[str, str]]:
    return {s.name: (s.status.value, s.startup.value) for s in run(store.list_services(SERVER))}


def state(run, store) -> tuple[Any, ...]:
    """What the forms on these pages could change."""
    return services_state(run, store), run(store.list_domains()), run(store.config_version())


# every page: 200 with a session, the sign-in page without one -------------------------------

@pytest.mark.parametrize("url", PAGES)
def test_each_page_renders_for_a_signed_in_admin(console, url):
    answer = console("organization-management").get(url)
    assert answer.status_code == 200, answer.text[:3000]
    assert answer.headers["content-type"].startswith("text/html")
    assert 'aria-current="page"' in answer.text, "the navigation marks where the admin is"


@pytest.mark.parametrize("url", PAGES + ["/console/logs/audit?actor=org&limit=5"])
def test_without_a_session_each_page_sends_to_sign_in(api, url):
    answer = api.get(url)
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith("/console/sign-in?next=") and unquote(location.split("=", 1)[1]) == url


FORMS = [("/console/services/pop3/start", {}), ("/console/services/smtp/stop", {}),
         ("/console/services/smtp/restart", {}), ("/console/services/pop3/startup", {"startup": "disabled"}),
         ("/console/domains", {"name": "new.example"}), ("/console/domains/spare.example/remove", {})]


@pytest.mark.parametrize("url, fields", FORMS)
def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(console, run, store, url, fields):
    client = console("organization-management")
    before = state(run, store)
    for token in (None, "not-the-session-token"):
        answer = post(client, url, token, **fields)
        assert answer.status_code == 403, answer.text[:2000]
        assert "token" in answer.text.lower()
    assert state(run, store) == before


# services ----------------------------------------------------------------------------------

def test_start_stop_restart_and_startup_change_the_stored_service(console, run, store):
    client = console("server-management")
    token = csrf(client, "/console/services")
    assert services_state(run, store)["pop3"] == ("running", "automatic")  # the dev profile

    text = notice_after(client, post(client, "/console/services/pop3/stop", token, server=SERVER))
    assert services_state(run, store)["pop3"] == ("stopped", "automatic")
    assert text.startswith("Stopped pop3") and f"on {SERVER} the node reports: no node" in text

    text = notice_after(client, post(client, "/console/services/pop3/startup", token, startup="manual"))
    assert services_state(run, store)["pop3"] == ("stopped", "manual")
    assert text.startswith("Startup type of pop3 set to manual")

    notice_after(client, post(client, "/console/services/pop3/start", token))
    assert services_state(run, store)["pop3"] == ("running", "manual")
    notice_after(client, post(client, "/console/services/pop3/restart", token))
    assert services_state(run, store)["pop3"] == ("running", "manual")
    actions = [e.action for e in run(store.list_audit(10)) if e.channel == "console"]
    assert actions[:5] == ["service.start", "service.stop", "service.start", "service.set", "service.stop"]


def test_the_notice_reports_what_the_node_answered(console, run, store):
    client = console("organization-management")
    token = csrf(client, "/console/services")
    # a node that serves EX01 and reports pop3 with a bind error (it applied every change so far)
    applied = 10 ** 6
    run(store.put_node_report(NodeReport(SERVER, time.time() + 30, 4242, {
        "pop3": {"state": "failed", "listening": [], "errors": ["127.0.0.1:1110: Address already in use"],
                 "applied_version": applied},
        "smtp": {"state": "running", "listening": ["127.0.0.1:2525 (plain/STARTTLS)"], "errors": [],
                 "applied_version": applied}})))
    text = notice_after(client, post(client, "/console/services/pop3/restart", token))
    assert "the node reports: failed" in text and "Address already in use" in text
    page = client.get("/console/services").text
    assert 'class="health-bad"' in page and "Error: 127.0.0.1:1110: Address already in use" in page
    assert "Listening on 127.0.0.1:2525 (plain/STARTTLS)" in page


def test_a_bad_startup_type_is_shown_next_to_the_field(console, run, store):
    client = console("organization-management")
    before = state(run, store)
    answer = post(client, "/console/services/pop3/startup", csrf(client), startup="sometimes")
    assert answer.status_code == 400
    error = re.search(r'<p class="field-error" id="error-startup">(.*?)</p>', answer.text, re.S)
    assert error and "sometimes" in unescape(error.group(1)) and "automatic" in error.group(1)
    # next to the select of that service's row, and the row keeps its form
    row = re.search(r'<tr [^>]*id="service-EX01-pop3".*?</tr>', answer.text, re.S).group(0)
    assert 'id="error-startup"' in row and 'aria-invalid="true"' in row
    assert state(run, store) == before


def test_starting_a_disabled_service_says_why_in_its_row(console, run, store):
    client = console("organization-management")
    token = csrf(client)
    notice_after(client, post(client, "/console/services/pop3/startup", token, startup="disabled"))
    before = state(run, store)
    answer = post(client, "/console/services/pop3/start", token)
    assert answer.status_code == 409
    row = re.search(r'<tr [^>]*id="service-EX01-pop3".*?</tr>', answer.text, re.S).group(0)
    assert 'role="alert"' in row and "startup type disabled" in row
    assert state(run, store) == before


def test_an_unknown_service_is_refused_above_the_table(console):
    client = console("organization-management")
    answer = post(client, "/console/services/imap9/start", csrf(client))
    assert answer.status_code == 400 and 'id="error-service"' in answer.text and "imap9" in answer.text


@pytest.mark.parametrize("role", ["view-only", "recipient-management"])
def test_services_are_read_only_without_the_server_right(console, run, store, role):
    client = console(role)
    page = client.get("/console/services").text
    assert 'class="readonly-reason"' in page and "server-management" in page
    forms = re.findall(r'<form class="inline" method="post".*?</form>', page, re.S)
    assert len(forms) >= 3, page  # a row of controls per service (admin, pop3, smtp)
    for form in forms:
        controls = re.findall(r"<(?:button|select)[^>]*>", form)
        assert controls and all(" disabled" in c for c in controls), form
    before = state(run, store)
    token = CSRF.search(page).group(1)
    for url, fields in FORMS[:4]:
        answer = post(client, url, token, **fields)
        assert answer.status_code == 403, (url, answer.status_code)
        assert "may not" in answer.text
    assert state(run, store) == before
    refused = [e for e in run(store.list_audit(10)) if e.outcome == "refused"]
    assert len(refused) == 4 and all(e.channel == "console" for e in refused)


# dashboard and its chart -------------------------------------------------------------------

def test_the_dashboard_shows_every_service_and_the_five_series(console, run, store):
    client = console("view-only")
    now = time.time()
    current, earlier = bucket_name(now), bucket_name(now - 3 * 3600)
    run(store.add_activity(SERVER, {(current, "pop3-login-ok"): 40, (current, "pop3-login-failed"): 7,
                                    (earlier, "smtp-delivered"): 12, (earlier, "pop3-login-ok"): 2,
                                    (current, "imap4-login-ok"): 9, (current, "imap4-login-failed"): 2}))
    run(store.add_activity(SERVER, {(bucket_name(now - 30 * 3600), "pop3-login-ok"): 500}))  # too old to show
    page = client.get("/console/").text
    for name in ("admin", "pop3", "smtp"):
        assert f'data-service="{name}"' in page
    svg = re.search(r"<svg .*?</svg>", page, re.S).group(0)
    assert 'role="img"' in svg and "<title" in svg and "<script" not in svg and "http://" not in svg.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    for key in ("pop3_logins_ok", "pop3_logins_failed", "imap4_logins_ok", "imap4_logins_failed", "smtp_delivered"):
        assert f'<g class="series" data-series="{key}"' in svg
    assert "POP3 logins succeeded (42)" in svg and "POP3 logins failed (7)" in svg and "SMTP deliveries (12)" in svg
    assert "IMAP4 logins succeeded (9)" in svg and "IMAP4 logins failed (2)" in svg
    assert ("POP3 logins succeeded 40, POP3 logins failed 7, IMAP4 logins succeeded 9, IMAP4 logins failed 2,"
            " SMTP deliveries 0") in unescape(svg)
    assert "9 failed POP3 or IMAP4 logins in the last hour" in page


def test_the_dashboard_highlights_a_stopped_service(console, run, store, operator):
    from postroom.service import services
    run(services.stop_service(operator, "pop3"))
    page = console("view-only").get("/console/").text
    row = re.search(r'<tr class="health-(\w+)" data-service="pop3">', page)
    assert row and row.group(1) == "warn"


def test_nice_scale_gives_round_steps_that_cover_the_largest_count():
    assert chart.nice_scale(0) == (1, 1)
    assert chart.nice_scale(1) == (1, 1)
    assert chart.nice_scale(4) == (4, 1)
    assert chart.nice_scale(7) == (8, 2)
    assert chart.nice_scale(100) == (100, 50)
    assert chart.nice_scale(101) == (150, 50)
    assert chart.nice_scale(12345) == (15000, 5000)
    for largest in range(0, 3000, 7):
        top, step = chart.nice_scale(largest)
        assert top >= largest and top % step == 0 and 1 <= top // step <= 5
        assert int(str(step).rstrip("0") or 0) in (1, 2, 5)


def test_label_hours_keep_about_eight_labels():
    assert chart.label_hours(6) == 1  # one hour
    assert chart.label_hours(144) == 3  # a day: every three hours
    assert chart.label_hours(7 * 144) == 24


def buckets_from(start: float, count: int, **values: dict[int, int]) -> list[dict[str, Any]]:
    names = [bucket_name(start + i * BUCKET_SECONDS) for i in range(count)]
    rows = [(names[i], kind, n) for kind, by_index in values.items() for i, n in by_index.items()]
    return fill_buckets(names, rows)


T0 = 1714564800.0  # 2024-05-01T12:00:00Z


def test_the_chart_scales_its_series_to_the_plot():
    buckets = buckets_from(T0, 144, **{"pop3-login-failed": {10: 8, 11: 1}, "pop3-login-ok": {10: 4}})
    svg = chart.activity_svg(buckets)
    assert svg.startswith("<svg") and svg.endswith("</svg>") and 'viewBox="0 0 900 240"' in svg
    # five legend items take two rows at 900 px: the plot starts below them
    legend = r'<g class="legend" data-series="\w+">.*?<text x="[\d.]+" y="([\d.]+)"'
    legend_ys = {float(y) for y in re.findall(legend, svg)}
    assert len(legend_ys) == 2
    top = float(re.search(r'<rect class="bucket" x="[\d.]+" y="([\d.]+)"', svg).group(1))
    assert top == 12 + 2 * chart.LEGEND_ROW and top > max(legend_ys)
    plot_h = chart.HEIGHT - top - chart.BOTTOM
    failed = re.search(r'<g class="series" data-series="pop3_logins_failed".*?</g>', svg).group(0)
    bars = re.findall(r'<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)" fill="#c0261d"/>', failed)
    assert len(bars) == 2, "one column per bucket with failures"
    (y8, h8), (y1, h1) = [(float(y), float(h)) for y, h in bars]
    assert h8 == pytest.approx(plot_h) and y8 == pytest.approx(top), "the largest count fills the plot"
    assert h1 == pytest.approx(plot_h / 8, abs=0.1)
    # the succeeded line rises to half the plot at bucket 10, and lies on the axis elsewhere
    line = re.search(r'data-series="pop3_logins_ok".*?points="([^"]+)"', svg).group(1).split()
    ys = [float(point.split(",")[1]) for point in line]
    assert len(ys) == 144 and ys[10] == pytest.approx(top + plot_h / 2, abs=0.1)
    assert set(ys[:10] + ys[11:]) == {top + plot_h}
    assert "Most failed POP3 logins: 8 at 13:40–13:50 UTC" in svg
    # y labels 0, 2, 4, 6, 8 and x labels every three hours (12:00 is the first bucket)
    assert [int(v) for v in re.findall(r'text-anchor="end" fill="#5b6470">(\d+)</text>', svg)] == [0, 2, 4, 6, 8]
    assert re.findall(r'text-anchor="middle" fill="#5b6470">([^<]+)</text>', svg)[:3] == ["12:00", "15:00", "18:00"]
    assert "2 May" in svg  # midnight shows the date


def test_failed_pop3_and_imap4_logins_stand_side_by_side_in_their_bucket():
    buckets = buckets_from(T0, 144, **{"pop3-login-failed": {20: 4}, "imap4-login-failed": {20: 6, 30: 1}})
    svg = chart.activity_svg(buckets)
    slot = (chart.WIDTH - chart.LEFT - chart.RIGHT) / 144

    def columns(key: str, colour: str) -> list[tuple[float, float]]:
        group = re.search(rf'<g class="series" data-series="{key}".*?</g>', svg).group(0)
        return [(float(x), float(w)) for x, w in
                re.findall(rf'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)" height="[\d.]+" fill="{colour}"/>', group)]

    (pop_x, pop_w), = columns("pop3_logins_failed", "#c0261d")
    (imap_x, imap_w), _ = columns("imap4_logins_failed", "#d9700f")
    assert pop_x == pytest.approx(chart.LEFT + 20 * slot + 0.5, abs=0.1)
    assert imap_x == pytest.approx(pop_x + slot / 2, abs=0.1), "IMAP4's column is the second half of the slot"
    assert pop_w == imap_w == pytest.approx(max(slot / 2 - 1, 1), abs=0.1)
    assert "Most failed POP3 logins: 4 at 15:20–15:30 UTC" in svg
    assert "Most failed IMAP4 logins: 6 at 15:20–15:30 UTC" in svg


def test_a_chart_without_activity_says_so():
    svg = chart.activity_svg(buckets_from(T0, 144))
    assert "No POP3 or IMAP4 logins or SMTP deliveries in this period" in svg
    assert "<rect" not in svg.split("</desc>")[1].split('class="legend"')[0].replace('class="bucket"', ""), \
        "no columns and no hover targets without activity"
    assert ("Totals: POP3 logins succeeded 0, POP3 logins failed 0, IMAP4 logins succeeded 0, IMAP4 logins failed 0,"
            " SMTP deliveries 0.") in svg


def test_chart_text_is_escaped():
    svg = chart.activity_svg(buckets_from(T0, 6, **{"smtp-delivered": {0: 1}}), title="<b>EX01 & co</b>")
    assert "<b>" not in svg and "&lt;b&gt;EX01 &amp; co&lt;/b&gt;" in svg


def test_buckets_end_with_the_current_one_and_are_zero_filled():
    now = T0 + 3 * 3600 + 125  # 15:02:05
    names = bucket_names(now, 24)
    assert len(names) == 144 and len(set(names)) == 144 and names == sorted(names)
    assert names[-1] == "2024-05-01T15:00:00.000000+00:00" and names[0] == "2024-04-30T15:10:00.000000+00:00"
    assert len(bucket_names(now, 1)) == 6
    rows = [(names[-1], "pop3-login-ok", 3), (names[-1], "pop3-login-ok", 2), (names[0], "smtp-delivered", 1),
            ("2024-04-30T15:00:00.000000+00:00", "smtp-delivered", 9),  # before the window
            (names[5], "imap-login-ok", 4),  # a kind the chart does not show
            (names[-1], "outbound-sent", 4)]  # the queue viewer's
    filled = fill_buckets(names, rows)
    assert [b["bucket"] for b in filled] == names
    assert filled[-1] == {"bucket": names[-1], "pop3_logins_ok": 5, "pop3_logins_failed": 0, "imap4_logins_ok": 0,
                          "imap4_logins_failed": 0, "smtp_delivered": 0}
    assert filled[0]["smtp_delivered"] == 1
    assert sum(b["smtp_delivered"] + b["pop3_logins_ok"] + b["pop3_logins_failed"] for b in filled) == 6


def test_the_activity_service_reads_the_local_server_only(run, operator, store):
    from postroom.errors import ValidationError
    from postroom.service import activity

    now = time.time()
    run(store.add_activity(SERVER, {(bucket_name(now), "pop3-login-failed"): 3}))
    buckets = run(activity.activity(operator, hours=1, now=now))
    assert len(buckets) == 6 and buckets[-1]["pop3_logins_failed"] == 3
    with pytest.raises(ValidationError):
        run(activity.activity(operator, hours=0))


# troubleshooting ----------------------------------------------------------------------------

def test_troubleshooting_shows_errors_failed_logins_and_the_table(console, run, store):
    run(store.put_node_report(NodeReport(SERVER, time.time() + 30, 4242, {
        "pop3": {"state": "running", "listening": [], "errors": ["certificate: /x/cert.pem: no such file"]},
        "smtp": {"state": "running", "listening": [], "errors": [], "connectors": {
            f"Client {SERVER}": {"state": "failed", "listening": [],
                             "errors": ["127.0.0.1:2587: Address already in use"]},
        }}})))
    run(store.add_activity(SERVER, {(bucket_name(time.time()), "pop3-login-failed"): 5}))
    page = console("view-only").get("/console/troubleshooting").text
    assert "certificate: /x/cert.pem: no such file" in page
    assert "127.0.0.1:2587: Address already in use" in page
    assert f'/console/servers/{SERVER}/connectors/{quote("Client " + SERVER)}' in page
    counts = re.search(r'<p id="ts-login-counts">(.*?)</p>', page, re.S).group(1)
    assert "5 failed" in counts and "0 succeeded" in counts
    assert "When an application “cannot log in”" in page
    assert "-ERR [AUTH] POP3 access is disabled" in unescape(page)
    assert "postroom mailbox set ADDRESS --pop enabled" in page
    assert "problems reported below" in page


# logs ---------------------------------------------------------------------------------------

def test_the_audit_log_shows_changes_compactly_and_filters(console, run, store, operator):
    from postroom.service import pop
    run(pop.set_pop(operator, None, PopSettings.changes(banner="Hello there")))
    client = console("view-only")
    page = client.get("/console/logs/audit").text
    assert "pop.set" in page and "banner: " in page and "→ Hello there" in unescape(page)
    filtered = client.get("/console/logs/audit", params={"action": "domain.add", "limit": "5"}).text
    assert "<code>pop.set</code>" in page and "<code>pop.set</code>" not in filtered
    answer = client.get("/console/logs/audit", params={"since": "1h", "outcome": "success", "channel": "cli"})
    assert answer.status_code == 200 and "pop.set" in answer.text


@pytest.mark.parametrize("field, value", [("since", "last tuesday"), ("limit", "lots"), ("limit", "0"),
                                          ("channel", "fax"), ("outcome", "maybe")])
def test_a_bad_audit_filter_is_shown_next_to_its_field(console, field, value):
    answer = console("view-only").get("/console/logs/audit", params={field: value})
    assert answer.status_code == 400
    error = re.search(rf'<p class="field-error" id="error-{field}">(.*?)</p>', answer.text, re.S)
    assert error and error.group(1).strip()


def test_message_tracking_lists_and_filters(console, run, store):
    events = [TrackingEvent(TrackingEventId.FAIL, SERVER, "SMTP", "", "", "app@remote.test", rcpt,
                            "550 5.1.1 unknown mailbox", 0, "10.0.0.7", f"Default {SERVER}")
              for rcpt in ("nobody@example.com", "ghost@example.com")]
    run(store.append_tracking(events))
    client = console("view-only")
    page = client.get("/console/logs/tracking").text
    assert "nobody@example.com" in page and "ghost@example.com" in page and "550 5.1.1 unknown mailbox" in page
    page = client.get("/console/logs/tracking", params={"recipient": "GHOST@example.com"}).text
    assert "ghost@example.com" in page and "nobody@example.com" not in page
    answer = client.get("/console/logs/tracking", params={"sender": "not an address"})
    assert answer.status_code == 400 and 'id="error-sender"' in answer.text
    answer = client.get("/console/logs/tracking", params={"message_id": "a b"})
    assert answer.status_code == 400 and 'id="error-message_id"' in answer.text


# accepted domains ----------------------------------------------------------------------------

def test_domains_add_and_remove(console, run, store):
    client = console("recipient-management")
    token = csrf(client, "/console/domains")
    assert "new.example added" in notice_after(client, post(client, "/console/domains", token, name="New.Example"))
    assert "new.example" in run(store.list_domains())
    text = notice_after(client, post(client, "/console/domains/new.example/remove", token))
    assert "new.example removed" in text and "new.example" not in run(store.list_domains())


def test_domain_errors_are_shown_where_they_belong(console, run, store):
    client = console("organization-management")
    token = csrf(client, "/console/domains")
    before = state(run, store)
    answer = post(client, "/console/domains", token, name="not a domain")
    assert answer.status_code == 400
    assert re.search(r'<p class="field-error" id="error-name">[^<]*not a domain', unescape(answer.text))
    assert 'value="not a domain"' in answer.text, "what was typed is kept"
    answer = post(client, "/console/domains", token, name="spare.example")
    assert answer.status_code == 409 and 'id="error-name"' in answer.text and "already exists" in answer.text
    answer = post(client, "/console/domains/example.com/remove", token)  # alice's domain
    assert answer.status_code == 409 and 'id="error-remove"' in answer.text and "mailbox" in answer.text
    assert post(client, "/console/domains/nowhere.example/remove", token).status_code == 404
    assert state(run, store) == before


@pytest.mark.parametrize("role", ["view-only", "server-management"])
def test_domains_are_read_only_without_the_recipients_right(console, run, store, role):
    client = console(role)
    page = client.get("/console/domains").text
    assert "spare.example" in page and 'class="readonly-reason"' in page and "recipient-management" in page
    main = page.split("<main>", 1)[1]
    controls = re.findall(r"<(?:button|input(?! type=\"hidden\"))[^>]*>", main)
    assert controls and all(" disabled" in c for c in controls), controls
    before = state(run, store)
    token = CSRF.search(page).group(1)
    assert post(client, "/console/domains", token, name="new.example").status_code == 403
    assert post(client, "/console/domains/spare.example/remove", token).status_code == 403
    assert state(run, store) == before
