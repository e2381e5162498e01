"""The mailbox half of the checklist: it exists and may use POP3 (or IMAP4: `Facts.access`), its
password, the connection limits and (POP3) the mailbox lock right now, and the refused logins
of the last hour."""
from __future__ import annotations

from collections import Counter
from urllib.parse import quote

from .checks_pop import SERVICES_PAGE, pop3_page, service_running
from .facts import Facts
from .result import FAIL, PASS, WARN, Check, Findings, command, not_checked

STALE_AFTER = 60.0  # seconds without a command: a session holding the lock looks forgotten
TROUBLESHOOTING_PAGE = "/console/troubleshooting"
DEFAULT_PER_USER = 16  # Exchange's MaxConnectionsPerUser


def mailbox_page(f: Facts) -> str:
    return f"/console/mailboxes/{quote(f.address, safe='@')}"


def mailbox(f: Facts) -> Check:
    name, page = "mailbox", mailbox_page(f)
    box = f.mailbox
    if box is None:
        fix = command("mailbox", "new", f.address)
        if f.domain not in f.domains:  # mailbox new refuses a domain that is not accepted
            fix = command("domain", "add", f.domain) + " && " + fix
        text = f"there is no mailbox {f.address}: every login gets {f.access.bad_login}"
        if f.similar:  # most likely a typo, in the application or here: creating the typo comes last
            meant = " or ".join(f.similar)
            text += (f". Did you mean {meant}? Then correct the address in the application (and check that one: "
                     f"{command('doctor', f.access.command, f.similar[0])}). Only if {f.address} is the address "
                     "you want, "
                     "create it (the fix)")
        return Check(name, FAIL, text, fix, "/console/mailboxes")
    if not box.enabled:
        return Check(name, FAIL, f"{f.address} is disabled: even the right password gets "
                     f"{f.access.disabled_reply}", command("mailbox", "set", f.address, "--enabled"), page)
    return Check(name, PASS, f"{f.address} exists and is enabled", None, page)


def mailbox_pop3(f: Facts) -> Check:
    """The mailbox's feature for the protocol (POP3, IMAP4: Mailbox Features)."""
    access = f.access
    name, page = f"mailbox-{access.service}", mailbox_page(f)
    if f.mailbox is None:
        return not_checked(name, "no such mailbox (see mailbox)", page)
    enabled = f.mailbox.imap_enabled if access.service == "imap4" else f.mailbox.pop_enabled
    if not enabled:
        return Check(name, FAIL, f"{access.label} is disabled for this mailbox (Mailbox Features): the right password "
                     f"gets {access.feature_reply}",
                     command("mailbox", "set", f.address, f"--{access.command}", "enabled"), page)
    return Check(name, PASS, f"{access.label} is enabled for this mailbox", None, page)


def mailbox_password(f: Facts, password_ok: bool | int | None) -> Check:
    """`password_ok`: True, False, None (not given), or the seconds to wait when the check was
    refused (too many failed logins from the caller's address or on the mailbox)."""
    name, page = "mailbox-password", mailbox_page(f)
    if f.mailbox is None:
        return not_checked(name, "no such mailbox (see mailbox)", page)
    fix = command("mailbox", "password", f.address)
    if f.mailbox.password_hash is None:
        return Check(name, FAIL, "no password is set: nobody can log in", fix, page)
    if password_ok is not None and not isinstance(password_ok, bool):
        return Check(name, FAIL, "the password given was not checked: there were too many failed logins from "
                     f"your address or on this mailbox (a block, or as many checks under way as the limit); "
                     f"try again in {password_ok} s", command("security", "blocks"), "/console/security")
    if password_ok is False:
        return Check(name, FAIL, "the password given is not this mailbox's: the application gets "
                     f"{f.access.bad_login} (set the password the application uses, or correct the application)",
                     fix, page)
    if password_ok:
        return Check(name, PASS, "set, and the password given is this mailbox's", None, page)
    return Check(name, PASS, "set (not verified: give the application's password, with --password-stdin or "
                 "the password field, to check it and log in)", None, page)


def _doubled(limit: int, at_least: int = 1) -> str:
    """A limit to suggest: twice the current one (at least `at_least`), within Exchange's range."""
    return str(min(max(2 * limit, at_least), 2147483647))


