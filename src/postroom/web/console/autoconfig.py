"""Client settings published for mail clients: Thunderbird autoconfig and Outlook autodiscover.

Public (no sign-in): a mail client asks before its user has any admin credentials, and what it
learns (host names, ports, TLS modes) is what every client of the server must know anyway.
Both documents come from `client_settings` of this server, so they change the moment the POP3
bindings or the submission connector do.

The service layer checks a caller's rights on every read, and these requests have no caller:
they act as an internal principal holding only `view-only`, so even a mistake here could read
but never change anything (and reads are not audited, so clients leave no audit noise).
"""
from __future__ import annotations

import os
from typing import Any
from xml.parsers import expat

from fastapi import APIRouter, Request
from fastapi.responses import Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ...errors import ValidationError
from ...model import normalise_address
from ...service import Caller, Context
from ...service import client_settings as client_ops
from ...service import domains as domain_ops

AUTOCONFIG_CALLER = Caller("autoconfig", frozenset({"view-only"}), "api")
XML = "application/xml"
MAX_REQUEST = 64 * 1024  # an autodiscover request is a few hundred bytes
_TEMPLATES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "templates")
_env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["xml"]),
                   trim_blocks=True, lstrip_blocks=True)

router = APIRouter(include_in_schema=False)


async def _settings(request: Request) -> dict[str, Any]:
    state = request.app.state
    ctx = Context(state.store, AUTOCONFIG_CALLER, state.server, state.data_dir)
    settings = await client_ops.client_settings(ctx)
    settings["domains"] = await domain_ops.list_domains(ctx)
    return settings


def _xml(template: str, **values: Any) -> Response:
    return Response(_env.get_template(template).render(**values), media_type=XML)


@router.get("/.well-known/autoconfig/mail/config-v1.1.xml")
@router.get("/mail/config-v1.1.xml")
async def thunderbird_autoconfig(request: Request) -> Response:
    """Mozilla's ISPDB format; the username is the placeholder Thunderbird fills in."""
    return _xml("autoconfig/config-v1.1.xml", s=await _settings(request))


def requested_address(body: bytes) -> str | None:
    """The EMailAddress of an Outlook autodiscover request, or None for anything else.

    Parsed with expat directly so that any DTD (in whatever encoding) stops the parse: a request
    never needs one, and without it no entity can expand. Whatever the body holds, the caller
    still answers with a valid document.
    """
    if not body or len(body) > MAX_REQUEST:
        return None
    parser = expat.ParserCreate(namespace_separator="}")
    text: list[str] = []
    inside = False

    def refuse_dtd(*_: Any) -> None:
        raise ValueError("a DTD in an autodiscover request")

    def start(name: str, _attributes: Any) -> None:
        nonlocal inside
        inside = name.rsplit("}", 1)[-1] == "EMailAddress" and not text

    def end(_name: str) -> None:
        nonlocal inside
        inside = False

    def data(chunk: str) -> None:
        if inside:
            text.append(chunk)

    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, data
    try:
        parser.Parse(body, True)
        return normalise_address("".join(text), "EMailAddress") if text else None
    except (expat.ExpatError, ValueError, LookupError, ValidationError):  # LookupError: an unknown encoding
        return None


@router.get("/autodiscover/autodiscover.xml")
@router.post("/autodiscover/autodiscover.xml")
async def outlook_autodiscover(request: Request) -> Response:
    """Exchange's POX autodiscover answer with POP3 and SMTP protocol entries."""
    address = requested_address(await request.body()) if request.method == "POST" else None
    return _xml("autoconfig/autodiscover.xml", s=await _settings(request), login_name=address)
