"""The console's pages, one module per area; each has its own router (base.page_router)."""
from __future__ import annotations

from . import (
    admin_service, configuration, connectors, dashboard, domains, imap4, live_sessions, logs, mailboxes, pop3, queues,
    security, send_connectors, services, session, troubleshooting,
)

# The order routes are matched in, as the pages were first written.
ROUTERS = tuple(page.router for page in (session, dashboard, services, troubleshooting, logs, domains, mailboxes, pop3,
                                          imap4, admin_service, connectors, security, send_connectors, queues,
                                          configuration, live_sessions))
