"""Who is acting, what they may do, and the audit trail of what they did."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import Forbidden
from ..storage import Store

# Exchange's role-group split: rights are unions over the groups a principal holds.
READ = "read"
SERVER_CONFIG = "server-config"  # services, protocol settings, connectors
RECIPIENTS = "recipients"  # mailboxes, domains
ROLE_RIGHTS: dict[str, frozenset[str]] = {
    "organization-management": frozenset({READ, SERVER_CONFIG, RECIPIENTS}),
    "server-management": frozenset({READ, SERVER_CONFIG}),
    "recipient-management": frozenset({READ, RECIPIENTS}),
    "view-only": frozenset({READ}),
}


@dataclass(frozen=True)
class Caller:
    name: str
    roles: frozenset[str]

    def may(self, right: str) -> bool:
        return any(right in ROLE_RIGHTS.get(role, ()) for role in self.roles)


# Whoever can read the data directory already controls the install: the CLI acts with full rights.
LOCAL_OPERATOR = Caller("local-operator", frozenset({"organization-management"}))


class Context:
    """One admin request: the store, the caller, and the server that 'this server' means."""

    def __init__(self, store: Store, caller: Caller, local_server: str, data_dir: str) -> None:
        self.store = store
        self.caller = caller
        self.local_server = local_server
        self.data_dir = data_dir

    def require(self, right: str) -> None:
        if not self.caller.may(right):
            raise Forbidden(f"{self.caller.name} may not do this (needs a role with the {right!r} right)")

    async def audit(self, action: str, target: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
        await self.store.append_audit(self.caller.name, action, target, before, after)

    def server_name(self, requested: str | None) -> str:
        return requested or self.local_server
