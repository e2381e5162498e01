"""DNS for outbound delivery: the next hops of a domain (MX, implicit MX, null MX), host addresses
and TLSA records, through dnspython's asynchronous stub resolver, behind a TTL cache of our own.

What a delivery needs to decide, and only that, as values:
- `mx_hosts(domain)` -> `NextHopAnswer`: the MX hosts in delivery order (preference ascending,
  equal preferences shuffled on every call, RFC 5321 5.1), each with its addresses (IPv4 first);
  no MX records -> the domain itself is the one host (implicit MX); `MX 0 .` -> null MX (RFC 7505:
  the domain takes no mail; its A records are not used). When there is no host to try, `error`
  says why and whether it is permanent (bounce) or temporary (retry):

  | kind         | when                                            | status |
  | ------------ | ----------------------------------------------- | ------ |
  | `nxdomain`   | the domain does not exist                       | 5.4.4  |
  | `no-address` | no MX host (or the implicit one) has an address | 5.4.4  |
  |              | (an MX host that does not exist included)       |        |
  | `null-mx`    | the domain publishes a null MX                  | 5.1.10 |
  | `bad-name`   | not a valid domain name                         | 5.1.2  |
  | `servfail`   | the server failed (SERVFAIL, REFUSED...)        | 4.4.3  |
  | `timeout`    | no answer within the timeout                    | 4.4.3  |

  A temporary failure for any host wins over a permanent one when no host is usable: one MX
  host's DNS being down must not bounce mail another MX host would have taken later.
- `addresses(host)` -> A and AAAA (IPv4 first); an IP address is returned as it is. Raises
  `DnsFailure` (with the `DnsError`) when there is none.
- `tlsa(host, port)` -> `TlsaAnswer`: the records of `_<port>._tcp.<host>` and whether the
  answer was authenticated.

DNSSEC: queries carry EDNS0 with the DO bit (and AD, RFC 6840 5.7), and an answer counts as
authenticated when the response has the AD bit *and* it came from servers the administrator
configured (a validating resolver they trust, on a path they trust); the system resolver's AD
bit is never trusted, as Postfix does with `smtp_dns_support_level = dnssec` only on a trusted
resolver. `NextHopAnswer.authenticated` (the MX RRset), `MxHost.authenticated` (its address
records) and `TlsaAnswer.authenticated` carry it, one flag per step, for the delivery path to
apply RFC 7672 2.2: TLSA records count only when their answer is authenticated; they are looked
up for hosts whose address records are secure; an insecure MX answer does not rule DANE out
(2.2.1 allows it for the hosts it names).

Cache: answers are kept for their TTL (the smallest along a CNAME chain; at most a day), NXDOMAIN
and no-data answers for the SOA's negative TTL (RFC 2308; a minute without SOA, at most an hour),
SERVFAIL and timeouts for 30 seconds, so a queue of messages to a broken domain asks once; at
most `cache_size` entries (least recently used out first). Concurrent identical queries share
one request. The clock is injectable for tests.
"""
from __future__ import annotations

import asyncio
import ipaddress
import random
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Sequence

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

from .dane import TlsaRecord
from .errors import ValidationError

MAX_TTL = 86400
MAX_NEGATIVE_TTL = 3600
TEMPFAIL_TTL = 30
DNS_PORT = 53

_STATUS = {"nxdomain": "5.4.4", "no-address": "5.4.4", "null-mx": "5.1.10", "bad-name": "5.1.2",
           "servfail": "4.4.3", "timeout": "4.4.3"}
TEMPORARY_KINDS = frozenset({"servfail", "timeout"})


