"""A tiny real IMAP4 client for the doctor and `postroom test imap`, timed step by step like
the POP3 probe (probe.py): TCP, TLS or STARTTLS, CAPABILITY, LOGIN or AUTHENTICATE PLAIN,
SELECT, LOGOUT. Blocking: call it in a thread.

A password is never sent before TLS unless the caller says cleartext is allowed (the login
type is plain-text-login and the application connects in plain).
"""
from __future__ import annotations

import base64
import socket
import ssl
from typing import BinaryIO, Callable

from .probe import MAX_LINE, TIMEOUT, StepFailed, Steps

MAX_LITERAL = 1 << 20  # a reply's literal the probe reads (it asks for none; a server may send one)
NO_STARTTLS = "STARTTLS is not offered (the server has no usable certificate)"
NO_LOGIN_BEFORE_TLS = "no login is offered before TLS (LOGINDISABLED)"
NOT_IN_CLEAR = "not sent: the password would cross the network in clear"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ImapClient:
    """A minimal IMAP4 client that shows the server's replies as they are."""

    def __init__(self, host: str, port: int, timeout: float = TIMEOUT) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.sock: socket.socket | None = None
        self.reader: BinaryIO | None = None
        self.tls = False
        self.capabilities: list[str] = []
        self._tag = 0

    def connect(self) -> None:
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.reader = self.sock.makefile("rb")

    def start_tls(self, context: ssl.SSLContext) -> None:
        assert self.sock is not None
        self.sock = context.wrap_socket(self.sock, server_hostname=self.host)
        self.reader = self.sock.makefile("rb")
        self.tls = True

    def line(self) -> str:
        """One reply line; a literal in it ({n}) is read in: a short one shown as text (line
        breaks as spaces), a long one as its length."""
        assert self.reader is not None
        data = self.reader.readline(MAX_LINE)
        if not data:
            raise StepFailed("read", "the server closed the connection")
        text = data.decode("utf-8", "replace").rstrip("\r\n")
        while text.endswith("}") and "{" in text:
            size = text[text.rindex("{") + 1:-1]
            if not size.isdigit() or int(size) > MAX_LITERAL:
                break
            literal = self.reader.read(int(size))
            shown = literal.decode("utf-8", "replace").replace("\r\n", " ") if len(literal) <= 4096 \
                else f"<{size} octets>"
            more = self.reader.readline(MAX_LINE)
            text = text[:text.rindex("{")] + shown + more.decode("utf-8", "replace").rstrip("\r\n")
        return text

    def greeting(self) -> str:
        reply = self.line()
        if not reply.startswith(("* OK", "* PREAUTH")):
            raise StepFailed("greeting", reply or "empty greeting")
        return reply

    def send(self, text: str) -> str:
        assert self.sock is not None
        self._tag += 1
        tag = f"d{self._tag}"
        self.sock.sendall(f"{tag} {text}\r\n".encode())
        return tag

    def finish(self, tag: str, step: str) -> list[str]:
        """The untagged lines up to `tag`'s completion; StepFailed unless it is OK."""
        untagged: list[str] = []
        bye = None  # a BYE precedes LOGOUT's OK; otherwise the server closes after it
        while True:
            try:
                reply = self.line()
            except StepFailed:
                raise StepFailed(step, bye or "the server closed the connection") from None
            if reply.startswith(tag + " "):
                status = reply[len(tag) + 1:]
                if not status.upper().startswith("OK"):
                    raise StepFailed(step, status)
                return untagged
            if reply.startswith("* BYE"):
                bye = reply[2:]
            untagged.append(reply)

    def command(self, text: str, step: str) -> list[str]:
        return self.finish(self.send(text), step)

    def capability(self) -> list[str]:
        for reply in self.command("CAPABILITY", "CAPABILITY"):
            if reply.upper().startswith("* CAPABILITY "):
                self.capabilities = reply.split()[2:]
        return self.capabilities

    def has(self, capability: str) -> bool:
        return capability.upper() in (c.upper() for c in self.capabilities)

    def login(self, user: str, password: str, allow_cleartext: bool = False) -> str:
        """AUTHENTICATE PLAIN when offered, else LOGIN; returns the mechanism used."""
        if not self.tls and not allow_cleartext:
            raise StepFailed("login", NOT_IN_CLEAR)
        if self.has("AUTH=PLAIN"):
            response = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
            if self.has("SASL-IR"):
                self.command(f"AUTHENTICATE PLAIN {response}", "login")
            else:
                tag = self.send("AUTHENTICATE PLAIN")
                if not self.line().startswith("+"):
                    raise StepFailed("login", "no continuation for AUTHENTICATE PLAIN")
                assert self.sock is not None
                self.sock.sendall(response.encode() + b"\r\n")
                self.finish(tag, "login")
            return "AUTHENTICATE PLAIN"
        if self.has("LOGINDISABLED"):
            raise StepFailed("login", NO_LOGIN_BEFORE_TLS)
        if any(c in user + password for c in "\r\n\0"):
            raise StepFailed("login", "the name or password cannot be sent with LOGIN")
        self.command(f"LOGIN {_quoted(user)} {_quoted(password)}", "login")
        return "LOGIN"

    def select(self, mailbox: str = "INBOX") -> str:
        """SELECT; the message count it reports."""
        for reply in self.command(f"SELECT {_quoted(mailbox)}", "SELECT"):
            words = reply.split()
            if len(words) == 3 and words[2].upper() == "EXISTS":
                return f"{words[1]} messages"
        return "selected"

    def close(self) -> None:
        for closing in (self.reader, self.sock):
            try:
                if closing is not None:
                    closing.close()
            except OSError:
                pass


