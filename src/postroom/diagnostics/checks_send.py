"""The checks of `postroom doctor send ADDRESS` (diagnostics/send.py gathers the facts, plans and
connects; this module judges them). Pure: no I/O."""
from __future__ import annotations

from urllib.parse import quote

from ..model import RecipientStatus, ServiceStatus, Startup, TrackingEventId
from ..model.queue import MessageStatus, QueueStatus
from .result import FAIL, PASS, WARN, Check, Findings, command, not_checked
from .send import SendFacts, candidates, queue_name

SEND_CONNECTORS_PAGE = "/console/send-connectors"
SERVICES_PAGE = "/console/services"


def transport_page(f: SendFacts) -> str:
    return f"/console/servers/{quote(f.server.name, safe='')}/transport"


def connector_page(name: str) -> str:
    return f"{SEND_CONNECTORS_PAGE}/{quote(name, safe='')}"


def tracking_page(f: SendFacts) -> str:
    return f"/console/logs/tracking?recipient={quote(f.address, safe='@')}"


def run_checks(f: SendFacts) -> list[Check]:
    """Every check, in CHECK_NAMES's order."""
    return [recipient(f), delivery_service(f), send_connector(f), dns(f), dane(f), next_hop(f), queue(f), tracking(f)]


def recipient(f: SendFacts) -> Check:
    if f.is_local:
        return Check("recipient", WARN, f"{f.domain} is an accepted domain: mail to {f.address} is delivered to a "
                     "mailbox here and never sent out (no send connector, DNS or next hop is involved; "
                     f"`postroom doctor pop {f.address}` checks the mailbox)", None, "/console/domains")
    return Check("recipient", PASS, f"{f.domain} is not an accepted domain: mail to {f.address} leaves through a "
                 "send connector", None, None)


def _why_not_outbound(f: SendFacts) -> str | None:
    return "the recipient is local (see recipient)" if f.is_local else None


def delivery_service(f: SendFacts) -> Check:
    name = "delivery-service"
    if not f.node_serving:
        age = "never" if f.heartbeat_age is None else f"none for {f.heartbeat_age:.0f} s"
        return Check(name, FAIL, f"no node is serving server {f.server.name} (heartbeat: {age}): nothing is delivered, "
                     "queued messages wait", command("serve", "--data", f.data_dir), SERVICES_PAGE)
    if f.smtp is None or f.smtp.status != ServiceStatus.RUNNING:
        start = command(*f.on_server("service", "start", "smtp"))
        if f.smtp is not None and f.smtp.startup == Startup.DISABLED:
            start = command(*f.on_server("service", "set", "smtp", "--startup", "automatic")) + " && " + start
        return Check(name, FAIL, "the smtp service is stopped: the queue's delivery worker runs only while it does; "
                     "queued messages wait", start, SERVICES_PAGE)
    return Check(name, PASS, f"the smtp service runs on server {f.server.name}: its delivery worker sends the queue",
                 None, SERVICES_PAGE)


def send_connector(f: SendFacts) -> Check:
    name, page = "send-connector", SEND_CONNECTORS_PAGE
    why = _why_not_outbound(f)
    if why:
        return not_checked(name, why, page)
    if f.route is not None:
        c = f.route.connector
        how = "DNS (MX records)" if c.dns_routing else f"smart hosts {', '.join(c.smart_hosts)}"
        tls = ("TLS required" if c.require_tls or c.tls_auth_level else "opportunistic TLS") + \
            (f", {c.tls_auth_level}" if c.tls_auth_level else "") + (", DANE" if c.dane and c.dns_routing else "")
        return Check(name, PASS, f"{c.name} routes {f.domain} (address space {f.route.address_space}; {how}, port "
                     f"{c.port}, {tls}); queue {queue_name(f.route)}", None, connector_page(c.name))
    refused = f"mail to {f.domain} is refused at submission with 550 5.7.1 (relaying denied)"
    if not f.connectors:
        return Check(name, FAIL, f"there is no send connector: {refused}",
                     command(*f.on_server("send-connector", "new", "Internet", "--address-spaces", "*")), page)
    matching = candidates(f)
    if not matching:
        spaces = "; ".join(f"{c.name}: {', '.join(c.address_spaces) or 'none'}" for c in f.connectors)
        first = f.connectors[0]
        return Check(name, FAIL, f"no send connector's address spaces match {f.domain} ({spaces}): {refused}",
                     command("send-connector", "set", first.name, "--address-spaces",
                             ",".join([*first.address_spaces, f.domain])), page)
    connector, _ = matching[0]
    where = connector_page(connector.name)
    if not connector.enabled:
        return Check(name, FAIL, f"{connector.name} would route {f.domain} but is disabled: {refused}",
                     command("send-connector", "set", connector.name, "--enabled"), where)
    servers = ", ".join(connector.source_servers) or "none"
    return Check(name, FAIL, f"{connector.name} would route {f.domain} but does not send from server "
                 f"{f.server.name} (its source servers: {servers}): {refused}",
                 command("send-connector", "set", connector.name, "--source-servers",
                         ",".join([*connector.source_servers, f.server.name])), where)


