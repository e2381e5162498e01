"""IMAP4 message structure: ENVELOPE, BODY and BODYSTRUCTURE as a client reads them (reply
data bytes), the part map checked against the message bytes, malformed MIME, and a property:
describe() survives any bytes."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imap4_messages import MIXED, NESTED, RFC3501

from postroom.protocol.imap4 import structure


def described(data: bytes) -> structure.Structure:
    return structure.load(structure.describe(data))


def test_rfc3501_example_envelope_and_body():
    s = described(RFC3501)
    assert s.envelope == (
        b'("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary and minutes" '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) ((NIL NIL "imap" "cac.washington.edu")) '
        b'((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL NIL '
        b'"<B27397-0100000@cac.washington.edu>")')
    assert s.body == b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 14 2)'
    assert s.bodystructure == b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 14 2 NIL NIL NIL NIL)'


def test_missing_headers_are_nil_and_default_type_is_us_ascii_text():
    s = described(b"X-Nothing: here\r\n\r\nbody\r\n")
    assert s.envelope == b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
    assert s.body == b'("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 6 1)'


def test_empty_message_and_header_only_message():
    assert described(b"").body == b'("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 0 0)'
    s = described(b"Subject: only a header\r\n")
    assert s.envelope.startswith(b'(NIL "only a header" NIL')
    assert b" 0 0)" in s.body  # no body: 0 octets, 0 lines


def test_sender_and_reply_to_default_to_from_but_stay_when_given():
    s = described(b"From: a@x.example\r\nSender: \r\nReply-To: r@x.example\r\n\r\n")
    assert s.envelope == (b'(NIL NIL ((NIL NIL "a" "x.example")) ((NIL NIL "a" "x.example")) '
                          b'((NIL NIL "r" "x.example")) NIL NIL NIL NIL NIL)')


@pytest.mark.parametrize("value, expected", [
    (b"undisclosed-recipients:;", b'((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))'),
    (b"Team: a@x.example, \"B, Bee\" <b@x.example>;, c@y.example",
     b'((NIL NIL "Team" NIL)(NIL NIL "a" "x.example")("B, Bee" NIL "b" "x.example")(NIL NIL NIL NIL)'
     b'(NIL NIL "c" "y.example"))'),
    (b"<@route.example,@two.example:joe@x.example>", b'((NIL "@route.example,@two.example" "joe" "x.example"))'),
    (b"joe@x.example (Joe Bloggs)", b'(("Joe Bloggs" NIL "joe" "x.example"))'),
    (b"John Q. Public <jqp@x.example>", b'(("John Q. Public" NIL "jqp" "x.example"))'),
    (b'"odd \\"quoted\\" name" <"a b"@x.example>', b'(("odd \\"quoted\\" name" NIL "\\"a b\\"" "x.example"))'),
    (b"=?utf-8?q?J=C3=B6rg?= <j@x.example>", b'(("=?utf-8?q?J=C3=B6rg?=" NIL "j" "x.example"))'),
    (b"localonly", b'((NIL NIL "localonly" ""))'),
    (b"<>", b'((NIL NIL "" ""))'),
    (b"", b"NIL"),
])
def test_address_lists(value, expected):
    envelope = described(b"To: " + value + b"\r\n\r\n").envelope
    to = envelope[len(b"(NIL NIL NIL NIL NIL "):]
    assert to.startswith(expected + b" "), envelope


def test_eight_bit_header_is_sent_as_a_literal_octet_for_octet():
    subject = "Grüße".encode("utf-8")
    s = described(b"Subject: " + subject + b"\r\n\r\n")
    assert s.envelope == b"(NIL {%d}\r\n%s NIL NIL NIL NIL NIL NIL NIL NIL)" % (len(subject), subject)


def test_folded_subject_is_unfolded():
    s = described(b"Subject: a long\r\n  subject\r\n\r\n")
    assert s.envelope.startswith(b'(NIL "a long  subject" ')


def test_multipart_mixed_with_alternative_and_attachment():
    s = described(MIXED)
    assert s.body == (
        b'((("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 10 1)'
        b'("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 11 1) "ALTERNATIVE")'
        b'("APPLICATION" "PDF" ("NAME" "report.pdf") "<pdf@example.com>" "the report" "BASE64" 12) "MIXED")')
    assert s.bodystructure == (
        b'((("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 10 1 NIL NIL NIL NIL)'
        b'("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 11 1 NIL NIL NIL NIL) "ALTERNATIVE" '
        b'("BOUNDARY" "inner") NIL NIL NIL)'
        b'("APPLICATION" "PDF" ("NAME" "report.pdf") "<pdf@example.com>" "the report" "BASE64" 12 NIL '
        b'("ATTACHMENT" ("FILENAME" "report.pdf")) ("en" "de") NIL) "MIXED" ("BOUNDARY" "outer") NIL NIL NIL)')


def test_part_map_offsets_point_at_the_bytes():
    s = described(MIXED)
    root = s.root
    assert (root.start, root.end, root.content_type) == (0, len(MIXED), "multipart/mixed")
    assert MIXED[root.start:root.body].endswith(b"boundary=\"outer\"\r\n\r\n")
    alternative, pdf = root.parts
    plain, html = alternative.parts
    assert MIXED[plain.body:plain.end] == b"plain text"
    assert MIXED[plain.start:plain.body] == b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    assert MIXED[html.body:html.end] == b"<p>html</p>"
    assert MIXED[pdf.body:pdf.end] == b"JVBERi0xLjQK"
    assert MIXED[alternative.body:alternative.end].startswith(b"--inner\r\n")
    assert MIXED[alternative.body:alternative.end].endswith(b"--inner--")


def test_message_rfc822_nested_has_envelope_body_and_lines():
    s = described(NESTED)
    inner = (b'("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 10 1)'
             b'("TEXT" "HTML" ("CHARSET" "us-ascii") NIL NIL "7BIT" 12 1) "ALTERNATIVE")')
    inner_size = len(NESTED.split(b"message/rfc822\r\n\r\n")[1].rsplit(b"\r\n--b1--", 1)[0])
    assert s.body == (
        b'(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 9 1)'
        b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" %d '
        b'(NIL "inner" (("Inner Person" NIL "inner" "example.org")) (("Inner Person" NIL "inner" "example.org")) '
        b'(("Inner Person" NIL "inner" "example.org")) NIL NIL NIL NIL NIL) (%s 13) "MIXED")' % (inner_size, inner))
    message = s.root.parts[1].message
    assert NESTED[message.start:message.body].startswith(b"From: Inner Person")
    assert NESTED[message.parts[1].body:message.parts[1].end] == b"<b>inner</b>"


def test_rfc2231_continuations_and_charset():
    data = (b"Content-Type: application/octet-stream;\r\n"
            b" name*0*=utf-8''%E2%82%AC; name*1*=%20rates.txt\r\n"
            b"Content-Disposition: attachment; filename*0=\"long \"; filename*1=\"name.txt\"\r\n\r\nx")
    s = described(data)
    assert b'("NAME*" "utf-8\'\'%E2%82%AC%20rates.txt")' in s.bodystructure
    assert b'("ATTACHMENT" ("FILENAME" "long name.txt"))' in s.bodystructure


def test_multipart_digest_parts_default_to_message_rfc822():
    data = (b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: one\r\n\r\nfirst\r\n--d--\r\n")
    s = described(data)
    assert s.body.startswith(b'(("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 21 (NIL "one" ')
    assert s.root.parts[0].message is not None


@pytest.mark.parametrize("data", [
    b"Content-Type: multipart/mixed\r\n\r\nno boundary parameter\r\n",  # no boundary
    b"Content-Type: multipart/mixed; boundary=zz\r\n\r\nthe boundary never comes\r\n",
    b"Content-Type: garbage\r\n\r\nnot a type/subtype\r\n",
])
def test_malformed_mime_falls_back_to_text_plain(data):
    s = described(data)
    assert s.body.startswith(b'("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" ')
    assert s.root.parts is None


def test_unclosed_multipart_ends_at_the_message_end():
    data = b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n\r\nfirst\r\n--zz\r\n\r\nlast, no close"
    s = described(data)
    assert [data[p.body:p.end] for p in s.root.parts] == [b"first", b"last, no close"]


def test_longer_boundary_is_not_a_delimiter():
    data = (b"Content-Type: multipart/mixed; boundary=ab\r\n\r\n--ab\r\n\r\none\r\n--abc\r\nstill one\r\n"
            b"--ab--\r\n")
    s = described(data)
    assert len(s.root.parts) == 1
    part = s.root.parts[0]
    assert data[part.body:part.end] == b"one\r\n--abc\r\nstill one"


def test_bare_lf_message():
    data = b"Subject: lf\nContent-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\nhi\n--x--\n"
    s = described(data)
    assert s.envelope.startswith(b'(NIL "lf" ')
    part = s.root.parts[0]
    assert data[part.body:part.end] == b"hi"


def test_encoded_message_rfc822_is_opaque():
    data = (b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: message/rfc822\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQp4\r\n--x--\r\n")
    assert b'("APPLICATION" "OCTET-STREAM" NIL NIL NIL "BASE64" 20)' in described(data).body


def test_deep_nesting_is_bounded():
    data = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(500))
    s = described(data + b"\r\nleaf\r\n")
    depth, part = 0, s.root
    while part.parts:
        depth, part = depth + 1, part.parts[0]
    assert 10 < depth <= 64


def test_memoryview_input_and_json_is_versioned():
    text = structure.describe(memoryview(RFC3501))
    assert text == structure.describe(RFC3501)
    assert json.loads(text)["v"] == structure.VERSION


@pytest.mark.parametrize("text", ["{}", "not json", '{"v": 999}', "[]", '{"v": 1}'])
def test_load_refuses_what_is_not_a_structure(text):
    with pytest.raises(ValueError):
        structure.load(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([
    b"\r\n", b"\n", b"Content-Type: multipart/mixed; boundary=q\r\n", b"--q\r\n", b"--q--\r\n",
    b"Content-Type: message/rfc822\r\n", b"From: \"x\" <a@b>\r\n", b"To: g:a@b;\r\n", b"(", b")", b"<", b'"',
    b"Content-Type: text/plain; name*0*=x'y'%ZZ; name*1=\"\r\n", b"Subject: \xff\xfe\r\n", b" folded\r\n",
    b"Content-Type: multipart/digest; boundary=\"q\"\r\n", b"body text\r\n", b":\r\n", b"\x00",
]), max_size=40) | st.binary(max_size=300))
def test_describe_never_raises_and_maps_inside_the_message(parts):
    data = b"".join(parts) if isinstance(parts, list) else parts
    s = described(data)
    stack = [s.root]
    while stack:
        part = stack.pop()
        assert 0 <= part.start <= part.body <= part.end <= len(data)
        stack.extend(part.parts or ())
        if part.message:
            stack.append(part.message)
    assert s.body.startswith(b"(") and s.bodystructure.endswith(b")")
    assert b"\x00" not in s.envelope + s.body + s.bodystructure


_WORD = st.text(alphabet="abcXYZ09-_+=?!", min_size=1, max_size=6)
_ADDR_SPEC = st.builds(lambda a, b: a + "@" + b, _WORD, _WORD)
_ADDRESS = st.one_of(
    _ADDR_SPEC,
    st.builds(lambda n, a: " ".join(n) + " <" + a + ">", st.lists(_WORD, max_size=3), _ADDR_SPEC),
    st.builds(lambda n, a: '"' + n + '" <' + a + ">", st.text(alphabet="ab ,.<>@:;()", max_size=8), _ADDR_SPEC),
    st.sampled_from(["x@y (comment)", "g: a@b;", "<@r:a@b>", "a.b@c", "J. Q. <a@b>", '"a\\"b" <a@b>', "", " "]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ADDRESS, max_size=4), st.sampled_from([",", ", ", " ,\t", ",,"]))
def test_common_address_fast_path_reads_as_the_full_parser(items, separator):
    from postroom.protocol.imap4 import _envelope
    text = separator.join(items)
    fast = _envelope._common_addresses(text)
    if fast is not None:
        assert fast == _envelope._addresses(text), text


@pytest.mark.parametrize("data", [
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n" * 200_000,
    b"Content-Type: multipart/digest; boundary=b\r\n\r\n" + b"--b\r\n\r\nSubject: x\r\n\r\ny\r\n" * 20_000,
    b"To: " + b":" * (1 << 20) + b"\r\n\r\n",
    b"To: " + b'"a",' * (1 << 18) + b"\r\n\r\n",
    b"To: " + b"(" * (1 << 20) + b"\r\n\r\n",
    b"From: a@b\r\n" * 100_000 + b"\r\n",
    b"Content-Type: text/plain; " + b"".join(b"a*%d*=x; " % i for i in range(100_000)) + b"\r\n\r\n",
], ids=["200k-parts", "20k-digest-messages", "colons", "quotes", "parens", "100k-from-fields", "100k-params"])
def test_hostile_input_is_bounded(data):
    """describe() runs on every delivery: a 1 MiB message built to be expensive stays cheap
    (bounded parts, parameters and address-list lengths; the bounds are far above real mail)."""
    import time
    start = time.process_time()
    s = described(data)
    assert time.process_time() - start < 2.0  # about 0.1 s on an idle core
    assert len(structure.describe(data)) < 1_000_000
    count, stack = 0, [s.root]
    while stack:
        part = stack.pop()
        count += 1
        stack.extend(part.parts or ())
        stack.extend([part.message] if part.message else [])
    assert count <= 2 * 2000  # parts looked into, and the leaves past the bound


def test_long_address_list_keeps_its_first_addresses():
    to = b", ".join(b"user%d@example.com" % i for i in range(10_000))
    envelope = described(b"To: " + to + b"\r\n\r\n").envelope
    assert envelope.count(b'"example.com")') > 2000
    assert b'(NIL NIL "user0" "example.com")' in envelope


def _fetch_items(line: bytes) -> list:
    """A FETCH response as imapclient's parser takes it: literals split out as (head, octets)."""
    import re
    items, rest = [], line
    while (m := re.search(rb"\{(\d+)\}\r\n", rest)) is not None:
        size = int(m.group(1))
        items.append((rest[:m.end() - 2], rest[m.end():m.end() + size]))
        rest = rest[m.end() + size:]
    return [*items, rest]


