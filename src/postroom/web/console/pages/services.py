"""Services (/console/services): status and startup type of every service per server, with
Start, Stop, Restart and the startup type, as in Windows' Services console. After a change the
notice says what the node answered: its state, where it listens, what failed."""
from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from ....errors import Conflict, ValidationError
from ....model import Startup
from ....service import services
from ..base import Page, form_action, page_router, redirect, render
from .dashboard import by_server

router = page_router()

URL = "/console/services"
ACTIONS = {"start": (services.start_service, "Started"), "stop": (services.stop_service, "Stopped"),
           "restart": (services.restart_service, "Restarted")}


async def _page(request: Request, page: Page, *, status: int = 200, error: dict[str, Any] | None = None) -> Response:
    rows = await services.list_services(page.ctx, "all")
    if error is not None:  # shown in its service's row, or above the tables if it has none
        error["in_row"] = any((r["server"], r["name"]) == (error["server"], error["name"]) for r in rows)
    return render(request, page, "console/services.html", status=status, servers=by_server(rows),
                  startups=[s.value for s in Startup], error=error)


@router.get("/services")
async def services_page(request: Request, page: Page) -> Response:
    return await _page(request, page)


def _node_answer(views: list[dict[str, Any]]) -> str:
    parts = []
    for view in views:
        text = f"on {view['server']} the node reports: {view['state']}"
        if view["listening"]:
            text += f", listening on {', '.join(view['listening'])}"
        if view["errors"]:
            text += f"; errors: {'; '.join(view['errors'])}"
        parts.append(text)
    return "; ".join(parts)


async def _change(request: Request, page: Page, name: str, action: str) -> Response:
    fields = await form_action(page, request)
    server = str(fields.get("server") or "") or None
    try:
        if action == "startup":
            startup = str(fields.get("startup", ""))
            result = await services.set_service(page.ctx, name, startup=startup, server=server)
            done = f"Startup type of {name} set to {startup}"
        else:
            operation, verb = ACTIONS[action]
            result = await operation(page.ctx, name, server)
            done = f"{verb} {name}"
    except (ValidationError, Conflict) as error:
        field = error.field if isinstance(error, ValidationError) else "status"
        where = {"server": server or page.ctx.local_server, "name": name, "field": field, "message": error.message}
        return await _page(request, page, status=400 if isinstance(error, ValidationError) else 409, error=where)
    return redirect(URL, notice=f"{done}: {_node_answer(result.get('servers', [result]))}.")


@router.post("/services/{name}/start")
async def start(request: Request, page: Page, name: str) -> Response:
    return await _change(request, page, name, "start")


@router.post("/services/{name}/stop")
async def stop(request: Request, page: Page, name: str) -> Response:
    return await _change(request, page, name, "stop")


@router.post("/services/{name}/restart")
async def restart(request: Request, page: Page, name: str) -> Response:
    return await _change(request, page, name, "restart")


@router.post("/services/{name}/startup")
async def startup(request: Request, page: Page, name: str) -> Response:
    return await _change(request, page, name, "startup")
