"""A scripted adapter for the SMTP client core, shared by its tests and its fuzz target.

`Adapter` answers events as the delivery worker would: EHLO after the greeting, STARTTLS when
asked for and offered, AUTH when credentials are given, then each message (begin, content),
then QUIT; a refused greeting or EHLO is answered with QUIT. `run()` feeds the server's
bytes (`phases`: a TLS handshake completes between two phases) in chunks and returns what
the client wrote, the events and `begin()`'s refusals.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from postroom.protocol.smtp_client import (
    NEED_DATA, AuthDone, Closed, ContentDone, EhloDone, Envelope, Greeting, RecipientSpec, RecipientsDone, Reply,
    RsetDone, SmtpClient, TlsReady,
)

MESSAGE = b"Subject: hi\r\n\r\nHello\r\n"


def envelope(*rcpts: str, sender: str = "a@example.com", size: int | None = None, **kw) -> Envelope:
    specs = [r if isinstance(r, RecipientSpec) else RecipientSpec(r) for r in (rcpts or ("b@example.net",))]
    return Envelope(sender, specs, len(MESSAGE) if size is None else size, **kw)


@dataclass
class Adapter:
    client: SmtpClient
    messages: list[tuple[Envelope, bytes]] = field(default_factory=lambda: [(envelope(), MESSAGE)])
    starttls: bool = False
    credentials: tuple[str, str] | None = None
    events: list = field(default_factory=list)
    refusals: list[Reply] = field(default_factory=list)
    out: list[bytes] = field(default_factory=list)
    closed: bool = False

    def pump(self) -> None:
        while not self.closed:
            ev = self.client.next_event()
            self.out.extend(self.client.data_to_send())
            if ev is NEED_DATA:
                return
            self.events.append(ev)
            self.answer(ev)
            self.out.extend(self.client.data_to_send())

    def answer(self, ev) -> None:
        c = self.client
        if isinstance(ev, Closed):
            self.closed = True
        elif isinstance(ev, Greeting):
            c.ehlo() if ev.reply.positive else c.quit()
        elif isinstance(ev, EhloDone):
            if not ev.reply.positive:
                c.quit()
            elif self.starttls and ev.capabilities.starttls and not c.tls_active:
                c.starttls()
            elif self.credentials and not c.authenticated and c.tls_active:
                c.auth(*self.credentials)
            else:
                self.next_message()
        elif isinstance(ev, TlsReady):
            if not ev.reply.positive:
                self.next_message()
        elif isinstance(ev, AuthDone):
            self.next_message() if ev.reply.positive else c.quit()
        elif isinstance(ev, RecipientsDone):
            if ev.content_wanted:
                c.send_content(self.current)
            else:
                self.next_message()
        elif isinstance(ev, (ContentDone, RsetDone)):
            self.next_message()

    def next_message(self) -> None:
        while self.messages:
            env, self.current = self.messages.pop(0)
            refusal = self.client.begin(env)
            if refusal is None:
                return
            self.refusals.append(refusal)
        self.client.quit()

    def tls_handshake(self) -> None:
        if self.client.state.name == "TLS_STARTING":
            self.client.tls_started()
            self.client.ehlo()
            self.out.extend(self.client.data_to_send())


def run(phases: list[bytes], chunk: int | None = None, *, eof: bool = True, helo: str = "client.example",
        client_options: dict | None = None, **adapter) -> Adapter:
    if "messages" in adapter:
        adapter["messages"] = list(adapter["messages"])  # the adapter pops them: each run its own list
    a = Adapter(SmtpClient(helo, **(client_options or {})), **adapter)
    for phase in phases:
        size = max(chunk or len(phase), 1)
        for start in range(0, len(phase), size):
            a.client.receive_data(phase[start:start + size])
            a.pump()
        a.tls_handshake()
        a.pump()
    if eof:
        a.client.receive_eof()
        a.pump()
    return a
