"""The doctor's parts without a server: certificate names, the application's target, how
findings combine, the bundle's scrubbing and log excerpts, and the node's login evidence."""
from __future__ import annotations

import asyncio
import os
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from postroom.diagnostics import bundle, certs
from postroom.diagnostics.facts import closest, typos
from postroom.diagnostics.netinfo import Holder
from postroom.diagnostics.result import FAIL, PASS, WARN, Findings, command
from postroom.diagnostics.target import Way, choose
from postroom.errors import Unavailable, ValidationError
from postroom.model import PopSettings
from postroom.server.evidence import MAX_PENDING, LoginEvidence, SessionEnd, pop3_usage


@pytest.mark.parametrize("names, host, covered", [
    (["mail.example.com"], "mail.example.com", True),
    (["mail.example.com"], "MAIL.Example.com.", True),
    (["*.example.com"], "mail.example.com", True),
    (["*.example.com"], "a.b.example.com", False),  # one label only
    (["*.example.com"], "example.com", False),
    (["127.0.0.1"], "127.0.0.1", True),
    (["::1"], "0:0:0:0:0:0:0:1", True),
    (["127.0.0.1"], "localhost", False),
    (["localhost"], "127.0.0.1", False),
    ([], "localhost", False),
])
def test_certificate_names(names, host, covered):
    assert certs.covers(names, host) is covered


DEV = PopSettings().with_changes(bindings="127.0.0.1:1110", ssl_bindings="127.0.0.1:1995")


def test_target_defaults_to_the_first_ssl_binding():
    target = choose(DEV, None, None, None, "mail.example.com", True)
    assert (target.mode, target.connect_host, target.port, target.binding, target.given) == (
        "ssl", "127.0.0.1", 1995, "127.0.0.1:1995", False)
    assert target.host == "mail.example.com"  # certificate names are checked against the FQDN


def test_target_mode_follows_the_port_and_a_wildcard_means_loopback():
    pop = PopSettings().with_changes(bindings="0.0.0.0:110", ssl_bindings="[::]:995")
    assert choose(pop, None, None, 110, "m", True).mode == "stls"
    ssl = choose(pop, None, None, 995, "m", True)
    assert (ssl.mode, ssl.connect_host, ssl.binding) == ("ssl", "::1", "[::]:995")
    assert choose(pop, None, None, 995, "m", False).connect_host == "m"  # another server: its name


def test_without_a_client_mode_every_binding_is_a_way_to_probe_ssl_first():
    pop = PopSettings().with_changes(bindings="0.0.0.0:110,[::]:110", ssl_bindings="127.0.0.1:995")
    target = choose(pop, None, None, None, "m", True)
    assert not target.mode_given and target.mode == "ssl"  # the certificate checks' target
    assert target.ways == (Way("127.0.0.1:995", True, "127.0.0.1", 995), Way("0.0.0.0:110", False, "127.0.0.1", 110),
                           Way("[::]:110", False, "::1", 110))
    assert [w.label("stls") for w in target.ways[1:]] == ["STLS on 127.0.0.1:110", "STLS on [::1]:110"]
    assert choose(pop, None, None, 110, "m", True).ways == target.ways[1:]  # the port narrows them
    assert choose(pop, None, "127.0.0.1", None, "m", True).ways == target.ways[:2]  # so does the host
    assert choose(pop, "ssl", None, None, "m", True).ways == ()  # a given mode is probed alone


def test_target_not_served():
    target = choose(DEV, "ssl", "127.0.0.1", 995, "m", True)
    assert target.binding is None and target.given and target.port == 995
    assert choose(DEV, None, "127.0.0.2", None, "m", True).binding is None  # the binding is 127.0.0.1 only
    assert choose(PopSettings().with_changes(ssl_bindings=""), "ssl", None, None, "m", True).port is None
    with pytest.raises(ValidationError):
        choose(DEV, "tls", None, None, "m", True)


