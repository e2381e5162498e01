"""The protocol half of the article's checklist, for POP3 or IMAP4 (`Facts.access`): the
service, its bindings, the certificate, the login type against the way the application
connects. Blocking (sockets, files): run in a thread.
"""
from __future__ import annotations

import ipaddress
from datetime import datetime, timezone

from ..model import LoginType, ServiceStatus, Startup, format_binding, parse_binding
from . import certs, netinfo
from .facts import Facts
from .result import FAIL, PASS, WARN, Check, Findings, command, not_checked
from .target import Target

SERVICES_PAGE = "/console/services"
CERT_PLACEHOLDER = "/path/to/certificate-and-key.pem"  # no certificate here would do: the admin brings one


def pop3_page(f: Facts) -> str:
    """The console's tab of the protocol checked (POP3 or IMAP4)."""
    return f"/console/servers/{f.server.name}/{f.access.service}"


def service_running(f: Facts, name: str) -> bool:
    return f.node is not None and f.services[name].status == ServiceStatus.RUNNING


def start_command(f: Facts, name: str) -> str:
    start = command(*f.on_server("service", "start", name))
    if f.services[name].startup == Startup.DISABLED:  # refused while disabled: change that first
        return command(*f.on_server("service", "set", name, "--startup", "automatic")) + " && " + start
    return start


def pop3_service(f: Facts) -> Check:
    service = f.access.service
    name = f"{service}-service"
    if f.node is None:
        age = "never" if f.heartbeat_age is None else f"none for {f.heartbeat_age:.0f} s"
        return Check(name, FAIL, f"no node is serving server {f.server.name} (heartbeat: {age}): nothing listens, "
                     "applications get 'connection refused'", command("serve", "--data", f.data_dir), SERVICES_PAGE)
    if service not in f.services:  # a server whose store predates the service
        return Check(name, FAIL, f"server {f.server.name} has no {service} service: upgrade its store",
                     command("upgrade", "--data", f.data_dir), SERVICES_PAGE)
    if f.services[service].status == ServiceStatus.STOPPED:
        return Check(name, FAIL, f"the {service} service is stopped: applications get 'connection refused'",
                     start_command(f, service), SERVICES_PAGE)
    state = f.live(service).get("state", "unknown")
    return Check(name, PASS, f"running on server {f.server.name} (node state: {state})", None, SERVICES_PAGE)


def startup(f: Facts, service: str, name: str) -> Check:
    value = f.services[service].startup
    fix = command(*f.on_server("service", "set", service, "--startup", "automatic"))
    if value == Startup.DISABLED:
        return Check(name, FAIL, f"startup type disabled: the {service} service cannot be started", fix, SERVICES_PAGE)
    if value == Startup.MANUAL:
        return Check(name, WARN, f"startup type manual: after a restart of `postroom serve` the {service} service "
                     "stays stopped", fix, SERVICES_PAGE)
    return Check(name, PASS, "startup type automatic: it starts whenever `postroom serve` starts", None, SERVICES_PAGE)


# A held port's alternatives, in order: the protocol's standard port of the binding's kind
# (plain/STLS, SSL), then the unprivileged one `postroom init --dev` uses (Access.ports); any
# free port only when both are taken.


def _moved(f: Facts, binding: str, ssl: bool) -> tuple[int, str] | None:
    """(port, the `pop set` that moves `binding` there) for a standard alternative port."""
    host, held = parse_binding("bindings", binding)
    ours = {parse_binding("bindings", b)[1] for b in [*f.cas.bindings, *f.cas.ssl_bindings]}
    port = next((p for p in f.access.ports[ssl] if p != held and p not in ours and netinfo.port_free(host, p)),
                None) or netinfo.free_port(host)
    if port is None:
        return None
    current = f.cas.ssl_bindings if ssl else f.cas.bindings
    moved = [format_binding(host, port) if b == binding else b for b in current]
    option = "--ssl-bindings" if ssl else "--bindings"
    return port, command(*f.on_server(f.access.command, "set", option, ",".join(moved)))


def _held(f: Facts, binding: str, ssl: bool, kind: str) -> tuple[str, str | None]:
    """(what holds a binding's port and how to stop it, then a standard alternative; its fix)."""
    port = parse_binding("bindings", binding)[1]
    holder = netinfo.port_holder(port, f.node_pid)
    if holder is None:
        text = (f"{binding} ({kind}) is held by another process, not visible from here (as root, "
                f"`ss -ltnp 'sport = :{port}'` names it); stop it (postroom retries every few seconds)")
    else:
        text = (f"{binding} ({kind}) is held by another process: {holder.describe()}. Stop it: {holder.stop()}; "
                "postroom retries every few seconds and then listens")
    moved = _moved(f, binding, ssl)
    if moved is None:
        return text, None
    standard, unprivileged = f.access.ports[ssl]
    which = f"{f.access.label}'s standard {kind} port" if moved[0] == standard else \
        f"the unprivileged {kind} port of postroom's dev profile" if moved[0] == unprivileged else "a free port"
    return f"{text}. Or move this binding to port {moved[0]}, {which}, and the applications with it (the fix)", \
        moved[1]


