"""`postroom mailbox messages ADDRESS` and `postroom mailbox message ADDRESS ID [--raw|--delete]`:
a mailbox's messages (Dovecot: doveadm fetch, doveadm expunge). cli/__init__.py adds both
commands to the `mailbox` group. Every use is audited (service/mailbox_messages.py)."""
from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.markup import escape

from ..errors import ValidationError
from ..service import mailbox_messages as message_ops
from ..service import queue as queue_ops
from .common import DEFAULT_DATA, Data, Json, fail, opt, run
from .output import console, emit, show_record, show_table

LIST_COLUMNS = ["id", "size", "received_at", "subject", "from"]
LITERAL_FIELDS = ("address", "date", "subject", "from")  # printed as written, never as Rich markup
MessageId = Annotated[str, typer.Argument(metavar="ID", help="The message's id, as `postroom mailbox messages "
                                                           "ADDRESS` lists it.", show_default=False)]


def messages(address: str, data: Data = DEFAULT_DATA, json_out: Json = False,
             offset: Annotated[int, opt("Skip this many (oldest first).")] = 0,
             limit: Annotated[int, opt(f"Show at most this many (1..{message_ops.MAX_LISTED}).")] = 1000) -> None:
    """List a mailbox's messages, oldest first: id, size in octets, arrival, subject, sender
    (Dovecot: doveadm fetch 'uid size date.received hdr.subject hdr.from'). Needs
    recipient-management or organization-management; audited."""
    view = run(data, lambda ctx: message_ops.list_messages(ctx, address, offset, limit))
    if json_out:
        emit(view)
        return
    if view["items"]:
        show_table([_literal(item) for item in view["items"]], LIST_COLUMNS)
    console.print(f"{len(view['items'])} of {view['total']} messages ({view['octets']} octets) in "
                  f"{escape(view['address'])}")


def message(address: str, message_id: MessageId, data: Data = DEFAULT_DATA, json_out: Json = False,
            raw: Annotated[bool, typer.Option("--raw", help="Write the message's exact stored octets to standard "
                                                            "output (doveadm fetch text).")] = False,
            delete: Annotated[bool, typer.Option("--delete", help="Delete the message (doveadm expunge); refused "
                                                                  "while a POP3 session holds the mailbox.")] = False
            ) -> None:
    """Show one message's summary, its octets (--raw; with --json, base64-encoded), or delete it
    (--delete). Needs recipient-management or organization-management; audited."""
    if raw and delete:
        raise fail(ValidationError("delete", "give --raw or --delete, not both"))
    if delete:
        removed = run(data, lambda ctx: message_ops.delete_message(ctx, address, message_id))
        emit(removed) if json_out else console.print(
            f"Deleted message {removed['id']} ({removed['size']} octets) from {escape(removed['address'])}")
        return
    view, content = run(data, lambda ctx: message_ops.fetch_message(ctx, address, message_id))
    if raw and json_out:
        emit({**view, "content_base64": queue_ops.encoded(content)})
    elif raw:
        sys.stdout.flush()
        sys.stdout.buffer.write(content)
        sys.stdout.buffer.flush()
    else:
        emit(view) if json_out else show_record(_literal(view))


def _literal(view: dict[str, Any]) -> dict[str, Any]:
    """A Subject "[/x]" or "[blink]" is text to show, not markup to apply."""
    return {k: escape(v) if k in LITERAL_FIELDS and isinstance(v, str) else v for k, v in view.items()}
