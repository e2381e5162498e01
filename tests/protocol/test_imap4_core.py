"""IMAP4 core: sessions as bytes in, replies out (login policies, STARTTLS, literals, IDLE,
states, errors, shutdown). Every script runs at every chunk size (imap4_driver.talk)."""
from __future__ import annotations

import base64

import pytest
from imap4_driver import PLAIN_LOGIN, replies, run, talk

from postroom.protocol.imap4 import types as T
from postroom.protocol.imap4.core import (
    NEED_DATA, PAUSED, Authenticate, CloseConnection, IdleDone, IdleStarted, ImapConfig, ImapServer,
    LocalProtocolError, LoginRefused, Request, StartTls, State,
)

SECURE = ImapConfig()  # secure-login, the default
CAPS = (b"IMAP4rev1 IMAP4rev2 LITERAL+ ID ENABLE IDLE NAMESPACE UNSELECT CHILDREN UIDPLUS MOVE SPECIAL-USE CONDSTORE"
        b" QRESYNC ESEARCH SEARCHRES LIST-EXTENDED LIST-STATUS STATUS=SIZE BINARY UTF8=ACCEPT")
LOGIN = b"a1 LOGIN alice secret\r\n"


def requests(events: list) -> list[T.Command]:
    return [e.command for e in events if isinstance(e, Request)]


# ------------------------------------------------------------------------ greeting, capability
def test_greeting_lists_capabilities_by_login_type_and_tls():
    out, _, _ = run(b"", config=SECURE)
    assert out == b"* OK [CAPABILITY " + CAPS + b" STARTTLS LOGINDISABLED] The postroom IMAP4 service is ready.\r\n"
    out, _, _ = run(b"", config=SECURE, tls_active=True, tls_available=False)
    assert out.startswith(b"* OK [CAPABILITY " + CAPS + b" AUTH=PLAIN SASL-IR] ")
    out, _, _ = run(b"", config=ImapConfig(login_type="plain-text-authentication", banner="Hi."))
    assert out == b"* OK [CAPABILITY " + CAPS + b" STARTTLS LOGINDISABLED] Hi.\r\n"
    out, _, _ = run(b"", tls_available=False)  # plain-text-login, no STARTTLS on this port
    assert out.startswith(b"* OK [CAPABILITY " + CAPS + b" AUTH=PLAIN SASL-IR] ")


def test_capability_before_and_after_login_drops_the_login_ones():
    out, events = talk(b"c1 CAPABILITY\r\n" + LOGIN + b"c2 capability\r\n")
    assert replies(out) == [
        b"* CAPABILITY " + CAPS + b" STARTTLS AUTH=PLAIN SASL-IR",
        b"c1 OK CAPABILITY completed.",
        b"a1 OK [CAPABILITY " + CAPS + b" APPENDLIMIT=36700160 COMPRESS=DEFLATE] Logged in.",
        b"* CAPABILITY " + CAPS + b" APPENDLIMIT=36700160 COMPRESS=DEFLATE",
        b"c2 OK CAPABILITY completed.",
    ]
    assert events == [Authenticate("a1", "LOGIN", "alice", "secret")]


# ------------------------------------------------------------------------------- login
def test_login_success_failure_and_lockout_after_three():
    out, events = talk(b"a1 LOGIN alice wrong\r\na2 LOGIN \"alice\" {5}\r\nwrong\r\na3 LOGIN alice x\r\na4 NOOP\r\n")
    assert replies(out) == [
        b"a1 NO [AUTHENTICATIONFAILED] Logon failure: unknown user name or bad password.",
        b"+ Ready for literal data",
        b"a2 NO [AUTHENTICATIONFAILED] Logon failure: unknown user name or bad password.",
        b"a3 NO [AUTHENTICATIONFAILED] Logon failure: unknown user name or bad password.",
        b"* BYE Too many failed logins.",
    ]
    assert events[-1] == CloseConnection("too-many-auth-failures")