def bindings(f: Facts) -> Check:
    service = f.access.service
    name, page = f"{service}-bindings", pop3_page(f)
    if not service_running(f, service):
        return not_checked(name, f"the {service} service is not running (see {service}-service)", page)
    every = [(b, False) for b in f.cas.bindings] + [(b, True) for b in f.cas.ssl_bindings]
    if not every:
        return Check(name, FAIL, f"{f.access.label} has no bindings: nothing can connect",
                     command(*f.on_server(f.access.command, "set", "--ssl-bindings",
                                          f"0.0.0.0:{f.access.ports[True][0]}")), page)
    live = f.live(service)
    listening = {entry.split(" ", 1)[0] for entry in live.get("listening", [])}
    errors = live.get("errors", [])
    findings = Findings()
    for binding, ssl in every:
        kind = "SSL" if ssl else f"plain/{f.access.starttls}"
        if binding in listening:
            host, port = parse_binding("bindings", binding)
            ms, error = netinfo.tcp_connect(netinfo.reach_host(host, f.local, f.server.fqdn), port)
            if error:
                findings.add(FAIL, f"{binding} ({kind}) is listening, but a connection to it failed: {error}")
            else:
                findings.add(PASS, f"{binding} ({kind}) listens ({ms:.1f} ms to connect)")
            continue
        error = next((e.split(": ", 1)[1] for e in errors if e.startswith(binding + ": ")), "not listening")
        if "no usable certificate" in error:
            findings.add(WARN, f"{binding} ({kind}) does not listen: {error} (see certificate)")
        elif "in use" in error.lower():
            findings.add(FAIL, *_held(f, binding, ssl, kind))
        else:
            findings.add(FAIL, f"{binding} ({kind}) does not listen: {error}")
    return findings.check(name, "", page)


def _new_binding(f: Facts, target: Target) -> str:
    """The binding that would serve the application: its own address when it names one."""
    port = target.port or f.access.ports[target.mode == "ssl"][0]
    try:
        address = ipaddress.ip_address(target.connect_host)
        return format_binding(address.compressed, port)
    except ValueError:
        addresses = netinfo.resolve(target.connect_host)
        v6_only = addresses and all(":" in a for a in addresses)
        return format_binding("::" if v6_only else "0.0.0.0", port)


def client_binding(f: Facts, target: Target) -> Check:
    name, page = "client-binding", pop3_page(f)
    where = f"{target.connect_host}:{target.port}" if target.port else target.connect_host
    kind = "SSL" if target.mode == "ssl" else f"plain/{f.access.starttls}"
    if target.binding is None:
        if not target.given and not (f.cas.bindings or f.cas.ssl_bindings):
            return not_checked(name, f"{f.access.label} has no bindings (see {f.access.service}-bindings)", page)
        ssl = target.mode == "ssl"
        option, current = ("--ssl-bindings", f.cas.ssl_bindings) if ssl else ("--bindings", f.cas.bindings)
        new = ",".join([*current, _new_binding(f, target)])
        return Check(name, FAIL, f"no {kind} binding serves {where}, where the application connects ({target.mode}): "
                     "its connections are refused", command(*f.on_server(f.access.command, "set", option, new)), page)
    if target.ssl_binding and target.mode != "ssl":
        return Check(name, FAIL, f"{where} is an SSL binding (TLS from the first byte), but the application expects "
                     f"a {target.mode} {f.access.label} greeting: set the application to SSL/TLS on this port, or to "
                     f"{f.access.starttls if target.mode == 'stls' else 'plain'} on a plain binding "
                     f"({', '.join(f.cas.bindings) or 'none'})",
                     None, page)
    if not target.ssl_binding and target.mode == "ssl":
        return Check(name, FAIL, f"{where} is a plain/{f.access.starttls} binding, but the application starts TLS "
                     "at once (ssl): "
                     f"the handshake fails. Set the application to {f.access.starttls} on this port, or to SSL on "
                     f"{', '.join(f.cas.ssl_bindings) or 'an SSL binding'}", None, page)
    if not target.mode_given:
        kind_plain = f"plain/{f.access.starttls}"
        served = ", ".join(f"{w.where} ({'SSL' if w.ssl else kind_plain})" for w in target.ways)
        return Check(name, PASS, f"how the application connects was not given (--client-mode): each way an "
                     f"application could use {served} is probed (see probe)", None, page)
    how = "assumed: give --host/--port/--client-mode to check the application's own settings" if not target.given \
        else "as given"
    return Check(name, PASS, f"the application connects to {where} ({target.mode}, {how}), served by binding "
                 f"{target.binding}", None, page)