@pytest.mark.parametrize("data, multipart", [
    (RFC3501, False), (MIXED, True), (NESTED, True), ("Subject: Grüße\r\nTo: \"Ä\" <a@b>\r\n\r\nx".encode(), False)])
def test_a_real_client_parser_reads_the_reply_data(data, multipart):
    """imapclient (a client applications use) parses ENVELOPE, BODY and BODYSTRUCTURE as rendered."""
    response_parser = pytest.importorskip("imapclient.response_parser")
    s = described(data)
    line = b"1 (ENVELOPE " + s.envelope + b" BODY " + s.body + b" BODYSTRUCTURE " + s.bodystructure + b")"
    fetched = response_parser.parse_fetch_response(_fetch_items(line))[1]
    envelope = fetched[b"ENVELOPE"]
    head = data[:data.index(b"\r\n\r\n")]
    if b"Subject: " in head:
        assert envelope.subject == head.split(b"Subject: ")[1].split(b"\r\n")[0]
    assert fetched[b"BODYSTRUCTURE"].is_multipart == multipart
    assert fetched[b"BODY"].is_multipart == fetched[b"BODYSTRUCTURE"].is_multipart


def test_nul_octets_never_reach_reply_data():
    s = described(b"Subject: a\x00b\r\nContent-Type: text/plain; name=\"x\x00y\"\r\n\r\n")
    assert b"\x00" not in s.envelope + s.body + s.bodystructure
    assert b"{2}\r\nab" in s.envelope


@pytest.mark.parametrize("data", [MIXED, NESTED, b"Subject: x\r\n\r\n" + b"line\r\n" * 600_000])
def test_a_mapped_file_is_described_as_its_bytes(tmp_path, data):
    """The store describes spooled bodies through mmap (a memoryview of the map): the same
    JSON as from the bytes, for the whole map (read in place) and for a slice of it (copied)."""
    import mmap
    path = tmp_path / "body"
    path.write_bytes(data + b"trailing octets")
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        whole, head = memoryview(mapped), memoryview(mapped)[:len(data)]
        try:
            assert structure.describe(whole) == structure.describe(data + b"trailing octets")
            assert structure.describe(head) == structure.describe(data)
        finally:
            whole.release()
            head.release()


def test_rfc2231_plain_segment_joined_to_an_extended_one_is_percent_encoded():
    data = b"Content-Type: text/plain; name*0*=utf-8''%C3%A9; name*1=\" \xe9.txt\"\r\n\r\n"
    assert b'("CHARSET" "us-ascii" "NAME*" "utf-8\'\'%C3%A9%20%E9.txt")' in described(data).bodystructure
