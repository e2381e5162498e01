"""POP3 core: byte scripts in, exact replies out.

Every script runs with the input fed whole, byte by byte and in every chunk size 1..512, and
with the fake adapter answering either at once or only after the current chunk is consumed
(so the core is PAUSED with later commands buffered). All runs must give identical output and
events.
"""
from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field

import pytest
from conversation import converse

from postroom.model import LoginType, MessageInfo
from postroom.protocol.pop3 import (
    NEED_DATA, PAUSED, Authenticate, AuthFailure, CloseConnection, Commit, LocalProtocolError, LoginRefused, Pop3Config,
    Pop3Server, Reply, Retrieve, StartTls, State,
)

# ------------------------------------------------------------------------------ fixtures
M1 = b"From: a@example.com\r\nSubject: one\r\n\r\nHello\r\n.dot line\r\n..two dots\r\nlast\r\n"
M2 = b".starts with a dot\r\nX: y\r\n\r\nbody\r\n.\r\n"
M3 = b"Subject: three\r\n\r\nline 1\r\nline 2\r\nno final newline"
M4 = b"Subject: headers only\r\nX-Flag: yes\r\n"
M5 = b"\r\nbody without headers\r\nsecond\r\n"
MESSAGES = {101: M1, 102: M2, 103: M3, 104: M4, 105: M5}
ALICE = [MessageInfo(100 + i, f"uid-{i}", len(MESSAGES[100 + i])) for i in range(1, 6)]
TOTAL = sum(m.size for m in ALICE)
S1, S2, S3, S4, S5 = (m.size for m in ALICE)

USERS: dict[str, tuple[str, object]] = {
    "alice": ("secret", ALICE),
    "bob": ("pw", []),
    "ghost": ("pw", [MessageInfo(999, "uid-ghost", 10)]),  # message missing from the store
    "nopop": ("pw", AuthFailure.POP_DISABLED),
    "disabled": ("pw", AuthFailure.MAILBOX_DISABLED),
    "locked": ("pw", AuthFailure.IN_USE),
    "busy": ("pw", AuthFailure.TOO_MANY_CONNECTIONS),
    "flaky": ("pw", AuthFailure.TEMPORARY),
}

GREETING = b"+OK The postroom POP3 service is ready.\r\n"
BAD_LOGON = b"-ERR [AUTH] Logon failure: unknown user name or bad password.\r\n"
USE_TLS = (
    b"-ERR [AUTH] Logon is not permitted over an unencrypted connection. "
    b"Issue STLS first, or connect to the POP3 SSL port.\r\n"
)
USE_SSL_PORT = b"-ERR [AUTH] Logon is not permitted over an unencrypted connection. Connect to the POP3 SSL port.\r\n"
NOT_VALID = b"-ERR Command is not valid in this state.\r\n"
UNKNOWN = b"-ERR Unknown command.\r\n"
SYNTAX = b"-ERR Syntax error in command arguments.\r\n"
SEND_PASS = b"+OK Send your password.\r\n"
LOGGED_ON_ALICE = b"+OK Logged on; maildrop has 5 messages (%d octets).\r\n" % TOTAL
LOGGED_ON_BOB = b"+OK Logged on; maildrop has 0 messages (0 octets).\r\n"
BYE = b"+OK POP3 server signing off.\r\n"
NO_SUCH = b"-ERR No such message.\r\n"
TOO_MANY_ERRORS = b"-ERR Too many errors, closing connection.\r\n"
TOO_MANY_AUTH = b"-ERR [AUTH] Too many failed logon attempts, closing connection.\r\n"


def bye(left: int) -> bytes:
    return b"+OK POP3 server signing off (%d messages left).\r\n" % left


def b64(raw: bytes) -> bytes:
    return base64.b64encode(raw)


def plain(user: bytes, password: bytes, authzid: bytes = b"") -> bytes:
    return b64(authzid + b"\0" + user + b"\0" + password)


ALICE_USER = b"USER alice\r\nPASS secret\r\n"
ALICE_PLAIN = b"AUTH PLAIN " + plain(b"alice", b"secret") + b"\r\n"
ALICE_LOGIN = b"AUTH LOGIN\r\n" + b64(b"alice") + b"\r\n" + b64(b"secret") + b"\r\n"
LOGIN_PROMPTS = b"+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\n"
LOGINS = {  # method -> (client bytes, replies before the logon result)
    "USER": (ALICE_USER, SEND_PASS),
    "PLAIN": (ALICE_PLAIN, b""),
    "LOGIN": (ALICE_LOGIN, LOGIN_PROMPTS),
}


# -------------------------------------------------------------------------------- driver
@dataclass
class Result:
    output: bytes
    events: list = field(default_factory=list)

    @property
    def commits(self) -> list:
        return [e for e in self.events if isinstance(e, Commit)]

    @property
    def closes(self) -> list:
        return [e for e in self.events if isinstance(e, CloseConnection)]


def drive(phases, chunk, deferred, *, config, tls_active, tls_available, update_ok, eof):
    """Run one conversation (see conversation.converse) with the test users and messages."""
    conn = Pop3Server(config, tls_active=tls_active, tls_available=tls_available)

    def answer(ev):
        if isinstance(ev, Authenticate):
            password, drop = USERS.get(ev.username, (None, None))
            if password is None or password != ev.password:
                return lambda: conn.auth_failed(AuthFailure.BAD_CREDENTIALS)
            if isinstance(drop, AuthFailure):
                return lambda: conn.auth_failed(drop)
            return lambda: conn.auth_succeeded(list(drop))
        if isinstance(ev, Retrieve):
            data = MESSAGES.get(ev.message_id)
            return conn.message_failed if data is None else (lambda: conn.message_content(data))
        if isinstance(ev, Commit):
            return lambda: conn.update_done(update_ok)
        return None

    out, events = converse(conn, phases, chunk, deferred, answer=answer, eof=eof,
                           close_type=CloseConnection, starttls_type=StartTls)
    return Result(out, events)


