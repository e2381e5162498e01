"""A message's structure, computed once when its body is stored (every SMTP delivery pays for
it, so it is one scan of the bytes, see _mime.py) and loaded for every FETCH.

`describe(data)` returns JSON text: the rendered ENVELOPE, BODY and BODYSTRUCTURE reply data
(RFC 3501 7.4.2; octets as latin-1 str) and the part map, each entity as
[header start, body start, end, "type/subtype", parts or null, encapsulated message or null],
offsets into the message's bytes (so "parts"[1] is where the message's body starts: its
header block is data[:parts[1]], which stores read without loading the JSON, see
storage/sql/folders.py). `load(text)` turns it into a `Structure` the sections and
the FETCH renderer use. describe() never raises: malformed MIME gets a best-effort structure.
"""
from __future__ import annotations

import functools
import json
import mmap
from typing import Any

from . import wire
from ._envelope import envelope as _envelope
from ._envelope import string
from ._mime import Entity, Octets, body_start, parse, parse_params, unfold

__all__ = ["VERSION", "Part", "Structure", "describe", "header_end", "load", "of"]

_SLICE = 1 << 20
VERSION = 1  # in the JSON: a structure of another version is computed again (load raises ValueError)


class Part:
    """One entity of the part map: header at data[start:body], body at data[body:end];
    `parts` for a multipart, `message` (the encapsulated message) for message/rfc822."""

    __slots__ = ("start", "body", "end", "content_type", "parts", "message")

    def __init__(self, start: int, body: int, end: int, content_type: str,
                 parts: tuple[Part, ...] | None, message: Part | None) -> None:
        self.start = start
        self.body = body
        self.end = end
        self.content_type = content_type
        self.parts = parts
        self.message = message


class Structure:
    """What FETCH needs of a message without reading it: ENVELOPE, BODY and BODYSTRUCTURE as
    reply data (bytes), and the part map (`root`: the message itself) for BODY[section]."""

    __slots__ = ("envelope", "body", "bodystructure", "root")

    def __init__(self, envelope: bytes, body: bytes, bodystructure: bytes, root: Part) -> None:
        self.envelope = envelope
        self.body = body
        self.bodystructure = bodystructure
        self.root = root


def describe(data: bytes | memoryview) -> str:
    """The JSON structure of a message in wire form."""
    raw = data if isinstance(data, bytes) else _octets(data)
    root = parse(raw)
    body, bodystructure = _render(raw, root)
    text = {
        "v": VERSION,
        "envelope": _envelope(root).decode("latin-1"),
        "body": body.decode("latin-1"),
        "bodystructure": bodystructure.decode("latin-1"),
        "parts": _map(root),
    }
    return json.dumps(text, separators=(",", ":"))


def load(text: str) -> Structure:
    """The Structure of describe()'s JSON; ValueError if `text` is not one (another version,
    or the "{}" a store may hold from before structures existed): describe the bytes again."""
    try:
        value = json.loads(text)
        if value.get("v") != VERSION:
            raise ValueError("structure of another version")
        return Structure(value["envelope"].encode("latin-1"), value["body"].encode("latin-1"),
                         value["bodystructure"].encode("latin-1"), _part(value["parts"]))
    except (KeyError, TypeError, AttributeError, IndexError, UnicodeEncodeError) as error:
        raise ValueError("not a message structure") from error


def header_end(data: bytes) -> int:
    """Where the message's body starts: its header block (with the empty line that ends it) is
    data[:header_end(data)], as the root entity of describe()'s part map says."""
    return body_start(data, 0, len(data))


def of(data: bytes | memoryview) -> Structure:
    """The Structure of a message's bytes (for a body stored without one)."""
    return load(describe(data))


def _map(entity: Entity) -> list[Any]:
    return [entity.start, entity.body, entity.end, entity.type + "/" + entity.subtype,
            None if entity.children is None else [_map(c) for c in entity.children],
            None if entity.message is None else _map(entity.message)]


