"""A small, fast MIME scanner over the bytes of a message (RFC 2045, 2046, 2231, 5322).

`parse(data)` finds every entity of a message: where its header and body sit (offsets into
`data`), its header fields, its content type with parameters, its parts (multipart) and its
encapsulated message (message/rfc822). The bodies are never copied or decoded: boundaries are
found with bytes.find, so a 1 MiB attachment costs a few C-speed scans. It never raises on
malformed input: what cannot be understood becomes text/plain, as RFC 2045 5.2 says and as
Dovecot does. Bare LF line ends are accepted beside CRLF (APPENDed messages may have them).
"""
from __future__ import annotations

import mmap
import re
from typing import Union

__all__ = ["Entity", "Octets", "parse", "fields_of", "parse_params", "unfold"]

#: A message's octets: bytes, or a mapped file (a spooled body is described through mmap
#: without being copied into memory). Both have find, indexing and slicing.
Octets = Union[bytes, mmap.mmap]

# Bounds for hostile input (describe() runs on every delivery): real mail stays far below them.
MAX_DEPTH = 40  # nested multiparts/messages deeper than this are leaves (and Python's stack stays small)
MAX_PARTS = 2000  # entities looked into per message (after it: leaves; a multipart lists at most that many parts)
MAX_PARAMS = 64  # parameters read per Content-Type/Disposition field

_FIELD_SPLIT = re.compile(r"\r?\n(?![ \t])")
_FOLD = re.compile(r"\r?\n")
_TYPE = re.compile(r"\s*([^\s/;]+)\s*/\s*([^\s;]+)")
_TOKEN = re.compile(r"\s*([^\s;=]*)")
_PARAM = re.compile(r';\s*([^\s;=]+)\s*=\s*("(?:[^"\\]+|\\.)*"?|[^\s;]*)', re.S)
_UNQUOTE = re.compile(r"\\(.)", re.S)
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_IDENTITY = frozenset(("", "7bit", "8bit", "binary"))
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class Entity:
    """One MIME entity: header at data[start:body] (with the empty line that ends it), body
    at data[body:end]. `fields` maps lower-case field names to their raw values (latin-1
    str, folding kept) in order. `children` is the list of parts of a multipart (None
    otherwise); `message` the encapsulated message of a message/rfc822 part."""

    __slots__ = ("start", "body", "end", "fields", "type", "subtype", "params", "values",
                 "children", "message")

    def __init__(self, start: int, body: int, end: int, fields: dict[str, list[str]]) -> None:
        self.start = start
        self.body = body
        self.end = end
        self.fields = fields
        self.type = "text"
        self.subtype = "plain"
        self.params: list[tuple[str, str]] = []  # as rendered in BODYSTRUCTURE (RFC 2231 merged)
        self.values: dict[str, str] = {}  # parameter name -> value (RFC 2231 decoded to octets)
        self.children: list[Entity] | None = None
        self.message: Entity | None = None

    def field(self, name: str) -> str | None:
        """The first value of a header field, unfolded and stripped; None if absent."""
        values = self.fields.get(name)
        return unfold(values[0]) if values else None

    @property
    def encoding(self) -> str:
        return (self.field("content-transfer-encoding") or "").lower()


def unfold(value: str) -> str:
    return _FOLD.sub("", value).strip()


def fields_of(block: str) -> dict[str, list[str]]:
    """Header fields of a header block (latin-1 str): lower-case name -> raw values."""
    fields: dict[str, list[str]] = {}
    for line in _FIELD_SPLIT.split(block):
        name, colon, value = line.partition(":")
        if colon:
            name = name.strip().lower()
            if name:
                fields.setdefault(name, []).append(value)
    return fields


def body_start(data: Octets, start: int, end: int) -> int:
    """Where the body of the entity at data[start:end] starts: after the first empty line,
    or `end` when its header runs to the end."""
    if start >= end:
        return end
    if data[start] == 10:
        return start + 1
    if data[start] == 13 and start + 1 < end and data[start + 1] == 10:
        return start + 2
    crlf = data.find(b"\n\r\n", start, end)
    lf = data.find(b"\n\n", start, crlf if crlf >= 0 else end)  # bare LF ends: rare, look only before
    if lf >= 0:
        return lf + 2
    return crlf + 3 if crlf >= 0 else end


def parse_params(value: str) -> tuple[str, list[tuple[str, str]], dict[str, str]]:
    """A Content-Type (after type/subtype) or Content-Disposition value: (its leading token,
    parameters to render, decoded values by name). RFC 2231 continuations are joined; an
    extended (charset'lang'%XX) parameter renders as "name*" with its encoding kept."""
    head = _TOKEN.match(value)
    token = head.group(1) if head else ""
    if ";" not in value:
        return token, [], {}
    simple: list[tuple[str, str]] = []
    segments: dict[str, list[tuple[int, bool, str]]] = {}
    order: list[str] = []
    for count, m in enumerate(_PARAM.finditer(value)):
        if count == MAX_PARAMS:
            break
        name, raw = m.group(1).lower(), m.group(2)
        if raw.startswith('"'):
            raw = _UNQUOTE.sub(r"\1", raw[1:-1] if raw.endswith('"') and len(raw) > 1 else raw[1:])
        if "*" not in name:
            order.append(name)
            simple.append((name, raw))
            continue
        base, _, rest = name.partition("*")
        index = rest.rstrip("*")
        key = base + "*"
        if key not in segments:
            segments[key] = []
            order.append(key)
        segments[key].append((int(index) if index.isdigit() else 0, name.endswith("*"), raw))
    params: list[tuple[str, str]] = []
    values: dict[str, str] = {}
    simple_iter = iter(simple)
    for name in order:
        if not name.endswith("*"):
            pair = next(simple_iter)
            params.append(pair)
            values.setdefault(pair[0], pair[1])
            continue
        rendered, decoded = _join_2231(sorted(segments[name], key=lambda s: s[0]))
        extended = any(ext for _, ext, _ in segments[name])
        params.append((name if extended else name[:-1], rendered))
        values[name[:-1]] = decoded  # the RFC 2231 value wins over a plain one of the same name
    return token, params, values