def run(
    script,
    *,
    login_type=LoginType.PLAIN_TEXT_LOGIN,
    tls_active=False,
    tls_available=True,
    update_ok=True,
    eof=True,
    **config,
) -> Result:
    phases = [script] if isinstance(script, bytes) else list(script)
    cfg = Pop3Config(login_type=login_type, **config)
    kw = dict(config=cfg, tls_active=tls_active, tls_available=tls_available, update_ok=update_ok, eof=eof)
    reference = drive(phases, None, False, **kw)
    longest = max((len(p) for p in phases), default=1)
    for deferred in (False, True):
        for chunk in [None, *range(1, min(longest, 512) + 1)]:
            result = drive(phases, chunk, deferred, **kw)
            assert result.output == reference.output, (chunk, deferred)
            assert result.events == reference.events, (chunk, deferred)
    return reference


def session(commands: bytes, **kw) -> Result:
    """alice logs on with USER/PASS, runs `commands`, then the connection ends."""
    return run(ALICE_USER + commands, **kw)


LOGGED_IN = GREETING + SEND_PASS + LOGGED_ON_ALICE


PTL = LoginType.PLAIN_TEXT_LOGIN
PTA = LoginType.PLAIN_TEXT_AUTHENTICATION
SL = LoginType.SECURE_LOGIN


# ------------------------------------------------------------------- greeting and QUIT
def test_greeting_then_eof():
    r = run(b"")
    assert r.output == GREETING
    assert r.events == [CloseConnection("eof")]


def test_banner_is_configurable():
    r = run(b"QUIT\r\n", banner="EX01 ready")
    assert r.output == b"+OK EX01 ready\r\n" + BYE
    assert r.events == [CloseConnection("quit")]


def test_first_line_never_exceeds_512_octets():
    conn = Pop3Server(Pop3Config(banner="é" * 400))
    (greeting,) = conn.data_to_send()
    assert len(greeting) <= 512 and greeting.endswith(b"\r\n")
    greeting.decode("utf-8")


def test_quit_in_authorization_commits_nothing():
    r = run(b"USER alice\r\nQUIT\r\nSTAT\r\n")
    assert r.output == GREETING + SEND_PASS + BYE
    assert r.events == [CloseConnection("quit")]


# ------------------------------------------------------------------------------ CAPA
CAPA_AUTH_HEAD = b"+OK Capability list follows.\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
CAPA_TAIL = b"IMPLEMENTATION postroom\r\n.\r\n"
CREDS = b"USER\r\nSASL PLAIN LOGIN\r\n"
CAPA_TRANSACTION = b"+OK Capability list follows.\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n" + CAPA_TAIL


@pytest.mark.parametrize(
    "login_type, tls_active, tls_available, middle",
    [
        (PTL, False, True, b"STLS\r\n" + CREDS),
        (PTL, False, False, CREDS),
        (PTL, True, True, CREDS),
        (PTA, False, True, b"STLS\r\n"),
        (PTA, False, False, b""),
        (PTA, True, True, CREDS),
        (SL, False, True, b"STLS\r\n"),
        (SL, False, False, b""),
        (SL, True, True, CREDS),
        (SL, True, False, CREDS),
    ],
)
def test_capa_in_authorization(login_type, tls_active, tls_available, middle):
    r = run(b"CAPA\r\n", login_type=login_type, tls_active=tls_active, tls_available=tls_available)
    assert r.output == GREETING + CAPA_AUTH_HEAD + middle + CAPA_TAIL


def test_capa_in_transaction_and_after_user():
    r = run(b"USER alice\r\nCAPA\r\nPASS secret\r\nCAPA\r\n", implementation="postroom 0.1")
    head = CAPA_AUTH_HEAD + b"STLS\r\n" + CREDS + b"IMPLEMENTATION postroom 0.1\r\n.\r\n"
    tail = CAPA_TRANSACTION.replace(b"postroom", b"postroom 0.1")
    assert r.output == GREETING + SEND_PASS + head + LOGGED_ON_ALICE + tail


def test_capa_takes_no_argument():
    assert run(b"CAPA x\r\n").output == GREETING + SYNTAX


# ---------------------------------------------------------------- login type x TLS x method
@pytest.mark.parametrize("method", ["USER", "PLAIN", "LOGIN"])
@pytest.mark.parametrize("tls_active", [False, True])
@pytest.mark.parametrize("login_type", [PTL, PTA, SL, "plain-text-login", "secure-login"])
def test_login_matrix(login_type, tls_active, method):
    client, prompts = LOGINS[method]
    r = run(client + b"STAT\r\nQUIT\r\n", login_type=login_type, tls_active=tls_active)
    allowed = tls_active or LoginType(login_type) is PTL
    if allowed:
        assert r.output == GREETING + prompts + LOGGED_ON_ALICE + b"+OK 5 %d\r\n" % TOTAL + bye(5)
        assert r.events == [Authenticate("alice", "secret", method), Commit(()), CloseConnection("quit")]
        return
    if method == "USER":  # USER refused; PASS without an accepted USER is refused too
        expected = USE_TLS + USE_TLS
        refused = LoginRefused("alice", "tls-required")
    elif method == "PLAIN":
        expected = USE_TLS
        refused = LoginRefused(None, "tls-required")
    else:  # no challenge was sent, so the client's base64 lines are not commands
        expected = USE_TLS + UNKNOWN + UNKNOWN
        refused = LoginRefused(None, "tls-required")
    assert r.output == GREETING + expected + NOT_VALID + BYE
    assert r.events == [refused, CloseConnection("quit")]