def test_findings_worst_status_and_its_first_fix():
    findings = Findings()
    findings.add(PASS, "fine")
    findings.add(WARN, "meh", "postroom warn-fix")
    assert (findings.check("x", "").status, findings.check("x", "").fix) == (WARN, "postroom warn-fix")
    findings.add(FAIL, "broken")
    findings.add(FAIL, "also broken", "postroom fail-fix")
    check = findings.check("x", "", "/console/x")
    assert (check.status, check.detail, check.fix, check.page) == (FAIL, "meh; broken; also broken",
                                                                   "postroom fail-fix", "/console/x")
    assert Findings().check("x", "all good").detail == "all good"


def test_commands_are_quoted_for_the_shell():
    assert command("connector", "set", "Client EX01", "--enabled") == "postroom connector set 'Client EX01' --enabled"


def test_scrub_removes_secrets_and_anything_that_looks_like_one():
    text = ('{"hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", "token": "postroom_ab12.s3cr3t-Value",\n'
            '"digest": "' + "ab" * 32 + '", "fingerprint": "AB:CD:EF", "note": "the password is hunter22, not pin"}\n'
            "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG\n-----END PRIVATE KEY-----\n")
    clean = bundle.scrub(text, ["hunter22", "pin"])
    for secret in ("$argon2id", "s3cr3t", "ab" * 32, "hunter22", "MIGHAgEAMBMG"):
        assert secret not in clean
    assert "AB:CD:EF" in clean and "not pin" in clean  # too short to scrub blindly


def test_log_excerpt_keeps_whole_sessions_that_name_the_mailbox(tmp_path):
    log = tmp_path / "POP3-20240501.log"
    log.write_text(
        "#Software: postroom\n#Fields: date-time,session-id,sequence-number,local-endpoint,remote-endpoint,event,data\n"
        '2024-05-01T10:00:00.000+00:00,EX01-1,0,l,r,<,"USER crm@example.com"\n'  # too old
        '2024-05-01T11:30:00.000+00:00,EX01-2,0,l,r,+,""\n'
        '2024-05-01T11:30:00.001+00:00,EX01-2,1,l,r,<,"USER CRM@example.com"\n'
        '2024-05-01T11:30:00.002+00:00,EX01-2,2,l,r,<,"PASS ****"\n'
        '2024-05-01T11:31:00.000+00:00,EX01-3,0,l,r,<,"USER other@example.com"\n')
    excerpt = bundle.log_excerpt(str(log), "crm@example.com", "2024-05-01T11:00:00.000+00:00")
    assert [line.split(",")[1:3] for line in excerpt.splitlines()] == [["EX01-2", "0"], ["EX01-2", "1"],
                                                                     ["EX01-2", "2"]]


def test_log_excerpt_reads_exchanges_fields_and_the_context(tmp_path):
    log = tmp_path / "SMTP-20240501-2.log"
    log.write_text(
        "#Software: postroom\n#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,"
        "remote-endpoint,event,data,context\n"
        '2024-05-01T11:30:00.000Z,"Client, EX01",EX01-2,0,l,r,>,"220 ready",\n'
        '2024-05-01T11:30:00.001Z,"Client, EX01",EX01-2,1,l,r,*,"","authenticated as crm@example.com"\n'
        '2024-05-01T11:31:00.000Z,Client EX01,EX01-3,0,l,r,<,"MAIL FROM:<other@example.com>",\n')
    excerpt = bundle.log_excerpt(str(log), "crm@example.com", "2024-05-01T11:00:00.000Z")
    assert [line.split(",")[3] for line in excerpt.splitlines()] == ["EX01-2", "EX01-2"]


