"""Checks every backend makes before it writes: the values arrive as the Store protocol
describes them, or a ValidationError names the field. No SQL here."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Iterator, Literal, Sequence, overload

from ...errors import Conflict, NotFound, Unavailable, ValidationError
from ...model import Admin, Mailbox, Server, Service, ServiceStatus, Startup, enum_value
from ..notes import SpooledBody


@overload
def count_argument(value: Any, field: str, *, optional: Literal[False] = False) -> int: ...


@overload
def count_argument(value: Any, field: str, *, optional: bool) -> int | None: ...


def count_argument(value: Any, field: str, *, optional: bool = False) -> int | None:
    """A whole number >= 0 (None allowed when optional), or ValidationError naming the field."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(field, f"{value!r} is not a whole number >= 0")
    return value


def utc_iso(value: Any, field: str = "since") -> str:
    """An ISO-8601 time in the stored form (UTC, microseconds), so text order is time order.
    A time without an offset is taken as UTC."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise ValidationError(field, f"{value!r} is not an ISO-8601 time like 2024-05-01T12:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


MAILBOX_CHANGES = ("display_name", "password_hash", "enabled", "pop_enabled", "imap_enabled", "send_as")


def wire(data: Any) -> bytes:
    """Refuse, never repair: the store keeps exactly the octets it is given."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValidationError("message", f"must be bytes, not {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise ValidationError("message", "is empty")
    if not data.endswith(b"\r\n"):
        raise ValidationError("message", "is not in wire form: it must end with CRLF")
    return data


def wire_parts(head: Any, data: Any) -> tuple[bytes, bytes | memoryview]:
    """deliver_message's body, `head` then `data`, checked like `wire()` without copying `data`."""
    if not isinstance(head, bytes):
        raise ValidationError("head", f"must be bytes, not {type(head).__name__}")
    if head and not head.endswith(b"\r\n"):
        raise ValidationError("head", "is not in wire form: it must end with CRLF")
    if isinstance(data, (bytearray, memoryview)):
        data = memoryview(data).cast("B") if isinstance(data, memoryview) and data.format != "B" else memoryview(data)
    elif not isinstance(data, bytes):
        raise ValidationError("message", f"must be bytes, not {type(data).__name__}")
    if not data:
        if not head:
            raise ValidationError("message", "is empty")
    elif data[-2:] != b"\r\n":
        raise ValidationError("message", "is not in wire form: it must end with CRLF")
    return head, data


def spooled_body(spooled: Any) -> Any:
    """deliver_message's `spooled`: None or a SpooledBody naming a file and a size."""
    if spooled is None:
        return None
    if (not isinstance(spooled, SpooledBody) or not isinstance(spooled.path, str) or isinstance(spooled.size, bool)
            or not isinstance(spooled.size, int) or spooled.size < 0):
        raise ValidationError("spooled", f"{spooled!r} is not a SpooledBody (file path, size >= 0)")
    return spooled


def read_spooled(spooled: Any, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The spooled octets in pieces of at most `chunk`. Unavailable if the file is missing
    or shorter than said."""
    left = spooled.size
    try:
        with open(spooled.path, "rb", buffering=0) as file:
            while left:
                piece = file.read(min(left, chunk))
                if not piece:
                    raise Unavailable(f"the spooled message {spooled.path} is {spooled.size - left} octets,"
                                      f" not {spooled.size}")
                left -= len(piece)
                yield piece
    except OSError as exc:
        raise Unavailable(f"the spooled message cannot be read: {exc.strerror or exc}") from exc


def service_rows(server: Server, services: Sequence[Service]) -> list[tuple[str, str, str, str]]:
    """A new server's services as (server, name, startup, status): each on that server, once."""
    rows, seen = [], set()
    for service in services:
        if service.server != server.name:
            raise ValidationError("services", f"{service.name} belongs to {service.server}, not {server.name}")
        if service.name in seen:
            raise ValidationError("services", f"{service.name} is listed twice")
        seen.add(service.name)
        rows.append((server.name, service.name, enum_value(Startup, "startup", service.startup).value,
                     enum_value(ServiceStatus, "status", service.status).value))
    return rows


def service_state(service: Service) -> tuple[str, str]:
    return (enum_value(Startup, "startup", service.startup).value,
            enum_value(ServiceStatus, "status", service.status).value)


def mailbox_changes(changes: dict[str, Any]) -> None:
    """update_mailbox's keyword arguments, checked."""
    for name, value in changes.items():
        if name not in MAILBOX_CHANGES:
            raise ValidationError(name, "cannot be changed on a mailbox", list(MAILBOX_CHANGES))
        if name in ("enabled", "pop_enabled", "imap_enabled") and not isinstance(value, bool):
            raise ValidationError(name, f"{value!r} is not true or false")
        if name == "display_name" and not isinstance(value, str):
            raise ValidationError(name, f"{value!r} is not text")
        if name == "password_hash" and value is not None and not isinstance(value, str):
            raise ValidationError(name, f"{value!r} is not a password hash")
        if name == "send_as" and (not isinstance(value, (tuple, list))
                                  or not all(isinstance(v, str) and v for v in value)):
            raise ValidationError(name, f"{value!r} is not a list of addresses")


def mailbox_values(changes: dict[str, Any]) -> list[Any]:
    """update_mailbox's values as stored (send_as: a JSON array), in the order of `changes`."""
    return [json.dumps(list(value)) if name == "send_as" else value for name, value in changes.items()]


def domain_in_use(name: str, mailboxes: int) -> Conflict:
    noun = "mailbox" if mailboxes == 1 else "mailboxes"
    return Conflict(f"domain {name} still has {mailboxes} {noun}; remove them first")


def block_rows(server: str, blocks: Sequence[Any]) -> list[tuple[Any, ...]]:
    return [(b.kind, b.value[:200], float(b.since), float(b.until), int(b.failures), b.service, server[:200])
            for b in blocks]


class Lookups:
    """get_* on top of the backend's own find_mailbox and find_admin (None when absent), which
    every class using this mixin defines: NotFound names what is missing."""

    find_mailbox: Callable[[str], Awaitable[Mailbox | None]]
    find_admin: Callable[[str], Awaitable[Admin | None]]

    async def get_mailbox(self, address: str) -> Mailbox:
        mailbox = await self.find_mailbox(address)
        if mailbox is None:
            raise NotFound("mailbox", address)
        return mailbox

    async def get_admin(self, name: str) -> Admin:
        admin = await self.find_admin(name)
        if admin is None:
            raise NotFound("admin", name)
        return admin