@pytest.mark.parametrize("login_type", [PTA, SL])
def test_refusal_without_stls_points_to_the_ssl_port(login_type):
    r = run(b"USER alice\r\nAUTH PLAIN " + plain(b"alice", b"secret") + b"\r\n", login_type=login_type,
            tls_available=False)
    assert r.output == GREETING + USE_SSL_PORT * 2
    assert r.events == [LoginRefused("alice", "tls-required"), LoginRefused(None, "tls-required"),
                        CloseConnection("eof")]


def test_refused_attempts_count_as_auth_failures():
    r = run(b"USER a\r\nAUTH LOGIN\r\nUSER c\r\nCAPA\r\n", login_type=SL)
    assert r.output == GREETING + USE_TLS + USE_TLS + TOO_MANY_AUTH
    assert r.events[-1] == CloseConnection("too-many-auth-failures")
    assert [type(e) for e in r.events] == [LoginRefused] * 3 + [CloseConnection]


def test_auth_listing_when_refused_is_not_an_attempt():
    r = run(b"AUTH\r\nAUTH\r\nAUTH\r\nAUTH\r\nCAPA\r\n", login_type=SL)
    assert r.output == GREETING + USE_TLS * 4 + CAPA_AUTH_HEAD + b"STLS\r\n" + CAPA_TAIL
    assert r.events == [CloseConnection("eof")]


def test_cleartext_notion_separates_the_two_tls_login_types(monkeypatch):
    # If PLAIN stopped being cleartext, plain-text-authentication (only) would allow it before TLS.
    import postroom.protocol.pop3 as pop3

    monkeypatch.setattr(pop3, "CLEARTEXT_MECHANISMS", frozenset({"USER", "LOGIN"}))
    for login_type, allowed in ((PTA, True), (SL, False)):
        r = run(b"CAPA\r\n" + ALICE_PLAIN, login_type=login_type)
        capa = CAPA_AUTH_HEAD + b"STLS\r\n" + (b"SASL PLAIN\r\n" if allowed else b"") + CAPA_TAIL
        assert r.output == GREETING + capa + (LOGGED_ON_ALICE if allowed else USE_TLS)


# ------------------------------------------------------------------------ USER / PASS
def test_pass_without_user():
    r = run(b"PASS secret\r\n")
    assert r.output == GREETING + b"-ERR No user name given; send USER first.\r\n"


@pytest.mark.parametrize("line", [b"USER", b"USER ", b"USER a b", b"USER  a"])
def test_user_syntax(line):
    assert run(line + b"\r\n").output == GREETING + SYNTAX


def test_pass_without_argument_keeps_the_user():
    r = run(b"USER alice\r\nPASS\r\nPASS secret\r\n")
    assert r.output == GREETING + SEND_PASS + SYNTAX + LOGGED_ON_ALICE


def test_second_user_replaces_the_first():
    r = run(b"USER bob\r\nUSER alice\r\nPASS secret\r\n")
    assert r.events[0] == Authenticate("alice", "secret", "USER")


def test_password_is_the_rest_of_the_line():
    USERS["spacey"] = (" a b  c ", [])
    try:
        r = run(b"USER spacey\r\nPASS  a b  c \r\n")
    finally:
        del USERS["spacey"]
    assert r.output == GREETING + SEND_PASS + LOGGED_ON_BOB
    assert r.events[0] == Authenticate("spacey", " a b  c ", "USER")
    assert " a b" not in repr(r.events[0])


def test_commands_are_case_insensitive():
    r = run(b"user alice\r\npass secret\r\nsTaT\r\nquit\r\n")
    assert r.output == LOGGED_IN + b"+OK 5 %d\r\n" % TOTAL + bye(5)


@pytest.mark.parametrize("user, password", [(b"alice", b"wrong"), (b"nobody", b"secret")])
def test_bad_credentials_reply_is_the_same_for_unknown_user(user, password):
    r = run(b"USER " + user + b"\r\nPASS " + password + b"\r\nPASS secret\r\n")
    assert r.output == GREETING + SEND_PASS + BAD_LOGON + b"-ERR No user name given; send USER first.\r\n"


def test_too_many_bad_logons_closes():
    bad = b"USER alice\r\nPASS nope\r\n"
    plain_bad = b"AUTH PLAIN " + plain(b"alice", b"nope") + b"\r\n"
    r = run(bad + plain_bad + bad + b"CAPA\r\n")
    assert r.output == GREETING + SEND_PASS + BAD_LOGON + BAD_LOGON + SEND_PASS + TOO_MANY_AUTH
    assert r.events[-1] == CloseConnection("too-many-auth-failures")
    assert len([e for e in r.events if isinstance(e, Authenticate)]) == 3


def test_auth_failure_limit_is_configurable():
    r = run(b"USER alice\r\nPASS nope\r\nUSER alice\r\nPASS secret\r\n", max_auth_failures=1)
    assert r.output == GREETING + SEND_PASS + TOO_MANY_AUTH


@pytest.mark.parametrize(
    "user, reply",
    [
        (b"nopop", b"-ERR [AUTH] POP3 access is disabled for this mailbox.\r\n"),
        (b"disabled", b"-ERR [AUTH] This mailbox is disabled.\r\n"),
        (b"locked", b"-ERR [IN-USE] The mailbox is locked by another session; try again later.\r\n"),
        (b"busy", b"-ERR [SYS/TEMP] Too many connections for this user; close another session and try again.\r\n"),
        (b"flaky", b"-ERR [SYS/TEMP] The mailbox is temporarily unavailable; try again later.\r\n"),
    ],
)
def test_adapter_refusals_do_not_count_as_bad_logons(user, reply):
    attempt = b"USER " + user + b"\r\nPASS pw\r\n"
    r = run(attempt * 4 + ALICE_USER)
    assert r.output == GREETING + (SEND_PASS + reply) * 4 + SEND_PASS + LOGGED_ON_ALICE


