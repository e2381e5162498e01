"""IMAP4 core, LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819) and STATUS=SIZE (RFC 8438): advertised;
every LIST form parsed from the wire (selection options, several patterns, return options, STATUS
items), STATUS SIZE and DELETED; the LIST and STATUS reply lines; malformed options get BAD with a
readable text."""
from __future__ import annotations

import pytest
from test_imap4_parser import command

from postroom.protocol.imap4 import listext
from postroom.protocol.imap4 import types as T
from postroom.protocol.imap4.core import ImapConfig

F = frozenset


def test_list_extended_list_status_and_status_size_are_advertised():
    caps = ImapConfig().capabilities(tls_active=True, tls_available=True, authenticated=True)
    assert {"LIST-EXTENDED", "LIST-STATUS", "STATUS=SIZE", "SPECIAL-USE", "CHILDREN"} <= set(caps)
    assert f"APPENDLIMIT={ImapConfig().max_literal_size}" in caps


@pytest.mark.parametrize("line, parsed", [
    (b'a LIST "" *', T.List("a", "", "*")),  # the plain form stays plain
    (b'a LIST "" ("INBOX" "Sent*")', T.List("a", "", "INBOX", patterns=("INBOX", "Sent*"), extended=True)),
    (b'a LIST "" (%)', T.List("a", "", "%", extended=True)),
    (b'a LIST (SUBSCRIBED) "" "*"', T.List("a", "", "*", selection=F({"SUBSCRIBED"}), extended=True)),
    (b'a LIST () "" %', T.List("a", "", "%", extended=True)),
    (b'a LIST (subscribed RECURSIVEMATCH remote) "" %',
     T.List("a", "", "%", selection=F({"SUBSCRIBED", "RECURSIVEMATCH", "REMOTE"}), extended=True)),
    (b'a LIST (SPECIAL-USE) "" *', T.List("a", "", "*", selection=F({"SPECIAL-USE"}), extended=True)),
    (b'a LIST "" % RETURN (CHILDREN SUBSCRIBED SPECIAL-USE)',
     T.List("a", "", "%", returns=F({"CHILDREN", "SUBSCRIBED", "SPECIAL-USE"}), extended=True)),
    (b'a LIST "" % RETURN ()', T.List("a", "", "%", extended=True)),
    (b'A01 LIST "" % RETURN (STATUS (MESSAGES UNSEEN))',
     T.List("A01", "", "%", returns=F({"STATUS"}), status=("MESSAGES", "UNSEEN"), extended=True)),
    (b'a LIST (SUBSCRIBED) "" ("INBOX" "Work/*") RETURN (STATUS (SIZE HIGHESTMODSEQ UIDVALIDITY) CHILDREN)',
     T.List("a", "", "INBOX", patterns=("INBOX", "Work/*"), selection=F({"SUBSCRIBED"}),
            returns=F({"STATUS", "CHILDREN"}), status=("SIZE", "HIGHESTMODSEQ", "UIDVALIDITY"), extended=True)),
    (b"a LSUB \"\" *", T.List("a", "", "*", lsub=True)),
    (b"a STATUS INBOX (SIZE DELETED messages)", T.Status("a", "INBOX", ("SIZE", "DELETED", "MESSAGES"))),
])
def test_list_forms(line, parsed):
    assert command(line, selected=False) == parsed


@pytest.mark.parametrize("line, error", [
    (b'A1 LIST (RECURSIVEMATCH) "" *', b"RECURSIVEMATCH needs the SUBSCRIBED selection option with it."),
    (b'A1 LIST (REMOTE RECURSIVEMATCH) "" *', b"RECURSIVEMATCH needs the SUBSCRIBED selection option with it."),
    (b'A1 LIST (BOGUS) "" *', b"Unknown LIST selection option BOGUS: RECURSIVEMATCH, REMOTE, SPECIAL-USE, SUBSCRIBED."),
    (b'A1 LIST "" * RETURN (BOGUS)',
     b"Unknown LIST return option BOGUS: CHILDREN, SPECIAL-USE, STATUS, SUBSCRIBED."),
    (b'A1 LIST (SUBSCRIBED "" *',
     b"Expected a selection option (RECURSIVEMATCH, REMOTE, SPECIAL-USE, SUBSCRIBED)."),
    (b'A1 LIST (SUBSCRIBED', b"Expected a space or ) in the selection options."),
    (b'A1 LIST (SUBSCRIBED)"" *', b"Expected a reference name."),
    (b'A1 LIST "" ()', b"Expected a mailbox pattern."),
    (b'A1 LIST "" (a b', b"Expected a space or ) in the mailbox patterns."),
    (b'A1 LIST "" * RETURN CHILDREN', b"Expected the return options in parentheses."),
    (b'A1 LIST "" * CHILDREN', b"Unexpected characters after LIST's mailbox pattern (RETURN options?)."),
    (b'A1 LIST "" * RETURN (STATUS)', b"Expected the status items after STATUS."),
    (b'A1 LIST "" * RETURN (STATUS (FOO))', b"Unknown status item FOO: MESSAGES, RECENT, UIDNEXT, UIDVALIDITY,"
     b" UNSEEN, HIGHESTMODSEQ, SIZE or DELETED."),
    (b'A1 LIST "" * RETURN (STATUS (SIZE) STATUS (MESSAGES))',
     b"The STATUS return option is given twice with different items."),
    (b'A1 LIST "" * RETURN (CHILDREN) x', b"Unexpected characters at the end of LIST."),
    (b'A1 LIST "" (' + b"a " * 64 + b"b)", b"Too many mailbox patterns: at most 64."),
    (b'A1 LSUB (SUBSCRIBED) "" *', b"Expected a mailbox pattern."),
])
def test_malformed_list_commands_are_bad(line, error):
    assert command(line, selected=False) == b"A1 BAD " + error + b"\r\n"


def test_reply_lines():
    assert listext.list_line(b"LIST", ["\\Subscribed", "\\HasChildren"], "Foo") \
        == b'* LIST (\\Subscribed \\HasChildren) "/" Foo\r\n'
    assert listext.list_line(b"LIST", [], "Foo bar", childinfo=True) \
        == b'* LIST () "/" "Foo bar" ("CHILDINFO" ("SUBSCRIBED"))\r\n'
    assert listext.list_line(b"LIST", ["\\NonExistent"], "Entwürfe") == b'* LIST (\\NonExistent) "/" Entw&APw-rfe\r\n'
    values = {"MESSAGES": 3, "SIZE": 1338, "DELETED": 1}
    assert listext.status_line("INBOX", ("SIZE", "MESSAGES", "DELETED"), values) \
        == b"* STATUS INBOX (SIZE 1338 MESSAGES 3 DELETED 1)\r\n"
