"""One outbound SMTP connection: the sans-IO client core driven over an asyncio stream (used by
the delivery worker, server/outbound/hops.py, and by `postroom doctor send`).

`ClientConnection.open` connects (from the connector's source address), waits for the greeting,
says EHLO and applies the TLS policy (STARTTLS, certificate checks, DANE); then `send` runs one
transaction per message on the same connection (connection reuse), and `close` says QUIT.
A failure that makes this host unusable raises `HostFailure` (the worker tries the next
address); what the host answered about a message is returned as replies, never raised.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import ssl
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from cryptography import x509

from ..dane import TlsaRecord, check_tlsa
from ..protocol._common import _Sentinel
from ..protocol.smtp_client import (
    AuthDone, Capabilities, Closed, ContentDone, EhloDone, Envelope, Event, Greeting, ProtocolViolation,
    RecipientsDone, Reply, SmtpClient, State, TlsReady, local_reply,
)

log = logging.getLogger("postroom.outbound")
READ_SIZE = 65536


class HostFailure(Exception):
    """This host cannot take mail now (or ever, `permanent`): the reply says why."""

    def __init__(self, reply: Reply, *, permanent: bool = False, tls: bool = False) -> None:
        super().__init__(reply.text)
        self.reply = reply
        self.permanent = permanent
        self.tls = tls  # the TLS handshake itself failed (opportunistic TLS may retry in clear)


@dataclass(frozen=True)
class TlsPolicy:
    """What TLS this connection needs. `mandatory`: no mail in clear (require-tls, a TLS
    auth level, DANE). `verify`: check the certificate against the system's CAs;
    `names`: the names it must carry (domain-validation), empty: any. `tlsa`: DANE records
    (authenticated): the certificate must match one of them, and nothing else is checked."""

    offer: bool = True  # use STARTTLS when the host offers it
    mandatory: bool = False
    verify: bool = False
    names: tuple[str, ...] = ()
    tlsa: tuple[TlsaRecord, ...] = ()
    plain_fallback: bool = False  # opportunistic: after a failed handshake, this connection is in clear


@dataclass(frozen=True)
class Target:
    """One address to try: the host's name (for TLS and logs), its address and port."""

    host: str
    address: str
    port: int


def tls_context(policy: TlsPolicy) -> ssl.SSLContext:
    if policy.verify and not policy.tlsa:
        context = ssl.create_default_context()
        context.check_hostname = False  # names are checked here (domain-validation) or not at all
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # DANE or opportunistic: the certificate is checked here, or not
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class SessionLog:
    """One outbound session's lines in its send connector's protocol log (the receive
    connectors' format: `>` what we sent, `<` what the next hop answered, `+`/`-` connect and
    disconnect); AUTH secrets are never written (the core shows them as ****)."""

    def __init__(self, plog: Any, local: str, remote: str) -> None:
        self.plog, self.local, self.remote = plog, local, remote
        self.id = secrets.token_hex(8).upper()
        self.sequence = 0
        self.closed = False

    def write(self, event: str, data: str, context: str = "") -> None:
        if not self.closed:
            self.plog.write(self.id, self.sequence, self.local, self.remote, event, data, context)
            self.sequence += 1

    def line(self, sent: bool, text: str) -> None:
        self.write(">" if sent else "<", text)

    def close(self) -> None:
        self.write("-", "")
        self.closed = True


