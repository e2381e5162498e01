"""IMAP4 core, CONDSTORE and QRESYNC (RFC 7162): both advertised, and every command form they add
parsed from the wire (the RFC's examples): SELECT/EXAMINE (CONDSTORE) and (QRESYNC (...)), the
FETCH MODSEQ item and (CHANGEDSINCE n [VANISHED]), STORE (UNCHANGEDSINCE n), SEARCH MODSEQ,
STATUS (HIGHESTMODSEQ); a malformed one gets BAD with a readable text."""
from __future__ import annotations

import datetime

import pytest
from test_imap4_parser import command, seq

from postroom.protocol.imap4 import types as T
from postroom.protocol.imap4.core import ImapConfig, ImapServer
from postroom.protocol.imap4.types import FetchAttribute as A
from postroom.protocol.imap4.types import SearchKey as K

MAX = 2**63 - 1


def test_condstore_and_qresync_are_advertised_before_and_after_login():
    conn = ImapServer(ImapConfig(login_type="plain-text-login"))
    greeting = b"".join(conn.data_to_send())
    assert b" CONDSTORE QRESYNC " in greeting and b" ENABLE " in greeting  # QRESYNC needs ENABLE (3.2.3)
    conn.receive_data(b"a LOGIN u p\r\n")
    conn.next_event()
    conn.auth_succeeded()
    conn.receive_data(b"b CAPABILITY\r\n")
    conn.next_event()
    assert b"* CAPABILITY " in b"".join(conn.data_to_send())
    assert {"CONDSTORE", "QRESYNC"} <= set(ImapConfig().capabilities(tls_active=True, tls_available=True,
                                                                       authenticated=True))


# ------------------------------------------------------------------------------ SELECT/EXAMINE
@pytest.mark.parametrize("line, parsed", [
    (b"A142 SELECT INBOX (CONDSTORE)", T.Select("A142", "INBOX", condstore=True)),
    (b"A142 EXAMINE INBOX (condstore)", T.Select("A142", "INBOX", readonly=True, condstore=True)),
    (b"A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
     T.Select("A02", "INBOX", qresync=T.QResync(67890007, 20050715194045000, seq((41, 41), (43, 211), (214, 541))))),
    (b"A03 SELECT INBOX (QRESYNC (67890007 90060115194045000))",
     T.Select("A03", "INBOX", qresync=T.QResync(67890007, 90060115194045000))),
    (b"B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,"
     b"27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))",
     T.Select("B04", "INBOX", qresync=T.QResync(67890007, 90060115194045000, seq((1, 29997)), (
         seq((5000, 5000), (7500, 7500), (9000, 9000), (9990, 9999)),
         seq(*((n, n) for n in (15000, 22500, 27000, 29970, 29973, 29976, 29979, 29982, 29985, 29988, 29991,
                                29994, 29997))))))),
    (b"a EXAMINE Sent (QRESYNC (7 0 (1,3 10,12)) CONDSTORE)",
     T.Select("a", "Sent", readonly=True, condstore=True,
              qresync=T.QResync(7, 0, None, (seq((1, 1), (3, 3)), seq((10, 10), (12, 12)))))),
    (b"a SELECT INBOX (QRESYNC (1 %d))" % MAX, T.Select("a", "INBOX", qresync=T.QResync(1, MAX))),
])
def test_select_parameters(line, parsed):
    assert command(line, selected=False) == parsed


@pytest.mark.parametrize("line, error", [
    (b"A1 SELECT INBOX ()", b"Expected a SELECT parameter (CONDSTORE or QRESYNC)."),
    (b"A1 SELECT INBOX CONDSTORE", b"Expected SELECT parameters in parentheses."),
    (b"A1 SELECT INBOX (CONDSTORE", b"Expected a space or ) in the SELECT parameters."),
    (b"A1 SELECT INBOX (CONDSTORE CONDSTORE)", b"The SELECT parameter CONDSTORE is given twice."),
    (b"A1 SELECT INBOX (CONDSTORE) x", b"Unexpected characters at the end of SELECT."),
    (b"A1 EXAMINE INBOX (QRESYNC)", b"Expected the QRESYNC values in parentheses."),
    (b"A1 SELECT INBOX (QRESYNC ())", b"Expected the UIDVALIDITY in QRESYNC (a number)."),
    (b"A1 SELECT INBOX (QRESYNC (0 5))", b"0 is out of range for the UIDVALIDITY in QRESYNC: 1 to 4294967295."),
    (b"A1 SELECT INBOX (QRESYNC (5))", b"Expected the mod-sequence in QRESYNC."),
    (b"A1 SELECT INBOX (QRESYNC (5 x))", b"Expected the mod-sequence in QRESYNC (a mod-sequence: a number)."),
    (b"A1 SELECT INBOX (QRESYNC (5 9223372036854775808))",
     b"9223372036854775808 is out of range for the mod-sequence in QRESYNC: 0 to 9223372036854775807."),
    (b"A1 SELECT INBOX (QRESYNC (5 1 1:*))", b'"*" is not allowed in the known UIDs of QRESYNC.'),
    (b"A1 SELECT INBOX (QRESYNC (5 1 5,3))", b"The known UIDs of QRESYNC must ascend."),
    (b"A1 SELECT INBOX (QRESYNC (5 1 1:9 (1,2 3)))", b"QRESYNC's message numbers and UIDs must be as many."),
    (b"A1 SELECT INBOX (QRESYNC (5 1 1:9 (1:2 3:*)))", b'"*" is not allowed in the matching UIDs of QRESYNC.'),
    (b"A1 SELECT INBOX (QRESYNC (5 1 1:9 (1:2)))", b"Expected the known UIDs that match the message numbers."),
    (b"A1 SELECT INBOX (QRESYNC (5 1 1:9 (1 2) 4))", b") to end the QRESYNC values".join((b"Expected ", b"."))),
    (b"A1 SELECT INBOX (QRESYNC (5 1)", b"Expected a space or ) in the SELECT parameters."),
])
def test_malformed_select_parameters(line, error):
    assert command(line, selected=False) == b"A1 BAD " + error + b"\r\n"