def _no_route(f: SendFacts) -> str | None:
    if f.is_local:
        return "the recipient is local (see recipient)"
    if f.route is None:
        return "no send connector routes the domain (see send-connector)"
    return None


def dns(f: SendFacts) -> Check:
    name, page = "dns", transport_page(f)
    why = _no_route(f)
    if why:
        return not_checked(name, why, page)
    assert f.route is not None
    if f.plan_error or f.plan is None:
        return Check(name, FAIL, f"the next hop could not be planned: {f.plan_error}", None, page)
    plan, via = f.plan, f.resolver_text
    connector = f.route.connector
    if not connector.dns_routing:
        return _smart_hosts(f, page)
    answer = plan.answer
    assert answer is not None
    if answer.error is not None:
        error = answer.error
        outcome = ("messages to it bounce now" if error.permanent else
                   "messages wait in the queue and are retried")
        status_text = f"{error.status}: {error.text}"
        if error.kind == "null-mx":
            detail = (f"{f.domain} publishes a null MX (\"MX 0 .\", RFC 7505): it accepts no mail at all; "
                      f"{outcome} ({status_text}). Tell the sender: the address cannot receive mail")
        elif error.kind == "nxdomain":
            detail = (f"{f.domain} does not exist (NXDOMAIN from {via}): {outcome} ({status_text}). Check the "
                      "address's spelling")
        elif error.temporary:
            advice = ("check that these servers answer (dig @SERVER MX " + f.domain + ")" if f.transport.dns_servers
                      else "check /etc/resolv.conf, or name DNS servers in the transport settings")
            detail = f"{via} did not answer for {f.domain}: {outcome} ({status_text}); {advice}"
        else:
            detail = f"{f.domain}: {outcome} ({status_text}, asked {via})"
        return Check(name, FAIL, detail, None, page)
    findings = Findings()
    hosts = ", ".join(f"{h.preference} {h.name} [{', '.join(h.addresses)}]" for h in answer.hosts)
    kind = "no MX records, implicit MX: the domain's own address (RFC 5321 5.1)" if answer.implicit else "MX"
    signed = "DNSSEC-authenticated" if answer.authenticated else "not DNSSEC-authenticated"
    findings.add(PASS, f"{kind}: {hosts} (asked {via}; {signed})")
    for skipped in plan.skipped:
        findings.add(WARN, f"left out: {skipped}")
    if plan.looped:
        looped = ", ".join(f"{t.host} [{t.address}]:{t.port}" for t in plan.looped)
        fix = command("domain", "add", f.domain)
        status = FAIL if plan.failure is not None else WARN
        findings.add(status, f"{looped} is this server: mail for {f.domain} would loop (a bounce 5.4.6). If "
                     f"{f.domain} is ours, make it an accepted domain; else fix its MX records", fix)
    elif plan.failure is not None:
        findings.add(FAIL, f"no usable next hop: {plan.failure.text}")
    return findings.check(name, "", page)