def test_protocol_logs_takes_files_written_in_the_last_hour_whatever_their_name(tmp_path):
    folder = tmp_path / "logs" / "pop3"
    folder.mkdir(parents=True)
    now = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    line = '2024-05-01T11:30:00.000Z,,EX01-2,0,l,r,<,"USER crm@example.com",\n'
    for name, age in (("POP3-2024050111-1.log", 1800), ("POP3-202405-3.log", 60), ("POP3-20240430-1.log", 7200)):
        (folder / name).write_text(line)
        os.utime(folder / name, (now.timestamp() - age, now.timestamp() - age))
    assert sorted(bundle.protocol_logs(str(tmp_path), "crm@example.com", now)) == [
        "logs/pop3/POP3-202405-3.log", "logs/pop3/POP3-2024050111-1.log"]


class FakeStore:
    def __init__(self, fail: bool = False) -> None:
        self.rows: list = []
        self.ended: list = []
        self.pruned: list[str] = []
        self.pruned_ended: list[str] = []
        self.fail = fail

    async def record_login_failures(self, rows) -> None:
        if self.fail:
            raise Unavailable("store down")
        self.rows.extend(rows)

    async def record_ended_sessions(self, rows) -> None:
        if self.fail:
            raise Unavailable("store down")
        self.ended.extend(rows)

    async def remove_login_failures(self, before: str) -> int:
        self.pruned.append(before)
        return 0

    async def remove_ended_sessions(self, before: str) -> int:
        self.pruned_ended.append(before)
        return 0


def test_login_evidence_keeps_refusals_with_their_reasons():
    evidence = LoginEvidence("EX01", clock=lambda: 1714557600.0)
    evidence.record("succeeded", "pop3", "192.0.2.1", "crm@example.com")
    evidence.record("failed (bad-credentials)", "pop3", "192.0.2.2", "crm@example.com")
    evidence.record("refused (tls-required)", "pop3", "192.0.2.3", "-")
    evidence.record("failed (mailbox-disabled)", "smtp", "192.0.2.4", "crm@example.com")
    store = FakeStore()
    asyncio.run(evidence.flush(store))
    assert [(r.service, r.reason, r.remote_ip, r.mailbox) for r in store.rows] == [
        ("pop3", "bad-credentials", "192.0.2.2", "crm@example.com"), ("pop3", "tls-required", "192.0.2.3", ""),
        ("smtp", "mailbox-disabled", "192.0.2.4", "crm@example.com")]
    assert store.rows[0].at == "2024-05-01T10:00:00.000000+00:00" and store.rows[0].server == "EX01"
    assert store.pruned == ["2024-04-24T10:00:00+00:00"]  # a week is kept
    asyncio.run(evidence.flush(store))
    assert len(store.rows) == 3 and len(store.pruned) == 1  # nothing new; pruning is hourly


def test_ended_sessions_are_counted_by_kind_until_the_heartbeat():
    now = [1714557600.0]
    evidence = LoginEvidence("EX01", clock=lambda: now[0])
    curl = SessionEnd("pop3", "10.0.0.7", "0.0.0.0:110", "none", "tls-not-started", "CAPA QUIT", "")
    for _ in range(12):
        evidence.session_ended(curl)
        now[0] += 5
    evidence.session_ended(SessionEnd("pop3", "10.0.0.8", "0.0.0.0:995", "ssl", "quit", "CAPA QUIT", ""))
    store = FakeStore()
    asyncio.run(evidence.flush(store))
    assert [(r.remote_ip, r.reason, r.count, r.first_at[11:19], r.at[11:19], r.server, r.service)
            for r in store.ended] == [("10.0.0.7", "tls-not-started", 12, "10:00:00", "10:00:55", "EX01", "pop3"),
                                      ("10.0.0.8", "quit", 1, "10:01:00", "10:01:00", "EX01", "pop3")]
    assert store.pruned_ended == store.pruned == ["2024-04-24T10:01:00+00:00"]  # a week is kept, as for failures


