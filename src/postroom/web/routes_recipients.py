"""Organisation-wide recipients: mailboxes and accepted domains."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from ..model import MailboxFeatures
from ..service import dkim_keys as dkim_ops
from ..service import domains as domain_ops
from ..service import mailboxes as mailbox_ops
from .bodies import Address, DomainName, MailboxChanges, NewDkimKey, NewDomain, NewMailbox, NewPassword
from .security import AdminRoute, Ctx
from .views import (
    DkimKeyView, DkimView, DomainView, MailboxDetail, MailboxPage, MailboxRemoved, MailboxView, documented,
)

router = APIRouter(prefix="/api/v1", route_class=AdminRoute)
CREATED = status.HTTP_201_CREATED


# mailboxes -----------------------------------------------------------------------------------
@router.get("/mailboxes", tags=["mailboxes"], **documented(MailboxPage))
async def list_mailboxes(ctx: Ctx, search: str | None = None, offset: int = 0, limit: int | None = None) -> Any:
    """Mailboxes ordered by address; `search` matches a substring of address or display name."""
    return await mailbox_ops.list_mailboxes(ctx, search, offset, limit)


@router.post("/mailboxes", tags=["mailboxes"], **documented(MailboxView, CREATED, "Created"))
async def new_mailbox(body: NewMailbox, ctx: Ctx) -> Any:
    """Create a mailbox in an accepted domain."""
    return await mailbox_ops.new_mailbox(ctx, body.address, body.password, display_name=body.display_name,
                                         pop_enabled=body.pop_enabled, imap_enabled=body.imap_enabled)


@router.get("/mailboxes/{address}", tags=["mailboxes"], **documented(MailboxDetail))
async def show_mailbox(address: Address, ctx: Ctx) -> Any:
    """One mailbox, its POP3 feature and its message count."""
    return await mailbox_ops.show_mailbox(ctx, address)


@router.patch("/mailboxes/{address}", tags=["mailboxes"], **documented(MailboxView))
async def set_mailbox(address: Address, body: MailboxChanges, ctx: Ctx) -> Any:
    """Change the POP3 feature, the enabled state or the display name."""
    return await mailbox_ops.set_mailbox(ctx, address, MailboxFeatures.changes(body.given()))


@router.delete("/mailboxes/{address}", tags=["mailboxes"], **documented(MailboxRemoved))
async def remove_mailbox(address: Address, ctx: Ctx) -> Any:
    """Remove a mailbox and all its messages."""
    return await mailbox_ops.remove_mailbox(ctx, address)


@router.post("/mailboxes/{address}/password", tags=["mailboxes"], **documented(MailboxView))
async def set_mailbox_password(address: Address, body: NewPassword, ctx: Ctx) -> Any:
    """Set a mailbox's password."""
    return await mailbox_ops.set_password(ctx, address, body.password)


# accepted domains ----------------------------------------------------------------------------
# The service layer answers with the bare name; like the CLI's --json, the API wraps it.
@router.get("/domains", tags=["domains"], **documented(list[DomainView]))
async def list_domains(ctx: Ctx) -> Any:
    """The accepted domains."""
    return [{"name": name} for name in await domain_ops.list_domains(ctx)]


@router.post("/domains", tags=["domains"], **documented(DomainView, CREATED, "Created"))
async def add_domain(body: NewDomain, ctx: Ctx) -> Any:
    """Accept mail for a domain (mailboxes can then be created in it)."""
    return {"name": await domain_ops.add_domain(ctx, body.name)}


@router.delete("/domains/{name}", tags=["domains"], **documented(DomainView))
async def remove_domain(name: DomainName, ctx: Ctx) -> Any:
    """Stop accepting a domain (refused while it still has mailboxes)."""
    return {"name": await domain_ops.remove_domain(ctx, name)}


# DKIM signing keys of a domain (Exchange Online's New-/Get-/Remove-DkimSigningConfig) -----------
Selector = Annotated[str | None, Query(description="The key's selector; without it, every key of the domain goes",
                                       examples=["postroom-202601-rsa"])]


@router.get("/domains/{name}/dkim", tags=["domains"], **documented(DkimView))
async def show_dkim(name: DomainName, ctx: Ctx) -> Any:
    """The domain's DKIM signing keys and the DNS TXT records to publish for them."""
    return await dkim_ops.show_dkim(ctx, name)


@router.post("/domains/{name}/dkim", tags=["domains"], **documented(DkimKeyView, CREATED, "Created"))
async def new_dkim_key(name: DomainName, body: NewDkimKey, ctx: Ctx) -> Any:
    """Make a signing key (one per algorithm); the answer has the TXT record to publish."""
    return await dkim_ops.new_dkim_key(ctx, name, body.algorithm or dkim_ops.DEFAULT_ALGORITHM, body.selector)


@router.delete("/domains/{name}/dkim", tags=["domains"], **documented(list[DkimKeyView]))
async def remove_dkim_keys(name: DomainName, ctx: Ctx, selector: Selector = None) -> Any:
    """Remove the key with `selector`, or every key of the domain; its mail is then sent unsigned."""
    return await dkim_ops.remove_dkim_keys(ctx, name, selector)
