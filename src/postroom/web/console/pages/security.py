"""Security (/console/security): the sources and mailboxes refused for a while after repeated
failed POP3/SMTP logins, admin sign-ins and doctor password checks (`postroom security
blocks`), with Clear per block and Clear all, and the organization's policy that starts them
as a form (`postroom security policy set`).

Listing, clearing and saving the policy call service/security.py, as the CLI and the REST API
do: changes need the server right and are audited (refusals too); every node applies a
cleared block or a changed policy within a second. A refused or invalid policy change is
shown on this page, next to its field when there is one, with what was typed kept.
"""
from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from ....errors import Forbidden, NotFound, ValidationError
from ....model import LoginPolicy
from ....service import security as security_ops
from ..base import Page, form_action, page_router, redirect, render
from ..settings_form import form_changes, notice_labels, tab_fields
from .pop3 import describe_changes, form_errors

router = page_router()

URL = "/console/security"
POLICY = LoginPolicy.table()  # each field's form label, hint and notice label are declared there
POLICY_FIELDS = tab_fields(POLICY)["policy"]
POLICY_LABELS = notice_labels(POLICY)


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


def _form_text(policy: dict[str, Any]) -> dict[str, Any]:
    """The stored policy as the form shows it: the networks as one comma-separated text."""
    return {**policy, "trusted_networks": ", ".join(policy["trusted_networks"]) or "none"}


async def _page(request: Request, page: Page, *, status: int = 200, error: dict[str, Any] | None = None,
                typed: dict[str, Any] | None = None, policy_errors: dict[str, str] | None = None,
                policy_alert: str | None = None) -> Response:
    now = time.time()
    blocks = [dict(block, remaining=duration(_epoch(block["until"]) - now))
              for block in await security_ops.list_blocks(page.ctx)]
    policy = await security_ops.login_policy(page.ctx)
    return render(request, page, "console/security.html", status=status, blocks=blocks, policy=policy,
                  policy_form={**_form_text(policy), **(typed or {})}, policy_settings=POLICY,
                  policy_errors=policy_errors or {}, policy_alert=policy_alert, duration=duration, error=error)


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


@router.post("/security/policy")
async def save_policy(request: Request, page: Page) -> Response:
    fields = await form_action(page, request)
    changes = form_changes(POLICY, POLICY_FIELDS, fields)
    before = await security_ops.login_policy(page.ctx)
    try:
        after = await security_ops.set_login_policy(page.ctx, LoginPolicy.changes(changes))
    except ValidationError as error:
        errors, alert = form_errors(error, POLICY_FIELDS)
        return await _page(request, page, status=400, typed=changes, policy_errors=errors, policy_alert=alert)
    except Forbidden as error:  # audited as refused by the service
        return await _page(request, page, status=403, typed=changes, policy_alert=f"Not saved: {error.message}")
    changed = describe_changes(before, after, POLICY_FIELDS, POLICY_LABELS)
    if not changed:
        return redirect(URL, notice="Nothing changed in the login block policy.")
    return redirect(URL, notice="Login block policy saved: " + "; ".join(changed)
                                + ". Every server applies it within a second.")