def test_auth_failed_accepts_the_enum_value_string():
    conn = Pop3Server(Pop3Config(login_type=PTL))
    conn.receive_data(ALICE_USER)
    assert isinstance(conn.next_event(), Authenticate)
    conn.auth_failed("in-use")
    assert conn.state is State.AUTHORIZATION
    assert conn.data_to_send()[-1].startswith(b"-ERR [IN-USE] ")


# ------------------------------------------------------------------------------- AUTH
MECH_LIST = b"+OK Supported authentication mechanisms follow.\r\nPLAIN\r\nLOGIN\r\n.\r\n"


def test_auth_without_argument_lists_mechanisms():
    assert run(b"AUTH\r\n").output == GREETING + MECH_LIST


def test_auth_plain_without_initial_response():
    r = run(b"AUTH PLAIN\r\n" + plain(b"alice", b"secret") + b"\r\n")
    assert r.output == GREETING + b"+ \r\n" + LOGGED_ON_ALICE
    assert r.events[0] == Authenticate("alice", "secret", "PLAIN")


def test_auth_plain_carries_authzid_and_is_case_insensitive():
    r = run(b"auth plain " + plain(b"alice", b"secret", b"admin") + b"\r\n")
    assert r.events[0] == Authenticate("alice", "secret", "PLAIN", authzid="admin")
    assert r.output == GREETING + LOGGED_ON_ALICE


def test_auth_login_with_initial_response():
    r = run(b"AUTH LOGIN " + b64(b"alice") + b"\r\n" + b64(b"secret") + b"\r\n")
    assert r.output == GREETING + b"+ UGFzc3dvcmQ6\r\n" + LOGGED_ON_ALICE
    assert r.events[0] == Authenticate("alice", "secret", "LOGIN")


@pytest.mark.parametrize("mechanism", [b"PLAIN", b"LOGIN"])
def test_bad_credentials_over_sasl(mechanism):
    if mechanism == b"PLAIN":
        script, prompts = b"AUTH PLAIN " + plain(b"alice", b"x") + b"\r\n", b""
    else:
        script, prompts = b"AUTH LOGIN\r\n" + b64(b"alice") + b"\r\n" + b64(b"x") + b"\r\n", LOGIN_PROMPTS
    assert run(script + b"STAT\r\n").output == GREETING + prompts + BAD_LOGON + NOT_VALID


def test_equals_is_the_empty_initial_response():
    r = run(b"AUTH PLAIN =\r\nFOO\r\n", max_errors=2)
    assert r.output == GREETING + b"-ERR Malformed PLAIN response.\r\n" + TOO_MANY_ERRORS


@pytest.mark.parametrize(
    "script, replies",
    [
        (b"AUTH PLAIN !!!!\r\n", b"-ERR Invalid base64 data.\r\n"),
        (b"AUTH PLAIN\r\nnot base64\r\n", b"+ \r\n-ERR Invalid base64 data.\r\n"),
        (b"AUTH LOGIN\r\n" + b64(b"alice") + b"\r\n%%%\r\n", LOGIN_PROMPTS + b"-ERR Invalid base64 data.\r\n"),
        (b"AUTH PLAIN " + b64(b"alice\0secret") + b"\r\n", b"-ERR Malformed PLAIN response.\r\n"),
        (b"AUTH CRAM-MD5\r\n", b"-ERR Unrecognized authentication type.\r\n"),
        (b"AUTH PLAIN a b\r\n", SYNTAX),
        (b"AUTH  PLAIN\r\n", SYNTAX),
    ],
)
def test_sasl_errors_count_as_errors_and_end_the_exchange(script, replies):
    r = run(script + b"CAPA\r\nFOO\r\n", max_errors=2)
    assert r.output == GREETING + replies + CAPA_AUTH_HEAD + b"STLS\r\n" + CREDS + CAPA_TAIL + TOO_MANY_ERRORS


@pytest.mark.parametrize(
    "script, prompts",
    [
        (b"AUTH PLAIN\r\n*\r\n", b"+ \r\n"),
        (b"AUTH LOGIN\r\n*\r\n", b"+ VXNlcm5hbWU6\r\n"),
        (b"AUTH LOGIN\r\n" + b64(b"alice") + b"\r\n*\r\n", LOGIN_PROMPTS),
    ],
)
def test_star_cancels_the_exchange(script, prompts):
    r = run(script + ALICE_USER)
    assert r.output == GREETING + prompts + b"-ERR Authentication cancelled.\r\n" + SEND_PASS + LOGGED_ON_ALICE


def test_overlong_line_inside_sasl_ends_the_exchange():
    r = run(b"AUTH PLAIN\r\n" + b"A" * 600 + b"\r\n" + ALICE_PLAIN)
    assert r.output == GREETING + b"+ \r\n-ERR Command line too long.\r\n" + LOGGED_ON_ALICE


def test_auth_after_user_forgets_the_user():
    r = run(b"USER alice\r\nAUTH PLAIN\r\n*\r\nPASS secret\r\n")
    assert r.output == GREETING + SEND_PASS + b"+ \r\n-ERR Authentication cancelled.\r\n" + (
        b"-ERR No user name given; send USER first.\r\n"
    )


# ------------------------------------------------------------------------------- STLS
BEGIN_TLS = b"+OK Begin TLS negotiation now.\r\n"


@pytest.mark.parametrize("login_type", [PTL, PTA, SL])
def test_stls_discards_pipelined_plaintext_and_resets_to_authorization(login_type):
    injected = b"STLS\r\nUSER evil\r\nPASS x\r\nQUIT\r\n"
    after = b"CAPA\r\n" + ALICE_USER + b"DELE 1\r\nQUIT\r\n"
    r = run([injected, after], login_type=login_type)
    capa = CAPA_AUTH_HEAD + CREDS + CAPA_TAIL  # no STLS any more; logon allowed; no new greeting
    assert r.output == (GREETING + BEGIN_TLS + capa + SEND_PASS + LOGGED_ON_ALICE + b"+OK Message 1 deleted.\r\n"
                        + bye(4))
    assert r.events == [StartTls(), Authenticate("alice", "secret", "USER"), Commit((101,)), CloseConnection("quit")]


