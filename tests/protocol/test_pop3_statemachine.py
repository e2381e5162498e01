"""Hypothesis state machine: random TRANSACTION commands against a random maildrop.

Invariants: STAT agrees with LIST (count and octets); message numbers never shift (UIDL n and
LIST n keep their values); RETR returns the stored bytes exactly once un-stuffed; and the only
deletions the adapter ever sees are QUIT's Commit, carrying exactly the DELE'd-and-not-RSET ids.
"""
from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from postroom.model import MessageInfo
from postroom.protocol.pop3 import NEED_DATA, Authenticate, CloseConnection, Commit, Pop3Config, Pop3Server, Retrieve

LINE = st.sampled_from([b"", b".", b"..", b".x", b"x.", b"Subject: hi", b"body text", b" .", b"\t", b"..."])
MESSAGE = st.tuples(st.lists(LINE, max_size=8), st.booleans()).map(
    lambda t: b"\r\n".join(t[0]) + (b"\r\n" if t[1] and t[0] else b"")
)


def parse_multiline(data: bytes) -> tuple[bytes, list[bytes], bytes]:
    """(first line, un-stuffed lines, rest) of a multi-line reply at the start of `data`."""
    first, _, rest = data.partition(b"\r\n")
    lines = []
    while True:
        line, crlf, rest = rest.partition(b"\r\n")
        assert crlf, f"multi-line reply not terminated: {data!r}"
        if line == b".":
            return first, lines, rest
        lines.append(line[1:] if line.startswith(b".") else line)


class Pop3Session(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.conn: Pop3Server | None = None
        self.store: dict[int, bytes] = {}
        self.maildrop: list[MessageInfo] = []
        self.deleted: set[int] = set()  # message numbers
        self.adapter_deletes: list[tuple[int, ...]] = []
        self.quit = False

    # ------------------------------------------------------------------------ driving
    def send(self, command: bytes) -> bytes:
        conn = self.conn
        conn.receive_data(command + b"\r\n")
        while True:
            event = conn.next_event()
            if event is NEED_DATA:
                break
            if isinstance(event, Authenticate):
                conn.auth_succeeded(self.maildrop)
            elif isinstance(event, Retrieve):
                conn.message_content(self.store[event.message_id])
            elif isinstance(event, Commit):
                self.adapter_deletes.append(event.delete_ids)
                conn.update_done(True)
            elif isinstance(event, CloseConnection):
                break
            else:
                raise AssertionError(f"unexpected event {event!r}")
        return b"".join(conn.data_to_send())

    @initialize(messages=st.lists(MESSAGE, max_size=7), first_id=st.integers(1, 10_000))
    def log_on(self, messages, first_id):
        self.store = {first_id + 3 * i: m for i, m in enumerate(messages)}
        self.maildrop = [MessageInfo(i, f"uid-{i:x}", len(m)) for i, m in self.store.items()]
        self.conn = Pop3Server(Pop3Config(login_type="plain-text-login"))
        self.conn.data_to_send()
        assert self.send(b"USER u").startswith(b"+OK")
        assert self.send(b"PASS p").startswith(b"+OK Logged on")

    def visible(self) -> list[int]:
        return [n for n in range(1, len(self.maildrop) + 1) if n not in self.deleted]

    number = st.integers(min_value=0, max_value=9)

    # ---------------------------------------------------------------------- commands
    @precondition(lambda self: not self.quit)
    @rule(n=number)
    def dele(self, n):
        reply = self.send(b"DELE %d" % n)
        if 1 <= n <= len(self.maildrop) and n not in self.deleted:
            assert reply == b"+OK Message %d deleted.\r\n" % n
            self.deleted.add(n)
        else:
            assert reply.startswith(b"-ERR ")

    @precondition(lambda self: not self.quit)
    @rule()
    def rset(self):
        assert self.send(b"RSET").startswith(b"+OK Maildrop has %d messages" % len(self.maildrop))
        self.deleted.clear()

    @precondition(lambda self: not self.quit)
    @rule()
    def noop(self):
        assert self.send(b"NOOP") == b"+OK\r\n"

    @precondition(lambda self: not self.quit)
    @rule(n=number)
    def retr(self, n):
        reply = self.send(b"RETR %d" % n)
        if not (1 <= n <= len(self.maildrop) and n not in self.deleted):
            assert reply.startswith(b"-ERR ") and reply.count(b"\r\n") == 1
            return
        info = self.maildrop[n - 1]
        first, lines, rest = parse_multiline(reply)
        assert first == b"+OK %d octets" % info.size and rest == b""
        original = self.store[info.id]
        expected = original if not original or original.endswith(b"\r\n") else original + b"\r\n"
        assert b"".join(line + b"\r\n" for line in lines) == expected

    @precondition(lambda self: not self.quit)
    @rule(n=number)
    def list_and_uidl_one(self, n):
        listed, uidl = self.send(b"LIST %d" % n), self.send(b"UIDL %d" % n)
        if 1 <= n <= len(self.maildrop) and n not in self.deleted:
            info = self.maildrop[n - 1]
            assert listed == b"+OK %d %d\r\n" % (n, info.size)
            assert uidl == b"+OK %d %s\r\n" % (n, info.uidl.encode())
        else:
            assert listed.startswith(b"-ERR ") and uidl.startswith(b"-ERR ")

    @precondition(lambda self: not self.quit)
    @rule()
    def uidl_all(self):
        first, lines, rest = parse_multiline(self.send(b"UIDL"))
        assert first.startswith(b"+OK") and rest == b""
        expected = [b"%d %s" % (n, self.maildrop[n - 1].uidl.encode()) for n in self.visible()]
        assert lines == expected  # numbers never shift: n always names the same message

    @precondition(lambda self: not self.quit)
    @rule()
    def quit_session(self):
        reply = self.send(b"QUIT")
        assert reply == b"+OK POP3 server signing off (%d messages left).\r\n" % len(self.visible())
        expected = tuple(self.maildrop[n - 1].id for n in sorted(self.deleted))
        assert self.adapter_deletes == [expected]
        self.quit = True

    @precondition(lambda self: self.quit)
    @rule()
    def closed_after_quit(self):
        # The session is over: input is ignored and nothing else reaches the adapter.
        assert self.send(b"DELE 1") == b""
        assert len(self.adapter_deletes) == 1

    # -------------------------------------------------------------------- invariants
    @precondition(lambda self: self.conn is not None and not self.quit)
    @invariant()
    def stat_agrees_with_list(self):
        stat = self.send(b"STAT")
        first, lines, rest = parse_multiline(self.send(b"LIST"))
        sizes = [int(line.split()[1]) for line in lines]
        assert stat == b"+OK %d %d\r\n" % (len(lines), sum(sizes))
        assert first == b"+OK %d messages (%d octets)" % (len(lines), sum(sizes))
        assert [int(line.split()[0]) for line in lines] == self.visible()
        assert sizes == [self.maildrop[n - 1].size for n in self.visible()]

    @invariant()
    def no_deletion_before_quit(self):
        if not self.quit:
            assert self.adapter_deletes == []

    def teardown(self):
        if self.conn is not None and not self.quit:
            # The connection drops: nothing may be deleted.
            self.conn.receive_data(b"")
            assert self.conn.next_event() == CloseConnection("eof")
            assert self.conn.next_event() is NEED_DATA
            assert self.adapter_deletes == []


Pop3Session.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestPop3Session = Pop3Session.TestCase
