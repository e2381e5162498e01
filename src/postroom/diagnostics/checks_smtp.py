"""The receive-connector half of the checklist: the smtp service, the Client connector the
application submits through, and the connector that lets mail for the mailbox arrive."""
from __future__ import annotations

from urllib.parse import quote

from ..model import PermissionGroup, ReceiveConnector, ServiceStatus, parse_binding
from . import netinfo, probe
from .checks_pop import SERVICES_PAGE, service_running, start_command, startup
from .facts import Facts
from .result import FAIL, PASS, WARN, Check, Findings, command, not_checked

CLIENT_AUTH = "tls,basic,basic-require-tls"
USERS, ANONYMOUS = PermissionGroup.USERS.value, PermissionGroup.ANONYMOUS.value


def connector_page(f: Facts, connector: ReceiveConnector | None) -> str:
    base = f"/console/servers/{f.server.name}/connectors"
    return f"{base}/{quote(connector.name, safe='')}" if connector else base


def smtp_service(f: Facts) -> Check:
    name = "smtp-service"
    if f.node is None:
        return not_checked(name, "no node is serving this server (see pop3-service)", SERVICES_PAGE)
    if f.services["smtp"].status == ServiceStatus.STOPPED:
        return Check(name, FAIL, "the smtp service is stopped: the application cannot send, and no mail arrives",
                     start_command(f, "smtp"), SERVICES_PAGE)
    check = startup(f, "smtp", name)
    if check.status == PASS:
        check.detail = "running; " + check.detail
    return check


def _named(connectors: list[ReceiveConnector], prefix: str, server: str) -> ReceiveConnector | None:
    wanted = f"{prefix} {server}".casefold()
    return next((c for c in connectors if c.name.casefold() == wanted), None)


def client_connector_of(connectors: list[ReceiveConnector], server: str) -> ReceiveConnector | None:
    """`Client <SERVER>`, else the first connector for authenticated submission."""
    return _named(connectors, "Client", server) or next(
        (c for c in connectors if USERS in c.permission_groups and ANONYMOUS not in c.permission_groups), None)


def _live_state(f: Facts, connector: ReceiveConnector, findings: Findings) -> list[str]:
    """Its listening bindings per the node; a finding when it should listen and does not."""
    report = f.live("smtp").get("connectors", {}).get(connector.name, {})
    errors = report.get("errors", [])
    if report.get("state") != "running":
        findings.add(FAIL, f"{connector.name} does not listen ({report.get('state', 'no report')}"
                     + (f": {'; '.join(errors)}" if errors else "") + ")")
    elif errors:
        findings.add(FAIL, f"{connector.name}: {'; '.join(errors)}")
    return list(report.get("listening", []))


def client_connector(f: Facts) -> Check:
    name = "client-connector"
    connector = client_connector_of(f.connectors, f.server.name)
    page = connector_page(f, connector)
    if connector is None:
        return Check(name, FAIL, "no receive connector takes mail from applications that log in (permission group "
                     "users): the application cannot send",
                     command(*f.on_server("connector", "new", f"Client {f.server.name}", "--usage", "client")), page)
    findings = Findings()
    set_ = lambda *words: command(*f.on_server("connector", "set", connector.name, *words))  # noqa: E731
    if not connector.enabled:
        findings.add(FAIL, f"{connector.name} is disabled: the application cannot send (connections to "
                     f"{', '.join(connector.bindings) or 'it'} are refused)", set_("--enabled"))
    if USERS not in connector.permission_groups:
        findings.add(FAIL, f"{connector.name} does not grant the users group: nobody can log in to send",
                     set_("--permission-groups", ",".join([*connector.permission_groups, USERS])))
    if not connector.offers_tls():
        findings.add(FAIL, f"{connector.name} offers no TLS (auth: {','.join(connector.auth)}): the password would "
                     "cross the network in clear, and applications that insist on STARTTLS cannot send",
                     set_("--auth", CLIENT_AUTH))
    elif not connector.offers_basic():
        findings.add(FAIL, f"{connector.name} offers no basic authentication (auth: {','.join(connector.auth)}): "
                     "applications cannot log in to send", set_("--auth", CLIENT_AUTH))
    elif not connector.basic_requires_tls():
        findings.add(WARN, f"{connector.name} offers basic authentication before STARTTLS", set_("--auth", CLIENT_AUTH))
    listening: list[str] = []
    if connector.enabled and service_running(f, "smtp"):
        listening = _live_state(f, connector, findings)
    where = ", ".join(listening or connector.bindings)
    return findings.check(name, f"{connector.name}: enabled on {where}; STARTTLS, then AUTH "
                          f"(auth {','.join(connector.auth)})", page)


def default_connector(f: Facts) -> Check:
    name = "default-connector"
    findings = Findings()
    if f.domain not in f.domains:
        findings.add(FAIL, f"{f.domain} is not an accepted domain: mail for {f.address} is refused "
                     "(550 5.7.1)", command("domain", "add", f.domain))
    anonymous = [c for c in f.connectors if ANONYMOUS in c.permission_groups]
    enabled = [c for c in anonymous if c.enabled]
    default = _named(f.connectors, "Default", f.server.name)
    page = connector_page(f, enabled[0] if enabled else default)
    if not enabled:
        if anonymous:
            findings.add(FAIL, f"{anonymous[0].name} is disabled: mail from other servers cannot arrive",
                         command(*f.on_server("connector", "set", anonymous[0].name, "--enabled")))
        elif default is not None:
            findings.add(FAIL, f"{default.name} does not grant the anonymous group: mail from other servers is "
                         "refused (530 5.7.1)", command(*f.on_server(
                             "connector", "set", default.name, "--permission-groups",
                             ",".join([ANONYMOUS, *default.permission_groups]))))
        else:
            findings.add(FAIL, "no receive connector accepts mail from other servers (permission group anonymous)",
                         command(*f.on_server("connector", "new", f"Default {f.server.name}", "--usage", "internet")))
        return findings.check(name, "", page)
    if not service_running(f, "smtp"):
        findings.add(WARN, "not checked live: the smtp service is not running (see smtp-service)")
        return findings.check(name, "", page)
    listening = [(c, b) for c in enabled for b in _live_state(f, c, Findings())]
    if not listening:
        _live_state(f, enabled[0], findings)
        return findings.check(name, "", page)
    connector, binding = listening[0]
    if any(status == FAIL for status, _, _ in findings.items):
        return findings.check(name, "", page)  # the refusal is already explained
    if f.mailbox is None:
        findings.add(PASS, f"{connector.name} listens on {binding} (RCPT TO not tried: no such mailbox, see mailbox)")
        return findings.check(name, "", page)
    host, port = parse_binding("bindings", binding)
    steps = probe.Steps()
    try:
        reply = probe.rcpt_probe(steps, netinfo.reach_host(host, f.local, f.server.fqdn), port, f.address)
        findings.add(PASS, f"{connector.name} on {binding} accepts mail for {f.address} from other servers "
                     f"(RCPT TO: {reply.split(' ', 1)[0]}; {steps.summary()})")
    except probe.StepFailed as exc:
        findings.add(FAIL, f"{connector.name} on {binding} refused {exc.step} for {f.address}: {exc.error}")
    return findings.check(name, "", page)