def test_secure_login_refuses_login_and_authenticate_before_tls_then_starttls_allows():
    script = [b"a1 LOGIN alice secret\r\na2 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\na3 STARTTLS\r\n"
              b"a4 LOGIN plaintext injected\r\n",
              b"a5 CAPABILITY\r\n" + LOGIN]
    out, events = talk(script, config=SECURE)
    assert replies(out) == [
        b"a1 NO [PRIVACYREQUIRED] Log in after STARTTLS: passwords are not accepted on an unencrypted connection.",
        b"a2 NO [PRIVACYREQUIRED] Log in after STARTTLS: passwords are not accepted on an unencrypted connection.",
        b"a3 OK Begin TLS negotiation now.",
        b"* CAPABILITY " + CAPS + b" AUTH=PLAIN SASL-IR",
        b"a5 OK CAPABILITY completed.",
        b"a1 OK [CAPABILITY " + CAPS + b" APPENDLIMIT=36700160 COMPRESS=DEFLATE] Logged in.",
    ]
    # Each refusal the core made itself is reported (the adapter logs and counts it); the name
    # LOGIN gave, never AUTHENTICATE's credentials.
    assert events == [LoginRefused("alice", "tls-required"), LoginRefused(None, "tls-required"), StartTls("a3"),
                      Authenticate("a1", "LOGIN", "alice", "secret")]


def test_secure_login_refuses_a_login_literal_before_the_password_is_sent():
    out, events = talk(b"a1 LOGIN alice {6}\r\na2 LOGIN {5+}\r\nalice x\r\na3 NOOP\r\n", config=SECURE)
    privacy = b"NO [PRIVACYREQUIRED] Log in after STARTTLS: passwords are not accepted on an unencrypted connection."
    assert replies(out) == [b"a1 " + privacy, b"a2 " + privacy, b"a3 OK NOOP completed."]
    # a1's name came before its literal; a2's was a literal, its password an atom (the line is whole)
    assert events == [LoginRefused("alice", "tls-required"), LoginRefused("alice", "tls-required")]


def test_privacy_required_is_reported_before_the_close_it_causes():
    """Bytes in, events out: the third refusal closes the session, and all three are reported
    first (a name the core could not read, a literal still to come, is None)."""
    out, events = talk(b"a1 LOGIN {5}\r\na2 AUTHENTICATE PLAIN\r\na3 LOGIN \"bob\" \"pw\"\r\na4 NOOP\r\n",
                       config=SECURE)
    assert [line.split(b" ", 2)[1] for line in replies(out)] == [b"NO", b"NO", b"NO", b"BYE"]
    assert events == [LoginRefused(None, "tls-required"), LoginRefused(None, "tls-required"),
                      LoginRefused("bob", "tls-required"), CloseConnection("too-many-auth-failures")]
    _, events = talk(LOGIN, config=PLAIN_LOGIN)  # plain-text-login: nothing refused
    assert events == [Authenticate("a1", "LOGIN", "alice", "secret")]


def test_privacy_required_without_starttls_names_the_ssl_port():
    out, _ = talk(LOGIN, config=SECURE, tls_available=False)
    assert replies(out) == [b"a1 NO [PRIVACYREQUIRED] Passwords are not accepted on an unencrypted connection: "
                            b"use the SSL port."]


def test_starttls_refused_when_active_or_unavailable_and_after_login():
    out, _ = talk(b"s1 STARTTLS\r\n", tls_active=True, tls_available=False)
    assert replies(out) == [b"s1 BAD TLS is already active."]
    out, _ = talk(b"s1 STARTTLS\r\n", tls_available=False)
    assert replies(out) == [b"s1 BAD STARTTLS is not available on this port."]
    out, _ = talk(LOGIN + b"s2 STARTTLS\r\n")
    assert replies(out)[-1] == b"s2 BAD STARTTLS is not valid in the authenticated state."