def test_stls_drops_a_pending_user():
    r = run([b"USER alice\r\nSTLS\r\n", b"PASS secret\r\n"])
    assert r.output == GREETING + SEND_PASS + BEGIN_TLS + b"-ERR No user name given; send USER first.\r\n"


@pytest.mark.parametrize(
    "tls_active, tls_available, script",
    [
        (True, True, b"STLS\r\n"),
        (False, False, b"STLS\r\n"),
        (True, False, b"STLS\r\n"),
    ],
)
def test_stls_refused_when_active_or_unavailable(tls_active, tls_available, script):
    r = run(script + b"CAPA\r\n", tls_active=tls_active, tls_available=tls_available)
    assert r.output.startswith(GREETING + NOT_VALID + b"+OK Capability list follows.\r\n")
    assert r.events == [CloseConnection("eof")]


def test_second_stls_and_stls_with_argument():
    r = run([b"STLS x\r\nSTLS\r\n", b"STLS\r\n"])
    assert r.output == GREETING + SYNTAX + BEGIN_TLS + NOT_VALID
    assert r.events == [StartTls(), CloseConnection("eof")]


def test_stls_in_transaction_is_not_valid():
    assert session(b"STLS\r\n").output == LOGGED_IN + NOT_VALID


def test_bytes_arriving_during_handshake_are_discarded():
    conn = Pop3Server(Pop3Config(login_type=SL), tls_available=True)
    conn.data_to_send()
    conn.receive_data(b"STLS\r\nUSER a\r\n")
    assert conn.next_event() == StartTls()
    assert conn.next_event() is PAUSED
    assert conn.state is State.TLS_NEGOTIATING
    conn.receive_data(b"USER evil\r\nPASS x\r\n")
    assert conn.bytes_buffered == 0
    assert conn.data_to_send() == [BEGIN_TLS]
    conn.tls_started()
    assert conn.tls_active and conn.state is State.AUTHORIZATION
    assert conn.next_event() is NEED_DATA
    assert conn.data_to_send() == []


# ------------------------------------------------------------------ unknown / wrong state
@pytest.mark.parametrize(
    "line", [b"STAT", b"LIST", b"LIST 1", b"RETR 1", b"DELE 1", b"NOOP", b"RSET", b"TOP 1 0", b"UIDL", b"stat"]
)
def test_transaction_commands_in_authorization(line):
    assert run(line + b"\r\n").output == GREETING + NOT_VALID


@pytest.mark.parametrize("line", [b"USER alice", b"PASS secret", b"AUTH PLAIN", b"AUTH", b"STLS"])
def test_authorization_commands_in_transaction(line):
    assert session(line + b"\r\n").output == LOGGED_IN + NOT_VALID


@pytest.mark.parametrize("line", [b"APOP alice 0123456789abcdef", b"XYZZY", b"", b" STAT", b"STAT\x00", b"ST\xc3\x84T"])
def test_unknown_commands(line):
    assert run(line + b"\r\n").output == GREETING + UNKNOWN
    assert session(line + b"\r\n").output == LOGGED_IN + UNKNOWN


def test_invalid_utf8_line():
    assert run(b"USER \xff\xfe\r\n").output == GREETING + b"-ERR Command is not valid UTF-8.\r\n"


def test_too_many_errors_closes_and_ignores_the_rest():
    r = run(b"FOO\r\n" * 9 + b"STAT\r\n" + b"CAPA\r\n")
    assert r.output == GREETING + UNKNOWN * 9 + TOO_MANY_ERRORS
    assert r.events == [CloseConnection("too-many-errors")]


def test_every_kind_of_protocol_error_counts():
    script = (
        b"BOGUS\r\n"  # unknown
        + b"STAT\r\n"  # wrong state
        + b"x" * 600 + b"\r\n"  # too long
        + b"\xff\r\n"  # not UTF-8
        + b"USER\r\n"  # syntax
        + b"AUTH PLAIN #\r\n"  # bad base64
        + b"CAPA\r\n"
    )
    r = run(script, max_errors=6)
    assert r.output.endswith(TOO_MANY_ERRORS)
    assert r.output.count(b"-ERR") == 6 and b"Capability" not in r.output


def test_negative_replies_that_are_not_protocol_errors_do_not_count():
    r = session(b"LIST 9\r\nRETR 9\r\nDELE 1\r\nDELE 1\r\nFOO\r\nSTAT\r\nBAR\r\n", max_errors=2)
    expected = NO_SUCH * 2 + b"+OK Message 1 deleted.\r\n-ERR Message 1 is deleted.\r\n" + UNKNOWN
    assert r.output == LOGGED_IN + expected + b"+OK 4 %d\r\n" % (TOTAL - S1) + TOO_MANY_ERRORS
    assert r.commits == [] and r.closes == [CloseConnection("too-many-errors")]


# ------------------------------------------------------------------------- line length
def test_command_line_limit_includes_crlf():
    fits = b"USER " + b"a" * 505 + b"\r\n"  # 512 octets
    too_long = b"USER " + b"a" * 506 + b"\r\n"  # 513 octets
    assert len(fits) == 512
    r = run(fits + too_long + b"NOOP\r\n")
    assert r.output == GREETING + SEND_PASS + b"-ERR Command line too long.\r\n" + NOT_VALID


def test_huge_line_gets_one_reply_and_the_next_command_runs():
    r = session(b"NOOP " + b"9" * 5000 + b"\r\nNOOP\r\n")
    assert r.output == LOGGED_IN + b"-ERR Command line too long.\r\n+OK\r\n"