def test_ended_sessions_wait_for_the_store_and_stay_bounded():
    evidence = LoginEvidence("EX01")
    curl = SessionEnd("pop3", "10.0.0.7", "0.0.0.0:110", "none", "tls-not-started", "CAPA QUIT", "")
    evidence.session_ended(curl)
    asyncio.run(evidence.flush(FakeStore(fail=True)))
    evidence.session_ended(curl)  # counted with the one the store did not take
    store = FakeStore()
    asyncio.run(evidence.flush(store))
    assert [r.count for r in store.ended] == [2]
    for n in range(MAX_PENDING + 5):  # as many kinds as sources: bounded
        evidence.session_ended(SessionEnd("pop3", f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}", "0.0.0.0:110", "none",
                                          "quit", "QUIT", ""))
    assert evidence.dropped == 5


def test_login_evidence_waits_for_the_store_and_stays_bounded():
    evidence = LoginEvidence("EX01")
    evidence.record("failed (bad-credentials)", "pop3", "192.0.2.2", "a@example.com")
    asyncio.run(evidence.flush(FakeStore(fail=True)))
    store = FakeStore()
    asyncio.run(evidence.flush(store))
    assert len(store.rows) == 1  # kept for the next heartbeat
    for _ in range(MAX_PENDING + 5):
        evidence.record("failed (bad-credentials)", "pop3", "192.0.2.2", "a@example.com")
    assert evidence.dropped == 5
    asyncio.run(evidence.flush(store))
    assert len(store.rows) == 1 + MAX_PENDING and evidence.dropped == 0


def test_pop3_usage_reports_holders_and_sources_at_their_limit():
    async def body():
        loop = asyncio.get_running_loop()
        session = SimpleNamespace(user="crm@example.com", id="EX01-7", remote_ip="192.0.2.9",
                                  last_activity=loop.time() - 90)
        anonymous = SimpleNamespace(user=None, id="EX01-8", remote_ip="192.0.2.9", last_activity=loop.time())
        service = SimpleNamespace(sessions=[session, anonymous], per_ip={"192.0.2.9": 2, "192.0.2.10": 1},
                                  settings=PopSettings().with_changes(max_connections_from_single_ip=2))
        return pop3_usage(service)
    usage = asyncio.run(body())
    holder = usage["mailboxes"]["crm@example.com"]["holders"][0]
    assert usage["mailboxes"]["crm@example.com"]["sessions"] == 1
    assert (holder["session"], holder["remote"]) == ("EX01-7", "192.0.2.9") and holder["idle_seconds"] >= 90
    assert usage["sources_at_limit"] == {"192.0.2.9": 2} and usage["mailboxes_truncated"] is False


@pytest.mark.parametrize("typed, existing, meant", [
    ("alcie@example.com", ["alice@example.com", "bob@example.com", "alicia@example.com"],
     ["alice@example.com", "alicia@example.com"]),  # one typo (two letters swapped), then two
    ("alice@exmaple.com", ["alice@example.com"], ["alice@example.com"]),
    ("support@verylongcompanyname.example", ["sales@verylongcompanyname.example"], []),  # alike, but not a typo
    ("crm@example.com", [], []),
])
def test_did_you_mean_names_addresses_a_typo_or_two_away(typed, existing, meant):
    assert closest(typed, existing) == meant


def test_typos_count_a_swap_as_one():
    assert (typos("alcie", "alice"), typos("kitten", "sitting"), typos("", "abc")) == (1, 3, 3)


def test_a_port_holder_is_named_with_how_to_stop_it():
    dovecot = Holder(110, 812, "dovecot", "/usr/sbin/dovecot -F", "dovecot.service")
    assert dovecot.describe() == "pid 812 (dovecot: /usr/sbin/dovecot -F; systemd service dovecot.service)"
    assert dovecot.stop() == "`systemctl disable --now dovecot.service`"
    loose = Holder(110, 4242, "python3", "python3 -m http.server 110")
    assert (loose.describe(), loose.stop()) == ("pid 4242 (python3: python3 -m http.server 110)",
                                                "`kill 4242` (and keep it from starting again)")
    assert "ss -ltnp 'sport = :110'" in Holder(110, None).describe()