def test_authenticate_plain_with_and_without_initial_response():
    creds = base64.b64encode(b"\0alice\0secret")
    out, events = talk(b"a1 AUTHENTICATE PLAIN\r\n" + creds + b"\r\n")
    assert replies(out) == [b"+ ", b"a1 OK [CAPABILITY " + CAPS + b" APPENDLIMIT=36700160 COMPRESS=DEFLATE] Logged in."]
    assert events == [Authenticate("a1", "PLAIN", "alice", "secret")]
    out, events = talk(b"a1 authenticate plain " + base64.b64encode(b"admin\0alice\0secret") + b"\r\n")
    assert events == [Authenticate("a1", "PLAIN", "alice", "secret", "admin")]


def test_authenticate_cancel_bad_base64_and_unknown_mechanism():
    out, events = talk(b"a1 AUTHENTICATE PLAIN\r\n*\r\na2 AUTHENTICATE PLAIN ***\r\na3 AUTHENTICATE CRAM-MD5\r\n")
    assert replies(out) == [b"+ ", b"a1 BAD Authentication cancelled.", b"a2 BAD Invalid base64 data.",
                            b"a3 NO Unsupported authentication mechanism CRAM-MD5: use PLAIN."]
    assert events == []


def test_commands_of_later_states_before_login():
    out, _ = talk(b"a1 SELECT INBOX\r\na2 FETCH 1 FLAGS\r\na3 NOOP\r\na4 ID NIL\r\n")
    assert replies(out) == [b"a1 BAD SELECT is not valid before login: log in first.",
                            b"a2 BAD FETCH is not valid before login: log in first.",
                            b"a3 OK NOOP completed.", b'* ID ("name" "postroom")', b"a4 OK ID completed."]


# ------------------------------------------------------------------------- states, requests
def test_select_moves_to_selected_and_a_failed_select_back():
    script = LOGIN + b"b1 FETCH 1 FLAGS\r\nb2 SELECT INBOX\r\nb3 FETCH 1 FLAGS\r\nb4 ENABLE X\r\nb5 SELECT Nope\r\n" \
        b"b6 FETCH 1 FLAGS\r\nb7 EXAMINE INBOX\r\nb8 CLOSE\r\nb9 CLOSE\r\n"
    out, events = talk(script)
    assert replies(out)[1:] == [
        b"b1 BAD FETCH needs a selected mailbox: SELECT one first.", b"b2 OK SELECT completed.",
        b"b3 OK FETCH completed.", b"b4 BAD ENABLE is not valid in the selected state.",
        b"b5 NO [NONEXISTENT] No such mailbox.", b"b6 BAD FETCH needs a selected mailbox: SELECT one first.",
        b"b7 OK SELECT completed.", b"b8 OK CLOSE completed.",
        b"b9 BAD CLOSE needs a selected mailbox: SELECT one first.",
    ]
    assert [type(c).__name__ for c in requests(events)] == ["Select", "Fetch", "Select", "Select", "Close"]


def test_requests_are_answered_in_order_and_pipelined_commands_wait():
    conn = ImapServer(PLAIN_LOGIN)
    conn.receive_data(LOGIN + b"n1 NOOP\r\nn2 CHECK\r\n")
    assert isinstance(conn.next_event(), Authenticate)
    assert conn.next_event() is PAUSED
    conn.auth_succeeded()
    ev = conn.next_event()
    assert ev == Request(T.Noop("n1")) and conn.next_event() is PAUSED
    conn.send_data(b"* 3 EXISTS\r\n")
    assert conn.data_to_send()[-1] == b"* 3 EXISTS\r\n"  # untagged data may come at any time
    conn.complete("n1", "OK", "NOOP completed.")
    assert conn.next_event() is NEED_DATA  # n2 waited until now
    assert conn.data_to_send() == [b"n1 OK NOOP completed.\r\n",
                                   b"n2 BAD CHECK needs a selected mailbox: SELECT one first.\r\n"]


def test_complete_checks_its_tag_and_status():
    conn = ImapServer(PLAIN_LOGIN)
    conn.receive_data(LOGIN + b"n1 NOOP\r\n")
    conn.next_event()
    conn.auth_succeeded()
    conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.complete("n2", "OK", "x")
    with pytest.raises(LocalProtocolError):
        conn.complete("n1", "MAYBE", "x")
    with pytest.raises(LocalProtocolError):
        conn.auth_succeeded()
    conn.complete("n1", "NO", "text\r\nwith a line break", "SERVERBUG")
    assert conn.data_to_send()[-1] == b"n1 NO [SERVERBUG] text  with a line break\r\n"