def _certificate_fix(f: Facts, host: str) -> str:
    replacement = certs.replacement(f.data_dir, host, f.certificate)
    return command(*f.on_server(f.access.command, "set", "--certificate", replacement or CERT_PLACEHOLDER))


def certificate(f: Facts, target: Target, cert: certs.Certificate | None) -> Check:
    name, page = "certificate", pop3_page(f)
    needed = bool(f.cas.ssl_bindings) or target.mode in ("stls", "ssl")
    if cert is None:
        return Check(name, FAIL if needed else WARN, f"no certificate is set: {f.access.starttls} is not offered "
                     "and SSL bindings cannot listen", _certificate_fix(f, target.host), page)
    if cert.error:
        return Check(name, FAIL, cert.error, _certificate_fix(f, target.host), page)
    info = cert.info
    assert info is not None
    now = datetime.now(timezone.utc)
    issuer = "self-signed (clients must be told to trust it)" if info["self_signed"] \
        else f"issued by {info['issuer_cn']}"
    facts = f"{info['subject_cn'] or '(no common name)'}, {info['key_type']}, {issuer}"
    if datetime.fromisoformat(info["not_before"]) > now:
        return Check(name, FAIL, f"{cert.path} is not valid before {info['not_before']} ({facts})",
                     _certificate_fix(f, target.host), page)
    if info["days_left"] < 0 or datetime.fromisoformat(info["not_after"]) <= now:
        return Check(name, FAIL, f"{cert.path} expired on {info['not_after']}: clients refuse the TLS handshake "
                     f"({facts})", _certificate_fix(f, target.host), page)
    if info["days_left"] < certs.EXPIRY_WARNING_DAYS:
        return Check(name, WARN, f"{cert.path} expires on {info['not_after']}, in {info['days_left']} days ({facts})",
                     _certificate_fix(f, target.host), page)
    return Check(name, PASS, f"{cert.path}: key matches, valid until {info['not_after'][:10]} "
                 f"({info['days_left']} days; {facts})", None, page)


def certificate_names(f: Facts, target: Target, cert: certs.Certificate | None) -> Check:
    name, page = "certificate-names", pop3_page(f)
    if cert is None or cert.info is None:
        return not_checked(name, "no readable certificate (see certificate)", page)
    found = certs.names(cert.info)
    if certs.covers(found, target.host):
        return Check(name, PASS, f"{target.host} is among the certificate's names ({', '.join(found)})", None, page)
    return Check(name, FAIL, f"the certificate's names ({', '.join(found) or 'none'}) do not include {target.host}, "
                 "the name the application connects to: clients that check certificates refuse it (name mismatch)",
                 _certificate_fix(f, target.host), page)


def login_type(f: Facts, target: Target) -> Check:
    name, page = "login-type", pop3_page(f)
    value = f.cas.login_type
    tls = f.access.starttls
    secure = ", ".join([*(f"{tls} on {b}" for b in f.cas.bindings), *(f"SSL on {b}" for b in f.cas.ssl_bindings)])
    if target.mode == "plain":
        if value != LoginType.PLAIN_TEXT_LOGIN:
            return Check(name, FAIL, f"login type {value.value} {f.access.plain_refusal}, and the "
                         f"application logs in on the plain port without {tls}. Better than this fix: set the "
                         f"application to {secure or tls + ' or SSL'}",
                         command(*f.on_server(f.access.command, "set", "--login-type", "plain-text-login")), page)
        return Check(name, WARN, "login type plain-text-login with a plain client: the password crosses the network "
                     f"in clear (set the application to {secure or tls + ' or SSL'})", None, page)
    if not target.mode_given:
        if value == LoginType.PLAIN_TEXT_LOGIN and f.cas.bindings:
            return Check(name, WARN, f"login type plain-text-login: clients may send passwords in clear on "
                         f"{', '.join(f.cas.bindings)}", command(*f.on_server(f.access.command, "set", "--login-type",
                                                                               "secure-login")), page)
        refused = f"; plain logins on {', '.join(f.cas.bindings)} are refused" if f.cas.bindings else ""
        return Check(name, PASS, f"login type {value.value}: applications log in after {secure or 'TLS'}{refused}",
                     None, page)
    after = tls if target.mode == "stls" else "the TLS handshake"
    if value == LoginType.PLAIN_TEXT_LOGIN and f.cas.bindings:
        return Check(name, WARN, f"login type plain-text-login: the application logs in after {after}, but other "
                     f"clients may send passwords in clear on {', '.join(f.cas.bindings)}",
                     command(*f.on_server(f.access.command, "set", "--login-type", "secure-login")), page)
    return Check(name, PASS, f"login type {value.value}: the application logs in after {after}", None, page)