def _join_2231(parts: list[tuple[int, bool, str]]) -> tuple[str, str]:
    """(rendered, decoded) of RFC 2231 segments in order: rendered keeps charset'lang'%XX
    (plain segments percent-encoded into it), decoded is the octets as latin-1 str."""
    charset_lang = ""
    rendered: list[str] = []
    decoded: list[str] = []
    for position, (_, extended, raw) in enumerate(parts):
        if extended:
            if position == 0 and raw.count("'") >= 2:
                charset, lang, raw = raw.split("'", 2)
                charset_lang = charset + "'" + lang + "'"
            rendered.append(raw)
            decoded.append(_PERCENT.sub(lambda m: chr(int(m.group(1), 16)), raw))
        else:
            rendered.append("".join(c if c in _UNRESERVED else "%%%02X" % ord(c) for c in raw))
            decoded.append(raw)
    if not any(extended for _, extended, _ in parts):
        return "".join(decoded), "".join(decoded)
    return charset_lang + "".join(rendered), "".join(decoded)


class _Budget:
    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts = 0


def parse(data: Octets) -> Entity:
    """The entity tree of a whole message."""
    return _entity(data, 0, len(data), False, 0, _Budget())


def _entity(data: Octets, start: int, end: int, digest: bool, depth: int, budget: _Budget) -> Entity:
    budget.parts += 1
    body = body_start(data, start, end)
    block = data[start:body].decode("latin-1") if body > start else ""
    entity = Entity(start, body, end, fields_of(block))
    content_type = entity.fields.get("content-type")
    if content_type is None:
        if digest:
            entity.type, entity.subtype = "message", "rfc822"
        else:
            entity.params, entity.values = [("charset", "us-ascii")], {"charset": "us-ascii"}
    else:
        _content_type(entity, unfold(content_type[0]))
    if depth >= MAX_DEPTH or budget.parts >= MAX_PARTS:
        if entity.type == "multipart" or (entity.type, entity.subtype) == ("message", "rfc822"):
            _plain(entity)
        return entity
    if entity.type == "multipart":
        boundary = entity.values.get("boundary", "")
        room = max(MAX_PARTS - budget.parts, 1)
        spans = _split(data, body, end, boundary.encode("latin-1"), room) if boundary else []
        if not spans:
            _plain(entity)
            return entity
        sub_digest = entity.subtype == "digest"
        entity.children = [_entity(data, a, b, sub_digest, depth + 1, budget) for a, b in spans]
    elif entity.type == "message" and entity.subtype == "rfc822":
        if entity.encoding in _IDENTITY:
            entity.message = _entity(data, body, end, False, depth + 1, budget)
        else:  # an encoded message cannot be looked into: an opaque part
            entity.type, entity.subtype = "application", "octet-stream"
    return entity


def _plain(entity: Entity) -> None:
    entity.type, entity.subtype = "text", "plain"
    entity.params, entity.values = [("charset", "us-ascii")], {"charset": "us-ascii"}


def _content_type(entity: Entity, value: str) -> None:
    match = _TYPE.match(value)
    if not match:  # RFC 2045 5.2: a syntactically invalid Content-Type is text/plain
        _plain(entity)
        return
    entity.type, entity.subtype = match.group(1).lower(), match.group(2).lower()
    _, entity.params, entity.values = parse_params(value[match.end():])
    if entity.type == "text" and "charset" not in entity.values:  # RFC 2045 5.2: the default charset
        entity.params.insert(0, ("charset", "us-ascii"))
        entity.values["charset"] = "us-ascii"


def _split(data: Octets, body: int, end: int, boundary: bytes, most: int) -> list[tuple[int, int]]:
    """The (start, end) spans of the parts of a multipart body: between delimiter lines
    ("--boundary" at a line start), the line break before a delimiter belonging to it.
    Preamble and epilogue are skipped; a missing close delimiter ends the last part at `end`.
    At most `most` parts: the ones after them are left out (hostile input)."""
    delimiter = b"--" + boundary
    spans: list[tuple[int, int]] = []
    part = -1  # start of the current part, -1 before the first delimiter
    pos = body
    size = len(delimiter)
    while True:
        hit = data.find(delimiter, pos, end)
        if hit < 0:
            break
        after = hit + size
        pos = after
        if hit != body and data[hit - 1] != 10:
            continue
        closing = data[after:after + 2] == b"--"
        if not closing and after < end and data[after] not in b"\r\n \t":
            continue  # "--boundaryX": a longer boundary, not ours
        if part >= 0:
            stop = hit
            if stop > part and data[stop - 1] == 10:
                stop -= 1
                if stop > part and data[stop - 1] == 13:
                    stop -= 1
            spans.append((part, stop))
        if closing or len(spans) >= most:
            return spans
        newline = data.find(b"\n", after, end)
        if newline < 0:
            part = -1
            spans.append((end, end))
            break
        part = pos = newline + 1
    if part >= 0:
        spans.append((part, end))
    return spans
