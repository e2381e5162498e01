"""`postroom doctor pop|imap ADDRESS`: the article's checklist in its order, then a live probe
the way the application connects (without --client-mode, every binding every way: which would
let it log in), then the evidence of the last hour: the protocol's sessions that ended without a
login, and the mailbox's refused logins.

Checks that depend on an earlier failure say "not checked" (a warning) instead of failing
again for the same cause, so exactly one failure names each problem.
"""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from ..model import normalise_address
from ..storage import StoreReader
from . import certs
from .access import IMAP4, POP3, Access
from .checks_mailbox import (
    TROUBLESHOOTING_PAGE, connection_limits, mailbox, mailbox_lock, mailbox_password, mailbox_pop3, recent_failures,
)
from .checks_pop import bindings, certificate, certificate_names, client_binding, login_type, pop3_service, startup
from .checks_sessions import recent_sessions
from .checks_smtp import client_connector, default_connector, smtp_service
from .facts import Facts, gather
from .probe import StepFailed, Steps, client_context
from .probers import PROBERS, Client, LogIn
from .result import FAIL, PASS, WARN, Check, not_checked
from .target import Target, Way, check_mode, choose

# The order an administrator reads them in: the article's steps, then proof, then evidence.
CHECK_NAMES = (
    "pop3-service", "pop3-startup", "pop3-bindings", "client-binding", "certificate", "certificate-names",
    "login-type", "mailbox", "mailbox-pop3", "mailbox-password", "connection-limits", "mailbox-lock",
    "smtp-service", "client-connector", "default-connector", "probe", "recent-sessions", "recent-failed-logins",
)
IMAP_CHECK_NAMES = tuple(n.replace("pop3", "imap4") for n in CHECK_NAMES if n != "mailbox-lock")


def check_names(access: Access) -> tuple[str, ...]:
    return IMAP_CHECK_NAMES if access is IMAP4 else CHECK_NAMES


def _login_blockers(f: Facts) -> tuple[str, ...]:
    return ("mailbox", f"mailbox-{f.access.service}", "mailbox-password", "login-type", "connection-limits")


# Checks a password as a login attempt (service/login_attempts.py): the stored hash and the
# password in, "ok", "bad-credentials" or "blocked" and the seconds to wait (blocked) out.
PasswordCheck = Callable[[str, str], Awaitable[tuple[str, int]]]


async def run_doctor(store: StoreReader, *, server: str, local: bool, data_dir: str, address: str,
                     client_mode: str | None = None, host: str | None = None, port: int | None = None,
                     password: str | None = None, check_password: PasswordCheck | None = None,
                     access: Access = POP3) -> list[Check]:
    if password is not None and check_password is None:  # the probe would log in with an unchecked password
        raise ValueError("a password needs check_password, which counts it as a login attempt")
    address = normalise_address(address)
    check_mode(client_mode)
    facts = await gather(store, server, address, data_dir, local, access)
    target = await asyncio.to_thread(choose, facts.cas, client_mode, host, port, facts.server.fqdn, local,
                                     access.ports)
    password_ok = await _verify(facts, password, check_password)
    return await asyncio.to_thread(_run_checks, facts, target, password, password_ok)


async def _verify(facts: Facts, password: str | None, check: PasswordCheck | None) -> bool | int | None:
    """Whether `password` is the mailbox's (a login attempt: counted, delayed, maybe refused:
    then the seconds to wait); None when there is nothing to compare."""
    if password is None or check is None or facts.mailbox is None or facts.mailbox.password_hash is None:
        return None
    outcome, retry_after = await check(facts.mailbox.password_hash, password)
    return True if outcome == "ok" else False if outcome == "bad-credentials" else max(1, retry_after)


def _run_checks(f: Facts, target: Target, password: str | None, password_ok: bool | int | None) -> list[Check]:
    cert = certs.inspect(f.certificate, f.certificate_key) if f.certificate else None
    service = f.access.service
    checks = [
        pop3_service(f), startup(f, service, f"{service}-startup"), bindings(f), client_binding(f, target),
        certificate(f, target, cert), certificate_names(f, target, cert), login_type(f, target),
        mailbox(f), mailbox_pop3(f), mailbox_password(f, password_ok), connection_limits(f),
        *([mailbox_lock(f)] if f.access is POP3 else []),  # IMAP4 lets several sessions share a mailbox
        smtp_service(f), client_connector(f), default_connector(f),
    ]
    earlier = {c.name: c for c in checks}
    checks.append(pop3_probe(f, target, password, earlier) if target.mode_given
                  else every_way(f, target, password, earlier))
    checks.append(recent_sessions(f, earlier))
    checks.append(recent_failures(f))
    return checks


def _why_not_probed(f: Facts, target: Target, earlier: dict[str, Check]) -> str | None:
    service = f.access.service
    if earlier[f"{service}-service"].status == FAIL:
        return f"the {service} service is not running (see {service}-service)"
    if target.binding is None or earlier["client-binding"].status == FAIL:
        return "the application's binding is missing or of the wrong kind (see client-binding)"
    live = f.live(service)
    listening = {entry.split(" ", 1)[0] for entry in live.get("listening", [])}
    if target.binding not in listening:
        return f"{target.binding} does not listen (see {service}-bindings)"
    unusable = not f.certificate or any(e.startswith("certificate:") for e in live.get("errors", []))
    if target.mode == "stls" and unusable:
        return f"{f.access.starttls} is not offered without a usable certificate (see certificate)"
    return None