def test_command_limit_is_configurable():
    r = run(b"USER " + b"a" * 60 + b"\r\nCAPA x\r\n", max_command_size=64)
    assert r.output == GREETING + b"-ERR Command line too long.\r\n" + SYNTAX


# ------------------------------------------------------------------------- TRANSACTION
LIST_ALL = b"+OK 5 messages (%d octets)\r\n1 %d\r\n2 %d\r\n3 %d\r\n4 %d\r\n5 %d\r\n.\r\n" % (TOTAL, S1, S2, S3, S4, S5)
UIDL_ALL = b"+OK Unique-ID listing follows.\r\n1 uid-1\r\n2 uid-2\r\n3 uid-3\r\n4 uid-4\r\n5 uid-5\r\n.\r\n"
RETR = {
    1: b"+OK %d octets\r\n" % S1
    + b"From: a@example.com\r\nSubject: one\r\n\r\nHello\r\n..dot line\r\n...two dots\r\nlast\r\n.\r\n",
    2: b"+OK %d octets\r\n" % S2 + b"..starts with a dot\r\nX: y\r\n\r\nbody\r\n..\r\n.\r\n",
    3: b"+OK %d octets\r\n" % S3 + b"Subject: three\r\n\r\nline 1\r\nline 2\r\nno final newline\r\n.\r\n",
    4: b"+OK %d octets\r\n" % S4 + b"Subject: headers only\r\nX-Flag: yes\r\n.\r\n",
    5: b"+OK %d octets\r\n" % S5 + b"\r\nbody without headers\r\nsecond\r\n.\r\n",
}


def test_stat_list_uidl_noop():
    r = session(b"STAT\r\nLIST\r\nLIST 2\r\nUIDL\r\nUIDL 5\r\nNOOP\r\nQUIT\r\n")
    assert r.output == LOGGED_IN + b"+OK 5 %d\r\n" % TOTAL + LIST_ALL + b"+OK 2 %d\r\n" % S2 + UIDL_ALL + (
        b"+OK 5 uid-5\r\n+OK\r\n" + bye(5)
    )
    assert r.events[1:] == [Commit(()), CloseConnection("quit")]


@pytest.mark.parametrize("number", [1, 2, 3, 4, 5])
def test_retr_is_dot_stuffed_with_exact_octet_count(number):
    r = session(b"RETR %d\r\n" % number)
    assert r.output == LOGGED_IN + RETR[number]
    assert r.events[1] == Retrieve(100 + number, number, None)


@pytest.mark.parametrize(
    "command, body",
    [
        (b"TOP 1 0", b"From: a@example.com\r\nSubject: one\r\n\r\n"),
        (b"TOP 1 1", b"From: a@example.com\r\nSubject: one\r\n\r\nHello\r\n"),
        (b"TOP 1 2", b"From: a@example.com\r\nSubject: one\r\n\r\nHello\r\n..dot line\r\n"),
        (b"TOP 1 999999999999", RETR[1].split(b"\r\n", 1)[1][:-3]),
        (b"TOP 2 0", b"..starts with a dot\r\nX: y\r\n\r\n"),
        (b"TOP 2 2", b"..starts with a dot\r\nX: y\r\n\r\nbody\r\n..\r\n"),
        (b"TOP 3 2", b"Subject: three\r\n\r\nline 1\r\nline 2\r\n"),
        (b"TOP 3 3", b"Subject: three\r\n\r\nline 1\r\nline 2\r\nno final newline\r\n"),
        (b"TOP 4 0", M4),
        (b"TOP 4 10", M4),
        (b"TOP 5 0", b"\r\n"),
        (b"TOP 5 1", b"\r\nbody without headers\r\n"),
        (b"top 01 00", b"From: a@example.com\r\nSubject: one\r\n\r\n"),
    ],
)
def test_top(command, body):
    r = session(command + b"\r\n")
    assert r.output == LOGGED_IN + b"+OK Top of message follows.\r\n" + body + b".\r\n"
    number, lines = (int(x) for x in command.split()[1:])
    assert r.events[1] == Retrieve(100 + number, number, lines)


@pytest.mark.parametrize(
    "command, reply",
    [
        (b"TOP 1", SYNTAX),
        (b"TOP 1 2 3", SYNTAX),
        (b"TOP", SYNTAX),
        (b"TOP 1 x", b"-ERR Invalid number of lines.\r\n"),
        (b"TOP 1 -1", b"-ERR Invalid number of lines.\r\n"),
        (b"TOP x 1", b"-ERR Invalid message number.\r\n"),
        (b"TOP 0 1", NO_SUCH),
        (b"TOP 6 1", NO_SUCH),
        (b"RETR", SYNTAX),
        (b"RETR 1 2", SYNTAX),
        (b"RETR 0", NO_SUCH),
        (b"RETR 6", NO_SUCH),
        (b"RETR one", b"-ERR Invalid message number.\r\n"),
        (b"DELE", SYNTAX),
        (b"DELE 6", NO_SUCH),
        (b"LIST 0", NO_SUCH),
        (b"LIST 6", NO_SUCH),
        (b"LIST 99999999999999999999999999", NO_SUCH),
        (b"LIST 1 2", SYNTAX),
        (b"LIST  1", SYNTAX),
        (b"LIST 1 ", SYNTAX),
        (b"LIST ", SYNTAX),
        (b"UIDL 1 2", SYNTAX),
        (b"UIDL 6", NO_SUCH),
        (b"STAT 1", SYNTAX),
        (b"NOOP x", SYNTAX),
        (b"RSET x", SYNTAX),
        (b"QUIT now", SYNTAX),
    ]
    + [(b"LIST " + junk, b"-ERR Invalid message number.\r\n") for junk in
       (b"-1", b"+1", b"1.0", b"0x1", b"1_0", b"\xd9\xa1", b"\xc2\xb2", b"x")],
)
def test_argument_errors(command, reply):
    r = session(command + b"\r\n")
    assert r.output == LOGGED_IN + reply
    assert r.commits == [] and r.closes == [CloseConnection("eof")]