def connection_limits(f: Facts) -> Check:
    name, page, service, word = "connection-limits", pop3_page(f), f.access.service, f.access.command
    if not service_running(f, service):
        return not_checked(name, f"the {service} service is not running (see {service}-service)", page)
    live, pop = f.live(service), f.cas
    refused = "-ERR [SYS/TEMP] Too many connections" if service == "pop3" else \
        "* BYE [UNAVAILABLE] Too many connections"
    findings = Findings()
    total = int(live.get("sessions", 0))
    if total >= pop.max_connections:
        findings.add(FAIL, f"{total} of {pop.max_connections} {f.access.label} connections are open: new ones get "
                     f"{refused}",
                     command(*f.on_server(word, "set", "--max-connections", _doubled(pop.max_connections))))
    entry = live.get("mailboxes", {}).get(f.address)
    in_use = int(entry["sessions"]) if entry else 0
    if in_use >= pop.max_connections_per_user:
        sources = ", ".join(sorted({h["remote"] for h in entry["holders"]})) if entry else ""
        findings.add(FAIL, f"{in_use} of {pop.max_connections_per_user} connections per user are in use for "
                     f"{f.address} (from {sources}): its next login gets "
                     f"{refused if service == 'pop3' else 'NO [LIMIT] Too many connections for this mailbox.'}",
                     command(*f.on_server(word, "set", "--max-connections-per-user",
                                          _doubled(pop.max_connections_per_user, DEFAULT_PER_USER))))
    at_limit = live.get("sources_at_limit", {})
    if at_limit:
        listed = ", ".join(f"{ip} ({n})" for ip, n in at_limit.items())
        findings.add(WARN, f"sources at the limit of {pop.max_connections_from_single_ip} connections each: {listed}; "
                     "a new connection from them is refused",
                     command(*f.on_server(word, "set", "--max-connections-from-single-ip",
                                          _doubled(pop.max_connections_from_single_ip))))
    return findings.check(name, f"{in_use} of {pop.max_connections_per_user} connections per user, {total} of "
                          f"{pop.max_connections} in total; no source at its limit of "
                          f"{pop.max_connections_from_single_ip}", page)


def mailbox_lock(f: Facts) -> Check:
    name = "mailbox-lock"
    if not service_running(f, "pop3"):
        return not_checked(name, "the pop3 service is not running (see pop3-service)", SERVICES_PAGE)
    live = f.live("pop3")
    entry = live.get("mailboxes", {}).get(f.address)
    if not entry:
        if live.get("mailboxes_truncated"):
            return Check(name, PASS, "unknown: more mailboxes are in use than the node reports", None, SERVICES_PAGE)
        return Check(name, PASS, "free: no POP3 session has the mailbox open", None, SERVICES_PAGE)
    holder = entry["holders"][0]
    idle = float(holder["idle_seconds"])
    who = f"session {holder['session']} from {holder['remote']}"
    if idle >= STALE_AFTER:
        return Check(name, WARN, f"held by {who}, idle for {idle:.0f} s: it looks forgotten, and the application's "
                     f"logins get -ERR [IN-USE] until it quits or its idle timeout "
                     f"({f.pop.authenticated_timeout} s) ends it; restarting drops every POP3 connection",
                     command(*f.on_server("service", "restart", "pop3")), SERVICES_PAGE)
    return Check(name, PASS, f"in use right now by {who} (active {idle:.0f} s ago): a second session at the same "
                 "time gets -ERR [IN-USE]", None, SERVICES_PAGE)


def _evidence_fix(f: Facts, reason: str) -> str | None:
    """The fix for a refusal reason, only while its cause is still there."""
    box = f.mailbox
    if reason == "pop-disabled" and box is not None and not box.pop_enabled:
        return command("mailbox", "set", f.address, "--pop", "enabled")
    if reason == "imap-disabled" and box is not None and not box.imap_enabled:
        return command("mailbox", "set", f.address, "--imap", "enabled")
    if reason == "mailbox-disabled" and box is not None and not box.enabled:
        return command("mailbox", "set", f.address, "--enabled")
    return None


def recent_failures(f: Facts) -> Check:
    name, page = "recent-failed-logins", TROUBLESHOOTING_PAGE
    rows = f.failures
    if not rows and f.access.service == "imap4":
        return Check(name, PASS, f"no refused IMAP4 logins for {f.address} in the last hour", None, page)
    if not rows:
        return Check(name, PASS, f"no refused logins for {f.address} in the last hour", None, page)
    groups = Counter((r.service, r.reason, r.remote_ip) for r in rows)
    last = {(r.service, r.reason, r.remote_ip): r.at for r in rows}  # oldest first: the last one wins
    parts = [f"{n}x {service} {reason} from {ip} (last at {last[(service, reason, ip)][11:19]} UTC)"
             for (service, reason, ip), n in groups.most_common(10)]
    more = f"; and {len(groups) - 10} more kinds" if len(groups) > 10 else ""
    return Check(name, WARN, f"{len(rows)} refused logins in the last hour: {'; '.join(parts)}{more}",
                 _evidence_fix(f, rows[-1].reason), page)