def test_selected_call_switches_state_between_commands():
    conn = ImapServer(PLAIN_LOGIN)
    with pytest.raises(LocalProtocolError):
        conn.selected(True)
    conn.receive_data(LOGIN)
    conn.next_event()
    conn.auth_succeeded()
    conn.selected(True)
    assert conn.state is State.SELECTED
    conn.selected(False)
    assert conn.state is State.AUTHENTICATED


# ---------------------------------------------------------------------------------- IDLE
def test_idle_pushes_updates_until_done():
    out, events = talk(LOGIN + b"i1 IDLE\r\n", )
    assert replies(out)[1:] == [b"+ idling", b"* 1 EXISTS"]
    assert events[-1] == IdleStarted("i1")
    out, events = talk([LOGIN + b"i1 IDLE\r\n", b"nonsense\r\ndone\r\ni2 NOOP\r\n"])
    assert replies(out)[1:] == [b"+ idling", b"* 1 EXISTS", b"* BAD Expected DONE to end IDLE.",
                                b"i1 OK IDLE terminated.", b"i2 OK NOOP completed."]
    assert events[-2:] == [IdleDone("i1"), Request(T.Noop("i2"))]


def test_shutdown_while_idle_and_refused_while_a_request_is_out():
    conn = ImapServer(PLAIN_LOGIN)
    conn.receive_data(LOGIN + b"i1 IDLE\r\n")
    conn.next_event()
    conn.auth_succeeded()
    assert conn.next_event() == IdleStarted("i1")
    assert conn.shutdown("Server shutting down for maintenance.") is True
    assert conn.next_event() == CloseConnection("shutdown")
    assert conn.data_to_send()[-1] == b"* BYE Server shutting down for maintenance.\r\n"
    conn = ImapServer(PLAIN_LOGIN)
    conn.receive_data(LOGIN + b"n1 NOOP\r\n")
    conn.next_event()
    conn.auth_succeeded()
    conn.next_event()
    assert conn.shutdown() is False
    conn.complete("n1", "OK", "done")
    assert conn.shutdown(True) is True
    assert conn.data_to_send()[-1] == b"* BYE Session ended by an administrator.\r\n"


def test_timeout_says_bye_in_any_state():
    conn = ImapServer(SECURE)
    conn.receive_data(b"a1 LOGIN {5}\r\nal")
    assert conn.next_event() == LoginRefused(None, "tls-required")  # secure-login: the literal is refused
    assert conn.next_event() is NEED_DATA
    conn.timeout()
    assert conn.next_event() == CloseConnection("timeout")
    assert conn.data_to_send()[-1] == b"* BYE Autologout; idle for too long.\r\n"
    conn.receive_data(b"ice x\r\n")
    assert conn.next_event() is NEED_DATA and conn.data_to_send() == []


def test_answers_after_a_timeout_are_ignored():
    """The adapter may still be answering an event when a timeout closes the connection."""
    conn = ImapServer(PLAIN_LOGIN)
    conn.receive_data(LOGIN + b"s1 SELECT INBOX\r\n")
    conn.next_event()
    conn.auth_succeeded()
    assert isinstance(conn.next_event(), Request)
    conn.timeout()
    conn.data_to_send()
    conn.send_data(b"* 1 EXISTS\r\n")
    conn.selected(True)
    conn.complete("s1", "OK", "SELECT completed.")
    assert conn.data_to_send() == [] and conn.state is State.CLOSED
    conn = ImapServer(PLAIN_LOGIN)
    conn.receive_data(LOGIN)
    conn.next_event()
    conn.shutdown("Bye.")  # refused: the login is being answered
    conn.timeout()
    conn.auth_succeeded()
    conn.auth_failed()
    assert conn.next_event() == CloseConnection("timeout") and conn.state is State.CLOSED