def test_leading_zeros_are_decimal():
    assert session(b"LIST 0001\r\nUIDL 02\r\n").output == LOGGED_IN + b"+OK 1 %d\r\n+OK 2 uid-2\r\n" % S1


def test_deleted_messages_are_invisible_until_rset():
    deleted = b"-ERR Message 2 is deleted.\r\n"
    r = session(
        b"DELE 2\r\nDELE 2\r\nSTAT\r\nLIST\r\nLIST 2\r\nUIDL\r\nUIDL 2\r\nRETR 2\r\nTOP 2 0\r\nLIST 3\r\n"
        b"RSET\r\nSTAT\r\nLIST 2\r\nQUIT\r\n"
    )
    left = TOTAL - S2
    assert r.output == LOGGED_IN + (
        b"+OK Message 2 deleted.\r\n"
        + deleted
        + b"+OK 4 %d\r\n" % left
        + b"+OK 4 messages (%d octets)\r\n1 %d\r\n3 %d\r\n4 %d\r\n5 %d\r\n.\r\n" % (left, S1, S3, S4, S5)
        + deleted
        + b"+OK Unique-ID listing follows.\r\n1 uid-1\r\n3 uid-3\r\n4 uid-4\r\n5 uid-5\r\n.\r\n"
        + deleted * 3
        + b"+OK 3 %d\r\n" % S3
        + b"+OK Maildrop has 5 messages (%d octets).\r\n" % TOTAL
        + b"+OK 5 %d\r\n" % TOTAL
        + b"+OK 2 %d\r\n" % S2
        + bye(5)
    )
    assert r.commits == [Commit(())]
    assert [e for e in r.events if isinstance(e, Retrieve)] == []


def test_quit_commits_exactly_the_marked_messages_in_number_order():
    r = session(b"DELE 4\r\nDELE 1\r\nRSET\r\nDELE 5\r\nDELE 2\r\nQUIT\r\nSTAT\r\n")
    assert r.output.endswith(b"+OK Message 2 deleted.\r\n" + bye(3))
    assert r.events[1:] == [Commit((102, 105)), CloseConnection("quit")]


def test_update_failure_is_reported():
    r = session(b"DELE 1\r\nQUIT\r\n", update_ok=False)
    assert r.output == (LOGGED_IN + b"+OK Message 1 deleted.\r\n"
                        b"-ERR [SYS/TEMP] Some deleted messages were not removed.\r\n")
    assert r.events[1:] == [Commit((101,)), CloseConnection("quit")]


def test_eof_deletes_nothing():
    r = session(b"DELE 1\r\nDELE 2\r\n")
    assert r.output == LOGGED_IN + b"+OK Message 1 deleted.\r\n+OK Message 2 deleted.\r\n"
    assert r.events[1:] == [CloseConnection("eof")]


@pytest.mark.parametrize("script", [b"", b"USER alice\r\n", b"AUTH PLAIN\r\n", b"AUTH LOGIN\r\n", b"USER al"])
def test_eof_in_authorization_substates(script):
    assert run(script).events == [CloseConnection("eof")]


def test_empty_maildrop():
    r = run(b"USER bob\r\nPASS pw\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 1 0\r\nDELE 1\r\nRSET\r\nQUIT\r\n")
    assert r.output == GREETING + SEND_PASS + LOGGED_ON_BOB + (
        b"+OK 0 0\r\n+OK 0 messages (0 octets)\r\n.\r\n+OK Unique-ID listing follows.\r\n.\r\n"
        + NO_SUCH * 3
        + b"+OK Maildrop has 0 messages (0 octets).\r\n"
        + bye(0)
    )
    assert r.events[1:] == [Commit(()), CloseConnection("quit")]


def test_message_failure_is_temporary_and_the_session_continues():
    r = run(b"USER ghost\r\nPASS pw\r\nRETR 1\r\nTOP 1 0\r\nLIST\r\n")
    fail = b"-ERR [SYS/TEMP] The message could not be read; try again later.\r\n"
    assert r.output == GREETING + SEND_PASS + b"+OK Logged on; maildrop has 1 messages (10 octets).\r\n" + (
        fail * 2 + b"+OK 1 messages (10 octets)\r\n1 10\r\n.\r\n"
    )


def test_pipelined_session_in_one_packet():
    script = ALICE_USER + b"STAT\r\nRETR 2\r\nDELE 2\r\nTOP 1 0\r\nLIST 2\r\nQUIT\r\n"
    r = run(script)
    assert r.output == LOGGED_IN + b"+OK 5 %d\r\n" % TOTAL + RETR[2] + b"+OK Message 2 deleted.\r\n" + (
        b"+OK Top of message follows.\r\nFrom: a@example.com\r\nSubject: one\r\n\r\n.\r\n"
        + b"-ERR Message 2 is deleted.\r\n"
        + bye(4)
    )
    assert r.events == [
        Authenticate("alice", "secret", "USER"),
        Retrieve(102, 2, None),
        Retrieve(101, 1, 0),
        Commit((102,)),
        CloseConnection("quit"),
    ]