def _part(node: list[Any]) -> Part:
    start, body, end, content_type, parts, message = node
    return Part(int(start), int(body), int(end), str(content_type),
                None if parts is None else tuple(_part(p) for p in parts),
                None if message is None else _part(message))


# ------------------------------------------------------------------- BODY, BODYSTRUCTURE
#: Type names, parameters and encodings repeat from message to message: rendered once.
_s = functools.lru_cache(maxsize=4096)(string)


def _ns(value: str | None) -> bytes:
    return wire.NIL if value is None else _s(value)


def _params(params: list[tuple[str, str]]) -> bytes:
    if not params:
        return wire.NIL
    return b"(" + b" ".join(_s(name.upper()) + b" " + _s(value) for name, value in params) + b")"


def _octets(view: memoryview) -> Octets:
    """A view of a whole mapped file is read through the map (no copy); others are copied."""
    mapped = view.obj
    if isinstance(mapped, mmap.mmap) and view.c_contiguous and view.nbytes == len(mapped):
        return mapped
    return bytes(view)


def _lines(data: Octets, start: int, end: int) -> int:
    if isinstance(data, bytes):
        count = data.count(b"\n", start, end)
    else:  # a map has no count(): by slices of 1 MiB
        count = sum(data[i:min(i + _SLICE, end)].count(b"\n") for i in range(start, end, _SLICE))
    return count + 1 if end > start and data[end - 1] != 10 else count


def _render(data: Octets, entity: Entity) -> tuple[bytes, bytes]:
    """BODY and BODYSTRUCTURE of an entity (RFC 3501 7.4.2), in one walk: BODYSTRUCTURE is
    BODY with the extension data."""
    if entity.children is not None:
        rendered = [_render(data, c) for c in entity.children]
        subtype = b" " + _s(entity.subtype.upper())
        extension = b" " + b" ".join((_params(entity.params), *_extension(entity)))
        return (b"(" + b"".join(r[0] for r in rendered) + subtype + b")",
                b"(" + b"".join(r[1] for r in rendered) + subtype + extension + b")")
    field = entity.field
    head = b"(" + b" ".join((
        _s(entity.type.upper()), _s(entity.subtype.upper()), _params(entity.params),
        _ns(field("content-id")), _ns(field("content-description")),
        _s((field("content-transfer-encoding") or "7bit").upper()), b"%d" % (entity.end - entity.body)))
    if entity.message is not None:
        inner, inner_extended = _render(data, entity.message)
        envelope, lines = _envelope(entity.message), b"%d" % _lines(data, entity.body, entity.end)
        body = head + b" " + envelope + b" " + inner + b" " + lines
        extended = head + b" " + envelope + b" " + inner_extended + b" " + lines
    else:
        if entity.type == "text":
            head += b" %d" % _lines(data, entity.body, entity.end)
        body = extended = head
    extension = b" " + b" ".join((_ns(field("content-md5")), *_extension(entity)))
    return body + b")", extended + extension + b")"


def _extension(entity: Entity) -> tuple[bytes, bytes, bytes]:
    """body-fld-dsp, body-fld-lang, body-fld-loc."""
    disposition = entity.field("content-disposition")
    if disposition:
        kind, params, _ = parse_params(disposition)
        dsp = b"(" + _s(kind.upper()) + b" " + _params(params) + b")" if kind else wire.NIL
    else:
        dsp = wire.NIL
    language = entity.fields.get("content-language")
    languages = [tag.strip() for tag in unfold(",".join(language)).split(",")] if language else []
    languages = [tag for tag in languages if tag]
    if not languages:
        lang = wire.NIL
    elif len(languages) == 1:
        lang = _s(languages[0])
    else:
        lang = b"(" + b" ".join(_s(tag) for tag in languages) + b")"
    return dsp, lang, _ns(entity.field("content-location"))
