"""Troubleshooting (/console/troubleshooting): the doctor for one mailbox (`postroom doctor
pop|imap ADDRESS`: the form's protocol), then what the system knows about why an application
cannot connect or log in: every service's and receive connector's live state and errors,
failed POP3 logins in the last hour,
and the symptom → cause → fix table of docs/operations.md.

The doctor's form is a GET (address, client mode, port: a link an admin can share). So is the
second doctor, for mail sent out (`postroom doctor send ADDRESS`: the `send_to` field), which
connects to the next hop as delivery would (service/doctor.py says who may and where). The
application's password, which adds the login to the probe, is only ever posted with the CSRF
token, and never shown again; so is "Download support bundle", which answers the tar.gz. Any
admin role may do all of it (service/doctor.py decides).
"""
from __future__ import annotations

import re
import time
from typing import Any, Mapping

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from ....errors import ValidationError
from ....service import activity, connectors, services
from ....service import doctor as doctor_ops
from ..base import ConsolePage, Page, form_action, page_router, render
from .dashboard import by_server

router = page_router()

DOCTOR_FIELDS = ("address", "protocol", "client_mode", "port")
PROTOCOLS = ("pop", "imap")
HERE = "/console/troubleshooting"


def _form(source: Mapping[str, Any]) -> dict[str, str]:
    return {name: str(source.get(name, "")).strip() for name in DOCTOR_FIELDS}


def _options(form: dict[str, str]) -> dict[str, Any]:
    """doctor_pop's keyword arguments from the form (an empty field means: assume; POP3)."""
    protocol = form["protocol"] or "pop"
    if protocol not in PROTOCOLS:
        raise ValidationError("protocol", f"{protocol!r} is not a protocol the doctor checks", list(PROTOCOLS))
    port = None
    if form["port"]:
        try:
            port = int(form["port"])
        except ValueError:
            raise ValidationError("port", f"{form['port']!r} is not a whole number") from None
    return {"client_mode": form["client_mode"] or None, "port": port, "protocol": protocol}


def page_name(path: str) -> str:
    """The console page a check's `page` points to, in the navigation's words."""
    if "/connectors/" in path:
        return "Receive connector properties"
    if path.endswith("/pop3"):
        return "POP3 properties"
    if path.endswith("/imap4"):
        return "IMAP4 properties"
    if path.startswith("/console/mailboxes/"):
        return "Mailbox properties"
    if path.startswith("/console/send-connectors/"):
        return "Send connector properties"
    if path.endswith("/transport"):
        return "Transport settings"
    if path.startswith("/console/logs/tracking"):
        return "Message tracking"
    names = {"/console/services": "Services", "/console/mailboxes": "Mailboxes", "/console/domains": "Accepted domains",
             "/console/send-connectors": "Send connectors"}
    return names.get(path, path)


def summary(checks: list[dict[str, Any]]) -> str:
    def count(n: int, word: str) -> str:
        return f"{n} {word}{'s' if n != 1 else ''}"

    failed = sum(c["status"] == "fail" for c in checks)
    warned = sum(c["status"] == "warn" for c in checks)
    if failed:
        return count(failed, "check") + " failed" + (f", {count(warned, 'warning')}" if warned else "")
    if warned:
        return f"No check failed; {count(warned, 'warning')}"
    return f"All {len(checks)} checks passed"


async def _doctor(page: ConsolePage, form: dict[str, str], password: str | None = None) -> dict[str, Any]:
    """The template's doctor values: the checks and their summary, or the error for its field."""
    if not form["address"]:
        return {"checks": None, "error": None}
    try:
        checks = await doctor_ops.doctor_pop(page.ctx, form["address"], password=password, **_options(form))
    except ValidationError as error:
        return {"checks": None, "error": error}
    linked = [{**c, "page_name": page_name(c["page"] or "")} for c in checks]
    return {"checks": linked, "summary": summary(checks), "error": None}


async def _doctor_send(page: ConsolePage, to: str) -> dict[str, Any]:
    """The template's values for the send doctor: its checks and summary, or the error."""
    if not to:
        return {"send_checks": None, "send_error": None}
    try:
        checks = await doctor_ops.doctor_send(page.ctx, to)
    except ValidationError as error:
        return {"send_checks": None, "send_error": error}
    linked = [{**c, "page_name": page_name(c["page"] or "")} for c in checks]
    return {"send_checks": linked, "send_summary": summary(checks), "send_error": None}


async def _overview(page: ConsolePage) -> dict[str, Any]:
    servers = by_server(await services.list_services(page.ctx, "all"))
    receive = await connectors.list_connectors(page.ctx, "all")
    last_hour = await activity.activity(page.ctx, hours=1)
    problems = sum(1 for _, rows in servers for row in rows if row["health"] == "bad")
    problems += sum(1 for c in receive if c["errors"] or c["state"] == "failed")
    return {"servers": servers, "connectors": receive, "problems": problems,
            "failed": activity.failed_logins(last_hour),
            "succeeded": sum(b["pop3_logins_ok"] + b["imap4_logins_ok"] for b in last_hour)}


async def _page(request: Request, page: ConsolePage, form: dict[str, str], password: str | None,
                send_to: str = "") -> HTMLResponse:
    doctor = await _doctor(page, form, password)
    send = await _doctor_send(page, send_to)
    return render(request, page, "console/troubleshooting.html",
                  status=400 if doctor["error"] or send["send_error"] else 200,
                  form=form, login_tried=password is not None and doctor["checks"] is not None, here=HERE,
                  send_to=send_to, **doctor, **send, **await _overview(page))


@router.get("/troubleshooting")
async def troubleshooting(request: Request, page: Page) -> HTMLResponse:
    return await _page(request, page, _form(request.query_params), None,
                       str(request.query_params.get("send_to", "")).strip())


@router.post("/troubleshooting")
async def troubleshooting_with_login(request: Request, page: Page) -> HTMLResponse:
    fields = await form_action(page, request)
    password = str(fields.get("password", ""))
    return await _page(request, page, _form(fields), password or None)


@router.post("/troubleshooting/bundle")
async def support_bundle(request: Request, page: Page) -> Response:
    """The doctor's checks (without the login) and everything else support needs, as a download."""
    form = _form(await form_action(page, request))
    checks = await doctor_ops.doctor_pop(page.ctx, form["address"], **_options(form))
    data = await doctor_ops.support_bundle(page.ctx, form["address"], checks)
    name = re.sub(r"[^A-Za-z0-9@._-]", "_", form["address"])
    filename = f"postroom-support-{name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.tar.gz"
    return Response(data, media_type="application/gzip",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