# ---------------------------------------------------------------------------------- FETCH
@pytest.mark.parametrize("line, parsed", [
    (b"a FETCH 1:3 (MODSEQ)", T.Fetch("a", seq((1, 3)), (A("MODSEQ"),))),
    (b"a FETCH 1 MODSEQ", T.Fetch("a", seq((1, 1)), (A("MODSEQ"),))),
    # CHANGEDSINCE adds MODSEQ (3.1.4.1); UID FETCH adds UID as ever
    (b"s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)",
     T.Fetch("s100", seq((1, None)), (A("UID"), A("FLAGS"), A("MODSEQ")), uid=True, changed_since=12345)),
    (b"s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)",
     T.Fetch("s100", seq((300, 500)), (A("UID"), A("FLAGS"), A("MODSEQ")), uid=True, changed_since=12345,
             vanished=True)),
    (b"s UID FETCH 1:* (FLAGS MODSEQ) (vanished changedsince 0)",
     T.Fetch("s", seq((1, None)), (A("UID"), A("FLAGS"), A("MODSEQ")), uid=True, changed_since=0, vanished=True)),
    (b"f FETCH 1:* FAST (CHANGEDSINCE 7)",
     T.Fetch("f", seq((1, None)), (A("FLAGS"), A("INTERNALDATE"), A("RFC822.SIZE"), A("MODSEQ")), changed_since=7)),
])
def test_fetch_modseq_and_modifiers(line, parsed):
    assert command(line) == parsed


@pytest.mark.parametrize("line, error", [
    (b"A1 FETCH 1 FLAGS (CHANGEDSINCE)", b"Expected the mod-sequence after CHANGEDSINCE."),
    (b"A1 FETCH 1 FLAGS (CHANGEDSINCE x)", b"Expected the mod-sequence after CHANGEDSINCE (a mod-sequence: a number)."),
    (b"A1 FETCH 1 FLAGS (CHANGEDSINCE -1)",
     b"Expected the mod-sequence after CHANGEDSINCE (a mod-sequence: a number)."),
    (b"A1 FETCH 1 FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)", b"The FETCH modifier CHANGEDSINCE is given twice."),
    (b"A1 FETCH 1 FLAGS (CHANGEDSINCE 5 VANISHED)", b"The VANISHED modifier is only valid with UID FETCH."),
    (b"A1 UID FETCH 1 FLAGS (VANISHED)", b"The VANISHED modifier needs CHANGEDSINCE."),
    (b"A1 FETCH 1 FLAGS (PARTIAL 1:5)", b"Unknown FETCH modifier PARTIAL: CHANGEDSINCE or VANISHED."),
    (b"A1 FETCH 1 FLAGS ()", b"Expected a FETCH modifier (CHANGEDSINCE or VANISHED)."),
    (b"A1 FETCH 1 FLAGS (CHANGEDSINCE 5) x", b"Unexpected characters at the end of FETCH."),
    (b"A1 FETCH 1 FLAGS x", b"Unexpected characters after the FETCH items."),
    (b"A1 FETCH 1 (FLAGS MODSEQ.PEEK)", b"Unknown FETCH item MODSEQ.PEEK."),
    (b"A1 FETCH 1 FLAGS (CHANGEDSINCE " + b"9" * 5000 + b")",
     b"9999999999999999999999999999999999999999 is out of range for the mod-sequence after CHANGEDSINCE: 0 to "
     b"9223372036854775807."),
])
def test_fetch_modifier_errors(line, error):
    assert command(line) == b"A1 BAD " + error + b"\r\n"