def _why_no_login(f: Facts, password: str | None, earlier: dict[str, Check]) -> str | None:
    if password is None:
        return "no password given (--password-stdin)"
    failed = [name for name in _login_blockers(f) if earlier[name].status == FAIL]
    if failed:
        return f"the login would be refused (see {', '.join(failed)})"
    if f.access is POP3 and f.live("pop3").get("mailboxes", {}).get(f.address):
        return "another session has the mailbox open, the login would get -ERR [IN-USE] (see mailbox-lock)"
    return None


def pop3_probe(f: Facts, target: Target, password: str | None, earlier: dict[str, Check]) -> Check:
    name, page = "probe", TROUBLESHOOTING_PAGE
    why = _why_not_probed(f, target, earlier)
    if why:
        return not_checked(name, why, page)
    assert target.port is not None
    no_login = _why_no_login(f, password, earlier)
    steps = Steps()
    where = f"{target.connect_host}:{target.port} ({target.mode})"
    try:
        # The certificate checks above say what a verifying client finds; the probe looks past it.
        prober = PROBERS[f.access.service]
        context = client_context(False)
        client: Client = prober.session(steps, target.connect_host, target.port, target.mode, context)
        try:
            if no_login is None:
                assert password is not None
                prober.log_in(f.address, password, target.mode == "plain")(client, steps)
        except StepFailed:
            client.close()
            raise
        prober.quit(steps, client, context)
    except StepFailed as exc:
        done = steps.summary()
        before = f" (before that: {done})" if done else ""
        return Check(name, FAIL, f"{where}: {exc.step} failed: {exc.error}{before}", None, page)
    detail = f"{where}: {steps.summary()}"
    if no_login:
        detail += f"; login not tried: {no_login}"
    return Check(name, PASS, detail, None, page)


# What an earlier failure already says when no way works: not failed twice.
_EXPLAINS_NO_WAY = ("bindings", "client-binding", "certificate", "login-type")  # bindings: the service's


def every_way(f: Facts, target: Target, password: str | None, earlier: dict[str, Check]) -> Check:
    """Without --client-mode: each binding (that serves --host/--port), every way an
    application could use it (SSL; plain and STLS), and which of them would let it log in.
    With the password, the login is tried once, on the first way that works."""
    name, page, service = "probe", TROUBLESHOOTING_PAGE, f.access.service
    prober = PROBERS[service]
    if earlier[f"{service}-service"].status == FAIL:
        return not_checked(name, f"the {service} service is not running (see {service}-service)", page)
    if not target.ways:
        return not_checked(name, "no binding serves where the application connects (see client-binding)", page)
    no_login = _why_no_login(f, password, earlier)
    # Without a client mode nothing says the application logs in in clear: only after TLS.
    login = prober.log_in(f.address, password, False) if no_login is None and password is not None else None
    listening = {entry.split(" ", 1)[0] for entry in f.live(service).get("listening", [])}
    works: list[str] = []
    refused: list[str] = []

    def label(way: Way, mode: str) -> str:
        return way.label(mode, f.access.starttls)

    timings: list[str] = []
    for way in target.ways:
        modes = ("ssl",) if way.ssl else ("stls", "plain")
        if way.binding not in listening:
            refused += [f"{label(way, mode)}: not listening (see {service}-bindings)" for mode in modes]
            continue
        steps = Steps()
        try:
            verdicts = _try_way(f, way, modes, steps, login)
        except StepFailed as exc:  # the login itself (the password was checked: see mailbox-password)
            return Check(name, FAIL, f"{way.where}: {exc.step} failed: {exc.error} (before that: "
                         f"{steps.summary()})", None, page)
        timings.append(f"{way.where}: {steps.summary() or 'nothing'}")
        if any(step.name == "login" for step in steps.done):
            login = None  # once is enough
        for mode in modes:
            why = verdicts[mode]
            if why is None:
                works.append(label(way, mode))
            elif why == prober.no_login_before_tls:
                refused.append(f"{label(way, mode)}: {why} (login type {f.cas.login_type.value})")
            else:
                refused.append(f"{label(way, mode)}: {why}")
    if no_login is None and login is not None:
        no_login = "no way lets it log in"
    found = "; ".join(timings) + (f"; login not tried: {no_login}" if no_login else "")
    if not works:
        explaining = [f"{service}-{n}" if n == "bindings" else n for n in _EXPLAINS_NO_WAY]
        status = WARN if any(earlier[n].status == FAIL for n in explaining) else FAIL
        return Check(name, status, f"no way to connect lets an application log in: {'; '.join(refused)} ({found})",
                     None, page)
    not_these = f"; not with {'; '.join(refused)}" if refused else ""
    return Check(name, PASS, f"an application can log in with {' or '.join(works)}{not_these} ({found})", None, page)


def _try_way(f: Facts, way: Way, modes: tuple[str, ...], steps: Steps,
             login: LogIn | None) -> dict[str, str | None]:
    """Each of `modes` on one binding: None when a login would be accepted, else why not.
    StepFailed only for the login."""
    try:
        return PROBERS[f.access.service].ways(steps, way.host, way.port, way.ssl, client_context(False), login)
    except StepFailed as exc:
        if exc.step in ("login", "STAT", "SELECT"):
            raise
        return {mode: f"{exc.step} failed: {exc.error}" for mode in modes}


def as_dicts(checks: list[Check]) -> list[dict[str, Any]]:
    return [check.to_dict() for check in checks]


def failed(checks: list[Check]) -> bool:
    return any(check.status == FAIL for check in checks)


__all__ = ["CHECK_NAMES", "IMAP_CHECK_NAMES", "check_names", "PASS", "as_dicts", "failed", "run_doctor"]
