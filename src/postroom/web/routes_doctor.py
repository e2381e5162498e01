"""The doctor and the connectivity tests (`postroom doctor pop|imap|send`, `postroom test
pop|imap|smtp`).

Each answers with the service's list as the CLI's --json prints it, with 200 whatever the
checks found: the verdict is in the body (a failed check is a finding, not an API error).
The mailbox's password travels only in a POST body, never in a URL. The service layer
decides the roles and refuses a `host` that is not this machine (service/doctor.py).
"""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from ..errors import ValidationError
from ..service import doctor as doctor_ops
from .bodies import Address, DoctorRequest, PopTestRequest, SmtpTestRequest
from .security import AdminRoute, Ctx
from .views import DoctorCheckView, ScenarioView, documented

router = APIRouter(prefix="/api/v1", route_class=AdminRoute)
ClientMode = Annotated[str | None, Query(description="How the application connects: plain, stls or ssl "
                                                     "(default: not known: every binding is probed, each way)",
                                         examples=["ssl"])]
Port = Annotated[int | None, Query(description="The port the application connects to", examples=[1995])]
Host = Annotated[str | None, Query(description="The name or address the application connects to; it must be "
                                               "this machine (loopback, one of its addresses, or its FQDN)",
                                   examples=["localhost"])]
Server = Annotated[str | None, Query(description="The server to check (default: this one)", examples=["EX01"])]


@router.get("/doctor/pop/{address}", tags=["doctor"], **documented(list[DoctorCheckView]))
async def doctor_pop(address: Address, request: Request, ctx: Ctx, client_mode: ClientMode = None,
                     port: Port = None, host: Host = None, server: Server = None) -> Any:
    """Every check an application needs to read the mailbox over POP3, in order, with the fix
    for each problem; POST with the password to include the login."""
    if "password" in request.query_params:  # it would be in every access log and browser history
        raise ValidationError("password", "a password is never taken from a URL: send it in the body of a POST")
    return await doctor_ops.doctor_pop(ctx, address, server=server, client_mode=client_mode, host=host, port=port)


@router.get("/doctor/send/{address}", tags=["doctor"], **documented(list[DoctorCheckView]))
async def doctor_send(address: Address, ctx: Ctx, server: Server = None,
                      connect: Annotated[bool, Query(description="Open a session with the next hop (EHLO, STARTTLS; "
                                                                 "no mail is sent)")] = True) -> Any:
    """Why mail to a remote address does not arrive: the send connector, DNS, the next hop's
    session and TLS, the queue and message tracking, in order, each with its fix."""
    return await doctor_ops.doctor_send(ctx, address, server=server, connect=connect)


@router.post("/doctor/pop/{address}", tags=["doctor"], **documented(list[DoctorCheckView]))
async def doctor_pop_with_login(address: Address, body: DoctorRequest, ctx: Ctx) -> Any:
    """The same checks; with `password` the probe also logs in and runs STAT (nothing is deleted)."""
    return await doctor_ops.doctor_pop(ctx, address, server=body.server, client_mode=body.client_mode,
                                       host=body.host, port=body.port, password=body.password)


@router.post("/test/pop/{address}", tags=["doctor"], **documented(list[ScenarioView]))
async def test_pop(address: Address, body: PopTestRequest, ctx: Ctx) -> Any:
    """Test-PopConnectivity: log in (`light`), or also send, retrieve and delete a test message
    (needs server-management; audited)."""
    return await doctor_ops.pop_connectivity(ctx, address, body.password, light=body.light, server=body.server,
                                             client_mode=body.client_mode, host=body.host, port=body.port,
                                             trust_any_certificate=body.trust_any_certificate)


@router.get("/doctor/imap/{address}", tags=["doctor"], **documented(list[DoctorCheckView]))
async def doctor_imap(address: Address, request: Request, ctx: Ctx, client_mode: ClientMode = None,
                      port: Port = None, host: Host = None, server: Server = None) -> Any:
    """Every check an application needs to read the mailbox over IMAP4, in order, with the fix
    for each problem; POST with the password to include the login."""
    if "password" in request.query_params:  # it would be in every access log and browser history
        raise ValidationError("password", "a password is never taken from a URL: send it in the body of a POST")
    return await doctor_ops.doctor_imap(ctx, address, server=server, client_mode=client_mode, host=host, port=port)


@router.post("/doctor/imap/{address}", tags=["doctor"], **documented(list[DoctorCheckView]))
async def doctor_imap_with_login(address: Address, body: DoctorRequest, ctx: Ctx) -> Any:
    """The same checks; with `password` the probe also logs in (after TLS) and SELECTs INBOX."""
    return await doctor_ops.doctor_imap(ctx, address, server=body.server, client_mode=body.client_mode,
                                        host=body.host, port=body.port, password=body.password)


@router.post("/test/imap/{address}", tags=["doctor"], **documented(list[ScenarioView]))
async def test_imap(address: Address, body: PopTestRequest, ctx: Ctx) -> Any:
    """Test-ImapConnectivity: log in and SELECT INBOX (`light`), or also send, find, fetch and
    delete a test message (needs server-management; audited)."""
    return await doctor_ops.imap_connectivity(ctx, address, body.password, light=body.light, server=body.server,
                                              client_mode=body.client_mode, host=body.host, port=body.port,
                                              trust_any_certificate=body.trust_any_certificate)


@router.post("/test/smtp/{address}", tags=["doctor"], **documented(list[ScenarioView]))
async def test_smtp(address: Address, body: SmtpTestRequest, ctx: Ctx) -> Any:
    """Submission through the Client connector (STARTTLS, AUTH); without `light` also the round
    trip (needs server-management; audited)."""
    return await doctor_ops.smtp_connectivity(ctx, address, body.password, light=body.light, server=body.server,
                                              host=body.host, port=body.port,
                                              trust_any_certificate=body.trust_any_certificate)