def _smart_hosts(f: SendFacts, page: str) -> Check:
    assert f.plan is not None and f.route is not None
    connector = f.route.connector
    findings = Findings()
    targets = ", ".join(f"{t.host} [{t.address}]:{t.port}" for t, _ in f.plan.targets)
    if targets:
        findings.add(PASS, f"smart hosts of {connector.name}: {targets} (asked {f.resolver_text})")
    for skipped in f.plan.skipped:
        findings.add(WARN if targets else FAIL, f"{skipped}; messages wait and are retried")
    if f.plan.failure is not None and not f.plan.skipped:
        findings.add(FAIL, f.plan.failure.text, command("send-connector", "set", connector.name, "--smart-hosts",
                                                         "smarthost.example.net"))
    if f.plan.looped:
        findings.add(FAIL if f.plan.failure else WARN, "a smart host is this server: mail would loop")
    return findings.check("dns", "", connector_page(connector.name))


def dane(f: SendFacts) -> Check:
    name, page = "dane", transport_page(f)
    why = _no_route(f)
    if why:
        return not_checked(name, why, page)
    assert f.route is not None
    connector = f.route.connector
    if not connector.dns_routing:
        return Check(name, PASS, f"not used: {connector.name} sends to smart hosts (DANE is for MX hosts)", None, page)
    if not connector.dane:
        return Check(name, PASS, f"off on {connector.name}: TLS as its settings say", None, page)
    if not f.transport.dns_servers:
        return Check(name, PASS, "not used: the system resolver's DNSSEC answers are not trusted; to use DANE, name "
                     "a validating resolver: " + command(*f.on_server("transport", "set", "--dns-servers", "IP")),
                     None, page)
    if f.plan is None or f.plan.answer is None or f.plan.answer.error is not None:
        return not_checked(name, "DNS gave no MX host (see dns)", page)
    findings = Findings()
    if not f.plan.tlsa:
        findings.add(PASS, f"no MX host of {f.domain} has DNSSEC-authenticated addresses: no TLSA lookup, "
                     "opportunistic TLS (RFC 7672 2.2)")
    for host, answer in f.plan.tlsa:
        if answer.error is not None and answer.error.temporary:
            findings.add(FAIL, f"{host}: the TLSA lookup of {answer.name} failed ({answer.error.text}): a signed host "
                         "is not used without it; messages wait")
        elif answer.authenticated and answer.records:
            findings.add(PASS, f"{host}: {len(answer.records)} TLSA record(s) at {answer.name}, DNSSEC-authenticated: "
                         "TLS is mandatory and the certificate must match them")
        elif answer.records:
            findings.add(PASS, f"{host}: TLSA records at {answer.name} are not authenticated: ignored")
        else:
            findings.add(PASS, f"{host}: no TLSA records at {answer.name}: opportunistic TLS")
    if f.plan.failure is not None and f.plan.failure.enhanced == "4.7.5":
        findings.add(FAIL, f.plan.failure.text)
    return findings.check(name, "", page)


def next_hop(f: SendFacts) -> Check:
    name = "next-hop"
    page = SEND_CONNECTORS_PAGE if f.route is None else connector_page(f.route.connector.name)
    why = _no_route(f)
    if why is None and (f.plan is None or not f.plan.targets):
        why = "no target to connect to (see dns)"
    if why:
        return not_checked(name, why, page)
    assert f.route is not None
    if f.probe_skipped:
        if "password" in f.probe_skipped:
            return Check(name, FAIL, f.probe_skipped, command("send-connector", "set", f.route.connector.name,
                                                              "--auth-password-stdin"), page)
        return not_checked(name, f.probe_skipped, page)
    failures = [f"{a.where}: {a.error}" for a in f.attempts if a.error]
    ok = f.connected
    if ok is None:
        detail = "no next hop took a session: " + "; ".join(failures) + \
            ". Messages wait in the queue and are retried"
        if any("4.4.1" in text for text in failures):
            detail += f" (if every host refuses or times out, check that this server may connect out to port " \
                      f"{f.route.connector.port}: firewalls and providers often block 25)"
        return Check(name, FAIL, detail, None, page)
    found: list[tuple[str, str]] = [(WARN, f"tried first: {text}") for text in failures]
    extensions = ", ".join(e.split(" ", 1)[0] for e in ok.extensions if e.strip()) or "none (HELO only)"
    found.append((PASS, f"{ok.where}: greeting \"{ok.greeting}\"; EHLO offers {extensions}"))
    if ok.tls:
        found.append((PASS, f"STARTTLS: {ok.tls}"))
    elif ok.clear_fallback:
        found.append((WARN, f"STARTTLS offered but the TLS handshake failed ({ok.tls_error}): delivery then sends in "
                      "clear, as Postfix does for opportunistic TLS"))
    elif not ok.starttls:
        found.append((WARN, "STARTTLS not offered: mail goes to this host in clear (opportunistic TLS)"))
    if f.route.connector.smart_host_auth == "basic" and f.route.connector.auth_username:
        found.append((PASS, "smart-host login accepted"))
    # Unlike Findings, every fact is shown: the greeting and EHLO matter most when something warns.
    status = WARN if any(s == WARN for s, _ in found) else PASS
    return Check(name, status, "; ".join(text for _, text in found), None, page)