def offers_login(client: ImapClient) -> bool:
    return not client.has("LOGINDISABLED") or client.has("AUTH=PLAIN")


def imap_session(steps: Steps, host: str, port: int, mode: str, context: ssl.SSLContext) -> ImapClient:
    """Connect the way the application does, up to and including CAPABILITY (after STARTTLS
    in stls mode); the caller logs in."""
    client = ImapClient(host, port)
    try:
        with steps.step("connect"):
            client.connect()
        if mode == "ssl":
            with steps.step("TLS handshake"):
                client.start_tls(context)
        with steps.step("greeting"):
            client.greeting()
        with steps.step("CAPABILITY") as step:
            step.info = " ".join(client.capability())
        if mode == "stls":
            with steps.step("STARTTLS"):
                if not client.has("STARTTLS"):
                    raise StepFailed("STARTTLS", NO_STARTTLS)
                client.command("STARTTLS", "STARTTLS")
                client.start_tls(context)
            with steps.step("CAPABILITY after STARTTLS") as step:
                step.info = " ".join(client.capability())
    except StepFailed:
        client.close()
        raise
    return client


def logout(steps: Steps, client: ImapClient, context: ssl.SSLContext | None = None) -> None:
    """LOGOUT. With `context`, on a plain connection that offers no login before TLS, STARTTLS
    first, as POP3's quit (probe.quit_pop3): the server counts the plain sessions that never
    start TLS as evidence of an application that does not use it, and the probe is not one."""
    try:
        if context is not None and not client.tls and not offers_login(client) and client.has("STARTTLS"):
            try:
                client.command("STARTTLS", "STARTTLS")
                client.start_tls(context)
            except (StepFailed, OSError):
                return  # the session then ends in a failed handshake, not as a plain session
        with steps.step("LOGOUT"):
            client.command("LOGOUT", "LOGOUT")
    finally:
        client.close()


LoginStep = Callable[[ImapClient, Steps], None]


def imap_ways(steps: Steps, host: str, port: int, ssl_binding: bool, context: ssl.SSLContext,
              login: LoginStep | None = None) -> dict[str, str | None]:
    """Connect to one binding as every kind of application would: SSL on an SSL binding; on a
    plain one, plain and then STARTTLS in the same session. Each mode with None when a login
    would be accepted that way, else why not. `login` runs once TLS is active (never in
    plain). StepFailed when the connection itself, or the login, fails."""
    client = ImapClient(host, port)
    try:
        with steps.step("connect"):
            client.connect()
        if ssl_binding:
            with steps.step("TLS handshake"):
                client.start_tls(context)
        with steps.step("greeting"):
            client.greeting()
        with steps.step("CAPABILITY"):
            client.capability()
    except StepFailed:
        client.close()
        raise
    if ssl_binding:
        verdicts: dict[str, str | None] = {"ssl": None if offers_login(client) else "no login offered after TLS"}
    else:
        verdicts = {"plain": None if offers_login(client) else NO_LOGIN_BEFORE_TLS, "stls": NO_STARTTLS}
        if client.has("STARTTLS"):
            try:
                with steps.step("STARTTLS"):
                    client.command("STARTTLS", "STARTTLS")
                    client.start_tls(context)
                with steps.step("CAPABILITY after STARTTLS"):
                    client.capability()
            except StepFailed as exc:
                client.close()
                verdicts["stls"] = f"{exc.step} failed: {exc.error}"
                return verdicts
            verdicts["stls"] = None if offers_login(client) else "no login offered after STARTTLS"
    if login is not None and client.tls and None in verdicts.values():
        try:
            login(client, steps)
        except StepFailed:
            client.close()
            raise
    logout(steps, client, context)
    return verdicts