# ------------------------------------------------------------- the adapter's view, step by step
def test_paused_core_keeps_later_commands_buffered():
    conn = Pop3Server(Pop3Config(login_type="plain-text-login"), tls_available=True)
    assert conn.data_to_send() == [GREETING]
    conn.receive_data(ALICE_USER + b"STAT\r\nRETR 1\r\nNOOP\r\nQUIT\r\n")
    assert conn.next_event() == Authenticate("alice", "secret", "USER")
    assert conn.next_event() is PAUSED
    assert conn.next_event() is PAUSED
    assert conn.state is State.AUTHENTICATING
    assert conn.data_to_send() == [SEND_PASS]
    conn.auth_succeeded(ALICE)
    assert conn.next_event() == Retrieve(101, 1, None)
    assert conn.data_to_send() == [LOGGED_ON_ALICE, b"+OK 5 %d\r\n" % TOTAL]
    assert conn.next_event() is PAUSED
    conn.message_content(M1)
    assert conn.next_event() == Commit(())
    chunks = conn.data_to_send()
    assert b"".join(chunks) == RETR[1] + b"+OK\r\n"
    assert conn.next_event() is PAUSED
    conn.update_done(True)
    assert conn.next_event() == CloseConnection("quit")
    assert conn.data_to_send() == [bye(5)]
    assert conn.state is State.CLOSED
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"STAT\r\n")
    assert conn.next_event() is NEED_DATA
    assert conn.data_to_send() == []


def test_eof_while_paused_drops_buffered_commands():
    conn = Pop3Server(Pop3Config(login_type=PTL))
    conn.receive_data(ALICE_USER + b"DELE 1\r\nQUIT\r\n")
    assert isinstance(conn.next_event(), Authenticate)
    conn.receive_data(b"")
    assert conn.next_event() is PAUSED
    conn.auth_succeeded(ALICE)
    assert conn.next_event() == CloseConnection("eof")
    assert conn.next_event() is NEED_DATA
    assert conn.data_to_send() == [GREETING, SEND_PASS, LOGGED_ON_ALICE]


def test_eof_during_commit_still_finishes_the_quit():
    conn = Pop3Server(Pop3Config(login_type=PTL))
    conn.receive_data(ALICE_USER + b"DELE 3\r\nQUIT\r\n")
    conn.next_event()
    conn.auth_succeeded(ALICE)
    assert conn.next_event() == Commit((103,))
    conn.receive_data(b"")
    assert conn.next_event() is PAUSED
    conn.update_done(True)
    assert conn.next_event() == CloseConnection("quit")


@pytest.mark.parametrize(
    "call", [
        lambda c: c.auth_succeeded([]),
        lambda c: c.auth_failed(AuthFailure.TEMPORARY),
        lambda c: c.tls_started(),
        lambda c: c.message_content(b"x"),
        lambda c: c.message_failed(),
        lambda c: c.update_done(True),
    ],
)
def test_answers_out_of_turn_are_adapter_bugs(call):
    conn = Pop3Server(Pop3Config())
    with pytest.raises(LocalProtocolError):
        call(conn)


def test_config_accepts_enum_or_string_and_validates():
    assert Pop3Config(login_type="plain-text-authentication").login_type is PTA
    assert Pop3Config(login_type=SL).login_type is SL
    assert Pop3Config().login_type is SL
    with pytest.raises(ValueError):
        Pop3Config(login_type="anything")
    with pytest.raises(ValueError):
        Pop3Config(banner="two\r\nlines")
    with pytest.raises(ValueError):
        Pop3Config(max_errors=0)


def test_reply_values():
    assert Reply(False, "No.").to_bytes() == b"-ERR No.\r\n"
    assert Reply(True).to_bytes() == b"+OK\r\n"
    assert Reply(True, "x", (".a", "b", "")).to_bytes() == b"+OK x\r\n..a\r\nb\r\n\r\n.\r\n"
    assert len(Reply(True, "y" * 1000).to_bytes()) == 512


# ----------------------------------------------------------------------- big messages
def retrieve_one(data: bytes) -> list[bytes]:
    conn = Pop3Server(Pop3Config(login_type=PTL))
    conn.receive_data(b"USER bob\r\nPASS pw\r\nRETR 1\r\n")
    conn.next_event()
    conn.auth_succeeded([MessageInfo(1, "u", len(data))])
    assert conn.next_event() == Retrieve(1, 1, None)
    conn.data_to_send()
    conn.message_content(data)
    assert conn.next_event() is NEED_DATA
    return conn.data_to_send()


def test_big_message_without_dot_lines_is_sent_without_copying():
    data = b"Subject: big\r\n\r\n" + b"x" * 998 + b"\r\n" * 1 + (b"y" * 78 + b"\r\n") * 130_000
    chunks = retrieve_one(data)
    assert chunks[0] == b"+OK %d octets\r\n" % len(data)
    assert chunks[1] is data
    assert chunks[2] == b".\r\n"


def test_ten_megabytes_of_dot_lines_are_stuffed_fast():
    line = b".line starting with a dot, followed by text to fill up the line\r\n"
    data = line * (10_000_000 // len(line))
    start = time.perf_counter()
    chunks = retrieve_one(data)
    elapsed = time.perf_counter() - start
    assert chunks[0] == b"+OK %d octets\r\n." % len(data)  # the first line's extra dot
    assert chunks[1] == data.replace(b"\r\n.", b"\r\n..")
    assert chunks[2] == b".\r\n"
    assert len(chunks) == 3
    assert elapsed < 1.0


# -------------------------------------------------------------------------------- purity
def test_protocol_package_is_pure_and_short():
    """No I/O modules of the standard library in the cores. What they import of postroom (their
    own package and postroom.values) is the layers contract's (tests/unit/test_layers.py)."""
    import ast
    import pathlib

    import postroom.protocol

    forbidden = {"asyncio", "socket", "ssl", "sqlite3", "logging", "time", "selectors", "threading"}
    paths = list(pathlib.Path(postroom.protocol.__file__).parent.rglob("*.py"))
    assert any(p.parent.name == "imap4" for p in paths)  # subpackages are covered too
    for path in paths:
        source = path.read_text()
        assert source.count("\n") <= 470, path.name
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in forbidden, (path.name, name)
