"""Organization › Configuration (/console/configuration): the whole configuration as one
document, or only what differs from the defaults (?changed=1; Postfix's postconf -n), for every
role. The same text `postroom config show` prints, and a link to the REST API's JSON."""
from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from ....service import configuration
from ..base import Page, page_router, render

router = page_router()


@router.get("/configuration")
async def configuration_page(request: Request, page: Page) -> HTMLResponse:
    changed = request.query_params.get("changed", "") in ("1", "true", "yes")
    server = request.query_params.get("server", "").strip() or None
    document = await configuration.show_configuration(page.ctx, server, changed=changed)
    return render(request, page, "console/configuration.html", changed=changed, shown_server=server or "",
                  servers=list(document["servers"]), text=configuration.configuration_text(document, changed=changed))