@dataclass(frozen=True)
class DnsError:
    """Why a name gave no usable answer. `permanent` errors bounce, the others are retried."""
    kind: str      # nxdomain | no-address | null-mx | bad-name | servfail | timeout
    name: str      # the name that failed (the domain, or an MX host)
    rdtype: str    # the query type that failed ("MX", "A", "AAAA", "TLSA")
    detail: str = ""

    @property
    def temporary(self) -> bool:
        return self.kind in TEMPORARY_KINDS

    @property
    def permanent(self) -> bool:
        return not self.temporary

    @property
    def status(self) -> str:
        """The RFC 3463 enhanced status code for a DSN: 5.4.4, 5.1.10, 5.1.2 or 4.4.3."""
        return _STATUS[self.kind]

    @property
    def text(self) -> str:
        """One line for a DSN or the queue viewer, e.g. `Host or domain name not found (nxdomain.test MX:
        NXDOMAIN)`."""
        what = {"nxdomain": "Host or domain name not found",
                "no-address": "Host or domain name not found: no address record",
                "null-mx": "Domain does not accept mail (null MX)",
                "bad-name": "Invalid domain name",
                "servfail": "DNS server failure, try again",
                "timeout": "DNS lookup timed out, try again"}[self.kind]
        return f"{what} ({self.name} {self.rdtype}{': ' + self.detail if self.detail else ''})"


class DnsFailure(Exception):
    """`Resolver.addresses` found no address: `error` says why."""

    def __init__(self, error: DnsError) -> None:
        super().__init__(error.text)
        self.error = error


@dataclass(frozen=True)
class MxHost:
    name: str
    preference: int
    addresses: list[str]
    authenticated: bool = False  # its address records were DNSSEC-validated (trusted AD bit)
    error: DnsError | None = None  # why it has no address (only in NextHopAnswer.unusable)


@dataclass(frozen=True)
class NextHopAnswer:
    domain: str
    hosts: list[MxHost]  # usable hosts (with addresses), in delivery order
    implicit: bool = False  # no MX: the domain's own A/AAAA (RFC 5321 5.1)
    null_mx: bool = False  # "MX 0 ." (RFC 7505); error is then the 'null-mx' DnsError
    error: DnsError | None = None  # set exactly when hosts is empty
    authenticated: bool = False  # the MX answer was DNSSEC-validated (trusted AD bit)
    unusable: list[MxHost] = field(default_factory=list)  # MX hosts without an address, with the reason


@dataclass(frozen=True)
class TlsaAnswer:
    name: str  # _25._tcp.<host>
    records: list[TlsaRecord]
    authenticated: bool = False
    error: DnsError | None = None  # servfail/timeout (RFC 7672 2.2: a secure host's failed TLSA
    # lookup defers delivery); never set for "no records", which is an empty list


@dataclass(frozen=True)
class _Result:
    """One query's outcome, as cached."""
    kind: str  # ok | nodata | nxdomain | servfail | timeout | bad-name
    records: tuple[object, ...] = ()
    authenticated: bool = False
    detail: str = ""