# ---------------------------------------------------------------------------------- STORE
@pytest.mark.parametrize("line, parsed", [
    (b"a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121230045) +FLAGS.SILENT (\\Deleted)",
     T.Store("a103", seq((6, 6), (4, 4), (8, 8)), "add", ("\\Deleted",), silent=True, uid=True,
             unchanged_since=12121230045)),
    (b"a102 STORE 12 (UNCHANGEDSINCE 0) +FLAGS.SILENT ($MDNSent)",
     T.Store("a102", seq((12, 12)), "add", ("$MDNSent",), silent=True, unchanged_since=0)),
    (b"c101 STORE 50 (unchangedsince 7) FLAGS \\Seen", T.Store("c101", seq((50, 50)), "replace", ("\\Seen",),
                                                               unchanged_since=7)),
])
def test_store_unchanged_since(line, parsed):
    assert command(line) == parsed


@pytest.mark.parametrize("line, error", [
    (b"A1 STORE 1 (UNCHANGEDSINCE) +FLAGS \\Seen", b"Expected the mod-sequence after UNCHANGEDSINCE."),
    (b"A1 STORE 1 (UNCHANGEDSINCE 5 UNCHANGEDSINCE 6) +FLAGS \\Seen",
     b"Expected ) after UNCHANGEDSINCE: it is the only STORE modifier and given once."),
    (b"A1 STORE 1 (CHANGEDSINCE 5) +FLAGS \\Seen", b"Unknown STORE modifier CHANGEDSINCE: UNCHANGEDSINCE."),
    (b"A1 STORE 1 (UNCHANGEDSINCE 5)+FLAGS \\Seen", b"Expected FLAGS, +FLAGS or -FLAGS after the STORE modifiers."),
    (b"A1 STORE 1 (UNCHANGEDSINCE 9223372036854775808) +FLAGS \\Seen",
     b"9223372036854775808 is out of range for the mod-sequence after UNCHANGEDSINCE: 0 to 9223372036854775807."),
])
def test_store_modifier_errors(line, error):
    assert command(line) == b"A1 BAD " + error + b"\r\n"


# ---------------------------------------------------------------------------- SEARCH, STATUS
@pytest.mark.parametrize("line, key", [
    (b'a SEARCH MODSEQ "/flags/\\\\draft" all 620162338', K("MODSEQ", (620162338,))),
    (b"t SEARCH OR NOT MODSEQ 720162338 LARGER 50000",
     K("OR", (K("NOT", (K("MODSEQ", (720162338,)),)), K("LARGER", (50000,))))),
    (b'a UID SEARCH MODSEQ "/flags/$MDNSent" priv 0 UNSEEN', K("MODSEQ", (0,))),
])
def test_search_modseq(line, key):
    parsed = command(line)
    assert isinstance(parsed, T.Search) and parsed.key.args[0] == key


@pytest.mark.parametrize("line, error", [
    (b"A1 SEARCH MODSEQ", b"Expected an argument after MODSEQ."),
    (b"A1 SEARCH MODSEQ x", b"Expected the mod-sequence of MODSEQ (a mod-sequence: a number)."),
    (b'A1 SEARCH MODSEQ "/flags/\\\\seen" 5', b"Unknown MODSEQ entry type 5: priv, shared or all."),
    (b'A1 SEARCH MODSEQ "/flags/\\\\seen" mine 5', b"Unknown MODSEQ entry type MINE: priv, shared or all."),
    (b'A1 SEARCH MODSEQ "/vendor/x" all 5', b'Expected a MODSEQ entry name like "/flags/\\\\seen".'),
    (b'A1 SEARCH MODSEQ "/flags/\\\\seen" all', b"Expected the mod-sequence after the entry type."),
])
def test_search_modseq_errors(line, error):
    assert command(line) == b"A1 BAD " + error + b"\r\n"


def test_status_highestmodseq():
    assert command(b"A042 STATUS blurdybloop (UIDNEXT MESSAGES HIGHESTMODSEQ)", selected=False) == T.Status(
        "A042", "blurdybloop", ("UIDNEXT", "MESSAGES", "HIGHESTMODSEQ"))


def test_search_modseq_matches_a_modseq_at_least_the_one_given():
    from postroom.protocol.imap4.search import ContentView, matches, reads

    def view(modseq: int) -> ContentView:
        return ContentView(1, 1, (), 10, datetime.date(2026, 1, 1), False, None, modseq)
    key = K("MODSEQ", (620162338,))
    assert [matches(key, view(n), 1, 1) for n in (620162337, 620162338, 620162339)] == [False, True, True]
    assert matches(K("NOT", (key,)), view(5), 1, 1)
    assert reads(K("AND", (key, K("SEEN")))) == {"modseq", "flags"}  # not answered per (flags, \Recent)
