"""Mail flow > Queues (/console/queues): the outbound queues (Exchange's Queue Viewer: one queue
per next hop, with its delivery type, status, message count, next retry and last error), the
queued messages, and the actions on both (retry, suspend and resume a queue; suspend, resume
and remove a message, with or without a non-delivery report), with a chart of the last 24 hours:
recipients sent and failed per 10 minutes and the queue's length.

Everything calls service/queue.py, as `postroom queue ...` / `postroom message ...` and the
REST API do: acting needs server-management or organization-management, and is audited
(refusals too). A refused action is shown on this page, with the service's words.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response
from markupsafe import Markup

from ....errors import Conflict, Forbidden, NotFound, PostroomError
from ....service import activity, queue as queue_ops
from ..base import Page, form_action, page_router, redirect, render
from ..chart import OUTBOUND_SERIES, activity_svg

router = page_router()

URL = "/console/queues"
QUEUE_ACTIONS = {"retry": queue_ops.retry_queue, "suspend": queue_ops.suspend_queue, "resume": queue_ops.resume_queue}
DONE = {"retry": "retried: every recipient waiting in it is due now", "suspend": "suspended: nothing in it is "
        "delivered until it is resumed", "resume": "resumed: its messages are delivered when due"}


async def _page(request: Request, page: Page, *, status: int = 200, error: str | None = None) -> Response:
    queue = request.query_params.get("queue") or None
    state = request.query_params.get("status") or None
    queues = await queue_ops.list_queues(page.ctx)
    try:
        messages = await queue_ops.list_messages(page.ctx, queue, state)
    except PostroomError as exc:  # a filter that names no queue, or a status that does not exist
        messages, error, status = [], exc.message, _status(exc)
    buckets = await activity.outbound_activity(page.ctx, hours=24)
    chart = activity_svg(buckets, title=f"Outbound delivery on {page.ctx.local_server}, last 24 hours, per 10 "
                                        "minutes", id_prefix="outbound", series=OUTBOUND_SERIES,
                         empty="No outbound delivery in this period")
    return render(request, page, "console/queues.html", status=status, queues=queues, messages=messages,
                  chart=Markup(chart), queue_filter=queue or "", status_filter=state or "", error=error)


@router.get("/queues")
async def queues_page(request: Request, page: Page) -> Response:
    return await _page(request, page)


@router.get("/queues/message")
async def message_page(request: Request, page: Page) -> Response:
    message_id = request.query_params.get("id", "")
    try:
        message = await queue_ops.show_message(page.ctx, message_id)
    except PostroomError as exc:
        return await _page(request, page, status=_status(exc), error=exc.message)
    return render(request, page, "console/queues_message.html", message=message)


@router.post("/queues/action")
async def queue_action(request: Request, page: Page) -> Response:
    fields = await form_action(page, request)
    name, action = str(fields.get("queue", "")), str(fields.get("action", ""))
    if action not in QUEUE_ACTIONS:
        return await _page(request, page, status=400, error=f"{action!r} is not a queue action "
                                                            f"(allowed: {', '.join(QUEUE_ACTIONS)})")
    try:
        await QUEUE_ACTIONS[action](page.ctx, name)
    except PostroomError as exc:
        return await _page(request, page, status=_status(exc), error=f"Queue {name} not {action}d: {exc.message}")
    return redirect(URL, notice=f"Queue {name} {DONE[action]}.")


@router.post("/queues/message/action")
async def message_action(request: Request, page: Page) -> Response:
    fields = await form_action(page, request)
    message_id, action = str(fields.get("id", "")), str(fields.get("action", ""))
    try:
        if action == "suspend":
            await queue_ops.suspend_message(page.ctx, message_id)
            notice = f"Message {message_id} suspended: it is not delivered until resumed."
        elif action == "resume":
            await queue_ops.resume_message(page.ctx, message_id)
            notice = f"Message {message_id} resumed: it is delivered when due."
        elif action in ("remove", "remove-ndr"):
            removed = await queue_ops.remove_message(page.ctx, message_id, with_ndr=action == "remove-ndr")
            notice = f"Message {message_id} removed from the queue." + _ndr_text(removed)
        else:
            return await _page(request, page, status=400, error=f"{action!r} is not a message action (allowed: "
                                                                "suspend, resume, remove, remove-ndr)")
    except PostroomError as exc:
        return await _page(request, page, status=_status(exc), error=f"Message {message_id}: {exc.message}")
    back = str(fields.get("back", ""))
    return redirect(f"{URL}/message?{urlencode({'id': message_id})}" if back == "message" and
                    action in ("suspend", "resume") else URL, notice=notice)


def _ndr_text(removed: dict[str, Any]) -> str:
    if removed["ndr"] in ("mailbox", "queued"):
        where = "delivered to its mailbox" if removed["ndr"] == "mailbox" else "queued"
        return f" A non-delivery report to <{removed['sender']}> was {where}."
    return f" Non-delivery report {removed['ndr']}."


def _status(exc: PostroomError) -> int:
    for kind, code in ((Forbidden, 403), (NotFound, 404), (Conflict, 409)):
        if isinstance(exc, kind):
            return code
    return 400
