"""IMAP4 core, ESEARCH (RFC 4731) and SEARCHRES (RFC 5182): both advertised; SEARCH RETURN (...) and
"$" parsed from the wire in every command that takes a sequence set; the `* ESEARCH` reply rendered
(MIN, MAX, COUNT, ALL as a compressed set, MODSEQ, UID, an empty result); malformed RETURN options
and misused "$" get BAD with a readable text."""
from __future__ import annotations

import pytest
from imap4_driver import PLAIN_LOGIN
from test_imap4_parser import command, seq

from postroom.protocol.imap4 import esearch
from postroom.protocol.imap4 import types as T
from postroom.protocol.imap4.core import ImapConfig, ImapServer, Request, SavedResultReset
from postroom.protocol.imap4.types import SAVED
from postroom.protocol.imap4.types import FetchAttribute as A
from postroom.protocol.imap4.types import SearchKey as K

ALL = K("AND", (K("ALL"),))


def test_esearch_and_searchres_are_advertised():
    for authenticated in (False, True):
        caps = ImapConfig().capabilities(tls_active=True, tls_available=True, authenticated=authenticated)
        assert {"ESEARCH", "SEARCHRES"} <= set(caps)


# ------------------------------------------------------------------------------ RETURN options
@pytest.mark.parametrize("line, parsed", [
    (b"A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"", None),
    (b"A283 SEARCH RETURN () FLAGGED", T.Search("A283", K("AND", (K("FLAGGED"),)), returns=("ALL",))),
    (b"a SEARCH RETURN (MIN MAX ALL COUNT) ALL", T.Search("a", ALL, returns=("MIN", "MAX", "ALL", "COUNT"))),
    (b"a UID SEARCH return (count min) ALL", T.Search("a", ALL, uid=True, returns=("COUNT", "MIN"))),
    (b"a SEARCH RETURN (SAVE) ALL", T.Search("a", ALL, returns=("SAVE",))),
    (b"a SEARCH RETURN (SAVE MIN MIN) ALL", T.Search("a", ALL, returns=("SAVE", "MIN"))),  # once each
    (b"a SEARCH RETURN (ALL) CHARSET UTF-8 ALL", T.Search("a", ALL, "UTF-8", returns=("ALL",))),
    (b"a SEARCH ALL", T.Search("a", ALL)),  # a plain SEARCH: returns None, answered * SEARCH
])
def test_search_return_options(line, parsed):
    found = command(line)
    if parsed is None:
        assert isinstance(found, T.Search) and found.returns == ("MIN", "COUNT") and len(found.key.args) == 3
    else:
        assert found == parsed


@pytest.mark.parametrize("line, error", [
    (b"A1 SEARCH RETURN (MIN", b"Expected a space or ) in the RETURN options."),
    (b"A1 SEARCH RETURN MIN ALL", b"Expected the RETURN options in parentheses (MIN, MAX, ALL, COUNT or SAVE)."),
    (b"A1 SEARCH RETURN (PARTIAL 1:5) ALL", b"Unknown RETURN option PARTIAL: MIN, MAX, ALL, COUNT or SAVE."),
    (b"A1 SEARCH RETURN (MIN)", b"Expected a search key after the RETURN options."),
    (b"A1 SEARCH RETURN (MIN) ", b"Expected a search key."),
    (b"A1 SEARCH CHARSET UTF-8 RETURN (MIN) ALL", b"Unknown search key RETURN."),  # RETURN comes first
    (b"A1 SEARCH RETURN ( MIN) ALL", b"Expected a RETURN option (MIN, MAX, ALL, COUNT or SAVE)."),
])
def test_malformed_return_options_are_bad(line, error):
    assert command(line) == b"A1 BAD " + error + b"\r\n"


# ---------------------------------------------------------------------------------- "$"
@pytest.mark.parametrize("line, parsed", [
    (b"a FETCH $ (FLAGS)", T.Fetch("a", SAVED, (A("FLAGS"),))),
    (b"a UID FETCH $ (FLAGS)", T.Fetch("a", SAVED, (A("UID"), A("FLAGS")), uid=True)),
    (b"a STORE $ +FLAGS (\\Deleted)", T.Store("a", SAVED, "add", ("\\Deleted",))),
    (b"a UID STORE $ -FLAGS.SILENT \\Seen", T.Store("a", SAVED, "remove", ("\\Seen",), True, True)),
    (b"a COPY $ Trash", T.Copy("a", SAVED, "Trash")),
    (b"a UID MOVE $ Trash", T.Copy("a", SAVED, "Trash", True, True)),
    (b"a UID EXPUNGE $", T.Expunge("a", SAVED)),
    (b"a SEARCH $ UNSEEN", T.Search("a", K("AND", (K("SEQ", (SAVED,)), K("UNSEEN"))))),
    (b"a UID SEARCH RETURN (SAVE) UID $ NOT ($ DELETED)",
     T.Search("a", K("AND", (K("UID", (SAVED,)), K("NOT", (K("AND", (K("SEQ", (SAVED,)), K("DELETED"))),)))),
              uid=True, returns=("SAVE",))),
])
def test_the_saved_result_is_a_sequence_set(line, parsed):
    assert command(line) == parsed
    assert SAVED.saved and SAVED.resolve(10) == []  # a "$" the server left in place names nothing


@pytest.mark.parametrize("line, error", [
    (b"A1 FETCH $,1 FLAGS", b'"$" (the saved search result) stands alone: it is not combined with other numbers.'),
    (b"A1 FETCH 1,$ FLAGS", b'"$" (the saved search result) stands alone: it is not combined with other numbers.'),
    (b"A1 SEARCH $:4", b'"$" (the saved search result) stands alone: it is not combined with other numbers.'),
    (b"A1 SELECT INBOX (QRESYNC (1 2 $))", b'"$" is not allowed in the known UIDs of QRESYNC.'),
])
def test_misused_saved_result_is_bad(line, error):
    assert command(line, selected=b"SELECT" not in line) == b"A1 BAD " + error + b"\r\n"


@pytest.mark.parametrize("line, reply, resets", [
    # RFC 5182 2.1: a SEARCH RETURN (SAVE) answered NO leaves "$" empty (the engine is told) ...
    (b"A1 SEARCH RETURN (SAVE) CHARSET KOI8-R ALL", b"A1 NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset KOI8-R.",
     True),
    (b"A1 UID SEARCH RETURN (MIN SAVE) CHARSET X-UNKNOWN UNSEEN",
     b"A1 NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset X-UNKNOWN.", True),
    # ... without SAVE there is nothing to forget; a BAD changes nothing
    (b"A1 SEARCH CHARSET KOI8-R ALL", b"A1 NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset KOI8-R.", False),
    (b"A1 SEARCH RETURN (SAVE) NOSUCHKEY", b"A1 BAD Unknown search key NOSUCHKEY.", False),
])
def test_a_search_save_refused_with_no_resets_the_saved_result(line, reply, resets):
    conn = ImapServer(PLAIN_LOGIN)
    conn.receive_data(b"a LOGIN u secret\r\n")
    conn.next_event()
    conn.auth_succeeded()
    conn.selected(True)
    conn.data_to_send()
    conn.receive_data(line + b"\r\n" + b"A2 FETCH $ FLAGS\r\n")
    first, second = conn.next_event(), conn.next_event()
    assert b"".join(conn.data_to_send()) == reply + b"\r\n"
    if resets:
        assert isinstance(first, SavedResultReset) and isinstance(second, Request)  # the reset comes first
    else:
        assert isinstance(first, Request) and first.command.tag == "A2"
    assert (second if resets else first).command == T.Fetch("A2", SAVED, (A("FLAGS"),))


# -------------------------------------------------------------------------------- replies
@pytest.mark.parametrize("returns, found, uid, modseq, line", [
    (("MIN", "MAX", "COUNT", "ALL"), [3, 4, 5, 9], True, None,
     b'* ESEARCH (TAG "a1") UID MIN 3 MAX 9 COUNT 4 ALL 3:5,9'),
    (("ALL",), [1, 2, 3, 5, 7, 8], False, None, b'* ESEARCH (TAG "x") ALL 1:3,5,7:8'),
    (("COUNT",), [2, 10], False, None, b'* ESEARCH (TAG "x") COUNT 2'),
    (("MIN",), [2, 10], False, 17, b'* ESEARCH (TAG "x") MIN 2 MODSEQ 17'),
    (("MIN", "MAX", "ALL"), [], False, None, b'* ESEARCH (TAG "x")'),  # nothing found: no MIN, MAX, ALL
    (("MIN", "COUNT"), [], True, 5, b'* ESEARCH (TAG "x") UID COUNT 0'),  # nor MODSEQ
    (("SAVE", "COUNT"), [4], False, None, b'* ESEARCH (TAG "x") COUNT 1'),
])
def test_esearch_reply(returns, found, uid, modseq, line):
    tag = "a1" if line.startswith(b'* ESEARCH (TAG "a1")') else "x"
    assert esearch.esearch_line(tag, uid, returns, found, modseq) == line + b"\r\n"


def test_save_alone_sends_no_esearch_reply():
    assert esearch.esearch_line("x", False, ("SAVE",), [1, 2]) == b""


@pytest.mark.parametrize("returns, kept", [
    (("SAVE",), [2, 5, 9]),
    (("SAVE", "MIN"), [2]),
    (("SAVE", "MAX"), [9]),
    (("SAVE", "MIN", "MAX"), [2, 9]),
    (("SAVE", "MIN", "COUNT"), [2, 5, 9]),  # ALL or COUNT: the whole result (RFC 5182 2.4)
    (("SAVE", "ALL", "MAX"), [2, 5, 9]),
])
def test_what_save_keeps(returns, kept):
    assert esearch.reported(returns, [2, 5, 9]) == kept
    assert esearch.reported(returns, []) == []


def test_sequence_text_compresses_runs():
    assert esearch.sequence_text([1]) == b"1"
    assert esearch.sequence_text([1, 2, 3, 10, 12, 13]) == b"1:3,10,12:13"
    assert seq((1, 3)) == T.SequenceSet(((1, 3),))  # (the helper the parser tests share)