def test_logout_and_eof():
    out, events = talk(LOGIN + b"z1 LOGOUT\r\nz2 NOOP\r\n")
    assert replies(out)[1:] == [b"* BYE Logging out.", b"z1 OK LOGOUT completed."]
    assert events[-1] == CloseConnection("logout")
    out, events = talk(b"a1 NOOP\r\n", eof=True)
    assert events == [CloseConnection("eof")]


# ---------------------------------------------------------------------------- literals
def test_synchronising_and_non_synchronising_literals_in_append():
    message = b"Subject: hi\r\n\r\nbody {5}\r\n"
    script = LOGIN + b"p1 APPEND {5}\r\nDraft (\\Seen) {%d}\r\n" % len(message) + message + \
        b"\r\np2 APPEND Sent {%d+}\r\n" % len(message) + message + b"\r\n"
    out, events = talk(script)
    assert replies(out)[1:] == [b"+ Ready for literal data", b"+ Ready for literal data",
                                b"p1 OK APPEND completed.", b"p2 OK APPEND completed."]
    assert requests(events) == [T.Append("p1", "Draft", ("\\Seen",), None, message),
                                T.Append("p2", "Sent", (), None, message)]


def test_append_literal_above_the_limit_is_refused_before_it_is_read():
    config = ImapConfig(login_type="plain-text-login", max_literal_size=100)
    out, events = talk(LOGIN + b"p1 APPEND INBOX {101}\r\np2 NOOP\r\n", config=config)
    assert replies(out)[1:] == [b"p1 NO [TOOBIG] The message is too big: 101 octets, the limit is 100.",
                                b"p2 OK NOOP completed."]
    out, events = talk(LOGIN + b"p1 APPEND INBOX {101+}\r\n" + b"x" * 101 + b"\r\n", config=config)
    assert replies(out)[1:] == [b"p1 BAD [TOOBIG] The message is too big: 101 octets, the limit is 100.",
                                b"* BYE Literal too big; closing."]
    assert events[-1] == CloseConnection("literal-too-big")


def test_literals_of_other_commands_count_against_the_command_size():
    config = ImapConfig(login_type="plain-text-login", max_command_size=300)
    out, _ = talk(b"a0 APPEND INBOX {400}\r\na1 LOGIN {400}\r\na2 LOGIN alice {6}\r\nsecret\r\n", config=config)
    assert replies(out) == [b"a0 BAD [TOOBIG] Command too long: the limit is 300 octets.",
                            b"a1 BAD [TOOBIG] Command too long: the limit is 300 octets.",
                            b"+ Ready for literal data",
                            b"a2 OK [CAPABILITY " + CAPS + b" APPENDLIMIT=36700160 COMPRESS=DEFLATE] Logged in."]


def test_command_growing_too_long_before_a_non_synchronising_literal_closes():
    config = ImapConfig(login_type="plain-text-login", max_command_size=300)
    script = b"s1 SEARCH HEADER {200+}\r\n" + b"x" * 200 + b" BODY " + b"y" * 60 + b" {50+}\r\na LOGOUT\r\n"
    out, events = talk(script + b"x" * 40 + b"\r\n", config=config)
    assert replies(out) == [b"s1 BAD [TOOBIG] Command too long: the limit is 300 octets.",
                            b"* BYE Literal too big; closing."]
    assert events == [CloseConnection("literal-too-big")]


def test_overlong_line_gets_a_tagged_bad_and_the_session_goes_on():
    config = ImapConfig(login_type="plain-text-login", max_command_size=300)
    out, _ = talk(b"t1 LOGIN " + b"a" * 400 + b" x\r\nt2 NOOP\r\n", config=config)
    assert replies(out) == [b"t1 BAD [TOOBIG] Command line too long: the limit is 300 octets.",
                            b"t2 OK NOOP completed."]


