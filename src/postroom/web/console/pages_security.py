"""Security (/console/security): the sources and mailboxes refused for a while after repeated
failed POP3/SMTP logins, admin sign-ins and doctor password checks (`postroom security blocks`), with Clear per block and Clear all, and
the policy that starts them, read-only (it comes from the environment of `postroom serve`).

Listing and clearing call service/security.py, as the CLI and the REST API do: clearing needs
the server right and is audited; the nodes stop applying a cleared block within a second.
The policy shown is the running node's (app.state.login_policy, set by the node); an app
without a node (tests) shows what a node started now would read from the environment.
"""
from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Callable

from fastapi import Request
from fastapi.responses import Response

from ...errors import NotFound, ValidationError
from ...server.abuse import Policy
from ...service import security as security_ops
from .base import Page, form_action, redirect, render, router

URL = "/console/security"


def duration(seconds: float) -> str:
    """`15 min`, `1 h 30 min`, `45 s`: a policy time or what is left of a block."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else "",
             f"{secs} s" if secs and not hours else ""]
    return " ".join(p for p in parts if p) or "0 s"


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _node_policy(request: Request) -> Policy | None:
    current: Callable[[], Policy] | None = getattr(request.app.state, "login_policy", None)
    return current() if current is not None else None


async def _page(request: Request, page: Page, *, status: int = 200,
                error: dict[str, Any] | None = None) -> Response:
    now = time.time()
    blocks = [dict(block, remaining=duration(_epoch(block["until"]) - now))
              for block in await security_ops.list_blocks(page.ctx)]
    policy, policy_error = None, None
    try:
        policy = await security_ops.login_policy(page.ctx, _node_policy(request))
    except ValidationError as invalid:  # shown in the policy section; the blocks still list
        policy_error = invalid.reason
    return render(request, page, "console/security.html", status=status, blocks=blocks, policy=policy,
                  policy_error=policy_error, duration=duration, error=error)


@router.get("/security")
async def security_page(request: Request, page: Page) -> Response:
    return await _page(request, page)


@router.post("/security/blocks/clear")
async def clear_block(request: Request, page: Page) -> Response:
    fields = await form_action(page, request)
    value = str(fields.get("value", ""))
    try:
        lifted = await security_ops.clear_block(page.ctx, value)
    except ValidationError as error:
        return await _page(request, page, status=400, error={"field": "value", "value": value,
                                                             "message": error.reason})
    except NotFound:  # it expired, or someone cleared it, since the page was shown
        return await _page(request, page, status=404, error={
            "field": "value", "value": value,
            "message": f"There is no block on {value.strip()} now: it expired or was cleared meanwhile."})
    kinds = " and ".join(sorted({b["kind"] for b in lifted}))
    return redirect(URL, notice=f"Block on {kinds} {lifted[0]['value']} cleared: logins from it are accepted "
                                "again within a second.")


@router.post("/security/blocks/clear-all")
async def clear_all_blocks(request: Request, page: Page) -> Response:
    await form_action(page, request)
    lifted = await security_ops.clear_all_blocks(page.ctx)
    count = len(lifted)
    if not count:
        return redirect(URL, notice="There were no blocks to clear.")
    return redirect(URL, notice=f"{count} block{'s' if count != 1 else ''} cleared: "
                                f"{', '.join(b['value'] for b in lifted[:10])}{', …' if count > 10 else ''}.")
