"""The fast dot-stuffing check agrees with the obvious definition on any input."""
from hypothesis import given
from hypothesis import strategies as st

from postroom.protocol._pop3_replies import dot_stuff

pieces = st.lists(st.sampled_from([b".", b"\r\n", b"\n", b"a", b"..", b"\r\n.", b"x" * 50]), max_size=200)


def naive(data: bytes) -> bytes:
    stuffed = data.replace(b"\n.", b"\n..")
    return (b"." + stuffed) if data.startswith(b".") else stuffed


@given(pieces)
def test_dot_stuff_matches_the_definition(parts):
    data = b"".join(parts)
    prefix, body, _ = dot_stuff(data)
    assert prefix + body == naive(data)


def test_many_dots_before_the_first_dot_line():
    data = b"a sentence. " * 100 + b"\r\n.hidden\r\n"
    prefix, body, _ = dot_stuff(data)
    assert prefix + body == naive(data) and b"\r\n..hidden" in body