def test_overlong_line_ending_in_a_non_synchronising_literal_closes():
    config = ImapConfig(login_type="plain-text-login", max_command_size=300)
    out, events = talk(b"t1 LOGIN " + b"a" * 400 + b" {9+}\r\nt2 LOGOUT\r\n", config=config)
    assert replies(out) == [b"t1 BAD [TOOBIG] Command line too long: the limit is 300 octets.",
                            b"* BYE Literal data followed a command that was too long; closing."]
    assert events == [CloseConnection("literal-too-big")]


def test_empty_literal_and_literal_in_the_middle():
    out, events = talk(LOGIN + b"s1 SELECT {0}\r\n\r\ns2 RENAME {3+}\r\nOld {3}\r\nNew\r\n")
    assert requests(events) == [T.Select("s1", ""), T.Rename("s2", "Old", "New")]


# ------------------------------------------------------------------------------ errors
INVALID_TAG = (b'* BAD Invalid tag: a tag is up to 100 ASCII letters, digits and punctuation other than '
               b'( ) { % * " \\ +.')


def test_bad_tags_and_unknown_commands():
    out, _ = talk(b"\r\n+a NOOP\r\nlonely\r\nA1 FROB\r\nA2\xff NOOP\r\nA3  NOOP\r\nA4 NOOP2\r\nA5 \x01\xc3\xa9\r\n")
    assert replies(out) == [
        INVALID_TAG,
        b"lonely BAD Missing command.", b"A1 BAD Unknown command FROB.",
        INVALID_TAG,
        b"A3 BAD Expected a command name after the tag.", b"A4 BAD Unknown command NOOP2.",
        b"A5 BAD Unknown command ???.",
    ]


def test_an_overlong_tag_is_refused_not_echoed():
    tag = b"T" * 101
    out, _ = talk(tag + b" NOOP\r\n" + tag + b"\r\n" + b"T" * 100 + b" FROB\r\n")
    assert replies(out) == [INVALID_TAG, INVALID_TAG, b"T" * 100 + b" BAD Unknown command FROB."]


def test_too_many_errors_says_bye():
    out, events = talk(b"x FROB\r\n" * 25, config=ImapConfig(login_type="plain-text-login", max_errors=3))
    assert replies(out) == [b"x BAD Unknown command FROB."] * 3 + [b"* BYE Too many invalid commands."]
    assert events == [CloseConnection("too-many-errors")]


def test_observer_sees_lines_and_marks_sasl_responses():
    conn = ImapServer(PLAIN_LOGIN)
    seen: list = []
    conn.observer = lambda line, sasl: seen.append((line, sasl))
    conn.receive_data(b"a1 AUTHENTICATE PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\n")
    assert isinstance(conn.next_event(), Authenticate)
    assert seen == [(b"a1 AUTHENTICATE PLAIN", False), (b"AGFsaWNlAHNlY3JldA==", True)]


def test_config_validation():
    with pytest.raises(ValueError):
        ImapConfig(banner="two\r\nlines")
    with pytest.raises(ValueError):
        ImapConfig(max_command_size=10)
    with pytest.raises(ValueError):
        ImapConfig(login_type="nonsense")


def test_rfc3501_section_8_sample_session():
    script = (b"a001 login mrc secret\r\na002 select inbox\r\na003 fetch 12 full\r\na004 fetch 12 body[header]\r\n"
              b"a005 store 12 +flags \\deleted\r\na006 logout\r\n")
    out, events = talk(script)
    assert replies(out)[1:] == [b"a002 OK SELECT completed.", b"a003 OK FETCH completed.", b"a004 OK FETCH completed.",
                                b"a005 OK STORE completed.", b"* BYE Logging out.", b"a006 OK LOGOUT completed."]
    twelve = T.SequenceSet(((12, 12),))
    assert requests(events) == [
        T.Select("a002", "INBOX"),
        T.Fetch("a003", twelve, tuple(T.FetchAttribute(n) for n in
                                      ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"))),
        T.Fetch("a004", twelve, (T.FetchAttribute("BODY[]", T.Section((), "HEADER")),)),
        T.Store("a005", twelve, "add", ("\\Deleted",)),
    ]
