"""Who is acting, what they may do, and the audit trail of what they did."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..errors import Forbidden
from ..storage import AuditNote, Store

if TYPE_CHECKING:
    from ..lockout import AbuseGuard

# Exchange's role-group split: rights are unions over the groups a principal holds.
READ = "read"
SERVER_CONFIG = "server-config"  # services, protocol settings, connectors, the admin service
RECIPIENTS = "recipients"  # mailboxes, domains
ADMINS = "admins"  # admin principals, their roles and anyone's API tokens
ORGANIZATION = "organization-config"  # organisation-wide mail flow: send connectors, DKIM keys
ROLE_RIGHTS: dict[str, frozenset[str]] = {
    "organization-management": frozenset({READ, SERVER_CONFIG, RECIPIENTS, ADMINS, ORGANIZATION}),
    "server-management": frozenset({READ, SERVER_CONFIG}),
    "recipient-management": frozenset({READ, RECIPIENTS}),
    "view-only": frozenset({READ}),
}


@dataclass(frozen=True)
class Caller:
    """An authenticated principal and the channel it came through (cli, api or console)."""

    name: str
    roles: frozenset[str]
    channel: str = "cli"

    def may(self, right: str) -> bool:
        return any(right in ROLE_RIGHTS.get(role, ()) for role in self.roles)


# Whoever can read the data directory already controls the install: the CLI acts with full
# rights, and its audit entries say "local-operator" on channel "cli".
LOCAL_OPERATOR = Caller("local-operator", frozenset({"organization-management"}), "cli")


class Context:
    """One admin request: the store, the caller, and the server that 'this server' means; for
    the password checks it makes (service/login_attempts.py), the caller's address (`source`,
    loopback for the CLI) and the node's failed-login guard (None: built from the store)."""

    def __init__(self, store: Store, caller: Caller, local_server: str, data_dir: str, *,
                 guard: "AbuseGuard | None" = None, source: str = "127.0.0.1") -> None:
        self.store = store
        self.caller = caller
        self.local_server = local_server
        self.data_dir = data_dir
        self.guard = guard
        self.source = source

    async def require(self, right: str, action: str | None = None, target: str = "") -> None:
        """Refuse unless the caller's roles grant `right`. A refused change (one that names its
        `action`) leaves a "refused" entry in the audit log, and nothing else happens."""
        if self.caller.may(right):
            return
        message = f"{self.caller.name} may not do this: it needs a role group with the {right!r} right " \
                  f"({', '.join(r for r, rights in ROLE_RIGHTS.items() if right in rights)})"
        if action is not None:
            await self.store.append_audit(self.caller.name, action, target, None, None,
                                          channel=self.caller.channel, outcome="refused", detail=message)
        raise Forbidden(message)

    def change(self, action: str, target: str, before: dict[str, Any] | None,
               after: dict[str, Any] | None | Callable[[Any], dict[str, Any] | None]) -> AuditNote:
        """The audit entry of a change, for the store write that makes it (`audit=`): the store
        commits both in one transaction. `after` may be a function of what the write returns."""
        return AuditNote(self.caller.name, action, target, before, after, self.caller.channel)

    async def audit(self, action: str, target: str, before: dict[str, Any] | None,
                    after: dict[str, Any] | None) -> None:
        """An entry that records no change of the store (a check, a backup, an import of
        several batches): appended on its own."""
        await self.store.append_audit(self.caller.name, action, target, before, after, channel=self.caller.channel)

    def server_name(self, requested: str | None) -> str:
        return requested or self.local_server