def parse_server(text: str) -> tuple[str, int]:
    """A DNS server setting: `ip`, `ip:port`, `[ipv6]:port` or a bare IPv6 address."""
    value = text.strip()
    host, port = value, DNS_PORT
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValidationError("dns_servers", f"{text!r} is not ip, ip:port or [ipv6]:port")
            port = _port(text, rest[1:])
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
        port = _port(text, port_text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValidationError("dns_servers", f"{text!r} is not an IP address (ip, ip:port or [ipv6]:port)") \
            from None
    return host, port


def _port(text: str, port_text: str) -> int:
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValidationError("dns_servers", f"{text!r}: the port must be a number from 1 to 65535")
    return int(port_text)


class Resolver:
    """See the module's docstring. One per node (its cache is shared by every delivery)."""

    def __init__(self, servers: Sequence[str] = (), *, timeout: float = 5.0,
                 clock: Callable[[], float] = time.monotonic, cache_size: int = 10000,
                 rng: random.Random | None = None) -> None:
        self.servers = [parse_server(s) for s in servers]
        self.timeout = timeout
        self.clock = clock
        self.cache_size = cache_size
        self.trust_ad = bool(self.servers)
        self.hits = 0
        self.misses = 0
        self._rng = rng or random.Random()
        self._cache: OrderedDict[tuple[str, str], tuple[float, _Result]] = OrderedDict()
        self._inflight: dict[tuple[str, str], asyncio.Future[_Result]] = {}
        self._stub = self._make_stub()

    def _make_stub(self) -> dns.asyncresolver.Resolver:
        if self.servers:
            stub = dns.asyncresolver.Resolver(configure=False)
            stub.nameservers = [dns.nameserver.Do53Nameserver(host, port) for host, port in self.servers]
        else:
            try:
                stub = dns.asyncresolver.Resolver()  # /etc/resolv.conf
            except dns.resolver.NoResolverConfiguration:
                stub = dns.asyncresolver.Resolver(configure=False)
                stub.nameservers = ["127.0.0.1"]
        stub.cache = None  # ours: bounded, with the injected clock and negative caching
        stub.lifetime = self.timeout
        stub.timeout = min(self.timeout, 2.0)  # per try; the lifetime bounds the whole lookup
        stub.use_edns(0, dns.flags.DO, 1232)
        stub.flags = dns.flags.RD | dns.flags.AD
        return stub

    # -- the three lookups -------------------------------------------------------------------------

    async def mx_hosts(self, domain: str) -> NextHopAnswer:
        name = _normalise(domain)
        literal = _address_literal(name) if name.startswith("[") else None
        if literal is not None:  # user@[192.0.2.1]: that address is the host (RFC 5321 4.1.3)
            return NextHopAnswer(name, [MxHost(name, 0, [literal])], implicit=True)
        mx = await self._lookup(name, "MX")
        if mx.kind in ("nxdomain", "servfail", "timeout", "bad-name"):
            return NextHopAnswer(name, [], error=DnsError(mx.kind, name, "MX", mx.detail))
        if mx.kind == "nodata" or not mx.records:
            host = await self._host(name, 0)
            if host.error is not None:
                return NextHopAnswer(name, [], implicit=True, error=host.error, unusable=[host])
            return NextHopAnswer(name, [host], implicit=True, authenticated=mx.authenticated)
        records = [(int(r.preference), r.exchange.to_text(omit_final_dot=True).lower())  # type: ignore[attr-defined]
                   for r in mx.records]
        real = [(pref, host) for pref, host in records if host not in ("", ".")]
        if not real:
            return NextHopAnswer(name, [], null_mx=True, authenticated=mx.authenticated,
                                 error=DnsError("null-mx", name, "MX", "MX 0 ."))
        ordered = self._delivery_order(real)
        looked_up = await asyncio.gather(*(self._host(host, pref) for pref, host in ordered))
        usable = [h for h in looked_up if h.addresses]
        unusable = [h for h in looked_up if not h.addresses]
        if usable:
            return NextHopAnswer(name, usable, authenticated=mx.authenticated, unusable=unusable)
        errors = [h.error for h in unusable if h.error is not None]
        error = next((e for e in errors if e.temporary), errors[0])
        return NextHopAnswer(name, [], authenticated=mx.authenticated, unusable=unusable, error=error)

    async def addresses(self, host: str) -> list[str]:
        name = _normalise(host)
        literal = _address_literal(name)
        if literal is not None:
            return [literal]
        found = await self._host(name, 0)
        if found.error is not None:
            raise DnsFailure(found.error)
        return found.addresses

    async def tlsa(self, host: str, port: int = 25) -> TlsaAnswer:
        name = f"_{port}._tcp.{_normalise(host)}"
        result = await self._lookup(name, "TLSA")
        if result.kind in ("servfail", "timeout", "bad-name"):
            return TlsaAnswer(name, [], error=DnsError(result.kind, name, "TLSA", result.detail))
        records = [TlsaRecord(int(r.usage), int(r.selector), int(r.mtype), bytes(r.cert))  # type: ignore[attr-defined]
                   for r in result.records]
        return TlsaAnswer(name, records, authenticated=result.authenticated)

    def clear_cache(self) -> None:
        self._cache.clear()

    # -- helpers -------------------------------------------------------------------------------------

    def _delivery_order(self, records: list[tuple[int, str]]) -> list[tuple[int, str]]:
        ordered: list[tuple[int, str]] = []
        for preference in sorted({pref for pref, _ in records}):
            group = sorted({host for pref, host in records if pref == preference})
            self._rng.shuffle(group)
            ordered += [(preference, host) for host in group if host not in {h for _, h in ordered}]
        return ordered

    async def _host(self, name: str, preference: int) -> MxHost:
        """A host's addresses (A then AAAA), or why it has none. An MX target is a host name, never an
        address (RFC 5321 5.1): `10 192.0.2.1.` is looked up as a name, and finds nothing."""
        a, aaaa = await asyncio.gather(self._lookup(name, "A"), self._lookup(name, "AAAA"))
        addresses = [r.address for r in a.records] + [r.address for r in aaaa.records]  # type: ignore[attr-defined]
        if addresses:
            secure = all(r.authenticated for r in (a, aaaa) if r.records)
            return MxHost(name, preference, addresses, authenticated=secure)
        failed = next((r for r in (a, aaaa) if r.kind in TEMPORARY_KINDS), None) \
            or next((r for r in (a, aaaa) if r.kind in ("nxdomain", "bad-name")), None)
        if failed is not None:  # a host that does not exist has no address: 'no-address'
            kind = "no-address" if failed.kind == "nxdomain" else failed.kind
            rdtype = "A" if failed is a else "AAAA"
            return MxHost(name, preference, [], error=DnsError(kind, name, rdtype, failed.detail))
        return MxHost(name, preference, [], error=DnsError("no-address", name, "A/AAAA", "no A or AAAA record"))

    async def _lookup(self, name: str, rdtype: str) -> _Result:
        key = (name, rdtype)
        now = self.clock()
        cached = self._cache.get(key)
        if cached is not None:
            if cached[0] > now:
                self._cache.move_to_end(key)
                self.hits += 1
                return cached[1]
            del self._cache[key]
        task = self._inflight.get(key)
        if task is None:
            self.misses += 1
            task = self._inflight[key] = asyncio.ensure_future(self._fetch(key))
        else:
            self.hits += 1  # the same question is on its way: share its answer
        return await asyncio.shield(task)  # a cancelled caller does not cancel the others' query

    async def _fetch(self, key: tuple[str, str]) -> _Result:
        try:
            result, ttl = await self._query(*key)
            if ttl > 0:
                self._cache[key] = (self.clock() + ttl, result)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
            return result
        finally:
            self._inflight.pop(key, None)

    async def _query(self, name: str, rdtype: str) -> tuple[_Result, int]:
        """Ask the servers; the result and how long it may be cached."""
        try:
            qname = dns.name.from_text(name)
        except (dns.exception.DNSException, UnicodeError) as exc:
            return _Result("bad-name", detail=str(exc)), 0
        try:
            answer = await self._stub.resolve(qname, rdtype, raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN as exc:
            ttl = _negative_ttl(exc, qname)
            return _Result("nxdomain", detail="NXDOMAIN"), ttl
        except dns.resolver.LifetimeTimeout:
            return _Result("timeout", detail=f"no answer within {self.timeout:g}s"), TEMPFAIL_TTL
        except dns.resolver.NoNameservers as exc:
            return _Result("servfail", detail=_servfail_detail(exc)), TEMPFAIL_TTL
        except dns.resolver.YXDOMAIN:
            return _Result("servfail", detail="YXDOMAIN"), TEMPFAIL_TTL
        except dns.exception.DNSException as exc:  # anything else a server did: retry later
            return _Result("servfail", detail=type(exc).__name__), TEMPFAIL_TTL
        authenticated = self.trust_ad and bool(answer.response.flags & dns.flags.AD)
        ttl = answer.chaining_result.minimum_ttl
        if answer.rrset is None:
            return _Result("nodata", authenticated=authenticated), min(ttl, MAX_NEGATIVE_TTL)
        return _Result("ok", tuple(answer.rrset), authenticated), min(ttl, MAX_TTL)


def _normalise(domain: str) -> str:
    return domain.strip().rstrip(".").lower()


def _address_literal(name: str) -> str | None:
    """`[192.0.2.1]`, `[IPv6:2001:db8::1]` or a bare IP address: the address; else None."""
    text = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    if text.lower().startswith("ipv6:"):
        text = text[5:]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _negative_ttl(exc: dns.resolver.NXDOMAIN, qname: dns.name.Name) -> int:
    try:
        response = exc.response(qname)
        ttl = response.resolve_chaining().minimum_ttl
    except Exception:  # no response kept: the default
        ttl = 60
    return min(ttl, MAX_NEGATIVE_TTL)


def _servfail_detail(exc: dns.resolver.NoNameservers) -> str:
    errors = exc.kwargs.get("errors") or []
    reasons = {e[3] if isinstance(e[3], str) else type(e[3]).__name__ for e in errors}  # rcode or exception
    return ", ".join(sorted(reasons)) or "no server answered"