class ClientConnection:
    def __init__(self, target: Target, core: SmtpClient, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, timeout: float) -> None:
        self.target = target
        self.core = core
        self.reader = reader
        self.writer = writer
        self.timeout = timeout
        self.tls_version: str | None = None
        self.tls_note = ""  # how the certificate was checked, for tracking and the doctor
        self.greeting = ""
        self.log: SessionLog | None = None
        #: The last `send`'s answer to the end of its data (the next hop's verdict on the content,
        #: shared by every recipient it decided), None when the content was never sent.
        self.content_reply: Reply | None = None

    @property
    def capabilities(self) -> Capabilities:
        return self.core.capabilities

    @classmethod
    async def open(cls, target: Target, helo: str, policy: TlsPolicy, *, timeout: float,
                   source_ip: str | None = None, own_names: Sequence[str] = (),
                   credentials: tuple[str, str] | None = None, protocol_log: Any = None,
                   observer: Callable[[bool, str], None] | None = None) -> ClientConnection:
        """Connect and get the session ready for mail, or raise HostFailure."""
        local = (source_ip, 0) if source_ip else None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(target.address, target.port, local_addr=local, limit=READ_SIZE), timeout)
        except asyncio.TimeoutError:
            raise HostFailure(local_reply(451, "4.4.1", f"connect to {target.host}[{target.address}]:{target.port}: "
                                                         "timed out")) from None
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise HostFailure(local_reply(451, "4.4.1", f"connect to {target.host}[{target.address}]:{target.port}: "
                                                         f"{reason}")) from None
        core = SmtpClient(helo)
        conn = cls(target, core, reader, writer, timeout)
        if protocol_log is not None:
            conn.log = SessionLog(protocol_log, _endpoint(writer.get_extra_info("sockname")),
                                  _endpoint(writer.get_extra_info("peername")))
            conn.log.write("+", "", f"{target.host} [{target.address}]:{target.port}")
            core.observer = conn.log.line
        if observer is not None:  # the doctor's view of the replies (with the protocol log: both)
            core.observer = observer if core.observer is None else _both(core.observer, observer)
        try:
            await conn._start(helo, policy, own_names, credentials)
        except BaseException:
            conn.abort()
            raise
        return conn

    async def _start(self, helo: str, policy: TlsPolicy, own_names: Sequence[str],
                     credentials: tuple[str, str] | None) -> None:
        event = await self.event()
        if not isinstance(event, Greeting) or not event.reply.positive:
            raise HostFailure(self._refused(event, "greeting"))
        self.greeting = event.reply.lines[0] if event.reply.lines else ""
        greeting_name = self.greeting.split(" ", 1)[0].lower()
        if greeting_name and greeting_name in {n.lower() for n in own_names}:
            raise HostFailure(local_reply(554, "5.4.6", f"mail for {self.target.host} loops back to myself "
                                                        f"({greeting_name})"), permanent=True)
        await self._ehlo()
        if self.capabilities.starttls and policy.offer:
            await self._starttls(policy)
        elif policy.mandatory:
            raise HostFailure(local_reply(451, "4.7.5" if policy.tlsa else "4.7.4",
                                          f"TLS is required but {self.target.host} does not offer STARTTLS"),
                              tls=False)
        if credentials is not None:
            if self.tls_version is None:
                raise HostFailure(local_reply(451, "4.7.0", f"smart host {self.target.host}: authentication "
                                                            "needs TLS and the session is not encrypted"))
            self.core.auth(*credentials)
            done = await self.event()
            if not isinstance(done, AuthDone) or not done.reply.positive:
                # not a bounce: the password is the admin's to fix, the mail waits
                raise HostFailure(self._refused(done, "AUTH"))

    async def _ehlo(self) -> None:
        self.core.ehlo()
        event = await self.event()
        if not isinstance(event, EhloDone) or not event.reply.positive:
            raise HostFailure(self._refused(event, "EHLO"))

    async def _starttls(self, policy: TlsPolicy) -> None:
        self.core.starttls()
        event = await self.event()
        if not isinstance(event, TlsReady):
            raise HostFailure(self._refused(event, "STARTTLS"))
        if not event.reply.positive:
            if policy.mandatory:
                raise HostFailure(local_reply(451, "4.7.5", f"TLS is required and {self.target.host} refused "
                                                            f"STARTTLS: {event.reply.text}"))
            return
        await self.flush()
        try:
            await asyncio.wait_for(self.writer.start_tls(tls_context(policy), server_hostname=self.target.host
                                                         if not _is_ip(self.target.host) else None), self.timeout)
        except (ssl.SSLError, OSError, asyncio.TimeoutError, ConnectionError) as exc:
            raise HostFailure(local_reply(451, "4.7.5", f"TLS handshake with {self.target.host} failed: "
                                                        f"{_ssl_reason(exc)}"), tls=True) from None
        ssl_object = self.writer.get_extra_info("ssl_object")
        self.tls_version = ssl_object.version() if ssl_object is not None else "TLS"
        self._check_certificate(policy, ssl_object)
        if self.log is not None:
            self.log.write("*", "", f"TLS negotiated: {self.tls_version}; {self.tls_note}")
        self.core.tls_started()
        await self._ehlo()

    def _check_certificate(self, policy: TlsPolicy, ssl_object: ssl.SSLObject | None) -> None:
        leaf = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if policy.tlsa:
            verdict = check_tlsa(list(policy.tlsa), [leaf] if leaf else [], names=policy.names)
            if not verdict.matched:
                raise HostFailure(local_reply(451, "4.7.5", f"DANE: {self.target.host}: {verdict.reason}"))
            self.tls_note = f"DANE {verdict.reason}"
            return
        if policy.names:
            names = _certificate_names(leaf)
            if not any(_name_matches(pattern, wanted) for pattern in names for wanted in policy.names):
                raise HostFailure(local_reply(451, "4.7.5", f"{self.target.host}'s certificate names "
                                                            f"{', '.join(names) or 'nothing'}, not "
                                                            f"{', '.join(policy.names)}"))
            self.tls_note = "certificate and domain validated"
        elif policy.verify:
            self.tls_note = "certificate validated"
        else:
            self.tls_note = "encrypted, certificate not checked"

    async def send(self, envelope: Envelope, content: bytes) -> list[Reply]:
        """One transaction: each recipient's final reply, in envelope order (a recipient decided
        by the end of the data gets `content_reply` itself)."""
        self.content_reply = None
        refusal = self.core.begin(envelope)
        if refusal is not None:
            return [refusal] * len(envelope.recipients)
        event = await self.event()
        if not isinstance(event, RecipientsDone):
            reply = self._refused(event, "MAIL")
            return [reply] * len(envelope.recipients)
        finals = event.final_replies()
        if event.content_wanted:
            self.core.send_content(content)
            done = await self.event()
            reply = done.reply if isinstance(done, ContentDone) else self._refused(done, "end of data")
            if isinstance(done, ContentDone):
                self.content_reply = reply
            finals = [reply if r is None else r for r in finals]
        return [r if r is not None else local_reply(451, "4.4.2", "no reply") for r in finals]

    @property
    def usable(self) -> bool:
        """Another message may go over this connection."""
        return self.core.state is State.READY

    @property
    def spoken_to(self) -> bool:
        """The peer closed, or said something unasked (a 421 before closing, say), while nothing
        was in flight: the connection sat idle and must not carry the next message."""
        reader = self.reader
        return reader.at_eof() or bool(getattr(reader, "_buffer", b"")) or self.writer.is_closing()

    async def close(self) -> None:
        try:
            if self.usable:
                self.core.quit()
                await asyncio.wait_for(self._until_closed(), min(self.timeout, 10.0))
        except (OSError, asyncio.TimeoutError, HostFailure):
            pass
        finally:
            self.abort()

    async def _until_closed(self) -> None:
        while not isinstance(await self.event(), Closed):
            pass

    def abort(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()
        if self.log is not None:
            self.log.close()

    async def flush(self) -> None:
        out = self.core.data_to_send()
        if out:
            self.writer.writelines(out)
            await self.writer.drain()

    async def event(self) -> Event:
        """Write what the core has to send, then read until it has an event."""
        while True:
            event = self.core.next_event()
            await self.flush()  # what the event or its reply made the core write (the next RCPT, say)
            if not isinstance(event, _Sentinel):
                return event
            try:
                async with asyncio.timeout(self.timeout):  # not wait_for: no task made per read
                    data = await self.reader.read(READ_SIZE)
            except TimeoutError:
                self.core.abort(f"no reply from {self.target.host} within {self.timeout:.0f}s")
                continue
            except (OSError, ConnectionError):
                data = b""
            if data:
                self.core.receive_data(data)
            else:
                self.core.receive_eof()

    def _refused(self, event: Event, what: str) -> Reply:
        if isinstance(event, (Greeting, EhloDone, TlsReady, AuthDone, ContentDone)):
            return event.reply
        if isinstance(event, ProtocolViolation):
            return local_reply(451, "4.5.0", f"{self.target.host} broke the protocol after {what}: {event.text}")
        if isinstance(event, Closed):
            if event.reply is not None:
                return event.reply
            return local_reply(451, "4.4.2", f"{self.target.host} closed the connection after {what}")
        return local_reply(451, "4.4.2", f"unexpected answer to {what} from {self.target.host}")


def _both(first: Callable[[bool, str], None], second: Callable[[bool, str], None]) -> Callable[[bool, str], None]:
    def both(sent: bool, line: str) -> None:
        first(sent, line)
        second(sent, line)
    return both


def _endpoint(name: Any) -> str:
    if not name:
        return ""
    host, port = name[0], name[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _ssl_reason(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _certificate_names(der: bytes | None) -> list[str]:
    if not der:
        return []
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return []
    names: list[str] = []
    try:
        names += cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName)
    except x509.ExtensionNotFound:
        pass
    if not names:
        names += [str(a.value) for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    return [n.lower() for n in names]


def _name_matches(pattern: str, name: str) -> bool:
    name = name.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name
