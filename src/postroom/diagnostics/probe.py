"""Real socket clients, timed step by step: POP3 (TCP, TLS or STLS, CAPA, USER/PASS, STAT, RETR,
DELE, QUIT) and SMTP (EHLO, STARTTLS, AUTH, MAIL/RCPT/DATA). Blocking: call them in a thread.

A step that fails raises `StepFailed` with the server's reply (or the socket error) in words;
what ran is in `Steps.done` with its latency either way.
"""
from __future__ import annotations

import smtplib
import socket
import ssl
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator

TIMEOUT = 10.0
MAX_LINE = 8192


class StepFailed(Exception):
    def __init__(self, step: str, error: str) -> None:
        super().__init__(f"{step}: {error}")
        self.step = step
        self.error = error


@dataclass
class Step:
    name: str
    ms: float
    error: str | None = None
    info: str = ""


@dataclass
class Steps:
    done: list[Step] = field(default_factory=list)

    @contextmanager
    def step(self, name: str) -> Iterator[Step]:
        """Time one step; an OSError, TLS or protocol error becomes StepFailed."""
        record = Step(name, 0.0)
        start = time.perf_counter()
        try:
            yield record
        except StepFailed as exc:
            record.error = exc.error
        except ssl.SSLCertVerificationError as exc:
            record.error = f"certificate refused: {exc.verify_message or exc.reason}"
        except ssl.SSLError as exc:
            record.error = f"TLS failed ({exc.reason or exc.__class__.__name__})"
        except smtplib.SMTPResponseException as exc:
            record.error = f"{exc.smtp_code} {_text(exc.smtp_error)}"
        except (smtplib.SMTPException, OSError) as exc:
            record.error = _os_error(exc)
        finally:
            record.ms = (time.perf_counter() - start) * 1000
            self.done.append(record)
        if record.error is not None:
            raise StepFailed(name, record.error)

    def summary(self) -> str:
        return "; ".join(f"{s.name} {s.ms:.1f} ms" + (f" ({s.info})" if s.info else "") for s in self.done
                         if s.error is None)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _os_error(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "no answer (timed out)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or exc.__class__.__name__


def client_context(verify: bool, cafile: str | None = None) -> ssl.SSLContext:
    """Verifying: the system's trust store plus `cafile` (the server's own certificate, so a
    self-signed one is accepted exactly when it is the one configured). Not verifying: the
    doctor, whose certificate checks already say what a verifying client would find."""
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context = ssl.create_default_context()
    if cafile:
        try:
            context.load_verify_locations(cafile=cafile)
        except (OSError, ssl.SSLError):
            pass  # an unreadable certificate: verification then fails and says so
    return context


class Pop3Client:
    """A minimal POP3 client that shows the server's replies as they are."""

    def __init__(self, host: str, port: int, timeout: float = TIMEOUT) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.sock: socket.socket | None = None
        self.reader: BinaryIO | None = None
        self.capabilities: list[str] = []  # from the last CAPA pop3_session sent

    def connect(self) -> None:
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.reader = self.sock.makefile("rb")

    def start_tls(self, context: ssl.SSLContext) -> None:
        assert self.sock is not None
        self.sock = context.wrap_socket(self.sock, server_hostname=self.host)
        self.reader = self.sock.makefile("rb")  # nothing was buffered: the server waits for the handshake

    def line(self) -> str:
        assert self.reader is not None
        data = self.reader.readline(MAX_LINE)
        if not data:
            raise StepFailed("read", "the server closed the connection")
        return data.decode("utf-8", "replace").rstrip("\r\n")

    def ok(self) -> str:
        reply = self.line()
        if not reply.startswith("+OK"):
            raise StepFailed("reply", reply or "empty reply")
        return reply

    def command(self, text: str) -> str:
        assert self.sock is not None
        self.sock.sendall(text.encode() + b"\r\n")
        return self.ok()

    def lines(self) -> list[str]:
        """The rest of a multi-line reply, dot-unstuffed."""
        found = []
        while (line := self.line()) != ".":
            found.append(line[1:] if line.startswith("..") else line)
        return found

    def login(self, user: str, password: str) -> None:
        self.command(f"USER {user}")
        self.command(f"PASS {password}")

    def capa(self) -> list[str]:
        """CAPA: the capabilities' names, upper-case (USER, STLS, SASL, ...)."""
        self.command("CAPA")
        return [c.split(" ", 1)[0].upper() for c in self.lines()]

    def close(self) -> None:
        for closing in (self.reader, self.sock):
            try:
                if closing is not None:
                    closing.close()
            except OSError:
                pass


def pop3_session(steps: Steps, host: str, port: int, mode: str, context: ssl.SSLContext) -> Pop3Client:
    """Connect the way the application does, up to and including CAPA; the caller logs in."""
    client = Pop3Client(host, port)
    try:
        with steps.step("connect"):
            client.connect()
        if mode == "ssl":
            with steps.step("TLS handshake"):
                client.start_tls(context)
        with steps.step("greeting"):
            client.ok()
        if mode == "stls":
            with steps.step("CAPA") as step:
                capabilities = client.capa()
                if "STLS" not in capabilities:
                    raise StepFailed("CAPA", NO_STLS)
                step.info = " ".join(capabilities)
            with steps.step("STLS"):
                client.command("STLS")
                client.start_tls(context)
        with steps.step("CAPA" if mode != "stls" else "CAPA after STLS") as step:
            client.capabilities = client.capa()
            step.info = " ".join(client.capabilities)
    except StepFailed:
        client.close()
        raise
    return client


def quit_pop3(steps: Steps, client: Pop3Client, context: ssl.SSLContext | None = None) -> None:
    """QUIT. With `context`, on a plain connection that offers no login before TLS, STLS first:
    the server counts the plain sessions that never start TLS as evidence of an application
    that does not use it (the doctor's recent-sessions), and the probe is not one."""
    try:
        if context is not None and not offers_login(client.capabilities) and "STLS" in client.capabilities:
            try:
                client.command("STLS")
                client.start_tls(context)
            except (StepFailed, OSError):
                return  # the session then ends in a failed handshake, not as a plain session
        with steps.step("QUIT"):
            client.command("QUIT")
    finally:
        client.close()


NO_STLS = "STLS is not offered (the server has no usable certificate)"
NO_LOGIN_BEFORE_TLS = "no login is offered before TLS"
LoginStep = Callable[[Pop3Client, Steps], None]


def offers_login(capabilities: list[str]) -> bool:
    """Whether CAPA offers a login: USER, or SASL (PLAIN, LOGIN)."""
    return "USER" in capabilities or "SASL" in capabilities


def pop3_ways(steps: Steps, host: str, port: int, ssl_binding: bool, context: ssl.SSLContext,
              login: LoginStep | None = None) -> dict[str, str | None]:
    """Connect to one binding as every kind of application would: SSL on an SSL binding; on a
    plain one, plain and then STLS in the same session. Returns each mode (ssl; plain, stls)
    with None when a login would be accepted that way, else why not. `login` logs in on the
    way that works (STLS before plain). StepFailed when the connection itself, or the login,
    fails."""
    client = Pop3Client(host, port)
    try:
        with steps.step("connect"):
            client.connect()
        if ssl_binding:
            with steps.step("TLS handshake"):
                client.start_tls(context)
        with steps.step("greeting"):
            client.ok()
        with steps.step("CAPA"):
            client.capabilities = client.capa()
    except StepFailed:
        client.close()
        raise
    if ssl_binding:
        verdicts: dict[str, str | None] = {
            "ssl": None if offers_login(client.capabilities) else "CAPA offers no login after TLS"}
    else:
        verdicts = {"plain": None if offers_login(client.capabilities) else NO_LOGIN_BEFORE_TLS,
                    "stls": NO_STLS}
        if "STLS" in client.capabilities:
            try:
                with steps.step("STLS"):
                    client.command("STLS")
                    client.start_tls(context)
                with steps.step("CAPA after STLS"):
                    client.capabilities = client.capa()
            except StepFailed as exc:
                client.close()
                verdicts["stls"] = f"{exc.step} failed: {exc.error}"
                return verdicts
            verdicts["stls"] = None if offers_login(client.capabilities) else "CAPA offers no login after STLS"
    if login is not None and None in verdicts.values():
        try:
            login(client, steps)
        except StepFailed:
            client.close()
            raise
    quit_pop3(steps, client, context)
    return verdicts


def smtp_session(steps: Steps, host: str, port: int, context: ssl.SSLContext,
                 user: str | None = None, password: str | None = None) -> smtplib.SMTP:
    """Connect, EHLO, STARTTLS and (with credentials) AUTH, as a submitting application does.
    STARTTLS checks the certificate against `host` when `context` verifies."""
    with steps.step("connect"):
        # Connecting in the constructor makes smtplib remember the host STARTTLS verifies.
        client = smtplib.SMTP(host, port, timeout=TIMEOUT)
    try:
        with steps.step("EHLO"):
            code, reply = client.ehlo("postroom-doctor.invalid")
            if code != 250:
                raise StepFailed("EHLO", f"{code} {_text(reply)}")
        if user is not None:
            with steps.step("STARTTLS"):
                if not client.has_extn("starttls"):
                    raise StepFailed("STARTTLS", "STARTTLS is not offered")
                client.starttls(context=context)
                client.ehlo("postroom-doctor.invalid")
            with steps.step("AUTH"):
                if not client.has_extn("auth"):
                    raise StepFailed("AUTH", "AUTH is not offered after STARTTLS")
                auth(client, user, password or "")
    except StepFailed:
        close_smtp(client)
        raise
    return client


def auth(client: smtplib.SMTP, user: str, password: str) -> None:
    """One AUTH, as an application does (smtplib's login() would try every mechanism in turn,
    paying the server's failure delay for each)."""
    client.user, client.password = user, password
    if "PLAIN" in client.esmtp_features.get("auth", "").upper().split():
        client.auth("PLAIN", client.auth_plain)
    else:
        client.login(user, password)


def close_smtp(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def rcpt_probe(steps: Steps, host: str, port: int, address: str) -> str:
    """Would mail from another server for `address` be accepted? EHLO, MAIL FROM:<>, RCPT TO,
    then RSET: nothing is sent. Returns the RCPT reply."""
    client = smtp_session(steps, host, port, client_context(False))
    try:
        with steps.step("RCPT TO") as step:
            code, reply = client.mail("")
            if code != 250:
                raise StepFailed("MAIL FROM", f"{code} {_text(reply)}")
            code, reply = client.rcpt(address)
            step.info = f"{code}"
            if code not in (250, 251):
                raise StepFailed("RCPT TO", f"{code} {_text(reply)}")
            return f"{code} {_text(reply)}"
    finally:
        try:
            client.rset()
        except (smtplib.SMTPException, OSError):
            pass
        close_smtp(client)