def queue(f: SendFacts) -> Check:
    name = "queue"
    findings = Findings()
    by_name = {q.name: q for q in f.queues}
    if f.route is not None:
        info = by_name.get(queue_name(f.route))
        if info is not None and info.status == QueueStatus.SUSPENDED:
            findings.add(FAIL, f"queue {info.name} is suspended: none of its {info.message_count} message(s) is "
                         "tried until resumed", command("queue", "resume", info.name))
    for message, r in f.queued:
        head = f"{message.id} (from {message.sender or '<>'}, queued {message.created_at[:19]}Z)"
        tried = f"{r.attempts} attempt(s)" + (f", last reply \"{r.last_reply}\" at {r.last_attempt_at[:19]}Z"
                                              if r.last_reply and r.last_attempt_at else "")
        if message.status == MessageStatus.POISON:
            findings.add(FAIL, f"{head} is a poison message: its delivery crashed the worker twice; it is never "
                         "retried until an admin resumes or removes it", command("message", "resume", message.id))
        elif message.status == MessageStatus.SUSPENDED:
            findings.add(FAIL, f"{head} is suspended by an admin", command("message", "resume", message.id))
        elif r.status == RecipientStatus.RETRY:
            findings.add(WARN, f"{head} waits for a retry: {tried}; next retry {(r.next_attempt_at or '')[:19]}Z",
                         command("queue", "retry", r.queue))
        elif r.status == RecipientStatus.READY:
            findings.add(WARN, f"{head} waits for its first attempt (queue {r.queue})")
    if not f.queued:
        findings.add(PASS, f"no message to {f.address} waits in the queue")
    return findings.check(name, "", None)


def tracking(f: SendFacts) -> Check:
    name, page = "tracking", tracking_page(f)
    fix = command("log", "tracking", "--recipient", f.address)
    if not f.tracking:
        return Check(name, WARN, f"message tracking has no event for {f.address} in 30 days: this server never "
                     "received a message for it (was it sent through another server?)", fix, page)
    events = "; ".join(f"{e.at[:19]}Z {e.event_id.value} {e.queue_id} {e.status}".rstrip() for e in f.tracking[-5:])
    outcome = [e for e in f.tracking if e.event_id not in (TrackingEventId.DSN, TrackingEventId.RECEIVE)]
    last = outcome[-1] if outcome else f.tracking[-1]
    verdict = {TrackingEventId.SEND: PASS, TrackingEventId.DELIVER: PASS, TrackingEventId.FAIL: FAIL,
               TrackingEventId.POISONMESSAGE: FAIL, TrackingEventId.DEFER: WARN}.get(last.event_id, WARN)
    said = {TrackingEventId.SEND: "the next hop took the last message; if it did not arrive, ask the recipient's "
                                  "postmaster with the reply's queue id",
            TrackingEventId.DELIVER: "the last message is in the mailbox",
            TrackingEventId.FAIL: "the last message failed: the sender got a non-delivery report with this reply",
            TrackingEventId.DEFER: "the last attempt failed for now: the message waits and is retried",
            TrackingEventId.POISONMESSAGE: "the last message was set aside as poison (see queue)",
            }.get(last.event_id, "the last message was received and is not yet sent")
    return Check(name, verdict, f"{said}. Newest events: {events}", None if verdict == PASS else fix, page)
